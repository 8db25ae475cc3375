// The forward (tangent) rule of every differentiable primitive, in one table. Each rule is
// written as IR (FwdCtx::call), so a rule is itself made of primitives with rules. In the
// comments, y is the result, ta/tb/tx the tangents of the arguments a/b/x and ty the
// tangent of y; "Z" is a missing tangent taken as zeros of its primal's structure
// (tree_zeros_like), which keeps broadcasting right: the tangent of a + b where only b
// depends on the inputs has a + b's shape, not b's.
#include "autodiff/ForwardRules.h"

#include <algorithm>
#include <unordered_set>

#include "autodiff/J.h"
#include "autodiff/Rules.h"
#include "ir/Abstract.h"
#include "ir/Diagnostics.h"

namespace msl::autodiff {

using ir::ConstKind;
using ir::Node;

namespace {

// A primitive's default literal (ir/Primitives.def) as a constant.
Node* defaultOf(ir::Module& m, const PrimParam& p) {
  const std::string& s = p.defaultText;
  if (s == "None") return m.constNone();
  if (s == "True" || s == "False") return m.constBool(s == "True");
  if (!s.empty() && (s[0] == '\'' || s[0] == '"')) return m.constStr(s.substr(1, s.size() - 2));
  DType d;
  if (dtypeFromName(s, &d)) return m.constDType(d);
  if (s.find_first_of(".e") != std::string::npos) return m.constFloat(std::stod(s));
  return m.constInt(std::stoll(s));
}

bool isNoneConst(const Node* n) { return n->isConst() && n->ckind == ConstKind::None; }

std::vector<Node*> tupleItemsOf(Node* t) {
  if (!t->isPrimApply(Prim::MakeTuple)) return {};
  return std::vector<Node*>(t->inputs.begin() + 1, t->inputs.end());
}

bool constInt(const Node* n, int64_t* v) {
  if (!n->isConst() || (n->ckind != ConstKind::Int && n->ckind != ConstKind::Bool)) return false;
  *v = n->ckind == ConstKind::Bool ? (int64_t)n->b : n->i;
  return true;
}

[[noreturn]] void notYet(const FwdCtx& r, const std::string& what) {
  raise(DiagId::NotSupportedYet, r.loc, {"jvp of " + what});
}

// The tangent of __nn_bwd(ct, kind, args) = (ct_a...) = grad of <ct, kind(a...)> in the
// direction t of its arguments a (gelu, layer_norm, batch_norm): H t, with H the Hessian
// of <ct, kind(a...)> in a. H is symmetric, so H t is what __nn_bwd's reverse rule
// (autodiff/Rules.cpp) gives its arguments for the cotangent t of (ct_a...): its
// second-order part, written as IR there. (Its part for ct, which the reverse rule makes
// too, is not needed here: those nodes are taken out again.) The arguments without a
// cotangent of their own (eps, approximate) must have no tangent.
Node* nnBwdArgsTerm(FwdCtx& r, const std::string& kind) {
  Node* args = r.x[2];
  Node* targs = r.t[2];
  std::vector<Node*> a = tupleItemsOf(args);
  if (a.empty()) notYet(r, "the gradient of " + kind + " with unpacked arguments");
  size_t last = a.size() - 1;  // eps (norms) or approximate (gelu)
  if (targs->isPrimApply(Prim::MakeTuple)) {
    Node* te = targs->inputs.size() > 1 + last ? targs->inputs[1 + last] : nullptr;
    if (te && !isNoneConst(te) && !te->isPrimApply(Prim::TreeZerosLike))
      notYet(r, "the gradient of " + kind + " with respect to " + (kind == "gelu" ? "approximate" : "eps"));
  }
  size_t mark = r.g->nodes.size();
  RuleCtx rc{r.m, r.g, r.loc, r.x, r.node, targs};
  std::vector<Node*> cts = reverseRule(Prim::NNBwd, rc);
  Node* out = cts.size() > 2 ? cts[2] : nullptr;
  // Drop the nodes the rule made that `out` does not use (every node of a graph runs).
  std::unordered_set<const Node*> keep;
  std::vector<const Node*> todo{out};
  while (!todo.empty()) {
    const Node* n = todo.back();
    todo.pop_back();
    if (!n || n->graph != r.g || !keep.insert(n).second) continue;
    for (const Node* i : n->inputs) todo.push_back(i);
  }
  auto& nodes = r.g->nodes;
  nodes.erase(std::remove_if(nodes.begin() + (long)mark, nodes.end(), [&](Node* n) { return !keep.count(n); }), nodes.end());
  return out;
}

}  // namespace

Node* FwdCtx::call(Prim p, std::vector<Node*> args, std::vector<std::string> kwnames) {
  args.insert(args.begin(), m.constPrim(p, loc));
  Node* n = m.newApply(g, std::move(args), loc);
  n->kwnames = std::move(kwnames);
  return n;
}

Node* FwdCtx::Z(size_t i) { return t[i] ? t[i] : call(Prim::TreeZerosLike, {x[i]}); }

Node* FwdCtx::linear(std::vector<size_t> params) {
  bool any = false;
  for (size_t p : params)
    for (size_t k : from[p]) any = any || inT[k];
  if (!any) return nullptr;
  std::vector<Node*> in = node->inputs;
  for (size_t p : params)
    for (size_t k : from[p]) in[k] = inT[k] ? inT[k] : call(Prim::TreeZerosLike, {node->inputs[k]});
  Node* n = m.newApply(g, std::move(in), loc);
  n->kwnames = node->kwnames;
  return n;
}

void bindForward(Prim p, FwdCtx& r) {
  const PrimInfo& info = primInfo(p);
  Node* n = r.node;
  r.x.clear();
  r.t.clear();
  r.from.clear();
  if (info.variadicNode) {
    for (size_t i = 1; i < n->inputs.size(); ++i) {
      r.x.push_back(n->inputs[i]);
      r.t.push_back(r.inT[i]);
      r.from.push_back({i});
    }
    return;
  }
  size_t npos = n->numPositional(), next = 1, np = info.params.size();
  r.from.assign(np, {});
  std::vector<std::string> keys;  // **kw: keyword names, by input
  std::vector<size_t> kwInputs;
  int varkw = -1;
  for (size_t i = 0; i < np; ++i) {
    const PrimParam& q = info.params[i];
    if (q.kind == PrimParam::VarArgs) {
      while (next <= npos) r.from[i].push_back(next++);
    } else if (q.kind == PrimParam::Positional && next <= npos) {
      r.from[i].push_back(next++);
    } else if (q.kind == PrimParam::VarKw) {
      varkw = (int)i;
    }
  }
  for (size_t k = 0; k < n->kwnames.size(); ++k) {
    size_t input = 1 + npos + k;
    bool found = false;
    for (size_t i = 0; i < np && !found; ++i)
      if (info.params[i].name == n->kwnames[k] && info.params[i].kind != PrimParam::VarArgs &&
          info.params[i].kind != PrimParam::VarKw) {
        r.from[i] = {input};
        found = true;
      }
    if (!found && varkw >= 0) {
      r.from[(size_t)varkw].push_back(input);
      keys.push_back(n->kwnames[k]);
    }
  }
  for (size_t i = 0; i < np; ++i) {
    const PrimParam& q = info.params[i];
    if (q.kind == PrimParam::VarArgs || q.kind == PrimParam::VarKw) {
      bool dict = q.kind == PrimParam::VarKw;
      std::vector<Node*> items, tans;
      bool any = false;
      for (size_t j = 0; j < r.from[i].size(); ++j) {
        size_t k = r.from[i][j];
        if (dict) {
          items.push_back(r.m.constStr(keys[j]));
          tans.push_back(r.m.constStr(keys[j]));
        }
        items.push_back(n->inputs[k]);
        tans.push_back(r.inT[k]);
        any = any || r.inT[k];
      }
      Prim mk = dict ? Prim::MakeDict : Prim::MakeTuple;
      r.x.push_back(r.call(mk, items));
      if (any)  // zeros for the items without a tangent
        for (size_t j = 0; j < r.from[i].size(); ++j)
          if (!r.inT[r.from[i][j]]) tans[dict ? 2 * j + 1 : j] = r.call(Prim::TreeZerosLike, {n->inputs[r.from[i][j]]});
      r.t.push_back(any ? r.call(mk, tans) : nullptr);
    } else if (r.from[i].empty()) {
      r.x.push_back(q.hasDefault ? defaultOf(r.m, q) : r.m.constNone());
      r.t.push_back(nullptr);
    } else {
      r.x.push_back(n->inputs[r.from[i][0]]);
      r.t.push_back(r.inT[r.from[i][0]]);
    }
  }
}

bool forwardRule(Prim p, FwdCtx& r, Node** tangent) {
  auto& x = r.x;
  auto& t = r.t;
  Node* y = r.node;
  auto C = [&](Prim q, std::vector<Node*> a) { return r.call(q, std::move(a)); };
  auto mul = [&](Node* a, Node* b) { return C(Prim::Mul, {a, b}); };
  auto div = [&](Node* a, Node* b) { return C(Prim::Div, {a, b}); };
  auto add = [&](Node* a, Node* b) { return C(Prim::Add, {a, b}); };
  auto sub = [&](Node* a, Node* b) { return C(Prim::Sub, {a, b}); };
  auto neg = [&](Node* a) { return C(Prim::Neg, {a}); };
  auto has = [&](size_t i) { return i < t.size() && t[i] != nullptr; };
  // The sum of two optional tangents (nullptr: zero).
  auto plus = [&](Node* a, Node* b) -> Node* { return !a ? b : !b ? a : add(a, b); };
  auto ctplus = [&](Node* a, Node* b) -> Node* { return !a ? b : !b ? a : C(Prim::CtAdd, {a, b}); };
  auto tsum = [&](Node* v, Node* axis, Node* keep) { return C(Prim::TensorSum, {v, axis, keep}); };
  auto kTrue = [&] { return r.m.constBool(true); };
  Node*& res = *tangent;
  res = nullptr;
  switch (p) {
    // ---- arithmetic
    case Prim::Add: res = add(r.Z(0), r.Z(1)); break;  // ta + tb
    case Prim::Sub: res = sub(r.Z(0), r.Z(1)); break;  // ta - tb
    case Prim::Mul:  // ta b + a tb (also list * n: the tangent list repeated)
      res = plus(has(0) ? mul(t[0], x[1]) : nullptr, has(1) ? mul(x[0], t[1]) : nullptr);
      break;
    case Prim::Div: {  // ta / b - y tb / b
      Node* da = has(0) ? div(t[0], x[1]) : nullptr;
      Node* db = has(1) ? div(mul(y, t[1]), x[1]) : nullptr;
      res = da && db ? sub(da, db) : da ? da : db ? neg(db) : nullptr;
      break;
    }
    case Prim::Neg: res = has(0) ? neg(t[0]) : nullptr; break;  // -ta
    case Prim::Pos: res = t[0]; break;                          // ta
    case Prim::Pow: {
      // ta b a^(b-1) + tb y log a (the second term only for a float exponent with a tangent).
      Node* da = has(0) ? mul(t[0], mul(x[1], C(Prim::Pow, {x[0], sub(x[1], r.integer(1))}))) : nullptr;
      int64_t unused;
      Node* db = has(1) && !constInt(x[1], &unused) ? mul(t[1], mul(y, C(Prim::Log, {x[0]}))) : nullptr;
      res = plus(da, db);
      break;
    }
    case Prim::MatMul:
    case Prim::Dot:  // ta @ b + a @ tb (bilinear)
      res = plus(has(0) ? C(p, {t[0], x[1]}) : nullptr, has(1) ? C(p, {x[0], t[1]}) : nullptr);
      break;

    // ---- elementwise functions: ty = f'(x) tx
    case Prim::Exp: res = has(0) ? mul(t[0], y) : nullptr; break;                          // tx y
    case Prim::Log: res = has(0) ? div(t[0], x[0]) : nullptr; break;                       // tx / x
    case Prim::Log1p: res = has(0) ? div(t[0], add(x[0], r.num(1.0))) : nullptr; break;   // tx / (1 + x)
    case Prim::Sqrt: res = has(0) ? div(mul(t[0], r.num(0.5)), y) : nullptr; break;       // tx / (2 y)
    case Prim::Rsqrt: res = has(0) ? mul(mul(t[0], r.num(-0.5)), div(y, x[0])) : nullptr; break;  // -tx y / (2 x)
    case Prim::Sin: res = has(0) ? mul(t[0], C(Prim::Cos, {x[0]})) : nullptr; break;      // tx cos x
    case Prim::Cos: res = has(0) ? neg(mul(t[0], C(Prim::Sin, {x[0]}))) : nullptr; break; // -tx sin x
    case Prim::Tanh: res = has(0) ? mul(t[0], sub(r.num(1.0), mul(y, y))) : nullptr; break;  // tx (1 - y^2)
    case Prim::Sigmoid: res = has(0) ? mul(t[0], mul(y, sub(r.num(1.0), y))) : nullptr; break;  // tx y (1 - y)
    case Prim::Relu: res = has(0) ? mul(t[0], C(Prim::Gt, {x[0], r.integer(0)})) : nullptr; break;  // tx [x > 0]
    case Prim::Softplus: res = has(0) ? mul(t[0], C(Prim::Sigmoid, {x[0]})) : nullptr; break;  // tx sigmoid(x)
    case Prim::Abs:
    case Prim::TensorAbs: res = has(0) ? mul(t[0], C(Prim::Sign, {x[0]})) : nullptr; break;  // tx sign(x)
    case Prim::Maximum:
    case Prim::Minimum: {
      // The larger (smaller) operand's tangent; ties take the mean of both (as the reverse rule).
      Prim wins = p == Prim::Maximum ? Prim::Gt : Prim::Lt;
      Node* tie = mul(C(Prim::Eq, {x[0], x[1]}), r.num(0.5));
      Node* da = has(0) ? mul(t[0], add(C(wins, {x[0], x[1]}), tie)) : nullptr;
      Node* db = has(1) ? mul(t[1], add(C(wins, {x[1], x[0]}), tie)) : nullptr;
      res = plus(da, db);
      break;
    }
    case Prim::Where: res = r.linear({1, 2}); break;   // where(k, ta, tb)
    case Prim::AsType: res = r.linear({0}); break;     // astype(tx, dtype)
    case Prim::TensorNew: res = r.linear({0}); break;  // tensor(tangent of data)
    case Prim::Full: res = r.linear({1}); break;       // full(shape, tv)
    case Prim::FloatNew:
    case Prim::Item: res = r.linear({0}); break;       // float(tx), tx.item()

    // ---- reductions
    case Prim::TensorSum:
    case Prim::Mean: res = r.linear({0}); break;      // sum(tx), mean(tx): linear
    case Prim::Sum: res = r.linear({0, 1}); break;    // sum(tx, tstart)
    case Prim::TensorMax:
    case Prim::TensorMin:
    case Prim::Max:
    case Prim::Min: {
      // The tangent at the elements equal to the result, averaged among ties:
      // ty = sum(tx m) / sum(m), m = [x == y broadcast back]. The builtin max(a, b, ...)
      // of several values takes the tangent of the first one equal to the result.
      bool builtin = p == Prim::Max || p == Prim::Min;
      Node *xv = x[0], *tv = t[0], *axis = x[1], *keep = x[2];
      if (builtin) {
        const std::vector<size_t>& items = r.from[0];
        if (items.size() != 1) {
          for (size_t j = items.size(); j-- > 0;) {
            size_t k = items[j];
            Node* tk = r.inT[k] ? r.inT[k] : C(Prim::TreeZerosLike, {r.node->inputs[k]});
            res = res ? C(Prim::Switch, {C(Prim::Eq, {r.node->inputs[k], y}), tk, res}) : tk;
          }
          break;
        }
        xv = r.node->inputs[items[0]];
        tv = r.inT[items[0]];
        if ((xv->abs && (xv->abs->kind == ir::AKind::List || xv->abs->kind == ir::AKind::Tuple)) ||
            xv->isPrimApply(Prim::MakeList) || xv->isPrimApply(Prim::MakeTuple)) {
          // max(seq): the tangent of the first item equal to the result (zeros where
          // that item has none), as __minmax_bwd gives it the cotangent
          if (tv) res = C(Prim::CtFill, {C(Prim::CtIndex, {tv, C(Prim::SeqIndex, {xv, y})}), y});
          break;
        }
      }
      if (!tv) break;
      Node* mask = C(Prim::AsType, {C(Prim::Eq, {xv, C(Prim::SumBwd, {y, xv, axis, keep})}), C(Prim::DTypeOf, {xv})});
      res = div(tsum(mul(tv, mask), axis, keep), tsum(mask, axis, keep));
      break;
    }
    case Prim::Logsumexp:  // sum(tx exp(x - y)), y broadcast back
      if (has(0))
        res = tsum(mul(t[0], C(Prim::Exp, {sub(x[0], C(Prim::SumBwd, {y, x[0], x[1], x[2]}))})), x[1], x[2]);
      break;
    case Prim::Softmax:  // y (tx - sum(tx y, axis))
      if (has(0)) res = mul(y, sub(t[0], tsum(mul(t[0], y), x[1], kTrue())));
      break;
    case Prim::LogSoftmax:  // tx - sum(tx exp(y), axis)
      if (has(0)) res = sub(t[0], tsum(mul(t[0], C(Prim::Exp, {y})), x[1], kTrue()));
      break;
    case Prim::Mse:  // mean((a - b)^2): 2 mean((a - b)(ta - tb))
      res = mul(C(Prim::Mean, {mul(sub(x[0], x[1]), sub(r.Z(0), r.Z(1)))}), r.num(2.0));
      break;
    case Prim::CrossEntropy: {  // logsumexp(l) - l[label]: sum(tl (softmax(l) - one_hot(label)), -1)
      if (!has(0)) break;
      Node* n = C(Prim::GetItem, {C(Prim::Shape, {x[0]}), r.integer(-1)});
      Node* pr = sub(C(Prim::Softmax, {x[0], r.integer(-1)}), C(Prim::OneHot, {x[1], n, r.m.constDType(DType::F32)}));
      res = tsum(mul(t[0], pr), r.integer(-1), r.m.constBool(false));
      break;
    }
    case Prim::Var:
    case Prim::Std: {
      // var = sum((x - m)^2) / (n - ddof): tvar = 2 sum((x - m) tx) / (n - ddof);
      // std = sqrt(var): tstd = tvar / (2 y).
      if (!has(0)) break;
      Node* d = sub(x[0], C(Prim::Mean, {x[0], x[1], kTrue()}));
      Node* n = sub(div(C(Prim::Size, {x[0]}), C(Prim::Size, {y})), x[3]);
      Node* tv = div(mul(tsum(mul(d, t[0]), x[1], x[2]), r.num(2.0)), n);
      res = p == Prim::Std ? div(tv, mul(y, r.num(2.0))) : tv;
      break;
    }

    // ---- neural-network operations
    case Prim::Conv2d: {  // bilinear in (x, w), linear in b: conv(tx, w, tb) + conv(x, tw)
      Node* a = has(0) || has(2) ? C(Prim::Conv2d, {r.Z(0), x[1], has(2) ? t[2] : r.m.constNone(), x[3], x[4]}) : nullptr;
      Node* b = has(1) ? C(Prim::Conv2d, {x[0], t[1], r.m.constNone(), x[3], x[4]}) : nullptr;
      res = plus(a, b);
      break;
    }
    case Prim::AvgPool2d: res = r.linear({0}); break;  // linear
    case Prim::MaxPool2d:  // the tangent at the element each window takes (linear in tx)
      if (has(0)) res = C(Prim::MaxPoolJvp, {t[0], x[0], x[1], x[2], x[3]});
      break;
    case Prim::MaxPoolJvp: res = r.linear({0}); break;  // linear in t (the selection depends on x only)
    case Prim::LayerNorm: {
      // y = xh g + b, xh = u r, u = x - mean(x), r = rsqrt(mean(u^2) + eps) (last axis):
      // txh = r (tu - xh mean(xh tu)), tu = tx - mean(tx); ty = txh g + xh tg + tb.
      Node* ax = r.integer(-1);
      Node* u = sub(x[0], C(Prim::Mean, {x[0], ax, kTrue()}));
      Node* rr = C(Prim::Rsqrt, {add(C(Prim::Mean, {mul(u, u), ax, kTrue()}), x[3])});
      Node* xh = mul(u, rr);
      bool gamma = !isNoneConst(x[1]);
      if (has(0)) {
        Node* tu = sub(t[0], C(Prim::Mean, {t[0], ax, kTrue()}));
        Node* txh = mul(rr, sub(tu, mul(xh, C(Prim::Mean, {mul(xh, tu), ax, kTrue()}))));
        res = gamma ? mul(txh, x[1]) : txh;
      }
      if (has(1)) res = plus(res, mul(xh, t[1]));
      if (has(2)) res = add(res ? res : C(Prim::TreeZerosLike, {y}), t[2]);
      break;
    }
    case Prim::BatchNorm: {
      // bn(x, m, v, g, b) = (x - m) s g + b with s = rsqrt(v + eps), per channel (axis 1),
      // so each term is a batch_norm: bn(tx, tm, v, g) + bn(x, m, v, tg) + bn(0, 0, v, None, tb)
      // + bn(x, m, v, g tv (-1/2) / (v + eps)) (ds = -s tv / (2 (v + eps))).
      auto bn = [&](Node* X, Node* M, Node* G, Node* B) { return C(Prim::BatchNorm, {X, M, x[2], G, B, x[5]}); };
      Node* none = r.m.constNone();
      if (has(0) || has(1)) res = bn(r.Z(0), r.Z(1), x[3], none);
      if (has(3)) res = plus(res, bn(x[0], x[1], t[3], none));
      if (has(4)) res = plus(res, bn(C(Prim::TreeZerosLike, {x[0]}), C(Prim::TreeZerosLike, {x[1]}), none, t[4]));
      if (has(2)) {
        Node* gv = mul(t[2], div(r.num(-0.5), add(x[2], x[5])));
        if (!isNoneConst(x[3])) gv = mul(gv, x[3]);
        res = plus(res, bn(x[0], x[1], gv, none));
      }
      break;
    }
    case Prim::Gelu:  // elementwise: tx gelu'(x), which the backward helper computes for ct = tx
      if (has(0)) res = C(Prim::CtIndex, {C(Prim::NNBwd, {t[0], r.m.constStr("gelu"), C(Prim::MakeTuple, {x[0], x[1]})}), r.integer(0)});
      break;
    case Prim::Clip: {
      // clip(x, lo, hi) = minimum(maximum(x, lo), hi): the rules of maximum and minimum.
      Node* cur = x[0];
      Node* tc = t[0];
      for (int side = 0; side < 2; ++side) {
        Node* bound = x[1 + side];
        if (isNoneConst(bound)) continue;
        Prim wins = side == 0 ? Prim::Gt : Prim::Lt;
        Node* tie = mul(C(Prim::Eq, {cur, bound}), r.num(0.5));
        Node* da = tc ? mul(tc, add(C(wins, {cur, bound}), tie)) : nullptr;
        Node* db = has(1 + side) ? mul(t[1 + side], add(C(wins, {bound, cur}), tie)) : nullptr;
        tc = plus(da, db);
        cur = C(side == 0 ? Prim::Maximum : Prim::Minimum, {cur, bound});
      }
      res = tc;
      break;
    }
    case Prim::Embedding: res = r.linear({0}); break;  // embedding(ttable, ids)
    case Prim::Swapaxes: res = r.linear({0}); break;
    case Prim::Dropout: res = r.linear({1}); break;    // the same mask (the same key)

    // ---- shape: linear, the same call on the tangent
    case Prim::Reshape: case Prim::ExpandDims: case Prim::Squeeze: case Prim::Flatten:
    case Prim::BroadcastTo: case Prim::Transpose: case Prim::TransposeT:
    case Prim::Concat: case Prim::Stack:  // concat of the tangents
    case Prim::TensorGetItem:
    case Prim::Cumsum: case Prim::Take: case Prim::Tile: case Prim::Split: case Prim::TreeLeaves:
      res = r.linear({0});
      break;
    case Prim::Pad: res = r.linear({0, 2}); break;  // pad(tx, widths, tvalue)
    case Prim::SetItem: case Prim::SetAttr: case Prim::TensorSetItem: res = r.linear({0, 2}); break;  // tx with its slot (field) set to tv
    case Prim::DictNew: res = r.linear({0, 1}); break;  // the dict of the tangents
    case Prim::DictValues: case Prim::DictItems: res = r.linear({0}); break;  // the tangent dict's
    case Prim::Linspace: res = r.linear({0, 1}); break;  // linspace(ta, tb): linear in the bounds together
    case Prim::Uniform: res = r.linear({3, 4}); break;   // tmin + u (tmax - tmin): the same draws

    // ---- reductions, selection and containers (issue 4)
    case Prim::Prod: {
      // sum over the axis of tx prod_{j != i} x_j, the factors as the reverse rule takes
      // them (JAX's zero handling): with p the product of the nonzero x of the slice and z
      // its count of zeros, z = 0: p / x_i; z = 1: p at the zero, 0 elsewhere; z >= 2: 0.
      if (!has(0)) break;
      Node* isz = C(Prim::Eq, {x[0], r.num(0.0)});
      Node* safe = C(Prim::Where, {isz, r.num(1.0), x[0]});
      Node* pnz = C(Prim::Prod, {safe, x[1], kTrue()});
      Node* z = tsum(isz, x[1], kTrue());
      Node* atZero = C(Prim::Where, {C(Prim::Eq, {z, r.integer(1)}), pnz, r.num(0.0)});
      Node* elsewhere = C(Prim::Where, {C(Prim::Eq, {z, r.integer(0)}), div(pnz, safe), r.num(0.0)});
      res = tsum(mul(t[0], C(Prim::Where, {isz, atZero, elsewhere})), x[1], x[2]);
      break;
    }
    case Prim::Sort:  // tx through the sorting permutation (gathered)
      if (has(0)) res = C(Prim::SortBwd, {t[0], x[0], x[1], kTrue()});
      break;
    case Prim::Topk: {  // (tx at the indices, zeros for the integer indices)
      if (!has(0)) break;
      Node* idx = C(Prim::TupleGetItem, {y, r.integer(1)});
      res = C(Prim::MakeTuple, {C(Prim::TopkBwd, {t[0], x[0], idx, kTrue()}), C(Prim::TreeZerosLike, {idx})});
      break;
    }
    case Prim::Einsum:  // linear in each operand: the sum over operands of einsum with that one's tangent
      for (size_t k : r.from[1]) {
        if (!r.inT[k]) continue;
        std::vector<Node*> args{x[0]};
        for (size_t j : r.from[1]) args.push_back(j == k ? r.inT[k] : r.node->inputs[j]);
        res = plus(res, C(Prim::Einsum, args));
      }
      break;
    case Prim::Sorted:  // the iterable's tangent in the result's order (__seq_bwd's sorted^T)
      if (has(0))
        res = C(Prim::SeqBwd, {t[0], C(Prim::MakeTuple, {x[0], C(Prim::MakeTuple, {x[0], y})}), r.m.constStr("sorted^T")});
      break;
    case Prim::Partial:  // ((t of the bound args...), {kw: t}): what __jvpcall hands to them (as Jvp.cpp)
      if (has(1) || has(2)) res = C(Prim::MakeTuple, {has(1) ? t[1] : r.m.constNone(), has(2) ? t[2] : r.m.constNone()});
      break;

    // ---- sequences made from iterables: the same on the tangent of the iterable
    case Prim::Enumerate: case Prim::Zip: case Prim::ListNew: case Prim::TupleNew: case Prim::Reversed:
      res = r.linear({0});
      break;

    // ---- structure (core): the same structure built from, or read in, the tangents
    case Prim::GetItem: case Prim::TupleGetItem: case Prim::GetAttr: case Prim::Unpack:
      res = r.linear({0});
      break;
    case Prim::MakeTuple:
    case Prim::MakeList: {
      std::vector<size_t> all;
      for (size_t i = 0; i < x.size(); ++i) all.push_back(i);
      res = r.linear(all);
      break;
    }
    case Prim::MakeDict: {  // (k0, v0, k1, v1, ...): the values' tangents
      std::vector<size_t> vals;
      for (size_t i = 1; i < x.size(); i += 2) vals.push_back(i);
      res = r.linear(vals);
      break;
    }
    case Prim::ListAppendLocal:
    case Prim::ListAppend: res = r.linear({0, 1}); break;  // the tangent list with the item's tangent appended
    case Prim::Depend: res = r.linear({0}); break;
    case Prim::CheckBound: res = t[0]; break;

    // ---- the helpers of reverse mode are linear in their cotangent argument (None-safe),
    // so their tangent is the helper applied to the cotangent's tangent
    case Prim::CtAdd: res = r.linear({0, 1}); break;
    // grad's pieces (higher order): linear in the cotangents (and grad_pack in the value);
    // grad(f) and f_vjp are functions, which carry no tangent
    case Prim::GradPack: res = r.linear({0, 1}); break;
    case Prim::VjpPack: case Prim::JSiteArrange: case Prim::VjpPackBwd: case Prim::JSiteArrangeBwd:
      res = r.linear({0});
      break;
    case Prim::GradPackBwd: res = r.linear({0}); break;
    // vmap's helpers: repeating and per-example selection are linear in the values
    case Prim::VmapBcast: res = r.linear({0}); break;
    case Prim::VmapSelect: res = r.linear({1, 2}); break;
    case Prim::Grad: case Prim::ValueAndGrad: case Prim::Jacobian: case Prim::Jit: case Prim::VjpMake: case Prim::Vmap: break;
    case Prim::CtFill: case Prim::CtIndex: case Prim::Unbroadcast: case Prim::SumBwd:
    case Prim::MinMaxBwd:  // the mask is piecewise constant in x
    case Prim::GetItemBwd: case Prim::GetAttrBwd: case Prim::TransposeBwd: case Prim::ConcatBwd:
    case Prim::UnpackBwd: case Prim::TensorNewBwd: case Prim::SeqBwd:
    case Prim::TakeBwd: case Prim::TileBwd: case Prim::PadBwd: case Prim::SplitBwd:
    case Prim::SortBwd: case Prim::TopkBwd:  // (the permutation is piecewise constant in x)
      res = r.linear({0});
      break;
    case Prim::MatMulBwd: {
      // which=0: ct @ y^T, so mb(tct) + mb(ct) with tangent y; which=1: x^T @ ct likewise with x.
      res = r.linear({0});
      if (!has(1) && !has(2)) break;
      int64_t w;
      if (!constInt(x[3], &w)) notYet(r, "__matmul_bwd with a computed operand index");
      if (w == 0 && has(2)) res = ctplus(res, C(Prim::MatMulBwd, {x[0], x[1], t[2], x[3]}));
      if (w == 1 && has(1)) res = ctplus(res, C(Prim::MatMulBwd, {x[0], t[1], x[2], x[3]}));
      break;
    }
    case Prim::NNBwd: {
      // Linear in ct. In the arguments: pooling, clip and relu select by a piecewise-constant
      // mask (no term); conv2d's ct_x is linear in w and ct_w in x; the norms and gelu
      // take the second-order part of their reverse rule (nnBwdArgsTerm).
      res = r.linear({0});
      if (!has(2)) break;
      if (!x[1]->isConst() || x[1]->ckind != ConstKind::Str) notYet(r, "__nn_bwd of an unknown operation");
      const std::string& kind = x[1]->s;
      if (kind == "max_pool2d" || kind == "avg_pool2d" || kind == "clip" || kind == "relu") break;
      if (kind == "gelu" || kind == "layer_norm" || kind == "batch_norm") {
        res = ctplus(res, nnBwdArgsTerm(r, kind));
        break;
      }
      if (kind != "conv2d") notYet(r, "the gradient of " + kind + " (second-order derivatives of " + kind + ")");
      auto item = [&](Node* tup, int64_t i) { return C(Prim::CtIndex, {tup, r.integer(i)}); };
      Node* args = x[2];
      Node* targs = t[2];
      std::vector<Node*> withW{item(args, 0), item(targs, 1), item(args, 2), item(args, 3), item(args, 4)};
      std::vector<Node*> withX{item(targs, 0), item(args, 1), item(args, 2), item(args, 3), item(args, 4)};
      Node* kindC = r.m.constStr("conv2d");
      Node* dx = item(C(Prim::NNBwd, {x[0], kindC, C(Prim::MakeTuple, withW)}), 0);
      Node* dw = item(C(Prim::NNBwd, {x[0], kindC, C(Prim::MakeTuple, withX)}), 1);
      res = ctplus(res, C(Prim::MakeTuple, {dx, dw, r.m.constNone()}));
      break;
    }
    default: return false;
  }
  return true;
}

}  // namespace msl::autodiff
