// Lifting of the free variables of local functions and lambdas before J: the plan (see
// autodiff/Lift.h; J.cpp follows it).
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "autodiff/GraphOrder.h"
#include "autodiff/J.h"
#include "autodiff/Lift.h"
#include "ir/Manager.h"

namespace msl::autodiff {

using ir::Graph;
using ir::Node;

namespace {

// The graphs whose constants appear in g's nodes, output or defaults.
void referenced(const Graph* g, std::vector<const Graph*>& out) {
  auto visit = [&](const Node* x) {
    if (x && x->isGraphConst()) out.push_back(x->g);
  };
  for (const Node* n : g->nodes)
    for (const Node* in : n->inputs) visit(in);
  visit(g->output);
  for (const Node* d : g->defaults) visit(d);
}

// Whether g reaches itself through the graph constants of its body (and of the graphs those
// reach): a recursive function, or one of mutually recursive ones.
bool recursive(const Graph* g) {
  std::unordered_set<const Graph*> seen;
  std::vector<const Graph*> work;
  referenced(g, work);
  while (!work.empty()) {
    const Graph* h = work.back();
    work.pop_back();
    if (h == g) return true;
    if (!seen.insert(h).second) continue;
    referenced(h, work);
  }
  return false;
}

}  // namespace

void planFunctionLifting(Graph* root, const std::vector<Graph*>& scope, LiftPlan& plan) {
  auto nested = [&](const Graph* g) { return g && g != root && ir::isWithin(g, root); };
  // Candidates: defs and lambdas nested in root, with free variables or computed defaults,
  // not branches.
  std::unordered_set<const Graph*> bad;
  std::unordered_set<Graph*> candidates;
  auto consider = [&](const Node* x) {
    if (!x || !x->isGraphConst() || !nested(x->g)) return;
    Graph* g = x->g;
    if (!g->isFunction || g->madeByJ || plan.lifted(g)) return;
    bool computedDefault = false;  // (direct calls then bind it: J hands its cotangent on)
    for (size_t i = 0; i < g->params.size(); ++i) computedDefault = computedDefault || !defaultCtKey(g, i).empty();
    if (g->freeVars.empty() && !computedDefault) return;
    candidates.insert(g);
  };
  for (Graph* g : scope) {
    for (const Node* n : g->nodes) {
      for (const Node* in : n->inputs) consider(in);
      // Uses J and the runtime hand the partial's cotangent back from: a call (as the
      // callee, often through depend(g, state), or an argument of a function value),
      // tree_map, a partial, a container, a switch. Any other primitive keeps the dict: a
      // loop runs its body as a closure of the expansion; vmap, jvp and grad inside the
      // function differentiate the primal closure (Interpreter::jPrimal).
      Prim p;
      if (!primCall(n, &p)) continue;  // (through depend(prim, state))
      bool fine = p == Prim::Depend || p == Prim::TreeMap || p == Prim::Partial || p == Prim::MakeTuple ||
                  p == Prim::MakeList || p == Prim::Switch || p == Prim::MethodCall;
      // (vmap(f) is partial(vmap_call, f, ...): a partial of a primitive is the primitive's use)
      if (p == Prim::Partial && n->inputs.size() > 1 && n->inputs[1]->isConst() &&
          n->inputs[1]->ckind == ir::ConstKind::Prim)
        fine = false;
      if (!fine)
        for (const Node* in : n->inputs)
          if (in->isGraphConst()) bad.insert(in->g);
    }
    consider(g->output);
    for (const Node* d : g->defaults)
      if (d && d->isGraphConst()) bad.insert(d->g);  // (defaults are evaluated where the closure is made)
  }
  for (Graph* g : candidates)
    if (!bad.count(g) && recursive(g)) bad.insert(g);
  // Each use of a candidate's constant must come after its free variables of the same graph
  // in the order J transforms that graph (otherwise J could not bind them there).
  for (Graph* g : scope) {
    std::vector<Node*> order = transformOrder(g, [&](const Graph* h) { return h && ir::isWithin(h, root); }, true);
    std::unordered_map<const Node*, size_t> pos;
    for (size_t i = 0; i < order.size(); ++i) pos[order[i]] = i;
    for (size_t i = 0; i < order.size(); ++i) {
      for (const Node* in : order[i]->inputs) {
        if (!in->isGraphConst() || !candidates.count(in->g) || bad.count(in->g)) continue;
        for (const Node* v : in->g->freeVars) {
          if (v->graph != g || !v->isApply()) continue;
          auto at = pos.find(v);
          if (at == pos.end() || at->second >= i) bad.insert(in->g);
        }
      }
    }
  }
  for (Graph* g : candidates) {
    if (bad.count(g)) continue;
    auto& list = plan.functions[g] = g->freeVars;
    plan.graphs[g] = &list;
  }
}

}  // namespace msl::autodiff
