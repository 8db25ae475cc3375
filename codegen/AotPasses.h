// Graph passes in executables made by `msl build` (docs/aot.md, "Profile-guided kernels"):
// no LLVM (part of msl_passes, which executables link).
//
// An executable built with a profile (`msl build --profile`) runs on every specialised
// clone what graph mode runs before compiling it (codegen/GraphPasses.h: branch folding,
// dropped calls, elementwise fusion), and takes each fused kernel from the table of
// kernels the build compiled from the profile run's record, keyed by kernelKey
// (codegen/FusedSpecIO.h). A chain whose kernel is not in the table stays unfused (the
// eager kernels compute the same bits); MSL_AOT_REPORT=1 lists such chains. The clones'
// host code is looked up by the plan after the passes: the profile run recorded those
// plans. An executable built without a profile runs no passes (its table holds the
// plans of the unprepared graphs).
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "codegen/GraphPasses.h"
#include "runtime/AotCode.h"

extern "C" {
// The entry of an executable made by `msl build`: runs the program image (n bytes) as
// msl_aot_main does (runtime/AotMain.h), with `code` as its compiled code. flags bit 0:
// graph mode (every graph runs as compiled code, as `msl run --mode=graph`); otherwise
// eager mode, jit(f) closures running compiled code. Bit 1: --debug-nans
// (runtime/Interpreter.h). Bit 2: built with a profile: the graph passes run.
int msl_aot_run(const uint8_t* image, size_t n, const MslAotCode* code, int32_t flags, int argc, char** argv);
}

namespace msl::codegen {

// The kernels of an executable's table as a KernelSource.
class AotKernelTable : public KernelSource {
 public:
  AotKernelTable(const MslAotKernel* kernels, size_t count);
  bool available(const FusedSpec& spec, const ir::Node* root) override;
  void provide(const std::vector<std::pair<int, const FusedSpec*>>& kernels, const KernelOptions& opt) override;
  size_t size() const { return byKey_.size(); }
  int used() const { return used_; }  // kernels given to fused nodes
  const std::vector<std::string>& missing() const { return missing_; }  // "FILE:L:C: NAME"

 private:
  std::unordered_map<std::string, const MslAotKernel*> byKey_;
  int used_ = 0;
  std::vector<std::string> missing_;
};

// The GraphCompiler of an executable: the table's host code (runtime/AotCode.h) and, when
// built with a profile, the graph passes with the table's kernels.
class AotCompiler : public AotCodeTable {
 public:
  AotCompiler(const MslAotCode& code, bool passes);
  void prepare(ir::Graph* g, const ir::Specialisation* spec) override;
  std::string report() const override;
  const AotKernelTable& kernels() const { return kernels_; }

 private:
  bool passes_;
  GraphPassOptions options_;
  GraphPassCounts counts_;
  AotKernelTable kernels_;
};

}  // namespace msl::codegen
