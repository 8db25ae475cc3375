#include "ir/Fused.h"

#include <algorithm>
#include <unordered_map>

#include "ir/Manager.h"

namespace msl::ir {

namespace {
// Per graph, its fused chains in the order they were made.
std::unordered_map<const Graph*, std::vector<FusedChain>>& records() {
  static std::unordered_map<const Graph*, std::vector<FusedChain>> r;
  return r;
}
}  // namespace

void recordFused(Graph* g, FusedChain c) { records()[g].push_back(std::move(c)); }

void unfuse(Module& m, Graph* g) {
  auto& recs = records();
  if (recs.empty()) return;
  std::unordered_map<Node*, Node*> back;  // fused node -> the chain's root
  for (auto& gp : m.graphs()) {
    Graph* G = gp.get();
    auto it = recs.find(G);
    if (it == recs.end() || !isWithin(G, g)) continue;
    // Latest chain first: a later chain may have consumed an earlier kernel's value.
    for (auto c = it->second.rbegin(); c != it->second.rend(); ++c) {
      auto pos = std::find(G->nodes.begin(), G->nodes.end(), c->fused);
      if (pos == G->nodes.end() || !(*pos)->isPrimApply(Prim::Fused) || (*pos)->inputs.size() < 2 ||
          (*pos)->inputs[1]->i != c->kernelId)
        continue;
      size_t at = (size_t)(pos - G->nodes.begin());
      G->nodes.erase(pos);
      // (the tuple_getitem nodes of a kernel with several outputs follow it)
      for (const auto& [item, member] : c->outputs) {
        auto it2 = std::find(G->nodes.begin() + (long)at, G->nodes.end(), item);
        if (it2 != G->nodes.end()) G->nodes.erase(it2);
        back[item] = member;
      }
      G->nodes.insert(G->nodes.begin() + (long)at, c->members.begin(), c->members.end());
      back[c->fused] = c->root;
    }
    recs.erase(it);
  }
  if (back.empty()) return;
  auto fix = [&](Node*& n) {
    auto b = back.find(n);
    if (b != back.end()) n = b->second;
  };
  for (auto& gp : m.graphs()) {
    for (Node* n : gp->nodes)
      for (Node*& in : n->inputs) fix(in);
    if (gp->output) fix(gp->output);
    for (Node*& d : gp->defaults)
      if (d) fix(d);
  }
  // The free variables as they were, in their order: closures of these graphs made
  // from the fused code captured their values in it, and a transform of such a closure
  // (vmap of a bprop made in graph mode) pairs its captured values with freeVars by
  // position. The chain reads what its kernel read, so only the order could change.
  std::unordered_map<const Graph*, std::vector<Node*>> before;
  for (auto& gp : m.graphs()) before[gp.get()] = gp->freeVars;
  computeFreeVars(m);
  for (auto& gp : m.graphs()) {
    const std::vector<Node*>& old = before[gp.get()];
    std::vector<Node*>& now = gp->freeVars;
    if (old == now) continue;
    std::vector<Node*> kept;
    for (Node* fv : old)
      if (std::find(now.begin(), now.end(), fv) != now.end()) kept.push_back(fv);
    for (Node* fv : now)
      if (std::find(kept.begin(), kept.end(), fv) == kept.end()) kept.push_back(fv);
    now = std::move(kept);
  }
}

}  // namespace msl::ir
