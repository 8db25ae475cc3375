// Abstracts of nodes that carry none in Node::abs: literals (what inference, ir/Infer,
// gives a constant that holds its value), and the types of J graphs' values.
#pragma once
#include "ir/Abstract.h"
#include "ir/IR.h"

namespace msl::ir {

// None, bool, int, float, str, dtype and primitive constants: their abstract (with the
// value); nullptr for other nodes.
const Abstract* literalAbstract(const Node* n);

// The types of the values of J graphs (autodiff/J.h), noted by J and its cleaner for
// graph mode's passes, which put them in Node::abs while they run (codegen/GraphPasses:
// fusion of differentiated graphs, docs/fusion.md). They stay out of Node::abs
// otherwise: vmap and jvp of a J graph, and the cleaner's rewrites, read Node::abs as
// facts about values they may see batched or of another dtype (a backward value is
// typed by the cotangent convention). Kept by node address for the process (an entry
// of a node that is gone can only reach a J graph's node at the same address, whose
// fused kernels check their inputs). nullptr: none (setJType with nullptr: forget).
void setJType(const Node* n, const Abstract* a);
const Abstract* jTypeOf(const Node* n);

}  // namespace msl::ir
