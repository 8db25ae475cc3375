#include "codegen/AotPasses.h"

#include "codegen/FusedSpecIO.h"
#include "ir/Diagnostics.h"
#include "ir/IR.h"
#include "runtime/AotMain.h"

namespace msl::codegen {

AotKernelTable::AotKernelTable(const MslAotKernel* kernels, size_t count) {
  for (size_t i = 0; i < count; ++i) byKey_.emplace(kernels[i].key, &kernels[i]);
}

bool AotKernelTable::available(const FusedSpec& spec, const ir::Node* root) {
  // The kernel options of graph mode's fusion (AotCompiler's are the defaults, as
  // HostCompiler's: no fastExp), which provide() is given.
  if (byKey_.count(kernelKey(spec, KernelOptions{}))) return true;
  std::string where = "<no location>";
  if (root && root->loc.valid())
    where = root->loc.file->name + ":" + std::to_string(root->loc.line) + ":" + std::to_string(root->loc.col);
  missing_.push_back(where + ": " + spec.name);
  return false;
}

void AotKernelTable::provide(const std::vector<std::pair<int, const FusedSpec*>>& kernels, const KernelOptions& opt) {
  for (const auto& [id, spec] : kernels) {
    auto it = byKey_.find(kernelKey(*spec, opt));
    FusedKernel* k = fusedKernel(id);
    if (it == byKey_.end() || !k) throw InternalError("fused kernel " + spec->name + " is not in the executable's table");
    const MslAotKernel& e = *it->second;
    k->fn = e.fn;
    k->lanes = e.lanes;
    k->innerStride = spec->innerStride;
    k->nonTemporalBytes = e.nonTemporal && e.lanes > 1 ? lastLevelCacheBytes() : 0;
    ++used_;
  }
}

AotCompiler::AotCompiler(const MslAotCode& code, bool passes)
    : AotCodeTable(code.functions, (size_t)code.count),
      passes_(passes),
      options_(GraphPassOptions::fromEnv()),
      kernels_(code.kernels, (size_t)code.kernelCount) {}

void AotCompiler::prepare(ir::Graph* g, const ir::Specialisation* spec) {
  if (passes_) runGraphPasses(g, spec, options_, kernels_, &counts_);
}

std::string AotCompiler::report() const {
  std::string r = AotCodeTable::report();
  if (!passes_) return r + "msl: no fused kernels (built without a profile run)\n";
  r += "msl: " + std::to_string(kernels_.used()) + " fused kernels from the table (" + std::to_string(kernels_.size()) +
       " compiled), " + std::to_string(kernels_.missing().size()) + " chains left unfused (no kernel in the table)" +
       (kernels_.missing().empty() ? "\n" : ":\n");
  for (const std::string& m : kernels_.missing()) r += "  " + m + "\n";
  return r;
}

}  // namespace msl::codegen

extern "C" int msl_aot_run(const uint8_t* image, size_t n, const MslAotCode* code, int32_t flags, int argc,
                           char** argv) {
  // Never destroyed: compiled code may run until exit, as in the msl tool.
  auto* compiler = new msl::codegen::AotCompiler(*code, (flags & 4) != 0);
  msl::AotRun r;
  r.image = image;
  r.n = n;
  r.argc = argc;
  r.argv = argv;
  r.compiler = compiler;
  r.flags = flags;
  r.report = [compiler] { return compiler->report(); };
  return msl::runAot(r);
}
