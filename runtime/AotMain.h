// The entry of an executable made ahead of time (docs/aot.md): its `main` passes the
// program image it carries (ir/Serialize.h) and the command line here. No frontend, no
// LLVM, no source files: the image holds the IR and the text of every source file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

extern "C" {
// Deserialises `image` (n bytes) and runs its main module as `msl run` would, with the
// program's argv being argv[0..argc) (argv[0], the executable, in place of the .msl file).
// Errors are rendered on stderr as `msl run` renders them. Returns the process exit
// status: 0, 1 for an error of the program, 2 for an internal error (a corrupt image
// included); exit(code) in the program ends the process with `code`.
int msl_aot_main(const uint8_t* image, size_t n, int argc, char** argv);
}

namespace msl {
class GraphCompiler;

// An executable's run: the image, its argv, and the compiler of graph mode and jit(f)
// (runtime/GraphMode.h; nullptr: none), which must outlive the process (compiled code
// may run until exit). flags as msl_aot_run's. `report` gives MSL_AOT_REPORT=1's text.
struct AotRun {
  const uint8_t* image = nullptr;
  size_t n = 0;
  int argc = 0;
  char** argv = nullptr;
  GraphCompiler* compiler = nullptr;
  int32_t flags = 0;
  std::function<std::string()> report;
};
// Runs it as msl_aot_main does, on a thread with a 2 GiB stack; returns the exit status.
int runAot(const AotRun& run);

// Runs `body` and returns its exit status, flushing the program's output first; an msl
// error (rendered with its place), an internal error, running out of memory, an
// interrupt (KeyboardInterrupt, rendered as an error is), or `throw int` (exit) end it
// with the status `msl run` gives them: 1, 2, 1, 130, the int. Shared by the msl tool and
// executables made ahead of time, so both end a program alike.
int runGuarded(const std::function<int()>& body);

// Exit status of a program stopped by Ctrl-C (128 + SIGINT, as Python and shells give).
constexpr int kInterruptedStatus = 130;

// Ctrl-C (SIGINT) for the rest of the process, as Python has it (`msl run`, executables;
// the REPL installs its own while it runs): the first one interrupts the program at its
// next kernel call or loop back-edge (Interpreter::interruptRequested: KeyboardInterrupt
// with its place and traceback, exit status 130 from runGuarded); a second one before the
// first was honoured (a long kernel, a blocking read) ends the process at once with status
// 130. A SIGINT ignored when the process started (a background job) stays ignored.
void catchSigint();
}  // namespace msl
