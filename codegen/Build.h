// `msl build` (docs/aot.md): a loaded program made into a native executable that runs it
// without the compiler, the standard library's sources or the .msl files.
//
// What the executable holds: the program image (ir/Serialize.h), the host code of every
// graph of the program compiled ahead of time — one function per distinct host plan
// (ir/HostPlan.h; the function of a plan is the code of every graph and specialised
// clone with that plan, runtime/AotCode.h) — with a profile run's record also the fused
// kernels and plans it compiled, a table from plan to function and from kernel key to
// kernel, and a `main` calling msl_aot_run (codegen/AotPasses.h). It links the runtime
// library, msl_passes and their system libraries (oneDNN, OpenMP, zlib), never LLVM.
//
// Internal to codegen/ and the msl tool: includes LLVM (through codegen/Aot.h).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "codegen/Aot.h"
#include "codegen/FusedSpecIO.h"
#include "ir/Serialize.h"

namespace msl::codegen {

struct BuildOptions {
  AotOptions aot;
  // The executable's mode: graph (every graph runs as compiled code, as `msl run
  // --mode=graph`) or eager (the interpreter; jit(f) closures run compiled code).
  bool graphMode = true;
  bool debugNans = false;  // --debug-nans: as `msl run --debug-nans`
  // What a profile run compiled (`msl build --profile`): its fused kernels are compiled
  // into the executable and its plans added to the table, and the executable runs graph
  // mode's passes (codegen/AotPasses.h). nullptr: no profile, no passes.
  const CompiledRecord* profile = nullptr;
  // Progress lines ("msl build: ..."), for builds that take a while; nullptr: quiet.
  std::function<void(const std::string&)> progress;
};

// What a build compiled, and what it could not.
struct BuildReport {
  int modules = 0;
  int graphs = 0;     // graphs of the program, all planned
  int functions = 0;  // distinct plans, one compiled function each
  // Places whose graphs are made at run time (grad, value_and_grad, vjp, jacobian, jvp,
  // vmap) and so cannot be planned at build time: "FILE:L:C: grad(...)". Their graphs
  // run compiled code when their plan is one of the program's, else in the interpreter.
  std::vector<std::string> runtimeGraphs;
  bool profiled = false;   // built with a profile run's record
  int kernels = 0;         // fused kernels compiled from it
  int profiledPlans = 0;   // functions for plans only the record has (of `functions`)
  std::string summary() const;  // a few lines for the build's output
};

// Whether `cpu` names a CPU of this target (an LLVM CPU name: x86-64-v3, skylake, ...)
// or is "native": `--cpu`'s check, before LLVM would abort on an unknown one.
bool isValidCpu(const std::string& cpu);

// The compiled code of a program, as LLVM IR text (--emit=llvm), optimised as a build
// would: the functions and the table, without the image and main.
std::string programLlvmText(const ir::ProgramImage& p, const BuildOptions& o);

// The graphs of the program with their plans and functions (--emit=opt's listing).
std::string programPlanText(const ir::ProgramImage& p);

// Writes at objPath the object file of the executable of `p` (its image, code, table and
// main) and fills `report`. Failures are InternalError.
void emitProgramObject(const ir::ProgramImage& p, const std::string& objPath, const BuildOptions& o,
                       BuildReport* report);

// emitProgramObject, then linkExecutable (codegen/Aot.h) into `out`. Returns "" on
// success, otherwise the linker's output.
std::string buildExecutable(const ir::ProgramImage& p, const std::string& out, const BuildOptions& o,
                            BuildReport* report);

}  // namespace msl::codegen
