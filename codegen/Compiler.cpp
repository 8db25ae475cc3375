#include "codegen/Compiler.h"

#include <llvm/Support/raw_ostream.h>

#include "codegen/Fusion.h"
#include "codegen/HostGen.h"
#include "codegen/Jit.h"
#include "ir/Diagnostics.h"
#include "ir/IR.h"

namespace msl::codegen {

struct HostCompiler::Code {
  std::vector<llvm::orc::ResourceTrackerSP> trackers;  // one per compiled graph
};

HostCompiler::HostCompiler() : code_(std::make_unique<Code>()) {}
// Frees the code this compiler added to the JIT (msl_progen and --check-modes make one per
// run; the driver's lives until exit).
HostCompiler::~HostCompiler() {
  for (auto& rt : code_->trackers) llvm::consumeError(rt->remove());
}

void HostCompiler::prepare(ir::Graph* g) {
  // Graph passes on the specialised graph, before lowering: elementwise chains become
  // fused kernels (codegen/Fusion.h). Graphs nested in g are fused with it; when they
  // come here themselves, nothing is left to fuse. The chains are recorded (ir/Fused.h)
  // so that a transform of g later (f(x), then grad(f)(x)) sees them unfused.
  if (!g->module) return;
  FusionOptions opt = fusion_;
  opt.kernel.emit = emitLlvm_;  // --emit=llvm shows the kernels too (optimised, as they run)
  fuseElementwise(*g->module, g, opt);
}

CompiledGraph HostCompiler::compile(const ir::Graph* g) {
  Jit& jit = Jit::get();
  std::string base = g->qualname.empty() ? g->name : g->qualname;
  std::string name = jit.uniqueName(base.empty() ? "graph" : base);
  auto ctx = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> m = lowerHostGraph(g, name, *ctx);
  if (emitLlvm_) {
    std::string text;
    llvm::raw_string_ostream os(text);
    m->print(os, nullptr);
    emitLlvm_(os.str());
  }
  // One module and ResourceTracker per compiled graph; host code at O1. The code lives as
  // long as the process (graphs are never redefined in `msl run`).
  code_->trackers.push_back(jit.add(std::move(m), std::move(ctx), OptLevel::O1));
  void* addr = jit.lookup(name);
  if (!addr) throw InternalError("compiled code of " + base + " has no symbol " + name);
  ++compiled_;
  return reinterpret_cast<CompiledGraph>(addr);
}

}  // namespace msl::codegen
