// STREAM-like memory bandwidth of this machine (BENCHMARKING.md: "memory bandwidth (a
// STREAM-like copy/triad over 256 MB)"): copy a[i] = b[i] and triad a[i] = b[i] + s * c[i]
// over arrays of 32M doubles (256 MiB each), on THREADS threads (argv[1], default 1),
// best of REPS (argv[2], default 5) after a first pass that touches the pages. Bytes are
// counted as STREAM does (copy 16, triad 24 per element: no write-allocate traffic).
// Built by bench/run.sh with -O3 -march=native.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

static void parallel(int threads, long n, void (*f)(long, long, void*), void* ctx) {
  std::vector<std::thread> ts;
  long chunk = (n + threads - 1) / threads;
  for (int t = 1; t < threads; ++t) ts.emplace_back(f, std::min(n, t * chunk), std::min(n, (t + 1) * chunk), ctx);
  f(0, std::min(n, chunk), ctx);
  for (auto& t : ts) t.join();
}

struct Arrays { double *a, *b, *c; double s; };

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  long n = argc > 3 ? std::atol(argv[3]) : 32L << 20;
  Arrays A;
  A.a = (double*)std::aligned_alloc(64, n * sizeof(double));
  A.b = (double*)std::aligned_alloc(64, n * sizeof(double));
  A.c = (double*)std::aligned_alloc(64, n * sizeof(double));
  A.s = argc > 4 ? std::atof(argv[4]) : 3.0;
  // First touch by the threads that will use the pages.
  parallel(threads, n, [](long lo, long hi, void* p) {
    auto* A = (Arrays*)p;
    for (long i = lo; i < hi; ++i) { A->a[i] = 0; A->b[i] = 1.0; A->c[i] = 2.0; }
  }, &A);
  auto time = [&](void (*f)(long, long, void*)) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      parallel(threads, n, f, &A);
      double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::min(best, t);
    }
    return best;
  };
  double tc = time([](long lo, long hi, void* p) {
    auto* A = (Arrays*)p;
    for (long i = lo; i < hi; ++i) A->a[i] = A->b[i];
  });
  double tt = time([](long lo, long hi, void* p) {
    auto* A = (Arrays*)p;
    double s = A->s;
    for (long i = lo; i < hi; ++i) A->a[i] = A->b[i] + s * A->c[i];
  });
  std::printf("copy_GBps %.2f\n", 16.0 * n / tc / 1e9);
  std::printf("triad_GBps %.2f\n", 24.0 * n / tt / 1e9);
  std::printf("check %.1f\n", A.a[n / 2]);
  return 0;
}
