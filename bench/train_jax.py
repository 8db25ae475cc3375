"""JAX peer of bench/train.msl (jax.jit of the whole training step): the same MLP
(784-256-128-10) or LeNet-5, ReLU, Kaiming-uniform weights (Xavier-uniform on the last
layer) and zero biases, Adam lr 1e-3 (written out: optax is not installed), shuffled
synthetic u8 images normalised per batch, one thread. The step (batch gather,
normalisation, forward, value_and_grad, Adam) is one jitted function; compilation happens
in the warm-up. Prints samples_per_s (median of the repetitions) and compile_s.
    python3 bench/train_jax.py mlp|lenet [BATCH] [STEPS] [REPS]"""
import os
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

which = sys.argv[1] if len(sys.argv) > 1 else "mlp"
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 128
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 200
reps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
key = jax.random.PRNGKey(0)
k0, k1, key = jax.random.split(key, 3)
images = (jax.random.uniform(k0, (6400, 784)) * 255.0).astype(jnp.uint8)
labels = (jax.random.uniform(k1, (6400,)) * 10.0).astype(jnp.int32)


def dense(k, n_in, n_out, kaiming=True):
    a = (6.0 / n_in) ** 0.5 if kaiming else (6.0 / (n_in + n_out)) ** 0.5
    return {"w": jax.random.uniform(k, (n_in, n_out), minval=-a, maxval=a), "b": jnp.zeros(n_out)}


def conv(k, c_in, c_out, kh):
    a = (6.0 / (c_in * kh * kh)) ** 0.5
    return {"w": jax.random.uniform(k, (c_out, c_in, kh, kh), minval=-a, maxval=a), "b": jnp.zeros(c_out)}


ks = jax.random.split(key, 6)
if which == "mlp":
    params = [dense(ks[0], 784, 256), dense(ks[1], 256, 128), dense(ks[2], 128, 10, False)]
    shape = (-1, 784)

    def model(p, x):
        x = jax.nn.relu(x @ p[0]["w"] + p[0]["b"])
        x = jax.nn.relu(x @ p[1]["w"] + p[1]["b"])
        return x @ p[2]["w"] + p[2]["b"]
else:
    params = [conv(ks[0], 1, 6, 5), conv(ks[1], 6, 16, 5), dense(ks[2], 400, 120), dense(ks[3], 120, 84),
              dense(ks[4], 84, 10, False)]
    shape = (-1, 1, 28, 28)

    def conv2d(x, c, pad):
        y = jax.lax.conv_general_dilated(x, c["w"], (1, 1), [(pad, pad), (pad, pad)])
        return y + c["b"][None, :, None, None]

    def pool(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def model(p, x):
        x = pool(jax.nn.relu(conv2d(x, p[0], 2)))
        x = pool(jax.nn.relu(conv2d(x, p[1], 0)))
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ p[2]["w"] + p[2]["b"])
        x = jax.nn.relu(x @ p[3]["w"] + p[3]["b"])
        return x @ p[4]["w"] + p[4]["b"]


def loss_fn(p, x, y):
    logits = model(p, x)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


b1, b2, eps, lr = 0.9, 0.999, 1e-8, 1e-3


@jax.jit
def step(p, m, v, t, idx):
    x = ((images[idx].astype(jnp.float32) * (1.0 / 255.0) - 0.5) / 0.3).reshape(shape)
    y = labels[idx]
    loss, g = jax.value_and_grad(loss_fn)(p, x, y)
    t = t + 1
    m = jax.tree_util.tree_map(lambda mi, gi: b1 * mi + (1 - b1) * gi, m, g)
    v = jax.tree_util.tree_map(lambda vi, gi: b2 * vi + (1 - b2) * gi * gi, v, g)
    c1, c2 = 1 - b1 ** t, 1 - b2 ** t
    p = jax.tree_util.tree_map(lambda pi, mi, vi: pi - lr * (mi / c1) / (jnp.sqrt(vi / c2) + eps), p, m, v)
    return p, m, v, t, loss


m = jax.tree_util.tree_map(jnp.zeros_like, params)
v = jax.tree_util.tree_map(jnp.zeros_like, params)
t = jnp.zeros((), jnp.float32)
nb = images.shape[0] // batch


def run(p, m, v, t, n, k):
    order = jax.random.permutation(k, images.shape[0])
    loss = None
    for i in range(n):
        j = i % nb
        p, m, v, t, loss = step(p, m, v, t, order[j * batch:(j + 1) * batch])
    return p, m, v, t, float(loss)


t0 = time.perf_counter()
params, m, v, t, _ = run(params, m, v, t, 1, ks[5])
compile_s = time.perf_counter() - t0
params, m, v, t, _ = run(params, m, v, t, 10, ks[5])
rates = []
for r in range(reps):
    k = jax.random.fold_in(ks[5], r)
    order = jax.random.permutation(k, images.shape[0]).block_until_ready()
    t0 = time.perf_counter()
    params, m, v, t, loss = run(params, m, v, t, steps, k)
    rates.append(steps * batch / (time.perf_counter() - t0))
print(f"samples_per_s {sorted(rates)[len(rates) // 2]:.1f}")
print(f"final_loss {loss:.4f}")
print(f"compile_s {compile_s:.3f}")
