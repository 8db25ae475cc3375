// Tensor arguments of primitives (runtime/PrimImpl.h): tensors from Python data, shapes,
// axes; and tensors turned back into Python values (runtime/TensorValues.h).
#include <algorithm>

#include "ir/Diagnostics.h"
#include "runtime/Host.h"
#include "runtime/PrimImpl.h"
#include "runtime/TensorValues.h"

namespace msl {

// ================================================================== tensor(data)
namespace {

constexpr int kMaxDataDepth = 64;


// First pass over nested data: its shape and the kinds of its leaves. A tensor inside the
// data stands for the nested lists of its elements.
struct DataScan {
  const char* fn = "tensor";
  Shape dims;          // sizes of the levels seen so far
  int leafDepth = -1;  // depth of the scalar leaves, once one is seen
  bool anyFloat = false, anyInt = false, anyBool = false, anyTensor = false;
  DType tensorType = DType::Bool;

  [[noreturn]] void ragged(int depth) { raise(DiagId::RaggedData, SourceLoc{}, {std::to_string(depth)}); }

  void level(int depth, int64_t n) {
    if (depth == leafDepth) ragged(depth);
    if (depth == (int)dims.size()) dims.push_back(n);
    else if (dims[depth] != n) ragged(depth);
  }

  void visit(const Value& v, int depth) {
    if (depth > kMaxDataDepth)
      raise(DiagId::ValueError, SourceLoc{}, {std::string(fn) + "(): data nested deeper than " + std::to_string(kMaxDataDepth) + " levels"});
    if (isSeq(v)) {
      const auto& items = seqItems(v);
      level(depth, (int64_t)items.size());
      for (const Value& item : items) visit(item, depth + 1);
      return;
    }
    int leafAt = depth;
    switch (v.kind()) {
      case VKind::Bool: anyBool = true; break;
      case VKind::Int: anyInt = true; break;
      case VKind::Float: anyFloat = true; break;
      case VKind::Tensor: {
        const Tensor& t = v.as<TensorObj>()->t;
        tensorType = anyTensor ? promote(tensorType, t.dtype()) : t.dtype();
        anyTensor = true;
        for (int k = 0; k < t.ndim(); ++k) level(depth + k, t.dim(k));
        leafAt = depth + t.ndim();
        break;
      }
      default:
        raise(DiagId::TypeError, SourceLoc{}, {std::string(fn) + "(): unsupported element type '" + typeNameOf(v) + "'"});
    }
    if (leafDepth < 0) {
      if (leafAt != (int)dims.size()) ragged(depth);
      leafDepth = leafAt;
    } else if (leafAt != leafDepth) {
      ragged(depth);
    }
  }

  DType inferredType() const {
    WeakKind k = anyFloat ? WeakKind::Float : anyInt ? WeakKind::Int : WeakKind::Bool;
    if (anyTensor) return (anyFloat || anyInt || anyBool) ? promoteWeak(tensorType, k) : tensorType;
    if (anyFloat) return kDefaultFloat;
    if (anyInt) return kDefaultInt;
    return anyBool ? DType::Bool : kDefaultFloat;
  }
};

// Second pass: writes the leaves in row-major order.
template <class T>
void fillFrom(const Value& v, const Tensor& out, int64_t* pos) {
  if (isSeq(v)) {
    for (const Value& item : seqItems(v)) fillFrom<T>(item, out, pos);
    return;
  }
  T* p = out.ptr<T>();
  switch (v.kind()) {
    case VKind::Bool: p[(*pos)++] = convertValue<T>(v.asBool()); break;
    case VKind::Int: p[(*pos)++] = convertValue<T>(v.asInt()); break;
    case VKind::Float: p[(*pos)++] = convertValue<T>(v.asFloat()); break;
    default: {  // a tensor fills the next elements
      const Tensor& t = v.as<TensorObj>()->t;
      assignInto(out.view(t.shape(), contiguousStrides(t.shape()), out.offset() + *pos), t);
      *pos += t.numel();
    }
  }
}

}  // namespace

Tensor tensorFromData(const Value& data, const DType* dtype, const char* fn) {
  if (data.is(VKind::Tensor)) {
    const Tensor& t = data.as<TensorObj>()->t;
    return dtype ? astype(t, *dtype) : t;
  }
  DataScan scan;
  scan.fn = fn;
  scan.visit(data, 0);
  DType dt = dtype ? *dtype : scan.inferredType();
  Tensor out = Tensor::empty(dt, scan.dims);
  int64_t pos = 0;
  visitDType(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    fillFrom<T>(data, out, &pos);
  });
  return out;
}

// ================================================================== argument helpers
Tensor argTensor(const Value& v, const char* fn, const char* param) {
  switch (v.kind()) {
    case VKind::Tensor: return v.as<TensorObj>()->t;
    case VKind::Bool: return Tensor::scalarInt(DType::Bool, v.asBool());
    case VKind::Int: return Tensor::scalarInt(kDefaultInt, v.asInt());
    case VKind::Float: return Tensor::scalar(kDefaultFloat, v.asFloat());
    case VKind::List: case VKind::Tuple: return tensorFromData(v, nullptr, fn);
    default:
      raise(DiagId::TypeError, SourceLoc{},
            {std::string(fn) + "() argument '" + param + "' must be a tensor, not '" + typeNameOf(v) + "'"});
  }
}

bool asIndexInt(const Value& v, int64_t* out) {
  if (v.is(VKind::Int)) { *out = v.asInt(); return true; }
  if (v.is(VKind::Bool)) { *out = v.asBool(); return true; }
  if (v.is(VKind::Tensor)) {
    const Tensor& t = v.as<TensorObj>()->t;
    if (t.numel() == 1 && !isFloat(t.dtype()) && t.dtype() != DType::Bool) {
      *out = t.getI64(0);
      return true;
    }
  }
  return false;
}

int64_t intArg(const Value& v, const char* fn, const char* param) {
  int64_t n;
  if (asIndexInt(v, &n)) return n;
  return argInt(v, fn, param);  // raises the TypeError
}

Shape argShape(const Value& v, const char* fn, const char* param) {
  Shape s;
  auto dim = [&](const Value& d) {
    int64_t n;
    if (!asIndexInt(d, &n))
      raise(DiagId::TypeError, SourceLoc{},
            {std::string(fn) + "() argument '" + param + "' must be an int or a tuple of ints, not '" + typeNameOf(d) + "'"});
    if (n < 0)
      raise(DiagId::ValueError, SourceLoc{}, {std::string(fn) + "(): negative dimension " + std::to_string(n) + " in shape"});
    s.push_back(n);
  };
  if (isSeq(v)) {
    for (const Value& d : seqItems(v)) dim(d);
  } else {
    dim(v);
  }
  return s;
}

int normAxis(int64_t axis, int ndim) {
  if (axis < -ndim || axis >= ndim)
    raise(DiagId::BadAxis, SourceLoc{}, {std::to_string(axis), std::to_string(ndim), ndim == 1 ? "" : "s"});
  return (int)(axis < 0 ? axis + ndim : axis);
}

std::vector<int> argAxes(const Value& v, int ndim, const char* fn) {
  std::vector<int> axes;
  if (v.isNone()) {
    for (int i = 0; i < ndim; ++i) axes.push_back(i);
    return axes;
  }
  auto one = [&](const Value& a) {
    int64_t n;
    if (!asIndexInt(a, &n))
      raise(DiagId::TypeError, SourceLoc{},
            {std::string(fn) + "() argument 'axis' must be None, an int or a tuple of ints, not '" + typeNameOf(a) + "'"});
    axes.push_back(normAxis(n, ndim));
  };
  if (isSeq(v)) {
    for (const Value& a : seqItems(v)) one(a);
  } else {
    one(v);
  }
  std::sort(axes.begin(), axes.end());
  for (size_t i = 1; i < axes.size(); ++i)
    if (axes[i] == axes[i - 1])
      raise(DiagId::ValueError, SourceLoc{}, {std::string(fn) + "(): repeated axis " + std::to_string(axes[i])});
  return axes;
}

// ================================================================== back to Python values
static Value toListRec(const Tensor& t, int dim, int64_t* flat) {
  if (dim == t.ndim()) return tensorElement(t, (*flat)++);
  std::vector<Value> items;
  items.reserve((size_t)t.dim(dim));
  for (int64_t i = 0; i < t.dim(dim); ++i) items.push_back(toListRec(t, dim + 1, flat));
  return makeList(std::move(items));
}

Value tensorToList(const Tensor& t) {
  int64_t flat = 0;
  Tensor c = t.contiguous();
  return toListRec(c, 0, &flat);
}

}  // namespace msl
