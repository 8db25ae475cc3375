#include "codegen/Compiler.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/SHA1.h>
#include <llvm/Support/raw_ostream.h>

#include <ctime>
#include <cstdio>
#include <cstdlib>

#include "codegen/FoldBranches.h"
#include "codegen/Fusion.h"
#include "codegen/HostGen.h"
#include "codegen/Jit.h"
#include "codegen/ObjectCache.h"
#include "ir/Abstract.h"
#include "ir/Diagnostics.h"
#include "ir/IR.h"
#include "ir/Manager.h"
#include "ir/Specialize.h"

namespace msl::codegen {

namespace {
// The thread's CPU time in ms (compile times: wall time says little on a loaded machine).
double cpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// Whether fuseElementwise could find a chain in g or the graphs nested in it: a chain of two
// or more has a member whose operand is another member, both primitive applications with
// tensor results in one graph (codegen/Fusion.cpp). Most host graphs (calls, tuples,
// attributes) have no such pair, and this scan is cheaper than the pass's own analysis.
bool mayFuse(const ir::Module& m, const ir::Graph* g) {
  auto tensorPrim = [](const ir::Node* n) {
    Prim p;
    return n->callsPrim(&p) && n->abs && n->abs->isTensor();
  };
  for (const auto& gp : m.graphs()) {
    if (!ir::isWithin(gp.get(), g)) continue;
    for (const ir::Node* n : gp->nodes) {
      if (!tensorPrim(n)) continue;
      for (size_t k = 1; k < n->inputs.size(); ++k)
        if (n->inputs[k]->graph == gp.get() && tensorPrim(n->inputs[k])) return true;
    }
  }
  return false;
}
}  // namespace

struct HostCompiler::Code {
  std::vector<llvm::orc::ResourceTrackerSP> trackers;  // one per compiled graph
};

// MSL_NO_FOLD_BRANCHES=1 turns branch folding off, MSL_NO_DROP_CALLS=1 the dropping of
// calls with known results (A/B measurements, docs/graph_mode.md).
HostCompiler::HostCompiler() : code_(std::make_unique<Code>()) {
  if (const char* e = std::getenv("MSL_NO_FOLD_BRANCHES")) foldBranches_ = std::string(e) != "1";
  if (const char* e = std::getenv("MSL_NO_DROP_CALLS")) dropCalls_ = std::string(e) != "1";
}
// Frees the code this compiler added to the JIT (msl_progen and --check-modes make one per
// run; the driver's lives until exit).
HostCompiler::~HostCompiler() {
  for (auto& rt : code_->trackers) llvm::consumeError(rt->remove());
}

void HostCompiler::prepare(ir::Graph* g, const ir::Specialisation* spec) {
  // Graph passes on the specialised graph, before lowering: elementwise chains become
  // fused kernels (codegen/Fusion.h). Graphs nested in g are fused with it; when they
  // come here themselves, nothing is left to fuse. The chains are recorded (ir/Fused.h)
  // so that a transform of g later (f(x), then grad(f)(x)) sees them unfused.
  if (!g->module) return;
  double t0 = cpuMs();
  // Branches the specialisation decided become straight-line code first (FoldBranches.h),
  // so that fusion sees the arms' operations beside their neighbours.
  if (foldBranches_) folded_ += foldKnownBranches(g);
  // Then calls whose results are known and that cannot fail or have effects go (their
  // readers read the constant), those of the arms just moved in included.
  if (dropCalls_) dropped_ += dropKnownCalls(g);
  FusionOptions opt = fusion_;
  opt.kernel.emit = emitLlvm_;  // --emit=llvm shows the kernels too (optimised, as they run)
  if (spec) opt.captured = &spec->captured;  // the types of the values g reads from its closure
  if (opt.minOps < 2 || mayFuse(*g->module, g)) kernels_ += fuseElementwise(*g->module, g, opt).kernels;
  prepareMs_ += cpuMs() - t0;
}

// What the plan's text leaves out of the module: how HostGen emits each kind of plan step.
// The SHA-1 of the IR of a fixed plan with every kind, made once per process and part of
// every host code key, so that a change to the emission changes the keys without anyone
// bumping a version. (The digest rather than the IR text itself: each key is hashed on a
// cached program's compile path, and the text is kilobytes.)
static const std::string& hostGenFingerprint() {
  static const std::string fp = [] {
    llvm::LLVMContext ctx;
    std::vector<HostOp> plan{{HostOp::Step, 0}, {HostOp::If, 1}, {HostOp::While, 3}, {HostOp::Scan, 4}, {HostOp::Step, 5}};
    std::unique_ptr<llvm::Module> m = lowerHostPlan(plan, "fingerprint", ctx);
    std::string text;
    llvm::raw_string_ostream os(text);
    m->print(os, nullptr);
    return llvm::toHex(llvm::SHA1::hash(llvm::arrayRefFromStringRef(os.str())), /*LowerCase=*/true);
  }();
  return fp;
}

CompiledGraph HostCompiler::compile(const ir::Graph* g) {
  double t0 = cpuMs();
  Jit& jit = Jit::get();
  std::string base = g->qualname.empty() ? g->name : g->qualname;
  std::string name = jit.uniqueName(base.empty() ? "graph" : base);
  std::vector<HostOp> plan = planHostGraph(g);
  // One module and ResourceTracker per compiled graph. Host code is runtime calls and
  // branches: no IR optimisation, FastISel (codegen/Jit.h). The code lives as long as the
  // process (graphs are never redefined in `msl run`).
  if (emitLlvm_) {
    auto ctx = std::make_unique<llvm::LLVMContext>();
    std::unique_ptr<llvm::Module> m = lowerHostPlan(plan, name, *ctx);
    std::string text;
    llvm::raw_string_ostream os(text);
    m->print(os, nullptr);
    emitLlvm_(os.str());
    code_->trackers.push_back(jit.add(std::move(m), std::move(ctx), OptLevel::O0));
  } else {
    // The cache key: the plan and the name determine the module (HostGen.h).
    std::string key = hostGenFingerprint() + "|" + name + "|" + hostPlanText(plan);
    code_->trackers.push_back(jit.addKeyed(
        key, [&](llvm::LLVMContext& ctx) { return lowerHostPlan(plan, name, ctx); }, OptLevel::O0));
  }
  void* addr = jit.lookup(name);
  if (!addr) throw InternalError("compiled code of " + base + " has no symbol " + name);
  ++compiled_;
  compileMs_ += cpuMs() - t0;
  return reinterpret_cast<CompiledGraph>(addr);
}

std::string HostCompiler::statsText() const {
  Jit::Stats s = Jit::get().stats();
  ObjectCache* cache = Jit::get().cache();
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%d graphs compiled in %.1f ms, fusion pass %.1f ms (%d fused kernels, %d branches folded, %d calls dropped); "
                "LLVM: %d modules, "
                "optimisation %.1f ms, code generation %.1f ms, linking %.1f ms, hashing %.1f ms; compile cache: ",
                compiled_, compileMs_, prepareMs_, kernels_, folded_, dropped_, s.modules, s.optMs, s.codegenMs, s.linkMs, s.keyMs);
  std::string r = "(CPU time) " + std::string(buf);
  if (!cache) return r + "off";
  std::snprintf(buf, sizeof buf, "%d hits, %d misses (%d corrupt), %d writes", cache->stats().hits.load(),
                cache->stats().misses.load(), cache->stats().corrupt.load(), cache->stats().writes.load());
  return r + buf + " in " + cache->dir();
}

}  // namespace msl::codegen
