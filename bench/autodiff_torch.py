"""PyTorch autograd on the programs of bench/autodiff.msl (same shapes, one thread)."""
import sys
import contextlib
import time

import torch

torch.set_num_threads(1)
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
g = torch.Generator().manual_seed(0)


def timeit(f, *args):
    f(*args)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f(*args)
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2] * 1000.0


def value_and_grad(f):
    def vg(params, *rest):
        leaves = [p.detach().requires_grad_() for p in params]
        loss = f(leaves, *rest)
        grads = torch.autograd.grad(loss, leaves)
        return loss.detach(), grads
    return vg


def init(n_in, n_out):
    return [torch.randn(n_in, n_out, generator=g) * (2.0 / n_in) ** 0.5, torch.zeros(n_out)]


mlp = init(784, 256) + init(256, 128) + init(128, 10)
x = torch.rand(128, 784, generator=g)
labels = (torch.rand(128, generator=g) * 10).long()


def mlp_loss(p, x, labels):
    h = torch.relu(x @ p[0] + p[1])
    h = torch.relu(h @ p[2] + p[3])
    h = h @ p[4] + p[5]
    return torch.nn.functional.cross_entropy(h, labels)


conv = [torch.randn(8, 1, 3, 3, generator=g) * 0.3, torch.zeros(8), torch.randn(16, 8, 3, 3, generator=g) * 0.1,
        torch.zeros(16), torch.randn(400, 10, generator=g) * 0.05, torch.zeros(10)]
imgs = torch.rand(32, 1, 28, 28, generator=g)
clabels = labels[:32]
F = torch.nn.functional


def conv_loss(p, x, labels):
    h = F.max_pool2d(torch.relu(F.conv2d(x, p[0], p[1])), 2)
    h = F.max_pool2d(torch.relu(F.conv2d(h, p[2], p[3])), 2)
    h = h.reshape(h.shape[0], 400) @ p[4] + p[5]
    return F.cross_entropy(h, labels)


def loop_loss(p):
    x = p[0]
    while x < 1000.0:
        x = x * 1.01 + 0.1
    return x


only = sys.argv[2:4] if len(sys.argv) > 3 else None  # PROGRAM loss|vg: CPU ms per call (process time)
for name, f, args in [("mlp", mlp_loss, (mlp, x, labels)), ("convnet", conv_loss, (conv, imgs, clabels)),
                      ("while_loop", loop_loss, ([torch.tensor(1.0)],))]:
    if only is not None:
        if only[0] == name:
            g = f if only[1] == "loss" else value_and_grad(f)
            with torch.no_grad() if only[1] == "loss" else contextlib.nullcontext():
                g(*args)
                t0 = time.process_time()
                for _ in range(reps):
                    g(*args)
                print(f"cpu_ms {(time.process_time() - t0) / reps * 1000.0:.4f}")
        continue
    with torch.no_grad():
        t_loss = timeit(f, *args)
    t_vg = timeit(value_and_grad(f), *args)
    print(f"{name} loss_ms {t_loss:.3f} value_and_grad_ms {t_vg:.3f} ratio {t_vg / t_loss:.2f}")
