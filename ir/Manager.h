// Keeps the derived relations of a Module's graphs: users of each node, free variables
// and children of each graph. Passes edit through the Manager (replace, setInput) so the
// relations stay current without rescanning the module.
#pragma once
#include <unordered_map>
#include <vector>

#include "ir/IR.h"

namespace msl::ir {

// True when `inner` is `outer` or nested (lexically) inside it.
bool isWithin(const Graph* inner, const Graph* outer);

// Computes Graph::freeVars for every graph of `m` (a fixpoint: a graph's free variables
// include those of the graphs it references that it does not own itself, and the
// non-constant defaults of those graphs).
void computeFreeVars(Module& m);
// The same for `graphs` only (graphs they reference keep their free-variable lists).
void computeFreeVars(const std::vector<Graph*>& graphs);

// The graphs referenced by graph constants among g's nodes' inputs (and g's output).
std::vector<Graph*> referencedGraphs(const Graph* g);

// Redirects the reads of `from` that belong to the graphs themselves (their outputs,
// free-variable lists and parameter defaults) to `to`, in `graphs`; the nodes' inputs are
// the caller's to redirect (codegen's FoldBranches and Fusion keep their own users).
void redirectGraphReads(const std::vector<Graph*>& graphs, Node* from, Node* to);

class Manager {
 public:
  explicit Manager(Module& m);
  Module& module() { return m_; }
  // Users of `n`: (user node, input index).
  const std::vector<std::pair<Node*, size_t>>& users(Node* n);
  // Redirects every use of `from` to `to` (outputs included); free variables recomputed.
  void replace(Node* from, Node* to);
  void setInput(Node* user, size_t index, Node* value);
  // Recomputes everything (after bulk construction).
  void rebuild();

 private:
  Module& m_;
  std::unordered_map<Node*, std::vector<std::pair<Node*, size_t>>> users_;
};

}  // namespace msl::ir
