"""PyTorch peer of bench/train_mlp.msl: the same MLP (784-256-128-10, ReLU), Kaiming-uniform
weights and zero biases, Adam lr 1e-3, batch 64, shuffled synthetic u8 images normalised per
batch, one thread. Prints samples_per_s (median of the repetitions).
    python3 bench/train_mlp_torch.py [STEPS] [REPS]"""
import sys
import time

import torch

torch.set_num_threads(1)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
batch = 64
g = torch.Generator().manual_seed(0)
images = (torch.rand(6400, 784, generator=g) * 255.0).to(torch.uint8)
labels = (torch.rand(6400, generator=g) * 10.0).to(torch.int64)


def dense(n_in, n_out, kaiming):
    layer = torch.nn.Linear(n_in, n_out)
    with torch.no_grad():
        a = (6.0 / n_in) ** 0.5 if kaiming else (6.0 / (n_in + n_out)) ** 0.5
        layer.weight.uniform_(-a, a, generator=g)
        layer.bias.zero_()
    return layer


model = torch.nn.Sequential(dense(784, 256, True), torch.nn.ReLU(), dense(256, 128, True), torch.nn.ReLU(),
                            dense(128, 10, False))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
nb = images.shape[0] // batch


def run(n):
    order = torch.randperm(images.shape[0], generator=g)
    loss = None
    for i in range(n):
        idx = order[(i % nb) * batch:(i % nb + 1) * batch]
        x = (images[idx].to(torch.float32) * (1.0 / 255.0) - 0.5) / 0.3
        y = labels[idx]
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return float(loss)


run(10)
rates = []
for _ in range(reps):
    t0 = time.perf_counter()
    loss = run(steps)
    rates.append(steps * batch / (time.perf_counter() - t0))
print(f"samples_per_s {sorted(rates)[len(rates) // 2]:.1f}")
print(f"final_loss {loss:.4f}")
