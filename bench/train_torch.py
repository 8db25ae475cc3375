"""PyTorch peer of bench/train.msl: the same MLP (784-256-128-10) or LeNet-5, ReLU,
Kaiming-uniform weights (Xavier-uniform on the last layer) and zero biases, Adam lr 1e-3,
shuffled synthetic u8 images normalised per batch, one thread. Prints samples_per_s (median
of the repetitions). With `compile` (PyTorch 2): the model and loss, and the optimizer's
step, through torch.compile; compile_s is the warm-up, compiling included.
    python3 bench/train_torch.py mlp|lenet [BATCH] [STEPS] [REPS] [compile]"""
import sys
import time

import torch

torch.set_num_threads(1)
which = sys.argv[1] if len(sys.argv) > 1 else "mlp"
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 128
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 200
reps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
compiled = len(sys.argv) > 5 and sys.argv[5] == "compile"
g = torch.Generator().manual_seed(0)
images = (torch.rand(6400, 784, generator=g) * 255.0).to(torch.uint8)
labels = (torch.rand(6400, generator=g) * 10.0).to(torch.int64)


def init(layer, kaiming=True):
    with torch.no_grad():
        fan_in = layer.weight[0].numel()
        fan_out = layer.weight.shape[0] * layer.weight[0, 0].numel() if layer.weight.dim() == 4 else layer.weight.shape[0]
        a = (6.0 / fan_in) ** 0.5 if kaiming else (6.0 / (fan_in + fan_out)) ** 0.5
        layer.weight.uniform_(-a, a, generator=g)
        layer.bias.zero_()
    return layer


if which == "mlp":
    model = torch.nn.Sequential(init(torch.nn.Linear(784, 256)), torch.nn.ReLU(), init(torch.nn.Linear(256, 128)),
                                torch.nn.ReLU(), init(torch.nn.Linear(128, 10), False))
    shape = (-1, 784)
else:
    model = torch.nn.Sequential(init(torch.nn.Conv2d(1, 6, 5, padding=2)), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                init(torch.nn.Conv2d(6, 16, 5)), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Flatten(), init(torch.nn.Linear(400, 120)), torch.nn.ReLU(),
                                init(torch.nn.Linear(120, 84)), torch.nn.ReLU(), init(torch.nn.Linear(84, 10), False))
    shape = (-1, 1, 28, 28)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
nb = images.shape[0] // batch


def loss_of(x, y):
    return torch.nn.functional.cross_entropy(model(x), y)


opt_step = opt.step
if compiled:
    loss_of = torch.compile(loss_of)
    opt_step = torch.compile(opt.step)


def run(n):
    order = torch.randperm(images.shape[0], generator=g)
    loss = None
    for i in range(n):
        idx = order[(i % nb) * batch:(i % nb + 1) * batch]
        x = ((images[idx].to(torch.float32) * (1.0 / 255.0) - 0.5) / 0.3).reshape(shape)
        y = labels[idx]
        loss = loss_of(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt_step()
    return float(loss.detach())


t0 = time.perf_counter()
run(10)
compile_s = time.perf_counter() - t0
rates = []
for _ in range(reps):
    t0 = time.perf_counter()
    loss = run(steps)
    rates.append(steps * batch / (time.perf_counter() - t0))
print(f"samples_per_s {sorted(rates)[len(rates) // 2]:.1f}")
print(f"final_loss {loss:.4f}")
print(f"compile_s {compile_s:.3f}")
