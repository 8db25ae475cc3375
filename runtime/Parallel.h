// The runtime's thread pool (MSL_NUM_THREADS), used by the kernels' big loops.
//
// parallelFor(n, grain, f) calls f(begin, end) over [0, n) in chunks whose boundaries are
// multiples of `grain`, on up to numThreads() threads (the caller is one of them). Below
// kParallelMin units of work, or with one thread, it is a plain call f(0, n): tiny tensors
// pay one comparison. Chunks never depend on the thread count for their *results*: every
// kernel that uses the pool computes each output element the same way whatever the
// chunking (elementwise kernels trivially; reductions split only independent outputs or
// the fixed recursion of the pairwise sum), so results are bit-identical for any
// MSL_NUM_THREADS (docs/tensors.md).
//
// The pool starts on first use; its workers block on a condition variable between jobs
// after a short spin. Nested calls (from inside a chunk) run sequentially.
#pragma once
#include <cstdint>
#include <string>
#include <type_traits>

namespace msl {

// Work (elements) below which a loop runs on the calling thread alone.
constexpr int64_t kParallelMin = 1 << 16;

// The number of threads kernels use: MSL_NUM_THREADS, else all cores this process may run
// on. setNumThreads also sets oneDNN's (OpenMP) thread count for the calling thread.
inline int numThreads();
void setNumThreads(int n);
// Parses a value of MSL_NUM_THREADS: a positive decimal integer up to 1024. On failure
// returns false with *error set to a message.
bool parseNumThreads(const char* text, int* out, std::string* error);
// The number of CPUs this process may run on (sched_getaffinity), at least 1.
int availableCpus();

namespace detail {
using ChunkFn = void (*)(void* ctx, int64_t begin, int64_t end);
void runParallel(int64_t n, int64_t grain, ChunkFn fn, void* ctx);
extern int gNumThreads;
extern thread_local bool tInParallel;
}  // namespace detail

inline int numThreads() { return detail::gNumThreads; }

// Calls f(begin, end) over [0, n) (see above). `work` is the amount of work behind the n
// units (elements touched), compared with kParallelMin; by default n.
template <class F>
inline void parallelFor(int64_t n, int64_t grain, F&& f, int64_t work = -1) {
  if (work < 0) work = n;
  if (work < kParallelMin || detail::gNumThreads <= 1 || n <= grain || detail::tInParallel) {
    if (n > 0) f((int64_t)0, n);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  detail::runParallel(n, grain, [](void* ctx, int64_t b, int64_t e) { (*static_cast<Fn*>(ctx))(b, e); },
                      (void*)&f);
}

}  // namespace msl
