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

#include "codegen/Fusion.h"
#include "runtime/GraphMode.h"

namespace msl::codegen {

class HostCompiler : public GraphCompiler {
 public:
  HostCompiler();
  ~HostCompiler() override;
  // Graph passes before lowering, in order: branch folding and the dropping of calls with
  // known results (codegen/FoldBranches.h), elementwise fusion (codegen/Fusion.h; the
  // values g reads from its closure typed by spec->captured, docs/fusion.md "Closures").
  void prepare(ir::Graph* g, const ir::Specialisation* spec) override;
  CompiledGraph compile(const ir::Graph* g) override;
  // --emit=llvm: called with the text of each compiled graph's module, before it is
  // optimised.
  void setEmitLlvm(std::function<void(const std::string&)> f) { emitLlvm_ = std::move(f); }
  int compiledCount() const { return compiled_; }
  // The fusion pass's options in graph mode (bench/fused_bench.cpp times what it runs).
  const FusionOptions& fusionOptions() const { return fusion_; }
  // Branches folded by prepare (codegen/FoldBranches.h); off: none (tests compare).
  int foldedCount() const { return folded_; }
  void setFoldBranches(bool on) { foldBranches_ = on; }
  // Calls dropped by prepare (codegen/FoldBranches.h dropKnownCalls); off: none.
  int droppedCount() const { return dropped_; }
  void setDropKnownCalls(bool on) { dropCalls_ = on; }
  // Graphs compiled, fused kernels made, and where the compile time went (the fusion pass,
  // lowering, LLVM, the cache): one line for `msl run --stats`.
  std::string statsText() const;

 private:
  std::function<void(const std::string&)> emitLlvm_;
  int compiled_ = 0;
  int kernels_ = 0;       // fused kernels made by prepare
  int folded_ = 0;        // branches folded by prepare
  bool foldBranches_ = true;
  int dropped_ = 0;  // calls dropped by prepare
  bool dropCalls_ = true;
  double prepareMs_ = 0;  // the fusion pass, its kernels' compilation included
  double compileMs_ = 0;  // compile(): lowering and the JIT
  // Graph mode prints what eager mode prints: fused kernels compute what eager kernels
  // compute (KernelOptions::fastExp off, docs/fusion.md).
  FusionOptions fusion_;
  struct Code;  // the JIT resources of the compiled graphs (codegen/Compiler.cpp)
  std::unique_ptr<Code> code_;
};

}  // namespace msl::codegen
