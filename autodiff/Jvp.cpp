// JVP: forward-mode differentiation of a graph (see autodiff/Jvp.h for the construction).
#include "autodiff/Jvp.h"
#include "autodiff/GraphOrder.h"

#include <array>
#include <unordered_map>
#include <unordered_set>

#include "autodiff/ForwardRules.h"
#include "autodiff/J.h"
#include "ir/Fused.h"
#include "ir/Abstract.h"
#include "ir/Diagnostics.h"
#include "ir/Manager.h"

namespace msl::autodiff {

using ir::AKind;
using ir::ConstKind;
using ir::Graph;
using ir::Module;
using ir::Node;

namespace {

const char* const kCapturesName = "__jvp_captures";

// Whether a value of this abstract can have no tangent (ints, strings, functions, ...).
// Function values have none: a closure made in the differentiated function captures
// the tangents of its free variables itself.
bool noTangent(const ir::Abstract* a) {
  if (!a) return false;
  switch (a->kind) {
    case AKind::Undef: case AKind::None: case AKind::Bool: case AKind::Int: case AKind::Str:
    case AKind::DType: case AKind::Class: case AKind::Function: case AKind::Prim: case AKind::Module:
    case AKind::Token: case AKind::Slice: case AKind::Ellipsis: case AKind::Range: case AKind::Exception:
    case AKind::Global: case AKind::ClassDecl:
      return true;
    case AKind::Tensor: return a->dtypeKnown && !isFloat(a->dtype);
    default: return false;
  }
}

class Builder {
 public:
  Builder(Module& m, Graph* root) : m_(m), root_(root) {}

  Graph* transform(Graph* g) {
    auto found = jmap_.find(g);
    if (found != jmap_.end()) return found->second;
    Graph* jparent = g == root_ ? g->parent : jmap_.at(g->parent);
    Graph* jg = m_.newGraph(g->name, jparent, g->loc);
    jg->qualname = g->qualname;
    jg->isFunction = g->isFunction;
    jg->jvpSource = g;
    // The JVP of differentiated code is differentiated code: its closures belong to the
    // J expansion (world) of the code that makes them (runtime/Interpreter.cpp).
    jg->madeByJ = g->madeByJ;
    jmap_[g] = jg;
    made_.push_back(jg);
    for (Node* p : g->params) {
      fwd_[p] = m_.newParam(jg, p->name, p->loc);
      fwd_[p]->abs = p->abs;  // the same values: rules may read what is known of them
    }
    for (Node* p : g->params) {
      Node* tp = m_.newParam(jg, "t_" + p->name, p->loc);
      tan_[p] = noTangent(p->abs) ? nullptr : tp;
    }
    // The tangents bind positionally; the runtime binds arguments with g's signature.
    if (g == root_ && g->madeByJ) {
      // J of a function whose captured values have tangents (jvp of a gradient): one more
      // parameter per free variable, its tangent.
      for (Node* fv : g->freeVars) {
        Node* tp = m_.newParam(jg, "t_" + fv->name, fv->loc);
        tan_[fv] = noTangent(fv->abs) ? nullptr : tp;
      }
    }
    jg->paramKinds.assign(jg->params.size(), ir::ParamKind::Positional);
    jg->defaults.clear();  // (newParam made one empty slot per parameter)
    for (Node* d : g->defaults) jg->defaults.push_back(d ? F(d) : nullptr);
    jg->defaults.resize(jg->params.size(), nullptr);
    if (g != root_ && g->isFunction && !g->madeByJ) {
      // A local function: its closure records the values and tangents of its free
      // variables in a known order (jvpCaptures), so that grad of it can be run under JVP.
      std::vector<Node*> caps;
      for (Node* fv : g->freeVars) caps.insert(caps.end(), {F(fv), TorNone(fv)});
      call(jg, Prim::MakeTuple, caps, g->loc)->name = kCapturesName;
    }

    for (Node* n : transformOrder(g, [this](const Graph* h) { return nested(h); })) {
      cur_ = n;
      forward(n, jg);
    }
    Node* tout = T(g->output);
    jg->output = call(jg, Prim::MakeTuple, {F(g->output), tout ? tout : m_.constNone()}, g->loc);
    return jg;
  }

  const std::vector<Graph*>& made() const { return made_; }
  const Node* cur_ = nullptr;  // the node being transformed (for errors)

 private:
  Module& m_;
  Graph* root_;
  std::unordered_map<const Graph*, Graph*> jmap_;
  std::unordered_map<const Node*, Node*> fwd_;  // node -> its value in the JVP graph
  std::unordered_map<const Node*, Node*> tan_;  // node -> its tangent (nullptr: zero)
  std::vector<Graph*> made_;

  bool nested(const Graph* g) const { return g && ir::isWithin(g, root_); }

  Node* F(Node* n) {
    if (n->isConst()) {
      if (n->isGraphConst() && nested(n->g)) return m_.constGraph(transform(n->g), n->loc);
      return n;
    }
    auto found = fwd_.find(n);
    return found != fwd_.end() ? found->second : n;  // a value captured from outside
  }
  Node* T(Node* n) {
    if (n->isConst()) return nullptr;
    auto found = tan_.find(n);
    return found != tan_.end() ? found->second : nullptr;  // from outside: zero
  }
  Node* TorNone(Node* n) {
    Node* t = T(n);
    return t ? t : m_.constNone();
  }

  Node* call(Graph* g, Prim p, std::vector<Node*> args, SourceLoc loc) {
    args.insert(args.begin(), m_.constPrim(p, loc));
    return m_.newApply(g, std::move(args), loc);
  }

  void setTangent(Node* n, Node* t) { tan_[n] = noTangent(n->abs) ? nullptr : t; }

  // (out, tangent) = node r: records both halves for n.
  void pairResult(Node* n, Graph* jg, Node* r) {
    fwd_[n] = call(jg, Prim::TupleGetItem, {r, m_.constInt(0)}, n->loc);
    fwd_[n]->name = n->name;
    fwd_[n]->abs = n->abs;
    setTangent(n, call(jg, Prim::TupleGetItem, {r, m_.constInt(1)}, n->loc));
  }

  // The arguments inputs[first..] of n as (args, t_args, kwargs, t_kwargs): two tuples of
  // the positional ones and their tangents, two dicts of the keyword ones and theirs.
  std::array<Node*, 4> argsAndTangents(Node* n, Graph* jg, size_t first) {
    std::vector<Node*> pos, tpos, kw, tkw;
    size_t npos = n->numPositional();
    for (size_t i = first; i < n->inputs.size(); ++i) {
      Node* in = n->inputs[i];
      if (i <= npos) {
        pos.push_back(F(in));
        tpos.push_back(TorNone(in));
      } else {
        const std::string& k = n->kwnames[i - 1 - npos];
        kw.insert(kw.end(), {m_.constStr(k), F(in)});
        tkw.insert(tkw.end(), {m_.constStr(k), TorNone(in)});
      }
    }
    return {call(jg, Prim::MakeTuple, pos, n->loc), call(jg, Prim::MakeTuple, tpos, n->loc),
            call(jg, Prim::MakeDict, kw, n->loc), call(jg, Prim::MakeDict, tkw, n->loc)};
  }

  // __jvpcall(fn, t_fn, args, t_args, kwargs, t_kwargs) for the arguments inputs[first..].
  void jvpCall(Node* n, Graph* jg, Node* fn, Node* tfn, size_t first) {
    auto a = argsAndTangents(n, jg, first);
    Node* r = call(jg, Prim::JvpCall, {fn, tfn ? tfn : m_.constNone(), a[0], a[1], a[2], a[3]}, n->loc);
    pairResult(n, jg, r);
  }

  Node* copy(Node* n, Graph* jg) {
    std::vector<Node*> in;
    for (Node* i : n->inputs) in.push_back(F(i));
    Node* c = m_.newApply(jg, in, n->loc);
    c->kwnames = n->kwnames;
    c->name = n->name;
    c->abs = n->abs;
    fwd_[n] = c;
    return c;
  }

  void forward(Node* n, Graph* jg) {
    Prim p;
    if (!primCall(n, &p)) {
      // A call of a function value. A function from outside called with arguments that
      // have no tangent and hold no function (a closure made here captures tangents)
      // needs no transform; anything else goes through __jvpcall.
      Node* callee = n->inputs[0];
      bool plain = callee->isGraphConst() && !nested(callee->g);
      for (size_t i = 1; plain && i < n->inputs.size(); ++i) {
        Node* in = n->inputs[i];
        if (T(in) || (in->isGraphConst() && nested(in->g))) plain = false;
        else if (!in->isConst() && (!in->abs || in->abs->kind == AKind::Any || in->abs->hasFunctions)) plain = false;
      }
      if (plain) {
        copy(n, jg);
        return;
      }
      jvpCall(n, jg, F(callee), T(callee), 1);
      return;
    }
    switch (p) {
      case Prim::MethodCall: {
        // method_call(name, recv, args...): the bound method, whose tangent is its receiver's.
        Node* bm = call(jg, Prim::GetAttr, {F(n->inputs[2]), F(n->inputs[1])}, n->loc);
        jvpCall(n, jg, bm, T(n->inputs[2]), 3);
        return;
      }
      case Prim::Scan: {  // scan(body, iterable, init)
        Node* r = call(jg, Prim::ScanJvp,
                       {F(n->inputs[1]), F(n->inputs[2]), F(n->inputs[3]), TorNone(n->inputs[2]), TorNone(n->inputs[3])}, n->loc);
        pairResult(n, jg, r);
        return;
      }
      case Prim::WhileLoop: {  // while_loop(cond, body, init)
        Node* r = call(jg, Prim::WhileJvp, {F(n->inputs[1]), F(n->inputs[2]), F(n->inputs[3]), TorNone(n->inputs[3])}, n->loc);
        pairResult(n, jg, r);
        return;
      }
      case Prim::Switch: {  // switch(c, a, b): the tangent of the value picked
        copy(n, jg);
        Node *a = n->inputs[2], *b = n->inputs[3];
        if (T(a) || T(b)) {
          auto z = [&](Node* v) { return T(v) ? T(v) : call(jg, Prim::TreeZerosLike, {F(v)}, n->loc); };
          setTangent(n, call(jg, Prim::Switch, {F(n->inputs[1]), z(a), z(b)}, n->loc));
        }
        return;
      }
      case Prim::Partial: {
        // partial(fn, *args, **kw): its tangent is ((t_args...), {kw: t}) when one exists;
        // __jvpcall hands it to the bound arguments.
        copy(n, jg);
        size_t npos = n->numPositional();
        std::vector<Node*> tpos, tkw;
        bool any = false;
        for (size_t i = 2; i < n->inputs.size(); ++i) {
          any = any || T(n->inputs[i]);
          if (i <= npos) tpos.push_back(TorNone(n->inputs[i]));
          else tkw.insert(tkw.end(), {m_.constStr(n->kwnames[i - 1 - npos]), TorNone(n->inputs[i])});
        }
        if (any)
          tan_[n] = call(jg, Prim::MakeTuple, {call(jg, Prim::MakeTuple, tpos, n->loc), call(jg, Prim::MakeDict, tkw, n->loc)}, n->loc);
        return;
      }
      case Prim::MethodUpdate: {
        // method_update(name, recv, args...): the receiver after a statement `recv.m(args)`.
        // The updates of lists and dicts (append, extend, ...) are linear: the same update
        // of the tangent; a record's method leaves the receiver as it was.
        Node* c = copy(n, jg);
        bool anyT = false;
        for (size_t i = 2; i < n->inputs.size(); ++i) anyT = anyT || T(n->inputs[i]);
        if (!anyT) return;
        Node* name = n->inputs[1];
        static const char* kLinear[] = {"append", "extend", "insert", "pop", "reverse", "clear", "update"};
        bool linear = false;
        for (const char* k : kLinear) linear = linear || (name->isConst() && name->ckind == ConstKind::Str && name->s == k);
        Node* recv = n->inputs[2];
        if (linear) {
          std::vector<Node*> in = c->inputs;
          for (size_t i = 2; i < n->inputs.size(); ++i)
            in[i] = T(n->inputs[i]) ? T(n->inputs[i]) : call(jg, Prim::TreeZerosLike, {F(n->inputs[i])}, n->loc);
          Node* t = m_.newApply(jg, in, n->loc);
          t->kwnames = n->kwnames;
          setTangent(n, t);
        } else if (recv->abs && recv->abs->kind == AKind::Record) {
          setTangent(n, T(recv));
        } else {
          raise(DiagId::NotSupportedYet, n->loc, {whatOf(p)});
        }
        return;
      }
      // Reverse mode's calls and loops in a gradient graph (jvp of a gradient): run under
      // JVP by the runtime (__jvp_of_j), which knows the J expansion's world.
      case Prim::JCall: case Prim::JEnter: case Prim::ScanJ: case Prim::ScanBwd: case Prim::WhileJ:
      case Prim::WhileBwd: case Prim::TreeMapJ: case Prim::TreeMapBwd: {
        auto a = argsAndTangents(n, jg, 1);
        Node* r = call(jg, Prim::JvpOfJ, {m_.constPrim(p, n->loc), a[0], a[1], a[2], a[3]}, n->loc);
        pairResult(n, jg, r);
        return;
      }
      case Prim::Vjp: {
        // vjp(f, *xs) = (out, partial(vjp_call, bprop, xs)) where (out, bprop) =
        // __jenter(f, None, "vjp", xs, {}); the partial's tangent is that of its bound xs.
        std::vector<Node*> xs, txs;
        for (size_t i = 2; i < n->inputs.size(); ++i) {
          xs.push_back(F(n->inputs[i]));
          txs.push_back(TorNone(n->inputs[i]));
        }
        Node* none = m_.constNone();
        Node* args = call(jg, Prim::MakeTuple, xs, n->loc);
        Node* targs = call(jg, Prim::MakeTuple, txs, n->loc);
        Node* empty = call(jg, Prim::MakeDict, {}, n->loc);
        Node* r = call(jg, Prim::JvpOfJ,
                       {m_.constPrim(Prim::JEnter, n->loc),
                        call(jg, Prim::MakeTuple, {F(n->inputs[1]), none, m_.constStr("vjp"), args, empty}, n->loc),
                        call(jg, Prim::MakeTuple, {none, none, none, targs, empty}, n->loc), empty, empty},
                       n->loc);
        auto at = [&](Node* v, int64_t k) { return call(jg, Prim::TupleGetItem, {v, m_.constInt(k)}, n->loc); };
        Node* rv = at(r, 0);
        fwd_[n] = call(jg, Prim::MakeTuple, {at(rv, 0), call(jg, Prim::VjpMake, {at(rv, 1), args}, n->loc)}, n->loc);
        fwd_[n]->name = n->name;
        Node* tfn = call(jg, Prim::MakeTuple, {call(jg, Prim::MakeTuple, {none, targs}, n->loc), empty}, n->loc);
        setTangent(n, call(jg, Prim::MakeTuple, {at(at(r, 1), 0), tfn}, n->loc));
        return;
      }
      // Functions that make functions: their values have no tangent of their own.
      case Prim::Grad: case Prim::ValueAndGrad: case Prim::Jacobian: case Prim::CustomVjp: case Prim::Jit: case Prim::Vmap:
        copy(n, jg);
        return;
      default: break;
    }
    DiffKind kind = diffKind(p);
    if (kind == DiffKind::Zero) {
      copy(n, jg);
      return;
    }
    if (kind != DiffKind::Rule) {
      // No reverse rule yet, but a forward rule: the helpers of reverse mode, list appends.
      bool isHelper = p == Prim::SumBwd || p == Prim::MinMaxBwd || p == Prim::MatMulBwd || p == Prim::GetItemBwd ||
                      p == Prim::GetAttrBwd || p == Prim::TransposeBwd || p == Prim::ConcatBwd || p == Prim::UnpackBwd ||
                      p == Prim::TensorNewBwd || p == Prim::SeqBwd || p == Prim::NNBwd || p == Prim::CtFill ||
                      p == Prim::ListAppend;
      if (!isHelper) raise(DiagId::NotSupportedYet, n->loc, {whatOf(p)});
    }
    Node* c = copy(n, jg);
    FwdCtx r{m_, jg, n->loc, c, {}, {}, {}, {}};
    bool any = false;
    r.inT.push_back(nullptr);  // the callee
    for (size_t i = 1; i < n->inputs.size(); ++i) {
      r.inT.push_back(T(n->inputs[i]));
      any = any || r.inT.back();
    }
    if (!any) return;
    bindForward(p, r);
    Node* t = nullptr;
    if (!forwardRule(p, r, &t)) raise(DiagId::NotSupportedYet, n->loc, {whatOf(p)});
    setTangent(n, t);
  }

  static std::string whatOf(Prim p) {
    switch (p) {
      case Prim::CallEx: return "jvp of a call with *args or **kwargs";
      case Prim::SetItem: return "jvp through an item assignment";
      case Prim::SetAttr: return "jvp through an attribute assignment";
      case Prim::MethodUpdate: return "jvp through an updating method call";
      case Prim::GradCall: case Prim::VjpCall: case Prim::Jvp: case Prim::JvpCall: case Prim::JacobianCall:
        return "jvp of a function that differentiates (higher-order derivatives)";
      case Prim::JCallJ: case Prim::JEnterJ: case Prim::ScanJJ: case Prim::ScanBwdJ: case Prim::WhileJJ:
      case Prim::WhileBwdJ: case Prim::LoopJBprop: case Prim::TreeMapJJ: case Prim::TreeMapBwdJ:
        return "jvp of a second derivative (third-order derivatives)";
      default: return std::string("jvp of '") + primName(p) + "'";
    }
  }
};

}  // namespace

const Node* jvpCaptures(const Graph* jg) {
  if (!jg->jvpSource || jg->nodes.empty()) return nullptr;
  const Node* c = jg->nodes[0];
  return c->isPrimApply(Prim::MakeTuple) && c->name == kCapturesName ? c : nullptr;
}

Graph* jvpGraph(Graph* g) {
  if (g->jvpgraph) return g->jvpgraph;
  ir::unfuse(*g->module, g);  // graph mode may have fused g (ir/Fused.h)
  Builder builder(*g->module, g);
  Graph* jg;
  try {
    jg = builder.transform(g);
  } catch (Error& e) {
    // Found before the function runs: no frame shows where it is (ir/Diagnostics.h).
    if (e.diag.traceback.empty() && e.diag.callee.empty() && e.diag.loc.valid() && builder.cur_)
      e.diag.callee = functionOf(builder.cur_->graph);
    throw;
  }
  ir::computeFreeVars(builder.made());
  g->jvpgraph = jg;
  return jg;
}

}  // namespace msl::autodiff
