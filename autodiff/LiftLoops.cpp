// Lifting of the free variables of loop bodies before J: the plan (see autodiff/Lift.h).
#include <algorithm>

#include "autodiff/Lift.h"
#include "ir/Manager.h"

namespace msl::autodiff {

using ir::Graph;
using ir::Node;
using ir::ParamKind;

namespace {

// The most values a body may capture and still be lifted: __scan_bwd's `wanted` has bits
// 0-2 for (body, iterable, init) and one per lifted value, and the runtime's masks of an
// iteration's bprop result one more (the item), in 64 bits.
constexpr size_t kMaxLifted = 56;

// Whether body, and every graph nested in it that its nodes reach, refers to no graph
// nested in root other than those inside body.
bool selfContained(const Graph* body, const Graph* root) {
  std::vector<const Graph*> work{body};
  std::unordered_set<const Graph*> seen{body};
  while (!work.empty()) {
    const Graph* g = work.back();
    work.pop_back();
    auto check = [&](const Node* x) {
      if (!x || !x->isGraphConst()) return true;
      if (ir::isWithin(x->g, body)) {
        if (seen.insert(x->g).second) work.push_back(x->g);
        return true;
      }
      return !ir::isWithin(x->g, root);  // a module-level function is fine
    };
    for (const Node* n : g->nodes)
      for (const Node* in : n->inputs)
        if (!check(in)) return false;
    if (!check(g->output)) return false;
    for (const Node* d : g->defaults)
      if (!check(d)) return false;
  }
  return true;
}

}  // namespace

void planLoopLifting(Graph* root, LiftPlan& plan) {
  auto nested = [&](const Graph* g) { return g && g != root && ir::isWithin(g, root); };
  // root and the graphs nested in it that its nodes reach, and the references to each
  // nested graph (the loop node and the position, or nullptr for any other use).
  std::vector<Graph*> scope{root};
  std::unordered_set<const Graph*> inScope{root};
  std::unordered_map<const Graph*, std::vector<std::pair<const Node*, size_t>>> refs;
  auto visit = [&](const Node* user, const Node* c, size_t pos) {
    if (!c || !c->isGraphConst() || !nested(c->g)) return;
    refs[c->g].push_back({user, pos});
    if (inScope.insert(c->g).second) scope.push_back(c->g);
  };
  for (size_t k = 0; k < scope.size(); ++k) {
    Graph* g = scope[k];
    for (const Node* n : g->nodes)
      for (size_t i = 0; i < n->inputs.size(); ++i) visit(n, n->inputs[i], i);
    visit(nullptr, g->output, 0);
    for (const Node* d : g->defaults) visit(nullptr, d, 0);
  }
  auto positional = [](const Graph* g) {
    return std::all_of(g->paramKinds.begin(), g->paramKinds.end(), [](ParamKind k) { return k == ParamKind::Positional; }) &&
           std::none_of(g->defaults.begin(), g->defaults.end(), [](const Node* d) { return d != nullptr; });
  };
  for (Graph* g : scope) {
    for (Node* n : g->nodes) {
      // scan(body, iterable, init), while_loop(cond, body, init)
      size_t pos;
      if (n->isPrimApply(Prim::Scan)) pos = 1;
      else if (n->isPrimApply(Prim::WhileLoop)) pos = 2;
      else continue;
      if (n->inputs.size() != 4 || !n->kwnames.empty()) continue;
      const Node* c = n->inputs[pos];
      if (!c->isGraphConst() || !nested(c->g)) continue;
      Graph* body = c->g;
      if (body->freeVars.empty() || body->freeVars.size() > kMaxLifted || body->madeByJ || !positional(body)) continue;
      const auto& r = refs[body];
      if (!std::all_of(r.begin(), r.end(), [&](const auto& u) { return u.first == n && u.second == pos; })) continue;
      if (!selfContained(body, root)) continue;
      auto& list = plan.loops[n] = body->freeVars;
      plan.graphs[body] = &list;
    }
  }
}

}  // namespace msl::autodiff
