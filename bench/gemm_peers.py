"""fp32 GEMM peers for bench/run.sh gemm: NumPy (its BLAS: OpenBLAS where installed) and
PyTorch (Debian's build calls the system BLAS too; oneDNN is not used by torch.mm on CPU).
Prints the same lines as bench/gemm.msl: `gemm N median_GFLOPs best_GFLOPs`.
usage: gemm_peers.py numpy|torch REPS SIZES..."""
import sys
import time

lib, reps, sizes = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3:]] or [256, 512, 768, 1024]
if lib == "torch":
    import torch
    torch.set_num_threads(1)
import numpy as np

for n in sizes:
    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    if lib == "torch":
        a, b = torch.from_numpy(a), torch.from_numpy(b)
        mm = torch.mm
    else:
        mm = np.matmul
    mm(a, b)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        mm(a, b)
        times.append(time.perf_counter() - t0)
    times.sort()
    flop = 2.0 * n ** 3
    print(f"gemm {n} {flop / times[len(times) // 2] / 1e9:.2f} {flop / times[0] / 1e9:.2f}")
