#include "codegen/FoldBranches.h"

#include <algorithm>
#include <vector>

#include "ir/Abstract.h"
#include "ir/IR.h"
#include "ir/Manager.h"

namespace msl::codegen {

using ir::Graph;
using ir::Node;

namespace {

// The value of condition c when the abstracts decide it.
bool knownBool(const Node* c, bool* v) {
  if (c->isConst() && c->ckind == ir::ConstKind::Bool) {
    *v = c->b;
    return true;
  }
  if (!c->abs || !c->abs->is(ir::AKind::Bool) || !c->abs->known) return false;
  *v = c->abs->b;
  return true;
}

struct Folder {
  Graph* g;
  std::vector<Graph*> within;  // g and the graphs nested in it

  // Whether any node of a graph within g reads x other than `except` does (as any input,
  // the output, a free variable or a default).
  bool readElsewhere(const Node* x, const Node* except) const {
    for (const Graph* h : within) {
      if (h->output == x) return true;
      for (const Node* fv : h->freeVars)
        if (fv == x) return true;
      for (const Node* d : h->defaults)
        if (d == x) return true;
      for (const Node* n : h->nodes) {
        if (n == except) continue;
        for (const Node* in : n->inputs)
          if (in == x) return true;
      }
    }
    return false;
  }

  // Whether graph X is referenced by a graph constant anywhere within g but by `sw`.
  bool graphReferenced(const Graph* X, const Node* sw) const {
    auto isX = [&](const Node* in) { return in && in->isGraphConst() && in->g == X; };
    for (const Graph* h : within) {
      if (isX(h->output)) return true;
      for (const Node* d : h->defaults)
        if (isX(d)) return true;
      for (const Node* n : h->nodes) {
        if (n == sw) continue;
        for (const Node* in : n->inputs)
          if (isX(in)) return true;
      }
    }
    return false;
  }

  bool capturedAnywhere(const Node* x) const {
    for (const Graph* h : within)
      for (const Node* fv : h->freeVars)
        if (fv == x) return true;
    return false;
  }

  // Every read of `from` within g reads `to` instead.
  void replaceUses(Node* from, Node* to) {
    for (Graph* h : within) {
      if (h->output == from) h->output = to;
      for (Node*& fv : h->freeVars)
        if (fv == from) fv = to;
      for (Node*& d : h->defaults)
        if (d == from) d = to;
      for (Node* n : h->nodes)
        for (Node*& in : n->inputs)
          if (in == from) in = to;
    }
  }

  // Folds the branch whose switch is node i of g, if it is decided and of the plain form
  // the host code lowers as an `if` (ir/HostPlan.cpp).
  bool foldAt(size_t i) {
    Node* sw = g->nodes[i];
    if (!sw->isPrimApply(Prim::Switch) || sw->inputs.size() != 4 || !sw->kwnames.empty() || i + 1 >= g->nodes.size())
      return false;
    Node* call = g->nodes[i + 1];
    if (call->inputs.size() != 1 || !call->kwnames.empty() || call->inputs[0] != sw) return false;
    bool v;
    if (!knownBool(sw->inputs[1], &v)) return false;
    Node* arm = sw->inputs[v ? 2 : 3];
    if (!arm->isGraphConst()) return false;
    Graph* X = arm->g;
    if (X == g || X->parent != g || X->madeByJ || X->isFunction || !X->params.empty() || !X->output) return false;
    if (X->code) return false;  // (an arm that has run already keeps its code: not moved)
    if (readElsewhere(sw, call) || graphReferenced(X, sw)) return false;
    Node* out = X->output;
    // A free-variable list holds nodes, not constants (the positions of g's own list are
    // what its closures' captured values follow, so lists are only ever edited in place).
    if (out->isConst() && capturedAnywhere(call)) return false;
    // The arm's nodes take the place of the switch and its call, in order.
    for (Node* x : X->nodes) x->graph = g;
    std::vector<Node*> body = std::move(X->nodes);
    X->nodes.clear();
    g->nodes.erase(g->nodes.begin() + (long)i, g->nodes.begin() + (long)i + 2);
    g->nodes.insert(g->nodes.begin() + (long)i, body.begin(), body.end());
    for (Graph* h : within)
      if (h->parent == X) h->parent = g;
    // X is left as an empty graph returning None that nothing refers to, like the arm not
    // taken.
    X->output = g->module->constNone();
    replaceUses(call, out);
    return true;
  }
};

}  // namespace

int foldKnownBranches(Graph* g) {
  if (!g->module || g->madeByJ) return 0;
  Folder f{g, {}};
  bool any = false;
  for (const Node* n : g->nodes)
    if (n->isPrimApply(Prim::Switch)) any = true;
  if (!any) return 0;
  for (const auto& gp : g->module->graphs())
    if (ir::isWithin(gp.get(), g)) f.within.push_back(gp.get());
  int folded = 0;
  // (after a fold, index i holds the arm's first node: it is looked at next)
  for (size_t i = 0; i < g->nodes.size();) {
    if (f.foldAt(i)) {
      ++folded;
      continue;
    }
    ++i;
  }
  return folded;
}

}  // namespace msl::codegen
