// What elementwise fusion (codegen/Fusion.h) replaced, so that the transforms see the
// original chain.
//
// Graph mode fuses a specialised graph in place before it first runs. The same graph can
// later be differentiated, pushed forward or batched (f(x), then grad(f)(x)), and the
// transforms have rules for primitives, not for `__fused` kernels. So fusion records each
// chain it replaces, and J, JVP and vmap call unfuse() on a graph before transforming it:
// the chain's nodes go back in the kernel's place. The interpreter keeps running the code
// it built from the fused graph (its Code does not change).
#pragma once
#include <cstdint>
#include <vector>

#include "ir/IR.h"

namespace msl::ir {

struct FusedChain {
  Node* fused = nullptr;        // the __fused node that replaced the chain
  Node* root = nullptr;         // the chain's value (its last node)
  std::vector<Node*> members;   // the chain's nodes in program order (root last)
  int64_t kernelId = -1;        // the fused node's kernel (ids are never reused)
  // A kernel with several outputs (values of the chain used after it) gives a tuple;
  // `outputs` pairs each tuple_getitem node placed after the fused node with the member
  // whose value it stands for (empty for one output: the fused node is the root's value).
  std::vector<std::pair<Node*, Node*>> outputs;
};

// Records that `c.fused` replaced the chain in graph `g`. Records are kept by graph
// address; a record whose graph has gone is never applied to a graph allocated at the
// same address, since unfuse() checks the node's kernel id (never reused).
void recordFused(Graph* g, FusedChain c);
// Puts back every chain fused in `g` and the graphs nested in it (graphs of module m).
// Cheap when nothing was fused.
void unfuse(Module& m, Graph* g);

}  // namespace msl::ir
