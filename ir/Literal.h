// Abstracts of nodes that carry none in Node::abs. The abstract value of a literal: what
// inference (ir/Infer) gives a constant node that holds its value; passes that read
// abstracts of graphs whose constants carry none (the graphs autodiff builds:
// autodiff/Clean, codegen/Fusion) use it. And abstracts put on nodes while one pass runs.
#pragma once
#include <vector>

#include "ir/Abstract.h"
#include "ir/IR.h"

namespace msl::ir {

// None, bool, int, float, str, dtype and primitive constants: their abstract (with the
// value); nullptr for other nodes.
const Abstract* literalAbstract(const Node* n);

// Abstracts in Node::abs while a pass runs, taken off when this goes: a J graph's types
// (Node::jtype) for graph mode's passes and the cleaner's propagation, the captured
// values' types on a graph's free variables while vmap batches it. A node that has an
// abstract keeps it; `a` null: nothing.
class TemporaryAbstracts {
 public:
  TemporaryAbstracts() = default;
  TemporaryAbstracts(const TemporaryAbstracts&) = delete;
  TemporaryAbstracts& operator=(const TemporaryAbstracts&) = delete;
  ~TemporaryAbstracts() {
    for (Node* n : nodes_) n->abs = nullptr;
  }
  void set(Node* n, const Abstract* a) {
    if (n->abs || !a) return;
    n->abs = a;
    nodes_.push_back(n);
  }

 private:
  std::vector<Node*> nodes_;
};

}  // namespace msl::ir
