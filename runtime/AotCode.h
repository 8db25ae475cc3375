// Code compiled ahead of time (docs/aot.md): the table an executable made by `msl build`
// carries, and the GraphCompiler (runtime/GraphMode.h) that serves graphs from it, so that
// the executable runs graphs as compiled code without LLVM.
//
// Host code is keyed on its plan (ir/HostPlan.h): a graph's compiled function performs the
// graph's nodes through the runtime's entry points (msl_rt_step(frame, i), branches and
// loops), and what it does is decided by the plan alone — the node at each index runs the
// interpreter's code of the specialised clone being run. So the function compiled for a
// plan is the code of every graph (and every clone) with that plan. `msl build` compiles
// one function per distinct plan of the program's graphs; at run time a graph's plan is
// computed and looked up. A graph whose plan is not in the table (one made at run time by
// grad, vmap or jvp with a plan no graph of the program has) runs in the interpreter —
// the same semantics — and is counted; MSL_AOT_REPORT=1 lists such graphs on stderr at exit.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/FusedKernel.h"
#include "runtime/GraphMode.h"

extern "C" {
// One entry of the table: the plan's text (ir::hostPlanText) and its compiled function.
struct MslAotFunction {
  const char* plan;
  int32_t (*fn)(void* frame);
};
// A fused kernel compiled ahead of time (`msl build --profile`, docs/aot.md): its key
// (codegen/FusedSpecIO.h kernelKey), its function (runtime/FusedKernel.h's ABI), the
// elements it computes a step, and whether it has the non-temporal stores' path (x86).
struct MslAotKernel {
  const char* key;
  MslFusedKernelFn fn;
  int32_t lanes;
  int32_t nonTemporal;
};
// What `msl build` compiled: host code per plan and fused kernels per key.
struct MslAotCode {
  const MslAotFunction* functions;
  int64_t count;
  const MslAotKernel* kernels;
  int64_t kernelCount;
};
// msl_aot_run(image, n, code, flags, argc, argv), the entry of an executable made by
// `msl build`, is in codegen/AotPasses.h: it runs the graph passes.
}

namespace msl {

class AotCodeTable : public GraphCompiler {
 public:
  AotCodeTable(const MslAotFunction* functions, size_t count);
  // No graph passes here; an executable built with a profile runs them
  // (codegen/AotPasses.h: fused kernels from its table).
  void prepare(ir::Graph*, const ir::Specialisation*) override {}
  // The table's function for g's plan, or nullptr (g is then interpreted).
  CompiledGraph compile(const ir::Graph* g) override;
  int hits() const { return hits_; }
  int misses() const { return (int)missed_.size(); }
  // MSL_AOT_REPORT: the graphs served from the table and those interpreted, with places.
  virtual std::string report() const;

 private:
  std::unordered_map<std::string, CompiledGraph> byPlan_;
  int hits_ = 0;
  std::vector<std::string> missed_;  // "FILE:L:C: QUALNAME (plan TEXT)"
};

}  // namespace msl
