// Elementwise fusion (graph mode, DESIGN.md section 5).
//
// Over a specialised graph (every node's Node::abs has its dtype and shape; dimensions
// may be symbols), finds maximal chains of elementwise and broadcasting primitives whose
// intermediate values are used only inside the chain, compiles each chain to one loop
// (codegen/KernelGen.h) and replaces it by one `__fused(kernel, inputs...)` node placed
// where the chain's last node was. The chain's inputs are tensors and Python numbers
// (known numbers are folded into the kernel). Values read from a closure are inputs too,
// typed by FusionOptions::captured.
//
// Fusible: + - * / ** (float), maximum, minimum, == != < <= > >=, & | ^ (integers and
// bool), where, negative, abs, relu, floor, ceil, exp, log, log1p, sqrt, rsqrt, sin, cos,
// tanh, sigmoid, gelu (both forms), softplus, isnan, isfinite, astype, clip. Every dtype
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
// decides which kernel may write into which input; the kernels of the graph compile as
// one LLVM module.
//
// Run it on a graph before the interpreter first runs it (the interpreter caches its code
// per graph). It edits the graph and the graphs nested in it, and looks at nothing else
// of the module (its cost follows the graph's size).
#pragma once
#include <unordered_map>

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

struct FusionStats {
  int kernels = 0;      // __fused nodes made
  int fusedOps = 0;     // primitive applications they replaced
  int multiOutput = 0;  // kernels with several outputs
  int inPlace = 0;      // kernels planned to write into an input's buffer
  int reductions = 0;   // kernels ending in a reduction (counted in kernels too)
};

FusionStats fuseElementwise(ir::Module& m, ir::Graph* g, const FusionOptions& opt = {});

// The spec of the kernel of a __fused node's chain, as made by the last fuseElementwise
// call (for tests and --emit): empty when `kernelId` is unknown.
const FusedSpec* fusedSpecOf(int kernelId);

}  // namespace msl::codegen
