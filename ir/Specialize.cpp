#include "ir/Specialize.h"

#include "ir/Manager.h"

namespace msl::ir {

Specializer::Specializer(InferHooks hooks, int maxPerFunction)
    : hooks_(std::move(hooks)), maxPerFunction_(maxPerFunction) {}

const Graph* Specializer::original(const Graph* g) const {
  auto it = original_.find(g);
  return it == original_.end() ? g : it->second;
}

SpecKey Specializer::keyOf(const Graph* g, const std::vector<const Abstract*>& args,
                           const std::vector<const Abstract*>& captured) const {
  auto toOriginal = [this](const Graph* x) { return original(x); };
  auto canonical = [&](const Abstract* a) { return mapGraphs(dynamicScalars(a), toOriginal); };
  SpecKey key;
  key.graph = original(g);
  for (const Abstract* a : args) key.args.push_back(canonical(a));
  for (const Abstract* a : captured) key.captured.push_back(canonical(a));
  key.captured.resize(key.graph->freeVars.size(), Abstract::any());
  return key;
}

Graph* Specializer::get(const Graph* g, const std::vector<const Abstract*>& args,
                        const std::vector<const Abstract*>& captured) {
  SpecKey key = keyOf(g, args, captured);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second->graph;
  int& n = counts_[key.graph];
  if (n >= maxPerFunction_)
    raise(DiagId::TooManySpecialisations, SourceLoc{},
          {key.graph->qualname, std::to_string(n + 1), std::to_string(maxPerFunction_)});
  Inferencer inf(hooks_);
  InferContext* root = inf.infer(key.graph, key.args, key.captured);
  Specialisation* spec = build(inf, root, key);
  ++n;
  cache_.emplace(std::move(key), spec);
  return spec->graph;
}

const Specialisation* Specializer::info(const Graph* clone) const {
  auto it = owner_.find(clone);
  return it == owner_.end() ? nullptr : it->second;
}

int Specializer::count(const Graph* g) const {
  auto it = counts_.find(g);
  return it == counts_.end() ? 0 : it->second;
}

void Specializer::clear() {
  cache_.clear();
  counts_.clear();
}

Specialisation* Specializer::build(Inferencer& inf, InferContext* root, const SpecKey& key) {
  const Graph* origin = key.graph;
  Module* m = origin->module;

  // The function and the graphs nested in it (not clones made earlier).
  std::vector<const Graph*> family;
  for (const auto& gp : m->graphs())
    if (!original_.count(gp.get()) && isWithin(gp.get(), origin)) family.push_back(gp.get());

  std::unordered_map<const Graph*, Graph*> gmap;
  for (const Graph* x : family) {
    Graph* y = m->newGraph(x->name, nullptr, x->loc);
    y->qualname = x->qualname;
    y->isFunction = x->isFunction;
    y->isMethod = x->isMethod;
    gmap[x] = y;
  }
  for (const Graph* x : family) gmap[x]->parent = x == origin ? x->parent : gmap.at(x->parent);

  std::unordered_map<const Node*, Node*> nmap;
  for (const Graph* x : family) {
    Graph* y = gmap[x];
    for (const Node* p : x->params) nmap[p] = m->newParam(y, p->name, p->loc);
    y->paramKinds = x->paramKinds;
    for (const Node* n : x->nodes) {
      Node* c = m->newApply(y, {}, n->loc);
      c->name = n->name;
      c->kwnames = n->kwnames;
      nmap[n] = c;
    }
  }
  auto mapNode = [&](Node* n) -> Node* {
    if (!n) return nullptr;
    auto found = nmap.find(n);
    if (found != nmap.end()) return found->second;
    if (!n->isConst()) return n;  // a node of a graph enclosing the function
    Node* c = m->newConst(n->ckind, n->loc);
    c->name = n->name;
    c->b = n->b;
    c->i = n->i;
    c->f = n->f;
    c->s = n->s;
    c->dtype = n->dtype;
    c->prim = n->prim;
    auto cg = gmap.find(n->g);
    c->g = cg != gmap.end() ? cg->second : n->g;
    c->global = n->global;
    c->cls = n->cls;
    c->module = n->module;
    nmap[n] = c;
    return c;
  };
  for (const Graph* x : family) {
    Graph* y = gmap[x];
    for (Node* n : x->nodes) {
      Node* c = nmap[n];
      for (Node* in : n->inputs) c->inputs.push_back(mapNode(in));
    }
    y->output = mapNode(x->output);
    for (size_t k = 0; k < x->defaults.size(); ++k) y->defaults[k] = mapNode(x->defaults[k]);
    for (Node* fv : x->freeVars) y->freeVars.push_back(mapNode(fv));
  }

  // Abstract values: the root context for the function's own nodes, the join of the
  // reached contexts for nested graphs.
  auto toClone = [&](const Graph* x) -> const Graph* {
    auto found = gmap.find(x);
    return found != gmap.end() ? found->second : x;
  };
  std::vector<InferContext*> reached =
      inf.reachable(root, [&](const Graph* x) { return x != origin && gmap.count(x); });
  std::unordered_map<const Node*, const Abstract*> absOf;
  for (InferContext* c : reached)
    for (const auto& [node, v] : c->values) {
      auto [slot, fresh] = absOf.emplace(node, v);
      if (!fresh) slot->second = join(slot->second, v);
    }
  for (const auto& [orig, clone] : nmap) {
    auto found = absOf.find(orig);
    clone->abs = found != absOf.end() ? mapGraphs(found->second, toClone) : Abstract::any();
  }

  auto spec = std::make_unique<Specialisation>();
  spec->key = key;
  spec->graph = gmap.at(origin);
  spec->result = mapGraphs(root->result, toClone);
  for (InferContext* c : reached)
    for (const auto& [node, d] : c->errors) {
      auto found = nmap.find(node);
      if (found == nmap.end()) continue;
      if (spec->errorAt.emplace(found->second, d).second) spec->errors.push_back(d);
    }
  for (const auto& [x, y] : gmap) {
    original_[y] = x;
    owner_[y] = spec.get();
  }
  specs_.push_back(std::move(spec));
  return specs_.back().get();
}

}  // namespace msl::ir
