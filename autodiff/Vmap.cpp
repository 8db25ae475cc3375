// vmap: batching of a graph (see autodiff/Vmap.h for the construction).
#include "autodiff/Vmap.h"
#include "autodiff/GraphOrder.h"

#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "autodiff/BatchRules.h"
#include "autodiff/J.h"
#include "ir/Fused.h"
#include "ir/Literal.h"
#include "ir/Abstract.h"
#include "ir/Diagnostics.h"
#include "ir/Manager.h"
#include "ir/ShapeRules.h"

namespace msl::autodiff {

using ir::AKind;
using ir::ConstKind;
using ir::Graph;
using ir::Module;
using ir::Node;

namespace {

// vmapFunctionName's table: batched graph -> the name of the function it stands for.
std::mutex gSourcesMutex;
std::unordered_map<const Graph*, std::string> gSources;

// Whether a value is batched (Vmap.h): No, Yes (every tensor leaf along axis 0), or Items
// (a tuple or list made here, item by item). `scalar`: a number, string, None or
// function, which is never batched itself (a batched number is a tensor).
struct BInfo {
  enum Kind : uint8_t { No, Yes, Items } k = No;
  bool list = false;
  bool scalar = false;
  std::vector<BInfo> items;
  bool batched() const { return k != No; }
  bool operator==(const BInfo& o) const {
    if (k != o.k) return false;
    if (k != Items) return true;
    if (items.size() != o.items.size()) return false;
    for (size_t i = 0; i < items.size(); ++i)
      if (!(items[i] == o.items[i])) return false;
    return true;
  }
};

BInfo yes() { return BInfo{BInfo::Yes, false, false, {}}; }

// A value that no batch axis can reach: numbers, strings, None, functions, types.
bool scalarAbs(const ir::Abstract* a) {
  if (!a) return false;
  switch (a->kind) {
    case AKind::None: case AKind::Bool: case AKind::Int: case AKind::Float: case AKind::Str: case AKind::DType:
    case AKind::Function: case AKind::Prim: case AKind::Partial: case AKind::Class: case AKind::Token:
    case AKind::Undef: case AKind::Slice: case AKind::Range: case AKind::Module:
      return true;
    default: return false;
  }
}

// The BInfo of a part taken out of a batched container (its abstract says whether a
// batch axis can be in it).
BInfo partOf(const Node* n) {
  if (scalarAbs(n->abs)) {
    BInfo b;
    b.scalar = true;
    return b;
  }
  return yes();
}

BInfo join(const BInfo& a, const BInfo& b) {
  if (a.k == BInfo::No && b.k == BInfo::No) return a;
  if (a.k == BInfo::Items && b.k == BInfo::Items && a.items.size() == b.items.size()) {
    BInfo r = a;
    for (size_t i = 0; i < a.items.size(); ++i) r.items[i] = join(a.items[i], b.items[i]);
    return r;
  }
  return yes();
}

// Whether a graph (or one nested in it) performs an effect.
bool hasEffects(const Graph* g) {
  for (const Node* n : g->nodes) {
    Prim p;
    if (primCall(n, &p) && primInfo(p).effect == PrimEffect::Io) return true;
    for (const Node* in : n->inputs)
      if (in->isGraphConst() && in->g != g && ir::isWithin(in->g, g) && hasEffects(in->g)) return true;
  }
  return false;
}

class Batcher {
 public:
  Batcher(Module& m, Graph* root, const VmapSpecialise& specialise) : m_(m), root_(root), specialise_(specialise) {}

  Graph* transform(Graph* g, const std::vector<BInfo>& params, BInfo* out) {
    bool isRoot = g == root_;
    // A function inlined from outside (foreign_) is nested in the root's clone, which
    // holds the batch size.
    Graph* parent = isRoot ? g->parent : foreign_.count(g) ? clone_.at(root_) : clone_.at(g->parent);
    Graph* ng = m_.newGraph(g->name, parent, g->loc);
    ng->qualname = g->qualname;
    ng->isMethod = g->isMethod;  // not isFunction: the interpreter must not specialise it again
    {
      const Graph* src = g;
      while (src && !src->isFunction && src->madeByJ) src = jSource(src);
      std::lock_guard<std::mutex> lock(gSourcesMutex);
      if (src && src->isFunction) gSources[ng] = src->name;
      else gSources.erase(ng);
    }
    made_.push_back(ng);
    auto saved = clone_.find(g) != clone_.end() ? clone_[g] : nullptr;
    clone_[g] = ng;
    active_.insert(g);
    if (isRoot) {
      size_ = m_.newParam(ng, "batch_size", g->loc);  // (newParam adds its kind and default slot)
    }
    for (size_t i = 0; i < g->params.size(); ++i) {
      Node* p = g->params[i];
      map_[p] = m_.newParam(ng, p->name, p->loc);
      info_[p] = i < params.size() ? params[i] : BInfo{};
      ng->paramKinds.back() = g->paramKinds[i];
      Node* d = i < g->defaults.size() ? g->defaults[i] : nullptr;
      ng->defaults.back() = d ? value(d, ng) : nullptr;
    }
    for (Node* n : transformOrder(g, [this](const Graph* h) { return nested(h); }, true)) visit(n, ng);
    ng->output = value(g->output, ng);
    *out = info(g->output);
    active_.erase(g);
    if (saved) clone_[g] = saved;
    else clone_.erase(g);
    return ng;
  }

  // The root's output, batched as a whole.
  void batchOutput(Graph* ng, const BInfo& out) { ng->output = materialize(ng->output, out, ng, true); }

  const std::vector<Graph*>& made() const { return made_; }

 private:
  Module& m_;
  Graph* root_;
  const VmapSpecialise& specialise_;
  Node* size_ = nullptr;
  std::unordered_map<const Node*, Node*> map_;
  std::unordered_map<const Node*, BInfo> info_;
  std::unordered_map<const Graph*, Graph*> clone_;  // graph being transformed -> its clone
  std::unordered_set<const Graph*> active_;
  // switch(c, then, else) on graphs: the branches' clones and the batched condition.
  struct SwitchRec { Node* cond; Graph* a; Graph* b; BInfo outA, outB; bool batched; };
  std::unordered_map<const Node*, SwitchRec> switches_;
  std::unordered_map<const Node*, Node*> depends_;  // depend(local function, state) -> the state
  std::vector<Graph*> made_;

  std::unordered_set<const Graph*> foreign_;  // specialised functions from outside, batched inline

  bool nested(const Graph* g) const {
    if (!g) return false;
    if (ir::isWithin(g, root_)) return true;
    for (const Graph* f : foreign_)
      if (ir::isWithin(g, f)) return true;
    return false;
  }

  // The specialised graph a call of a function from outside runs, when it is known here
  // and can be batched inline (no captured values; its parameters typed as this call's
  // arguments): then no __vmapcall is needed, and the batched graph stays differentiable
  // (vmap(grad(f)) differentiates it, runtime/InterpreterVmap.cpp).
  Graph* knownCallee(const Node* n) {
    const Node* callee = n->inputs[0];
    const Graph* g = nullptr;
    if (callee->isGraphConst()) g = callee->g;
    else if (callee->abs && callee->abs->is(AKind::Function)) g = callee->abs->graph;
    if (!g || nested(g) || !g->freeVars.empty() || !n->kwnames.empty() || g->params.size() != n->inputs.size() - 1)
      return nullptr;
    if (callee->abs && callee->abs->is(AKind::Function) && !callee->abs->elems.empty()) return nullptr;
    bool made = false;
    if (g->isFunction && !g->nodes.empty() && !g->nodes.front()->abs) {  // the original: its clone for these arguments
      made = true;
      if (!specialise_) return nullptr;
      std::vector<const ir::Abstract*> args;
      for (size_t i = 1; i < n->inputs.size(); ++i) {
        if (!n->inputs[i]->abs) return nullptr;
        args.push_back(n->inputs[i]->abs);
      }
      try {
        g = specialise_(g, args);
      } catch (const Error&) {
        return nullptr;
      }
      if (!g || nested(g) || !g->freeVars.empty()) return nullptr;
    }
    for (size_t i = 0; i < g->params.size(); ++i) {
      const ir::Abstract* pa = g->params[i]->abs;
      if (g->paramKinds[i] != ir::ParamKind::Positional || !pa || (!made && pa != n->inputs[i + 1]->abs)) return nullptr;
    }
    for (const Node* x : g->nodes)
      if (!x->abs) return nullptr;  // not a specialised clone
    return const_cast<Graph*>(g);
  }

  BInfo info(const Node* n) const {
    auto f = info_.find(n);
    return f != info_.end() ? f->second : BInfo{};
  }

  Node* call(Graph* g, Prim p, std::vector<Node*> args, SourceLoc loc) {
    args.insert(args.begin(), m_.constPrim(p, loc));
    return m_.newApply(g, std::move(args), loc);
  }

  // A value of the batched world: a node already transformed, a value from outside, or a
  // function made here (cloned unbatched; capturing batched values it cannot be a value).
  Node* value(Node* n, Graph* ng) {
    if (n->isConst()) {
      if (!n->isGraphConst() || !nested(n->g)) return n;
      // A function that captures nothing is the same in the batched world: kept as it
      // is, so that batching a call of it (grad(f)(x) inside vmap: vmapGrad) can
      // specialise it again.
      if (n->g->freeVars.empty() && n->g->isFunction) return n;
      for (Node* fv : n->g->freeVars)
        if (info(fv).batched())
          raise(DiagId::NotSupportedYet, n->loc, {"inside vmap, a function that captures batched values used as a value"});
      if (active_.count(n->g)) raise(DiagId::NotSupportedYet, n->loc, {"inside vmap, a recursive local function"});
      std::vector<BInfo> none(n->g->params.size());
      BInfo out;
      return m_.constGraph(transform(n->g, none, &out), n->loc);
    }
    (void)ng;
    auto f = map_.find(n);
    if (f != map_.end()) return f->second;
    if (depends_.count(n) || switches_.count(n))  // only ever called where they are made
      raise(DiagId::NotSupportedYet, n->loc, {"inside vmap, a function that captures batched values used as a value"});
    return n;  // a value from outside the function
  }

  // x as a batched value: unbatched leaves repeated along a new leading axis. `top`: x
  // is a whole value (a number becomes a tensor of the batch); inside containers,
  // numbers and other scalars stay as they are.
  // `numbers`: numbers inside tuples and lists made here become tensors too (the items of
  // stack([...]) or tensor([...])).
  Node* materialize(Node* x, const BInfo& b, Graph* g, bool top = true, bool numbers = false) {
    if (b.k == BInfo::Yes) return x;
    if (b.k == BInfo::No) {
      if (!top && b.scalar) return x;
      return call(g, Prim::VmapBcast, {x, size_}, x->loc);
    }
    std::vector<Node*> items;
    bool direct = x->isApply() && (x->isPrimApply(Prim::MakeTuple) || x->isPrimApply(Prim::MakeList)) &&
                  x->inputs.size() == b.items.size() + 1;
    for (size_t i = 0; i < b.items.size(); ++i) {
      Node* it = direct ? x->inputs[i + 1] : call(g, Prim::GetItem, {x, m_.constInt((int64_t)i)}, x->loc);
      items.push_back(materialize(it, b.items[i], g, numbers, numbers));
    }
    return call(g, b.list ? Prim::MakeList : Prim::MakeTuple, items, x->loc);
  }

  // x (batched as `have`) made batched as `want` (at least as batched).
  Node* coerce(Node* x, const BInfo& have, const BInfo& want, Graph* g) {
    if (have == want || want.k == BInfo::No) return x;
    if (want.k == BInfo::Yes) return materialize(x, have, g);
    if (have.k != BInfo::Items && have.k != BInfo::No) return x;
    std::vector<Node*> items;
    for (size_t i = 0; i < want.items.size(); ++i) {
      Node* it = call(g, Prim::GetItem, {x, m_.constInt((int64_t)i)}, x->loc);
      BInfo hi = have.k == BInfo::Items ? have.items[i] : BInfo{};
      items.push_back(coerce(it, hi, want.items[i], g));
    }
    return call(g, want.list ? Prim::MakeList : Prim::MakeTuple, items, x->loc);
  }

  Node* copy(Node* n, Graph* ng) {
    std::vector<Node*> in;
    for (Node* i : n->inputs) in.push_back(value(i, ng));
    Node* c = m_.newApply(ng, in, n->loc);
    c->kwnames = n->kwnames;
    c->name = n->name;
    c->abs = n->abs;
    return c;
  }

  // n copied, inputs `repl(k, value)` replaced; the replacements are made first (a
  // graph's nodes run in the order they were created).
  template <class F>
  Node* copyWith(Node* n, Graph* ng, F&& repl) {
    std::vector<Node*> in;
    for (size_t k = 0; k < n->inputs.size(); ++k) in.push_back(repl(k, value(n->inputs[k], ng)));
    Node* c = m_.newApply(ng, in, n->loc);
    c->kwnames = n->kwnames;
    c->name = n->name;
    c->abs = n->abs;
    return c;
  }

  void set(Node* n, Node* v, BInfo b) {
    map_[n] = v;
    info_[n] = std::move(b);
  }

  bool anyBatchedInput(const Node* n) const {
    for (const Node* i : n->inputs) {
      if (info(i).batched()) return true;
      if (i->isGraphConst() && nested(i->g))
        for (const Node* fv : i->g->freeVars)
          if (info(fv).batched()) return true;
    }
    return false;
  }

  void visit(Node* n, Graph* ng) {
    Prim p;
    if (!primCall(n, &p)) return callNode(n, ng);
    if (p == Prim::Switch) return switchNode(n, ng);
    if (p == Prim::Scan || p == Prim::WhileLoop) return loopNode(n, ng, p);
    if (!anyBatchedInput(n)) return set(n, copy(n, ng), BInfo{});
    // depend(local function, state): the function is cloned where it is called.
    if (p == Prim::Depend && n->inputs[1]->isGraphConst() && nested(n->inputs[1]->g)) {
      depends_[n] = value(n->inputs[2], ng);
      return;
    }
    switch (p) {
      case Prim::MakeTuple: case Prim::MakeList: {
        BInfo b{BInfo::Items, p == Prim::MakeList, false, {}};
        for (size_t i = 1; i < n->inputs.size(); ++i) {
          BInfo bi = info(n->inputs[i]);
          if (!bi.batched()) bi.scalar = scalarAbs(n->inputs[i]->abs) || n->inputs[i]->isConst();
          b.items.push_back(bi);
        }
        return set(n, copy(n, ng), b);
      }
      case Prim::MakeDict: {
        Node* c = copyWith(n, ng, [&](size_t i, Node* v) {
          return i >= 2 && i % 2 == 0 ? materialize(v, info(n->inputs[i]), ng, false) : v;
        });
        return set(n, c, yes());
      }
      case Prim::TupleGetItem: case Prim::GetItem: {
        BInfo t = info(n->inputs[1]);
        const Node* idx = n->inputs[2];
        if (t.k == BInfo::Items && idx->isConst() && idx->ckind == ConstKind::Int) {
          int64_t i = idx->i < 0 ? idx->i + (int64_t)t.items.size() : idx->i;
          if (i >= 0 && i < (int64_t)t.items.size()) return set(n, copy(n, ng), t.items[(size_t)i]);
        }
        if (p == Prim::TupleGetItem || !(n->inputs[1]->abs && n->inputs[1]->abs->isTensor())) {
          if (info(idx).batched()) raise(DiagId::NotSupportedYet, n->loc, {"inside vmap, indexing a container with a batched index"});
          Node* c = copyWith(n, ng, [&](size_t i, Node* v) { return i == 1 ? materialize(v, t, ng, false) : v; });
          return set(n, c, partOf(n));
        }
        break;
      }
      case Prim::Unpack: return unpackNode(n, ng);
      case Prim::GetAttr: return getAttrNode(n, ng);
      case Prim::MethodCall: {  // (name, recv, args...): the bound method, batched when its receiver is
        // x.sum(...), x.reshape(...): the tensor method's primitive, receiver first,
        // batched by its rule as a call of it is (so that the batched graph has no
        // __vmapcall left and vmap(grad(f)) can differentiate it)
        Prim mp;
        bool property = true;
        const Node* nm = n->inputs[1];
        if (nm->isConst() && nm->ckind == ConstKind::Str && n->inputs[2]->abs && n->inputs[2]->abs->isTensor() &&
            ir::methodPrim(AKind::Tensor, nm->s, &mp, &property) && !property && primInfo(mp).group != PrimGroup::Core) {
          Node call;
          call.kind = ir::NodeKind::Apply;
          call.graph = n->graph;
          call.loc = n->loc;
          call.abs = n->abs;
          call.kwnames = n->kwnames;
          call.inputs = {m_.constPrim(mp, n->loc), n->inputs[2]};
          for (size_t i = 3; i < n->inputs.size(); ++i) call.inputs.push_back(n->inputs[i]);
          if (primNode(n, &call, mp, ng, false)) return;  // else: the bound method, batched when called
        }
        Node* bm = call(ng, Prim::GetAttr, {value(n->inputs[2], ng), value(n->inputs[1], ng)}, n->loc);
        std::vector<Node*> args{bm};
        std::vector<bool> mask{info(n->inputs[2]).batched()};
        for (size_t i = 3; i < n->inputs.size(); ++i) {
          BInfo b = info(n->inputs[i]);
          Node* v = value(n->inputs[i], ng);
          args.push_back(b.k == BInfo::Items ? materialize(v, b, ng) : v);
          mask.push_back(b.batched());
        }
        return set(n, vmapCall(ng, args, mask, n->kwnames, n->loc), yes());
      }
      case Prim::ListAppendLocal: case Prim::SetAttr: {
        Node* c = copyWith(n, ng, [&](size_t i, Node* v) {
          if (i == 0 || (p == Prim::SetAttr && i == 2)) return v;
          return materialize(v, info(n->inputs[i]), ng, p == Prim::ListAppendLocal && i == 1);
        });
        return set(n, c, yes());
      }
      case Prim::CallEx: case Prim::MethodUpdate:
        raise(DiagId::NotSupportedYet, n->loc, {std::string("inside vmap, '") + primName(p) + "' with batched values"});
      default: break;
    }
    primNode(n, n, p, ng, true);
  }

  // A call of primitive p batched by its rule (or, with `loop`, once per example): rn is
  // the call as the rule sees it (n itself, or a tensor method's call made from n), n the
  // node whose value it gives. Returns false where no rule applied and `loop` is off.
  bool primNode(Node* n, Node* rn, Prim p, Graph* ng, bool loop) {
    BatchKind kind = batchKind(p);
    if (kind == BatchKind::Unbatched) {
      set(n, copy(rn, ng), BInfo{});
      return true;
    }
    if (!loop && kind != BatchKind::Rule) return false;
    if (kind == BatchKind::Error)
      raise(DiagId::NotSupportedYet, rn->loc, {std::string("'") + primName(p) + "' of a batched value inside vmap"});
    BatchCtx c{m_, ng, rn, size_, {}, {}, {}, {}};
    for (size_t i = 0; i < rn->inputs.size(); ++i) {
      BInfo b = info(rn->inputs[i]);
      Node* v = value(rn->inputs[i], ng);
      // the items of stack([...]) and tensor([...]) are data: numbers among them are
      // per-example values; elsewhere numbers in containers are host values (strides)
      bool data = p == Prim::Stack || p == Prim::Concat || p == Prim::TensorNew || p == Prim::Sorted;
      c.in.push_back(b.k == BInfo::Items ? materialize(v, b, ng, true, data) : v);
      c.b.push_back(b.batched());
      c.raw.push_back(v);
      c.items.emplace_back();
      if (b.k == BInfo::Items)
        for (const BInfo& it : b.items) c.items.back().push_back(it.batched());
    }
    if (kind == BatchKind::Rule) {
      if (Node* r = batchRule(p, c)) {
        set(n, r, c.outBatched ? yes() : BInfo{});
        return true;
      }
    }
    if (!loop) return false;
    // Indexing of tensors loops through the tensor primitives (the core ones are not values).
    if ((p == Prim::GetItem || p == Prim::SetItem) && c.isTensor(1))
      c.in[0] = m_.constPrim(p == Prim::GetItem ? Prim::TensorGetItem : Prim::TensorSetItem, rn->loc);
    else if (primInfo(p).group == PrimGroup::Core)
      raise(DiagId::NotSupportedYet, rn->loc, {std::string("'") + primName(p) + "' of a batched value inside vmap"});
    // Once per example, results stacked.
    std::vector<Node*> args{c.in[0]};
    std::vector<bool> mask{false};
    for (size_t i = 1; i < c.in.size(); ++i) {
      args.push_back(c.in[i]);
      mask.push_back(c.b[i]);
    }
    set(n, vmapCall(ng, args, mask, rn->kwnames, rn->loc, Prim::VmapLoop), yes());
    return true;
  }

  // __vmapcall(fn, size, mask, args...) (or __vmap_loop): fn and args as given.
  Node* vmapCall(Graph* ng, const std::vector<Node*>& fnArgs, const std::vector<bool>& mask,
                 const std::vector<std::string>& kwnames, SourceLoc loc, Prim how = Prim::VmapFnCall) {
    std::vector<Node*> flags;
    for (bool b : mask) flags.push_back(m_.constBool(b));
    std::vector<Node*> in{m_.constPrim(how, loc), fnArgs[0], size_, call(ng, Prim::MakeTuple, flags, loc)};
    for (size_t i = 1; i < fnArgs.size(); ++i) in.push_back(fnArgs[i]);
    Node* r = m_.newApply(ng, std::move(in), loc);
    r->kwnames = kwnames;
    return r;
  }

  void callNode(Node* n, Graph* ng) {
    Node* callee = n->inputs[0];
    auto sw = switches_.find(callee);
    if (sw != switches_.end()) return switchCall(n, ng, sw->second);
    if (!anyBatchedInput(n) && !depends_.count(callee)) return set(n, copy(n, ng), BInfo{});
    Node* state = nullptr;
    auto dep = depends_.find(callee);
    if (dep != depends_.end()) {
      state = dep->second;
      callee = callee->inputs[1];
    }
    // A local function called directly: its batched clone for these arguments.
    if (callee->isGraphConst() && nested(callee->g) && !active_.count(callee->g)) {
      Graph* g = callee->g;
      bool simple = n->kwnames.empty() && n->inputs.size() - 1 == g->params.size();
      for (ir::ParamKind k : g->paramKinds) simple = simple && k == ir::ParamKind::Positional;
      if (simple) {
        std::vector<BInfo> ps;
        for (size_t i = 1; i < n->inputs.size(); ++i) ps.push_back(info(n->inputs[i]));
        BInfo out;
        Graph* bg = transform(g, ps, &out);
        Node* fn = m_.constGraph(bg, callee->loc);
        std::vector<Node*> in{state ? call(ng, Prim::Depend, {fn, state}, callee->loc) : fn};
        for (size_t i = 1; i < n->inputs.size(); ++i) in.push_back(value(n->inputs[i], ng));
        return set(n, m_.newApply(ng, in, n->loc), out);
      }
    }
    if (state) raise(DiagId::NotSupportedYet, n->loc, {"inside vmap, this call of a function that captures batched values"});
    if (Graph* g = knownCallee(n); g && !active_.count(g) && !info(n->inputs[0]).batched()) {
      std::vector<BInfo> ps;
      for (size_t i = 1; i < n->inputs.size(); ++i) ps.push_back(info(n->inputs[i]));
      foreign_.insert(g);
      BInfo out;
      Graph* bg = transform(g, ps, &out);
      foreign_.erase(g);
      std::vector<Node*> in{m_.constGraph(bg, n->inputs[0]->loc)};
      for (size_t i = 1; i < n->inputs.size(); ++i) in.push_back(value(n->inputs[i], ng));
      return set(n, m_.newApply(ng, in, n->loc), out);
    }
    std::vector<Node*> args;
    std::vector<bool> mask;
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      BInfo b = info(n->inputs[i]);
      Node* v = value(n->inputs[i], ng);
      args.push_back(b.k == BInfo::Items ? materialize(v, b, ng) : v);
      mask.push_back(b.batched());
    }
    set(n, vmapCall(ng, args, mask, n->kwnames, n->loc), yes());
  }

  void unpackNode(Node* n, Graph* ng) {
    BInfo x = info(n->inputs[1]);
    const Node* star = n->inputs[3];
    bool noStar = star->isConst() && star->ckind == ConstKind::Int && star->i < 0;
    const ir::Abstract* xa = n->inputs[1]->abs;
    const ir::Abstract* oa = n->abs;
    if (x.k == BInfo::Items && noStar) return set(n, copy(n, ng), x);
    Node* c = copyWith(n, ng, [&](size_t i, Node* v) {
      if (i != 1) return v;
      if (x.k == BInfo::Items) v = materialize(v, x, ng);
      if (xa && xa->isTensor())  // the rows of each example: axis 1
        v = call(ng, Prim::Swapaxes, {v, m_.constInt(0), m_.constInt(1)}, n->loc);
      return v;
    });
    BInfo b{BInfo::Items, false, false, {}};
    if (!oa || !oa->is(AKind::Tuple) || oa->homogeneous) return set(n, c, yes());
    for (const ir::Abstract* e : oa->elems) {
      BInfo bi = scalarAbs(e) ? BInfo{} : yes();
      bi.scalar = scalarAbs(e);
      b.items.push_back(bi);
    }
    set(n, c, b);
  }

  void getAttrNode(Node* n, Graph* ng) {
    const ir::Abstract* oa = n->inputs[1]->abs;
    const Node* name = n->inputs[2];
    Node* x = value(n->inputs[1], ng);
    BInfo xb = info(n->inputs[1]);
    if (xb.k == BInfo::Items) x = materialize(x, xb, ng);
    if (oa && oa->isTensor() && name->isConst() && name->ckind == ConstKind::Str) {
      const std::string& s = name->s;
      auto sl = [&](int64_t from) {
        Node* slc = call(ng, Prim::MakeSlice, {m_.constInt(from), m_.constNone(), m_.constNone()}, n->loc);
        return call(ng, Prim::GetItem, {call(ng, Prim::Shape, {x}, n->loc), slc}, n->loc);
      };
      if (s == "shape") return set(n, sl(1), BInfo{});
      if (s == "ndim") return set(n, call(ng, Prim::Sub, {call(ng, Prim::NDim, {x}, n->loc), m_.constInt(1)}, n->loc), BInfo{});
      if (s == "size") return set(n, call(ng, Prim::FloorDiv, {call(ng, Prim::Size, {x}, n->loc), size_}, n->loc), BInfo{});
      if (s == "dtype") return set(n, copy(n, ng), BInfo{});
      if (s == "T" && oa->rankKnown) {
        std::vector<Node*> perm{m_.constInt(0)};
        for (int d = oa->rank(); d >= 1; --d) perm.push_back(m_.constInt(d));
        return set(n, call(ng, Prim::Transpose, {x, call(ng, Prim::MakeTuple, perm, n->loc)}, n->loc), yes());
      }
    }
    Node* c = copyWith(n, ng, [&](size_t i, Node* v) { return i == 1 ? x : v; });
    // A method of a batched receiver is batched (its receiver is); other parts as their
    // abstracts say.
    if (n->abs && n->abs->is(AKind::BoundMethod)) return set(n, c, yes());
    set(n, c, partOf(n));
  }

  // switch(c, a, b): with graph branches (`if`), the branches are cloned here and called
  // where the switch's result is called.
  void switchNode(Node* n, Graph* ng) {
    Node *cn = n->inputs[1], *an = n->inputs[2], *bn = n->inputs[3];
    bool graphs = an->isGraphConst() && bn->isGraphConst() && nested(an->g) && nested(bn->g) &&
                  an->g->params.empty() && bn->g->params.empty();
    BInfo cb = info(cn);
    if (graphs) {
      if (cb.batched() && (hasEffects(an->g) || hasEffects(bn->g))) raise(DiagId::VmapBatchedIf, n->loc, {});
      SwitchRec r{value(cn, ng), nullptr, nullptr, {}, {}, cb.batched()};
      r.a = transform(an->g, {}, &r.outA);
      r.b = transform(bn->g, {}, &r.outB);
      BInfo want = cb.batched() ? yes() : join(r.outA, r.outB);
      if (cb.batched()) {  // every value of the branches per example (numbers too)
        r.a->output = materialize(r.a->output, r.outA, r.a, true, true);
        r.b->output = materialize(r.b->output, r.outB, r.b, true, true);
      } else {
        r.a->output = coerce(r.a->output, r.outA, want, r.a);
        r.b->output = coerce(r.b->output, r.outB, want, r.b);
      }
      r.outA = r.outB = want;
      switches_[n] = r;
      if (!cb.batched()) {
        Node* c = call(ng, Prim::Switch, {r.cond, m_.constGraph(r.a, an->loc), m_.constGraph(r.b, bn->loc)}, n->loc);
        map_[n] = c;
      }
      return;
    }
    if (!anyBatchedInput(n)) return set(n, copy(n, ng), BInfo{});
    BInfo ab = info(an), bb = info(bn);
    Node *a = value(an, ng), *b = value(bn, ng);
    if (!cb.batched()) {
      BInfo want = join(ab, bb);
      Node* c = call(ng, Prim::Switch, {value(cn, ng), coerce(a, ab, want, ng), coerce(b, bb, want, ng)}, n->loc);
      return set(n, c, want);
    }
    set(n, call(ng, Prim::VmapSelect, {value(cn, ng), materialize(a, ab, ng, true, true), materialize(b, bb, ng, true, true)}, n->loc), yes());
  }

  void switchCall(Node* n, Graph* ng, const SwitchRec& r) {
    if (n->inputs.size() != 1) raise(DiagId::NotSupportedYet, n->loc, {"inside vmap, calling a selected function with arguments"});
    if (!r.batched) return set(n, m_.newApply(ng, {map_.at(n->inputs[0])}, n->loc), r.outA);
    // A batched condition: both branches run, each example takes its own.
    Node* ta = m_.newApply(ng, {m_.constGraph(r.a, n->loc)}, n->loc);
    Node* tb = m_.newApply(ng, {m_.constGraph(r.b, n->loc)}, n->loc);
    set(n, call(ng, Prim::VmapSelect, {r.cond, ta, tb}, n->loc), yes());
  }

  // scan(body, iterable, init) / while_loop(cond, body, init): the carry's items batched
  // where the initial values or any iteration make them so (a fixpoint over the body).
  void loopNode(Node* n, Graph* ng, Prim p) {
    bool isScan = p == Prim::Scan;
    Node* bodyN = n->inputs[isScan ? 1 : 2];
    Node* condN = isScan ? nullptr : n->inputs[1];
    Node* itN = isScan ? n->inputs[2] : nullptr;
    Node* initN = n->inputs[3];
    if (!bodyN->isGraphConst() || !nested(bodyN->g) || (condN && (!condN->isGraphConst() || !nested(condN->g)))) {
      if (anyBatchedInput(n)) raise(DiagId::NotSupportedYet, n->loc, {"inside vmap, a loop over a function value"});
      return set(n, copy(n, ng), BInfo{});
    }
    Graph* body = bodyN->g;
    BInfo init = info(initN);
    BInfo carry;
    if (init.k == BInfo::Items) {
      carry = init;
      for (BInfo& b : carry.items)
        if (b.k == BInfo::Items) b = yes();
    } else {
      carry = init;
    }
    BInfo item;
    Node* it = itN ? value(itN, ng) : nullptr;
    if (itN && info(itN).batched()) {
      BInfo ib = info(itN);
      if (ib.k == BInfo::Items) it = materialize(it, ib, ng);
      if (itN->abs && itN->abs->isTensor()) it = call(ng, Prim::Swapaxes, {it, m_.constInt(0), m_.constInt(1)}, n->loc);
      item = yes();
    }
    Graph* nb = nullptr;
    BInfo out;
    for (int round = 0; round < 64; ++round) {
      std::vector<BInfo> ps{carry};
      if (isScan) ps.push_back(item);
      nb = transform(body, ps, &out);
      // body output: (go, carry)
      BInfo go = out.k == BInfo::Items && out.items.size() == 2 ? out.items[0] : out;
      if (go.batched())
        raise(DiagId::VmapBatchedLoop, n->loc, {isScan ? "break" : "while", "use where() on the values instead"});
      BInfo next = out.k == BInfo::Items && out.items.size() == 2 ? out.items[1] : out;
      BInfo merged = join(carry, next);
      if (merged.k == BInfo::Items)
        for (BInfo& b : merged.items)
          if (b.k == BInfo::Items) b = yes();
      if (merged == carry) break;
      carry = merged;
    }
    BInfo next = out.k == BInfo::Items && out.items.size() == 2 ? out.items[1] : out;
    Node* carryOut = call(nb, Prim::GetItem, {nb->output, m_.constInt(1)}, n->loc);
    Node* goOut = call(nb, Prim::GetItem, {nb->output, m_.constInt(0)}, n->loc);
    nb->output = call(nb, Prim::MakeTuple, {goOut, coerce(carryOut, next, carry, nb)}, n->loc);
    Node* initV = coerce(value(initN, ng), init, carry, ng);
    Node* r;
    if (isScan) {
      r = call(ng, Prim::Scan, {m_.constGraph(nb, bodyN->loc), it, initV}, n->loc);
    } else {
      BInfo cout;
      Graph* nc = transform(condN->g, {carry}, &cout);
      if (cout.batched()) return maskedWhile(n, ng, condN, bodyN, initN);
      r = call(ng, Prim::WhileLoop, {m_.constGraph(nc, condN->loc), m_.constGraph(nb, bodyN->loc), initV}, n->loc);
    }
    set(n, r, carry);
  }

  // A while loop whose condition differs between examples: it runs while any example's
  // condition holds, and an example whose condition no longer holds keeps its state
  // (the body runs for every example; each takes the new state only while it goes on).
  // The state is batched as a whole; the body must be pure.
  void maskedWhile(Node* n, Graph* ng, Node* condN, Node* bodyN, Node* initN) {
    if (hasEffects(bodyN->g) || hasEffects(condN->g))
      raise(DiagId::VmapBatchedLoop, n->loc, {"while", "the condition differs between examples and the loop has effects; use where() or a for loop"});
    BInfo all = yes(), out, cout;
    Graph* nb = transform(bodyN->g, {all}, &out);
    BInfo go = out.k == BInfo::Items && out.items.size() == 2 ? out.items[0] : out;
    if (go.batched()) raise(DiagId::VmapBatchedLoop, n->loc, {"break", "use where() on the values instead"});
    BInfo next = out.k == BInfo::Items && out.items.size() == 2 ? out.items[1] : out;
    Node* carryOut = call(nb, Prim::GetItem, {nb->output, m_.constInt(1)}, n->loc);
    Node* goOut = call(nb, Prim::GetItem, {nb->output, m_.constInt(0)}, n->loc);
    nb->output = call(nb, Prim::MakeTuple, {goOut, materialize(carryOut, next, nb, true, true)}, n->loc);
    Graph* nc = transform(condN->g, {all}, &cout);
    nc->output = materialize(nc->output, cout, nc);
    // cond'(s) = any(cond(s)); body'(s) = (go, select(cond(s), body(s)[1], s))
    Graph* c2 = m_.newGraph(condN->g->name + ".any", ng, condN->loc);
    Graph* b2 = m_.newGraph(bodyN->g->name + ".masked", ng, bodyN->loc);
    made_.push_back(c2);
    made_.push_back(b2);
    for (Graph* h : {c2, b2}) m_.newParam(h, "state", n->loc);
    Node* k1 = m_.newApply(c2, {m_.constGraph(nc, condN->loc), c2->params[0]}, n->loc);
    c2->output = call(c2, Prim::TensorAny, {call(c2, Prim::AsType, {k1, m_.constDType(DType::Bool)}, n->loc)}, n->loc);
    Node* k2 = m_.newApply(b2, {m_.constGraph(nc, condN->loc), b2->params[0]}, n->loc);
    Node* r = m_.newApply(b2, {m_.constGraph(nb, bodyN->loc), b2->params[0]}, n->loc);
    Node* nx = call(b2, Prim::GetItem, {r, m_.constInt(1)}, n->loc);
    Node* sel = call(b2, Prim::VmapSelect, {call(b2, Prim::AsType, {k2, m_.constDType(DType::Bool)}, n->loc), nx, b2->params[0]}, n->loc);
    b2->output = call(b2, Prim::MakeTuple, {call(b2, Prim::GetItem, {r, m_.constInt(0)}, n->loc), sel}, n->loc);
    Node* initV = materialize(value(initN, ng), info(initN), ng, true, true);
    set(n, call(ng, Prim::WhileLoop, {m_.constGraph(c2, condN->loc), m_.constGraph(b2, bodyN->loc), initV}, n->loc), all);
  }
};

}  // namespace

bool vmapFunctionName(const Graph* batched, std::string* name) {
  std::lock_guard<std::mutex> lock(gSourcesMutex);
  auto found = gSources.find(batched);
  if (found == gSources.end()) return false;
  *name = found->second;
  return true;
}

Graph* vmapGraph(Graph* g, const std::vector<bool>& batched, const VmapSpecialise& specialise,
                 const std::vector<const ir::Abstract*>& captured) {
  for (auto& [mask, bg] : g->vmapVariants)
    if (mask == batched) return bg;
  ir::unfuse(*g->module, g);  // graph mode may have fused g (ir/Fused.h)
  // The captured values' abstracts on their free variables while g is batched (the
  // rules read an input's abstract from its node), taken off again after: the nodes
  // belong to the enclosing graph, which runs unspecialised. g is a specialisation for
  // these abstracts, so the batched graph, cached on g, holds for them alone.
  ir::TemporaryAbstracts annotated;
  for (size_t i = 0; i < captured.size() && i < g->freeVars.size(); ++i) {
    Node* fv = g->freeVars[i];
    if (!captured[i] || captured[i]->is(AKind::Any) || fv->isConst()) continue;
    annotated.set(fv, captured[i]);
  }
  Batcher b(*g->module, g, specialise);
  std::vector<BInfo> params;
  for (size_t i = 0; i < g->params.size(); ++i) params.push_back(i < batched.size() && batched[i] ? yes() : BInfo{});
  BInfo out;
  Graph* bg = b.transform(g, params, &out);
  b.batchOutput(bg, out);
  ir::computeFreeVars(b.made());
  g->vmapVariants.push_back({batched, bg});
  return bg;
}

}  // namespace msl::autodiff
