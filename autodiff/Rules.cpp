// The reverse rule of every differentiable primitive, in one table. Each rule is written
// as IR (RuleCtx::call), so a rule is itself made of primitives with rules. In the
// comments, c is the cotangent of the result y, and "ub(v, x)" sums v to the shape and
// dtype of x (__unbroadcast: the cotangent of a broadcast operand; None for integers).
#include "autodiff/Rules.h"

#include "autodiff/J.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "ir/Abstract.h"
#include "ir/Diagnostics.h"

namespace msl::autodiff {

using ir::Node;

namespace {

// The items of a tuple built in the graph (make_tuple(a, b, ...)), or an empty vector.
std::vector<Node*> tupleItemsOf(Node* t) {
  if (!t->isPrimApply(Prim::MakeTuple)) return {};
  return std::vector<Node*>(t->inputs.begin() + 1, t->inputs.end());
}

bool isNoneConst(const Node* n) { return n->isConst() && n->ckind == ir::ConstKind::None; }

// A string constant's text; raises NotSupportedYet (naming `what`) when n is not one.
const std::string& constText(const Node* n, SourceLoc loc, const char* what) {
  if (!n->isConst() || n->ckind != ir::ConstKind::Str) raise(DiagId::NotSupportedYet, loc, {what});
  return n->s;
}

// einsum: the operands' subscripts and the output's ("ij,jk" with no "->": the letters
// used once, in alphabetical order, as NumPy does).
void parseEinsum(std::string spec, std::vector<std::string>* ins, std::string* out) {
  spec.erase(std::remove(spec.begin(), spec.end(), ' '), spec.end());
  size_t arrow = spec.find("->");
  std::string lhs = arrow == std::string::npos ? spec : spec.substr(0, arrow);
  size_t start = 0;
  while (true) {
    size_t comma = lhs.find(',', start);
    ins->push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (arrow != std::string::npos) {
    *out = spec.substr(arrow + 2);
    return;
  }
  std::map<char, int> count;
  for (const auto& in : *ins)
    for (char ch : in) ++count[ch];
  out->clear();
  for (auto [ch, n] : count)
    if (n == 1) out->push_back(ch);
}

}  // namespace

Node* RuleCtx::call(Prim p, std::vector<Node*> args) {
  args.insert(args.begin(), m.constPrim(p, loc));
  return m.newApply(b, std::move(args), loc);
}

// __nn_bwd(ct, kind, args) -> (ct_arg...): its own reverse rule, per kind. c is the tuple
// of cotangents of those outputs; ci(k) is the k-th (zeros when None). The part linear in
// ct is the forward derivative of kind(*args) in the direction c; the rest is the
// second derivative of kind contracted with ct and c.
static std::vector<Node*> nnBwdRule(RuleCtx& r) {
  Node *ct = r.x[0], *c = r.ct, *y = r.out;
  const std::string& kind = constText(r.x[1], r.loc, "differentiating __nn_bwd with a non-constant kind");
  std::vector<Node*> a = tupleItemsOf(r.x[2]);
  if (a.empty()) raise(DiagId::NotSupportedYet, r.loc, {"differentiating __nn_bwd with unpacked arguments"});
  auto C = [&](Prim q, std::vector<Node*> v) { return r.call(q, std::move(v)); };
  auto mul = [&](Node* p, Node* q) { return C(Prim::Mul, {p, q}); };
  auto add = [&](Node* p, Node* q) { return C(Prim::Add, {p, q}); };
  auto sub = [&](Node* p, Node* q) { return C(Prim::Sub, {p, q}); };
  auto ci = [&](int64_t k) {
    return C(Prim::CtFill, {C(Prim::CtIndex, {c, r.integer(k)}), C(Prim::TupleGetItem, {y, r.integer(k)})});
  };
  auto nn = [&](Node* cot, const char* k, std::vector<Node*> args, int64_t which) {
    Node* t = C(Prim::NNBwd, {cot, r.m.constStr(k), C(Prim::MakeTuple, std::move(args))});
    return C(Prim::CtIndex, {t, r.integer(which)});
  };
  auto tuple = [&](std::vector<Node*> v) { return C(Prim::MakeTuple, std::move(v)); };
  std::vector<Node*> none(a.size(), r.none());
  if (kind == "gelu") {  // d ct = gelu'(x) c_x; d x = gelu''(x) ct c_x
    Node* cx = ci(0);
    std::vector<Node*> dargs = none;
    dargs[0] = nn(mul(ct, cx), "gelu_grad", a, 0);
    return {nn(cx, "gelu", a, 0), nullptr, tuple(dargs)};
  }
  if (kind == "relu") {  // linear in ct with a piecewise-constant mask: d ct = c_x [x > 0]
    // (its result is x's cotangent itself, so c is c_x)
    Node* cx = C(Prim::CtFill, {c, y});
    return {r.ub(C(Prim::NNBwd, {cx, r.m.constStr("relu"), C(Prim::MakeTuple, a)}), ct), nullptr, nullptr};
  }
  if (kind == "clip") {
    // ct_x = ct wx, ct_lo = ub(ct wl), ct_hi = ub(ct wh) with 0/1/one-half weights (ties
    // share): d ct = c_x wx + c_lo wl + c_hi wh; the weights are piecewise constant.
    Node *x = a[0], *lo = a[1], *hi = a[2];
    bool hasLo = !isNoneConst(lo), hasHi = !isNoneConst(hi);
    auto share = [&](Prim strict, Node* u, Node* v) {
      return add(C(strict, {u, v}), mul(C(Prim::Eq, {u, v}), r.num(0.5)));
    };
    Node* wx = r.num(1.0);
    if (hasLo) wx = mul(wx, share(Prim::Gt, x, lo));
    if (hasHi) wx = mul(wx, share(Prim::Lt, x, hi));
    Node* d = mul(ci(0), wx);
    if (hasLo) {
      Node* wl = share(Prim::Gt, lo, x);
      if (hasHi) wl = mul(wl, share(Prim::Lt, x, hi));
      d = add(d, mul(ci(1), wl));
    }
    if (hasHi) d = add(d, mul(ci(2), share(Prim::Gt, x, hi)));
    return {r.ub(d, ct), nullptr, nullptr};
  }
  if (kind == "avg_pool2d") {  // linear in ct, independent of x: d ct = avg_pool2d(c_x)
    return {r.ub(C(Prim::AvgPool2d, {ci(0), a[1], a[2], a[3]}), ct), nullptr, nullptr};
  }
  if (kind == "max_pool2d") {  // ct routed to each window's maximum: d ct = c_x read at those maxima
    return {r.ub(nn(ci(0), "max_pool2d^T", a, 0), ct), nullptr, nullptr};
  }
  if (kind.rfind("conv2d@", 0) == 0) {
    // Only cotangent k was computed (conv2d's rule asks for each operand separately):
    // @0: ct_x = conv^T(ct, w): d ct = conv2d(c_x, w), d w = corr(ct, c_x);
    // @1: ct_w = corr(ct, x): d ct = conv2d(x, c_w), d x = conv^T(ct, c_w);
    // @2: ct_b = sum(ct): d ct = c_b broadcast over (N, H, W).
    Node *x = a[0], *w = a[1], *s = a[3], *p = a[4];
    std::vector<Node*> dargs = none;
    Node* dct;
    if (kind == "conv2d@0") {
      dct = C(Prim::Conv2d, {ci(0), w, r.none(), s, p});
      dargs[1] = nn(ct, "conv2d@1", {ci(0), w, r.none(), s, p}, 1);
    } else if (kind == "conv2d@1") {
      dct = C(Prim::Conv2d, {x, ci(1), r.none(), s, p});
      dargs[0] = nn(ct, "conv2d@0", {x, ci(1), r.none(), s, p}, 0);
    } else {
      Node* cb = C(Prim::Reshape, {ci(2), tuple({r.integer(1), r.integer(-1), r.integer(1), r.integer(1)})});
      dct = add(C(Prim::ZerosLike, {ct, r.none()}), cb);
    }
    return {r.ub(dct, ct), nullptr, tuple(dargs)};
  }
  if (kind == "conv2d") {
    // dx = conv^T(ct, w), dw = corr(ct, x), db = sum(ct), bilinear in (ct, w) and (ct, x):
    // d ct = conv2d(c_x, w, c_b) + conv2d(x, c_w); d x = conv^T(ct, c_w); d w = corr(ct, c_x).
    Node *x = a[0], *w = a[1], *b = a[2], *s = a[3], *p = a[4];
    Node* cx = ci(0);
    Node* cw = ci(1);
    Node* dct = add(C(Prim::Conv2d, {cx, w, isNoneConst(b) ? r.none() : ci(2), s, p}), C(Prim::Conv2d, {x, cw, r.none(), s, p}));
    std::vector<Node*> dargs = none;
    dargs[0] = nn(ct, "conv2d", {x, cw, r.none(), s, p}, 0);
    dargs[1] = nn(ct, "conv2d", {cx, w, r.none(), s, p}, 1);
    return {r.ub(dct, ct), nullptr, tuple(dargs)};
  }
  if (kind == "layer_norm") {
    // Over the last axis, N items: mu, xc = x - mu, r = rsqrt(mean(xc^2) + eps), xh = xc r.
    // With A(v) = r (v - mean(v) - xh mean(v xh)) (layer_norm's VJP without gamma) and
    // a = ct gamma: dx = A(a), dgamma = sum(ct xh), dbeta = sum(ct). So
    //   d ct = A(u) gamma + c_g xh + c_b                    (u = c_dx, A self-adjoint)
    //   d gamma = sum over leading axes of A(u) ct
    //   d x = A(c_g ct) + dF/dx of F = <u, r (a - mean a) - r xh mean(a xh)> at fixed a:
    //     G_xh = -r (a mean(u xh) + m u), m = mean(a xh);  G_r = sum(u (a - mean a)) - m sum(u xh) + sum(G_xh xc)
    //     dxc = r G_xh - G_r r^3 xc / N;  d x = dxc - mean(dxc).
    Node *x = a[0], *g = a[1], *beta = a[2], *eps = a[3];
    bool hasG = !isNoneConst(g), hasB = !isNoneConst(beta);
    Node* axis = r.integer(-1);
    Node* keep = r.m.constBool(true);
    auto mean = [&](Node* v) { return C(Prim::Mean, {v, axis, keep}); };
    auto sum = [&](Node* v) { return C(Prim::TensorSum, {v, axis, keep}); };
    Node* u = ci(0);
    Node* A_u = nn(u, "layer_norm", {x, r.none(), r.none(), eps}, 0);
    Node* xc = sub(x, mean(x));
    Node* rs = C(Prim::Rsqrt, {add(mean(mul(xc, xc)), eps)});
    Node* xh = mul(xc, rs);
    Node* av = hasG ? mul(ct, g) : ct;
    Node* m = mean(mul(av, xh));
    Node* gxh = C(Prim::Neg, {mul(rs, add(mul(av, mean(mul(u, xh))), mul(m, u)))});
    Node* gr = add(sub(sum(mul(u, sub(av, mean(av)))), mul(m, sum(mul(u, xh)))), sum(mul(gxh, xc)));
    Node* n = C(Prim::GetItem, {C(Prim::Shape, {x}), r.integer(-1)});
    Node* r3 = mul(mul(rs, rs), rs);
    Node* dxc = sub(mul(rs, gxh), C(Prim::Div, {mul(mul(gr, r3), xc), n}));
    Node* dx = sub(dxc, mean(dxc));
    Node* dct = hasG ? mul(A_u, g) : A_u;
    std::vector<Node*> dargs = none;
    if (hasG) {
      Node* cg = ci(1);
      dct = add(dct, mul(cg, xh));
      dx = add(dx, nn(mul(cg, ct), "layer_norm", {x, r.none(), r.none(), eps}, 0));
      dargs[1] = r.ub(mul(A_u, ct), g);
    }
    if (hasB) dct = add(dct, ci(2));
    dargs[0] = r.ub(dx, x);
    return {r.ub(dct, ct), nullptr, tuple(dargs)};
  }
  if (kind == "batch_norm") {
    // y = (x - m) s g + b per channel (axis 1), s = rsqrt(v + eps): ct_x = ct s g,
    // ct_m = -S(ct) s g, ct_v = -S(ct xm) g s^3 / 2, ct_g = S(ct xm) s, ct_b = S(ct), with
    // xm = x - m and S the sum over every axis but 1 (__nn_bwd's own ct_b). Linear in ct:
    //   d ct = batch_norm(c_x, c_m, v, g, c_b) + xm s G,  G = c_g - c_v g s^2 / 2
    //   d x = ct s G,  d m = -S(ct s G)
    //   d v = -s^3 (g P + c_g Q) / 2 + 3 s^5 g c_v Q / 4,  d g = s P - s^3 c_v Q / 2
    // where P = S(c_x ct) - c_m S(ct) and Q = S(ct xm) = S(ct x) - m S(ct).
    Node *x = a[0], *mu = a[1], *v = a[2], *g = a[3], *beta = a[4], *eps = a[5];
    bool hasG = !isNoneConst(g), hasB = !isNoneConst(beta);
    Node* gg = hasG ? g : r.num(1.0);
    auto S = [&](Node* t) { return nn(t, "batch_norm", {x, mu, v, g, mu, eps}, 4); };
    Node* s = C(Prim::Rsqrt, {add(v, eps)});
    Node* s2 = mul(s, s);
    Node* s3 = mul(s2, s);
    Node *cx = ci(0), *cm = ci(1), *cv = ci(2), *cg = hasG ? ci(3) : nullptr;
    Node* G = mul(mul(cv, gg), mul(s2, r.num(-0.5)));
    if (hasG) G = add(cg, G);
    Node* dct = add(C(Prim::BatchNorm, {cx, cm, v, g, hasB ? ci(4) : r.none(), eps}),
                    C(Prim::BatchNorm, {x, mu, v, G, r.none(), eps}));
    Node* dx = C(Prim::BatchNorm, {ct, C(Prim::ZerosLike, {mu, r.none()}), v, G, r.none(), eps});
    Node* sct = S(ct);
    Node* P = sub(S(mul(cx, ct)), mul(cm, sct));
    Node* Q = sub(S(mul(ct, x)), mul(mu, sct));
    Node* dv = mul(mul(s3, r.num(-0.5)), mul(gg, P));
    if (hasG) dv = add(dv, mul(mul(s3, r.num(-0.5)), mul(cg, Q)));
    dv = add(dv, mul(mul(mul(s3, s2), r.num(0.75)), mul(mul(gg, cv), Q)));
    std::vector<Node*> dargs = none;
    dargs[0] = r.ub(dx, x);
    dargs[1] = r.ub(C(Prim::Neg, {S(dx)}), mu);
    dargs[2] = r.ub(dv, v);
    if (hasG) dargs[3] = r.ub(sub(mul(s, P), mul(mul(s3, r.num(0.5)), mul(cv, Q))), g);
    return {r.ub(dct, ct), nullptr, tuple(dargs)};
  }
  raise(DiagId::NotSupportedYet, r.loc, {"differentiating the backward pass of " + kind});
}

std::vector<Node*> reverseRule(Prim p, RuleCtx& r) {
  Node* c = r.ct;
  Node* y = r.out;
  auto& x = r.x;
  auto C = [&](Prim q, std::vector<Node*> a) { return r.call(q, std::move(a)); };
  auto mul = [&](Node* a, Node* b) { return C(Prim::Mul, {a, b}); };
  auto div = [&](Node* a, Node* b) { return C(Prim::Div, {a, b}); };
  auto add = [&](Node* a, Node* b) { return C(Prim::Add, {a, b}); };
  auto sub = [&](Node* a, Node* b) { return C(Prim::Sub, {a, b}); };
  auto neg = [&](Node* a) { return C(Prim::Neg, {a}); };
  auto ub = [&](Node* v, Node* like) { return r.ub(v, like); };
  switch (p) {
    // ---- arithmetic
    case Prim::Add: {  // c, c; concatenated sequences (known from the primal's abstract): c[:len(a)], c[len(a):]
      auto is = [](const Node* v, std::initializer_list<ir::AKind> ks) {
        const Node* o = v->jorigin ? v->jorigin : v;
        return o->abs && std::find(ks.begin(), ks.end(), o->abs->kind) != ks.end();
      };
      auto seq = [&](const Node* v) { return is(v, {ir::AKind::List, ir::AKind::Tuple}); };
      auto num = [&](const Node* v) { return is(v, {ir::AKind::Tensor, ir::AKind::Float, ir::AKind::Int, ir::AKind::Bool}); };
      if (seq(x[0]) || seq(x[1]))
        return {ub(c, x[0]), ub(C(Prim::GetItem, {c, C(Prim::MakeSlice, {C(Prim::Len, {x[0]}), r.none(), r.none()})}), x[1])};
      if (num(x[0]) || num(x[1])) return {ub(c, x[0]), ub(c, x[1])};
      // Types unknown here (J of a graph J made): decided at run time. ub(c, a) also takes
      // a sequence's first len(a) items.
      return {ub(c, x[0]), C(Prim::SeqBwd, {c, C(Prim::MakeTuple, {x[0], x[1]}), r.m.constStr("concat@1")})};
    }
    case Prim::Sub: return {ub(c, x[0]), ub(neg(c), x[1])};          // c, -c
    case Prim::Mul: {  // c*b, c*a; a sequence repeated n times (known from the abstract): the sum of its n copies' cts
      auto seqAt = [&](int k) {
        const Node* o = x[k]->jorigin ? x[k]->jorigin : x[k];
        return o->abs && (o->abs->kind == ir::AKind::List || o->abs->kind == ir::AKind::Tuple);
      };
      for (int k = 0; k < 2; ++k)
        if (seqAt(k)) {
          Node* ct = C(Prim::SeqBwd, {c, C(Prim::MakeTuple, {x[0], x[1]}), r.m.constStr(k ? "repeat@1" : "repeat@0")});
          return k ? std::vector<Node*>{nullptr, ct} : std::vector<Node*>{ct, nullptr};
        }
      return {ub(mul(c, x[1]), x[0]), ub(mul(c, x[0]), x[1])};
    }
    case Prim::Div: return {ub(div(c, x[1]), x[0]), ub(neg(div(mul(c, y), x[1])), x[1])};  // c/b, -c*y/b
    case Prim::Neg: return {neg(c)};
    case Prim::Pos: return {c};
    case Prim::Pow: {
      // d(a^b)/da = b a^(b-1); d(a^b)/db = y log a (only for a float exponent), 0 where
      // a = 0 (as JAX: log of a + (a == 0), so that a second derivative through a^b at 0
      // with an exponent that gets no cotangent is not 0 * -inf).
      Node* da = ub(mul(c, mul(x[1], C(Prim::Pow, {x[0], sub(x[1], r.integer(1))}))), x[0]);
      bool constExponent = x[1]->isConst() && (x[1]->ckind == ir::ConstKind::Int || x[1]->ckind == ir::ConstKind::Bool ||
                                               x[1]->ckind == ir::ConstKind::Float);
      Node* loga = C(Prim::Log, {add(x[0], C(Prim::Eq, {x[0], r.num(0.0)}))});
      return {da, constExponent ? nullptr : ub(mul(c, mul(y, loga)), x[1])};
    }
    case Prim::MatMul:
    case Prim::Dot:  // c @ b^T, a^T @ c (with vectors and batches as matmul treats them)
      return {C(Prim::MatMulBwd, {c, x[0], x[1], r.integer(0)}), C(Prim::MatMulBwd, {c, x[0], x[1], r.integer(1)})};

    // ---- elementwise functions
    case Prim::Exp: return {mul(c, y)};                                      // c y
    case Prim::Log: return {div(c, x[0])};                                   // c / x
    case Prim::Log1p: return {div(c, add(x[0], r.num(1.0)))};               // c / (1 + x)
    case Prim::Sqrt: return {div(mul(c, r.num(0.5)), y)};                   // c / (2 y)
    case Prim::Rsqrt: return {mul(mul(c, r.num(-0.5)), div(y, x[0]))};      // -c y / (2 x)
    case Prim::Sin: return {mul(c, C(Prim::Cos, {x[0]}))};                   // c cos x
    case Prim::Cos: return {neg(mul(c, C(Prim::Sin, {x[0]})))};             // -c sin x
    case Prim::Tanh: return {mul(c, sub(r.num(1.0), mul(y, y)))};           // c (1 - y^2)
    case Prim::Sigmoid: return {mul(c, mul(y, sub(r.num(1.0), y)))};        // c y (1 - y)
    case Prim::Relu:  // c [x > 0]: relu'(0) = 0; one pass (no mask tensor) in __nn_bwd
      return {C(Prim::NNBwd, {c, r.m.constStr("relu"), C(Prim::MakeTuple, {x[0]})})};  // (x's ct itself, no tuple)
    case Prim::Softplus: return {mul(c, C(Prim::Sigmoid, {x[0]}))};         // c sigmoid(x)
    case Prim::Abs:
    case Prim::TensorAbs: return {mul(c, C(Prim::Sign, {x[0]}))};           // c sign(x): abs'(0) = 0
    case Prim::Maximum:
    case Prim::Minimum: {
      // The larger (smaller) operand takes c; ties share it equally.
      Prim wins = p == Prim::Maximum ? Prim::Gt : Prim::Lt;
      Node* tie = mul(C(Prim::Eq, {x[0], x[1]}), r.num(0.5));
      Node* wa = add(C(wins, {x[0], x[1]}), tie);
      Node* wb = add(C(wins, {x[1], x[0]}), tie);
      return {ub(mul(c, wa), x[0]), ub(mul(c, wb), x[1])};
    }
    case Prim::Where:  // where(k, c, 0), where(k, 0, c)
      return {nullptr, ub(C(Prim::Where, {x[0], c, r.num(0.0)}), x[1]), ub(C(Prim::Where, {x[0], r.num(0.0), c}), x[2])};
    case Prim::AsType: return {ub(c, x[0]), nullptr};                        // c in x's dtype
    case Prim::TensorNew: return {C(Prim::TensorNewBwd, {c, x[0]}), nullptr};  // c split back into data's items
    case Prim::Full: return {nullptr, ub(c, x[1]), nullptr};                 // the fill value: sum of c
    case Prim::FloatNew: return {ub(c, x[0])};                               // float(t): c as t's cotangent
    case Prim::Item: return {ub(c, x[0])};

    // ---- reductions
    case Prim::TensorSum: return {C(Prim::SumBwd, {c, x[0], x[1], x[2]}), nullptr, nullptr};  // c broadcast back
    case Prim::Sum:  // sum(x, start, axis=, keepdims=): tensors reduce; sequences add items
      return {C(Prim::SumBwd, {c, x[0], x[2], x[3]}), ub(c, x[1]), nullptr, nullptr};
    case Prim::Mean: {  // c broadcast back, divided by the count
      Node* count = div(C(Prim::Size, {y}), C(Prim::Size, {x[0]}));
      return {mul(C(Prim::SumBwd, {c, x[0], x[1], x[2]}), count), nullptr, nullptr};
    }
    case Prim::TensorMax:
    case Prim::TensorMin: return {C(Prim::MinMaxBwd, {c, x[0], y, x[1], x[2]}), nullptr, nullptr};  // shared among ties
    case Prim::Max:
    case Prim::Min:  // the *args tuple: one tensor reduces, several values compare
      return {C(Prim::MinMaxBwd, {c, x[0], y, x[1], x[2]}), nullptr, nullptr, nullptr};
    case Prim::Logsumexp: {  // c exp(x - y), both broadcast back
      Node* yb = C(Prim::SumBwd, {y, x[0], x[1], x[2]});
      return {mul(C(Prim::SumBwd, {c, x[0], x[1], x[2]}), C(Prim::Exp, {sub(x[0], yb)})), nullptr, nullptr};
    }
    case Prim::Softmax: {  // y (c - sum(c y, axis))
      Node* s = C(Prim::TensorSum, {mul(c, y), x[1], r.m.constBool(true)});
      return {mul(y, sub(c, s)), nullptr};
    }
    case Prim::LogSoftmax: {  // c - exp(y) sum(c, axis)
      Node* s = C(Prim::TensorSum, {c, x[1], r.m.constBool(true)});
      return {sub(c, mul(C(Prim::Exp, {y}), s)), nullptr};
    }
    case Prim::Mse: {  // mean((a - b)^2): 2 (a - b) c / n
      Node* d = sub(x[0], x[1]);
      Node* g = mul(mul(c, div(r.num(2.0), C(Prim::Size, {d}))), d);
      return {ub(g, x[0]), ub(neg(g), x[1])};
    }
    case Prim::CrossEntropy: {  // (softmax(logits) - one_hot(labels)) c[..., None]
      Node* n = C(Prim::GetItem, {C(Prim::Shape, {x[0]}), r.integer(-1)});
      Node* p = sub(C(Prim::Softmax, {x[0], r.integer(-1)}), C(Prim::OneHot, {x[1], n, r.m.constDType(DType::F32)}));
      return {ub(mul(p, C(Prim::ExpandDims, {c, r.integer(-1)})), x[0]), nullptr};
    }

    // ---- neural-network operations: one helper computes the cotangents of all arguments
    case Prim::Conv2d: {  // one helper call per operand ("conv2d@i": only cotangent i), so
      // the backward pass drops those nobody needs (the input's, for a first layer)
      Node* args = C(Prim::MakeTuple, x);
      std::vector<Node*> out(x.size(), nullptr);
      for (size_t i = 0; i < 3 && i < x.size(); ++i)
        out[i] = C(Prim::CtIndex, {C(Prim::NNBwd, {c, r.m.constStr("conv2d@" + std::to_string(i)), args}), r.integer((int64_t)i)});
      return out;
    }
    case Prim::MaxPool2d: case Prim::AvgPool2d: case Prim::LayerNorm:
    case Prim::BatchNorm: case Prim::Gelu: case Prim::Clip: {
      Node* cts = C(Prim::NNBwd, {c, r.m.constStr(primName(p)), C(Prim::MakeTuple, x)});
      std::vector<Node*> out;
      for (size_t i = 0; i < x.size(); ++i) out.push_back(C(Prim::CtIndex, {cts, r.integer((int64_t)i)}));
      return out;
    }
    case Prim::Embedding: return {C(Prim::GetItemBwd, {c, x[0], x[1]}), nullptr};  // table[ids]
    case Prim::Swapaxes: return {C(Prim::Swapaxes, {c, x[1], x[2]}), nullptr, nullptr};
    case Prim::Dropout: return {nullptr, C(Prim::Dropout, {x[0], c, x[2]}), nullptr};  // the same mask
    case Prim::Var:
    case Prim::Std: {
      // var = sum((x - m)^2) / (n - ddof): dx = 2 (x - m) c / (n - ddof), broadcast back;
      // std = sqrt(var): its c becomes c / (2 y) first.
      Node* d = sub(x[0], C(Prim::Mean, {x[0], x[1], r.m.constBool(true)}));
      Node* n = sub(div(C(Prim::Size, {x[0]}), C(Prim::Size, {y})), x[3]);
      Node* cv = p == Prim::Std ? div(c, mul(y, r.num(2.0))) : c;
      return {mul(C(Prim::SumBwd, {cv, x[0], x[1], x[2]}), mul(d, div(r.num(2.0), n))), nullptr, nullptr, nullptr};
    }

    // ---- shape
    case Prim::Reshape:
    case Prim::ExpandDims:
    case Prim::Squeeze:
    case Prim::Flatten: {  // c reshaped back
      std::vector<Node*> out(x.size(), nullptr);
      out[0] = C(Prim::Reshape, {c, C(Prim::Shape, {x[0]})});
      return out;
    }
    case Prim::BroadcastTo: return {ub(c, x[0]), nullptr};
    case Prim::Transpose: return {C(Prim::TransposeBwd, {c, x[1]}), nullptr};
    case Prim::TransposeT: return {C(Prim::TransposeT, {c})};
    case Prim::Concat: return {C(Prim::ConcatBwd, {c, x[0], x[1], r.m.constBool(false)}), nullptr};
    case Prim::Stack: return {C(Prim::ConcatBwd, {c, x[0], x[1], r.m.constBool(true)}), nullptr};
    case Prim::TensorGetItem: return {C(Prim::GetItemBwd, {c, x[0], x[1]}), nullptr};

    // ---- sequences made from iterables
    case Prim::Enumerate: return {C(Prim::SeqBwd, {c, x[0], r.m.constStr("enumerate")}), nullptr};
    case Prim::Zip: return {C(Prim::SeqBwd, {c, x[0], r.m.constStr("zip")})};
    case Prim::ListNew:
    case Prim::TupleNew: return {C(Prim::SeqBwd, {c, x[0], r.m.constStr("list")})};
    case Prim::Reversed: return {C(Prim::SeqBwd, {c, x[0], r.m.constStr("reversed")})};

    // ---- structure (core)
    case Prim::GetItem:
    case Prim::TupleGetItem: return {C(Prim::GetItemBwd, {c, x[0], x[1]}), nullptr};
    case Prim::GetAttr: return {C(Prim::GetAttrBwd, {c, x[0], x[1]}), nullptr};
    case Prim::Unpack: return {C(Prim::UnpackBwd, {c, x[0], x[2]}), nullptr, nullptr};
    case Prim::MakeTuple:
    case Prim::MakeList: {
      std::vector<Node*> out;
      for (size_t i = 0; i < x.size(); ++i) out.push_back(C(Prim::CtIndex, {c, r.integer((int64_t)i)}));
      return out;
    }
    case Prim::MakeDict: {  // (k0, v0, k1, v1, ...)
      std::vector<Node*> out;
      for (size_t i = 0; i + 1 < x.size(); i += 2) {
        out.push_back(nullptr);
        out.push_back(C(Prim::CtIndex, {c, x[i]}));
      }
      return out;
    }
    case Prim::Depend: return {c, nullptr};
    case Prim::CheckBound: return {c, nullptr};
    case Prim::ListAppendLocal: {  // y = l + [v] (a comprehension's step): c[:-1] to l, c[-1] to v
      // Zeros as an empty list, not zeros like y: keeping each iteration's y alive for its
      // backward pass would make every append of a comprehension copy the list.
      Node* cl = r.rawCt ? C(Prim::CtFill, {r.rawCt, C(Prim::MakeList, {})}) : c;
      return {C(Prim::GetItem, {cl, C(Prim::MakeSlice, {r.none(), r.integer(-1), r.none()})}),
              ub(C(Prim::CtIndex, {cl, r.integer(-1)}), x[1])};
    }


    // ---- reductions and scans (issue 4)
    case Prim::Prod: {
      // dx_i = c prod_{j != i} x_j, with zeros handled as JAX does (no division by zero),
      // and written so that its own derivative is right at zeros too. With p the product
      // of the nonzero x of the slice, z its count of zeros and s the sum of its zeros (0,
      // but its derivative is 1 at each zero):
      //   x_i != 0: prod_{j != i} x_j = z = 0: p / x_i;  z = 1: s p / x_i;  z >= 2: 0
      //   x_i == 0: prod_{j != i} x_j = z = 1: p;  z = 2: p (s - x_i);  z >= 3: 0
      // The terms that are 0 are computed as t - stop_gradient(t) (+0.0 as JAX, whatever
      // the sign of t, with t's derivative). c is broadcast back over the reduced axes.
      Node* isz = C(Prim::Eq, {x[0], r.num(0.0)});
      Node* safe = C(Prim::Where, {isz, r.num(1.0), x[0]});
      Node* pnz = C(Prim::Prod, {safe, x[1], r.m.constBool(true)});
      Node* z = C(Prim::TensorSum, {isz, x[1], r.m.constBool(true)});
      Node* s = C(Prim::TensorSum, {C(Prim::Where, {isz, x[0], r.num(0.0)}), x[1], r.m.constBool(true)});
      auto zIs = [&](int64_t k) { return C(Prim::Eq, {z, r.integer(k)}); };
      auto zeroed = [&](Node* t) { return sub(t, C(Prim::StopGradient, {t})); };
      Node* q = div(pnz, safe);
      Node* nonzero = C(Prim::Where, {zIs(0), q, C(Prim::Where, {zIs(1), zeroed(mul(q, s)), r.num(0.0)})});
      Node* zero = C(Prim::Where, {zIs(1), pnz, C(Prim::Where, {zIs(2), zeroed(mul(pnz, sub(s, x[0]))), r.num(0.0)})});
      Node* d = C(Prim::Where, {isz, zero, nonzero});
      return {ub(mul(C(Prim::SumBwd, {c, x[0], x[1], x[2]}), d), x[0]), nullptr, nullptr};
    }
    case Prim::Cumsum: {
      // dx_i = sum_{j >= i} c_j = sum(c) - cumsum(c)_i + c_i along axis (axis None: of the
      // flattened x), reshaped to x.
      Node* total = C(Prim::TensorSum, {c, x[1], r.m.constBool(true)});
      Node* rc = add(sub(total, C(Prim::Cumsum, {c, x[1]})), c);
      return {ub(C(Prim::Reshape, {rc, C(Prim::Shape, {x[0]})}), x[0]), nullptr};
    }
    case Prim::Linspace: {
      // y = a + t (b - a), t = linspace(0, 1, num): da = sum(c (1 - t)), db = sum(c t).
      if (x[0]->isConst() && x[1]->isConst()) return {nullptr, nullptr, nullptr, nullptr};  // constant bounds: nothing to compute
      Node* ct = mul(c, C(Prim::Linspace, {r.num(0.0), r.num(1.0), x[2], x[3]}));
      return {ub(sub(c, ct), x[0]), ub(ct, x[1]), nullptr, nullptr};
    }
    case Prim::Uniform: {
      // y = lo + (hi - lo) u, u = uniform(key, shape, dtype) (the same bits): dlo = sum(c (1 - u)),
      // dhi = sum(c u). The key has no derivative.
      if (x[3]->isConst() && x[4]->isConst()) return {nullptr, nullptr, nullptr, nullptr, nullptr};  // constant bounds
      Node* cu = mul(c, C(Prim::Uniform, {x[0], x[1], x[2], r.num(0.0), r.num(1.0)}));
      return {nullptr, nullptr, nullptr, ub(sub(c, cu), x[3]), ub(cu, x[4])};
    }

    // ---- selection and layout (issue 4)
    case Prim::Take: return {C(Prim::TakeBwd, {c, x[0], x[1], x[2]}), nullptr, nullptr};  // c scatter-added at indices
    case Prim::Tile: return {C(Prim::TileBwd, {c, x[0], x[1]}), nullptr};                  // the tiles of c summed
    case Prim::Split: return {C(Prim::SplitBwd, {c, y, x[2], r.m.constBool(false)}), nullptr, nullptr};  // the pieces of c joined
    case Prim::Pad: {
      // x gets the interior of c; the fill value every padded slot: sum(c) - sum(interior).
      Node* inner = C(Prim::PadBwd, {c, x[0], x[1]});
      if (x[2]->isConst()) return {inner, nullptr, nullptr};  // a constant fill value
      Node* all = C(Prim::TensorSum, {c, r.none(), r.m.constBool(false)});
      return {inner, nullptr, ub(sub(all, C(Prim::TensorSum, {inner, r.none(), r.m.constBool(false)})), x[2])};
    }
    case Prim::Sort: return {C(Prim::SortBwd, {c, x[0], x[1], r.m.constBool(false)}), nullptr};  // c through the inverse permutation
    case Prim::Topk:  // values: c[0] scattered back at the indices; the indices have no derivative
      return {C(Prim::TopkBwd, {C(Prim::CtIndex, {c, r.integer(0)}), x[0], C(Prim::TupleGetItem, {y, r.integer(1)}), r.m.constBool(false)}), nullptr};
    case Prim::Einsum: {
      // y = einsum("s_0,...,s_n->o", x_0, ..., x_n) is linear in each operand:
      // dx_i = einsum("o,s_j (j != i),s_i->s_i", c, x_j..., ones_like(x_i)); the ones
      // operand brings the letters of s_i that appear nowhere else (summed in y).
      std::vector<std::string> subs;
      std::string o;
      parseEinsum(constText(x[0], r.loc, "differentiating einsum with a spec that is not a constant string"), &subs, &o);
      std::vector<Node*> ops = tupleItemsOf(x[1]);
      if (ops.size() != subs.size()) raise(DiagId::NotSupportedYet, r.loc, {"differentiating einsum with unpacked operands"});
      std::vector<Node*> cts;
      for (size_t i = 0; i < ops.size(); ++i) {
        std::string si = subs[i], spec = o;
        if (std::set<char>(si.begin(), si.end()).size() != si.size())
          raise(DiagId::NotSupportedYet, r.loc, {"differentiating einsum with a repeated index in one operand ('" + si + "')"});
        std::vector<Node*> args{r.m.constStr(""), c};
        std::string seen = o;
        for (size_t j = 0; j < ops.size(); ++j)
          if (j != i) {
            spec += "," + subs[j];
            seen += subs[j];
            args.push_back(ops[j]);
          }
        bool lonely = false;
        for (char ch : si) lonely = lonely || seen.find(ch) == std::string::npos;
        if (lonely) {
          spec += "," + si;
          args.push_back(C(Prim::OnesLike, {ops[i], r.none()}));
        }
        args[0] = r.m.constStr(spec + "->" + si);
        cts.push_back(ub(C(Prim::Einsum, args), ops[i]));
      }
      return {nullptr, C(Prim::MakeTuple, cts)};
    }
    case Prim::TensorSetItem:  // y = x with y[i] = v: dx = c with c[i] = 0, dv = c[i] (summed to v's shape)
      return {ub(C(Prim::TensorSetItem, {c, x[1], r.num(0.0)}), x[0]), nullptr, ub(C(Prim::TensorGetItem, {c, x[1]}), x[2])};
    case Prim::SetAttr:  // y = x with y.f = v (a record): dx = c with c.f = None, dv = c.f
      return {C(Prim::SetAttr, {c, x[1], r.none()}), nullptr, ub(C(Prim::CtIndex, {c, x[1]}), x[2])};
    case Prim::SetItem: {  // the same for any container (x[i] = v lowers to it): the slot of c zeroed, c[i]
      // c[i] None-safe (a dict's c lacks the keys nobody read) but for slices, which
      // __ct_index does not take. A dict's zeros are None: c made a dict before its slot is set.
      const Node* o = x[0]->jorigin ? x[0]->jorigin : x[0];
      const Node* i = x[1]->jorigin ? x[1]->jorigin : x[1];
      Prim get = i->isPrimApply(Prim::MakeSlice) ? Prim::GetItem : Prim::CtIndex;
      // (at second order o is that ct_add(c, {}) of the first-order rule: a dict too)
      bool dict = (o->abs && o->abs->kind == ir::AKind::Dict) ||
                  (o->isPrimApply(Prim::CtAdd) && o->inputs.size() == 3 && o->inputs[2]->isPrimApply(Prim::MakeDict));
      Node* cx = dict ? C(Prim::CtAdd, {c, C(Prim::MakeDict, {})}) : c;
      return {ub(C(Prim::SetItem, {cx, x[1], r.num(0.0)}), x[0]), nullptr, ub(C(get, {c, x[1]}), x[2])};
    }

    // ---- host containers (issue 4)
    case Prim::Sorted:  // c (in sorted order) handed back to the items it came from
      return {C(Prim::SeqBwd, {c, C(Prim::MakeTuple, {x[0], y}), r.m.constStr("sorted")}), nullptr, nullptr};
    case Prim::DictNew:  // dict(*args, **kw): each key's ct to where its value came from
      return {C(Prim::SeqBwd, {c, C(Prim::MakeTuple, {x[0], x[1]}), r.m.constStr("dict")}), c};
    case Prim::Partial:  // a partial's cotangent is (ct_fn, cts of the bound args, dict of cts of the bound keywords)
      return {C(Prim::CtIndex, {c, r.integer(0)}), C(Prim::CtIndex, {c, r.integer(1)}), C(Prim::CtIndex, {c, r.integer(2)})};
    case Prim::DictValues:  // the values' cts by key: dict(zip(d.keys(), c))
      return {C(Prim::DictNew, {C(Prim::Zip, {C(Prim::DictKeys, {x[0]}), c})})};
    case Prim::DictItems: {  // the pairs' cts are (None, ct of the value): as dict.values' with their items 1
      Node* keys = C(Prim::DictKeys, {x[0]});
      Node* cols = C(Prim::SeqBwd, {c, C(Prim::MakeTuple, {keys, C(Prim::DictValues, {x[0]})}), r.m.constStr("zip")});
      return {C(Prim::DictNew, {C(Prim::Zip, {keys, C(Prim::CtIndex, {cols, r.integer(1)})})})};
    }
    case Prim::TreeLeaves:  // the list of leaf cts put back into the tree's structure
      return {C(Prim::SeqBwd, {c, x[0], r.m.constStr("tree_leaves")})};

    // ---- the runtime helpers of reverse mode, so a backward pass can be differentiated
    // again. Each is linear in its cotangent argument ct; derivatives with respect to the
    // other arguments are zero (they give shapes, indices or piecewise-constant weights)
    // except where a case says otherwise.
    case Prim::CtFill: return {c, nullptr};  // ct or zeros: c
    case Prim::SumBwd:  // ct broadcast back over axis: its transpose sums c over axis
      if (x[1]->isPrimApply(Prim::MakeList) || x[1]->isPrimApply(Prim::MakeTuple))
        // sum([a, b, ...]): ct given to every item; its transpose adds c's items (zeros
        // where an item got no cotangent)
        return {ub(C(Prim::Sum, {C(Prim::CtAdd, {c, C(Prim::CtFill, {r.none(), x[1]})})}), x[0]), nullptr, nullptr, nullptr};
      return {ub(C(Prim::TensorSum, {c, x[2], x[3]}), x[0]), nullptr, nullptr, nullptr};
    case Prim::MinMaxBwd: {
      // ct broadcast back and weighted w = [x == out] / count of ties (w piecewise
      // constant in x and out: no derivative): the transpose sums c w over axis. x is a
      // tensor, or the builtin max's *args holding one tensor (c and w then 1-tuples).
      std::vector<Node*> items = tupleItemsOf(x[1]);
      // max([a, b]) passes one sequence: several values too.
      bool seq = items.size() == 1 && (items[0]->isPrimApply(Prim::MakeList) || items[0]->isPrimApply(Prim::MakeTuple) ||
                                       (items[0]->abs && items[0]->abs->isSequence()));
      if (items.size() > 1 || seq) {
        // Several values: ct goes whole to the first item equal to out (w = 1 there, 0
        // elsewhere), so the transpose takes that item's cotangent: c[i] with i the
        // index of out among the items, as the runtime finds it (None-safe).
        Node* vals = seq ? items[0] : x[1];
        Node* cs = seq ? C(Prim::CtIndex, {c, r.integer(0)}) : c;
        Node* i = C(Prim::SeqIndex, {vals, x[2]});
        return {ub(C(Prim::CtIndex, {cs, i}), x[0]), nullptr, nullptr, nullptr, nullptr};
      }
      Node* w = C(Prim::MinMaxBwd, {C(Prim::OnesLike, {x[2], r.none()}), x[1], x[2], x[3], x[4]});
      Node* cc = c;
      if (items.size() == 1) {
        w = C(Prim::CtIndex, {w, r.integer(0)});
        cc = C(Prim::CtFill, {C(Prim::CtIndex, {c, r.integer(0)}), w});
      }
      return {ub(C(Prim::TensorSum, {mul(cc, w), x[3], x[4]}), x[0]), nullptr, nullptr, nullptr, nullptr};
    }
    case Prim::MatMulBwd: {
      // which = 0: g = ct @ y^T, so d ct = c @ y and d y = c^T @ ct (= __matmul_bwd(ct, c, y, 1));
      // which = 1: g = x^T @ ct, so d ct = x @ c and d x = ct @ c^T (= __matmul_bwd(ct, x, c, 0)).
      if (!x[3]->isConst() || x[3]->ckind != ir::ConstKind::Int)
        raise(DiagId::NotSupportedYet, r.loc, {"differentiating __matmul_bwd with a non-constant operand index"});
      if (x[3]->i == 0)
        return {ub(C(Prim::MatMul, {c, x[2]}), x[0]), nullptr, C(Prim::MatMulBwd, {x[0], c, x[2], r.integer(1)}), nullptr};
      return {ub(C(Prim::MatMul, {x[1], c}), x[0]), C(Prim::MatMulBwd, {x[0], x[1], c, r.integer(0)}), nullptr, nullptr};
    }
    case Prim::GetItemBwd: return {ub(C(Prim::CtIndex, {c, x[2]}), x[0]), nullptr, nullptr};  // the item of c (None-safe)
    case Prim::GetAttrBwd: return {C(Prim::CtIndex, {c, x[2]}), nullptr, nullptr};  // the field (x.T: c transposed)
    case Prim::TransposeBwd: return {C(Prim::Transpose, {c, x[1]}), nullptr};  // the inverse of the inverse permutation
    case Prim::ConcatBwd: return {ub(C(Prim::SplitBwd, {c, x[1], x[2], x[3]}), x[0]), nullptr, nullptr, nullptr};  // pieces joined
    case Prim::SplitBwd: return {C(Prim::ConcatBwd, {c, x[1], x[2], x[3]}), nullptr, nullptr, nullptr};   // c cut into pieces
    case Prim::UnpackBwd:  // c (x's structure) unpacked again into one ct per target (__seq_bwd's "unpack^T")
      return {C(Prim::SeqBwd, {c, C(Prim::MakeTuple, {x[0], C(Prim::MakeTuple, {x[1], x[2]})}), r.m.constStr("unpack^T")}), nullptr, nullptr};
    case Prim::TensorNewBwd:  // c's items stacked (zeros for the items that got no cotangent)
      return {ub(C(Prim::TensorNew, {C(Prim::CtAdd, {c, C(Prim::CtFill, {r.none(), x[1]})}), C(Prim::DTypeOf, {x[0]})}), x[0]), nullptr};
    case Prim::SeqBwd: {  // kind^T runs the sequence's forward direction on c; (kind^T)^T = kind
      const std::string& kind = constText(x[2], r.loc, "differentiating __seq_bwd with a non-constant kind");
      bool t = kind.size() > 2 && kind.compare(kind.size() - 2, 2, "^T") == 0;
      if (t) return {C(Prim::SeqBwd, {c, C(Prim::TupleGetItem, {x[1], r.integer(1)}), r.m.constStr(kind.substr(0, kind.size() - 2))}), nullptr, nullptr};
      return {C(Prim::SeqBwd, {c, C(Prim::MakeTuple, {x[0], x[1]}), r.m.constStr(kind + "^T")}), nullptr, nullptr};
    }
    case Prim::TakeBwd: return {ub(C(Prim::Take, {c, x[2], x[3]}), x[0]), nullptr, nullptr, nullptr};  // c gathered at indices
    case Prim::TileBwd: return {ub(C(Prim::Tile, {c, x[2]}), x[0]), nullptr, nullptr};               // c tiled
    case Prim::PadBwd: return {ub(C(Prim::Pad, {c, x[2], r.num(0.0)}), x[0]), nullptr, nullptr};      // c padded with zeros
    case Prim::SortBwd:  // a permutation: its transpose is the inverse permutation
      return {C(Prim::SortBwd, {c, x[1], x[2], C(Prim::Not, {x[3]})}), nullptr, nullptr, nullptr};
    case Prim::TopkBwd:  // scatter at indices <-> gather at indices
      return {C(Prim::TopkBwd, {c, x[1], x[2], C(Prim::Not, {x[3]})}), nullptr, nullptr, nullptr};
    case Prim::NNBwd: return nnBwdRule(r);
    // ---- the helpers J emits are linear in their cotangent argument
    case Prim::CtAdd: return {ub(c, x[0]), ub(c, x[1])};
    case Prim::CtIndex: return {C(Prim::GetItemBwd, {c, x[0], x[1]}), nullptr};
    case Prim::Unbroadcast:  // ct summed to like's shape: c broadcast back to ct's shape (and dtype)
      return {ub(C(Prim::CtAdd, {c, C(Prim::CtFill, {r.none(), x[0]})}), x[0]), nullptr};

    // ---- higher order: the pieces of grad's graph (runtime/AutodiffPrims.cpp)
    case Prim::Grad:
    case Prim::ValueAndGrad:  // a partial's cotangent is (ct_func, cts of its bound arguments, kw cts): f is bound first
      return {C(Prim::CtIndex, {C(Prim::CtIndex, {c, r.integer(1)}), r.integer(0)}), nullptr, nullptr};
    case Prim::Jit:  // jit(f) is f's closure flagged to run compiled: its cotangent is f's
      return {c, nullptr, nullptr};
    case Prim::Jacobian:  // the same: gradients flow into the values f captures
      return {C(Prim::CtIndex, {C(Prim::CtIndex, {c, r.integer(1)}), r.integer(0)}), nullptr};
    case Prim::Vmap:  // vmap(f) is partial(vmap_call, f, in_axes, out_axes): f's cotangent is its bound one's
      return {C(Prim::CtIndex, {C(Prim::CtIndex, {c, r.integer(1)}), r.integer(0)}), nullptr, nullptr};
    case Prim::GradPack: {  // linear in cts and in out: its transpose splits c back
      Node* t = C(Prim::GradPackBwd, {c, x[1], x[2], x[3], x[4], x[5]});
      return {C(Prim::CtIndex, {t, r.integer(0)}), C(Prim::CtIndex, {t, r.integer(1)}), nullptr, nullptr, nullptr, nullptr};
    }
    case Prim::VjpPack: return {C(Prim::VjpPackBwd, {c, x[1]}), nullptr};
    case Prim::VjpMake: return {C(Prim::CtIndex, {C(Prim::CtIndex, {c, r.integer(1)}), r.integer(0)}), nullptr};  // the bound bprop
    case Prim::JSiteArrange: return {C(Prim::JSiteArrangeBwd, {c, x[1], x[0]}), nullptr};  // a permutation
    // the transposes of those three are linear in c: their transposes are the originals
    case Prim::JSiteArrangeBwd: return {C(Prim::JSiteArrange, {c, x[1]}), nullptr, nullptr};
    case Prim::GradPackBwd:  // c = (ct of cts, ct of out)
      return {C(Prim::GradPack, {C(Prim::CtIndex, {c, r.integer(0)}), C(Prim::CtIndex, {c, r.integer(1)}), x[2], x[3], x[4], x[5]}),
              nullptr, nullptr, nullptr, nullptr, nullptr};
    case Prim::VjpPackBwd: return {C(Prim::VjpPack, {c, x[1]}), nullptr};
    // vmap's helpers, so that batched graphs differentiate (vmap(grad(f))): a repeated
    // value gets the sum over the batch; a per-example selection routes c to the side taken
    case Prim::VmapBcast: return {ub(c, x[0]), nullptr};
    case Prim::VmapSelect: {
      Node* z = C(Prim::TreeZerosLike, {c});
      return {nullptr, ub(C(Prim::VmapSelect, {x[0], c, z}), x[1]), ub(C(Prim::VmapSelect, {x[0], z, c}), x[2])};
    }
    // The tangent of max_pool2d (forward mode) is linear in t: its transpose routes c back
    // to the element each window took, as max_pool2d's own backward pass.
    case Prim::MaxPoolJvp: {
      Node* args = C(Prim::MakeTuple, {x[1], x[2], x[3], x[4]});
      return {C(Prim::CtIndex, {C(Prim::NNBwd, {c, r.m.constStr("max_pool2d"), args}), r.integer(0)}), nullptr, nullptr, nullptr, nullptr};
    }
    default: break;
  }
  return {};
}

DiffKind diffKind(Prim p) {
  switch (p) {
    case Prim::Add: case Prim::Sub: case Prim::Mul: case Prim::Div: case Prim::Neg: case Prim::Pos:
    case Prim::Pow: case Prim::MatMul: case Prim::Dot: case Prim::Exp: case Prim::Log: case Prim::Log1p:
    case Prim::Sqrt: case Prim::Rsqrt: case Prim::Sin: case Prim::Cos: case Prim::Tanh: case Prim::Sigmoid:
    case Prim::Relu: case Prim::Softplus: case Prim::Abs: case Prim::TensorAbs: case Prim::Maximum:
    case Prim::Minimum: case Prim::Where: case Prim::AsType: case Prim::TensorNew: case Prim::Full: case Prim::FloatNew: case Prim::Item:
    case Prim::TensorSum: case Prim::Sum: case Prim::Mean: case Prim::TensorMax: case Prim::TensorMin:
    case Prim::Max: case Prim::Min: case Prim::Logsumexp: case Prim::Softmax: case Prim::LogSoftmax:
    case Prim::Mse: case Prim::CrossEntropy: case Prim::Reshape: case Prim::ExpandDims: case Prim::Squeeze:
    case Prim::Flatten: case Prim::BroadcastTo: case Prim::Transpose: case Prim::TransposeT:
    case Prim::Concat: case Prim::Stack: case Prim::TensorGetItem: case Prim::GetItem:
    case Prim::TupleGetItem: case Prim::GetAttr: case Prim::Unpack: case Prim::MakeTuple:
    case Prim::MakeList: case Prim::MakeDict: case Prim::Depend: case Prim::CheckBound: case Prim::ListAppendLocal:
    case Prim::CtAdd: case Prim::CtIndex: case Prim::Unbroadcast: case Prim::Enumerate: case Prim::Zip:
    case Prim::ListNew: case Prim::TupleNew: case Prim::Reversed: case Prim::Conv2d: case Prim::MaxPool2d:
    case Prim::AvgPool2d: case Prim::LayerNorm: case Prim::BatchNorm: case Prim::Gelu: case Prim::Clip:
    case Prim::Embedding: case Prim::Swapaxes: case Prim::Dropout: case Prim::Var: case Prim::Std:
    case Prim::Prod: case Prim::Cumsum: case Prim::Linspace: case Prim::Uniform: case Prim::Take: case Prim::Tile:
    case Prim::Split: case Prim::Pad: case Prim::Sort: case Prim::Topk: case Prim::Einsum: case Prim::TensorSetItem:
    case Prim::Sorted: case Prim::DictNew: case Prim::DictValues: case Prim::DictItems: case Prim::TreeLeaves: case Prim::SetItem: case Prim::SetAttr: case Prim::Partial:
    case Prim::CtFill: case Prim::SumBwd: case Prim::MinMaxBwd: case Prim::MatMulBwd: case Prim::GetItemBwd:
    case Prim::GetAttrBwd: case Prim::TransposeBwd: case Prim::ConcatBwd: case Prim::UnpackBwd: case Prim::TensorNewBwd:
    case Prim::SeqBwd: case Prim::NNBwd: case Prim::TakeBwd: case Prim::TileBwd: case Prim::PadBwd: case Prim::SortBwd:
    case Prim::TopkBwd: case Prim::SplitBwd:
    case Prim::Grad: case Prim::ValueAndGrad: case Prim::GradPack: case Prim::VjpPack:
    case Prim::VjpMake: case Prim::Jacobian: case Prim::Jit:
    case Prim::JSiteArrange: case Prim::JSiteArrangeBwd: case Prim::GradPackBwd: case Prim::VjpPackBwd:
    case Prim::MaxPoolJvp: case Prim::VmapBcast: case Prim::VmapSelect: case Prim::Vmap:
      return DiffKind::Rule;

    case Prim::Switch: case Prim::JCall: case Prim::MethodCall: case Prim::Scan: case Prim::WhileLoop: case Prim::TreeMap:
    case Prim::JEnter: case Prim::Vjp: case Prim::ScanJ: case Prim::ScanBwd: case Prim::WhileJ: case Prim::WhileBwd:
    // transforms run when called: J makes them __jcall(p, ...) (autodiff/J.cpp, runsAsJCall)
    case Prim::Jvp: case Prim::JvpCall: case Prim::VmapFnCall: case Prim::VmapLoop:
      return DiffKind::Structural;

    // Results without a derivative: comparisons and logic, integer-valued functions,
    // shapes and dtypes, host values, strings, effects.
    case Prim::Eq: case Prim::Ne: case Prim::Lt: case Prim::Le: case Prim::Gt: case Prim::Ge:
    case Prim::BitAnd: case Prim::BitOr: case Prim::BitXor: case Prim::Invert: case Prim::FloorDiv:
    case Prim::Mod: case Prim::Truth: case Prim::Not: case Prim::Is: case Prim::Contains:
    case Prim::Sign: case Prim::Floor: case Prim::Ceil: case Prim::TensorRound: case Prim::Round:
    case Prim::IsNan: case Prim::IsFinite: case Prim::Argmax: case Prim::Argmin: case Prim::TensorAll:
    case Prim::TensorAny: case Prim::All: case Prim::Any: case Prim::Shape: case Prim::DTypeOf:
    case Prim::NDim: case Prim::Size: case Prim::Len: case Prim::Range: case Prim::IntNew: case Prim::BoolNew:
    case Prim::StrNew: case Prim::Repr: case Prim::Isinstance: case Prim::FormatValue: case Prim::StrConcat:
    case Prim::Print: case Prim::Time: case Prim::Exit: case Prim::ReadText: case Prim::WriteText:
    case Prim::Exists: case Prim::Makedirs: case Prim::Isatty: case Prim::AdamStep: case Prim::Raise: case Prim::Assert: case Prim::GlobalGet:
    case Prim::GlobalSet: case Prim::UpdateState: case Prim::ImportModule: case Prim::MakeSlice:
    case Prim::TreeSize: case Prim::TreeZerosLike: case Prim::MakeClass: case Prim::StopGradient: case Prim::CustomVjp: case Prim::CustomVjpWrap:
    case Prim::Zeros: case Prim::Ones:
    case Prim::Arange: case Prim::Eye: case Prim::ZerosLike: case Prim::OnesLike:
    case Prim::OneHot: case Prim::Prng: case Prim::FoldIn: case Prim::Bits:
    case Prim::Normal: case Prim::Permutation: case Prim::Bernoulli: case Prim::Categorical:
    case Prim::LoadIdx: case Prim::LoadNpy: case Prim::SaveNpy: case Prim::LoadNpz: case Prim::SaveNpz:
    case Prim::LoadCsv: case Prim::ExcValueError: case Prim::ExcTypeError: case Prim::ExcRuntimeError:
    case Prim::SaveCheckpoint: case Prim::LoadCheckpoint:
    case Prim::ExcKeyError: case Prim::ExcIndexError: case Prim::ExcException: case Prim::ExcAssertionError:
    case Prim::ExcNotImplementedError: case Prim::StrSplit: case Prim::StrJoin: case Prim::StrStrip:
    case Prim::StrLstrip: case Prim::StrRstrip: case Prim::StrStartswith: case Prim::StrEndswith:
    case Prim::StrReplace: case Prim::StrFormat: case Prim::StrUpper: case Prim::StrLower: case Prim::StrFind:
    case Prim::StrCount: case Prim::StrIndex: case Prim::SeqIndex: case Prim::SeqCount: case Prim::DictKeys:
    case Prim::GradSeed: case Prim::StorageId:
      return DiffKind::Zero;
    default:
      return DiffKind::NotYet;
  }
}

}  // namespace msl::autodiff
