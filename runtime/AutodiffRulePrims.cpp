// The runtime helpers of the reverse rules of take, tile, pad, sort, topk and split
// (autodiff/Rules.cpp; ir/Primitives.def). Each is linear in its cotangent argument, and
// the pairs scatter/gather and split/join are each other's transposes, which is their own
// reverse rule. They compute in f64 and give the cotangent in the dtype of x.
#include <algorithm>
#include <numeric>

#include "runtime/Host.h"
#include "runtime/PrimImpl.h"
#include "runtime/TensorValues.h"

namespace msl {

namespace {

bool floatTensorValue(const Value& v) { return v.is(VKind::Tensor) && isFloat(v.as<TensorObj>()->t.dtype()); }

Tensor f64Of(const Value& v, const char* fn) { return astype(argTensor(v, fn, "ct"), DType::F64).contiguous(); }

Value inDTypeOf(const Tensor& t, const Tensor& x) { return makeTensor(t.dtype() == x.dtype() ? t : astype(t, x.dtype())); }

std::vector<int64_t> intsOf(const Value& v, const char* fn, const char* param) {
  std::vector<int64_t> out;
  if (isSeq(v))
    for (const Value& e : seqItems(v)) out.push_back(intArg(e, fn, param));
  else
    out.push_back(intArg(v, fn, param));
  return out;
}

// a < b with NaN after everything (sort's order).
bool lessNanLast(double a, double b) {
  if (b != b) return a == a;
  if (a != a) return false;
  return a < b;
}

}  // namespace

// take(x, indices, axis): ct (outer + indices.shape + inner) added into zeros like x.
Value prim_TakeBwd(CallContext&, Value* args) {
  const char* fn = "take";
  if (args[0].isNone() || !floatTensorValue(args[1])) return Value::none();
  const Tensor& x = args[1].as<TensorObj>()->t;
  Shape xs = args[3].isNone() ? Shape{x.numel()} : x.shape();
  int axis = args[3].isNone() ? 0 : normAxis(intArg(args[3], fn, "axis"), x.ndim());
  Tensor idx = astype(argTensor(args[2], fn, "indices"), DType::I64).contiguous();
  int64_t n = xs[axis], nk = idx.numel();
  int64_t no = numel(Shape(xs.begin(), xs.begin() + axis)), ni = numel(Shape(xs.begin() + axis + 1, xs.end()));
  Tensor c = f64Of(args[0], fn);
  Tensor out = Tensor::zeros(DType::F64, xs);
  const int64_t* pi = idx.ptr<int64_t>();
  const double* pc = c.ptr<double>();
  double* po = out.ptr<double>();
  for (int64_t o = 0; o < no; ++o)
    for (int64_t k = 0; k < nk; ++k) {
      int64_t i = pi[k] < 0 ? pi[k] + n : pi[k];
      for (int64_t e = 0; e < ni; ++e) po[(o * n + i) * ni + e] += pc[(o * nk + k) * ni + e];
    }
  return inDTypeOf(reshapeTo(out, x.shape()), x);
}

// tile(x, reps): ct seen as (r0, d0, r1, d1, ...) and summed over the repetitions.
Value prim_TileBwd(CallContext&, Value* args) {
  if (args[0].isNone() || !floatTensorValue(args[1])) return Value::none();
  const Tensor& x = args[1].as<TensorObj>()->t;
  std::vector<int64_t> reps = intsOf(args[2], "tile", "reps");
  size_t nd = std::max(reps.size(), (size_t)x.ndim());
  reps.insert(reps.begin(), nd - reps.size(), 1);
  Shape xs = x.shape();
  xs.insert(xs.begin(), nd - xs.size(), 1);
  Shape v;
  std::vector<int> repAxes;
  for (size_t d = 0; d < nd; ++d) {
    repAxes.push_back((int)v.size());
    v.push_back(reps[d]);
    v.push_back(xs[d]);
  }
  Tensor c = reshapeTo(f64Of(args[0], "tile"), v);
  Tensor s = repAxes.empty() ? c : reduce(RedOp::Sum, c, repAxes, false, "tile");
  return inDTypeOf(reshapeTo(s.contiguous(), x.shape()), x);
}

// pad(x, widths): the interior of ct.
Value prim_PadBwd(CallContext&, Value* args) {
  if (args[0].isNone() || !floatTensorValue(args[1])) return Value::none();
  const Tensor& x = args[1].as<TensorObj>()->t;
  std::vector<std::pair<int64_t, int64_t>> w = padWidths(args[2], x);
  Tensor c = argTensor(args[0], "pad", "ct").contiguous();
  int64_t off = c.offset();
  for (int d = 0; d < x.ndim(); ++d) off += w[(size_t)d].first * c.strides()[d];
  return inDTypeOf(c.view(x.shape(), c.strides(), off).contiguous(), x);
}

// sort(x, axis): with p the stable sorting permutation of each slice along axis,
// scatter: out[p[j]] = ct[j] (ct in sorted order, out like x); gather: out[j] = ct[p[j]].
Value prim_SortBwd(CallContext&, Value* args) {
  const char* fn = "sort";
  if (args[0].isNone() || !floatTensorValue(args[1])) return Value::none();
  const Tensor& x0 = args[1].as<TensorObj>()->t;
  bool gather = argBool(args[3], fn, "gather");
  bool flat = args[2].isNone() || x0.ndim() == 0;
  Tensor x = flat ? reshapeTo(x0, {x0.numel()}) : x0;
  int axis = flat ? 0 : normAxis(intArg(args[2], fn, "axis"), x.ndim());
  std::vector<int> perm, inv(x.ndim());
  for (int d = 0; d < x.ndim(); ++d)
    if (d != axis) perm.push_back(d);
  perm.push_back(axis);
  for (int d = 0; d < x.ndim(); ++d) inv[perm[d]] = d;
  Tensor xm = permute(astype(x, DType::F64), perm).contiguous();
  Tensor c = f64Of(args[0], fn);
  if (flat) c = reshapeTo(c, {c.numel()});
  Tensor cm = permute(c, perm).contiguous();
  Tensor out = Tensor::zeros(DType::F64, xm.shape());
  int64_t n = x.dim(axis), rows = n ? xm.numel() / n : 0;
  std::vector<int64_t> order((size_t)n);
  const double *px = xm.ptr<double>(), *pc = cm.ptr<double>();
  double* po = out.ptr<double>();
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = px + r * n;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return lessNanLast(row[a], row[b]); });
    for (int64_t j = 0; j < n; ++j) {
      if (gather) po[r * n + j] = pc[r * n + order[(size_t)j]];
      else po[r * n + order[(size_t)j]] = pc[r * n + j];
    }
  }
  Tensor back = permute(out, inv).contiguous();
  if (flat && !gather) back = reshapeTo(back, x0.shape());
  return inDTypeOf(back, x0);
}

// topk's values: scatter: ct (..., k) added at indices along the last axis of zeros like
// x; gather: ct (x's shape) read at indices.
Value prim_TopkBwd(CallContext&, Value* args) {
  const char* fn = "topk";
  if (args[0].isNone() || !floatTensorValue(args[1])) return Value::none();
  const Tensor& x = args[1].as<TensorObj>()->t;
  bool gather = argBool(args[3], fn, "gather");
  Tensor idx = astype(argTensor(args[2], fn, "indices"), DType::I64).contiguous();
  int64_t n = x.dim(x.ndim() - 1), k = idx.ndim() ? idx.dim(idx.ndim() - 1) : 0;
  int64_t rows = k ? idx.numel() / k : 0;
  Tensor c = f64Of(args[0], fn);
  Tensor out = Tensor::zeros(DType::F64, gather ? idx.shape() : x.shape());
  const int64_t* pi = idx.ptr<int64_t>();
  const double* pc = c.ptr<double>();
  double* po = out.ptr<double>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) {
      int64_t i = pi[r * k + j];
      if (gather) po[r * k + j] = pc[r * n + i];
      else po[r * n + i] += pc[r * k + j];
    }
  return inDTypeOf(out, x);
}

// The pieces of ct (zeros shaped like xs[i] where None) concatenated, or stacked, along
// axis: the cotangent of split(x) (the pieces xs), and the transpose of __concat_bwd.
Value prim_SplitBwd(CallContext&, Value* args) {
  const Value &ct = args[0], &xs = args[1];
  if (ct.isNone() || !isSeq(xs) || seqItems(xs).empty()) return Value::none();
  bool stacked = argBool(args[3], "stack", "stacked");
  const auto& items = seqItems(xs);
  for (const Value& v : items)
    if (!floatTensorValue(v)) return Value::none();
  std::vector<Tensor> pieces;
  const Tensor& first = items[0].as<TensorObj>()->t;
  int axis = normAxis(intArg(args[2], "split", "axis"), first.ndim() + (stacked ? 1 : 0));
  for (size_t i = 0; i < items.size(); ++i) {
    const Tensor& xi = items[i].as<TensorObj>()->t;
    Value ci = isSeq(ct) && i < seqItems(ct).size() ? seqItems(ct)[i] : Value::none();
    Tensor p = ci.isNone() ? Tensor::zeros(xi.dtype(), xi.shape()) : astype(argTensor(ci, "split", "ct"), xi.dtype());
    if (p.shape() != xi.shape()) p = broadcastTo(p, xi.shape(), "split");
    if (stacked) {
      Shape s = xi.shape();
      s.insert(s.begin() + axis, 1);
      p = reshapeTo(p.contiguous(), s);
    }
    pieces.push_back(p.contiguous());
  }
  return makeTensor(concatenate(pieces, axis, "split"));
}

}  // namespace msl
