"""Peer of bench/fused_reduce.msl (bench/run.sh fused_reduce): PyTorch eager, one thread.
argv: FUNCTION N REPS (mse: ((a - b) * (a - b)).mean(); mse_pow: ((a - b) ** 2).mean();
rowsum: (x * x).sum(-1) over rows of 4096). Prints wall and CPU time per call (median and
min of 3 * REPS after a warm-up)."""
import sys
import time

import torch

fn = sys.argv[1] if len(sys.argv) > 1 else "mse"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 16777216
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
torch.set_num_threads(1)
gen = torch.Generator().manual_seed(0)
a, b = torch.randn(n, generator=gen), torch.randn(n, generator=gen)
x = a.reshape(n // 4096, 4096)


def mse(a, b):
    d = a - b
    return (d * d).mean()


def mse_pow(a, b):
    return ((a - b) ** 2).mean()


def rowsum(x):
    return (x * x).sum(-1)


call = {"mse": lambda: mse(a, b), "mse_pow": lambda: mse_pow(a, b), "rowsum": lambda: rowsum(x)}[fn]
with torch.no_grad():
    r = call()
    walls, cpus = [], []
    for _ in range(3 * reps):
        w0, c0 = time.perf_counter(), time.process_time()
        r = call()
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
walls.sort()
cpus.sort()
nbytes = (4.0 if fn == "rowsum" else 8.0) * n
med = walls[len(walls) // 2]
print(f"torch_ms {med * 1e3:.3f} {walls[0] * 1e3:.3f} torch_cpu_ms {cpus[len(cpus) // 2] * 1e3:.3f} "
      f"torch_GBps {nbytes / med / 1e9:.2f}")
