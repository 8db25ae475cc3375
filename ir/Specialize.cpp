#include "ir/Specialize.h"

#include <algorithm>

#include "ir/Manager.h"

namespace msl::ir {

namespace {

using A = const Abstract*;

bool sameButDims(A a, A b);

// Item by item (nullptr entries must match).
bool eachSameButDims(const std::vector<A>& a, const std::vector<A>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k)
    if (a[k] != b[k] && !(a[k] && b[k] && sameButDims(a[k], b[k]))) return false;
  return true;
}

// Whether a and b differ at most in the dimensions of tensors: the same kinds, structure,
// dtypes, ranks, and values everywhere else. Then join(a, b) differs from them only there.
bool sameButDims(A a, A b) {
  if (a == b) return true;
  if (a->kind != b->kind) return false;
  switch (a->kind) {
    case AKind::Tensor:
      return a->dtypeKnown == b->dtypeKnown && (!a->dtypeKnown || a->dtype == b->dtype) && a->rankKnown &&
             b->rankKnown && a->rank() == b->rank();
    case AKind::Tuple:
    case AKind::List: return a->homogeneous == b->homogeneous && eachSameButDims(a->elems, b->elems);
    case AKind::Dict:
      return a->homogeneous == b->homogeneous && a->names == b->names && eachSameButDims(a->elems, b->elems);
    case AKind::Record: return a->ref == b->ref && eachSameButDims(a->elems, b->elems);
    case AKind::Function:
      return a->graph == b->graph && eachSameButDims(a->elems, b->elems) && eachSameButDims(a->defaults, b->defaults);
    case AKind::Partial:
      return a->names == b->names && sameButDims(a->ref, b->ref) && eachSameButDims(a->elems, b->elems);
    case AKind::BoundMethod: return sameButDims(a->ref, b->ref) && eachSameButDims(a->elems, b->elems);
    default: return false;  // values (strings, constants, classes...) that differ
  }
}

// Whether a value of abstract c is one of general's: the same but for dimensions, each a
// static dimension of general equal to c's, or a symbol of general (the same symbol
// standing for the same dimension of c everywhere: `bound`).
bool fits(A general, A c, std::unordered_map<uint32_t, Dim>& bound);

bool eachFits(const std::vector<A>& g, const std::vector<A>& c, std::unordered_map<uint32_t, Dim>& bound) {
  if (g.size() != c.size()) return false;
  for (size_t k = 0; k < g.size(); ++k) {
    if (!g[k] || !c[k]) {
      if (g[k] != c[k]) return false;
    } else if (!fits(g[k], c[k], bound)) {
      return false;
    }
  }
  return true;
}

bool fits(A g, A c, std::unordered_map<uint32_t, Dim>& bound) {
  if (g->kind != c->kind) return false;
  switch (g->kind) {
    case AKind::Tensor: {
      if (g->dtypeKnown != c->dtypeKnown || (g->dtypeKnown && g->dtype != c->dtype) || g->rankKnown != c->rankKnown)
        return false;
      if (!g->rankKnown) return g == c;
      if (g->rank() != c->rank()) return false;
      for (size_t k = 0; k < g->shape.size(); ++k) {
        Dim gd = g->shape[k], cd = c->shape[k];
        if (gd.isStatic()) {
          if (gd != cd) return false;
        } else {
          auto [slot, fresh] = bound.emplace(gd.symbolId(), cd);
          if (!fresh && slot->second != cd) return false;
        }
      }
      return true;
    }
    case AKind::Tuple:
    case AKind::List: return g->homogeneous == c->homogeneous && eachFits(g->elems, c->elems, bound);
    case AKind::Dict:
      return g->homogeneous == c->homogeneous && g->names == c->names && eachFits(g->elems, c->elems, bound);
    case AKind::Record: return g->ref == c->ref && eachFits(g->elems, c->elems, bound);
    case AKind::Function:
      return g->graph == c->graph && eachFits(g->elems, c->elems, bound) && eachFits(g->defaults, c->defaults, bound);
    case AKind::Partial:
      return g->names == c->names && fits(g->ref, c->ref, bound) && eachFits(g->elems, c->elems, bound);
    case AKind::BoundMethod: return fits(g->ref, c->ref, bound) && eachFits(g->elems, c->elems, bound);
    default: return g == c;
  }
}

// Whether a has a symbolic dimension somewhere (in the parts sameButDims and fits look at).
bool hasSymbols(A a) {
  if (!a) return false;
  if (a->isTensor()) {
    for (Dim d : a->shape)
      if (d.isSymbol()) return true;
    return false;
  }
  switch (a->kind) {
    case AKind::Tuple: case AKind::List: case AKind::Dict: case AKind::Record: case AKind::Function:
    case AKind::Partial: case AKind::BoundMethod:
      for (A e : a->elems)
        if (hasSymbols(e)) return true;
      for (A e : a->defaults)
        if (hasSymbols(e)) return true;
      return a->kind != AKind::Record && hasSymbols(a->ref);
    default: return false;
  }
}

bool keySameButDims(const SpecKey& a, const SpecKey& b) {
  return a.graph == b.graph && eachSameButDims(a.args, b.args) && eachSameButDims(a.captured, b.captured);
}

bool keyFits(const SpecKey& general, const SpecKey& k) {
  std::unordered_map<uint32_t, Dim> bound;
  return general.graph == k.graph && eachFits(general.args, k.args, bound) && eachFits(general.captured, k.captured, bound);
}

// The join of two keys that differ only in dimensions: fresh symbols where they differ.
SpecKey joinKeys(const SpecKey& a, const SpecKey& b) {
  SymbolSupply syms;
  SpecKey out;
  out.graph = a.graph;
  for (size_t k = 0; k < a.args.size(); ++k) out.args.push_back(join(a.args[k], b.args[k], &syms));
  for (size_t k = 0; k < a.captured.size(); ++k) out.captured.push_back(join(a.captured[k], b.captured[k], &syms));
  return out;
}

bool isStaticArg(uint64_t staticArgs, size_t k) { return k < 64 && ((staticArgs >> k) & 1); }

// The constant node standing for a static argument's value; nullptr when it has none.
Node* foldedConstant(Module& m, A v, SourceLoc loc) {
  if (v->is(AKind::None)) return m.constNone();
  if (!v->known) return nullptr;
  switch (v->kind) {
    case AKind::Bool: return m.constBool(v->b);
    case AKind::Int: return m.constInt(v->i, loc);
    case AKind::Float: return m.constFloat(v->f, loc);
    case AKind::Str: return m.constStr(v->s, loc);
    default: return nullptr;
  }
}

}  // namespace

Specializer::Specializer(InferHooks hooks, int maxPerFunction, bool generalise)
    : hooks_(std::move(hooks)), maxPerFunction_(maxPerFunction), generalise_(generalise) {}

const Graph* Specializer::original(const Graph* g) const {
  auto it = original_.find(g);
  return it == original_.end() ? g : it->second;
}

SpecKey Specializer::keyOf(const Graph* g, const std::vector<const Abstract*>& args,
                           const std::vector<const Abstract*>& captured, uint64_t staticArgs) const {
  auto toOriginal = [this](const Graph* x) { return original(x); };
  auto canonical = [&](const Abstract* a) { return mapGraphs(dynamicScalars(a), toOriginal); };
  SpecKey key;
  key.graph = original(g);
  for (size_t k = 0; k < args.size(); ++k)
    key.args.push_back(isStaticArg(staticArgs, k) ? mapGraphs(args[k], toOriginal) : canonical(args[k]));
  for (const Abstract* a : captured) key.captured.push_back(canonical(a));
  key.captured.resize(key.graph->freeVars.size(), Abstract::any());
  return key;
}

Graph* Specializer::get(const Graph* g, const std::vector<const Abstract*>& args,
                        const std::vector<const Abstract*>& captured, uint64_t staticArgs) {
  SpecKey key = keyOf(g, args, captured, staticArgs);
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    if (current(it->second)) return it->second->graph;
    forget(it->second);
  }
  Specialisation* spec = nullptr;
  auto found = byGraph_.find(key.graph);
  if (found != byGraph_.end()) {
    std::vector<Specialisation*> made = found->second;  // (forget() edits the list)
    for (Specialisation* s : made)
      if (!current(s)) forget(s);
  }
  if (generalise_ && found != byGraph_.end()) {
    const std::vector<Specialisation*>& made = found->second;
    // A generalised specialisation this call fits, the latest (most general) first.
    for (auto r = made.rbegin(); r != made.rend() && !spec; ++r)
      if ((*r)->symbolic && keyFits((*r)->key, key)) spec = *r;
    // Otherwise one that differs only in dimensions: specialise on the join of the two.
    for (auto r = made.rbegin(); r != made.rend() && !spec; ++r) {
      if (!keySameButDims((*r)->key, key)) continue;
      SpecKey general = joinKeys((*r)->key, key);
      auto known = cache_.find(general);
      spec = known != cache_.end() ? known->second : make(general, staticArgs);
      break;  // make() added to `made`
    }
  }
  if (!spec) spec = make(key, staticArgs);
  cache_.emplace(std::move(key), spec);  // later calls with this signature go straight there
  return spec->graph;
}

Specialisation* Specializer::make(const SpecKey& key, uint64_t staticArgs) {
  int n = counts_[key.graph];
  if (n >= maxPerFunction_)
    raise(DiagId::TooManySpecialisations, SourceLoc{},
          {key.graph->qualname, std::to_string(n + 1), std::to_string(maxPerFunction_)});
  // Inference as the hooks say, noting the module-level variables it reads.
  std::vector<Specialisation::GlobalRead> read;
  InferHooks hooks = hooks_;
  if (hooks_.globalValue)
    hooks.globalValue = [&](const GlobalVar* g) {
      const Abstract* v = hooks_.globalValue(g);
      if (std::none_of(read.begin(), read.end(), [&](const auto& r) { return r.var == g; }))
        read.push_back({g, v, hooks_.globalVersion ? hooks_.globalVersion(g) : 0});
      return v;
    };
  Inferencer inf(hooks);
  InferContext* root = inf.infer(key.graph, key.args, key.captured);
  Specialisation* spec = build(inf, root, key, staticArgs);
  spec->globals = std::move(read);
  spec->symbolic = std::any_of(key.args.begin(), key.args.end(), hasSymbols) ||
                   std::any_of(key.captured.begin(), key.captured.end(), hasSymbols);
  ++counts_[key.graph];
  byGraph_[key.graph].push_back(spec);
  cache_.emplace(key, spec);
  return spec;
}

const Specialisation* Specializer::info(const Graph* clone) const {
  auto it = owner_.find(clone);
  return it == owner_.end() ? nullptr : it->second;
}

int Specializer::count(const Graph* g) const {
  auto it = counts_.find(g);
  return it == counts_.end() ? 0 : it->second;
}

bool Specializer::current(Specialisation* spec) const {
  if (!hooks_.globalValue) return true;
  for (Specialisation::GlobalRead& r : spec->globals) {
    if (hooks_.globalVersion) {
      uint64_t version = hooks_.globalVersion(r.var);
      if (version == r.version) continue;
      if (hooks_.globalValue(r.var) != r.value) return false;  // (abstracts are interned)
      r.version = version;  // (only when unchanged: a second check of a stale one fails too)
      continue;
    }
    if (hooks_.globalValue(r.var) != r.value) return false;
  }
  return true;
}

void Specializer::forget(Specialisation* spec) {
  ++generation_;
  for (auto it = cache_.begin(); it != cache_.end();) it = it->second == spec ? cache_.erase(it) : std::next(it);
  std::vector<Specialisation*>& made = byGraph_[spec->key.graph];
  made.erase(std::remove(made.begin(), made.end(), spec), made.end());
  --counts_[spec->key.graph];  // (the limit counts the specialisations in use)
}

void Specializer::clear() {
  ++generation_;
  cache_.clear();
  counts_.clear();
  byGraph_.clear();
}

Specialisation* Specializer::build(Inferencer& inf, InferContext* root, const SpecKey& key, uint64_t staticArgs) {
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

  // Static arguments with a known value: their uses become constants (of every graph of
  // the family; the free-variable lists keep the parameter, unused).
  for (size_t k = 0; k < origin->params.size(); ++k) {
    if (!isStaticArg(staticArgs, k) || k >= key.args.size()) continue;
    Node* c = foldedConstant(*m, key.args[k], origin->params[k]->loc);
    if (!c) continue;
    c->abs = key.args[k];
    Node* p = nmap.at(origin->params[k]);
    for (const auto& [x, y] : gmap) {
      for (Node* n : y->nodes)
        for (Node*& in : n->inputs)
          if (in == p) in = c;
      if (y->output == p) y->output = c;
    }
  }

  auto spec = std::make_unique<Specialisation>();
  spec->key = key;
  spec->graph = gmap.at(origin);
  spec->result = mapGraphs(root->result, toClone);
  for (size_t k = 0; k < origin->freeVars.size() && k < key.captured.size(); ++k)
    spec->captured.emplace(origin->freeVars[k], mapGraphs(key.captured[k], toClone));
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
