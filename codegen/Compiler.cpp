#include "codegen/Compiler.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/SHA1.h>
#include <llvm/Support/raw_ostream.h>

#include <ctime>
#include <cstdio>
#include <cstdlib>

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

}  // namespace

struct HostCompiler::Code {
  std::vector<llvm::orc::ResourceTrackerSP> trackers;  // one per compiled graph
};

// MSL_NO_FOLD_BRANCHES=1 turns branch folding off, MSL_NO_DROP_CALLS=1 the dropping of
// calls with known results (A/B measurements, docs/graph_mode.md): GraphPassOptions::fromEnv.
HostCompiler::HostCompiler() : code_(std::make_unique<Code>()) {}
// Frees the code this compiler added to the JIT (msl_progen and --check-modes make one per
// run; the driver's lives until exit).
HostCompiler::~HostCompiler() {
  for (auto& rt : code_->trackers) llvm::consumeError(rt->remove());
}

void HostCompiler::prepare(ir::Graph* g, const ir::Specialisation* spec) {
  double t0 = cpuMs();
  GraphPassOptions opt = passes_;
  opt.fusion.kernel.emit = emitLlvm_;  // --emit=llvm shows the kernels too (optimised, as they run)
  JitKernels kernels(record_ ? std::function<void(const FusedSpec&, const KernelOptions&)>(
                                   [this](const FusedSpec& s, const KernelOptions& o) { record_->addKernel(s, o); })
                             : nullptr);
  runGraphPasses(g, spec, opt, kernels, &counts_);
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
  if (record_) record_->addPlan(hostPlanText(plan));
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
                compiled_, compileMs_, prepareMs_, counts_.kernels, counts_.folded, counts_.dropped, s.modules, s.optMs, s.codegenMs, s.linkMs, s.keyMs);
  std::string r = "(CPU time) " + std::string(buf);
  if (!cache) return r + "off";
  std::snprintf(buf, sizeof buf, "%d hits, %d misses (%d corrupt), %d writes", cache->stats().hits.load(),
                cache->stats().misses.load(), cache->stats().corrupt.load(), cache->stats().writes.load());
  return r + buf + " in " + cache->dir();
}

}  // namespace msl::codegen
