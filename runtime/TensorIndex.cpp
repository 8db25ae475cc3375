// Tensor indexing: tensor_getitem and tensor_setitem with NumPy's rules.
//
// An index is an int, a slice, None (new axis), ... (Ellipsis), an integer tensor or list
// (advanced indexing), a boolean tensor (mask), or a tuple of these.
// - Basic indexing (ints, slices, None, ...) gives a view: no copy.
// - Advanced indexing gathers: index arrays (and ints, when arrays are present) broadcast
//   together to a shape B; when the advanced indices are adjacent in the index, B takes
//   their place in the result, otherwise it comes first. A boolean mask stands for the
//   integer arrays of its nonzero positions, so its result size depends on the data.
// tensor_setitem is a functional update: it writes into x's buffer when the caller gave up
// the only reference to a runtime-allocated buffer, and into a counted clone otherwise.
#include <cstring>

#include "ir/Diagnostics.h"
#include "runtime/KernelLoops.h"
#include "runtime/PrimImpl.h"
#include "runtime/TensorValues.h"

namespace msl {

namespace {

struct IndexItem {
  enum Kind { Int, Slice, NewAxis, Ellipsis, Array, Mask } kind;
  explicit IndexItem(Kind k) : kind(k) {}
  int64_t i = 0;          // Int
  const SliceObj* slice = nullptr;
  Tensor arr;             // Array (i64) or Mask (bool)
};

[[noreturn]] void badIndex(const Value& v) {
  raise(DiagId::BadIndexType, SourceLoc{},
        {"tensor", "integers, slices, None, ..., or integer or boolean tensors", typeNameOf(v)});
}

IndexItem classify(const Value& v) {
  IndexItem it(IndexItem::Int);
  switch (v.kind()) {
    case VKind::Int: it.i = v.asInt(); return it;
    case VKind::None: it.kind = IndexItem::NewAxis; return it;
    case VKind::Ellipsis: it.kind = IndexItem::Ellipsis; return it;
    case VKind::Slice: it.kind = IndexItem::Slice; it.slice = v.as<SliceObj>(); return it;
    case VKind::Tensor: case VKind::List: case VKind::Tuple: {
      bool emptyList = !v.is(VKind::Tensor) &&
                       (v.is(VKind::List) ? v.as<ListObj>()->items.empty() : v.as<TupleObj>()->items.empty());
      Tensor t = emptyList ? Tensor::empty(DType::I64, {0}) : argTensor(v, "index", "index");
      if (t.dtype() == DType::Bool) {
        if (t.ndim() == 0) badIndex(v);
        it.kind = IndexItem::Mask;
        it.arr = t;
      } else if (isFloat(t.dtype())) {
        badIndex(v);
      } else {
        it.kind = IndexItem::Array;
        it.arr = astype(t, DType::I64).contiguous();
      }
      return it;
    }
    default: badIndex(v);
  }
}

// start, length and step of a slice over a dimension of size n (Python's rules).
struct SliceRange { int64_t start, len, step; };

SliceRange resolveSlice(const SliceObj* s, int64_t n) {
  auto bound = [](const Value& v, bool* present) -> int64_t {
    *present = !v.isNone();
    if (!*present) return 0;
    int64_t x;
    if (!asIndexInt(v, &x)) raise(DiagId::BadIndexType, SourceLoc{}, {"slice", "integers or None", typeNameOf(v)});
    return x;
  };
  bool hasLo, hasHi, hasStep;
  int64_t lo = bound(s->lower, &hasLo), hi = bound(s->upper, &hasHi), step = bound(s->step, &hasStep);
  if (!hasStep) step = 1;
  if (step == 0) raise(DiagId::ValueError, SourceLoc{}, {"slice step cannot be zero"});
  auto clamp = [&](int64_t v, int64_t lowest, int64_t highest) {
    if (v < 0) v += n;
    return v < lowest ? lowest : v > highest ? highest : v;
  };
  SliceRange r{0, 0, step};
  if (step > 0) {
    lo = hasLo ? clamp(lo, 0, n) : 0;
    hi = hasHi ? clamp(hi, 0, n) : n;
    r.start = lo;
    r.len = hi > lo ? (hi - lo + step - 1) / step : 0;
  } else {
    lo = hasLo ? clamp(lo, -1, n - 1) : n - 1;
    hi = hasHi ? clamp(hi, -1, n - 1) : -1;
    r.start = lo;
    r.len = lo > hi ? (lo - hi - step - 1) / (-step) : 0;
  }
  return r;
}

int64_t checkedIndex(int64_t i, int axis, int64_t size) {
  int64_t j = i < 0 ? i + size : i;
  if (j < 0 || j >= size)
    raise(DiagId::IndexOutOfRange, SourceLoc{}, {std::to_string(i), std::to_string(axis), std::to_string(size)});
  return j;
}

// An index resolved against a tensor: the basic part as a view over the remaining
// dimensions, and the advanced part as one offset per element of B.
struct Resolved {
  // Basic dimensions of the result, in order (for the advanced case: excluding B).
  Shape shape, strides;
  int64_t offset = 0;          // from the tensor's buffer start, in elements
  bool advanced = false;
  Shape bShape;                // broadcast shape of the index arrays
  std::vector<int64_t> advOffsets;  // per element of B
  int advPos = 0;              // where B goes among the basic dimensions
};

Resolved resolve(const Tensor& x, const Value& index) {
  std::vector<IndexItem> items;
  if (index.is(VKind::Tuple)) {
    for (const Value& v : index.as<TupleObj>()->items) items.push_back(classify(v));
  } else {
    items.push_back(classify(index));
  }
  // Expand the ellipsis (or append it) so that every dimension is consumed.
  int consumed = 0, ellipses = 0;
  for (const IndexItem& it : items) {
    if (it.kind == IndexItem::Mask) consumed += it.arr.ndim();
    else if (it.kind == IndexItem::Int || it.kind == IndexItem::Slice || it.kind == IndexItem::Array) ++consumed;
    else if (it.kind == IndexItem::Ellipsis) ++ellipses;
  }
  if (ellipses > 1) raise(DiagId::ValueError, SourceLoc{}, {"an index can only have a single ellipsis ('...')"});
  if (consumed > x.ndim())
    raise(DiagId::TooManyIndices, SourceLoc{}, {std::to_string(x.ndim()), x.ndim() == 1 ? "" : "s", std::to_string(consumed)});
  static const SliceObj kFull;  // slice(None, None, None)
  std::vector<IndexItem> full;
  bool expanded = false;
  auto fill = [&] {
    for (int k = consumed; k < x.ndim(); ++k) {
      IndexItem s(IndexItem::Slice);
      s.slice = &kFull;
      full.push_back(s);
    }
    expanded = true;
  };
  for (IndexItem& it : items) {
    if (it.kind != IndexItem::Ellipsis) full.push_back(std::move(it));
    else if (consumed < x.ndim()) fill();
    else full.push_back(std::move(it));  // stands for no dimension, but still separates
  }                                      // advanced indices (as in NumPy)
  if (!expanded) fill();

  // Masks become the integer arrays of their nonzero positions, one per dimension.
  std::vector<IndexItem> flat;
  int dim = 0;
  bool anyArray = false;
  for (IndexItem& it : full) {
    if (it.kind == IndexItem::Mask) {
      const Tensor& m = it.arr;
      Shape part(x.shape().begin() + dim, x.shape().begin() + dim + m.ndim());
      if (m.shape() != part) raise(DiagId::BoolMaskShape, SourceLoc{}, {shapeStr(m.shape()), shapeStr(part)});
      Tensor mc = m.contiguous();
      const bool* p = mc.ptr<bool>();
      int64_t count = 0;
      for (int64_t e = 0; e < mc.numel(); ++e) count += p[e];
      std::vector<Tensor> coords;
      for (int k = 0; k < m.ndim(); ++k) coords.push_back(Tensor::empty(DType::I64, {count}));
      Shape strides = contiguousStrides(m.shape());
      int64_t at = 0;
      for (int64_t e = 0; e < mc.numel(); ++e) {
        if (!p[e]) continue;
        for (int k = 0; k < m.ndim(); ++k) coords[k].ptr<int64_t>()[at] = (e / strides[k]) % m.dim(k);
        ++at;
      }
      for (Tensor& c : coords) {
        IndexItem a(IndexItem::Array);
        a.arr = std::move(c);
        flat.push_back(std::move(a));
      }
      dim += m.ndim();
      anyArray = true;
      continue;
    }
    if (it.kind == IndexItem::Array) anyArray = true;
    if (it.kind != IndexItem::NewAxis && it.kind != IndexItem::Ellipsis) ++dim;
    flat.push_back(std::move(it));
  }

  Resolved r;
  r.offset = x.offset();
  r.advanced = anyArray;
  // With arrays present, ints are advanced indices too (0-d arrays).
  auto isAdv = [&](const IndexItem& it) { return it.kind == IndexItem::Array || (anyArray && it.kind == IndexItem::Int); };
  std::vector<std::pair<int, const IndexItem*>> adv;  // (tensor dim, item)
  int firstAdv = -1, lastAdv = -1, advCount = 0;
  dim = 0;
  for (int k = 0; k < (int)flat.size(); ++k) {
    const IndexItem& it = flat[k];
    if (isAdv(it)) {
      if (firstAdv < 0) {
        firstAdv = k;
        r.advPos = (int)r.shape.size();
      }
      lastAdv = k;
      ++advCount;
      adv.push_back({dim++, &it});
      continue;
    }
    switch (it.kind) {
      case IndexItem::Int:
        r.offset += checkedIndex(it.i, dim, x.dim(dim)) * x.strides()[dim];
        ++dim;
        break;
      case IndexItem::Slice: {
        SliceRange s = resolveSlice(it.slice, x.dim(dim));
        if (s.len > 0) r.offset += s.start * x.strides()[dim];
        r.shape.push_back(s.len);
        r.strides.push_back(s.step * x.strides()[dim]);
        ++dim;
        break;
      }
      case IndexItem::NewAxis:
        r.shape.push_back(1);
        r.strides.push_back(0);
        break;
      default:  // an Ellipsis standing for no dimension
        break;
    }
  }
  if (!anyArray) return r;
  if (lastAdv - firstAdv + 1 != advCount) r.advPos = 0;  // not adjacent: B goes first

  // Broadcast the index arrays and compute one offset per element of B.
  Shape b;
  for (auto& [d, it] : adv)
    if (it->kind == IndexItem::Array && !broadcastShapes(Shape(b), it->arr.shape(), &b))
      raiseShapeMismatch(b, it->arr.shape(), "indexing");
  r.bShape = b;
  int64_t nb = numel(b);
  r.advOffsets.assign((size_t)nb, 0);
  for (auto& [d, it] : adv) {
    int64_t stride = x.strides()[d], size = x.dim(d);
    if (it->kind == IndexItem::Int) {
      int64_t off = checkedIndex(it->i, d, size) * stride;
      for (int64_t& o : r.advOffsets) o += off;
      continue;
    }
    Tensor view = broadcastTo(it->arr, b, "indexing");
    Tensor idx = view.contiguous();
    const int64_t* p = idx.ptr<int64_t>();
    for (int64_t e = 0; e < nb; ++e) r.advOffsets[e] += checkedIndex(p[e], d, size) * stride;
  }
  return r;
}

// Offsets (relative) of every element of a strided block, in row-major order.
std::vector<int64_t> blockOffsets(const Shape& shape, const Shape& strides) {
  std::vector<int64_t> offs;
  offs.reserve((size_t)numel(shape));
  if (numel(shape) == 0) return offs;
  StridedLoop<1> L = collapseLoop<1>(shape, {&strides});
  forEachRow(L, [&](const int64_t* off, int64_t n, const int64_t* st) {
    for (int64_t i = 0; i < n; ++i) offs.push_back(off[0] + i * st[0]);
  });
  return offs;
}

// The advanced case as (pre dims, B, post dims): offsets of the pre and post blocks.
struct AdvLayout {
  Shape outShape;
  std::vector<int64_t> pre, post;
};

AdvLayout advLayout(const Resolved& r) {
  AdvLayout L;
  Shape preShape(r.shape.begin(), r.shape.begin() + r.advPos), preStrides(r.strides.begin(), r.strides.begin() + r.advPos);
  Shape postShape(r.shape.begin() + r.advPos, r.shape.end()), postStrides(r.strides.begin() + r.advPos, r.strides.end());
  L.outShape = preShape;
  L.outShape.insert(L.outShape.end(), r.bShape.begin(), r.bShape.end());
  L.outShape.insert(L.outShape.end(), postShape.begin(), postShape.end());
  L.pre = blockOffsets(preShape, preStrides);
  L.post = blockOffsets(postShape, postStrides);
  return L;
}

template <size_t N> struct Bits;
template <> struct Bits<1> { using T = uint8_t; };
template <> struct Bits<2> { using T = uint16_t; };
template <> struct Bits<4> { using T = uint32_t; };
template <> struct Bits<8> { using T = uint64_t; };

// Calls f(E*) with an unsigned type of the element size of `dt`.
template <class F> void visitBits(DType dt, F&& f) {
  switch (dtypeSize(dt)) {
    case 1: f((Bits<1>::T*)nullptr); return;
    case 2: f((Bits<2>::T*)nullptr); return;
    case 4: f((Bits<4>::T*)nullptr); return;
    default: f((Bits<8>::T*)nullptr); return;
  }
}

Tensor gather(const Tensor& x, const Resolved& r) {
  AdvLayout L = advLayout(r);
  Tensor out = Tensor::empty(x.dtype(), L.outShape);
  if (out.numel() == 0) return out;
  visitBits(x.dtype(), [&](auto* tag) {
    using E = std::remove_pointer_t<decltype(tag)>;
    const E* src = static_cast<const E*>(x.buffer()->data) + r.offset;
    E* o = out.ptr<E>();
    for (int64_t p : L.pre)
      for (int64_t a : r.advOffsets) {
        const E* s = src + p + a;
        for (int64_t q : L.post) *o++ = s[q];
      }
  });
  return out;
}

// Visits the elements of x (buffer `data`) that an advanced index selects, in the order
// of gather's result: op(element, next value).
template <class E, class Op>
void scatterWith(const Resolved& r, const AdvLayout& L, E* data, const E* v, Op op) {
  E* dst = data + r.offset;
  for (int64_t p : L.pre)
    for (int64_t a : r.advOffsets) {
      E* d = dst + p + a;
      for (int64_t q : L.post) op(d[q], *v++);
    }
}

void scatter(const Tensor& x, const Resolved& r, const Tensor& values /* contiguous, x's dtype */) {
  AdvLayout L = advLayout(r);
  visitBits(x.dtype(), [&](auto* tag) {
    using E = std::remove_pointer_t<decltype(tag)>;
    scatterWith(r, L, static_cast<E*>(x.buffer()->data), values.ptr<E>(), [](E& d, E v) { d = v; });
  });
}

// The value of an assignment, broadcast to `shape` (leading size-1 dims may be dropped).
Tensor assignedValue(const Value& v, const Shape& shape, DType dt) {
  Scalar s;  // a Python number is weakly typed: it takes x's dtype (an f64 x keeps all its digits)
  if (!v.is(VKind::Tensor) && asScalar(v, &s)) return broadcastTo(scalarTensor(dt, s), shape, "assignment");
  Tensor t = argTensor(v, "setitem", "value");
  while (t.ndim() > (int)shape.size() && t.dim(0) == 1)
    t = t.view(Shape(t.shape().begin() + 1, t.shape().end()), Shape(t.strides().begin() + 1, t.strides().end()), t.offset());
  return broadcastTo(t, shape, "assignment");
}

// Whether distinct indices of `t` may share memory (a broadcast view has stride 0).
bool selfOverlapping(const Tensor& t) {
  for (int d = 0; d < t.ndim(); ++d)
    if (t.dim(d) > 1 && t.strides()[d] == 0) return true;
  return false;
}

}  // namespace

Value prim_TensorGetItem(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "getitem", "x");
  Resolved r = resolve(x, args[1]);
  if (!r.advanced) return makeTensor(x.view(r.shape, r.strides, r.offset));
  return makeTensor(gather(x, r));
}

Value prim_TensorSetItem(CallContext&, Value* args) {
  bool inPlace = args[0].is(VKind::Tensor) && args[0].unique() && reusable(args[0].as<TensorObj>()->t) &&
                 !selfOverlapping(args[0].as<TensorObj>()->t);
  Tensor x = inPlace ? args[0].as<TensorObj>()->t : argTensor(args[0], "setitem", "x").clone();
  Resolved r = resolve(x, args[1]);
  if (!r.advanced) {
    Tensor target = x.view(r.shape, r.strides, r.offset);
    assignInto(target, assignedValue(args[2], target.shape(), x.dtype()));
  } else {
    AdvLayout L = advLayout(r);
    Tensor values = Tensor::empty(x.dtype(), L.outShape);
    assignInto(values, assignedValue(args[2], L.outShape, x.dtype()));
    scatter(x, r, values);
  }
  if (inPlace) return std::move(args[0]);
  return makeTensor(std::move(x));
}

// The cotangent of x[index]: zeros of x's shape in dtype dt (f32 or f64) with ct added at
// the indexed positions (an index array that repeats a position adds there repeatedly).
Tensor indexBackward(const Tensor& x, const Value& index, const Tensor& ct, DType dt) {
  Tensor z = Tensor::zeros(dt, x.shape());
  Resolved r = resolve(z, index);
  if (!r.advanced) {
    Tensor target = z.view(r.shape, r.strides, r.offset);
    assignInto(target, broadcastTo(ct, target.shape(), "getitem"));
    return z;
  }
  AdvLayout L = advLayout(r);
  Tensor values = Tensor::empty(dt, L.outShape);
  assignInto(values, broadcastTo(ct, L.outShape, "getitem"));
  auto accumulate = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    scatterWith(r, L, static_cast<T*>(z.buffer()->data), values.ptr<T>(), [](T& d, T v) { d += v; });
  };
  if (dt == DType::F64) accumulate((double*)nullptr);
  else accumulate((float*)nullptr);
  return z;
}

}  // namespace msl
