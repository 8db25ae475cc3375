// Lifting of free variables before J: the plan (see autodiff/Lift.h).
#include "autodiff/Lift.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "ir/Manager.h"

namespace msl::autodiff {

using ir::Graph;
using ir::Node;
using ir::ParamKind;

LiftPlan planLifting(Graph* root) {
  LiftPlan plan;
  if (const char* e = std::getenv("MSL_NO_LIFT"); e && std::strcmp(e, "1") == 0) return plan;
  auto nested = [&](const Graph* g) { return g && g != root && ir::isWithin(g, root); };
  // root and the graphs nested in it that its nodes reach.
  std::vector<Graph*> scope{root};
  std::unordered_set<const Graph*> inScope{root};
  auto visit = [&](const Node* c) {
    if (c && c->isGraphConst() && nested(c->g) && inScope.insert(c->g).second) scope.push_back(c->g);
  };
  for (size_t k = 0; k < scope.size(); ++k) {
    for (const Node* n : scope[k]->nodes)
      for (const Node* in : n->inputs) visit(in);
    visit(scope[k]->output);
    for (const Node* d : scope[k]->defaults) visit(d);
  }
  // Who uses each switch node and each nested graph constant's graph.
  std::unordered_map<const Node*, bool> onlyCalled;  // switch node -> every use is as a callee
  std::unordered_map<const Graph*, std::vector<const Node*>> refs;  // graph -> nodes referring to it
  auto other = [&](const Node* x) {  // a use that is not a call's callee, nor a switch's branch
    if (x && x->isGraphConst()) refs[x->g].push_back(nullptr);
    if (x && x->isPrimApply(Prim::Switch)) onlyCalled[x] = false;
  };
  for (Graph* g : scope) {
    for (const Node* n : g->nodes) {
      bool sw = n->isPrimApply(Prim::Switch);
      for (size_t k = 0; k < n->inputs.size(); ++k) {
        const Node* x = n->inputs[k];
        if (x->isGraphConst()) refs[x->g].push_back(sw && (k == 2 || k == 3) && n->kwnames.empty() ? n : nullptr);
        if (x->isPrimApply(Prim::Switch)) {
          bool callee = k == 0 && n->isApply();
          auto it = onlyCalled.emplace(x, callee).first;
          it->second = it->second && callee;
        }
      }
    }
    other(g->output);
    for (const Node* d : g->defaults) other(d);
  }
  auto positional = [](const Graph* g) {
    return std::all_of(g->paramKinds.begin(), g->paramKinds.end(), [](ParamKind k) { return k == ParamKind::Positional; }) &&
           std::none_of(g->defaults.begin(), g->defaults.end(), [](const Node* d) { return d != nullptr; });
  };
  for (Graph* g : scope) {
    for (const Node* n : g->nodes) {
      if (!n->isPrimApply(Prim::Switch) || n->inputs.size() != 4 || !n->kwnames.empty()) continue;
      auto oc = onlyCalled.find(n);
      if (oc == onlyCalled.end() || !oc->second) continue;
      const Node* a = n->inputs[2];
      const Node* b = n->inputs[3];
      if (!a->isGraphConst() || !b->isGraphConst() || a->g == b->g || !nested(a->g) || !nested(b->g)) continue;
      if (a->g->freeVars.empty() && b->g->freeVars.empty()) continue;
      if (!positional(a->g) || !positional(b->g) || a->g->madeByJ || b->g->madeByJ) continue;
      auto onlyHere = [&](const Graph* h) {
        const auto& r = refs[h];
        return std::all_of(r.begin(), r.end(), [&](const Node* u) { return u == n; });
      };
      if (!onlyHere(a->g) || !onlyHere(b->g)) continue;
      std::vector<Node*> fvs = a->g->freeVars;
      for (Node* v : b->g->freeVars)
        if (std::find(fvs.begin(), fvs.end(), v) == fvs.end()) fvs.push_back(v);
      auto& list = plan.switches[n] = std::move(fvs);
      plan.graphs[a->g] = &list;
      plan.graphs[b->g] = &list;
    }
  }
  planLoopLifting(root, plan);
  planFunctionLifting(root, scope, plan);
  return plan;
}

}  // namespace msl::autodiff
