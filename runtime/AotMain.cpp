#include "runtime/AotMain.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "ir/Diagnostics.h"
#include "ir/Serialize.h"
#include "runtime/GraphMode.h"
#include "runtime/Interpreter.h"
#include "runtime/Parallel.h"
#include "runtime/Print.h"

namespace msl {

int runGuarded(const std::function<int()>& body) {
  try {
    int rc = body();
    outFlush();
    return rc;
  } catch (int code) {
    outFlush();
    return code;
  } catch (Interrupted& e) {
    outFlush();
    errWrite(renderDiagnostic(e.diag));
    return kInterruptedStatus;
  } catch (Error& e) {
    outFlush();
    errWrite(renderDiagnostic(e.diag));
    return 1;
  } catch (InternalError& e) {
    outFlush();
    errWrite("internal error: " + e.msg + "\n");
    return 2;
  } catch (std::bad_alloc&) {
    outFlush();
    errWrite("error: out of memory\n");
    return 1;
  } catch (std::exception& e) {
    outFlush();
    errWrite(std::string("internal error: ") + e.what() + "\n");
    return 2;
  }
}

namespace {

static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

void onSigint(int) {
  if (Interpreter::interruptRequested.load(std::memory_order_relaxed)) {
    static const char kMsg[] = "\nKeyboardInterrupt\n";
    ssize_t n = write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    (void)n;
    _exit(kInterruptedStatus);
  }
  Interpreter::interruptRequested.store(true, std::memory_order_relaxed);
}

}  // namespace

void catchSigint() {
  struct sigaction old {};
  if (sigaction(SIGINT, nullptr, &old) != 0 || old.sa_handler == SIG_IGN) return;
  Interpreter::interruptRequested = false;
  struct sigaction sa {};
  sa.sa_handler = onSigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a blocking read goes on (a second Ctrl-C ends it)
  sigaction(SIGINT, &sa, nullptr);
}

namespace {

struct AotArgs {
  AotRun run;
  int rc = 2;
};

int runImage(const AotRun& a) {
  auto t0 = std::chrono::steady_clock::now();
  // MSL_NUM_THREADS as `msl run` reads it (runtime/Parallel.h).
  if (const char* e = std::getenv("MSL_NUM_THREADS")) {
    int n;
    std::string err;
    if (!parseNumThreads(e, &n, &err)) {
      errWrite("msl: " + err + "\n");
      return 2;
    }
    setNumThreads(n);
  } else {
    setNumThreads(availableCpus());
  }
  auto tThreads = std::chrono::steady_clock::now();
  ir::ProgramImage p = ir::deserialize(std::string_view(reinterpret_cast<const char*>(a.image), a.n));
  auto t1 = std::chrono::steady_clock::now();
  Interpreter interp;
  // Code compiled by `msl build`: graph mode and jit(f) run it (the compiler is never
  // destroyed: compiled code may run until exit, as in the msl tool).
  if (a.compiler) {
    setGraphCompiler(a.compiler);
    interp.setGraphMode(a.flags & 1);
    interp.setDebugNans(a.flags & 2);
  }
  std::vector<std::string> argv(a.argv, a.argv + a.argc);
  if (argv.empty()) argv.push_back("");
  if (const ir::GlobalVar* v = p.builtins ? p.builtins->findGlobal("argv") : nullptr) {
    std::vector<Value> items;
    for (auto& s : argv) items.push_back(makeStr(s));
    interp.global(v->id) = makeList(std::move(items));
  }
  interp.setArgv(argv);
  // MSL_AOT_TIMING=1: msl's own start-up (docs/aot.md: deserialising the image, the
  // interpreter and the code table), apart from the libraries' (dynamic loading, static
  // initialisers before main; the thread pools of OpenMP and oneDNN, set up here) and
  // from the program's run.
  if (const char* e = std::getenv("MSL_AOT_TIMING"); e && *e && std::string_view(e) != "0") {
    auto t2 = std::chrono::steady_clock::now();
    auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "msl: start-up %.3f ms (deserialising the image %.3f ms, %zu bytes; interpreter and code table "
                  "%.3f ms); thread pools %.3f ms\n",
                  ms(t2 - tThreads), ms(t1 - tThreads), a.n, ms(t2 - t1), ms(tThreads - t0));
    errWrite(buf);
  }
  // The program ends as `msl run` ends it (its error rendered, exit's status); then
  // MSL_AOT_REPORT=1 tells which graphs ran from the table and which in the interpreter.
  catchSigint();
  int rc = runGuarded([&] {
    interp.runModule(p.main);
    return 0;
  });
  const char* report = std::getenv("MSL_AOT_REPORT");
  if (a.report && report && *report && std::string_view(report) != "0") errWrite(a.report());
  return rc;
}

int guardedRun(const AotArgs& a) { return runGuarded([&] { return runImage(a.run); }); }

void* threadMain(void* p) {
  auto* a = static_cast<AotArgs*>(p);
  a->rc = guardedRun(*a);
  return nullptr;
}

}  // namespace
}  // namespace msl

namespace msl {
int runAot(const AotRun& run) {
  // As the msl tool does: the program runs on a thread with a large stack, so that deep
  // recursion stops at the documented call-depth limit.
  AotArgs a{run};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, size_t(2) << 30);
  pthread_t t;
  int rc = pthread_create(&t, &attr, threadMain, &a);
  pthread_attr_destroy(&attr);
  if (rc != 0) return guardedRun(a);
  pthread_join(t, nullptr);
  return a.rc;
}
}  // namespace msl

extern "C" int msl_aot_main(const uint8_t* image, size_t n, int argc, char** argv) {
  msl::AotRun r;
  r.image = image;
  r.n = n;
  r.argc = argc;
  r.argv = argv;
  return msl::runAot(r);
}
