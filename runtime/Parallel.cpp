// The runtime's thread pool (runtime/Parallel.h).
#include "runtime/Parallel.h"

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

// oneDNN (Debian's libdnnl 2.x) is built with the OpenMP runtime (DNNL_CPU_RUNTIME ==
// DNNL_RUNTIME_OMP, linked to libgomp): its thread count is OpenMP's.
extern "C" void omp_set_num_threads(int n);

namespace msl {

int availableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned h = std::thread::hardware_concurrency();
  return h ? (int)h : 1;
}

bool parseNumThreads(const char* text, int* out, std::string* error) {
  std::string s = text ? text : "";
  bool digits = !s.empty() && s.size() <= 9;
  for (char c : s)
    if (c < '0' || c > '9') digits = false;
  long v = digits ? std::strtol(s.c_str(), nullptr, 10) : -1;
  if (!digits || v < 1 || v > 1024) {
    *error = "MSL_NUM_THREADS must be a whole number of threads from 1 to 1024, not '" + s + "'";
    return false;
  }
  *out = (int)v;
  return true;
}

namespace detail {

static int initialThreads() {
  int n;
  std::string err;
  if (const char* e = std::getenv("MSL_NUM_THREADS"))
    if (parseNumThreads(e, &n, &err)) return n;  // the driver reports invalid values
  return availableCpus();
}

int gNumThreads = initialThreads();
thread_local bool tInParallel = false;

namespace {

struct Job {
  ChunkFn fn;
  void* ctx;
  int64_t n, chunk, nchunks;
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex errorMutex;

  void work() {
    tInParallel = true;
    for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < nchunks;) {
      int64_t b = c * chunk, e = std::min(n, b + chunk);
      try {
        fn(ctx, b, e);
      } catch (...) {
        std::lock_guard<std::mutex> g(errorMutex);
        if (!error) error = std::current_exception();
      }
    }
    tInParallel = false;
  }
};

class Pool {
 public:
  explicit Pool(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> g(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int workers() const { return (int)threads_.size(); }

  void run(Job& job) {
    {
      std::lock_guard<std::mutex> g(m_);
      job_ = &job;
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    job.work();
    std::unique_lock<std::mutex> l(m_);
    job_ = nullptr;  // workers that wake up from now on find nothing to do
    done_.wait(l, [&] { return active_ == 0; });
  }

 private:
  void loop() {
    uint64_t seen = 0;
    while (true) {
      // Spin briefly: kernels often come in quick succession.
      for (int i = 0; i < 4000 && gen_.load(std::memory_order_acquire) == seen; ++i) __builtin_ia32_pause();
      std::unique_lock<std::mutex> l(m_);
      cv_.wait(l, [&] { return stop_ || gen_.load(std::memory_order_relaxed) != seen; });
      if (stop_) return;
      seen = gen_.load(std::memory_order_relaxed);
      Job* job = job_;
      if (!job) continue;
      ++active_;
      l.unlock();
      job->work();
      l.lock();
      if (--active_ == 0) done_.notify_all();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex m_;
  std::condition_variable cv_, done_;
  std::atomic<uint64_t> gen_{0};
  Job* job_ = nullptr;
  int active_ = 0;
  bool stop_ = false;
};

std::mutex gPoolMutex;
Pool* gPool = nullptr;  // leaked at exit: workers must not be joined from a static destructor

}  // namespace

void runParallel(int64_t n, int64_t grain, ChunkFn fn, void* ctx) {
  int threads = gNumThreads;
  if (grain < 1) grain = 1;
  int64_t units = (n + grain - 1) / grain;
  int64_t nchunks = std::min<int64_t>(units, (int64_t)threads * 4);
  int64_t chunk = ((units + nchunks - 1) / nchunks) * grain;
  Job job;
  job.fn = fn;
  job.ctx = ctx;
  job.n = n;
  job.chunk = chunk;
  job.nchunks = (n + chunk - 1) / chunk;
  // One job at a time (the interpreter is single-threaded; other callers queue here).
  std::lock_guard<std::mutex> g(gPoolMutex);
  if (!gPool || gPool->workers() != threads - 1) {
    delete gPool;
    gPool = new Pool(threads - 1);
  }
  gPool->run(job);
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace detail

void setNumThreads(int n) {
  detail::gNumThreads = n < 1 ? 1 : n;
  omp_set_num_threads(detail::gNumThreads);
}

}  // namespace msl
