"""Peer of bench/fused.msl (bench/run.sh fused): PyTorch eager on
gelu_tanh(x * w + b) * sigmoid(g) + x over N-element f32 tensors, one thread.
argv: N REPS. Prints wall and CPU time per call (median and min of REPS after a warm-up)."""
import sys
import time

import torch

n = int(sys.argv[1]) if len(sys.argv) > 1 else 16777216
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
torch.set_num_threads(1)
gen = torch.Generator().manual_seed(0)
x, w, b, g = (torch.randn(n, generator=gen) for _ in range(4))


def f(x, w, b, g):
    return torch.nn.functional.gelu(x * w + b, approximate="tanh") * torch.sigmoid(g) + x


with torch.no_grad():
    r = f(x, w, b, g)
    walls, cpus = [], []
    for _ in range(3 * reps):
        w0, c0 = time.perf_counter(), time.process_time()
        r = f(x, w, b, g)
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
walls.sort()
cpus.sort()
nbytes = 5.0 * 4.0 * n
med = walls[len(walls) // 2]
print(f"torch_ms {med * 1e3:.3f} {walls[0] * 1e3:.3f} torch_cpu_ms {cpus[len(cpus) // 2] * 1e3:.3f} "
      f"torch_GBps {nbytes / med / 1e9:.2f}")
print(f"checksum {float(r.double().sum()):.6e}")
