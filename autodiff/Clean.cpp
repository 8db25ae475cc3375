// Cleaning of J's graphs (see autodiff/Clean.h for the rewrites and their conditions).
#include "autodiff/Clean.h"
#include "autodiff/J.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "ir/Abstract.h"
#include "ir/Literal.h"
#include "ir/Diagnostics.h"
#include "ir/Manager.h"
#include "ir/ShapeRules.h"
#include "ir/Verifier.h"

namespace msl::autodiff {

using ir::Abstract;
using ir::AKind;
using ir::ConstKind;
using ir::Graph;
using ir::Module;
using ir::Node;

namespace {

constexpr size_t kMaxInlineNodes = 400;  // a callee larger than this (with its nested graphs) stays a call
constexpr int kMaxInlines = 2000;        // per cleaning: bounds the work on deep call chains
constexpr int kMaxRounds = 50;
constexpr int kMaxNarrowPasses = 8;  // nested lifted branches narrowed per cleaning

// Answers calls, loops and globals with Any: the propagation only needs primitives.
class AnyHost : public ir::RuleHost {
 public:
  const Abstract* call(const Abstract*, const std::vector<const Abstract*>&, const ir::KwArgs&) override {
    return Abstract::any();
  }
  const Abstract* whileLoop(const Abstract*, const Abstract*, const Abstract*) override { return Abstract::any(); }
  const Abstract* scan(const Abstract*, const Abstract*, const Abstract*) override { return Abstract::any(); }
  const Abstract* globalValue(const ir::GlobalVar*) override { return Abstract::any(); }
  void globalAssigned(const ir::GlobalVar*, const Abstract*) override {}
  void moduleImported(const Module*) override {}
  ir::Dim freshDim() override { return ir::Dim::fresh(); }
  ir::SymbolSupply* joinSymbols() override { return nullptr; }
};

bool isNoneConst(const Node* n) { return n->isConst() && n->ckind == ConstKind::None; }
bool isIntConst(const Node* n) { return n->isConst() && n->ckind == ConstKind::Int; }

// A float tensor of known dtype and static shape.
bool staticFloatTensor(const Abstract* a) {
  if (!a || !a->isTensor() || !a->dtypeKnown || !a->rankKnown || !isFloat(a->dtype)) return false;
  for (const ir::Dim& d : a->shape)
    if (!d.isStatic()) return false;
  return true;
}

// Helpers that return None when their cotangent (first argument) is None, before looking
// at anything else (runtime/AutodiffPrims.cpp).
bool noneInNoneOut(Prim p) {
  switch (p) {
    case Prim::CtIndex: case Prim::Unbroadcast: case Prim::SumBwd: case Prim::MinMaxBwd:
    case Prim::MatMulBwd: case Prim::GetItemBwd: case Prim::GetAttrBwd: case Prim::TransposeBwd:
    case Prim::UnpackBwd: case Prim::TensorNewBwd: case Prim::SeqBwd:
      return true;
    default:
      return false;
  }
}

// The primitive a node applies directly (not through depend).
bool primOf(const Node* n, Prim* p) { return n->callsPrim(p); }

bool pureEffect(Prim p) { return primInfo(p).effect != PrimEffect::Io; }

// A Pure primitive that calls function values it is given (whose effects it then has).
bool callsFunctions(const Node* n, Prim p) {
  auto hasKey = [&] { return std::find(n->kwnames.begin(), n->kwnames.end(), "key") != n->kwnames.end(); };
  switch (p) {
    case Prim::WhileLoop: case Prim::Scan: case Prim::TreeMap: return true;
    case Prim::Sorted: return n->numPositional() > 1 || hasKey();
    case Prim::Min: case Prim::Max: return hasKey();
    default: return false;
  }
}

class Cleaner {
 public:
  Cleaner(Graph* root, const Graph* primal) : m_(*root->module), root_(root), primal_(primal) {}

  CleanStats run() {
    collectScope();
    for (Graph* g : scope_) repairDefaults(g);
    for (int pass = 0;; ++pass) {
      for (int round = 0; round < kMaxRounds; ++round) {
        ++stats_.rounds;
        int before = stats_.total();
        collectScope();
        propagate();
        std::vector<Graph*> touched = scope_;
        for (size_t k = 0; k < touched.size(); ++k) sweep(touched[k], touched);
        resolveAll(touched);
        collectScope();
        dce();
        if (stats_.total() == before) break;
      }
      collectScope();
      narrowLoopBwds();
      narrowJCalls();
      // (the branches' bprops narrowed: clean again, and narrow the calls inside them)
      if (pass == kMaxNarrowPasses || !(narrowLiftedBranches() | narrowLiftedLoops())) break;
    }
    emptyOrphans();
    collectScope();
    noteTensorTypes();
    ir::computeFreeVars(scope_);
    return stats_;
  }

 private:
  Module& m_;
  Graph* root_;
  const Graph* primal_;
  CleanStats stats_;
  std::vector<Graph*> scope_;               // root and the graphs reachable from it inside it
  std::unordered_set<Graph*> seen_;         // every graph ever in scope
  std::unordered_map<Node*, Node*> repl_;   // node -> the node now standing for it (this round)
  std::unordered_map<const Node*, const Abstract*> abs_;
  int inlineBudget_ = kMaxInlines;
  // For nodes put in by inlining: the callees they were copied from, innermost last (a
  // callee already on the chain is not inlined again: that is recursion).
  using Chain = std::shared_ptr<const std::vector<const Graph*>>;
  std::unordered_map<const Node*, Chain> chain_;

  bool inScope(const Graph* g) const { return g && ir::isWithin(g, root_); }

  // ---------------------------------------------------------------- scope

  void collectScope() {
    scope_.clear();
    std::unordered_set<Graph*> in{root_};
    scope_.push_back(root_);
    auto visit = [&](Node* c) {
      if (c && c->isGraphConst() && inScope(c->g) && in.insert(c->g).second) scope_.push_back(c->g);
    };
    for (size_t k = 0; k < scope_.size(); ++k) {
      Graph* g = scope_[k];
      for (Node* n : g->nodes)
        for (Node* i : n->inputs) visit(i);
      visit(g->output);
      for (Node* d : g->defaults) visit(d);
    }
    // Enclosing graphs first (the propagation reads free variables' abstracts).
    auto depth = [](const Graph* g) {
      int d = 0;
      for (; g; g = g->parent) ++d;
      return d;
    };
    std::stable_sort(scope_.begin(), scope_.end(), [&](Graph* a, Graph* b) { return depth(a) < depth(b); });
    for (Graph* g : scope_) seen_.insert(g);
  }

  // J copies its primal's defaults after the slots newParam already made (one per
  // parameter, all empty): the real defaults are the last params.size() entries.
  static void repairDefaults(Graph* g) {
    size_t n = g->params.size();
    if (g->defaults.size() != 2 * n || n == 0) return;
    for (size_t k = 0; k < n; ++k)
      if (g->defaults[k]) return;
    g->defaults.erase(g->defaults.begin(), g->defaults.begin() + (long)n);
  }

  // Graphs that no longer take part: emptied, so that nothing refers to removed nodes.
  void emptyOrphans() {
    std::unordered_set<Graph*> live(scope_.begin(), scope_.end());
    for (Graph* g : seen_) {
      if (live.count(g)) continue;
      g->nodes.clear();
      g->output = m_.constNone();
      for (Node*& d : g->defaults) d = nullptr;
      g->freeVars.clear();
    }
  }

  // ---------------------------------------------------------------- abstracts

  // The types of the J graph's values, noted in Node::jtype for graph mode's passes
  // (fusion of its chains, docs/fusion.md "Differentiated graphs"), not put in
  // Node::abs: the cleaner's rewrites, and vmap and jvp of J graphs, read that as facts
  // about values they may see batched. The forward values' come from the primal (J.cpp
  // forwardAbs), the backward pass's are the tensor types propagated from them by the
  // shape rules and the cotangent convention (a cotangent has its primal's dtype and
  // shape), which only a caller of f_vjp or a custom_vjp bwd can break: fused kernels of
  // J graphs check their inputs and run their chain by eager kernels when it is broken
  // (runtime/FusedKernel.h FusedKernel::chain).
  void noteTensorTypes() {
    ir::TemporaryAbstracts jtypes;
    for (Graph* g : scope_) {
      for (Node* p : g->params) jtypes.set(p, p->jtype);
      for (Node* n : g->nodes) jtypes.set(n, n->jtype);
    }
    propagate();
    auto note = [&](Node* n) {
      if (n->abs) return;
      auto it = abs_.find(n);
      if (it != abs_.end() && it->second->isTensor() && !it->second->hasFunctions) n->jtype = it->second;
    };
    for (Graph* g : scope_) {
      for (Node* p : g->params) note(p);
      for (Node* n : g->nodes) note(n);
    }
  }

  const Abstract* absOf(const Node* n) const {
    if (n->abs) return n->abs;
    if (n->isConst()) return ir::literalAbstract(n);
    auto it = abs_.find(n);
    return it == abs_.end() ? nullptr : it->second;
  }

  void propagate() {
    abs_.clear();
    if (primal_ && primal_->params.size() == root_->params.size())
      for (size_t i = 0; i < root_->params.size(); ++i)
        if (primal_->params[i]->abs) abs_[root_->params[i]] = primal_->params[i]->abs;
    seedNestedParams();
    AnyHost host;
    for (Graph* g : scope_)
      for (Node* n : g->nodes) {
        const Abstract* a = inferNode(n, host);
        if (a && !a->isAny()) abs_[n] = a;
      }
  }

  const Abstract* inferNode(const Node* n, ir::RuleHost& host) const {
    if (n->abs) return n->abs;
    Prim p;
    if (!primOf(n, &p)) return nullptr;
    auto arg = [&](size_t k) { return absOf(n->inputs[k]); };
    switch (p) {  // the helpers follow the cotangent convention (a primal's shape and dtype)
      case Prim::CtFill: {  // zeros like `like`, or the cotangent of `like`
        const Abstract* like = n->inputs.size() == 3 && n->kwnames.empty() ? arg(2) : nullptr;
        if (like && like->is(AKind::Float)) {
          // A Python float's cotangent is a float by convention, but one made by f32 math
          // (sin of a float computes in f32) is a 0-d tensor: not a float where the
          // cotangent, or a contribution summed into it, is known to be something else.
          const Node* c = n->inputs[1];
          auto other = [&](const Node* v) { const Abstract* a = absOf(v); return a && !a->is(AKind::Float) && !a->is(AKind::None); };
          if (other(c)) return nullptr;
          if (c->isPrimApply(Prim::CtAdd))
            for (size_t k = 1; k < c->inputs.size(); ++k)
              if (other(c->inputs[k])) return nullptr;
          return Abstract::real();
        }
        return staticFloatTensor(like) ? like : nullptr;
      }
      case Prim::Unbroadcast:  // like's shape and dtype (a Python float for a float)
      case Prim::SumBwd: {     // x's shape and dtype
        if (n->inputs.size() < 3 || !n->kwnames.empty()) return nullptr;
        const Abstract *c = arg(1), *like = arg(2);
        if (!c || !(c->isTensor() || (p == Prim::Unbroadcast && c->is(AKind::Float)))) return nullptr;
        if (p == Prim::Unbroadcast && like && like->is(AKind::Float)) return Abstract::real();
        return staticFloatTensor(like) ? like : nullptr;
      }
      case Prim::MatMulBwd: {  // the shape and dtype of x (which=0) or y (1)
        if (n->inputs.size() != 5 || !n->kwnames.empty() || !isIntConst(n->inputs[4])) return nullptr;
        const Abstract *c = arg(1), *self = arg(n->inputs[4]->i == 0 ? 2 : 3);
        return c && c->isTensor() && staticFloatTensor(self) ? self : nullptr;
      }
      case Prim::CtAdd: {
        if (n->inputs.size() != 3 || !n->kwnames.empty()) return nullptr;
        const Abstract *a = arg(1), *b = arg(2);
        if (a && b && a->is(AKind::Float) && b->is(AKind::Float)) return Abstract::real();
        return a && a == b && staticFloatTensor(a) ? a : nullptr;
      }
      default: break;
    }
    const PrimInfo& info = primInfo(p);
    size_t npos = n->numPositional();
    std::vector<const Abstract*> pos;
    ir::KwArgs kw;
    for (size_t k = 1; k < n->inputs.size(); ++k) {
      const Abstract* a = arg(k);
      if (!a) a = Abstract::any();
      if (k <= npos) pos.push_back(a);
      else kw.push_back({n->kwnames[k - 1 - npos], a});
    }
    try {
      ir::RuleResult r;
      if (info.variadicNode) {
        std::vector<const Abstract*> all = pos;
        for (auto& [name, a] : kw) all.push_back(a);
        r = ir::inferPrim(p, all, n->kwnames, host);
      } else {
        std::vector<const Abstract*> bound;
        if (!ir::bindPrimArgs(p, pos, kw, &bound, &r)) return nullptr;
        r = ir::inferPrim(p, bound, {}, host);
      }
      if (r.failed || !r.value || r.value->isBottom()) return nullptr;
      return r.value;
    } catch (...) {
      return nullptr;
    }
  }

  // Whether n's value can never be None.
  bool nonNone(const Node* n) const {
    if (n->isConst()) return n->ckind != ConstKind::None && n->ckind != ConstKind::Undef;
    Prim p;
    if (primOf(n, &p) && (p == Prim::CtFill || p == Prim::MakeTuple || p == Prim::MakeList || p == Prim::MakeDict))
      return true;
    const Abstract* a = absOf(n);
    if (!a) return false;
    switch (a->kind) {
      case AKind::Tensor: case AKind::Float: case AKind::Int: case AKind::Bool: case AKind::Str:
      case AKind::Tuple: case AKind::List: case AKind::Dict: case AKind::Record:
        return true;
      default:
        return false;
    }
  }

  // ---------------------------------------------------------------- rewriting

  Node* resolve(Node* n) {
    if (!n) return n;
    for (auto it = repl_.find(n); it != repl_.end(); it = repl_.find(n)) n = it->second;
    return n;
  }

  void resolveAll(const std::vector<Graph*>& graphs) {
    for (Graph* g : graphs) {
      for (Node* n : g->nodes)
        for (Node*& i : n->inputs) i = resolve(i);
      g->output = resolve(g->output);
      for (Node*& d : g->defaults) d = resolve(d);
      if (!repl_.empty())
        g->nodes.erase(std::remove_if(g->nodes.begin(), g->nodes.end(), [&](Node* n) { return repl_.count(n) > 0; }),
                       g->nodes.end());
    }
    repl_.clear();
  }

  // A key identifying a pure application by callee, inputs and keywords (constants by value).
  static void keyOf(const Node* in, std::string* key) {
    if (!in->isConst()) {
      key->append("n");
      key->append(reinterpret_cast<const char*>(&in), sizeof in);
      return;
    }
    key->push_back('c');
    key->push_back((char)in->ckind);
    switch (in->ckind) {
      case ConstKind::Bool: key->push_back(in->b ? '1' : '0'); break;
      case ConstKind::Int: key->append(std::to_string(in->i)); break;
      case ConstKind::Float: {
        uint64_t bits;
        std::memcpy(&bits, &in->f, sizeof bits);
        key->append(std::to_string(bits));
        break;
      }
      case ConstKind::Str: key->append(std::to_string(in->s.size()) + ":" + in->s); break;
      case ConstKind::DType: key->append(std::to_string((int)in->dtype)); break;
      case ConstKind::Prim: key->append(std::to_string((int)in->prim)); break;
      case ConstKind::Graph: key->append(reinterpret_cast<const char*>(&in->g), sizeof in->g); break;
      case ConstKind::None: case ConstKind::Ellipsis: case ConstKind::Token: break;
      default: key->append(reinterpret_cast<const char*>(&in), sizeof in); break;  // by identity
    }
    key->push_back(';');
  }

  void sweep(Graph* g, std::vector<Graph*>& touched) {
    std::unordered_map<std::string, Node*> cse;
    for (size_t i = 0; i < g->nodes.size();) {
      Node* n = g->nodes[i];
      if (repl_.count(n)) {
        ++i;
        continue;
      }
      for (Node*& in : n->inputs) in = resolve(in);
      if (Node* r = rewrite(n)) {
        repl_[n] = r;
        ++i;
        continue;
      }
      if (partialJCall(n, g, i)) continue;  // (the new __jcall is next)
      // partial(f, a...)(b...) -> f(a..., b...); __jcall(J graph, a...) -> the graph's call
      Node* callee = n->inputs[0];
      bool isPartial = callee->isApply() && callee->isPrimApply(Prim::Partial) && callee->kwnames.empty() &&
                       callee->inputs.size() >= 2;
      if (isPartial || directJCall(n)) {
        std::vector<Node*> in;
        if (isPartial) in.assign(callee->inputs.begin() + 1, callee->inputs.end());
        in.insert(in.end(), n->inputs.begin() + 1, n->inputs.end());
        Node* c = m_.newApply(g, std::move(in), n->loc);
        g->nodes.pop_back();
        c->kwnames = n->kwnames;
        c->name = n->name;
        g->nodes.insert(g->nodes.begin() + (long)i, c);
        repl_[n] = c;
        ++(isPartial ? stats_.partials : stats_.jcalls);
        continue;  // c is next
      }
      if (inlinable(n, g)) {
        size_t added = inlineCall(n, g, i, touched);
        (void)added;
        ++stats_.inlined;
        continue;  // the callee's first node is next
      }
      // CSE of pure primitive applications.
      Prim p;
      if (primOf(n, &p) && primInfo(p).effect == PrimEffect::Pure && !callsFunctions(n, p) && n->name != kJCapturesName) {
        std::string key;
        for (const Node* in : n->inputs) keyOf(in, &key);
        for (const std::string& k : n->kwnames) key += "k" + k + ";";
        auto [it, fresh] = cse.emplace(std::move(key), n);
        if (!fresh) {
          repl_[n] = it->second;
          ++stats_.cse;
        }
      }
      ++i;
    }
  }

  // __jcall(partial(F, a...), b...) where F is a J graph of this expansion taking a..., b...
  // one to one (a lifted local function, autodiff/Lift.h, called through a value cleaning
  // resolved, e.g. the argument of an inlined local function): __jcall(F, a..., b...),
  // which is then inlined, its bprop's cotangents arranged as the runtime arranges a
  // partial's: ((ct_fn, (ct of each a), {}), ct of each b). Replaces n (at position i of g)
  // by (out, bprop') with the new nodes placed at i.
  bool partialJCall(Node* n, Graph* g, size_t i) {
    if (!n->isPrimApply(Prim::JCall) || !n->kwnames.empty() || n->inputs.size() < 2) return false;
    Node* p = n->inputs[1];
    if (!p->isPrimApply(Prim::Partial) || !p->kwnames.empty() || p->inputs.size() < 2) return false;
    Node* f = p->inputs[1];
    size_t na = p->inputs.size() - 2, nb = n->inputs.size() - 2;
    if (!f->isGraphConst() || !f->g->madeByJ || !inScope(f->g) || f->g->params.size() != na + nb ||
        f->g->paramKinds.size() != na + nb)
      return false;
    for (ir::ParamKind k : f->g->paramKinds)
      if (k != ir::ParamKind::Positional) return false;
    size_t before = g->nodes.size();
    std::vector<Node*> in{n->inputs[0], f};
    in.insert(in.end(), p->inputs.begin() + 2, p->inputs.end());
    in.insert(in.end(), n->inputs.begin() + 2, n->inputs.end());
    Node* t = m_.newApply(g, std::move(in), n->loc);
    auto prim = [&](Graph* h, Prim q, std::vector<Node*> args) {
      args.insert(args.begin(), m_.constPrim(q, n->loc));
      return m_.newApply(h, std::move(args), n->loc);
    };
    Node* out = prim(g, Prim::TupleGetItem, {t, m_.constInt(0)});
    Node* bp = prim(g, Prim::TupleGetItem, {t, m_.constInt(1)});
    Graph* w = m_.newGraph(f->g->name + ".bprop", g, n->loc);
    w->qualname = f->g->qualname + ".bprop";
    w->madeByJ = true;
    Node* ct = m_.newParam(w, "ct", n->loc);
    Node* r = m_.newApply(w, {bp, ct}, n->loc);
    auto at = [&](size_t k) { return prim(w, Prim::CtIndex, {r, m_.constInt((int64_t)k)}); };
    std::vector<Node*> bound;
    for (size_t k = 0; k < na; ++k) bound.push_back(at(1 + k));
    std::vector<Node*> items{prim(w, Prim::MakeTuple, {at(0), prim(w, Prim::MakeTuple, bound), prim(w, Prim::MakeDict, {})})};
    for (size_t k = 0; k < nb; ++k) items.push_back(at(1 + na + k));
    w->output = prim(w, Prim::MakeTuple, items);
    Node* pair = prim(g, Prim::MakeTuple, {out, m_.constGraph(w, n->loc)});
    std::vector<Node*> added(g->nodes.begin() + (long)before, g->nodes.end());
    g->nodes.resize(before);
    g->nodes.insert(g->nodes.begin() + (long)i, added.begin(), added.end());
    repl_[n] = pair;
    seen_.insert(w);
    ++stats_.partials;
    return true;
  }

  // __jcall(g, a...) of a graph J made, with arguments that bind one to one to its
  // positional parameters: the interpreter runs g on them (Interpreter::jcall), so it is
  // the call g(a...).
  static bool directJCall(const Node* n) {
    if (!n->isPrimApply(Prim::JCall) || !n->kwnames.empty() || n->inputs.size() < 2) return false;
    const Node* f = n->inputs[1];
    if (!f->isGraphConst() || !f->g->madeByJ || f->g->params.size() != n->inputs.size() - 2) return false;
    for (ir::ParamKind k : f->g->paramKinds)
      if (k != ir::ParamKind::Positional) return false;
    return f->g->paramKinds.size() == f->g->params.size();
  }

  // A state that only orders values: the initial state, or update_state of such a state
  // (no effect is in it, so depending on it orders nothing the interpreter does not).
  static bool valuesOnly(const Node* s) {
    while (s->isPrimApply(Prim::UpdateState) && s->kwnames.empty() && s->inputs.size() == 3) s = s->inputs[1];
    return s->isConst() && s->ckind == ConstKind::Token;
  }

  // The local rewrites: the node now standing for n, or nullptr.
  Node* rewrite(Node* n) {
    Prim p;
    if (!primOf(n, &p)) return nullptr;
    const auto& in = n->inputs;
    size_t nargs = in.size() - 1;
    bool plain = n->kwnames.empty();
    auto count = [](int& c, Node* r) {
      ++c;
      return r;
    };
    // A pure computation whose value the abstracts know: that constant.
    if (Node* c = foldConstant(n, p)) return count(stats_.identities, c);
    // The cotangent helpers of a None cotangent.
    if (plain && nargs >= 1 && noneInNoneOut(p) && isNoneConst(in[1])) return count(stats_.zeros, in[1]);
    if (Node* r = rewriteStructured(n, p)) return r;
    switch (p) {
      case Prim::Depend:  // a constant is the same value whenever it is read
        if (plain && nargs == 2 && (in[1]->isConst() || valuesOnly(in[2]))) return count(stats_.identities, in[1]);
        return nullptr;
      case Prim::CtAdd:
        if (!plain || nargs != 2) return nullptr;
        if (isNoneConst(in[1])) return count(stats_.zeros, in[2]);
        if (isNoneConst(in[2])) return count(stats_.zeros, in[1]);
        return nullptr;
      case Prim::CtFill:
        if (plain && nargs == 2 && nonNone(in[1])) return count(stats_.zeros, in[1]);
        return nullptr;
      case Prim::Switch:  // switch(c, a, a): c is already a bool
        if (plain && nargs == 3 && in[2] == in[3]) return count(stats_.zeros, in[2]);
        // A branch the specialisation decided (`if self.b is None` of a Dense with a
        // bias): the taken arm, whose call is then inlined like any graph constant's.
        if (plain && nargs == 3 && in[1]->isConst() && in[1]->ckind == ConstKind::Bool)
          return count(stats_.identities, in[1]->b ? in[2] : in[3]);
        if (plain && nargs == 3 && isNoneConst(in[2]) && isNoneConst(in[3])) return count(stats_.zeros, in[2]);
        return nullptr;
      case Prim::TupleGetItem:
      case Prim::GetItem:
      case Prim::CtIndex: {
        if (!plain || nargs != 2) return nullptr;
        Node* t = in[1];
        Prim tp;
        if (!primOf(t, &tp) || !t->kwnames.empty()) return nullptr;
        if (tp == Prim::MakeTuple && isIntConst(in[2])) {
          int64_t size = (int64_t)t->inputs.size() - 1, k = in[2]->i < 0 ? in[2]->i + size : in[2]->i;
          if (k >= 0 && k < size) return count(stats_.tuples, t->inputs[(size_t)k + 1]);
          if (p == Prim::CtIndex) return count(stats_.tuples, m_.constNone());
          return nullptr;  // tuple_getitem / getitem out of range raise
        }
        if (tp == Prim::MakeTuple && p == Prim::CtIndex && in[2]->isConst() && in[2]->ckind == ConstKind::Str)
          return count(stats_.tuples, m_.constNone());  // (a key of a closure's dict cotangent, J.cpp addDefaults)
        if (tp == Prim::MakeDict && p == Prim::CtIndex && in[2]->isConst() &&
            (in[2]->ckind == ConstKind::Int || in[2]->ckind == ConstKind::Str)) {
          Node* found = nullptr;
          for (size_t k = 1; k + 1 < t->inputs.size(); k += 2) {
            const Node* key = t->inputs[k];
            if (!key->isConst() || (key->ckind != ConstKind::Int && key->ckind != ConstKind::Str)) return nullptr;
            if (key->ckind == in[2]->ckind && (key->ckind == ConstKind::Int ? key->i == in[2]->i : key->s == in[2]->s))
              found = t->inputs[k + 1];  // the last one wins, as in the dict
          }
          return count(stats_.tuples, found ? found : m_.constNone());
        }
        return nullptr;
      }
      case Prim::Unbroadcast: {
        if (!plain || nargs != 2) return nullptr;
        const Abstract *c = absOf(in[1]), *like = absOf(in[2]);
        if (c && like && c == like && staticFloatTensor(c)) return count(stats_.identities, in[1]);
        if (c && like && c->is(AKind::Float) && like->is(AKind::Float)) return count(stats_.identities, in[1]);
        return nullptr;
      }
      case Prim::Mul:
      case Prim::Add:
      case Prim::Sub: {
        if (!plain || nargs != 2) return nullptr;
        double unit = p == Prim::Mul ? 1.0 : 0.0;
        auto isUnit = [&](const Node* c) {
          return c->isConst() && ((c->ckind == ConstKind::Int && (double)c->i == unit) ||
                                  (c->ckind == ConstKind::Float && c->f == unit));
        };
        if (isUnit(in[2]) && keepsType(in[1], in[2])) return count(stats_.algebra, in[1]);
        if (p != Prim::Sub && isUnit(in[1]) && keepsType(in[2], in[1])) return count(stats_.algebra, in[2]);
        return nullptr;
      }
      case Prim::Neg: {
        if (!plain || nargs != 1) return nullptr;
        Node* x = in[1];
        if (x->isPrimApply(Prim::Neg) && x->kwnames.empty() && x->inputs.size() == 2 && numeric(absOf(x->inputs[1])))
          return count(stats_.algebra, x->inputs[1]);
        return nullptr;
      }
      default:
        return nullptr;
    }
  }

  // Python ints and bools the abstracts know, and floats from the exactly rounded
  // arithmetic of numbers (the shape rules compute those as the run time does).
  Node* foldConstant(Node* n, Prim p) {
    if (primInfo(p).effect != PrimEffect::Pure || p == Prim::Depend || p == Prim::UpdateState) return nullptr;
    const Abstract* a = absOf(n);
    if (a && a->known && a->is(AKind::Int)) return m_.constInt(a->i, n->loc);
    if (a && a->known && a->is(AKind::Bool)) return m_.constBool(a->b);
    if (a && a->known && a->is(AKind::Float) && (p == Prim::Add || p == Prim::Sub || p == Prim::Mul || p == Prim::Div))
      return m_.constFloat(a->f, n->loc);
    // Python numbers: true division, and arithmetic with a float, in doubles.
    if (!n->kwnames.empty() || n->inputs.size() != 3 || !(p == Prim::Add || p == Prim::Sub || p == Prim::Mul || p == Prim::Div))
      return nullptr;
    const Node *x = n->inputs[1], *y = n->inputs[2];
    auto num = [](const Node* c, double* v) {
      if (!c->isConst()) return false;
      if (c->ckind == ConstKind::Float) *v = c->f;
      else if (c->ckind == ConstKind::Int && c->i > -(1LL << 53) && c->i < (1LL << 53)) *v = (double)c->i;
      else return false;
      return true;
    };
    double u, v;
    if (!num(x, &u) || !num(y, &v)) return nullptr;
    if (p != Prim::Div && x->ckind == ConstKind::Int && y->ckind == ConstKind::Int) return nullptr;
    switch (p) {
      case Prim::Add: return m_.constFloat(u + v, n->loc);
      case Prim::Sub: return m_.constFloat(u - v, n->loc);
      case Prim::Mul: return m_.constFloat(u * v, n->loc);
      default: return v != 0 ? m_.constFloat(u / v, n->loc) : nullptr;
    }
  }

  // A non-bool number or tensor of known dtype.
  static bool numeric(const Abstract* a) {
    if (!a) return false;
    if (a->isTensor()) return a->dtypeKnown && a->dtype != DType::Bool;
    return a->is(AKind::Float) || a->is(AKind::Int);
  }

  // Whether x op c (c a Python number constant) has x's dtype and shape.
  bool keepsType(const Node* x, const Node* c) const {
    const Abstract* a = absOf(x);
    if (!a) return false;
    if (a->isTensor()) {
      if (!a->dtypeKnown || a->dtype == DType::Bool) return false;
      return isFloat(a->dtype) || c->ckind == ConstKind::Int;  // a weak float scalar promotes int tensors
    }
    if (a->is(AKind::Float)) return true;
    if (a->is(AKind::Int)) return c->ckind == ConstKind::Int;
    return false;
  }

  // ---------------------------------------------------------------- nested graphs' abstracts
  // and structured cotangents (loop bodies: a carry is a tuple)

  // The parameters of nested graphs (loop bodies, branches, local functions) take the
  // abstracts of the primal parameters they image (jorigin): the specialiser gave those
  // the join over every call this specialisation makes, and J's graph is called with the
  // same values. (The root's come from `primal`.)
  void seedNestedParams() {
    for (Graph* g : scope_) {
      if (g == root_) continue;
      for (Node* p : g->params)
        if (!p->abs && p->jorigin && p->jorigin->abs && !p->jorigin->abs->isAny() && !abs_.count(p))
          abs_[p] = p->jorigin->abs;
    }
  }

  // A new application placed just before `at` in its graph (the sweep reaches it later).
  Node* emitBefore(Node* at, Prim p, std::vector<Node*> args) {
    Graph* g = at->graph;
    args.insert(args.begin(), m_.constPrim(p, at->loc));
    Node* c = m_.newApply(g, std::move(args), at->loc);
    g->nodes.pop_back();
    g->nodes.insert(std::find(g->nodes.begin(), g->nodes.end(), at), c);
    return c;
  }

  // Whether zeros like a value of abstract `a` are None (runtime zerosLike): the value
  // has no float leaf a cotangent could hold.
  static bool noZeros(const Abstract* a) {
    if (!a) return false;
    switch (a->kind) {
      case AKind::None: case AKind::Token: case AKind::Str: case AKind::DType: case AKind::Function:
      case AKind::Prim: case AKind::Slice: case AKind::Range: case AKind::Ellipsis: case AKind::Dict:
        return true;
      default:
        return false;
    }
  }

  // Whether `item` is item k of the tuple `t` (a make_tuple node, or tuple_getitem(t, k)).
  static bool itemOf(const Node* item, const Node* t, int64_t k) {
    if (t->isPrimApply(Prim::MakeTuple) && t->kwnames.empty() && k >= 0 && (size_t)k + 1 < t->inputs.size())
      return t->inputs[(size_t)k + 1] == item;
    return item->isPrimApply(Prim::TupleGetItem) && item->kwnames.empty() && item->inputs.size() == 3 &&
           item->inputs[1] == t && isIntConst(item->inputs[2]) && item->inputs[2]->i == k;
  }

  // Rewrites of cotangents of tuples (each exact, None kept where the original gives None):
  //   __ct_fill(__ct_index(__ct_fill(c, t), k), t[k]) -> __ct_fill(__ct_index(c, k), t[k])
  //       (zeros like t, indexed, are zeros like t[k]);
  //   __ct_fill(c, like) -> c when zeros like `like` are None (a state, a string, ...);
  //   __ct_fill(c, like) -> __ct_fill(c, 0.0) (or 0) when like is a Python float (int);
  //   __getitem_bwd(c, t, k), c never None, t a tuple of n items by its abstract:
  //       make_tuple(None, ..., c, ..., None);
  //   __ct_add(make_tuple(a...), make_tuple(b...)) of equal lengths: make_tuple(__ct_add(a_i, b_i)...);
  //   __ct_add(__getitem_bwd(c, t, k), make_tuple(b...)), t a tuple of as many items (or
  //       the operands the other way round): make_tuple(b...) with __ct_add(c, b_k) at k
  //       (a None c gives make_tuple(b...), as __ct_add(None, y) does);
  //   __ct_index(__ct_fill(c, t), k) where zeros like t[k] are None: __ct_index(c, k).
  Node* rewriteStructured(Node* n, Prim p) {
    const auto& in = n->inputs;
    if (!n->kwnames.empty()) return nullptr;
    switch (p) {
      case Prim::CtIndex: {
        if (in.size() != 3 || !isIntConst(in[2])) return nullptr;
        Node* fill = in[1];
        if (!fill->isPrimApply(Prim::CtFill) || !fill->kwnames.empty() || fill->inputs.size() != 3) return nullptr;
        const Abstract* t = absOf(fill->inputs[2]);
        if (!t || !t->is(AKind::Tuple) || t->homogeneous || in[2]->i < 0 || (size_t)in[2]->i >= t->elems.size() ||
            !noZeros(t->elems[(size_t)in[2]->i]))
          return nullptr;
        return count(stats_.tuples, emitBefore(n, Prim::CtIndex, {fill->inputs[1], in[2]}));
      }
      case Prim::CtFill: {
        if (in.size() != 3 || nonNone(in[1])) return nullptr;  // (rewrite() gives c)
        if (noZeros(absOf(in[2]))) return count(stats_.zeros, in[1]);
        Node* ix = in[1];
        if (ix->isPrimApply(Prim::CtIndex) && ix->kwnames.empty() && ix->inputs.size() == 3 && isIntConst(ix->inputs[2])) {
          Node* fill = ix->inputs[1];
          if (fill->isPrimApply(Prim::CtFill) && fill->kwnames.empty() && fill->inputs.size() == 3 &&
              itemOf(in[2], fill->inputs[2], ix->inputs[2]->i)) {
            Node* inner = emitBefore(n, Prim::CtIndex, {fill->inputs[1], ix->inputs[2]});
            return count(stats_.tuples, emitBefore(n, Prim::CtFill, {inner, in[2]}));
          }
        }
        if (const Abstract* like = absOf(in[2]); like && !in[2]->isConst() && (like->is(AKind::Float) || like->is(AKind::Int))) {
          // zeros like a Python number: 0.0 or 0, whatever its value (so the bprop need not capture it)
          Node* zero = like->is(AKind::Float) ? m_.constFloat(0.0, n->loc) : m_.constInt(0, n->loc);
          return count(stats_.zeros, emitBefore(n, Prim::CtFill, {in[1], zero}));
        }
        return nullptr;
      }
      case Prim::GetItemBwd: {
        if (in.size() != 4 || !isIntConst(in[3]) || !nonNone(in[1])) return nullptr;
        const Abstract* t = absOf(in[2]);
        if (!t || !t->is(AKind::Tuple) || t->homogeneous) return nullptr;
        int64_t size = (int64_t)t->elems.size(), k = in[3]->i < 0 ? in[3]->i + size : in[3]->i;
        if (k < 0 || k >= size) return nullptr;
        std::vector<Node*> items((size_t)size, m_.constNone());
        items[(size_t)k] = in[1];
        return count(stats_.tuples, emitBefore(n, Prim::MakeTuple, std::move(items)));
      }
      case Prim::CtAdd: {
        if (in.size() != 3) return nullptr;
        const Node *a = in[1], *b = in[2];
        auto isTuple = [](const Node* x) { return x->isPrimApply(Prim::MakeTuple) && x->kwnames.empty(); };
        if (isTuple(a) && isTuple(b)) {
          if (a->inputs.size() != b->inputs.size()) return nullptr;
          std::vector<Node*> items;
          for (size_t k = 1; k < a->inputs.size(); ++k) items.push_back(emitBefore(n, Prim::CtAdd, {a->inputs[k], b->inputs[k]}));
          return count(stats_.tuples, emitBefore(n, Prim::MakeTuple, std::move(items)));
        }
        for (int side = 0; side < 2; ++side) {  // one operand __getitem_bwd of a tuple, the other make_tuple
          const Node *g = side ? b : a, *t = side ? a : b;
          if (!isTuple(t) || !g->isPrimApply(Prim::GetItemBwd) || !g->kwnames.empty() || g->inputs.size() != 4 ||
              !isIntConst(g->inputs[3]))
            continue;
          const Abstract* obj = absOf(g->inputs[2]);
          size_t size = t->inputs.size() - 1;
          if (!obj || !obj->is(AKind::Tuple) || obj->homogeneous || obj->elems.size() != size) continue;
          int64_t k = g->inputs[3]->i < 0 ? g->inputs[3]->i + (int64_t)size : g->inputs[3]->i;
          if (k < 0 || k >= (int64_t)size) continue;
          std::vector<Node*> items(t->inputs.begin() + 1, t->inputs.end());
          Node*& at = items[(size_t)k];
          at = side ? emitBefore(n, Prim::CtAdd, {at, g->inputs[1]}) : emitBefore(n, Prim::CtAdd, {g->inputs[1], at});
          return count(stats_.tuples, emitBefore(n, Prim::MakeTuple, std::move(items)));
        }
        return nullptr;
      }
      default:
        return nullptr;
    }
  }

  static Node* count(int& c, Node* r) {
    ++c;
    return r;
  }

  // ---------------------------------------------------------------- inlining

  // The graphs nested in g that g's body reaches through graph constants (g excluded).
  static std::vector<Graph*> nestedGraphs(Graph* g) {
    std::vector<Graph*> out;
    std::unordered_set<Graph*> in{g};
    std::vector<Graph*> work{g};
    while (!work.empty()) {
      Graph* h = work.back();
      work.pop_back();
      auto visit = [&](Node* c) {
        if (c && c->isGraphConst() && c->g != g && ir::isWithin(c->g, g) && in.insert(c->g).second) {
          out.push_back(c->g);
          work.push_back(c->g);
        }
      };
      for (Node* n : h->nodes)
        for (Node* i : n->inputs) visit(i);
      visit(h->output);
      for (Node* d : h->defaults) visit(d);
    }
    return out;
  }

  // Whether g (or a graph nested in it) refers to g itself: a recursive function.
  static bool selfReferent(Graph* g, const std::vector<Graph*>& nested) {
    auto refs = [&](Graph* h) {
      for (Node* n : h->nodes)
        for (Node* i : n->inputs)
          if (i->isGraphConst() && i->g == g) return true;
      return h->output && h->output->isGraphConst() && h->output->g == g;
    };
    if (refs(g)) return true;
    for (Graph* h : nested)
      if (refs(h)) return true;
    return false;
  }

  bool inlinable(Node* n, Graph* caller) {
    if (inlineBudget_ <= 0 || !n->isApply() || !n->kwnames.empty()) return false;
    Node* c = n->inputs[0];
    if (!c->isGraphConst()) return false;
    Graph* callee = c->g;
    if (ir::isWithin(caller, callee)) return false;  // a call of an enclosing graph: recursion
    auto ch = chain_.find(n);
    if (ch != chain_.end() && std::find(ch->second->begin(), ch->second->end(), callee) != ch->second->end())
      return false;
    if (callee->params.size() != n->inputs.size() - 1 || !callee->output) return false;
    for (ir::ParamKind k : callee->paramKinds)
      if (k != ir::ParamKind::Positional) return false;
    // A callee from outside must not capture anything (its captured values are not here).
    if (!inScope(callee)) {
      if (!callee->freeVars.empty()) return false;
      for (Node* d : callee->defaults)
        if (d) return false;
    } else if (callee->parent && !ir::isWithin(caller, callee->parent)) {
      return false;  // its free variables would not be visible in the caller
    }
    std::vector<Graph*> nested = nestedGraphs(callee);
    size_t size = callee->nodes.size();
    for (Graph* h : nested) size += h->nodes.size();
    if (size > kMaxInlineNodes || selfReferent(callee, nested)) return false;
    return true;
  }

  // Replaces the call n (at position i of caller) by a copy of its callee's body, placed
  // at i; nested graphs of the callee are cloned with it. Returns the number of nodes put in.
  size_t inlineCall(Node* n, Graph* caller, size_t i, std::vector<Graph*>& touched) {
    --inlineBudget_;
    Graph* callee = n->inputs[0]->g;
    std::unordered_map<const Node*, Node*> map;
    std::unordered_map<const Graph*, Graph*> gmap{{callee, caller}};
    auto outer = chain_.find(n);
    auto chain = std::make_shared<std::vector<const Graph*>>();
    if (outer != chain_.end()) *chain = *outer->second;
    chain->push_back(callee);
    for (size_t k = 0; k < callee->params.size(); ++k) map[callee->params[k]] = n->inputs[k + 1];
    std::vector<Graph*> nested = nestedGraphs(callee);
    auto depth = [&](const Graph* g) {
      int d = 0;
      for (; g && g != callee; g = g->parent) ++d;
      return d;
    };
    std::stable_sort(nested.begin(), nested.end(), [&](Graph* a, Graph* b) { return depth(a) < depth(b); });
    // Shells of the nested graphs first: the callee's nodes may refer to them.
    for (Graph* h : nested) {
      auto parent = gmap.find(h->parent);
      Graph* c = m_.newGraph(h->name, parent != gmap.end() ? parent->second : caller, h->loc);
      c->qualname = h->qualname;
      c->isFunction = h->isFunction;
      c->isMethod = h->isMethod;
      c->madeByJ = h->madeByJ;
      for (Node* p : h->params) {
        Node* q = m_.newParam(c, p->name, p->loc);
        q->abs = p->abs;
        q->jtype = p->jtype;
        q->jorigin = p->jorigin;  // (a clone images the same primal node: autodiff::jSource)
        map[p] = q;
      }
      c->paramKinds = h->paramKinds;
      c->defaults.clear();  // mapped below
      gmap[h] = c;
      touched.push_back(c);
      seen_.insert(c);
    }
    auto mapIn = [&](Node* in) -> Node* {
      in = resolve(in);
      if (!in) return in;
      if (in->isGraphConst()) {
        auto g = gmap.find(in->g);
        return g != gmap.end() && in->g != callee ? m_.constGraph(g->second, in->loc) : in;
      }
      auto it = map.find(in);
      return it != map.end() ? it->second : in;
    };
    auto copyNodes = [&](Graph* from, Graph* to) {
      for (Node* x : from->nodes) {
        if (repl_.count(x)) {  // already rewritten in the callee (its replacement comes earlier)
          map[x] = mapIn(x);
          continue;
        }
        std::vector<Node*> in;
        for (Node* y : x->inputs) in.push_back(mapIn(y));
        Node* c = m_.newApply(to, std::move(in), x->loc);
        c->kwnames = x->kwnames;
        // (the callee's jCaptures list, inlined into the caller, is an ordinary tuple there)
        if (!(to == caller && x->name == kJCapturesName)) c->name = x->name;
        if (x->name == kJCapturesName) c->jorigin = x->jorigin;  // (autodiff::jSource of a lifted function)
        c->abs = x->abs;
        c->jtype = x->jtype;
        map[x] = c;
        chain_[c] = chain;
      }
    };
    size_t before = caller->nodes.size();
    copyNodes(callee, caller);
    std::vector<Node*> body(caller->nodes.begin() + (long)before, caller->nodes.end());
    caller->nodes.resize(before);
    caller->nodes.insert(caller->nodes.begin() + (long)i, body.begin(), body.end());
    for (Graph* h : nested) {
      Graph* c = gmap.at(h);
      copyNodes(h, c);
      for (size_t k = 0; k < h->params.size(); ++k)
        c->defaults.push_back(k < h->defaults.size() ? mapIn(h->defaults[k]) : nullptr);
      c->output = mapIn(h->output);
    }
    repl_[n] = mapIn(callee->output);
    return body.size();
  }

  // ---------------------------------------------------------------- loop backward passes

  // __scan_bwd / __while_bwd whose results are only read at constant indices get the mask
  // of the indices read (`wanted`): the runtime then runs narrowed bprops (autodiff::
  // narrowBprop), e.g. no cotangent of the data x fed as a layer loop's initial carry.
  void narrowLoopBwds() {
    std::unordered_map<const Node*, uint64_t> read;  // loop bwd node -> indices read (~0: any use)
    auto use = [&](const Node* user, const Node* x, size_t pos) {
      Prim p;
      if (!primOf(x, &p) || (p != Prim::ScanBwd && p != Prim::WhileBwd)) return;
      uint64_t& r = read[x];
      bool indexed = user && pos == 1 && user->kwnames.empty() && user->inputs.size() == 3 &&
                     isIntConst(user->inputs[2]) && user->inputs[2]->i >= 0 && user->inputs[2]->i < 3 + (int64_t)loopLifted(x) &&
                     (user->isPrimApply(Prim::CtIndex) || user->isPrimApply(Prim::TupleGetItem));
      r |= indexed ? uint64_t(1) << user->inputs[2]->i : ~uint64_t(0);
    };
    for (Graph* g : scope_) {
      for (Node* n : g->nodes) {
        for (size_t k = 0; k < n->inputs.size(); ++k) use(n, n->inputs[k], k);
        Prim p;
        if (primOf(n, &p) && (p == Prim::ScanBwd || p == Prim::WhileBwd)) read.emplace(n, 0);
      }
      if (g->output) use(nullptr, g->output, 0);
      for (Node* d : g->defaults)
        if (d) use(nullptr, d, 0);
    }
    for (auto& [x, r] : read) {
      Node* n = const_cast<Node*>(x);
      if (!n->kwnames.empty() || n->inputs.size() < 3 || n->inputs.size() > 5) continue;
      size_t k = loopLifted(n);
      if (n->inputs.size() == 5 && !k && !(isIntConst(n->inputs[4]) && n->inputs[4]->i == 0)) continue;
      uint64_t all = (uint64_t(1) << (3 + k)) - 1, wanted = r & all;
      if (n->inputs.size() >= 4) {
        if (!isIntConst(n->inputs[3])) continue;
        wanted &= (uint64_t)n->inputs[3]->i;
      }
      if (wanted == all && n->inputs.size() < 4) continue;
      if (n->inputs.size() >= 4 && (uint64_t)n->inputs[3]->i == wanted) continue;
      if (n->inputs.size() == 3) n->inputs.push_back(nullptr);
      n->inputs[3] = m_.constInt((int64_t)wanted, n->loc);
    }
  }

  // The number of lifted values of a loop's backward pass (`nlifted`, autodiff/Lift.h).
  static size_t loopLifted(const Node* bwd) {
    if (bwd->inputs.size() != 5 || !isIntConst(bwd->inputs[4]) || bwd->inputs[4]->i < 0 || bwd->inputs[4]->i > 56) return 0;
    return (size_t)bwd->inputs[4]->i;
  }

  // A lifted loop body (autodiff/Lift.h): `__scan_bwd(s, ct, wanted, k)` where s is item 1
  // of `__scan_j(A, it, init, lifted)` (`__while_j(cond, A, init, lifted)`), A a J graph of
  // this expansion that serves that loop alone: every iteration's bprop (A's bprop)
  // returns (ct of A, cts of the k lifted values, ct of the carry[, of the item]), and
  // the backward pass only sums the lifted values'. Where `wanted` clears the bit of a
  // lifted value, A's bprop returns None for it, so the fixed point drops what only it
  // needed at every iteration (the data x of `x @ w` in a loop differentiated with
  // respect to w). Returns whether a bprop changed.
  // How many times each graph constant's graph is referenced, and each node used, over
  // the scope (inputs, outputs, defaults).
  void countUses(std::unordered_map<const Graph*, int>& refs, std::unordered_map<const Node*, int>& uses) const {
    auto use = [&](const Node* x) {
      if (!x) return;
      if (x->isGraphConst()) ++refs[x->g];
      ++uses[x];
    };
    for (Graph* g : scope_) {
      for (Node* n : g->nodes)
        for (Node* x : n->inputs) use(x);
      use(g->output);
      for (Node* d : g->defaults) use(d);
    }
  }

  bool narrowLiftedLoops() {
    std::unordered_map<const Graph*, int> refs;
    std::unordered_map<const Node*, int> uses;
    countUses(refs, uses);
    bool changed = false;
    for (Graph* g : scope_) {
      for (Node* bwd : g->nodes) {
        Prim p;
        if (!primOf(bwd, &p) || (p != Prim::ScanBwd && p != Prim::WhileBwd) || !bwd->kwnames.empty()) continue;
        size_t k = loopLifted(bwd);
        if (!k || !isIntConst(bwd->inputs[3])) continue;
        uint64_t wanted = (uint64_t)bwd->inputs[3]->i;
        Node* s = bwd->inputs[1];
        if (!s->isPrimApply(Prim::TupleGetItem) || s->inputs.size() != 3 || !isIntConst(s->inputs[2]) || s->inputs[2]->i != 1 ||
            uses[s] != 1)
          continue;
        Node* t = s->inputs[1];
        Prim jp = p == Prim::ScanBwd ? Prim::ScanJ : Prim::WhileJ;
        size_t at = p == Prim::ScanBwd ? 1 : 2;
        if (!t->isPrimApply(jp) || !t->kwnames.empty() || t->inputs.size() != 5 || !t->inputs[at]->isGraphConst()) continue;
        Graph* a = t->inputs[at]->g;
        if (!inScope(a) || !a->madeByJ || refs[a] != 1) continue;
        Node* o = a->output;
        if (!o || o->graph != a || !o->isPrimApply(Prim::MakeTuple) || o->inputs.size() != 3 || !o->inputs[2]->isGraphConst())
          continue;
        Graph* b = o->inputs[2]->g;
        Node* bo = b->output;
        size_t items = 1 + k + (p == Prim::ScanBwd ? 2 : 1);
        if (b->parent != a || refs[b] != 1 || !bo || bo->graph != b || !bo->isPrimApply(Prim::MakeTuple) ||
            !bo->kwnames.empty() || bo->inputs.size() != items + 1)
          continue;
        for (size_t j = 0; j < k; ++j) {
          if ((wanted >> (3 + j) & 1) || isNoneConst(bo->inputs[2 + j])) continue;
          bo->inputs[2 + j] = m_.constNone();
          changed = true;
        }
      }
    }
    return changed;
  }

  // __jcall(fn, a...) whose backpropagator is only called, and whose cotangents are only
  // read at constant indices, gets the arguments nobody reads the cotangent of as the
  // keyword kJCallSkip (a mask, bit k: argument k): the runtime then differentiates fn
  // without them (jGraph's skipParams), e.g. no cotangent of the data x a layer is
  // called on, in that layer and in every layer it calls in turn.
  void narrowJCalls() {
    std::unordered_map<const Node*, std::vector<std::pair<const Node*, size_t>>> uses;
    static const Node* const kAnyUse = nullptr;
    for (Graph* g : scope_) {
      for (Node* n : g->nodes)
        for (size_t k = 0; k < n->inputs.size(); ++k) uses[n->inputs[k]].push_back({n, k});
      if (g->output) uses[g->output].push_back({kAnyUse, 0});
      for (Node* d : g->defaults)
        if (d) uses[d].push_back({kAnyUse, 0});
    }
    auto usesOf = [&](const Node* n) -> const std::vector<std::pair<const Node*, size_t>>& {
      static const std::vector<std::pair<const Node*, size_t>> none;
      auto it = uses.find(n);
      return it != uses.end() ? it->second : none;
    };
    auto constIndexOf = [](const Node* u, size_t pos, Prim a, Prim b) -> int64_t {
      if (!u || pos != 1 || !u->kwnames.empty() || u->inputs.size() != 3 || !isIntConst(u->inputs[2]) ||
          !(u->isPrimApply(a) || u->isPrimApply(b)))
        return -1;
      return u->inputs[2]->i;
    };
    for (Graph* g : scope_) {
      for (Node* t : g->nodes) {
        if (!t->isPrimApply(Prim::JCall) || !t->kwnames.empty() || t->inputs.size() < 3) continue;
        size_t nargs = t->inputs.size() - 2;
        if (nargs > 63) continue;
        uint64_t read = 0;  // bit k: the cotangent of argument k is read
        bool known = true;
        for (auto [u, pos] : usesOf(t)) {
          int64_t k = constIndexOf(u, pos, Prim::TupleGetItem, Prim::TupleGetItem);
          if (k == 0) continue;
          if (k != 1) { known = false; break; }
          for (auto [call, at] : usesOf(u)) {  // the bprop: only called, on one cotangent
            if (!call || at != 0 || !call->isApply() || call->inputs.size() != 2 || !call->kwnames.empty()) {
              known = false;
              break;
            }
            for (auto [x, xpos] : usesOf(call)) {
              int64_t i = constIndexOf(x, xpos, Prim::CtIndex, Prim::TupleGetItem);
              if (i < 0) { known = false; break; }
              if (i >= 1 && (size_t)i <= nargs) read |= uint64_t(1) << (i - 1);
            }
            if (!known) break;
          }
          if (!known) break;
        }
        uint64_t all = (uint64_t(1) << nargs) - 1;
        if (!known || (read & all) == all) continue;
        t->inputs.push_back(m_.constInt((int64_t)(all & ~read), t->loc));
        t->kwnames.push_back(kJCallSkip);
      }
    }
  }

  // A lifted branch (autodiff/Lift.h) is called as __jcall(switch(c, A, B), fvs...,
  // args...) (or __jcall(A, ...) where a constant picked A and A stayed a call), A and B
  // J graphs of this expansion, which the runtime runs as they are (the
  // kJCallSkip mask narrowJCalls gives does not reach them). Where the call's mask skips
  // some cotangents, and A and B, their bprops and the switch serve that call alone, the
  // bprops return None for them: the fixed point then drops what only they needed (the
  // cotangent of a value a branch captures that nobody reads, e.g. the data x of
  // `x @ w` in a branch of a loss differentiated with respect to w). Returns whether a
  // bprop changed; the masks of the calls of lifted branches are then taken out, so that
  // narrowJCalls computes them again from the narrowed bprops (nested branches).
  // Also: __jcall(switch(True/False, A, B), ...) calls the branch the constant picks
  // (then inlined as a direct call; the specialiser leaves `if x is None` on a field
  // whose type it knows as such a switch).
  bool narrowLiftedBranches() {
    bool folded = false;
    for (Graph* g : scope_) {
      for (Node* t : g->nodes) {
        if (!t->isPrimApply(Prim::JCall) || t->inputs.size() < 2) continue;
        Node* s = t->inputs[1];
        if (!s->isPrimApply(Prim::Switch) || s->inputs.size() != 4 || !s->kwnames.empty() ||
            !s->inputs[1]->isConst() || s->inputs[1]->ckind != ConstKind::Bool)
          continue;
        Node* pick = s->inputs[1]->b ? s->inputs[2] : s->inputs[3];
        if (!pick->isGraphConst()) continue;
        t->inputs[1] = pick;
        if (t->kwnames.size() == 1 && t->kwnames[0] == kJCallSkip) {
          t->inputs.pop_back();
          t->kwnames.clear();
        }
        folded = true;
      }
    }
    if (folded) return true;
    std::unordered_map<const Graph*, int> refs;
    std::unordered_map<const Node*, int> uses;
    countUses(refs, uses);
    auto skipMask = [](const Node* t, uint64_t* mask) {
      if (!t->isPrimApply(Prim::JCall) || t->kwnames.size() != 1 || t->kwnames[0] != kJCallSkip ||
          t->inputs.size() < 4 || !isIntConst(t->inputs.back()))
        return false;
      *mask = (uint64_t)t->inputs.back()->i;
      const Node* f = t->inputs[1];
      return f->isPrimApply(Prim::Switch) || (f->isGraphConst() && f->g->madeByJ);
    };
    bool changed = false;
    for (Graph* g : scope_) {
      for (Node* t : g->nodes) {
        uint64_t skip = 0;
        if (!skipMask(t, &skip)) continue;
        Node* s = t->inputs[1];
        size_t nargs = t->inputs.size() - 3;
        if (nargs > 63) continue;
        // The J graphs the call may run: both branches, or the one graph (a branch a
        // constant picked that stayed a call, e.g. a large one).
        std::vector<Node*> callees{s};
        if (!s->isGraphConst()) {
          if (uses[s] != 1 || s->inputs.size() != 4 || !s->kwnames.empty()) continue;
          callees = {s->inputs[2], s->inputs[3]};
        }
        for (Node* c : callees) {
          if (!c->isGraphConst() || !inScope(c->g) || !c->g->madeByJ || refs[c->g] != 1) continue;
          Graph* a = c->g;
          Node* o = a->output;
          if (a->params.size() != nargs || !o || o->graph != a || !o->isPrimApply(Prim::MakeTuple) ||
              o->inputs.size() != 3 || !o->inputs[2]->isGraphConst())
            continue;
          Graph* b = o->inputs[2]->g;
          Node* bo = b->output;
          if (b->parent != a || refs[b] != 1 || !bo || bo->graph != b || !bo->isPrimApply(Prim::MakeTuple) ||
              !bo->kwnames.empty() || bo->inputs.size() != nargs + 2)
            continue;
          for (size_t k = 0; k < nargs; ++k) {
            if (!(skip >> k & 1) || isNoneConst(bo->inputs[k + 2])) continue;
            bo->inputs[k + 2] = m_.constNone();
            changed = true;
          }
        }
      }
    }
    if (!changed) return false;
    for (Graph* g : scope_) {
      for (Node* t : g->nodes) {
        uint64_t skip;
        if (!skipMask(t, &skip)) continue;
        t->inputs.pop_back();
        t->kwnames.clear();
      }
    }
    return true;
  }

  // ---------------------------------------------------------------- DCE

  bool effectful(Node* n, std::unordered_map<const Graph*, bool>& pureGraphs) {
    Prim p;
    if (primOf(n, &p)) return !pureEffect(p) || callsFunctions(n, p);
    Node* c = n->inputs[0];
    if (!c->isGraphConst()) return true;  // an unknown function value
    auto it = pureGraphs.find(c->g);
    if (it != pureGraphs.end()) return !it->second;
    // Pure: only pure primitives, and no function values flowing anywhere.
    bool pure = true;
    for (Node* x : c->g->nodes) {
      Prim q;
      if (!primOf(x, &q) || !pureEffect(q) || callsFunctions(x, q)) pure = false;
      for (size_t k = 1; k < x->inputs.size() && pure; ++k)
        if (x->inputs[k]->isGraphConst() || (x->inputs[k]->isConst() && x->inputs[k]->ckind == ConstKind::Prim))
          pure = false;
      if (!pure) break;
    }
    pureGraphs[c->g] = pure;
    return !pure;
  }

  void dce() {
    std::unordered_set<const Node*> live;
    std::unordered_set<const Graph*> liveGraphs;
    std::unordered_map<const Graph*, bool> pureGraphs;
    std::vector<Node*> work;
    std::vector<Graph*> graphWork{root_};
    auto markGraphConst = [&](Node* c) {
      if (c && c->isGraphConst() && inScope(c->g) && liveGraphs.insert(c->g).second) graphWork.push_back(c->g);
    };
    liveGraphs.insert(root_);
    while (!work.empty() || !graphWork.empty()) {
      if (!graphWork.empty()) {
        Graph* g = graphWork.back();
        graphWork.pop_back();
        work.push_back(g->output);
        for (Node* d : g->defaults)
          if (d) work.push_back(d);
        for (Node* n : g->nodes)
          if (effectful(n, pureGraphs) || n->name == kJCapturesName) work.push_back(n);  // (jCaptures: read by the runtime)
        continue;
      }
      Node* n = work.back();
      work.pop_back();
      if (!n) continue;
      if (n->isConst()) {
        markGraphConst(n);
        continue;
      }
      if (!n->isApply() || !live.insert(n).second) continue;
      for (Node* in : n->inputs) work.push_back(in);
    }
    for (Graph* g : scope_) {
      size_t before = g->nodes.size();
      g->nodes.erase(std::remove_if(g->nodes.begin(), g->nodes.end(), [&](Node* n) { return !live.count(n); }),
                     g->nodes.end());
      stats_.dce += (int)(before - g->nodes.size());
    }
  }
};

}  // namespace

CleanStats cleanGraphs(Graph* root, const Graph* primal) {
  Cleaner c(root, primal);
  return c.run();
}

namespace {
bool gCleaning = true;
}

void setCleaningEnabled(bool on) { gCleaning = on; }
bool cleaningEnabled() { return gCleaning; }

void cleanJGraph(Graph* jg, const Graph* primal) {
  if (!gCleaning) return;
#ifndef NDEBUG
  // The verifier's complaints that cleaning introduced (the module may hold others).
  std::vector<std::string> before = ir::verifyModule(*jg->module);
  cleanGraphs(jg, primal);
  std::vector<std::string> after = ir::verifyModule(*jg->module);
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  std::vector<std::string> added;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(added));
  if (!added.empty()) {
    std::string msg = "invalid IR in module '" + jg->module->name + "' after cleaning " + jg->qualname + ":";
    for (const std::string& a : added) msg += "\n  " + a;
    throw InternalError(msg);
  }
#else
  cleanGraphs(jg, primal);
#endif
}

}  // namespace msl::autodiff
