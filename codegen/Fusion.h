// Elementwise fusion (graph mode, DESIGN.md section 5).
//
// Over a specialised graph (every node's Node::abs has its dtype and shape; dimensions
// may be symbols), finds maximal chains of elementwise and broadcasting primitives whose
// intermediate values are used only inside the chain, has each chain compiled to one loop
// (a KernelSource: graph mode's JIT compiles it with codegen/KernelGen.h, an AOT
// executable takes it from its table, codegen/AotPasses.h; no LLVM in this pass) and
// replaces it by one `__fused(kernel, inputs...)` node placed
// where the chain's last node was. The chain's inputs are tensors and Python numbers
// (known numbers are folded into the kernel). Values read from a closure are inputs too,
// typed by FusionOptions::captured.
//
// Fusible: + - * / ** (float), maximum, minimum, == != < <= > >=, & | ^ (integers and
// bool), where, negative, abs, relu, floor, ceil, exp, log, log1p, sqrt, rsqrt, sin, cos,
// tanh, sigmoid, gelu (both forms), softplus, isnan, isfinite, astype, clip, and
// `__ct_add` of two tensors (differentiated graphs; eager adds them with add's kernel).
// Every dtype
// rule (promotion, Python numbers' weak types, the compute dtype) is the eager kernels'
// (runtime/KernelsElementwise.cpp); a node whose result dtype the pass would compute
// differently from its inferred one, f16/bf16 values, and Python ints that eager code
// range-checks against a narrow integer dtype are left alone.
//
// A chain whose value is read only by a reduction (sum, mean, max, min of f32/f64 over
// all axes or the last one) ends in it: the kernel computes the chain's elements a block
// at a time and reduces them in eager's order (runtime/FusedKernel.h FusedReduce), so
// `mean((p - y) ** 2)` is one pass over memory, with eager's bits.
//
// Chains whose intermediate values are read after them (by later nodes of the graph, with
// the chain's shape) become kernels with several outputs (a tuple, taken apart by
// tuple_getitem nodes right after the kernel). Then the buffer plan (codegen/Planner.h)
// decides which kernel may write into which input; the kernels of the graph are given
// code at once (KernelSource::provide; the JIT compiles them as one LLVM module).
//
// Run it on a graph before the interpreter first runs it (the interpreter caches its code
// per graph). It edits the graph and the graphs nested in it, and looks at nothing else
// of the module (its cost follows the graph's size).
#pragma once
#include <functional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "codegen/KernelGen.h"
#include "codegen/Planner.h"
#include "ir/IR.h"

namespace msl::codegen {

struct FusionOptions {
  KernelOptions kernel;
  int minOps = 2;  // chains shorter than this stay as they are
  // Values of a chain read after it (of the chain's shape, by later nodes of the same
  // graph) become further outputs of its kernel, which then gives a tuple: an Adam
  // update (new m, v and p from p, g, m, v) is one pass over memory.
  bool multiOutput = true;
  // Reduction epilogues: a chain whose value only sum / mean / max / min reads (f32/f64,
  // over all axes or the last) becomes one kernel computing the reduction, in eager's
  // order (same bits), without storing the chain's elements (docs/fusion.md).
  bool reductions = true;
  // Plan buffers (codegen/Planner.h): kernels write into inputs given up at their last use.
  bool planBuffers = true;
  PlanOptions plan = [] {
    PlanOptions p;
    p.donateAllParams = true;  // see PlanOptions: arguments are moved at their last use
    return p;
  }();
  // The abstracts of values the graph reads from its closure (ir::Specialisation::
  // captured): free variables are nodes of enclosing graphs and carry no abstract of this
  // specialisation. Chains reading them take them as inputs (tensors of their dtype and
  // rank, Python numbers as run-time values). nullptr: only Node::abs.
  const std::unordered_map<const ir::Node*, const ir::Abstract*>* captured = nullptr;
};

// Where the machine code of fused kernels comes from. The pass itself needs no LLVM (an
// AOT executable runs it: codegen/AotPasses.h); graph mode's JIT compiles the kernels
// (codegen/KernelGen.h), an executable takes them from its table.
class KernelSource {
 public:
  virtual ~KernelSource() = default;
  // Whether the kernel of `spec` (the chain ending at `root`) can be had: false leaves
  // the chain unfused (its eager kernels compute the same bits). Asked before the buffer
  // plan sets the spec's in-place variants.
  virtual bool available(const FusedSpec& spec, const ir::Node* root) { return true; }
  // Gives code to the kernels reserved (reserveFusedKernel) with these specs: a graph's
  // kernels at once.
  virtual void provide(const std::vector<std::pair<int, const FusedSpec*>>& kernels, const KernelOptions& opt) = 0;
};

struct FusionStats {
  int kernels = 0;      // __fused nodes made
  int fusedOps = 0;     // primitive applications they replaced
  int multiOutput = 0;  // kernels with several outputs
  int inPlace = 0;      // kernels planned to write into an input's buffer
  int unavailable = 0;  // chains left unfused: KernelSource::available said no
  int reductions = 0;   // kernels ending in a reduction (counted in kernels too)
};

FusionStats fuseElementwise(ir::Module& m, ir::Graph* g, const FusionOptions& opt, KernelSource& kernels);

// Graph mode's kernels: LLVM's JIT compiles each graph's kernels as one module
// (compileFusedKernels). `record` (msl run --record-compiled) sees each spec compiled.
// Defined in codegen/KernelGen.cpp (msl_codegen, with LLVM).
class JitKernels : public KernelSource {
 public:
  explicit JitKernels(std::function<void(const FusedSpec&, const KernelOptions&)> record = nullptr)
      : record_(std::move(record)) {}
  void provide(const std::vector<std::pair<int, const FusedSpec*>>& kernels, const KernelOptions& opt) override;

 private:
  std::function<void(const FusedSpec&, const KernelOptions&)> record_;
};
// fuseElementwise with JitKernels.
FusionStats fuseElementwise(ir::Module& m, ir::Graph* g, const FusionOptions& opt = {});

// The spec of the kernel of a __fused node's chain, as made by the last fuseElementwise
// call (for tests and --emit): empty when `kernelId` is unknown.
const FusedSpec* fusedSpecOf(int kernelId);

}  // namespace msl::codegen
