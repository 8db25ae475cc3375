# The same loop in PyTorch eager, single thread.
import sys, time
import torch
torch.set_num_threads(1)
a = torch.tensor([float(sys.argv[1])]); b = torch.tensor([float(sys.argv[2])])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000000
x = torch.tensor([1.0])
t0 = time.perf_counter()
for _ in range(n):
    x = x * a + b
t1 = time.perf_counter()
print(f"torch_ns_per_primitive {(t1 - t0) / (2 * n) * 1e9:.1f}")
print(f"result {x.item():.6f}")
