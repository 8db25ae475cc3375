// --debug-nans (runtime/Interpreter.h): after every kernel call the interpreter asks
// whether the result holds a NaN or an Inf that none of the inputs held, and if so raises
// DebugNan naming the operation, with a note saying where in the result and what the
// inputs hold there. The interpreter adds the place and the traceback.
#include <cmath>

#include "runtime/Host.h"
#include "runtime/Interpreter.h"
#include "runtime/Kernels.h"
#include "runtime/Print.h"

namespace msl {


namespace {

// NaNs and Infs in a value: float tensors, Python floats, and the items of containers.
struct NonFinite {
  bool nan = false, inf = false;
  // The first tensor (or float) holding the first of them, and its flat index.
  const Value* where = nullptr;
  int64_t index = -1;
  bool firstIsNan = false;
};

template <class T> void scanTyped(const T* p, int64_t n, NonFinite& nf, const Value* v) {
  for (int64_t i = 0; i < n; ++i) {
    double x = (double)p[i];
    if (std::isfinite(x)) continue;
    bool isNan = x != x;
    if (!nf.where) { nf.where = v; nf.index = i; nf.firstIsNan = isNan; }
    (isNan ? nf.nan : nf.inf) = true;
    if (nf.nan && nf.inf) return;
  }
}

void scanValue(const Value& v, NonFinite& nf, int depth = 0) {
  switch (v.kind()) {
    case VKind::Float: {
      double x = v.asFloat();
      if (std::isfinite(x)) return;
      if (!nf.where) { nf.where = &v; nf.index = -1; nf.firstIsNan = x != x; }
      (x != x ? nf.nan : nf.inf) = true;
      return;
    }
    case VKind::Tensor: {
      const Tensor& t = v.as<TensorObj>()->t;
      if (!isFloat(t.dtype()) || t.numel() == 0) return;
      Tensor c = t.contiguous();
      if (c.dtype() == DType::F32) scanTyped(c.ptr<float>(), c.numel(), nf, &v);
      else if (c.dtype() == DType::F64) scanTyped(c.ptr<double>(), c.numel(), nf, &v);
      else {
        Tensor f = astype(c, DType::F32);
        scanTyped(f.ptr<float>(), f.numel(), nf, &v);
      }
      return;
    }
    case VKind::Tuple:
    case VKind::List:
      if (depth < 4)
        for (const Value& x : seqItems(v)) scanValue(x, nf, depth + 1);
      return;
    case VKind::Dict:
      if (depth < 4)
        for (const auto& [k, x] : v.as<DictObj>()->entries) scanValue(x, nf, depth + 1);
      return;
    default: return;
  }
}

// How messages name a primitive: its operator where it has one, else its name.
std::string opDisplayName(Prim p) {
  if (p == Prim::Neg) return "unary -";
  if (p == Prim::TensorGetItem) return "[]";
  if (const char* op = primOperator(p)) return op;
  std::string n = primName(p);
  if (n.rfind("tensor_", 0) == 0 && n != "tensor") n = n.substr(7);  // tensor_sum -> sum
  return n;
}

std::string numberText(double x) { return reprOf(Value::real(x)); }

}  // namespace

void checkNonFinite(Prim p, const Value* inputs, size_t n, const Value& out) {
  NonFinite o;
  scanValue(out, o);
  if (!o.nan && !o.inf) return;
  NonFinite in;
  for (size_t i = 0; i < n; ++i) scanValue(inputs[i], in);
  bool newNan = o.nan && !in.nan, newInf = o.inf && !in.inf && !in.nan;
  if (!newNan && !newInf) return;
  // Report the kind of the first non-finite element of the result that is new.
  bool reportNan = newNan && (!newInf || o.firstIsNan);
  Diagnostic d;
  d.id = DiagId::DebugNan;
  d.message = diagText(DiagId::DebugNan, {reportNan ? "NaN" : "Inf", opDisplayName(p)});
  // Where, and what the inputs hold there (those that broadcast to the result's shape).
  const PrimInfo& info = primInfo(p);
  std::string where;
  std::vector<std::string> parts;
  Shape outShape;
  int64_t index = -1;
  if (o.where && o.where->is(VKind::Tensor)) {
    const Tensor& t = o.where->as<TensorObj>()->t;
    outShape = t.shape();
    // The first element of the reported kind.
    Tensor c = astype(t.contiguous(), DType::F64);
    const double* q = c.ptr<double>();
    for (int64_t i = 0; i < c.numel(); ++i)
      if (reportNan ? q[i] != q[i] : std::isinf(q[i])) { index = i; break; }
    if (index >= 0 && t.ndim() > 0) {
      Shape idx(t.ndim());
      int64_t r = index;
      for (int d2 = t.ndim() - 1; d2 >= 0; --d2) { idx[d2] = r % t.dim(d2); r /= t.dim(d2); }
      std::string s = "(";
      for (size_t k = 0; k < idx.size(); ++k) s += (k ? ", " : "") + std::to_string(idx[k]);
      where = "first at index " + s + (idx.size() == 1 ? ",)" : ")") + " of the result";
    }
  }
  for (size_t i = 0; i < n && i < info.params.size(); ++i) {
    const Value& v = inputs[i];
    const std::string& name = info.params[i].name;
    if (v.is(VKind::Float) || v.is(VKind::Int)) {
      parts.push_back(name + " is " + reprOf(v));
    } else if (v.is(VKind::Tensor) && index >= 0) {
      const Tensor& t = v.as<TensorObj>()->t;
      Shape b;
      if (t.numel() == 0 || !broadcastShapes(t.shape(), outShape, &b) || b != outShape) continue;
      // The broadcast index of element `index` of the result.
      Shape st = broadcastStrides(t, outShape);
      int64_t off = 0, r = index;
      for (int d2 = (int)outShape.size() - 1; d2 >= 0; --d2) { off += (r % outShape[d2]) * st[d2]; r /= outShape[d2]; }
      Tensor e = t.view({}, {}, t.offset() + off);
      Value ev = tensorElement(e, 0);
      parts.push_back(name + " is " + (ev.is(VKind::Float) ? numberText(ev.asFloat()) : reprOf(ev)));
    }
  }
  std::string note = where;
  if (!parts.empty()) {
    std::string joined;
    for (size_t k = 0; k < parts.size(); ++k) joined += (k ? (k + 1 == parts.size() ? " and " : ", ") : "") + parts[k];
    note += (note.empty() ? "where " : ", where ") + joined;
  }
  if (!note.empty()) d.notes.push_back(Note{SourceLoc{}, note});
  throw Error(std::move(d));
}

}  // namespace msl
