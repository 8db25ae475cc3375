#include "codegen/FoldBranches.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "ir/Abstract.h"
#include "ir/IR.h"
#include "ir/Manager.h"
#include "runtime/GlobalAbstract.h"

namespace msl::codegen {

using ir::Graph;
using ir::Node;

namespace {

// The value of condition c when the abstracts decide it.
bool knownBool(const Node* c, bool* v) {
  if (c->isConst() && c->ckind == ir::ConstKind::Bool) {
    *v = c->b;
    return true;
  }
  if (!c->abs || !c->abs->is(ir::AKind::Bool) || !c->abs->known) return false;
  *v = c->abs->b;
  return true;
}

struct Folder {
  Graph* g;
  std::vector<Graph*> within;  // g and the graphs nested in it

  // Whether any node of a graph within g reads x other than `except` does (as any input,
  // the output, a free variable or a default).
  bool readElsewhere(const Node* x, const Node* except) const {
    for (const Graph* h : within) {
      if (h->output == x) return true;
      for (const Node* fv : h->freeVars)
        if (fv == x) return true;
      for (const Node* d : h->defaults)
        if (d == x) return true;
      for (const Node* n : h->nodes) {
        if (n == except) continue;
        for (const Node* in : n->inputs)
          if (in == x) return true;
      }
    }
    return false;
  }

  // Whether graph X is referenced by a graph constant anywhere within g but by `sw`.
  bool graphReferenced(const Graph* X, const Node* sw) const {
    auto isX = [&](const Node* in) { return in && in->isGraphConst() && in->g == X; };
    for (const Graph* h : within) {
      if (isX(h->output)) return true;
      for (const Node* d : h->defaults)
        if (isX(d)) return true;
      for (const Node* n : h->nodes) {
        if (n == sw) continue;
        for (const Node* in : n->inputs)
          if (isX(in)) return true;
      }
    }
    return false;
  }

  bool capturedAnywhere(const Node* x) const {
    for (const Graph* h : within)
      for (const Node* fv : h->freeVars)
        if (fv == x) return true;
    return false;
  }

  // Every read of `from` within g reads `to` instead.
  void replaceUses(Node* from, Node* to) {
    ir::redirectGraphReads(within, from, to);
    for (Graph* h : within)
      for (Node* n : h->nodes)
        for (Node*& in : n->inputs)
          if (in == from) in = to;
  }

  // Folds the branch whose switch is node i of g, if it is decided and of the plain form
  // the host code lowers as an `if` (ir/HostPlan.cpp).
  bool foldAt(size_t i) {
    Node* sw = g->nodes[i];
    if (!sw->isPrimApply(Prim::Switch) || sw->inputs.size() != 4 || !sw->kwnames.empty() || i + 1 >= g->nodes.size())
      return false;
    Node* call = g->nodes[i + 1];
    if (call->inputs.size() != 1 || !call->kwnames.empty() || call->inputs[0] != sw) return false;
    bool v;
    if (!knownBool(sw->inputs[1], &v)) return false;
    Node* arm = sw->inputs[v ? 2 : 3];
    if (!arm->isGraphConst()) return false;
    Graph* X = arm->g;
    if (X == g || X->parent != g || X->madeByJ || X->isFunction || !X->params.empty() || !X->output) return false;
    if (X->code) return false;  // (an arm that has run already keeps its code: not moved)
    if (readElsewhere(sw, call) || graphReferenced(X, sw)) return false;
    Node* out = X->output;
    // A free-variable list holds nodes, not constants (the positions of g's own list are
    // what its closures' captured values follow, so lists are only ever edited in place).
    if (out->isConst() && capturedAnywhere(call)) return false;
    // The arm's nodes take the place of the switch and its call, in order.
    for (Node* x : X->nodes) x->graph = g;
    std::vector<Node*> body = std::move(X->nodes);
    X->nodes.clear();
    g->nodes.erase(g->nodes.begin() + (long)i, g->nodes.begin() + (long)i + 2);
    g->nodes.insert(g->nodes.begin() + (long)i, body.begin(), body.end());
    for (Graph* h : within)
      if (h->parent == X) h->parent = g;
    // X is left as an empty graph returning None that nothing refers to, like the arm not
    // taken.
    X->output = g->module->constNone();
    replaceUses(call, out);
    return true;
  }

  // Drops the call that is node i of g when dropKnownCalls allows it (FoldBranches.h).
  bool dropAt(size_t i);
};

// What the check of a callee knows of a value: enough to tell that the primitives it
// allows cannot fail on it.
enum class Kind : uint8_t { Other, Bool, Scalar, Tensor, Tuple };

Kind kindOf(const ir::Abstract* a) {
  if (!a) return Kind::Other;
  switch (a->kind) {
    case ir::AKind::Bool: return Kind::Bool;
    case ir::AKind::Int:
    case ir::AKind::Float:
    case ir::AKind::Str:
    case ir::AKind::DType:
    case ir::AKind::None: return Kind::Scalar;
    case ir::AKind::Tensor: return Kind::Tensor;
    default: return Kind::Other;
  }
}

// Whether a function's body, run on arguments of the given kinds, can neither fail nor
// have effects: only primitives that cannot fail on what they are given (isinstance
// against a built-in type, `is`, `==` / `!=` / `not` on Python scalars, a tensor's
// dtype, ndim or shape, tuples made and read at a known index) and `and` / `or` /
// `x if c else y` branches on bools whose arms are such code too. Nothing is called, so
// there is no call depth either.
struct PureBody {
  std::unordered_map<const Node*, Kind> kinds;  // parameters and nodes checked so far
  std::unordered_map<const Node*, std::vector<Kind>> items;  // of the Tuple ones (made here)

  bool known(const Node* x) const { return x->isConst() || kinds.count(x); }
  Kind of(const Node* x) const {
    if (x->isConst()) {
      switch (x->ckind) {
        case ir::ConstKind::Bool: return Kind::Bool;
        case ir::ConstKind::Int:
        case ir::ConstKind::Float:
        case ir::ConstKind::Str:
        case ir::ConstKind::DType:
        case ir::ConstKind::None: return Kind::Scalar;
        default: return Kind::Other;
      }
    }
    auto it = kinds.find(x);
    return it == kinds.end() ? Kind::Other : it->second;
  }
  static bool scalar(Kind k) { return k == Kind::Bool || k == Kind::Scalar; }
  // int, float, str, bool, list, tuple, dict, Tensor (runtime/HostPrims.cpp instanceOf)
  static bool builtinType(const Node* c) {
    if (!c->isConst() || c->ckind != ir::ConstKind::Prim) return false;
    switch (c->prim) {
      case Prim::IntNew: case Prim::FloatNew: case Prim::StrNew: case Prim::BoolNew:
      case Prim::ListNew: case Prim::TupleNew: case Prim::DictNew: case Prim::TensorNew: return true;
      default: return false;
    }
  }

  // Checks graph h (the function, or an arm of one of its branches); *out: its output's kind.
  bool check(const Graph* h, Kind* out) {
    const std::vector<Node*>& ns = h->nodes;
    for (size_t i = 0; i < ns.size(); ++i) {
      const Node* n = ns[i];
      Prim p;
      if (!n->callsPrim(&p) || !n->kwnames.empty()) return false;
      for (size_t k = 1; k < n->inputs.size(); ++k)
        if (!known(n->inputs[k])) return false;  // (a value from outside the function)
      size_t nin = n->inputs.size() - 1;
      const Node* a = nin > 0 ? n->inputs[1] : nullptr;
      const Node* b = nin > 1 ? n->inputs[2] : nullptr;
      Kind r = Kind::Other;
      switch (p) {
        case Prim::Isinstance:
          if (nin != 2 || !builtinType(b)) return false;
          r = Kind::Bool;
          break;
        case Prim::Is: if (nin != 2) return false; r = Kind::Bool; break;
        case Prim::Eq:
        case Prim::Ne: if (nin != 2 || !scalar(of(a)) || !scalar(of(b))) return false; r = Kind::Bool; break;
        case Prim::Truth:
        case Prim::Not: if (nin != 1 || !scalar(of(a))) return false; r = Kind::Bool; break;
        case Prim::GetAttr:
          if (nin != 2 || of(a) != Kind::Tensor || !b->isConst() || b->ckind != ir::ConstKind::Str) return false;
          if (b->s == "dtype" || b->s == "ndim") r = Kind::Scalar;
          else if (b->s != "shape") return false;
          break;
        case Prim::MakeTuple: {
          std::vector<Kind> ks;
          for (size_t k = 1; k < n->inputs.size(); ++k) ks.push_back(of(n->inputs[k]));
          items[n] = std::move(ks);
          r = Kind::Tuple;
          break;
        }
        case Prim::TupleGetItem: {
          if (nin != 2 || of(a) != Kind::Tuple || !b->isConst() || b->ckind != ir::ConstKind::Int) return false;
          const std::vector<Kind>& ks = items.at(a);
          if (b->i < 0 || b->i >= (int64_t)ks.size()) return false;
          r = ks[(size_t)b->i];
          break;
        }
        case Prim::Switch: {
          // s = switch(c, A, B); r = s(): both arms are checked (which one runs is the
          // callee's business; neither can fail).
          if (nin != 3 || of(a) != Kind::Bool || i + 1 >= ns.size()) return false;
          const Node* run = ns[i + 1];
          if (run->inputs.size() != 1 || run->inputs[0] != n || !run->kwnames.empty()) return false;
          Kind ka, kb;
          for (const Node* arm : {n->inputs[2], n->inputs[3]})
            if (!arm->isGraphConst() || arm->g->isFunction || !arm->g->params.empty() || !arm->g->output)
              return false;
          const Graph *A = n->inputs[2]->g, *B = n->inputs[3]->g;
          if (!check(A, &ka) || !check(B, &kb)) return false;
          kinds[n] = Kind::Other;
          if (ka == Kind::Tuple && kb == Kind::Tuple) {
            // (arms return a tuple of the values the branch defines: item by item)
            const std::vector<Kind>&ia = items.at(A->output), &ib = items.at(B->output);
            if (ia.size() != ib.size()) return false;
            std::vector<Kind> ks;
            for (size_t k = 0; k < ia.size(); ++k) ks.push_back(ia[k] == ib[k] ? ia[k] : Kind::Other);
            items[run] = std::move(ks);
            kinds[run] = Kind::Tuple;
          } else {
            kinds[run] = ka == kb && ka != Kind::Tuple ? ka : Kind::Other;
          }
          ++i;
          continue;
        }
        default: return false;
      }
      kinds[n] = r;
    }
    if (!h->output || !known(h->output)) return false;
    *out = of(h->output);
    return true;
  }
};

// The constant node of a known abstract (a Python scalar, a dtype, None); nullptr if none.
Node* constantOf(ir::Module* m, const ir::Abstract* a) {
  if (!a) return nullptr;
  if (a->kind == ir::AKind::None) return m->constNone();
  if (!a->known) return nullptr;
  switch (a->kind) {
    case ir::AKind::Bool: return m->constBool(a->b);
    case ir::AKind::Int: return m->constInt(a->i);
    case ir::AKind::Float: return m->constFloat(a->f);
    case ir::AKind::Str: return m->constStr(a->s);
    case ir::AKind::DType: return m->constDType(a->dtype);
    default: return nullptr;
  }
}

// Whether module-level variable gv is assigned once, in top-level code (not in a
// function: a function may run again), so that the value the abstracts saw is the one
// every later read gets. (A module's variables are assigned only by its own code.)
bool assignedOnce(const ir::GlobalVar* gv) {
  if (!gv->module) return false;
  const Node* set = nullptr;
  for (const auto& h : gv->module->graphs())
    for (const Node* n : h->nodes)
      if (n->isPrimApply(Prim::GlobalSet) && n->inputs.size() == 4 && n->inputs[2]->isConst() &&
          n->inputs[2]->ckind == ir::ConstKind::Global && n->inputs[2]->global == gv) {
        if (set) return false;
        set = n;
      }
  if (!set) return false;
  for (const Graph* h = set->graph; h; h = h->parent)
    if (h->isFunction) return false;
  return true;
}

// Whether call is a call of a function that cannot fail and has no effects, with a
// result the abstracts know as a constant.
bool droppable(const Node* call) {
  const ir::Abstract* r = call->abs;
  if (!r || !(r->kind == ir::AKind::None || (r->known && kindOf(r) != Kind::Other))) return false;
  if (!call->isApply() || !call->kwnames.empty() || call->inputs.empty()) return false;
  // The callee: a module-level function, defined once, read as a global (`f(x)`) or as a
  // module's attribute (`common.is_param(x)`, a method call on a module); effectful
  // callees are read after the state (depend).
  const Node* c = call->inputs[0];
  if (c->isPrimApply(Prim::Depend) && c->inputs.size() == 3) c = c->inputs[1];
  const ir::GlobalVar* gv = nullptr;
  size_t first = 1;  // the call's first argument
  if (c->isPrimApply(Prim::GlobalGet) && c->inputs.size() >= 2 && c->inputs[1]->isConst() &&
      c->inputs[1]->ckind == ir::ConstKind::Global) {
    gv = c->inputs[1]->global;
  } else if (c->isPrimConst(Prim::MethodCall) && call->inputs.size() >= 3 && call->inputs[1]->isConst() &&
             call->inputs[1]->ckind == ir::ConstKind::Str) {
    const ir::Abstract* recv = call->inputs[2]->abs;
    if (!recv || recv->kind != ir::AKind::Module || !recv->module) return false;
    gv = recv->module->findGlobal(call->inputs[1]->s);
    first = 3;
  }
  if (!gv) return false;
  const ir::Abstract* fa = preparingGlobalAbstract(gv);
  if (!fa || fa->kind != ir::AKind::Function || !fa->graph || !fa->elems.empty()) return false;
  const Graph* G = fa->graph;
  if (!G->isFunction || !G->freeVars.empty() || G->params.size() != call->inputs.size() - first) return false;
  PureBody body;
  for (size_t k = 0; k < G->params.size(); ++k) {
    if (G->paramKinds[k] != ir::ParamKind::Positional) return false;
    body.kinds[G->params[k]] = kindOf(call->inputs[first + k]->abs);
  }
  Kind out;
  // (last: the costliest) a function defined again later is called as the one current
  // then (tests/lang/names/redefine_function.msl)
  return body.check(G, &out) && assignedOnce(gv);
}

bool Folder::dropAt(size_t i) {
  Node* call = g->nodes[i];
  if (!droppable(call) || capturedAnywhere(call)) return false;
  Node* value = constantOf(g->module, call->abs);
  if (!value) return false;
  value->abs = call->abs;
  g->nodes.erase(g->nodes.begin() + (long)i);
  replaceUses(call, value);
  return true;
}

// Runs `step` (a Folder member) at each node of g, once `candidate` holds for one of them
// (the graphs within g are found only then); a step that changes g leaves at index i the
// node to look at next. Returns how many steps changed g.
template <class Candidate>
int rewriteNodes(Graph* g, Candidate candidate, bool (Folder::*step)(size_t)) {
  if (!g->module || g->madeByJ) return 0;
  if (std::none_of(g->nodes.begin(), g->nodes.end(), candidate)) return 0;
  Folder f{g, {}};
  for (const auto& gp : g->module->graphs())
    if (ir::isWithin(gp.get(), g)) f.within.push_back(gp.get());
  int changed = 0;
  for (size_t i = 0; i < g->nodes.size();) {
    if ((f.*step)(i)) {
      ++changed;
      continue;
    }
    ++i;
  }
  return changed;
}

}  // namespace

// (after a fold, index i holds the arm's first node; after a drop, the next node)
int foldKnownBranches(Graph* g) {
  return rewriteNodes(g, [](const Node* n) { return n->isPrimApply(Prim::Switch); }, &Folder::foldAt);
}

int dropKnownCalls(Graph* g) { return rewriteNodes(g, droppable, &Folder::dropAt); }

}  // namespace msl::codegen
