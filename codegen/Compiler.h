// Graph mode's compiler (runtime/GraphMode.h implemented with LLVM): graph passes on the
// specialised graph, lowering of its host code (codegen/HostGen.h), and the CPU JIT
// (codegen/Jit.h, one module and ResourceTracker per compiled graph; host code with FastISel,
// object code kept in the persistent compile cache). docs/graph_mode.md tells the story.
// tools/msl installs one for `msl run --mode=graph` and for jit(f).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "codegen/FusedSpecIO.h"
#include "codegen/GraphPasses.h"
#include "runtime/GraphMode.h"

namespace msl::codegen {

class HostCompiler : public GraphCompiler {
 public:
  HostCompiler();
  ~HostCompiler() override;
  // Graph passes before lowering (codegen/GraphPasses.h), in order: branch folding and
  // the dropping of calls with known results (codegen/FoldBranches.h), elementwise fusion
  // (codegen/Fusion.h; the values g reads from its closure typed by spec->captured,
  // docs/fusion.md "Closures").
  void prepare(ir::Graph* g, const ir::Specialisation* spec) override;
  CompiledGraph compile(const ir::Graph* g) override;
  // --emit=llvm: called with the text of each compiled graph's module, before it is
  // optimised.
  void setEmitLlvm(std::function<void(const std::string&)> f) { emitLlvm_ = std::move(f); }
  int compiledCount() const { return compiled_; }
  // The fusion pass's options in graph mode (bench/fused_bench.cpp times what it runs).
  const FusionOptions& fusionOptions() const { return passes_.fusion; }
  // Branches folded by prepare (codegen/FoldBranches.h); off: none (tests compare).
  int foldedCount() const { return counts_.folded; }
  void setFoldBranches(bool on) { passes_.foldBranches = on; }
  // Calls dropped by prepare (codegen/FoldBranches.h dropKnownCalls); off: none.
  int droppedCount() const { return counts_.dropped; }
  void setDropKnownCalls(bool on) { passes_.dropCalls = on; }
  // `msl run --record-compiled`: every fused kernel's spec and every compiled graph's
  // plan go into `r` (codegen/FusedSpecIO.h; nullptr: none), for `msl build --profile`.
  void setRecord(CompiledRecord* r) { record_ = r; }
  // Graphs compiled, fused kernels made, and where the compile time went (the fusion pass,
  // lowering, LLVM, the cache): one line for `msl run --stats`.
  std::string statsText() const;

 private:
  std::function<void(const std::string&)> emitLlvm_;
  int compiled_ = 0;
  GraphPassOptions passes_ = GraphPassOptions::fromEnv();
  GraphPassCounts counts_;  // what prepare did
  CompiledRecord* record_ = nullptr;
  double prepareMs_ = 0;  // the fusion pass, its kernels' compilation included
  double compileMs_ = 0;  // compile(): lowering and the JIT
  struct Code;  // the JIT resources of the compiled graphs (codegen/Compiler.cpp)
  std::unique_ptr<Code> code_;
};

}  // namespace msl::codegen
