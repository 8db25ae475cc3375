#include "autodiff/GraphOrder.h"

#include <unordered_set>

#include "autodiff/J.h"

namespace msl::autodiff {

using ir::Graph;
using ir::Node;

bool primCall(const Node* n, Prim* p) {
  if (!n->isApply()) return false;
  const Node* callee = n->inputs[0];
  while (callee->isPrimApply(Prim::Depend)) callee = callee->inputs[1];
  if (!callee->isConst() || callee->ckind != ir::ConstKind::Prim) return false;
  *p = callee->prim;
  return true;
}

std::vector<Node*> transformOrder(Graph* g, const std::function<bool(const Graph*)>& nested, bool allNodes) {
  std::vector<Node*> order;
  std::unordered_set<const Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack;
  auto deps = [&](Node* n) {
    std::vector<Node*> d;
    for (Node* in : n->inputs) {
      if (in->isGraphConst() && nested(in->g)) {
        // (its defaults are evaluated where the closure is made, like captured values)
        for (Node* fv : in->g->freeVars)
          if (fv->graph == g) d.push_back(fv);
        for (Node* dv : in->g->defaults)
          if (dv && !dv->isConst() && dv->graph == g) d.push_back(dv);
      } else if (!in->isConst() && in->graph == g) {
        d.push_back(in);
      }
    }
    return d;
  };
  auto visit = [&](Node* root) {
    if (root->isConst() || root->graph != g || !seen.insert(root).second) return;
    stack.push_back({root, 0});
    while (!stack.empty()) {
      auto& [n, i] = stack.back();
      std::vector<Node*> d = n->isApply() ? deps(n) : std::vector<Node*>{};
      if (i < d.size()) {
        Node* next = d[i++];
        if (seen.insert(next).second) stack.push_back({next, 0});
        continue;
      }
      if (n->isApply()) order.push_back(n);
      stack.pop_back();
    }
  };
  if (g->output->isGraphConst() && nested(g->output->g)) {
    for (Node* fv : g->output->g->freeVars) visit(fv);
    for (Node* dv : g->output->g->defaults)
      if (dv) visit(dv);
  }
  visit(g->output);
  if (allNodes)
    for (Node* n : g->nodes) visit(n);
  return order;
}

std::string functionOf(const ir::Graph* g) {
  for (; g; g = g->parent) {
    if (g->isFunction) return g->name;
    if (isJGraph(g))
      if (const ir::Graph* s = jSource(g)) return functionOf(s);
    if (g->jvpSource) return functionOf(g->jvpSource);
  }
  return "<module>";
}

}  // namespace msl::autodiff
