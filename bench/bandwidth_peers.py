# The operations of bandwidth.msl in NumPy or PyTorch (bench/run.sh bandwidth), with the
# same sizes, byte counts and output format; and the report that run.sh prints.
#   bandwidth_peers.py numpy|torch THREADS [N REPS A B]
#   bandwidth_peers.py --report RESULTS_FILE
# NumPy's elementwise loops and reductions are single-threaded whatever THREADS says;
# PyTorch gets torch.set_num_threads(THREADS).
import statistics
import sys
import time


def run(lib, threads, n, reps, a, b):
    if lib == "torch":
        import torch
        torch.set_num_threads(threads)
        x = torch.sin(torch.arange(n, dtype=torch.float32) * (a / 1000.0))
        exp, relu = torch.exp, torch.relu
        summ = torch.sum
        mx = torch.max
        mean0 = lambda m: torch.mean(m, dim=0)
        mean1 = lambda m: torch.mean(m, dim=1)
    else:
        import numpy as np
        x = np.sin(np.arange(n, dtype=np.float32) * np.float32(a / 1000.0))
        exp = np.exp
        relu = lambda v: np.maximum(v, np.float32(0))
        summ, mx = np.sum, np.max
        mean0 = lambda m: np.mean(m, axis=0)
        mean1 = lambda m: np.mean(m, axis=1)
    y = x * 0.5 + b
    side = int(round(n ** 0.5))
    m = x[: side * side].reshape(side, side)
    nb = 4.0 * n

    def bench(name, nbytes, f):
        r = f()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            r = f()
            t1 = time.perf_counter()
            times.append(t1 - t0)
        times.sort()
        med = times[len(times) // 2]
        print(f"{name} {nbytes / med / 1e9:.3f} {nbytes / times[0] / 1e9:.3f}")
        return r

    bench("x+y", 3 * nb, lambda: x + y)
    bench("x*a+b", 2 * nb, lambda: x * a + b)
    bench("relu(x)", 2 * nb, lambda: relu(x))
    bench("exp(x)", 2 * nb, lambda: exp(x))
    bench("sum(x)", nb, lambda: summ(x))
    bench("max(x)", nb, lambda: mx(x))
    bench("mean(m,axis=0)", 4.0 * side * side, lambda: mean0(m))
    bench("mean(m,axis=1)", 4.0 * side * side, lambda: mean1(m))
    s = bench("check", nb, lambda: summ(x * a + b))
    print(f"checksum {float(s):.6e}")


def report(path):
    # Lines: "RESULT threads impl op median_GBps best_GBps" and "STREAM threads copy triad".
    res, stream = {}, {}
    for line in open(path):
        f = line.split()
        if f and f[0] == "RESULT":
            res.setdefault((int(f[1]), f[2], f[3]), []).append(float(f[4]))
        elif f and f[0] == "STREAM":
            stream.setdefault(int(f[1]), []).append((float(f[2]), float(f[3])))
    for t in sorted(stream):
        copy = statistics.median(c for c, _ in stream[t])
        triad = statistics.median(tr for _, tr in stream[t])
        print(f"\n== {t} thread(s): STREAM copy {copy:.1f} GB/s, triad {triad:.1f} GB/s "
              f"(median of {len(stream[t])} runs); fractions below are of triad")
        print(f"{'operation':16} {'msl GB/s':>16} {'numpy GB/s':>16} {'torch GB/s':>16} "
              f"{'msl %bw':>8} {'np %bw':>7} {'pt %bw':>7} {'msl/np':>7} {'msl/pt':>7}")
        ops = [op for (tt, impl, op) in res if tt == t and impl == "msl"]
        seen = []
        for op in ops:
            if op in seen or op == "check":
                continue
            seen.append(op)
            cols, med = [], {}
            for impl in ("msl", "numpy", "torch"):
                v = res.get((t, impl, op), [])
                if v:
                    med[impl] = statistics.median(v)
                    cols.append(f"{med[impl]:6.2f} [{min(v):.1f}-{max(v):.1f}]")
                else:
                    cols.append("-")
            frac = [f"{100 * med[i] / triad:.0f}%" if i in med else "-" for i in ("msl", "numpy", "torch")]
            ratio = [f"{med['msl'] / med[i]:.2f}" if i in med and "msl" in med else "-" for i in ("numpy", "torch")]
            print(f"{op:16} {cols[0]:>16} {cols[1]:>16} {cols[2]:>16} {frac[0]:>8} {frac[1]:>7} {frac[2]:>7} "
                  f"{ratio[0]:>7} {ratio[1]:>7}")


if __name__ == "__main__":
    if sys.argv[1] == "--report":
        report(sys.argv[2])
    else:
        lib, threads = sys.argv[1], int(sys.argv[2])
        rest = sys.argv[3:]
        n = int(rest[0]) if len(rest) > 0 else 16777216
        reps = int(rest[1]) if len(rest) > 1 else 7
        a = float(rest[2]) if len(rest) > 2 else 1.5
        b = float(rest[3]) if len(rest) > 3 else 0.25
        run(lib, threads, n, reps, a, b)
