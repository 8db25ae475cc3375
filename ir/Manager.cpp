#include "ir/Manager.h"

#include <algorithm>
#include <unordered_set>

namespace msl::ir {

bool isWithin(const Graph* inner, const Graph* outer) {
  for (const Graph* g = inner; g; g = g->parent)
    if (g == outer) return true;
  return false;
}

std::vector<Graph*> referencedGraphs(const Graph* g) {
  std::vector<Graph*> out;
  auto visit = [&](Node* in) {
    if (in->isGraphConst() && std::find(out.begin(), out.end(), in->g) == out.end()) out.push_back(in->g);
  };
  for (Node* n : g->nodes)
    for (Node* in : n->inputs) visit(in);
  if (g->output) visit(g->output);
  return out;
}

void computeFreeVars(Module& m) {
  std::vector<Graph*> all;
  for (auto& gp : m.graphs()) all.push_back(gp.get());
  computeFreeVars(all);
}

void computeFreeVars(const std::vector<Graph*>& graphs) {
  // Direct free variables: inputs owned by a graph that does not contain g.
  std::unordered_map<Graph*, std::vector<Graph*>> refs;
  for (Graph* g : graphs) {
    g->freeVars.clear();
    auto add = [&](Node* in) {
      if (in->isConst() || isWithin(in->graph, g)) return;
      if (std::find(g->freeVars.begin(), g->freeVars.end(), in) == g->freeVars.end()) g->freeVars.push_back(in);
    };
    for (Node* n : g->nodes)
      for (Node* in : n->inputs) add(in);
    if (g->output) add(g->output);
    refs[g] = referencedGraphs(g);
    // Defaults of referenced graphs are evaluated where the closure is created (a function
    // as a default: its closure too, so its free variables are g's).
    for (size_t k = 0; k < refs[g].size(); ++k)
      for (Node* d : refs[g][k]->defaults) {
        if (!d) continue;
        add(d);
        if (d->isGraphConst() && std::find(refs[g].begin(), refs[g].end(), d->g) == refs[g].end()) refs[g].push_back(d->g);
      }
  }
  // Propagate: free variables of referenced graphs not owned by g (fixpoint).
  bool changed = true;
  while (changed) {
    changed = false;
    for (Graph* g : graphs) {
      for (Graph* c : refs[g]) {
        for (size_t k = 0; k < c->freeVars.size(); ++k) {
          Node* fv = c->freeVars[k];
          if (isWithin(fv->graph, g)) continue;
          if (std::find(g->freeVars.begin(), g->freeVars.end(), fv) == g->freeVars.end()) {
            g->freeVars.push_back(fv);
            changed = true;
          }
        }
      }
    }
  }
}

Manager::Manager(Module& m) : m_(m) { rebuild(); }

void Manager::rebuild() {
  users_.clear();
  for (auto& gp : m_.graphs())
    for (Node* n : gp->nodes)
      for (size_t i = 0; i < n->inputs.size(); ++i) users_[n->inputs[i]].push_back({n, i});
  computeFreeVars(m_);
}

const std::vector<std::pair<Node*, size_t>>& Manager::users(Node* n) { return users_[n]; }

void Manager::setInput(Node* user, size_t index, Node* value) {
  Node* old = user->inputs[index];
  auto& u = users_[old];
  u.erase(std::remove(u.begin(), u.end(), std::make_pair(user, index)), u.end());
  user->inputs[index] = value;
  users_[value].push_back({user, index});
}

void redirectGraphReads(const std::vector<Graph*>& graphs, Node* from, Node* to) {
  for (Graph* h : graphs) {
    if (h->output == from) h->output = to;
    for (Node*& fv : h->freeVars)
      if (fv == from) fv = to;
    for (Node*& d : h->defaults)
      if (d == from) d = to;
  }
}

void Manager::replace(Node* from, Node* to) {
  auto us = users_[from];
  for (auto& [user, idx] : us) setInput(user, idx, to);
  for (auto& gp : m_.graphs())
    if (gp->output == from) gp->output = to;
  computeFreeVars(m_);
}

}  // namespace msl::ir
