#include "runtime/AotMain.h"

#include <pthread.h>

#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "ir/Diagnostics.h"
#include "ir/Serialize.h"
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

struct AotArgs {
  const uint8_t* image;
  size_t n;
  int argc;
  char** argv;
  int rc;
};

int runImage(const AotArgs& a) {
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
  ir::ProgramImage p = ir::deserialize(std::string_view(reinterpret_cast<const char*>(a.image), a.n));
  Interpreter interp;
  std::vector<std::string> argv(a.argv, a.argv + a.argc);
  if (argv.empty()) argv.push_back("");
  if (const ir::GlobalVar* v = p.builtins ? p.builtins->findGlobal("argv") : nullptr) {
    std::vector<Value> items;
    for (auto& s : argv) items.push_back(makeStr(s));
    interp.global(v->id) = makeList(std::move(items));
  }
  interp.setArgv(argv);
  interp.runModule(p.main);
  return 0;
}

int guardedRun(const AotArgs& a) { return runGuarded([&] { return runImage(a); }); }

void* threadMain(void* p) {
  auto* a = static_cast<AotArgs*>(p);
  a->rc = guardedRun(*a);
  return nullptr;
}

}  // namespace
}  // namespace msl

extern "C" int msl_aot_main(const uint8_t* image, size_t n, int argc, char** argv) {
  // As the msl tool does: the program runs on a thread with a large stack, so that deep
  // recursion stops at the documented call-depth limit.
  msl::AotArgs a{image, n, argc, argv, 2};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, size_t(2) << 30);
  pthread_t t;
  int rc = pthread_create(&t, &attr, msl::threadMain, &a);
  pthread_attr_destroy(&attr);
  if (rc != 0) return msl::guardedRun(a);
  pthread_join(t, nullptr);
  return a.rc;
}
