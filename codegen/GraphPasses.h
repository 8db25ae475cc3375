// The graph passes graph mode runs on a specialised clone before it is compiled
// (runtime/GraphMode.h GraphCompiler::prepare), in order: branch folding and the dropping
// of calls with known results (codegen/FoldBranches.h), elementwise fusion
// (codegen/Fusion.h). One driver for both users: graph mode's JIT (codegen/Compiler.h),
// and executables made by `msl build` with a profile (codegen/AotPasses.h), which take
// the fused kernels from their table. No LLVM here.
#pragma once
#include "codegen/Fusion.h"

namespace msl::ir {
struct Specialisation;
}

namespace msl::codegen {

struct GraphPassOptions {
  bool foldBranches = true;  // MSL_NO_FOLD_BRANCHES=1: off (A/B measurements)
  bool dropCalls = true;     // MSL_NO_DROP_CALLS=1: off
  // Graph mode prints what eager mode prints: fused kernels compute what eager kernels
  // compute (KernelOptions::fastExp off, docs/fusion.md).
  FusionOptions fusion;
  // The defaults, with the environment's switches applied.
  static GraphPassOptions fromEnv();
};

struct GraphPassCounts {
  int folded = 0;       // branches folded
  int dropped = 0;      // calls dropped
  int kernels = 0;      // fused kernels made
  int unavailable = 0;  // chains left unfused: their kernel could not be had
};

// Runs the passes on g (and the graphs nested in it) and adds what they did to `counts`.
// `spec`: the specialisation g belongs to (GraphCompiler::prepare's), whose `captured`
// types the values g reads from its closure for fusion; nullptr: none.
void runGraphPasses(ir::Graph* g, const ir::Specialisation* spec, const GraphPassOptions& opt, KernelSource& kernels,
                    GraphPassCounts* counts);

}  // namespace msl::codegen
