// libFuzzer target: one input is one msl source file, named <fuzz>, run through the
// pipeline of `msl run` (parse, lower, module passes, then `msl check`'s inference and
// the interpreter) in this process. User errors (diagnostics) are the expected outcome of
// most inputs and are dropped; findings are crashes, sanitizer reports, internal errors
// (a bug in msl: abort), inputs that do not end (libFuzzer's -timeout) and memory
// exhaustion (-rss_limit_mb). docs/limits.md ("Hostile input and fuzzing") explains how to build and run it.
//
// Every input runs in a sandbox: output goes nowhere, exit(code) unwinds instead of ending
// the process, file access is disabled (read_text, write_text, makedirs, load_*/save_*
// raise IoError), imports find only the built-in standard library, tensors, strings and
// repeated sequences are limited to 256 MiB (maxAllocationBytes), and a watchdog
// interrupts a program after a wall-clock budget of 1 s (as Ctrl-C does in the REPL; the
// interpreter checks at loop back-edges and kernel calls). Programs run on a worker thread
// with a 2 GiB stack, as `msl run` does, so that the recursion limit (1000 calls) is
// reached long before the stack ends. What a program leaves in process-wide tables
// (source files, global ids, interned abstracts, class abstracts, buffered output) is
// dropped after each input, so that millions of inputs run in one process.
//
// Environment (all optional):
//   MSL_FUZZ_BUDGET_MS=N      wall-clock budget of one input (default 1000)
//   MSL_FUZZ_SHOW_OUTPUT=1    let the program's output and diagnostics through (to debug)
//   MSL_FUZZ_INTERNAL_DIR=D   an internal error is not a finding: print it once per
//                             message and save the input under D (for long runs that must
//                             not stop at the first one); without it, internal errors abort
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <new>
#include <set>
#include <string>

#include "frontend/LowerToIR.h"
#include "ir/Diagnostics.h"
#include "ir/IR.h"
#include "ir/Infer.h"
#include "runtime/AbstractOf.h"
#include "runtime/Host.h"
#include "runtime/Interpreter.h"
#include "runtime/Print.h"
#include "runtime/Tensor.h"
#include "tools/msl/Driver.h"

using namespace msl;

namespace {

constexpr uint64_t kMaxAllocationBytes = uint64_t(256) << 20;
constexpr size_t kWorkerStackBytes = size_t(2) << 30;

struct ExitRequest { int code; };
void throwExit(int code) { throw ExitRequest{code}; }

std::chrono::milliseconds gBudget{1000};
const char* gInternalDir = nullptr;

void reportInternal(const std::string& what, const uint8_t* data, size_t size) {
  std::string line = "msl-fuzz: internal error: " + what + "\n";
  if (!gInternalDir) {
    fputs(line.c_str(), stderr);
    abort();  // a finding: libFuzzer saves the input
  }
  static std::set<std::string> seen;
  if (!seen.insert(what).second) return;
  fputs(line.c_str(), stderr);
  std::string path = std::string(gInternalDir) + "/internal-" + std::to_string(seen.size());
  if (FILE* f = fopen(path.c_str(), "wb")) {
    fwrite(data, 1, size, f);
    fclose(f);
  }
}

// One input, start to end; leaves the process as it found it.
void runOne(const uint8_t* data, size_t size) {
  builtinsModule();  // made before the mark (runtime/AbstractOf.h RunMark)
  RunMark mark(/*sources=*/true);
  try {
    Program prog({});
    prog.setStdlibOnly(true);
    ir::Module* main = prog.loadText("<fuzz>", std::string(reinterpret_cast<const char*>(data), size));
    for (ir::Module* m : prog.modules()) (void)ir::checkModule(*m);
    Interpreter interp;
    interp.global(builtinsModule().findGlobal("argv")->id) = makeList({makeStr("<fuzz>")});
    interp.setArgv({"<fuzz>"});
    interp.runModule(main);
  } catch (Error&) {
  } catch (ExitRequest&) {
  } catch (Interrupted&) {
  } catch (std::bad_alloc&) {
  } catch (InternalError& e) {
    reportInternal(e.msg, data, size);
  } catch (std::exception& e) {
    reportInternal(std::string("C++ exception: ") + e.what(), data, size);
  }
  outFlush();
}

// The worker thread and its hand-over with the fuzzer's thread. Never destroyed: the
// worker still waits on them when the process exits.
std::mutex& gMu = *new std::mutex;
std::condition_variable& gCv = *new std::condition_variable;
const uint8_t* gData = nullptr;
size_t gSize = 0;
bool gHasJob = false, gDone = false;

void* workerMain(void*) {
  std::unique_lock<std::mutex> lock(gMu);
  for (;;) {
    gCv.wait(lock, [] { return gHasJob; });
    gHasJob = false;
    const uint8_t* data = gData;
    size_t size = gSize;
    lock.unlock();
    runOne(data, size);
    lock.lock();
    gDone = true;
    gCv.notify_all();
  }
  return nullptr;
}

void initOnce() {
  if (const char* ms = getenv("MSL_FUZZ_BUDGET_MS")) gBudget = std::chrono::milliseconds(atol(ms));
  gInternalDir = getenv("MSL_FUZZ_INTERNAL_DIR");
  const char* show = getenv("MSL_FUZZ_SHOW_OUTPUT");
  discardOutput = !(show && *show && *show != '0');
  fileAccessDisabled = true;
  maxAllocationBytes = kMaxAllocationBytes;
  exitHook = throwExit;
  builtinsModule();  // created once, before the first marks
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kWorkerStackBytes);
  pthread_t t;
  if (pthread_create(&t, &attr, workerMain, nullptr) != 0) {
    fputs("msl-fuzz: cannot start the worker thread\n", stderr);
    abort();
  }
  pthread_attr_destroy(&attr);
  pthread_detach(t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::once_flag once;
  std::call_once(once, initOnce);
  std::unique_lock<std::mutex> lock(gMu);
  gData = data;
  gSize = size;
  gDone = false;
  gHasJob = true;
  gCv.notify_all();
  if (!gCv.wait_for(lock, gBudget, [] { return gDone; })) {
    Interpreter::interruptRequested = true;  // the worker unwinds at its next check
    gCv.wait(lock, [] { return gDone; });
  }
  Interpreter::interruptRequested = false;
  return 0;
}
