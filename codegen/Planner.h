// Buffer planning for graph mode (DESIGN.md section 5): which fused kernel may write its
// output into the buffer of one of its inputs.
//
// Over a specialised graph whose elementwise chains are `__fused` nodes (codegen/Fusion.h),
// a liveness analysis decides, for each output of each fused node, an input whose buffer
// the output may overwrite. An input qualifies when
//   - it is a tensor of the output's dtype and of the same shape (rank and every dimension
//     equal, symbols included: the same element count, never broadcast);
//   - this node is its last use: no later node of the graph reads it, it is not the
//     graph's output, no closure captures it and no graph takes it as a default;
//   - nothing that may share its buffer is used later: values it was made from by views
//     and projections (reshape, transpose, indexing, tuple items, ...) and the other
//     views of those, and none of them is another input of the node;
//   - it is a node of this graph (not a captured value, not a constant), and a parameter
//     only when donated (PlanOptions).
// One input per output, one output per input. Which parameter a caller gives up is known
// only at run time, so the plan may offer variants in order of preference (for one
// output, its first PlanOptions::maxVariants candidates; for several, one pairing): the input nearest the output
// in the chain first (`p - lr * g` prefers p), as Fusion's distances say. At run time the
// kernel takes the first variant whose buffers are all referenced once (values are
// reference-counted, and the interpreter moves a value out at its last use), contiguous
// and of the expected shape, else it allocates (runtime/FusedKernel.h). So the plan is a
// promise that overwriting is never observable, and the run-time check keeps it true
// when the static picture is incomplete (a caller that still holds an argument, a value
// kept in a container).
//
// No LLVM here: the planner reads the IR only (tests/unit/test_planner.cpp).
#pragma once
#include <unordered_map>
#include <vector>

#include "ir/IR.h"

namespace msl::codegen {

struct PlanOptions {
  // Per parameter index: its caller gives the value up (jit's donate_argnums).
  std::vector<bool> donated;
  // Every parameter counts as donated. Graph mode's choice: a call moves each argument
  // at the caller's last use of it, so a parameter is uniquely owned exactly when the
  // caller has given it up, and eager kernels write into such parameters already
  // (runtime/Arith.cpp); the run-time check sees the rest.
  bool donateAllParams = false;
  // Per fused node, per output, per input: how many operations lie between the input and
  // the output in the chain (absent, or INT_MAX: no path); candidates nearer come first.
  std::unordered_map<const ir::Node*, std::vector<std::vector<int>>> distance;
  // Variants offered for a kernel with one output (its nearest candidates). Each is one
  // more vectorised loop in the kernel, so one by default: kernel compile time.
  int maxVariants = 1;
};

struct FusedReuse {
  ir::Node* fused = nullptr;  // a __fused node of the graph
  // Per output of the node (one, or the items of its tuple): the input whose buffer the
  // output may take, counted from 0 = the node's first argument after the kernel id;
  // -1: none (a new buffer). The first variant (all -1 when there is none).
  std::vector<int> alias;
  // Every variant, in order of preference; each one such vector.
  std::vector<std::vector<int>> variants;
};

// The decisions for the __fused nodes of g (the graphs nested in g are planned alone).
std::vector<FusedReuse> planBuffers(const ir::Graph* g, const PlanOptions& opt = {});

}  // namespace msl::codegen
