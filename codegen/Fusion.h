// Elementwise fusion (graph mode, DESIGN.md section 5).
//
// Over a specialised graph (every node's Node::abs has its dtype and shape; dimensions
// may be symbols), finds maximal chains of elementwise and broadcasting primitives whose
// intermediate values are used only inside the chain, compiles each chain to one loop
// (codegen/KernelGen.h) and replaces it by one `__fused(kernel, inputs...)` node placed
// where the chain's last node was. The chain's inputs are tensors and Python numbers
// (known numbers are folded into the kernel).
//
// Fusible: + - * / ** (float), maximum, minimum, == != < <= > >=, & | ^ (integers and
// bool), where, negative, abs, relu, floor, ceil, exp, log, log1p, sqrt, rsqrt, sin, cos,
// tanh, sigmoid, gelu (both forms), softplus, isnan, isfinite, astype, clip. Every dtype
// rule (promotion, Python numbers' weak types, the compute dtype) is the eager kernels'
// (runtime/KernelsElementwise.cpp); a node whose result dtype the pass would compute
// differently from its inferred one, f16/bf16 values, and Python ints that eager code
// range-checks against a narrow integer dtype are left alone.
//
// Run it on a graph before the interpreter first runs it (the interpreter caches its code
// per graph). It edits the graph and the graphs nested in it.
#pragma once
#include "codegen/KernelGen.h"
#include "ir/IR.h"

namespace msl::codegen {

struct FusionOptions {
  KernelOptions kernel;
  int minOps = 2;  // chains shorter than this stay as they are
};

struct FusionStats {
  int kernels = 0;   // __fused nodes made
  int fusedOps = 0;  // primitive applications they replaced
};

FusionStats fuseElementwise(ir::Module& m, ir::Graph* g, const FusionOptions& opt = {});

// The spec of the kernel of a __fused node's chain, as made by the last fuseElementwise
// call (for tests and --emit): empty when `kernelId` is unknown.
const FusedSpec* fusedSpecOf(int kernelId);

}  // namespace msl::codegen
