// The batching rules (autodiff/BatchRules.h): one table, one rule per primitive that
// computes on tensors. A rule sees the call with its batched inputs holding the examples
// along axis 0 and emits IR computing all examples at once, batched along axis 0.
// Per-example ranks and static axes come from the abstracts of the specialised graph;
// where they are not known a rule declines and the transform runs the primitive once per
// example (`__vmap_loop`), which is always correct.
#include "autodiff/BatchRules.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace msl::autodiff {

using ir::AKind;
using ir::Node;

// ------------------------------------------------------------------ BatchCtx

bool BatchCtx::anyBatched() const { return std::find(b.begin(), b.end(), true) != b.end(); }

Node* BatchCtx::call(Prim p, std::vector<Node*> args, std::vector<std::pair<std::string, Node*>> kw) {
  std::vector<Node*> ins{m.constPrim(p, loc())};
  for (Node* a : args) ins.push_back(a);
  std::vector<std::string> names;
  for (auto& [k, v] : kw) {
    names.push_back(k);
    ins.push_back(v);
  }
  Node* r = m.newApply(g, std::move(ins), loc());
  r->kwnames = std::move(names);
  return r;
}

Node* BatchCtx::copy(std::vector<std::pair<size_t, Node*>> repl, std::vector<std::pair<std::string, Node*>> extraKw) {
  std::vector<Node*> ins = in;
  for (auto& [k, v] : repl) ins[k] = v;
  std::vector<std::string> names = n->kwnames;
  // Keywords go last: extra ones after the node's own.
  for (auto& [k, v] : extraKw) {
    names.push_back(k);
    ins.push_back(v);
  }
  Node* r = m.newApply(g, std::move(ins), loc());
  r->kwnames = std::move(names);
  r->name = n->name;
  return r;
}

int BatchCtx::param(const char* name) const {
  Prim p;
  if (!n->callsPrim(&p)) return -1;
  const PrimInfo& info = primInfo(p);
  for (size_t k = 0; k < n->kwnames.size(); ++k)
    if (n->kwnames[k] == name) return (int)(1 + n->numPositional() + k);
  size_t npos = n->numPositional();
  for (size_t i = 0; i < info.params.size(); ++i) {
    if (info.params[i].kind != PrimParam::Positional) return -1;  // after *args: keywords only
    if (info.params[i].name == name) return i < npos ? (int)(1 + i) : -1;
  }
  return -1;
}

int BatchCtx::rank(size_t k) const {
  const ir::Abstract* a = abs(k);
  if (!a) return -1;
  if (a->isNumber()) return 0;
  if (a->isTensor() && a->rankKnown) return a->rank();
  return -1;
}

bool BatchCtx::isTensor(size_t k) const { return abs(k) && abs(k)->isTensor(); }

bool BatchCtx::axes(int k, const std::string& dflt, bool* none, std::vector<int64_t>* out) const {
  *none = false;
  out->clear();
  if (k < 0) {
    if (dflt == "None") {
      *none = true;
      return true;
    }
    if (dflt.empty()) return false;
    out->push_back(std::stoll(dflt));
    return true;
  }
  const Node* x = n->inputs[(size_t)k];
  if (x->isConst() && x->ckind == ir::ConstKind::None) {
    *none = true;
    return true;
  }
  if (x->isConst() && x->ckind == ir::ConstKind::Int) {
    out->push_back(x->i);
    return true;
  }
  const ir::Abstract* a = x->abs;
  if (!a) return false;
  if (a->is(AKind::None)) {
    *none = true;
    return true;
  }
  if (a->is(AKind::Int) && a->known) {
    out->push_back(a->i);
    return true;
  }
  if (a->isSequence() && !a->homogeneous) {
    for (const ir::Abstract* e : a->elems) {
      if (!e->is(AKind::Int) || !e->known) return false;
      out->push_back(e->i);
    }
    return true;
  }
  return false;
}

Node* BatchCtx::intTuple(const std::vector<int64_t>& v) {
  std::vector<Node*> items;
  for (int64_t x : v) items.push_back(integer(x));
  return call(Prim::MakeTuple, items);
}

Node* BatchCtx::expandAfterBatch(Node* x, int count) {
  for (int i = 0; i < count; ++i) x = call(Prim::ExpandDims, {x, integer(1)});
  return x;
}

Node* BatchCtx::batched(size_t k) { return b[k] ? in[k] : call(Prim::VmapBcast, {in[k], size}); }

bool BatchCtx::itemBatched(size_t k, size_t i) const {
  if (k < items.size() && !items[k].empty()) return i < items[k].size() && items[k][i];
  return b[k];
}

Node* BatchCtx::moveBatch(Node* x, int r, int to) {
  if (to == 0) return x;
  std::vector<int64_t> perm;
  for (int d = 1; d <= r; ++d) perm.push_back(d);
  perm.insert(perm.begin() + to, 0);
  return call(Prim::Transpose, {x, intTuple(perm)});
}

namespace {

int64_t shift(int64_t a) { return a >= 0 ? a + 1 : a; }  // negative axes count from the end alike

// elementwise ops: the batched operands get size-1 axes after the batch axis so that
// their per-example axes line up, right-aligned, with those of the other operands; then
// NumPy broadcasting does the rest.
Node* elementwise(BatchCtx& c) {
  int r = 0;
  for (size_t k = 1; k < c.in.size(); ++k) {
    if (!c.abs(k)) return nullptr;
    if (!c.abs(k)->isTensor() && !c.abs(k)->isNumber()) {
      if (c.b[k]) return nullptr;  // a batched container: per example
      continue;
    }
    int rk = c.rank(k);
    if (rk < 0) return nullptr;
    r = std::max(r, rk);
  }
  std::vector<std::pair<size_t, Node*>> repl;
  for (size_t k = 1; k < c.in.size(); ++k)
    if (c.b[k] && c.rank(k) < r) repl.push_back({k, c.expandAfterBatch(c.in[k], r - c.rank(k))});
  return c.copy(repl);
}

// Unary ops and ops whose only batched argument is used elementwise or along its last
// axes: the call as it is.
Node* same(BatchCtx& c) { return c.copy(); }

// Reductions, softmax, sort, cumsum: the per-example axes shift by one; axis None (all
// per-example axes) becomes the tuple 1..rank. Only x may be batched.
Node* alongAxes(BatchCtx& c, const char* dflt, bool noneIsAll) {
  int xk = c.param("x");
  if (xk < 0 && c.n->numPositional() >= 1) xk = 1;  // max(*args): the one tensor
  if (xk < 0) return nullptr;
  for (size_t k = 1; k < c.in.size(); ++k)
    if (c.b[k] && (int)k != xk) return nullptr;
  int ak = c.param("axis");
  bool none;
  std::vector<int64_t> ax;
  if (!c.axes(ak, dflt, &none, &ax)) return nullptr;
  Node* axis;
  if (none) {
    int r = c.rank((size_t)xk);
    if (!noneIsAll || r <= 0) return nullptr;
    std::vector<int64_t> all;
    for (int d = 1; d <= r; ++d) all.push_back(d);
    axis = c.intTuple(all);
  } else {
    bool tuple = ak >= 0 && c.n->inputs[(size_t)ak]->abs && c.n->inputs[(size_t)ak]->abs->isSequence();
    for (int64_t& a : ax) a = shift(a);
    axis = tuple ? c.intTuple(ax) : c.integer(ax[0]);
  }
  if (ak >= 0) return c.copy({{(size_t)ak, axis}});
  return c.copy({}, {{"axis", axis}});
}

// x @ y: a batched vector becomes a matrix (row for x, column for y) and per-example
// ranks are padded after the batch axis, so that matmul's broadcasting of leading axes
// pairs example i with example i; an unbatched side broadcasts by itself, except a
// batched vector y, which is handled as x @ y^T with the batch axis moved to the front.
Node* matmulRule(BatchCtx& c, size_t xk, size_t yk) {
  int rx = c.rank(xk), ry = c.rank(yk);
  if (rx < 1 || ry < 1) return nullptr;
  Node *x = c.in[xk], *y = c.in[yk];
  bool bx = c.b[xk], by = c.b[yk];
  if (bx && !by) {
    if (rx == 1 && ry > 2) return nullptr;
    return c.call(Prim::MatMul, {x, y});
  }
  if (!bx && by) {
    if (ry >= 2) return c.call(Prim::MatMul, {x, y});
    // y is a batch of vectors (B, k): x @ y^T is (..., B), then the batch axis first.
    Node* out = c.call(Prim::MatMul, {x, c.call(Prim::Transpose, {y})});
    int ro = rx;  // (..., n, B) for rx >= 2, (B,) for rx == 1
    if (rx == 1) return out;
    std::vector<int64_t> perm{ro - 1};
    for (int d = 0; d < ro - 1; ++d) perm.push_back(d);
    return c.call(Prim::Transpose, {out, c.intTuple(perm)});
  }
  int ex = std::max(rx, 2), ey = std::max(ry, 2);
  if (rx == 1) x = c.call(Prim::ExpandDims, {x, c.integer(1)});
  if (ry == 1) y = c.call(Prim::ExpandDims, {y, c.integer(-1)});
  if (ex < ey) x = c.expandAfterBatch(x, ey - ex);
  if (ey < ex) y = c.expandAfterBatch(y, ex - ey);
  Node* out = c.call(Prim::MatMul, {x, y});
  if (ry == 1) out = c.call(Prim::Squeeze, {out, c.integer(-1)});
  if (rx == 1) out = c.call(Prim::Squeeze, {out, c.integer(ry == 1 ? -1 : -2)});
  return out;
}

// An index of basic kind (ints, slices, None, ...): a leading full slice keeps the batch
// axis. Array indices go per example.
bool basicIndex(const ir::Abstract* a) {
  if (!a) return false;
  switch (a->kind) {
    case AKind::Int: case AKind::Bool: case AKind::Slice: case AKind::None: case AKind::Ellipsis: return true;
    case AKind::Tuple:
      if (a->homogeneous) return false;
      for (const ir::Abstract* e : a->elems)
        if (!basicIndex(e) || e->is(AKind::Tuple)) return false;
      return true;
    default: return false;
  }
}

Node* batchedIndex(BatchCtx& c, size_t ik) {
  Node* all = c.call(Prim::MakeSlice, {c.m.constNone(), c.m.constNone(), c.m.constNone()});
  const ir::Abstract* a = c.abs(ik);
  if (a->is(AKind::Tuple)) return c.call(Prim::Add, {c.call(Prim::MakeTuple, {all}), c.in[ik]});
  return c.call(Prim::MakeTuple, {all, c.in[ik]});
}

Node* getItemRule(BatchCtx& c) {
  if (!c.b[1] || c.b[2] || !c.isTensor(1)) return nullptr;
  if (basicIndex(c.abs(2))) return c.copy({{2, batchedIndex(c, 2)}});
  // x[ids] with integer ids: take along axis 1
  const ir::Abstract* ia = c.abs(2);
  if (ia && ia->isTensor() && ia->dtypeKnown && (ia->dtype == DType::I64 || ia->dtype == DType::I32))
    return c.call(Prim::Take, {c.in[1], c.in[2]}, {{"axis", c.integer(1)}});
  return nullptr;
}

// The tuple shape(x)[from:] (per-example dimensions of a batched x when from = 1).
Node* shapeFrom(BatchCtx& c, Node* x, int64_t from) {
  Node* sl = c.call(Prim::MakeSlice, {c.integer(from), c.m.constNone(), c.m.constNone()});
  return c.call(Prim::GetItem, {c.call(Prim::Shape, {x}), sl});
}

// NN ops on NCHW (or N..) examples: the batch is folded into N, the op runs once, and
// the batch is unfolded again. Only x may be batched.
Node* foldIntoN(BatchCtx& c, int wantRank) {
  for (size_t k = 2; k < c.in.size(); ++k)
    if (c.b[k]) return nullptr;
  int r = c.rank(1);
  if (r == wantRank - 1) return c.copy();  // one unbatched-N example: the batch is N
  if (r != wantRank) return nullptr;
  Node* x = c.in[1];
  Node* n = c.call(Prim::GetItem, {c.call(Prim::Shape, {x}), c.integer(1)});
  Node* bn = c.call(Prim::Mul, {c.size, n});
  Node* folded = c.call(Prim::Reshape, {x, c.call(Prim::Add, {c.call(Prim::MakeTuple, {bn}), shapeFrom(c, x, 2)})});
  Node* y = c.copy({{1, folded}});
  return c.call(Prim::Reshape, {y, c.call(Prim::Add, {c.call(Prim::MakeTuple, {c.size, n}), shapeFrom(c, y, 1)})});
}

// conv2d with per-example weights (per-example gradients batch the parameters): the
// examples become groups of channels, x (B, N, C, H, W) -> (N, B*C, H, W), and the
// weights a block-diagonal (B*O, B*C, kh, kw) kernel, so that example i's channels meet
// its own weights only; then (N, B*O, H', W') -> (B, N, O, H', W') and the bias added.
// (B times the work of one convolution: there is no grouped convolution to call.)
Node* conv2dBatchedWeights(BatchCtx& c) {
  int bk = c.param("b");
  for (size_t k = 1; k < c.in.size(); ++k)
    if (c.b[k] && k != 1 && k != 2 && (int)k != bk) return nullptr;
  if (c.rank(1) != 4 || c.rank(2) != 4) return nullptr;
  if (bk >= 0 && c.rank((size_t)bk) != 1) return nullptr;
  auto dim = [&](Node* t, int64_t d) { return c.call(Prim::GetItem, {c.call(Prim::Shape, {t}), c.integer(d)}); };
  Node* x = c.b[1] ? c.in[1] : c.call(Prim::VmapBcast, {c.in[1], c.size});
  Node* w = c.in[2];
  Node *n = dim(x, 1), *ch = dim(x, 2), *o = dim(w, 1);
  Node* xt = c.call(Prim::Transpose, {x, c.intTuple({1, 0, 2, 3, 4})});
  Node* xf = c.call(Prim::Reshape, {xt, c.call(Prim::MakeTuple, {n, c.call(Prim::Mul, {c.size, ch}), dim(x, 3), dim(x, 4)})});
  Node* eye = c.call(Prim::Reshape, {c.call(Prim::Eye, {c.size}), c.call(Prim::MakeTuple, {c.size, c.integer(1), c.size, c.integer(1), c.integer(1), c.integer(1)})});
  Node* blocks = c.call(Prim::Mul, {eye, c.call(Prim::ExpandDims, {w, c.integer(2)})});  // (B, O, B, C, kh, kw)
  Node* wf = c.call(Prim::Reshape, {blocks, c.call(Prim::MakeTuple, {c.call(Prim::Mul, {c.size, o}), c.call(Prim::Mul, {c.size, ch}), dim(w, 3), dim(w, 4)})});
  std::vector<std::pair<size_t, Node*>> repl{{1, xf}, {2, wf}};
  if (bk >= 0) repl.push_back({(size_t)bk, c.m.constNone()});
  Node* y = c.copy(repl);  // (N, B*O, H', W')
  Node* y5 = c.call(Prim::Reshape, {y, c.call(Prim::MakeTuple, {n, c.size, o, dim(y, 2), dim(y, 3)})});
  Node* out = c.call(Prim::Transpose, {y5, c.intTuple({1, 0, 2, 3, 4})});
  if (bk < 0 || (c.n->inputs[(size_t)bk]->isConst() && c.n->inputs[(size_t)bk]->ckind == ir::ConstKind::None)) return out;
  Node* bias = c.call(Prim::Reshape, {c.in[(size_t)bk], c.b[(size_t)bk] ? c.call(Prim::MakeTuple, {c.size, c.integer(1), o, c.integer(1), c.integer(1)})
                                                                          : c.call(Prim::MakeTuple, {c.integer(1), c.integer(1), o, c.integer(1), c.integer(1)})});
  return c.call(Prim::Add, {out, bias});
}

Node* crossEntropyRule(BatchCtx& c) {
  int r = c.rank(1);
  Node* logits = c.in[1];
  Node* labels = c.b[2] ? c.in[2] : c.call(Prim::VmapBcast, {c.in[2], c.size});
  if (!c.b[1]) logits = c.call(Prim::VmapBcast, {logits, c.size});
  if (r == 1) return c.copy({{1, logits}, {2, labels}});
  if (r != 2) return nullptr;
  Node* minus1 = c.integer(-1);
  Node* flat = c.call(Prim::Reshape, {logits, c.call(Prim::MakeTuple, {minus1, c.call(Prim::GetItem, {c.call(Prim::Shape, {logits}), minus1})})});
  Node* out = c.copy({{1, flat}, {2, c.call(Prim::Reshape, {labels, c.call(Prim::MakeTuple, {minus1})})}});
  return c.call(Prim::Reshape, {out, c.call(Prim::MakeTuple, {c.size, minus1})});
}

// mse(a, b) = mean((a - b) ** 2) per example: the mean over the per-example axes.
Node* mseRule(BatchCtx& c) {
  int ra = c.rank(1), rb = c.rank(2);
  if (ra < 0 || rb < 0) return nullptr;
  int r = std::max(ra, rb);
  Node *a = c.in[1], *b = c.in[2];
  if (c.b[1] && ra < r) a = c.expandAfterBatch(a, r - ra);
  if (c.b[2] && rb < r) b = c.expandAfterBatch(b, r - rb);
  Node* d = c.call(Prim::Sub, {a, b});
  Node* sq = c.call(Prim::Mul, {d, d});
  if (r == 0) return sq;
  std::vector<int64_t> all;
  for (int i = 1; i <= r; ++i) all.push_back(i);
  return c.call(Prim::Mean, {sq, c.intTuple(all)});
}

// reshape(x, *shape): the batch size is prepended to the new shape.
Node* reshapeRule(BatchCtx& c) {
  for (size_t k = 2; k < c.in.size(); ++k)
    if (c.b[k]) return nullptr;
  if (!c.n->kwnames.empty()) return nullptr;
  Node* shape;
  if (c.in.size() == 3 && c.abs(2) && c.abs(2)->isSequence()) {
    shape = c.call(Prim::TupleNew, {c.in[2]});
  } else {
    std::vector<Node*> dims(c.in.begin() + 2, c.in.end());
    shape = c.call(Prim::MakeTuple, dims);
  }
  return c.call(Prim::Reshape, {c.in[1], c.call(Prim::Add, {c.call(Prim::MakeTuple, {c.size}), shape})});
}

// transpose(x, *axes): axes shift by one after a leading 0; no axes reverses the
// per-example axes.
Node* transposeRule(BatchCtx& c, bool reverseOnly) {
  int r = c.rank(1);
  std::vector<int64_t> ax;
  if (!reverseOnly && c.in.size() > 2) {
    if (!c.n->kwnames.empty()) return nullptr;
    if (c.in.size() == 3 && c.abs(2) && c.abs(2)->isSequence()) {
      bool none;
      if (!c.axes(2, "", &none, &ax) || none) return nullptr;
    } else {
      for (size_t k = 2; k < c.in.size(); ++k) {
        bool none;
        std::vector<int64_t> one;
        if (!c.axes((int)k, "", &none, &one) || none || one.size() != 1) return nullptr;
        ax.push_back(one[0]);
      }
    }
    if (r < 0) r = (int)ax.size();
    for (int64_t& a : ax) a = (a < 0 ? a + r : a) + 1;
  } else {
    if (r < 0) return nullptr;
    for (int d = r; d >= 1; --d) ax.push_back(d);
  }
  ax.insert(ax.begin(), 0);
  return c.call(Prim::Transpose, {c.in[1], c.intTuple(ax)});
}

// An axis parameter of a one-tensor op shifted by one (negative ones stay).
Node* shiftParams(BatchCtx& c, std::vector<const char*> names) {
  std::vector<std::pair<size_t, Node*>> repl;
  for (const char* nm : names) {
    int k = c.param(nm);
    bool none;
    std::vector<int64_t> ax;
    if (k < 0 || !c.axes(k, "", &none, &ax) || none || ax.size() != 1) return nullptr;
    repl.push_back({(size_t)k, c.integer(shift(ax[0]))});
  }
  for (size_t k = 2; k < c.in.size(); ++k)
    if (c.b[k]) return nullptr;
  return c.copy(repl);
}

// concat/stack of a sequence of batched values: the axis shifts by one.
Node* joinRule(BatchCtx& c) {
  int ak = c.param("axis");
  bool none;
  std::vector<int64_t> ax;
  if (!c.axes(ak, "0", &none, &ax) || none || ax.size() != 1) return nullptr;
  Node* xs = c.b[1] ? c.in[1] : c.call(Prim::VmapBcast, {c.in[1], c.size});
  if (ak >= 0) return c.copy({{1, xs}, {(size_t)ak, c.integer(shift(ax[0]))}});
  return c.copy({{1, xs}}, {{"axis", c.integer(shift(ax[0]))}});
}

// Iterating a batched tensor (enumerate, zip, list, reversed): rows are along axis 1.
Node* rowsFirst(BatchCtx& c) {
  std::vector<std::pair<size_t, Node*>> repl;
  for (size_t k = 1; k < c.in.size(); ++k) {
    if (!c.b[k]) continue;
    if (!c.abs(k)) return nullptr;
    if (c.abs(k)->isTensor()) repl.push_back({k, c.call(Prim::Swapaxes, {c.in[k], c.integer(0), c.integer(1)})});
    else if (!c.abs(k)->isSequence()) return nullptr;
  }
  return c.copy(repl);
}

// All inputs batched (unbatched ones repeated), then the call as it is: for cotangent
// helpers whose result takes its structure from several inputs.
Node* allBatched(BatchCtx& c, std::vector<size_t> which) {
  std::vector<std::pair<size_t, Node*>> repl;
  for (size_t k : which)
    if (k < c.in.size() && !c.b[k]) repl.push_back({k, c.call(Prim::VmapBcast, {c.in[k], c.size})});
  return c.copy(repl);
}

// __sum_bwd / __minmax_bwd: like a reduction, the axis of x shifts (None: 1..rank).
Node* reductionBwd(BatchCtx& c, std::vector<size_t> tensors, size_t xk, size_t axisK) {
  if (axisK >= c.in.size()) return nullptr;
  int r = c.rank(xk);
  bool none;
  std::vector<int64_t> ax;
  if (!c.isTensor(xk) || r < 0 || !c.axes((int)axisK, "", &none, &ax)) return nullptr;
  std::vector<int64_t> all;
  if (none) {
    for (int d = 1; d <= r; ++d) all.push_back(d);
  } else {
    for (int64_t a : ax) all.push_back(shift(a));
  }
  if (all.empty()) return nullptr;
  for (size_t k = 1; k < c.in.size(); ++k)
    if (c.b[k] && std::find(tensors.begin(), tensors.end(), k) == tensors.end()) return nullptr;
  Node* axes = c.intTuple(all);
  std::vector<std::pair<size_t, Node*>> repl{{axisK, axes}};
  for (size_t k : tensors)
    if (!c.b[k]) repl.push_back({k, c.call(Prim::VmapBcast, {c.in[k], c.size})});
  return c.copy(repl);
}

// __matmul_bwd(ct, x, y, which): every operand batched (repeated where not); vectors made
// matrices and per-example ranks padded after the batch axis as matmulRule does, so that
// the helper's broadcasting pairs example i with example i; the result gets the
// batched shape of x (which=0) or y back. Only for float targets (else the helper's
// result is None).
Node* matmulBwdRule(BatchCtx& c) {
  bool none;
  std::vector<int64_t> which;
  if (c.b[4] || !c.axes(4, "", &none, &which) || none || which.size() != 1) return nullptr;
  size_t tk = which[0] == 0 ? 2 : 3;
  const ir::Abstract* ta = c.abs(tk);
  if (!ta || !ta->isTensor() || !ta->dtypeKnown || !isFloat(ta->dtype)) return nullptr;
  int rx = c.rank(2), ry = c.rank(3), rc = c.rank(1);
  if (rx < 1 || ry < 1 || rc < 0) return nullptr;
  auto batched = [&](size_t k) { return c.b[k] ? c.in[k] : c.call(Prim::VmapBcast, {c.in[k], c.size}); };
  Node *ct = batched(1), *x = batched(2), *y = batched(3);
  Node* target = tk == 2 ? x : y;
  if (rx == 1) {
    x = c.call(Prim::ExpandDims, {x, c.integer(1)});
    ct = c.call(Prim::ExpandDims, {ct, c.integer(ry == 1 ? -1 : -2)});
  }
  if (ry == 1) {
    y = c.call(Prim::ExpandDims, {y, c.integer(-1)});
    ct = c.call(Prim::ExpandDims, {ct, c.integer(-1)});
  }
  int ex = std::max(rx, 2), ey = std::max(ry, 2);
  if (ex < ey) x = c.expandAfterBatch(x, ey - ex);
  if (ey < ex) y = c.expandAfterBatch(y, ex - ey);
  Node* r = c.copy({{1, ct}, {2, x}, {3, y}});
  return c.call(Prim::Reshape, {r, c.call(Prim::Shape, {target})});
}

// Backward helpers along a static axis of x (take, sort): ct and x batched (repeated
// where not), the axis shifted past the batch axis; `others` must be unbatched.
Node* axisBwdRule(BatchCtx& c, size_t axisK, std::vector<size_t> others) {
  for (size_t k : others)
    if (k < c.in.size() && c.b[k]) return nullptr;
  if (axisK >= c.in.size() || c.b[axisK] || !c.isTensor(2)) return nullptr;
  bool none;
  std::vector<int64_t> ax;
  if (!c.axes((int)axisK, "", &none, &ax) || none || ax.size() != 1) return nullptr;  // None: per-example flattening
  std::vector<std::pair<size_t, Node*>> repl{{axisK, c.integer(shift(ax[0]))}};
  for (size_t k : {size_t(1), size_t(2)})
    if (!c.b[k]) repl.push_back({k, c.call(Prim::VmapBcast, {c.in[k], c.size})});
  return c.copy(repl);
}

// __getitem_bwd(ct, obj, index) with an unbatched index: of a tensor with a basic index,
// ct and obj batched and the index behind a full slice; of a container, ct batched (the
// container only gives the structure).
Node* getItemBwdRule(BatchCtx& c) {
  if (c.b[3]) return nullptr;
  Node* ct = c.b[1] ? c.in[1] : c.call(Prim::VmapBcast, {c.in[1], c.size});
  if (!c.isTensor(2)) {
    if (!c.abs(2) || !(c.abs(2)->isSequence() || c.abs(2)->is(AKind::Dict))) return nullptr;
    return c.copy({{1, ct}});
  }
  if (!basicIndex(c.abs(3))) return nullptr;
  Node* obj = c.b[2] ? c.in[2] : c.call(Prim::VmapBcast, {c.in[2], c.size});
  return c.copy({{1, ct}, {2, obj}, {3, batchedIndex(c, 3)}});
}


// ------------------------------------------------------------------ rules added for
// creation, layout and host-container primitives and the backward helpers

// A string known here (einsum's spec, a helper's kind).
bool staticStr(BatchCtx& c, size_t k, std::string* out) {
  const Node* x = c.n->inputs[k];
  if (x->isConst() && x->ckind == ir::ConstKind::Str) {
    *out = x->s;
    return true;
  }
  const ir::Abstract* a = x->abs;
  if (a && a->is(AKind::Str) && a->known) {
    *out = a->s;
    return true;
  }
  return false;
}

// A bool known here (parameter k, or its default when k < 0).
bool staticBool(BatchCtx& c, int k, bool dflt, bool* out) {
  if (k < 0) {
    *out = dflt;
    return true;
  }
  const Node* x = c.n->inputs[(size_t)k];
  if (x->isConst() && x->ckind == ir::ConstKind::Bool) {
    *out = x->b;
    return true;
  }
  if (x->abs && x->abs->is(AKind::Bool) && x->abs->known) {
    *out = x->abs->b;
    return true;
  }
  return false;
}

bool isNoneArg(BatchCtx& c, int k) {
  if (k < 0) return true;
  const Node* x = c.n->inputs[(size_t)k];
  return (x->isConst() && x->ckind == ir::ConstKind::None) || (x->abs && x->abs->is(AKind::None));
}

// A leaf that stays as it is inside a batched container (numbers, strings, functions).
bool hostLeaf(const ir::Abstract* a) {
  if (!a) return false;
  switch (a->kind) {
    case AKind::None: case AKind::Bool: case AKind::Int: case AKind::Float: case AKind::Str: case AKind::DType:
    case AKind::Function: case AKind::Prim: case AKind::Partial: case AKind::Class: case AKind::Slice:
      return true;
    default: return false;
  }
}

Node* fullSlice(BatchCtx& c) { return c.call(Prim::MakeSlice, {c.m.constNone(), c.m.constNone(), c.m.constNone()}); }

// x[:, i]: item i of each example.
Node* itemOf(BatchCtx& c, Node* x, int64_t i) {
  return c.call(Prim::GetItem, {x, c.call(Prim::MakeTuple, {fullSlice(c), c.integer(i)})});
}

// linspace(start, stop, num) with per-example ends: NumPy's computation in f64 as the
// primitive does it, i * step + start and exactly `stop` last, on a (B, num) grid.
Node* linspaceRule(BatchCtx& c) {
  int nk = c.param("num"), dk = c.param("dtype");
  if ((nk >= 0 && c.b[(size_t)nk]) || (dk >= 0 && c.b[(size_t)dk])) return nullptr;
  bool none;
  std::vector<int64_t> nv;
  if (!c.axes(nk, "50", &none, &nv) || none || nv.size() != 1 || nv[0] < 0) return nullptr;
  if (c.rank(1) != 0 || c.rank(2) != 0) return nullptr;
  int64_t num = nv[0];
  Node* f64 = c.m.constDType(DType::F64);
  auto end = [&](size_t k) {
    Node* v = c.call(Prim::AsType, {c.in[k], f64});
    return c.b[k] ? c.call(Prim::ExpandDims, {v, c.integer(-1)}) : v;  // (B, 1), or () for the same for all
  };
  Node *a = end(1), *e = end(2);
  Node* delta = c.call(Prim::Sub, {e, a});
  Node* step = num > 1 ? c.call(Prim::Div, {delta, c.m.constFloat((double)(num - 1), c.loc())}) : delta;
  Node* idx = c.call(Prim::Arange, {c.integer(num)}, {{"dtype", f64}});
  Node* y = c.call(Prim::Add, {c.call(Prim::Mul, {idx, step}), a});
  if (num > 1) {
    Node* last = c.call(Prim::Eq, {c.call(Prim::Arange, {c.integer(num)}), c.integer(num - 1)});
    y = c.call(Prim::Where, {last, e, y});
  }
  return c.call(Prim::AsType, {y, dk >= 0 ? c.in[(size_t)dk] : c.m.constDType(DType::F32)});
}

// uniform(key, shape, dtype, minval, maxval) with per-example bounds and one key: one
// draw for all examples (as jax.vmap does with an unbatched key), scaled per example:
// max(u * (maxval - minval) + minval, minval). (The primitive fuses the multiply-add, so
// results may differ from it in the last bit.) Batched keys: one draw per key.
Node* uniformRule(BatchCtx& c) {
  int sk = c.param("shape"), dk = c.param("dtype"), lk = c.param("minval"), hk = c.param("maxval");
  if (c.b[1] || (sk >= 0 && c.b[(size_t)sk]) || (dk >= 0 && c.b[(size_t)dk])) return nullptr;
  int rs = 0;  // the rank of the draw
  if (sk >= 0) {
    const ir::Abstract* a = c.abs((size_t)sk);
    if (!a) return nullptr;
    if (a->is(AKind::Int)) rs = 1;
    else if (a->isSequence() && !a->homogeneous) rs = (int)a->elems.size();
    else if (!a->is(AKind::None)) return nullptr;
  }
  for (int k : {lk, hk})
    if (k >= 0 && c.b[(size_t)k] && c.rank((size_t)k) != 0) return nullptr;
  Node* dt = dk >= 0 ? c.in[(size_t)dk] : c.m.constDType(DType::F32);
  Node* u = c.call(Prim::Uniform, {c.in[1], sk >= 0 ? c.in[(size_t)sk] : c.m.constNone(), dt});
  auto bound = [&](int k, double dflt) {
    Node* v = c.call(Prim::AsType, {k >= 0 ? c.in[(size_t)k] : c.m.constFloat(dflt, c.loc()), dt});
    return k >= 0 && c.b[(size_t)k] ? c.expandAfterBatch(v, rs) : v;
  };
  Node *lo = bound(lk, 0.0), *hi = bound(hk, 1.0);
  Node* v = c.call(Prim::Add, {c.call(Prim::Mul, {u, c.call(Prim::Sub, {hi, lo})}), lo});
  return c.call(Prim::Maximum, {v, lo});
}

// Input k's abstract; an int constant without one is known by its value.
const ir::Abstract* absOrConst(BatchCtx& c, size_t k) {
  const Node* x = c.n->inputs[k];
  if (!x->abs && x->isConst() && x->ckind == ir::ConstKind::Int) return ir::Abstract::intConst(x->i);
  return x->abs;
}

// The repetitions of tile as a tuple node and their count (reps: an int or a tuple).
bool repsOf(BatchCtx& c, size_t k, Node** reps, int* d) {
  const ir::Abstract* a = absOrConst(c, k);
  if (!a || c.b[k]) return false;
  if (a->is(AKind::Int)) {
    *d = 1;
    *reps = c.call(Prim::MakeTuple, {c.in[k]});
    return true;
  }
  if (!a->isSequence() || a->homogeneous) return false;
  *d = (int)a->elems.size();
  *reps = c.call(Prim::TupleNew, {c.in[k]});
  return true;
}

// tile(x, reps) with the batch axis repeated once: x gets the axes NumPy would prepend
// after its batch axis, and reps a leading 1 per batched axis it does not name.
Node* tileRule(BatchCtx& c, size_t xk, size_t rk, Node** expanded) {
  int r = c.rank(xk), d;
  Node* reps;
  if (r < 0 || !c.isTensor(xk) || !repsOf(c, rk, &reps, &d)) return nullptr;
  Node* x = c.batched(xk);
  if (d > r) x = c.expandAfterBatch(x, d - r);
  *expanded = x;
  int nd = std::max(r, d);
  return c.call(Prim::Add, {c.intTuple(std::vector<int64_t>((size_t)(nd - d + 1), 1)), reps});
}

// pad's widths (n, (before, after), or one pair per axis) as one pair per axis of a
// rank-r example, from the static structure of input k.
bool padPairs(BatchCtx& c, size_t k, int r, std::vector<Node*>* pairs) {
  const ir::Abstract* a = absOrConst(c, k);
  Node* w = c.in[k];
  auto item = [&](Node* s, int64_t i) { return c.call(Prim::GetItem, {s, c.integer(i)}); };
  auto pair = [&](Node* lo, Node* hi) { return c.call(Prim::MakeTuple, {lo, hi}); };
  if (!a || c.b[k]) return false;
  if (a->is(AKind::Int)) {
    pairs->assign((size_t)r, pair(w, w));
    return true;
  }
  if (!a->isSequence() || a->homogeneous || a->elems.empty()) return false;
  if (!a->elems[0]->isSequence()) {
    for (const ir::Abstract* e : a->elems)
      if (!e->is(AKind::Int)) return false;
    if (a->elems.size() > 2) return false;
    Node* lo = item(w, 0);
    pairs->assign((size_t)r, pair(lo, a->elems.size() == 2 ? item(w, 1) : lo));
    return true;
  }
  if (a->elems.size() != (size_t)r && a->elems.size() != 1) return false;
  for (size_t i = 0; i < a->elems.size(); ++i) {
    const ir::Abstract* e = a->elems[i];
    if (!e->isSequence() || e->homogeneous || e->elems.empty() || e->elems.size() > 2) return false;
    Node* p = item(w, (int64_t)i);
    Node* lo = item(p, 0);
    pairs->push_back(pair(lo, e->elems.size() == 2 ? item(p, 1) : lo));
  }
  if (pairs->size() == 1) pairs->assign((size_t)r, (*pairs)[0]);
  return true;
}

// The widths of input k for a batched rank-r example: (0, 0) for the batch axis first.
Node* batchedWidths(BatchCtx& c, size_t k, int r) {
  std::vector<Node*> pairs;
  if (r < 0 || !padPairs(c, k, r, &pairs)) return nullptr;
  pairs.insert(pairs.begin(), c.intTuple({0, 0}));
  return c.call(Prim::MakeTuple, pairs);
}

// pad(x, widths, value); a value per example fills the border where pad(ones) is 0.
Node* padRule(BatchCtx& c) {
  int vk = c.param("value");
  int r = c.rank(1);
  if (!c.isTensor(1)) return nullptr;
  Node* w = batchedWidths(c, 2, r);
  if (!w) return nullptr;
  Node* x = c.batched(1);
  if (vk < 0 || !c.b[(size_t)vk]) return c.copy({{1, x}, {2, w}});
  if (c.rank((size_t)vk) != 0) return nullptr;
  Node* padded = c.call(Prim::Pad, {x, w});
  Node* inside = c.call(Prim::Pad, {c.call(Prim::OnesLike, {x}), w});
  Node* v = c.expandAfterBatch(c.in[(size_t)vk], r);
  Node* out = c.call(Prim::Where, {c.call(Prim::Eq, {inside, c.integer(0)}), v, padded});
  return c.call(Prim::AsType, {out, c.call(Prim::DTypeOf, {x})});
}

// einsum(spec, *operands): a letter the spec does not use names the batch axis of the
// batched operands and leads the output (an implicit output made explicit first, as
// the primitive forms it: the letters used once, in character order).
Node* einsumRule(BatchCtx& c) {
  std::string spec;
  if (c.b[1] || !staticStr(c, 1, &spec)) return nullptr;
  std::string lhs = spec, rhs;
  size_t arrow = spec.find("->");
  bool explicitOut = arrow != std::string::npos;
  if (explicitOut) {
    lhs = spec.substr(0, arrow);
    rhs = spec.substr(arrow + 2);
  }
  std::vector<std::string> ins;
  std::string cur;
  for (char ch : lhs + ",") {
    if (ch == ' ') continue;
    if (ch == ',') {
      ins.push_back(cur);
      cur.clear();
    } else if (std::isalpha((unsigned char)ch)) {
      cur += ch;
    } else {
      return nullptr;
    }
  }
  if (ins.size() + 2 != c.in.size()) return nullptr;
  std::map<char, int> count;
  for (const std::string& s : ins)
    for (char ch : s) count[ch]++;
  std::string out;
  if (explicitOut) {
    for (char ch : rhs) {
      if (ch == ' ') continue;
      if (!std::isalpha((unsigned char)ch)) return nullptr;
      out += ch;
    }
  } else {
    for (auto& [ch, k] : count)
      if (k == 1) out += ch;
  }
  char bl = 0;
  for (char ch : std::string("zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJIHGFEDCBA"))
    if (spec.find(ch) == std::string::npos) {
      bl = ch;
      break;
    }
  if (!bl) return nullptr;
  std::string ns;
  for (size_t k = 0; k < ins.size(); ++k) {
    if (k) ns += ",";
    if (c.b[k + 2]) {
      if (c.rank(k + 2) != (int)ins[k].size()) return nullptr;  // the primitive reports it, per example
      ns += bl;
    }
    ns += ins[k];
  }
  ns += "->";
  ns += bl;
  ns += out;
  return c.copy({{1, c.m.constStr(ns, c.loc())}});
}

// sorted(xs) of a rank-1 tensor or a tuple/list of rank-0 items of one type: sort along
// axis 1, the items back along axis 1 (reverse: the ascending order reversed, which
// differs from Python's stable reverse only in which of equal items comes first).
Node* sortedRule(BatchCtx& c) {
  int kk = c.param("key"), rk = c.param("reverse");
  if (!isNoneArg(c, kk)) return nullptr;
  for (size_t k = 2; k < c.in.size(); ++k)
    if (c.b[k]) return nullptr;
  bool reverse;
  if (!staticBool(c, rk, false, &reverse)) return nullptr;
  const ir::Abstract* a = c.abs(1);
  if (!a) return nullptr;
  Node* xs;
  if (a->isTensor()) {
    if (c.rank(1) != 1) return nullptr;
    xs = c.in[1];
  } else if (a->isSequence() && !a->homogeneous && !a->elems.empty()) {
    const ir::Abstract* e0 = a->elems[0];
    for (const ir::Abstract* e : a->elems) {
      bool sameKind = e->kind == e0->kind && (e->is(AKind::Float) || e->is(AKind::Int) ||
                                              (e->isTensor() && e->rankKnown && e->rank() == 0 && e->dtypeKnown && e->dtype == e0->dtype));
      if (!sameKind) return nullptr;
    }
    xs = c.call(Prim::Stack, {c.in[1], c.integer(1)});
  } else {
    return nullptr;
  }
  Node* s = c.call(Prim::Sort, {xs, c.integer(1)});
  if (reverse) {
    Node* back = c.call(Prim::MakeSlice, {c.m.constNone(), c.m.constNone(), c.integer(-1)});
    s = c.call(Prim::GetItem, {s, c.call(Prim::MakeTuple, {fullSlice(c), back})});
  }
  return c.call(Prim::ListNew, {c.call(Prim::Swapaxes, {s, c.integer(0), c.integer(1)})});
}

// dict(...) and partial(fn, ...): the arguments batched as a whole (numbers, strings and
// functions stay as they are inside, as in any batched container). A batched partial is
// called through __vmapcall, which takes its bound arguments as batched.
Node* containerRule(BatchCtx& c, size_t from) {
  std::vector<std::pair<size_t, Node*>> repl;
  for (size_t k = from; k < c.in.size(); ++k) {
    if (c.b[k] || hostLeaf(c.abs(k))) continue;
    if (!c.abs(k)) return nullptr;
    repl.push_back({k, c.batched(k)});
  }
  return c.copy(repl);
}

// ---- backward helpers

// __getattr_bwd(ct, obj, name): x.T's cotangent transposed with the batch kept first; a
// record's with ct in the field (the record only gives the class).
Node* getAttrBwdRule(BatchCtx& c) {
  std::string name;
  if (c.b[3] || !staticStr(c, 3, &name) || !c.abs(2)) return nullptr;
  Node* ct = c.batched(1);
  if (c.abs(2)->isTensor() && name == "T") {
    int r = c.rank(2);
    if (r < 0) return nullptr;
    std::vector<int64_t> perm{0};
    for (int d = r; d >= 1; --d) perm.push_back(d);
    return c.call(Prim::Transpose, {ct, c.intTuple(perm)});
  }
  if (c.abs(2)->isTensor() || c.abs(2)->is(AKind::Record)) return c.copy({{1, ct}});
  return nullptr;
}

// __concat_bwd / __split_bwd (ct, xs, axis, stacked): ct and xs batched, axis shifted.
Node* concatBwdRule(BatchCtx& c) {
  bool none;
  std::vector<int64_t> ax;
  if (c.b[3] || c.b[4] || !c.axes(3, "", &none, &ax) || none || ax.size() != 1) return nullptr;
  return c.copy({{1, c.batched(1)}, {2, c.batched(2)}, {3, c.integer(shift(ax[0]))}});
}

// The cotangent of iterating x (list(x), unpacking x, ...) from one cotangent per item:
// for a sequence x the items as they are; for a float tensor x its rows, which are along
// axis 1 of a batched x: the helper runs on x with the batch second, and the result has
// the batch moved back first. `x` is the iterable; `rebuild` makes the helper's second
// argument from it.
template <class F>
Node* itemsBackRule(BatchCtx& c, const ir::Abstract* xa, Node* x, F&& rebuild) {
  if (!xa) return nullptr;
  Node* ct = c.batched(1);
  if (xa->isSequence()) return c.copy({{1, ct}});
  if (!xa->isTensor() || !xa->dtypeKnown || !isFloat(xa->dtype) || !xa->rankKnown || xa->rank() < 1) return nullptr;
  Node* xt = c.call(Prim::Swapaxes, {x, c.integer(0), c.integer(1)});
  Node* r = c.copy({{1, ct}, {2, rebuild(xt)}});
  return c.call(Prim::Swapaxes, {r, c.integer(0), c.integer(1)});
}

Node* unpackBwdRule(BatchCtx& c) {
  if (c.b[3]) return nullptr;
  return itemsBackRule(c, c.abs(2), c.b[2] || !c.isTensor(2) ? c.in[2] : c.batched(2), [](Node* x) { return x; });
}

// __seq_bwd(ct, x, kind) for the kinds that only rearrange cotangents by x's structure.
Node* seqBwdRule(BatchCtx& c) {
  std::string kind;
  if (c.b[3] || !staticStr(c, 3, &kind)) return nullptr;
  const ir::Abstract* xa = c.abs(2);
  if (!xa) return nullptr;
  if (kind == "list" || kind == "tuple" || kind == "reversed" || kind == "enumerate")
    return itemsBackRule(c, xa, xa->isTensor() ? c.batched(2) : c.in[2], [](Node* x) { return x; });
  if (kind == "unpack") {  // x: (x, star)
    if (!xa->is(AKind::Tuple) || xa->homogeneous || xa->elems.size() != 2) return nullptr;
    Node* whole = c.batched(2);
    Node* inner = c.call(Prim::GetItem, {whole, c.integer(0)});
    Node* star = c.call(Prim::GetItem, {c.in[2], c.integer(1)});
    return itemsBackRule(c, xa->elems[0], inner, [&](Node* x) { return c.call(Prim::MakeTuple, {x, star}); });
  }
  if (kind == "tree_leaves" || kind == "dict") return c.copy({{1, c.batched(1)}});
  if (kind == "zip" || kind == "repeat@0" || kind == "repeat@1") {
    // x: the iterables (zip) or (a, b): sequences only
    if (!xa->isSequence() || xa->homogeneous) return nullptr;
    for (size_t i = 0; i < xa->elems.size(); ++i)
      if (!xa->elems[i]->isSequence() && (kind == "zip" || kind == (i == 0 ? "repeat@0" : "repeat@1"))) return nullptr;
    return c.copy({{1, c.batched(1)}});
  }
  return nullptr;
}

// __tensor_bwd(ct, data): ct split back into data's items, with the batch kept first
// (item i of each example: ct[:, i]); ints have no cotangent, floats take ct.
Node* tensorBwdItems(BatchCtx& c, Node* ct, const ir::Abstract* da, bool* ok) {
  if (da->isSequence()) {
    if (da->homogeneous) {
      *ok = false;
      return nullptr;
    }
    std::vector<Node*> items;
    for (size_t i = 0; i < da->elems.size(); ++i) items.push_back(tensorBwdItems(c, itemOf(c, ct, (int64_t)i), da->elems[i], ok));
    return c.call(da->is(AKind::List) ? Prim::MakeList : Prim::MakeTuple, items);
  }
  if (da->is(AKind::Int) || da->is(AKind::Bool)) return c.m.constNone();
  if (da->is(AKind::Float)) return ct;
  if (da->isTensor() && da->dtypeKnown) return isFloat(da->dtype) ? c.call(Prim::AsType, {ct, c.m.constDType(da->dtype)}) : c.m.constNone();
  *ok = false;
  return nullptr;
}

Node* tensorBwdRule(BatchCtx& c) {
  const ir::Abstract* da = c.abs(2);
  if (!da || !da->isSequence()) return nullptr;
  bool ok = true;
  Node* r = tensorBwdItems(c, c.batched(1), da, &ok);
  return ok ? r : nullptr;
}

// __nn_bwd(ct, kind, args) where only x's cotangent depends on the batch: pooling (and
// its transpose), gelu, relu, layer_norm without weights, and x's cotangent alone of conv2d and
// batch_norm (kind "name@0") with unbatched weights. The batch is folded into N for the
// NCHW kinds; the other cotangents are None.
Node* nnBwdRule(BatchCtx& c) {
  std::string kind;
  const ir::Abstract* aa = c.abs(3);
  if (c.b[2] || !staticStr(c, 2, &kind) || !aa || !aa->isSequence() || aa->homogeneous || aa->elems.empty()) return nullptr;
  size_t na = aa->elems.size();
  std::string base = kind.substr(0, kind.find('@'));
  bool only0 = kind.size() > base.size() && kind.substr(base.size()) == "@0";
  const ir::Abstract* xa = aa->elems[0];
  if (!xa->isTensor() || !xa->rankKnown || !xa->dtypeKnown || !isFloat(xa->dtype)) return nullptr;
  int rx = xa->rank();
  if (c.rank(1) != rx) return nullptr;
  auto argBatched = [&](size_t i) { return aa->elems[i]->isTensor() && c.itemBatched(3, i); };
  auto item = [&](size_t i) { return c.call(Prim::GetItem, {c.raw[3], c.integer((int64_t)i)}); };
  bool fold;
  if (base == "max_pool2d" || base == "avg_pool2d" || base == "max_pool2d^T") fold = true;
  else if (base == "gelu" || base == "gelu_grad" || base == "relu") fold = false;
  else if (base == "layer_norm") fold = false;
  else if ((base == "conv2d" || base == "batch_norm") && only0) fold = true;
  else return nullptr;
  for (size_t i = 1; i < na; ++i) {
    if (argBatched(i)) return nullptr;
    if (base == "layer_norm" && i <= 2 && !aa->elems[i]->is(AKind::None)) return nullptr;  // weights: per-example sums
  }
  if (fold && rx != 4 && !(rx == 3 && base != "conv2d" && base != "batch_norm")) return nullptr;
  fold = fold && rx == 4;
  std::vector<Node*> items;
  for (size_t i = 0; i < na; ++i) items.push_back(item(i));
  Node* x = argBatched(0) ? items[0] : c.call(Prim::VmapBcast, {items[0], c.size});
  Node* ct = c.batched(1);
  Node* n = nullptr;
  if (fold) {
    n = c.call(Prim::GetItem, {c.call(Prim::Shape, {x}), c.integer(1)});
    Node* bn = c.call(Prim::MakeTuple, {c.call(Prim::Mul, {c.size, n})});
    x = c.call(Prim::Reshape, {x, c.call(Prim::Add, {bn, shapeFrom(c, x, 2)})});
    ct = c.call(Prim::Reshape, {ct, c.call(Prim::Add, {bn, shapeFrom(c, ct, 2)})});
  }
  items[0] = x;
  Node* r = c.copy({{1, ct}, {3, c.call(Prim::MakeTuple, items)}});
  if (base == "relu") return r;  // x's cotangent itself, not a tuple
  Node* dx = c.call(Prim::GetItem, {r, c.integer(0)});
  if (fold) dx = c.call(Prim::Reshape, {dx, c.call(Prim::Add, {c.call(Prim::MakeTuple, {c.size, n}), shapeFrom(c, dx, 1)})});
  std::vector<Node*> out{dx};
  for (size_t i = 1; i < na; ++i) out.push_back(c.call(Prim::GetItem, {r, c.integer((int64_t)i)}));
  return c.call(Prim::MakeTuple, out);
}

// __tile_bwd(ct, x, reps): reps as tile's rule makes them; the tiles summed to the
// (expanded) batched x, then x's own shape.
Node* tileBwdRule(BatchCtx& c) {
  const ir::Abstract* xa = c.abs(2);
  if (!xa || !xa->isTensor() || !xa->dtypeKnown || !isFloat(xa->dtype)) return nullptr;
  Node* xe;
  Node* reps = tileRule(c, 2, 3, &xe);
  if (!reps) return nullptr;
  Node* r = c.copy({{1, c.batched(1)}, {2, xe}, {3, reps}});
  return c.call(Prim::Reshape, {r, c.call(Prim::Shape, {c.batched(2)})});
}

// __pad_bwd(ct, x, widths): the widths with (0, 0) for the batch axis.
Node* padBwdRule(BatchCtx& c) {
  Node* w = batchedWidths(c, 3, c.rank(2));
  if (!w || !c.isTensor(2)) return nullptr;
  return c.copy({{1, c.batched(1)}, {2, c.batched(2)}, {3, w}});
}

// __max_pool_jvp(t, x, ...): windows are per plane (every leading axis), so the batch
// is one more leading axis: t and x batched, t of x's rank.
Node* maxPoolJvpRule(BatchCtx& c) {
  for (size_t k = 3; k < c.in.size(); ++k)
    if (c.b[k]) return nullptr;
  int rx = c.rank(2);
  if (rx < 3 || c.rank(1) != rx) return nullptr;
  return c.copy({{1, c.batched(1)}, {2, c.batched(2)}});
}

}  // namespace

BatchKind batchKind(Prim p) {
  switch (p) {
    // elementwise and unary: the same call, batched operands aligned
    case Prim::Add: case Prim::Sub: case Prim::Mul: case Prim::Div: case Prim::FloorDiv: case Prim::Mod:
    case Prim::Pow: case Prim::BitAnd: case Prim::BitOr: case Prim::BitXor: case Prim::Neg: case Prim::Pos:
    case Prim::Invert: case Prim::Eq: case Prim::Ne: case Prim::Lt: case Prim::Le: case Prim::Gt: case Prim::Ge:
    case Prim::Exp: case Prim::Log: case Prim::Log1p: case Prim::Sqrt: case Prim::Rsqrt: case Prim::Sign:
    case Prim::Floor: case Prim::Ceil: case Prim::Sin: case Prim::Cos: case Prim::Tanh: case Prim::Sigmoid:
    case Prim::Relu: case Prim::Gelu: case Prim::Softplus: case Prim::IsNan: case Prim::IsFinite:
    case Prim::TensorAbs: case Prim::TensorRound: case Prim::Maximum: case Prim::Minimum: case Prim::Clip:
    case Prim::Where: case Prim::AsType: case Prim::Abs: case Prim::Round: case Prim::ZerosLike:
    case Prim::OnesLike: case Prim::StopGradient: case Prim::OneHot: case Prim::Embedding:
    case Prim::LayerNorm: case Prim::Topk:
    // along axes
    case Prim::TensorSum: case Prim::Mean: case Prim::TensorMax: case Prim::TensorMin: case Prim::Prod:
    case Prim::Argmax: case Prim::Argmin: case Prim::Logsumexp: case Prim::Var: case Prim::Std:
    case Prim::TensorAll: case Prim::TensorAny: case Prim::Cumsum: case Prim::Softmax: case Prim::LogSoftmax:
    case Prim::Sort: case Prim::Sum: case Prim::Max: case Prim::Min: case Prim::All: case Prim::Any:
    // shapes and layout
    case Prim::Shape: case Prim::NDim: case Prim::Size: case Prim::DTypeOf: case Prim::Len:
    case Prim::Reshape: case Prim::Transpose: case Prim::TransposeT: case Prim::Swapaxes:
    case Prim::ExpandDims: case Prim::Squeeze: case Prim::BroadcastTo: case Prim::Concat: case Prim::Stack:
    case Prim::Flatten: case Prim::Item: case Prim::FloatNew: case Prim::TensorNew: case Prim::Split:
    case Prim::Take: case Prim::TensorGetItem: case Prim::GetItem: case Prim::TensorSetItem: case Prim::SetItem:
    // linear algebra and NN
    case Prim::MatMul: case Prim::Dot: case Prim::Conv2d: case Prim::MaxPool2d: case Prim::AvgPool2d:
    case Prim::BatchNorm: case Prim::CrossEntropy: case Prim::Mse:
    // iteration and trees
    case Prim::Enumerate: case Prim::Zip: case Prim::ListNew: case Prim::TupleNew: case Prim::Reversed:
    case Prim::TreeLeaves: case Prim::TreeZerosLike:
    // the helpers reverse mode emits
    case Prim::CtAdd: case Prim::CtFill: case Prim::CtIndex: case Prim::Unbroadcast: case Prim::SumBwd:
    case Prim::MinMaxBwd: case Prim::TransposeBwd: case Prim::Truth: case Prim::Not: case Prim::Depend:
    case Prim::CheckBound: case Prim::Full: case Prim::MatMulBwd: case Prim::GetItemBwd: case Prim::TakeBwd:
    case Prim::SortBwd: case Prim::TopkBwd:
    // creation, layout, host containers
    case Prim::Linspace: case Prim::Uniform: case Prim::Tile: case Prim::Pad: case Prim::Einsum:
    case Prim::Sorted: case Prim::DictNew: case Prim::Partial: case Prim::DictKeys: case Prim::DictValues:
    case Prim::DictItems:
    // more backward helpers (vmap of a function that calls vjp)
    case Prim::GetAttrBwd: case Prim::ConcatBwd: case Prim::UnpackBwd: case Prim::TensorNewBwd:
    case Prim::SeqBwd: case Prim::NNBwd: case Prim::TileBwd: case Prim::PadBwd: case Prim::SplitBwd:
    case Prim::MaxPoolJvp:
    // grad's pieces: grad of a batched partial (called through vmapGrad), and the helpers
    // that pack cotangents
    case Prim::Grad: case Prim::ValueAndGrad: case Prim::GradPack: case Prim::GradPackBwd: case Prim::VjpPack:
    case Prim::VjpPackBwd: case Prim::JSiteArrange: case Prim::JSiteArrangeBwd: case Prim::VjpMake:
    case Prim::Dropout:
      return BatchKind::Rule;

    // per example: random numbers with batched keys or probabilities (each example draws
    // with its own key, as jax.random under vmap), and what has no cheaper form here
    case Prim::Prng: case Prim::FoldIn: case Prim::Bits: case Prim::Normal:
    case Prim::Permutation: case Prim::Bernoulli: case Prim::Categorical: case Prim::AdamStep:
    case Prim::ToList: case Prim::IntNew: case Prim::BoolNew:
    case Prim::Zeros: case Prim::Ones: case Prim::Arange: case Prim::Eye:
    case Prim::TreeMap: case Prim::TreeSize: case Prim::Range:
    case Prim::StrNew: case Prim::Repr: case Prim::Isinstance:
    case Prim::JSiteBprop:
    case Prim::Vjp: case Prim::Jacobian: case Prim::JacobianCall:
    case Prim::GradCall: case Prim::VjpCall: case Prim::JCall: case Prim::CustomVjp: case Prim::CustomVjpWrap: case Prim::Jit:
    case Prim::CustomVjpCall: case Prim::CustomVjpBprop: case Prim::ScanJ: case Prim::ScanBwd:
    case Prim::WhileJ: case Prim::WhileBwd: case Prim::Vmap: case Prim::VmapCall: case Prim::VmapFnCall:
    case Prim::VmapLoop: case Prim::VmapBcast: case Prim::VmapSelect:
    case Prim::JEnter: case Prim::JEnterJ: case Prim::JCallJ:
    case Prim::GradSeed:
    case Prim::ScanJJ: case Prim::ScanBwdJ: case Prim::WhileJJ: case Prim::WhileBwdJ:
    case Prim::LoopJBprop:
    case Prim::Jvp: case Prim::JvpCall: case Prim::ScanJvp:
    case Prim::WhileJvp: case Prim::TreeMapJ: case Prim::TreeMapBwd:
    case Prim::TreeMapJJ: case Prim::TreeMapBwdJ:
    case Prim::JvpOfJ:
    case Prim::StrSplit: case Prim::StrJoin: case Prim::StrStrip: case Prim::StrLstrip: case Prim::StrRstrip:
    case Prim::StrStartswith: case Prim::StrEndswith: case Prim::StrReplace: case Prim::StrFormat:
    case Prim::StrUpper: case Prim::StrLower: case Prim::StrFind: case Prim::StrCount: case Prim::StrIndex:
    case Prim::ListAppend: case Prim::ListExtend: case Prim::ListInsert: case Prim::SeqIndex: case Prim::SeqCount:
    case Prim::DictGet: case Prim::DictUpdate:
    case Prim::ExcValueError: case Prim::ExcTypeError: case Prim::ExcRuntimeError: case Prim::ExcKeyError:
    case Prim::ExcIndexError: case Prim::ExcException: case Prim::ExcAssertionError:
    case Prim::ExcNotImplementedError: case Prim::TakeInto:
    case Prim::Fused:  // graph mode's kernels (codegen/Fusion.h) are made after vmap; once per example if met
      return BatchKind::Loop;

    // the transform itself: structure, calls, control flow
    case Prim::MakeTuple: case Prim::MakeList: case Prim::MakeDict: case Prim::TupleGetItem: case Prim::Unpack:
    case Prim::GetAttr: case Prim::Switch: case Prim::WhileLoop: case Prim::Scan: case Prim::MethodCall:
    case Prim::ListAppendLocal: case Prim::CallEx: case Prim::SetAttr: case Prim::MethodUpdate:
      return BatchKind::Structural;

    // printing and formatting show the whole batch; effects and state are unbatched
    case Prim::Print: case Prim::FormatValue: case Prim::StrConcat: case Prim::UpdateState:
    case Prim::GlobalGet: case Prim::GlobalSet: case Prim::ImportModule: case Prim::Time: case Prim::Exit:
    case Prim::ReadText: case Prim::WriteText: case Prim::Exists: case Prim::Makedirs: case Prim::LoadIdx:
    case Prim::LoadNpy: case Prim::SaveNpy: case Prim::LoadNpz: case Prim::SaveNpz: case Prim::LoadCsv:
    case Prim::SaveCheckpoint: case Prim::LoadCheckpoint: case Prim::Isatty: case Prim::StorageId:
    case Prim::MakeClass:
      return BatchKind::Unbatched;

    // a batched argument has no meaning here: reported at the operation
    case Prim::Raise: case Prim::Assert: case Prim::Is: case Prim::Contains: case Prim::MakeSlice:
    case Prim::NumPrims:
      return BatchKind::Error;
  }
  return BatchKind::Error;
}

Node* batchRule(Prim p, BatchCtx& c) {
  switch (p) {
    // ---- elementwise: align the batched operands' axes, then broadcast
    case Prim::Add: case Prim::Sub: case Prim::Mul: case Prim::Div: case Prim::FloorDiv: case Prim::Mod:
    case Prim::Pow: case Prim::BitAnd: case Prim::BitOr: case Prim::BitXor: case Prim::Eq: case Prim::Ne:
    case Prim::Lt: case Prim::Le: case Prim::Gt: case Prim::Ge: case Prim::Maximum: case Prim::Minimum:
    case Prim::Clip: case Prim::Where:
      return elementwise(c);
    // ---- unary elementwise (and ops on the last axes with one batched tensor): as they are
    case Prim::Neg: case Prim::Pos: case Prim::Invert: case Prim::Exp: case Prim::Log: case Prim::Log1p:
    case Prim::Sqrt: case Prim::Rsqrt: case Prim::Sign: case Prim::Floor: case Prim::Ceil: case Prim::Sin:
    case Prim::Cos: case Prim::Tanh: case Prim::Sigmoid: case Prim::Relu: case Prim::Gelu: case Prim::Softplus:
    case Prim::IsNan: case Prim::IsFinite: case Prim::TensorAbs: case Prim::TensorRound: case Prim::AsType:
    case Prim::Abs: case Prim::Round: case Prim::ZerosLike: case Prim::OnesLike: case Prim::StopGradient:
    case Prim::TreeZerosLike: case Prim::TreeLeaves: case Prim::Depend: case Prim::CheckBound:
      if (c.anyBatched() && !c.b[1]) return nullptr;
      return same(c);
    // one_hot(ids, n): ids batched; embedding(table, ids): the lookup of batched ids
    case Prim::OneHot: return c.b[1] && !c.b[2] ? same(c) : nullptr;
    case Prim::Embedding: return !c.b[1] ? same(c) : nullptr;
    // layer_norm over the last axis, topk along the last axis: x batched only
    case Prim::LayerNorm: case Prim::Topk:
      for (size_t k = 2; k < c.in.size(); ++k)
        if (c.b[k]) return nullptr;
      return same(c);
    // ---- along axes: shift the axis; None means the per-example axes
    case Prim::TensorSum: case Prim::Mean: case Prim::TensorMax: case Prim::TensorMin: case Prim::Prod:
    case Prim::Logsumexp: case Prim::Var: case Prim::Std: case Prim::TensorAll: case Prim::TensorAny:
      return alongAxes(c, "None", true);
    case Prim::Argmax: case Prim::Argmin: case Prim::Cumsum: return alongAxes(c, "None", false);
    case Prim::Softmax: case Prim::LogSoftmax: case Prim::Sort: return alongAxes(c, "-1", false);
    // Python's sum/max/min/all/any of one tensor reduce like the tensor methods
    case Prim::Sum: case Prim::All: case Prim::Any:
      if (!c.isTensor(1) || c.n->numPositional() != 1) return nullptr;
      return alongAxes(c, "None", true);
    case Prim::Max: case Prim::Min:
      if (!c.isTensor(1) || c.n->numPositional() != 1 || c.param("key") >= 0) return nullptr;
      return alongAxes(c, "None", true);
    // ---- shapes: the per-example shape drops the batch axis (unbatched results)
    case Prim::Shape: c.outBatched = false; return shapeFrom(c, c.in[1], 1);
    case Prim::NDim: c.outBatched = false; return c.call(Prim::Sub, {c.copy(), c.integer(1)});
    case Prim::Size: c.outBatched = false; return c.call(Prim::FloorDiv, {c.copy(), c.size});
    case Prim::DTypeOf: c.outBatched = false; return c.copy();
    case Prim::Len:  // of a batched tensor: its per-example first dimension; of a sequence: its length
      c.outBatched = false;
      if (c.isTensor(1)) return c.call(Prim::GetItem, {c.call(Prim::Shape, {c.in[1]}), c.integer(1)});
      return c.copy();
    // ---- layout
    case Prim::Reshape: return reshapeRule(c);
    case Prim::Flatten: return c.call(Prim::Reshape, {c.in[1], c.call(Prim::MakeTuple, {c.size, c.integer(-1)})});
    case Prim::Transpose: return transposeRule(c, false);
    case Prim::TransposeT: return transposeRule(c, true);
    case Prim::Swapaxes: return shiftParams(c, {"a", "b"});
    case Prim::ExpandDims: return shiftParams(c, {"axis"});
    case Prim::Squeeze: {
      int k = c.param("axis");
      bool none;
      std::vector<int64_t> ax;
      if (!c.axes(k, "None", &none, &ax)) return nullptr;
      if (none) {  // the per-example axes of size 1, known statically
        const ir::Abstract* a = c.abs(1);
        if (!a || !a->isTensor() || !a->rankKnown) return nullptr;
        for (int d = 0; d < a->rank(); ++d) {
          if (!a->shape[(size_t)d].isStatic()) return nullptr;
          if (a->shape[(size_t)d].size() == 1) ax.push_back(d + 1);
        }
        if (ax.empty()) return c.in[1];
        return c.call(Prim::Squeeze, {c.in[1], c.intTuple(ax)});
      }
      for (int64_t& a : ax) a = shift(a);
      bool tuple = c.abs((size_t)k) && c.abs((size_t)k)->isSequence();
      return c.copy({{(size_t)k, tuple ? c.intTuple(ax) : c.integer(ax[0])}});
    }
    case Prim::BroadcastTo: {  // x padded to the new rank after the batch axis
      if (c.b[2] || !c.abs(2)) return nullptr;
      bool none;
      std::vector<int64_t> shape;
      int r = c.rank(1);
      if (r < 0) return nullptr;
      int rn = c.abs(2)->isSequence() && !c.abs(2)->homogeneous ? (int)c.abs(2)->elems.size() : c.axes(2, "", &none, &shape) && !none ? (int)shape.size() : -1;
      if (rn < r) return nullptr;
      Node* x = c.expandAfterBatch(c.in[1], rn - r);
      Node* s = c.abs(2)->isSequence() ? c.call(Prim::TupleNew, {c.in[2]}) : c.call(Prim::MakeTuple, {c.in[2]});
      return c.call(Prim::BroadcastTo, {x, c.call(Prim::Add, {c.call(Prim::MakeTuple, {c.size}), s})});
    }
    case Prim::Concat: case Prim::Stack:
      if (c.in.size() > 3 && c.anyBatched() && std::count(c.b.begin() + 2, c.b.end(), true) > 0) return nullptr;
      return joinRule(c);
    case Prim::Split:
      if (!c.isTensor(1) || c.abs(1)->dtype == DType::U32 || !c.abs(1)->dtypeKnown) return nullptr;  // keys split per example
      if (c.param("axis") < 0) return c.b[2] ? nullptr : c.copy({}, {{"axis", c.integer(1)}});
      return shiftParams(c, {"axis"});
    case Prim::Take: {
      int ak = c.param("axis");
      bool none;
      std::vector<int64_t> ax;
      if (ak < 0 || !c.axes(ak, "", &none, &ax) || none || ax.size() != 1) return nullptr;
      if (c.b[1] && !c.b[2]) return c.copy({{(size_t)ak, c.integer(shift(ax[0]))}});
      if (!c.b[1] && c.b[2] && (ax[0] == 0 || (c.rank(1) > 0 && ax[0] == -c.rank(1)))) return c.copy();
      return nullptr;
    }
    case Prim::Item:  // the one element of each example (a tensor of the batch, not a number)
      return c.call(Prim::Reshape, {c.in[1], c.call(Prim::MakeTuple, {c.size})});
    case Prim::FloatNew:
      if (!c.isTensor(1)) return nullptr;
      return c.call(Prim::AsType, {c.call(Prim::Reshape, {c.in[1], c.call(Prim::MakeTuple, {c.size})}), c.m.constDType(DType::F32)});
    case Prim::TensorNew: {  // tensor([a, b, ...]) of per-example scalars or tensors: stacked on axis 1
      if (c.param("dtype") >= 0 && c.b[(size_t)c.param("dtype")]) return nullptr;
      const ir::Abstract* a = c.abs(1);
      if (!a) return nullptr;
      if (a->isTensor()) return same(c);
      if (!a->isSequence() || a->homogeneous) return nullptr;
      for (const ir::Abstract* e : a->elems)
        if (!e->isTensor() && !e->isNumber()) return nullptr;
      Node* xs = c.b[1] ? c.in[1] : c.call(Prim::VmapBcast, {c.in[1], c.size});
      Node* st = c.call(Prim::Stack, {xs, c.integer(1)});
      int dk = c.param("dtype");
      return dk >= 0 ? c.call(Prim::AsType, {st, c.in[(size_t)dk]}) : st;
    }
    case Prim::Full: {  // full(shape, value): the examples' values broadcast over the shape
      if (c.b[1] || !c.b[2] || !c.abs(1)) return nullptr;
      int rv = c.rank(2);
      if (rv != 0) return nullptr;
      Node* s = c.abs(1)->isSequence() ? c.call(Prim::TupleNew, {c.in[1]}) : c.call(Prim::MakeTuple, {c.in[1]});
      bool none;
      std::vector<int64_t> dims;
      if (!c.axes(1, "", &none, &dims) || none) return nullptr;
      Node* v = c.expandAfterBatch(c.in[2], (int)dims.size());
      Node* out = c.call(Prim::BroadcastTo, {v, c.call(Prim::Add, {c.call(Prim::MakeTuple, {c.size}), s})});
      int dk = c.param("dtype");
      return dk >= 0 ? c.call(Prim::AsType, {out, c.in[(size_t)dk]}) : out;
    }
    // ---- indexing: a leading full slice keeps the batch axis
    case Prim::TensorGetItem: case Prim::GetItem: return getItemRule(c);
    case Prim::TensorSetItem: case Prim::SetItem:
      // a container's item: the container and the value batched alike
      if (p == Prim::SetItem && !c.isTensor(1) && !c.b[2]) return allBatched(c, {1, 3});
      // x[index] = v with v the same for every example
      if (!c.isTensor(1) || c.b[2] || c.b[3] || !basicIndex(c.abs(2))) return nullptr;
      return c.copy({{2, batchedIndex(c, 2)}});
    // ---- linear algebra
    case Prim::MatMul: return matmulRule(c, 1, 2);
    case Prim::Dot: {  // as matmul for vectors and matrices
      int rx = c.rank(1), ry = c.rank(2);
      if (rx < 1 || rx > 2 || ry < 1 || ry > 2) return nullptr;
      return matmulRule(c, 1, 2);
    }
    // ---- NN: the batch folded into N
    case Prim::Conv2d:
      if (c.b.size() > 2 && c.b[2]) return conv2dBatchedWeights(c);
      return foldIntoN(c, 4);
    case Prim::MaxPool2d: case Prim::AvgPool2d: return foldIntoN(c, 4);
    case Prim::BatchNorm: {
      int r = c.rank(1);
      return r >= 2 ? foldIntoN(c, r) : nullptr;
    }
    case Prim::CrossEntropy: return crossEntropyRule(c);
    case Prim::Mse: return mseRule(c);
    // ---- iteration over a batched tensor walks axis 1
    case Prim::Enumerate: case Prim::Zip: case Prim::ListNew: case Prim::TupleNew: case Prim::Reversed:
      return rowsFirst(c);
    // ---- truth of a batched scalar: one bool per example
    // (a batched sequence is true when it is not empty, the same for every example)
    case Prim::Truth:
      if (!c.isTensor(1)) { c.outBatched = false; return c.copy(); }
      return c.call(Prim::AsType, {c.in[1], c.m.constDType(DType::Bool)});
    case Prim::Not:
      if (!c.isTensor(1)) { c.outBatched = false; return c.copy(); }
      return c.call(Prim::Invert, {c.call(Prim::AsType, {c.in[1], c.m.constDType(DType::Bool)})});
    // ---- the helpers reverse mode emits
    // ct_add, ct_fill, unbroadcast: every operand batched, then as they are (per-example
    // shapes line up from the right; an unbatched one is repeated first)
    case Prim::CtAdd: return allBatched(c, {1, 2});
    case Prim::CtFill: return allBatched(c, {1, 2});
    // unbroadcast: `like` gets size-1 axes after the batch axis up to ct's rank (so that
    // the batch axis is never summed), and the result its per-example shape back
    case Prim::Unbroadcast: {
      int rc = c.rank(1), rl = c.rank(2);
      if (rc < 0 || rl < 0 || rc < rl) return nullptr;
      Node* ct = c.b[1] ? c.in[1] : c.call(Prim::VmapBcast, {c.in[1], c.size});
      Node* like = c.b[2] ? c.in[2] : c.call(Prim::VmapBcast, {c.in[2], c.size});
      Node* out = c.call(Prim::Unbroadcast, {ct, c.expandAfterBatch(like, rc - rl)});
      return rc == rl ? out : c.call(Prim::Reshape, {out, c.call(Prim::Shape, {like})});
    }
    case Prim::CtIndex: return c.b[2] ? nullptr : same(c);
    // sum/max backward: the reduced axes shift like the reduction's
    case Prim::SumBwd: return reductionBwd(c, {1, 2}, 2, 3);
    case Prim::MinMaxBwd: return reductionBwd(c, {1, 2, 3}, 2, 4);
    case Prim::MatMulBwd: return matmulBwdRule(c);
    case Prim::GetItemBwd: return getItemBwdRule(c);
    case Prim::TakeBwd: return axisBwdRule(c, 4, {3});  // (ct, x, indices, axis)
    case Prim::SortBwd: return axisBwdRule(c, 3, {4});  // (ct, x, axis, gather)
    // topk along the last axis: ct, x and the indices batched, then as it is
    case Prim::TopkBwd: return c.b[4] ? nullptr : allBatched(c, {1, 2, 3});
    // the inverse permutation of transpose, with the batch axis kept first
    // ---- creation, layout, host containers
    case Prim::Linspace: return linspaceRule(c);
    case Prim::Uniform: return uniformRule(c);
    case Prim::Dropout: {
      // dropout(key, x, p) with one key: one mask for every example (as jax.vmap with an
      // unbatched key), drawn as the primitive draws it for one example's shape; p must
      // be known here (the primitive checks its range). Batched keys: a mask per key.
      const Node* pn = c.n->inputs[3];
      double pv = pn->isConst() && pn->ckind == ir::ConstKind::Float ? pn->f : pn->abs && pn->abs->is(AKind::Float) && pn->abs->known ? pn->abs->f : -1.0;
      if (c.b[1] || c.b[3] || !c.b[2] || !c.isTensor(2) || !(pv >= 0.0 && pv <= 1.0) || c.n->numPositional() != 3) return nullptr;
      if (pv == 0.0) return c.in[2];
      Node* x = c.in[2];
      if (pv == 1.0) return c.call(Prim::ZerosLike, {x});
      Node* keep = c.m.constFloat(1.0 - pv, c.loc());
      Node* u = c.call(Prim::Uniform, {c.in[1], shapeFrom(c, x, 1), c.m.constDType(DType::F32)});
      return c.call(Prim::Where, {c.call(Prim::Lt, {u, keep}), c.call(Prim::Div, {x, keep}), c.m.constFloat(0.0, c.loc())});
    }
    case Prim::Tile: {
      Node* x;
      Node* reps = c.b[1] ? tileRule(c, 1, 2, &x) : nullptr;
      return reps ? c.copy({{1, x}, {2, reps}}) : nullptr;
    }
    case Prim::Pad: return padRule(c);
    case Prim::Einsum: return einsumRule(c);
    case Prim::Sorted: return sortedRule(c);
    case Prim::DictNew: return containerRule(c, 1);
    // a batched dict's values (and items) are its batched values, its keys as they are:
    // the same for every example
    case Prim::DictValues: case Prim::DictItems: return c.copy();
    case Prim::DictKeys: c.outBatched = false; return c.copy();
    case Prim::Partial:  // a batched function only when it is a partial (whose arguments are)
      if (c.b[1] && !(c.abs(1) && c.abs(1)->is(AKind::Partial))) return nullptr;
      return containerRule(c, 2);
    // ---- more backward helpers; a None cotangent (symbolic zero) gives the same
    // (None, or Nones in a structure) for every example
    case Prim::GetAttrBwd: case Prim::ConcatBwd: case Prim::UnpackBwd: case Prim::TensorNewBwd:
    case Prim::SeqBwd: case Prim::NNBwd: case Prim::TileBwd: case Prim::PadBwd: case Prim::SplitBwd:
    case Prim::MaxPoolJvp:
      if (c.abs(1) && c.abs(1)->is(AKind::None)) {
        c.outBatched = false;
        return c.copy();
      }
      switch (p) {
        case Prim::GetAttrBwd: return getAttrBwdRule(c);
        case Prim::ConcatBwd: case Prim::SplitBwd: return concatBwdRule(c);
        case Prim::UnpackBwd: return unpackBwdRule(c);
        case Prim::TensorNewBwd: return tensorBwdRule(c);
        case Prim::SeqBwd: return seqBwdRule(c);
        case Prim::NNBwd: return nnBwdRule(c);
        case Prim::TileBwd: return tileBwdRule(c);
        case Prim::PadBwd: return padBwdRule(c);
        default: return maxPoolJvpRule(c);
      }
    // ---- grad's pieces
    case Prim::Grad: case Prim::ValueAndGrad: {
      // grad(f) of a batched partial f: the partial grad(f) is, batched; calling it goes
      // to vmapGrad (runtime/InterpreterVmap.cpp), which batches the gradient
      if (!c.b[1] || !(c.abs(1) && c.abs(1)->is(AKind::Partial))) return nullptr;
      for (size_t k = 2; k < c.in.size(); ++k)
        if (c.b[k]) return nullptr;
      int ak = c.param("argnums"), hk = c.param("has_aux");
      return c.call(Prim::Partial, {c.m.constPrim(Prim::GradCall, c.loc()), c.in[1], ak >= 0 ? c.in[(size_t)ak] : c.integer(0),
                                    hk >= 0 ? c.in[(size_t)hk] : c.m.constBool(false),
                                    c.m.constStr(p == Prim::Grad ? "grad" : "value_and_grad", c.loc())});
    }
    // cotangents rearranged or packed by the arguments' structure: all batched
    case Prim::GradPack: case Prim::GradPackBwd:
      for (size_t k = 4; k < c.in.size(); ++k)
        if (c.b[k]) return nullptr;
      return allBatched(c, {1, 2, 3});
    case Prim::VjpPack: case Prim::VjpPackBwd: return allBatched(c, {1, 2});
    case Prim::JSiteArrange: return c.b[2] ? nullptr : c.copy({{1, c.batched(1)}});
    case Prim::VjpMake: {
      // f_vjp = partial(vjp_call, bprop, primals) with batched primals: a batched f_vjp,
      // whose bprop takes the whole batch (bprop batched over the cotangents by
      // __vmapcall) as runtime/InterpreterVmap.cpp calls it
      Node* flags = c.call(Prim::MakeTuple, {c.m.constBool(c.b[1]), c.m.constBool(true)});
      Node* bp = c.call(Prim::Partial, {c.m.constPrim(Prim::VmapFnCall, c.loc()), c.in[1], c.size, flags});
      return c.call(Prim::Partial, {c.m.constPrim(Prim::VjpCall, c.loc()), bp, c.batched(2)});
    }
    case Prim::JSiteArrangeBwd: return c.b[2] ? nullptr : c.copy({{1, c.batched(1)}});
    case Prim::TransposeBwd: {
      if (c.b[2]) return nullptr;
      bool none;
      std::vector<int64_t> ax;
      if (!c.axes(2, "", &none, &ax) || none || ax.empty()) return nullptr;
      int r = (int)ax.size();
      for (int64_t& a : ax) a = (a < 0 ? a + r : a) + 1;
      ax.insert(ax.begin(), 0);
      return c.copy({{2, c.intTuple(ax)}});
    }
    default: return nullptr;
  }
}

}  // namespace msl::autodiff
