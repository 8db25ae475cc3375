// J: reverse-mode differentiation of a graph (see autodiff/J.h for the construction).
#include "autodiff/J.h"
#include "autodiff/GraphOrder.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "autodiff/Clean.h"
#include "autodiff/Lift.h"
#include "autodiff/Rules.h"
#include "ir/Fused.h"
#include "ir/Abstract.h"
#include "ir/Diagnostics.h"
#include "ir/Manager.h"

namespace msl::autodiff {

using ir::ConstKind;
using ir::Graph;
using ir::Module;
using ir::Node;

namespace {

// How one parameter of a primitive is bound by a call node.
struct ParamBind {
  enum Kind { One, Tuple, Dict, Default } kind = Default;
  std::vector<size_t> inputs;     // indices into node->inputs
  std::vector<std::string> keys;  // Dict: the keyword names
};

// A primitive's default literal (ir/Primitives.def) as a constant.
Node* defaultConst(Module& m, const PrimParam& p) {
  const std::string& t = p.defaultText;
  if (t == "None") return m.constNone();
  if (t == "True" || t == "False") return m.constBool(t == "True");
  if (!t.empty() && (t[0] == '\'' || t[0] == '"')) return m.constStr(t.substr(1, t.size() - 2));
  DType d;
  if (dtypeFromName(t, &d)) return m.constDType(d);
  if (t.find_first_of(".e") != std::string::npos) return m.constFloat(std::stod(t));
  return m.constInt(std::stoll(t));
}

std::vector<ParamBind> bindPrim(const PrimInfo& info, const Node* n) {
  std::vector<ParamBind> b(info.params.size());
  size_t npos = n->numPositional(), next = 1;
  for (size_t i = 0; i < info.params.size(); ++i) {
    const PrimParam& p = info.params[i];
    if (p.kind == PrimParam::VarArgs) {
      b[i].kind = ParamBind::Tuple;
      while (next <= npos) b[i].inputs.push_back(next++);
    } else if (p.kind == PrimParam::Positional && next <= npos) {
      b[i] = {ParamBind::One, {next++}, {}};
    } else if (p.kind == PrimParam::VarKw) {
      b[i].kind = ParamBind::Dict;
    }
  }
  for (size_t k = 0; k < n->kwnames.size(); ++k) {
    size_t input = 1 + npos + k;
    bool found = false;
    for (size_t i = 0; i < info.params.size() && !found; ++i)
      if (info.params[i].name == n->kwnames[k] && info.params[i].kind != PrimParam::VarArgs &&
          info.params[i].kind != PrimParam::VarKw) {
        b[i] = {ParamBind::One, {input}, {}};
        found = true;
      }
    if (found) continue;
    for (size_t i = 0; i < info.params.size(); ++i)
      if (info.params[i].kind == PrimParam::VarKw) {
        b[i].inputs.push_back(input);
        b[i].keys.push_back(n->kwnames[k]);
      }
  }
  return b;
}

// The primitives of differentiated code that J differentiates again by calling their
// version under J (runtime/AutodiffPrims.cpp), which returns (result, bprop); p otherwise.
Prim secondOrder(Prim p) {
  switch (p) {
    case Prim::JCall: return Prim::JCallJ;
    case Prim::JEnter: return Prim::JEnterJ;
    case Prim::ScanJ: return Prim::ScanJJ;
    case Prim::ScanBwd: return Prim::ScanBwdJ;
    case Prim::WhileJ: return Prim::WhileJJ;
    case Prim::WhileBwd: return Prim::WhileBwdJ;
    case Prim::TreeMapJ: return Prim::TreeMapJJ;
    case Prim::TreeMapBwd: return Prim::TreeMapBwdJ;
    default: return p;
  }
}

// Primitives that call a function transformed when they run (jvp, and vmap's calls of
// function values inside batched graphs): J differentiates them as calls of the
// primitive, __jcall(p, args...), whose runtime (Interpreter::jcallVmap, jcallJvpOf)
// builds the transformed graph of the primal function and differentiates that.
bool runsAsJCall(Prim p) {
  return p == Prim::Jvp || p == Prim::JvpCall || p == Prim::VmapFnCall || p == Prim::VmapLoop;
}

// Whether n is a statement `xs.append(v)` on a list (method_update("append", xs, v), xs
// known to be a list), which J differentiates as list_append_local(xs, v).
bool isListAppend(const Node* n) {
  Prim p;
  if (!primCall(n, &p) || p != Prim::MethodUpdate || n->inputs.size() != 4 || !n->kwnames.empty()) return false;
  const Node *name = n->inputs[1], *recv = n->inputs[2];
  while (recv->jorigin) recv = recv->jorigin;
  return name->isConst() && name->ckind == ConstKind::Str && name->s == "append" && recv->abs &&
         recv->abs->kind == ir::AKind::List;
}

// A readable name for what cannot be differentiated yet.
std::string whatOf(Prim p) {
  switch (p) {
    case Prim::CallEx: return "differentiating a call with *args or **kwargs";
    case Prim::SetItem: return "differentiating through an item assignment";
    case Prim::SetAttr: return "differentiating through an attribute assignment";
    case Prim::MethodUpdate: return "differentiating through an updating method call";
    case Prim::GradCall: case Prim::VjpCall:
      return "differentiating a function that differentiates (higher-order derivatives)";
    case Prim::JCallJ: case Prim::JEnterJ: case Prim::ScanJJ: case Prim::ScanBwdJ: case Prim::WhileJJ:
    case Prim::WhileBwdJ: case Prim::LoopJBprop: case Prim::TreeMapJJ: case Prim::TreeMapBwdJ:
      return "third-order derivatives";
    default: return std::string("differentiating '") + primName(p) + "'";
  }
}

class Builder {
 public:
  Builder(Module& m, Graph* root, uint64_t skip) : m_(m), root_(root), skip_(skip), lift_(planLifting(root)) {}

  Graph* transform(Graph* g) {
    auto found = jmap_.find(g);
    if (found != jmap_.end()) return found->second;
    Graph* jparent = g == root_ ? g->parent : jmap_.at(g->parent);
    Graph* jg = m_.newGraph(g->name, jparent, g->loc);
    jg->qualname = g->qualname;
    jmap_[g] = jg;
    Graph* const outerCur = cur_;
    cur_ = jg;
    made_.push_back(jg);
    jg->madeByJ = true;
    // A lifted branch (autodiff/Lift.h): the values it captures are its first parameters,
    // standing for them in the graphs J builds from it (restored at the end).
    const std::vector<Node*>* lifted = lift_.lifted(g) ? lift_.graphs.at(g) : nullptr;
    std::vector<std::pair<const Node*, Node*>> outer;  // captured value -> its forward value outside
    if (lifted) {
      for (Node* v : *lifted) {
        auto it = fwd_.find(v);
        outer.push_back({v, it != fwd_.end() ? it->second : nullptr});
        Node* q = m_.newParam(jg, v->name.empty() ? "fv" : v->name, v->loc);
        q->jorigin = v;
        q->abs = v->abs;
        fwd_[v] = q;
      }
    }
    for (Node* p : g->params) {
      fwd_[p] = m_.newParam(jg, p->name, p->loc);
      fwd_[p]->jorigin = p;
    }
    jg->paramKinds = g->paramKinds;
    jg->defaults.clear();  // (newParam made one empty slot per parameter)
    if (lifted) {
      jg->paramKinds.insert(jg->paramKinds.begin(), lifted->size(), ir::ParamKind::Positional);
      jg->defaults.assign(lifted->size(), nullptr);
    }
    for (Node* d : g->defaults) jg->defaults.push_back(d ? F(d) : nullptr);
    if (g != root_ && g->isFunction && !g->madeByJ) {
      // A local function: the forward values of its free variables, in order (jCaptures;
      // a lifted one's leading parameters).
      std::vector<Node*> caps;
      for (Node* fv : g->freeVars) caps.push_back(F(fv));
      Node* c = call(jg, Prim::MakeTuple, caps, g->loc);
      c->name = kJCapturesName;
      if (lifted) c->jorigin = sourceNode(g);  // (jSource: the parameters image free variables)
    } else if (g != root_ && g->madeByJ) {
      // A local function's J graph J(h), differentiated again: its list transformed
      // (Interpreter::jPrimal of a closure of J(J(h)): h's captured values; jSource: J(h)).
      if (const Node* caps = jCaptures(g)) {
        std::vector<Node*> items;
        for (size_t k = 1; k < caps->inputs.size(); ++k) items.push_back(F(caps->inputs[k]));
        Node* c = call(jg, Prim::MakeTuple, items, g->loc);
        c->name = kJCapturesName;
        c->jorigin = const_cast<Node*>(caps);
      }
    }

    std::vector<Node*> order = transformOrder(g, [this](const Graph* h) { return nested(h); });
    for (Node* n : order) forward(n, jg);
    Node* out = F(g->output);

    // The backward graph.
    Graph* b = m_.newGraph(g->name + ".bprop", jg, g->loc);
    b->qualname = g->qualname + ".bprop";
    made_.push_back(b);
    b->madeByJ = true;
    Node* ct = m_.newParam(b, "ct", g->loc);
    cur_ = b;
    Contribs contrib;
    add(contrib, g->output, ct, b);
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      auto c = contrib.find(*it);
      if (c == contrib.end()) continue;
      backward(*it, sum(c->second, b), contrib, b);
    }
    std::vector<Node*> env{m_.constPrim(Prim::MakeDict)};
    for (Node* fv : g->freeVars) {
      auto c = contrib.find(fv);
      if (c == contrib.end() || lifted) continue;  // (a lifted branch captures nothing)
      env.push_back(key(fv));
      env.push_back(sum(c->second, b));
    }
    std::vector<Node*> outs{m_.constPrim(Prim::MakeTuple)};
    outs.push_back(env.size() > 1 ? m_.newApply(b, env, g->loc) : m_.constNone());
    if (lifted) {  // the captured values' cotangents, as parameters'
      for (Node* v : *lifted) {
        auto c = contrib.find(v);
        outs.push_back(c == contrib.end() ? m_.constNone() : sum(c->second, b));
      }
    }
    for (size_t i = 0; i < g->params.size(); ++i) {
      auto c = contrib.find(g->params[i]);
      bool skip = g == root_ && i < 64 && (skip_ >> i & 1);
      outs.push_back(c == contrib.end() || skip ? m_.constNone() : sum(c->second, b));
    }
    b->output = m_.newApply(b, outs, g->loc);
    if (skip_) prune(b);
    jg->output = m_.newApply(jg, {m_.constPrim(Prim::MakeTuple), out, m_.constGraph(b, g->loc)}, g->loc);
    for (auto& [v, f] : outer) {
      if (f) fwd_[v] = f;
      else fwd_.erase(v);
    }
    cur_ = outerCur;
    return jg;
  }

  const std::vector<Graph*>& made() const { return made_; }

  // Drops the nodes of b its output does not need (the interpreter runs every node).
  static void prune(Graph* b) {
    std::unordered_set<const Node*> live;
    std::vector<Node*> work{b->output};
    while (!work.empty()) {
      Node* n = work.back();
      work.pop_back();
      if (n->graph != b || !live.insert(n).second) continue;
      for (Node* in : n->inputs) work.push_back(in);
    }
    std::vector<Node*> kept;
    for (Node* n : b->nodes)
      if (live.count(n)) kept.push_back(n);
    b->nodes = std::move(kept);
  }

 private:
  using Contribs = std::unordered_map<const Node*, std::vector<Node*>>;

  Module& m_;
  Graph* root_;
  uint64_t skip_;  // root parameters whose cotangents are not wanted
  LiftPlan lift_;  // the branches whose captured values are lifted to parameters
  std::unordered_map<const Graph*, Graph*> jmap_;
  std::unordered_map<const Node*, Node*> fwd_;       // node -> its forward value in the J world
  std::unordered_map<const Node*, Node*> bprop_;     // call node -> the bprop of the call
  std::unordered_map<const Node*, std::vector<Node*>> args_;  // prim call -> arguments by parameter
  std::unordered_map<const Node*, std::vector<ParamBind>> binds_;
  std::unordered_map<const Node*, std::vector<int>> bound_;  // lifted local call -> bindLocalCall
  std::vector<Graph*> made_;
  Graph* cur_ = nullptr;  // the J graph (or bprop) nodes are being added to
  // (graph adding nodes, lifted function) -> the partial standing for its closure there
  std::map<std::pair<const Graph*, const Graph*>, Node*> partials_;

  bool nested(const Graph* g) const { return g && ir::isWithin(g, root_); }

  // A node of g (jCaptures' jorigin, for jSource): its first parameter, else its output or
  // first node where those are g's; nullptr otherwise.
  static const Node* sourceNode(const Graph* g) {
    if (!g->params.empty()) return g->params[0];
    if (g->output && g->output->graph == g) return g->output;
    return g->nodes.empty() ? nullptr : g->nodes[0];
  }

  // The closure of a lifted local function (autodiff/Lift.h) in the J world:
  // partial(J(g'), fv_1, ..., fv_k), made once per graph that uses it.
  Node* liftedClosure(Graph* g, SourceLoc loc) {
    auto key = std::make_pair((const Graph*)cur_, (const Graph*)g);
    auto found = partials_.find(key);
    if (found != partials_.end()) return found->second;
    Graph* at = cur_;
    std::vector<Node*> in{m_.constGraph(transform(g), loc)};
    for (Node* v : lift_.functions.at(g)) {
      if (!v->isConst() && nested(v->graph) && !fwd_.count(v))  // (planFunctionLifting excludes this)
        throw InternalError("J: a lifted function's free variable has no forward value yet in " + g->qualname);
      in.push_back(F(v));
    }
    Node* p = call(at, Prim::Partial, in, loc);
    p->name = g->name;
    partials_[key] = p;
    return p;
  }

  // The forward (J world) value of an input.
  Node* F(Node* n) {
    if (n->isConst()) {
      if (n->isGraphConst() && nested(n->g))
        return lift_.liftedFunction(n->g) ? liftedClosure(n->g, n->loc) : m_.constGraph(transform(n->g), n->loc);
      return n;
    }
    auto found = fwd_.find(n);
    return found != fwd_.end() ? found->second : n;  // a value captured from outside
  }

  // The key of a captured value in a closure's cotangent: the id of the primal node it
  // images (the same for a closure of g, of J(g) and of J(J(g))).
  Node* key(const Node* fv) {
    while (fv->jorigin) fv = fv->jorigin;
    return m_.constInt((int64_t)fv->id);
  }

  Node* call(Graph* g, Prim p, std::vector<Node*> args, SourceLoc loc) {
    args.insert(args.begin(), m_.constPrim(p, loc));
    return m_.newApply(g, std::move(args), loc);
  }

  Node* sum(const std::vector<Node*>& cs, Graph* b) {
    Node* s = cs[0];
    for (size_t i = 1; i < cs.size(); ++i) s = call(b, Prim::CtAdd, {s, cs[i]}, cs[i]->loc);
    return s;
  }

  // Records a contribution to the cotangent of n. A closure made in the differentiated
  // graph hands its cotangent (a dict; a lifted one's the partial's (ct_fn, (ct of each
  // free variable), {})) to its free variables.
  void add(Contribs& contrib, Node* n, Node* ct, Graph* b) {
    if (!ct) return;
    if (n->isConst()) {
      if (n->isGraphConst() && nested(n->g) && lift_.liftedFunction(n->g)) {
        // Item i of the partial's bound cotangents, plus the entry of its free variable in a
        // dict: a transform that needed the primal closure (vmap, jvp: Interpreter::jPrimal)
        // gives the closure's dict. (Index -2 of a dict of node ids, or key >= 3 of a tuple
        // of three, is None; the first nodes of a module are not free variables.)
        Node* bound = call(b, Prim::CtIndex, {ct, m_.constInt(-2)}, n->loc);
        const std::vector<Node*>& fvs = lift_.functions.at(n->g);
        for (size_t i = 0; i < fvs.size(); ++i) {
          Node* c = call(b, Prim::CtIndex, {bound, m_.constInt((int64_t)i)}, n->loc);
          Node* k = key(fvs[i]);
          if (k->i >= 3) c = call(b, Prim::CtAdd, {c, call(b, Prim::CtIndex, {ct, k}, n->loc)}, n->loc);
          add(contrib, fvs[i], c, b);
        }
        addDefaults(contrib, n, ct, true, b);
        return;
      }
      if (!n->isGraphConst() || !nested(n->g) || lift_.lifted(n->g)) return;
      for (Node* fv : n->g->freeVars) add(contrib, fv, call(b, Prim::CtIndex, {ct, key(fv)}, n->loc), b);
      addDefaults(contrib, n, ct, false, b);
      return;
    }
    contrib[n].push_back(ct);
  }

  // The closure of graph constant n (a local function) hands the cotangents of the
  // parameters calls left to their computed defaults (runtime: __jsite_arrange) to those
  // defaults: entry defaultCtKey of its cotangent dict (a lifted one's: of the partial's
  // function's, item 0, or of the dict a transform that needed the primal closure gave).
  void addDefaults(Contribs& contrib, const Node* n, Node* ct, bool lifted, Graph* b) {
    const Graph* g = n->g;
    for (size_t i = 0; i < g->params.size(); ++i) {
      std::string k = defaultCtKey(g, i);
      if (k.empty()) continue;
      Node* c = call(b, Prim::CtIndex, {ct, m_.constStr(k)}, n->loc);
      if (lifted)
        c = call(b, Prim::CtAdd, {call(b, Prim::CtIndex, {call(b, Prim::CtIndex, {ct, m_.constInt(0)}, n->loc), m_.constStr(k)}, n->loc), c}, n->loc);
      add(contrib, g->defaults[i], c, b);
    }
  }

  void forward(Node* n, Graph* jg) {
    Prim p;
    if (primCall(n, &p)) {
      if (p == Prim::MethodCall) {
        // method_call(name, recv, args...): the bound method, called in the J world.
        Node* bm = call(jg, Prim::GetAttr, {F(n->inputs[2]), F(n->inputs[1])}, n->loc);
        std::vector<Node*> in{m_.constPrim(Prim::JCall, n->loc), bm};
        for (size_t i = 3; i < n->inputs.size(); ++i) in.push_back(F(n->inputs[i]));
        jcallNode(n, jg, std::move(in));
        return;
      }
      if (runsAsJCall(p)) {  // (out, bprop) = __jcall(p, args...)
        std::vector<Node*> in{m_.constPrim(Prim::JCall, n->loc)};
        for (Node* i : n->inputs) in.push_back(F(i));
        jcallNode(n, jg, std::move(in));
        return;
      }
      if (p == Prim::Scan || p == Prim::WhileLoop || p == Prim::TreeMap) {
        // The loop (tree_map: the walk over the leaves) runs J of its body; the stack of
        // per-iteration bprops is the call's bprop.
        Prim jp = p == Prim::Scan ? Prim::ScanJ : p == Prim::WhileLoop ? Prim::WhileJ : Prim::TreeMapJ;
        std::vector<Node*> in{m_.constPrim(jp, n->loc)};
        for (size_t i = 1; i < n->inputs.size(); ++i) in.push_back(F(n->inputs[i]));
        liftedLoopOperand(n, jg, in);
        jcallNode(n, jg, std::move(in));
        return;
      }
      if (Prim pj = secondOrder(p); pj != p) {
        // A call J made (in J of a J graph) or grad's entry (in J of grad's graph): the
        // same call, differentiated once more by the runtime, which knows both worlds.
        std::vector<Node*> in{m_.constPrim(pj, n->loc)};
        for (size_t i = 1; i < n->inputs.size(); ++i) in.push_back(F(n->inputs[i]));
        jcallNode(n, jg, std::move(in));
        return;
      }
      if (p == Prim::Vjp) {
        // vjp(f, *xs) = (out, f_vjp): __jenter_j(f, None, "vjp", xs, {}) gives ((out, bprop), bprop').
        std::vector<Node*> xs;
        for (size_t i = 2; i < n->inputs.size(); ++i) xs.push_back(F(n->inputs[i]));
        Node* args = call(jg, Prim::MakeTuple, xs, n->loc);
        Node* t = call(jg, Prim::JEnterJ, {F(n->inputs[1]), m_.constNone(), m_.constStr("vjp"), args,
                                           call(jg, Prim::MakeDict, {}, n->loc)}, n->loc);
        Node* r = call(jg, Prim::TupleGetItem, {t, m_.constInt(0)}, n->loc);
        Node* out = call(jg, Prim::TupleGetItem, {r, m_.constInt(0)}, n->loc);
        Node* bp = call(jg, Prim::TupleGetItem, {r, m_.constInt(1)}, n->loc);
        fwd_[n] = call(jg, Prim::MakeTuple, {out, call(jg, Prim::VjpMake, {bp, args}, n->loc)}, n->loc);
        fwd_[n]->jorigin = n;
        bprop_[n] = call(jg, Prim::TupleGetItem, {t, m_.constInt(1)}, n->loc);
        return;
      }
      if (isListAppend(n)) {  // the update as it runs; the rule of list_append_local
        std::vector<Node*> in;
        for (Node* i : n->inputs) in.push_back(F(i));
        fwd_[n] = m_.newApply(jg, in, n->loc);
        fwd_[n]->name = n->name;
        fwd_[n]->jorigin = n;
        args_[n] = {F(n->inputs[2]), F(n->inputs[3])};
        binds_[n] = {ParamBind{ParamBind::One, {2}, {}}, ParamBind{ParamBind::One, {3}, {}}};
        return;
      }
      DiffKind kind = diffKind(p);
      if (kind == DiffKind::NotYet) {
        std::string what = whatOf(p);
        raise(what == "third-order derivatives" ? DiagId::NotSupportedYetPlural : DiagId::NotSupportedYet, n->loc, {what});
      }
      std::vector<Node*> in;
      for (Node* i : n->inputs) in.push_back(F(i));
      Node* c = m_.newApply(jg, in, n->loc);
      c->kwnames = n->kwnames;
      c->name = n->name;
      c->jorigin = n;
      c->jtype = forwardAbs(n);
      fwd_[n] = c;
      if (kind != DiffKind::Rule) return;
      // Arguments by parameter, for the rule.
      const PrimInfo& info = primInfo(p);
      std::vector<Node*> args;
      if (info.variadicNode) {
        for (size_t i = 1; i < n->inputs.size(); ++i) args.push_back(F(n->inputs[i]));
      } else {
        std::vector<ParamBind> b = bindPrim(info, n);
        for (size_t i = 0; i < b.size(); ++i) {
          switch (b[i].kind) {
            case ParamBind::One: args.push_back(F(n->inputs[b[i].inputs[0]])); break;
            case ParamBind::Default: args.push_back(defaultConst(m_, info.params[i])); break;
            case ParamBind::Tuple: {
              std::vector<Node*> items;
              for (size_t k : b[i].inputs) items.push_back(F(n->inputs[k]));
              args.push_back(call(jg, Prim::MakeTuple, items, n->loc));
              break;
            }
            case ParamBind::Dict: {
              std::vector<Node*> kv;
              for (size_t k = 0; k < b[i].inputs.size(); ++k) {
                kv.push_back(m_.constStr(b[i].keys[k]));
                kv.push_back(F(n->inputs[b[i].inputs[k]]));
              }
              args.push_back(call(jg, Prim::MakeDict, kv, n->loc));
              break;
            }
          }
        }
        binds_[n] = std::move(b);
      }
      args_[n] = std::move(args);
      return;
    }
    // A call of a function value: (out, bprop) = __jcall(fn, args...); a lifted branch
    // takes the values it captures first: __jcall(switch(c, J(a'), J(b')), fvs..., args...);
    // so does a lifted local function called directly: __jcall(J(g'), fvs..., args...).
    // Keywords and defaults of such a call are bound here (bound_), so that cleaning can
    // inline it like any call one to one.
    Node* callee = n->inputs[0];
    // (the frontend orders calls of local functions: depend(g, state), which cleaning drops)
    while (callee->isPrimApply(Prim::Depend) && callee->inputs.size() == 3 && callee->inputs[1]->isGraphConst() &&
           lift_.liftedFunction(callee->inputs[1]->g))
      callee = callee->inputs[1];
    const std::vector<Node*>* fvs = lift_.callee(callee);
    Node* fn = fvs && callee->isGraphConst() ? m_.constGraph(transform(callee->g), callee->loc) : F(callee);
    std::vector<Node*> in{m_.constPrim(Prim::JCall, n->loc), fn};
    if (fvs)
      for (Node* v : *fvs) in.push_back(F(v));
    std::vector<int> src;
    if (fvs && callee->isGraphConst() && bindLocalCall(callee->g, n, &src) && defaultsReady(callee->g, src)) {
      for (size_t i = 0; i < src.size(); ++i) in.push_back(F(src[i] > 0 ? n->inputs[(size_t)src[i]] : callee->g->defaults[i]));
      jcallNode(n, jg, std::move(in), false);
      bound_[n] = std::move(src);
      return;
    }
    for (size_t k = 1; k < n->inputs.size(); ++k) in.push_back(F(n->inputs[k]));
    jcallNode(n, jg, std::move(in));
  }

  // A loop whose body is lifted (autodiff/Lift.h, LiftLoops.cpp): the values the body
  // captures, the J graph's leading parameters, as __scan_j's / __while_j's `lifted`.
  void liftedLoopOperand(Node* n, Graph* jg, std::vector<Node*>& in) {
    const std::vector<Node*>* fvs = lift_.loop(n);
    if (!fvs) return;
    std::vector<Node*> vals;
    for (Node* v : *fvs) vals.push_back(F(v));
    in.push_back(call(jg, Prim::MakeTuple, vals, n->loc));
  }

  // Its backward pass: __scan_bwd / __while_bwd(stack, ct, wanted, nlifted) with every
  // result wanted (cleaning narrows the mask), whose results after the first three are the
  // lifted values' cotangents (summed over the iterations); nullptr for a loop whose body
  // is not lifted.
  Node* liftedLoopBackward(Node* n, Prim bp, Node* c, Contribs& contrib, Graph* b) {
    const std::vector<Node*>* fvs = lift_.loop(n);
    if (!fvs) return nullptr;
    int64_t k = (int64_t)fvs->size();
    Node* cts = call(b, bp, {bprop_.at(n), c, m_.constInt((int64_t(1) << (3 + k)) - 1), m_.constInt(k)}, n->loc);
    for (int64_t j = 0; j < k; ++j) add(contrib, (*fvs)[(size_t)j], call(b, Prim::CtIndex, {cts, m_.constInt(3 + j)}, n->loc), b);
    return cts;
  }

  // The arguments of call n of local function g by parameter (src[i]: the input of n that
  // parameter i takes, -1: its default), where g's parameters are all positional and the
  // call binds (positional arguments first, keywords naming parameters not given yet,
  // defaults for the others); false otherwise (the runtime binds it, or raises).
  static bool bindLocalCall(const Graph* g, const Node* n, std::vector<int>* src) {
    size_t np = g->params.size(), npos = n->numPositional();
    if ((n->kwnames.empty() && npos == np) || npos > np || g->paramKinds.size() != np || g->defaults.size() != np) return false;
    for (ir::ParamKind k : g->paramKinds)
      if (k != ir::ParamKind::Positional) return false;
    src->assign(np, -1);
    for (size_t i = 0; i < npos; ++i) (*src)[i] = (int)(1 + i);
    for (size_t k = 0; k < n->kwnames.size(); ++k) {
      size_t i = 0;
      while (i < np && g->params[i]->name != n->kwnames[k]) ++i;
      if (i == np || (*src)[i] >= 0) return false;
      (*src)[i] = (int)(1 + npos + k);
    }
    for (size_t i = 0; i < np; ++i)
      if ((*src)[i] < 0 && !g->defaults[i]) return false;
    return true;
  }

  // Whether the defaults src takes have forward values here (constants, or computed).
  bool defaultsReady(const Graph* g, const std::vector<int>& src) const {
    for (size_t i = 0; i < src.size(); ++i) {
      const Node* d = src[i] > 0 ? nullptr : g->defaults[i];
      if (d && !d->isConst() && nested(d->graph) && !fwd_.count(d)) return false;
    }
    return true;
  }

  void jcallNode(Node* n, Graph* jg, std::vector<Node*> in, bool keywords = true) {
    Node* t = m_.newApply(jg, std::move(in), n->loc);
    if (keywords) t->kwnames = n->kwnames;
    fwd_[n] = call(jg, Prim::TupleGetItem, {t, m_.constInt(0)}, n->loc);
    fwd_[n]->name = n->name;
    fwd_[n]->jorigin = n;
    fwd_[n]->jtype = forwardAbs(n);
    bprop_[n] = call(jg, Prim::TupleGetItem, {t, m_.constInt(1)}, n->loc);
  }

  // The type of n's forward value (Node::jtype): n's abstract (the forward pass computes
  // the primal's values, and J(g) of a specialised clone runs only for calls whose
  // signature found it), for tensors and Python numbers only: a value holding functions
  // holds their J closures in the forward pass, not the primal functions its abstract names.
  static const ir::Abstract* forwardAbs(const Node* n) {
    const ir::Abstract* a = n->abs;
    if (!a || a->hasFunctions) return nullptr;
    return a->isTensor() || a->is(ir::AKind::Float) || a->is(ir::AKind::Int) || a->is(ir::AKind::Bool) ? a : nullptr;
  }

  void backward(Node* n, Node* c, Contribs& contrib, Graph* b) {
    Prim p;
    bool isPrim = primCall(n, &p);
    if (isPrim && p == Prim::Vjp) {
      // c = (ct of out, ct of f_vjp = (ct_f, (ct of its bprop, ct of xs), {})): bprop'
      // gives the cotangents of (f, argnums, kind, xs, kwargs).
      auto at = [&](Node* v, int64_t k) { return call(b, Prim::CtIndex, {v, m_.constInt(k)}, n->loc); };
      Node* ctPair = call(b, Prim::MakeTuple, {at(c, 0), at(at(at(c, 1), 1), 0)}, n->loc);
      Node* cts = m_.newApply(b, {bprop_.at(n), ctPair}, n->loc);
      add(contrib, n->inputs[1], at(cts, 0), b);
      for (size_t k = 2; k < n->inputs.size(); ++k) add(contrib, n->inputs[k], at(at(cts, 3), (int64_t)k - 2), b);
      return;
    }
    if (isPrim && secondOrder(p) != p) {  // bprop gives (ct of input 1, ct of input 2, ...)
      Node* cts = m_.newApply(b, {bprop_.at(n), c}, n->loc);
      for (size_t k = 1; k < n->inputs.size(); ++k)
        add(contrib, n->inputs[k], call(b, Prim::CtIndex, {cts, m_.constInt((int64_t)k - 1)}, n->loc), b);
      return;
    }
    if (!isPrim || p == Prim::MethodCall || runsAsJCall(p)) {
      // cts = bprop(c): (ct of the callee, ct of each argument).
      Node* cts = m_.newApply(b, {bprop_.at(n), c}, n->loc);
      auto part = [&](int64_t k) { return call(b, Prim::CtIndex, {cts, m_.constInt(k)}, n->loc); };
      const Node* callee = n->inputs[0];
      while (!isPrim && callee->isPrimApply(Prim::Depend) && callee->inputs.size() == 3 &&
             callee->inputs[1]->isGraphConst() && lift_.liftedFunction(callee->inputs[1]->g))
        callee = callee->inputs[1];
      const std::vector<Node*>* fvs = isPrim ? nullptr : lift_.callee(callee);
      if (fvs) {  // a lifted branch: (None, ct of each captured value, ct of each argument)
        int64_t k = 1;
        for (Node* v : *fvs) add(contrib, v, part(k++), b);
        auto bound = bound_.find(n);
        if (bound != bound_.end()) {  // (by parameter; a computed default gets its parameter's)
          const Graph* g = callee->g;
          for (size_t i = 0; i < bound->second.size(); ++i, ++k) {
            int src = bound->second[i];
            if (src > 0) add(contrib, n->inputs[(size_t)src], part(k), b);
            else if (!defaultCtKey(g, i).empty()) add(contrib, g->defaults[i], part(k), b);
          }
          return;
        }
        for (size_t i = 1; i < n->inputs.size(); ++i) add(contrib, n->inputs[i], part(k++), b);
        // (bound by the runtime: the defaults' cotangents are in the callee's, J(g')'s dict)
        if (callee->isGraphConst()) addDefaults(contrib, callee, part(0), false, b);
      } else if (!isPrim || p != Prim::MethodCall) {
        for (size_t k = 0; k < n->inputs.size(); ++k) add(contrib, n->inputs[k], part((int64_t)k), b);
      } else {  // (name, recv, args...): the bound method's cotangent is its receiver's
        Node* recv = n->inputs[2];
        add(contrib, recv, call(b, Prim::GetAttrBwd, {part(0), F(recv), F(n->inputs[1])}, n->loc), b);
        for (size_t k = 3; k < n->inputs.size(); ++k) add(contrib, n->inputs[k], part((int64_t)k - 2), b);
      }
      return;
    }
    if (p == Prim::Scan || p == Prim::WhileLoop || p == Prim::TreeMap) {  // (body or cond, body), iterable or init, init; tree_map: f, trees
      Prim bp = p == Prim::Scan ? Prim::ScanBwd : p == Prim::WhileLoop ? Prim::WhileBwd : Prim::TreeMapBwd;
      Node* cts = liftedLoopBackward(n, bp, c, contrib, b);
      if (!cts) cts = call(b, bp, {bprop_.at(n), c}, n->loc);
      for (size_t k = 1; k < n->inputs.size(); ++k)
        add(contrib, n->inputs[k], call(b, Prim::CtIndex, {cts, m_.constInt((int64_t)k - 1)}, n->loc), b);
      return;
    }
    if (p == Prim::Switch) {  // the branch taken receives c
      Node* cond = F(n->inputs[1]);
      add(contrib, n->inputs[2], call(b, Prim::Switch, {cond, c, m_.constNone()}, n->loc), b);
      add(contrib, n->inputs[3], call(b, Prim::Switch, {cond, m_.constNone(), c}, n->loc), b);
      return;
    }
    if (isListAppend(n)) p = Prim::ListAppendLocal;
    if (diffKind(p) != DiffKind::Rule) return;
    RuleCtx r{m_, b, n->loc, args_.at(n), fwd_.at(n), call(b, Prim::CtFill, {c, fwd_.at(n)}, n->loc), c};
    std::vector<Node*> cts = reverseRule(p, r);
    const PrimInfo& info = primInfo(p);
    if (info.variadicNode) {
      for (size_t i = 0; i < cts.size(); ++i) add(contrib, n->inputs[i + 1], cts[i], b);
      return;
    }
    const std::vector<ParamBind>& bind = binds_.at(n);
    for (size_t i = 0; i < cts.size() && i < bind.size(); ++i) {
      if (!cts[i]) continue;
      const ParamBind& pb = bind[i];
      switch (pb.kind) {
        case ParamBind::One: add(contrib, n->inputs[pb.inputs[0]], cts[i], b); break;
        case ParamBind::Default: break;
        case ParamBind::Tuple:
          for (size_t k = 0; k < pb.inputs.size(); ++k)
            add(contrib, n->inputs[pb.inputs[k]], call(b, Prim::CtIndex, {cts[i], m_.constInt((int64_t)k)}, n->loc), b);
          break;
        case ParamBind::Dict:
          for (size_t k = 0; k < pb.inputs.size(); ++k)
            add(contrib, n->inputs[pb.inputs[k]], call(b, Prim::CtIndex, {cts[i], m_.constStr(pb.keys[k])}, n->loc), b);
          break;
      }
    }
  }
};

}  // namespace

bool isJGraph(const Graph* g) { return g->madeByJ; }

std::string defaultCtKey(const Graph* g, size_t i) {
  if (i >= g->defaults.size() || i >= g->params.size()) return "";
  const Node* d = g->defaults[i];
  // (a function value as default: its captured values' cotangents)
  return d && (!d->isConst() || d->isGraphConst()) ? g->params[i]->name : "";
}

const Node* jCaptures(const Graph* jg) {
  if (!jg->madeByJ) return nullptr;
  for (const Node* n : jg->nodes)
    if (n->name == kJCapturesName && n->isPrimApply(Prim::MakeTuple)) return n;
  return nullptr;
}

const Graph* jSource(const Graph* jg) {
  if (!jg->madeByJ) return nullptr;
  // A lifted local function: its first parameters image free variables (J.cpp, sourceNode).
  if (const Node* caps = jCaptures(jg); caps && caps->jorigin) return caps->jorigin->graph;
  if (jg->params.empty() || !jg->params[0]->jorigin) return nullptr;
  return jg->params[0]->jorigin->graph;
}

// The variants are kept among b's jvariants under keep | kNarrowed: J variants skip
// parameters, and a bprop has one, so no J variant of b has that bit.
constexpr uint64_t kNarrowed = uint64_t(1) << 63;

Graph* narrowBprop(Graph* b, uint64_t keep) {
  keep &= ~kNarrowed;
  for (auto& [mask, v] : b->jvariants)
    if (mask == (keep | kNarrowed)) return v;
  Node* out = b->output;
  Graph* v = nullptr;
  auto ownsGraphs = [&] {
    for (Node* n : b->nodes)
      for (Node* in : n->inputs)
        if (in->isGraphConst() && in->g != b && ir::isWithin(in->g, b)) return true;
    return false;
  };
  // Whether every item keep drops is None already (then b is its own narrowing).
  auto dropsNothing = [&] {
    for (size_t k = 1; k < out->inputs.size(); ++k)
      if (!(k - 1 < 64 && (keep >> (k - 1) & 1)) && !(out->inputs[k]->isConst() && out->inputs[k]->ckind == ir::ConstKind::None))
        return false;
    return true;
  };
  bool tuple = out && out->isApply() && out->graph == b && out->isPrimApply(Prim::MakeTuple) && out->kwnames.empty();
  if (tuple && dropsNothing()) {
    v = b;
  } else if (tuple && !ownsGraphs()) {
    // A copy of b (same parent: it reads b's free variables from the same closure) with
    // the unwanted items None, pruned like J's bprops with skipped parameters.
    Module& m = *b->module;
    v = m.newGraph(b->name, b->parent, b->loc);
    v->qualname = b->qualname;
    v->isFunction = b->isFunction;
    v->madeByJ = b->madeByJ;
    std::unordered_map<const Node*, Node*> map;
    for (Node* p : b->params) {
      Node* q = m.newParam(v, p->name, p->loc);
      q->abs = p->abs;
      q->jtype = p->jtype;
      map[p] = q;
    }
    v->paramKinds = b->paramKinds;
    v->defaults = b->defaults;
    auto in = [&](Node* x) {
      auto it = map.find(x);
      return it != map.end() ? it->second : x;
    };
    for (Node* n : b->nodes) {
      std::vector<Node*> ins;
      for (Node* x : n->inputs) ins.push_back(in(x));
      Node* c = m.newApply(v, std::move(ins), n->loc);
      c->kwnames = n->kwnames;
      c->name = n->name;
      c->abs = n->abs;
      c->jtype = n->jtype;
      c->jorigin = n->jorigin;
      map[n] = c;
    }
    std::vector<Node*> items{m.constPrim(Prim::MakeTuple, out->loc)};
    for (size_t k = 1; k < out->inputs.size(); ++k)
      items.push_back(k - 1 < 64 && (keep >> (k - 1) & 1) ? in(out->inputs[k]) : m.constNone());
    v->output = m.newApply(v, std::move(items), out->loc);
    Builder::prune(v);
    ir::computeFreeVars(std::vector<Graph*>{v});
  }
  b->jvariants.push_back({keep | kNarrowed, v});
  return v;
}

Graph* jGraph(Graph* g, uint64_t skipParams) {
  if (!skipParams && g->jgraph) return g->jgraph;
  for (auto& [mask, jg] : g->jvariants)
    if (mask == skipParams) return jg;
  ir::unfuse(*g->module, g);  // graph mode may have fused g (ir/Fused.h)
  Builder builder(*g->module, g, skipParams);
  Graph* jg;
  try {
    jg = builder.transform(g);
  } catch (Error& e) {  // found before g runs: no frame shows where (ir/Diagnostics.h)
    if (e.diag.traceback.empty() && e.diag.callee.empty() && e.diag.loc.valid()) e.diag.callee = functionOf(g);
    throw;
  }
  ir::computeFreeVars(builder.made());
  cleanJGraph(jg, g);  // autodiff/Clean.h: inline, tuples, symbolic zeros, DCE, CSE
  if (skipParams) g->jvariants.push_back({skipParams, jg});
  else g->jgraph = jg;
  return jg;
}

}  // namespace msl::autodiff
