// Batches of a data set (stdlib/data.msl): take_into, a gather that writes into storage
// lent by the previous batch, and __storage_id, with which tests see that it does.
//
// take_into(out, x, indices, dtype) is take(x, indices, axis=0) converted to dtype — a
// value like any other. `out` only lends its storage: it is written over when the call
// holds the only reference to it (its Value and its buffer are held by nobody else, as
// for the in-place arithmetic of runtime/Arith.cpp) and it is a contiguous tensor of the
// result's dtype and size. A batch that the program still holds elsewhere is therefore
// never changed: the call makes a new tensor instead. With indices None and x's own dtype
// the result is x itself (a view stays a view).
#include <cstring>
#include <string>

#include "ir/Diagnostics.h"
#include "runtime/Kernels.h"
#include "runtime/PrimImpl.h"

namespace msl {

namespace {

// Whether the tensor of `v` may be written over as the result (dtype dt, shape s). Its
// own shape does not matter, only its size: a batch reshaped to a sample shape (a view of
// the same storage) lends it as well.
bool lendable(const Value& v, DType dt, const Shape& s) {
  if (!v.is(VKind::Tensor) || !v.unique()) return false;
  const Tensor& t = v.as<TensorObj>()->t;
  return reusable(t) && t.isContiguous() && t.dtype() == dt && t.numel() == numel(s);
}

}  // namespace

Value prim_TakeInto(CallContext&, Value* args) {
  const char* fn = "take_into";
  if (!args[0].isNone() && !args[0].is(VKind::Tensor))
    raise(DiagId::TypeError, SourceLoc{}, {std::string(fn) + ": out must be a tensor or None, not " + typeNameOf(args[0])});
  Tensor x = argTensor(args[1], fn, "x");
  DType dt = args[3].isNone() ? x.dtype() : argDType(args[3], fn, "dtype");
  Tensor idx;
  Shape outShape = x.shape();
  if (!args[2].isNone()) {
    idx = argTensor(args[2], fn, "indices");
    if (!isInteger(idx.dtype()) && idx.numel() > 0)
      raise(DiagId::TypeError, SourceLoc{}, {std::string(fn) + ": indices must be integers, not " + dtypeName(idx.dtype())});
    idx = astype(idx, DType::I64).contiguous();
    if (x.ndim() == 0) valueError("take_into: cannot take from a 0-d tensor along an axis");
    int64_t n = x.dim(0);
    const int64_t* pi = idx.ptr<int64_t>();
    for (int64_t k = 0; k < idx.numel(); ++k)
      if (pi[k] < -n || pi[k] >= n) raise(DiagId::IndexOutOfRange, SourceLoc{}, {std::to_string(pi[k]), "0", std::to_string(n)});
    outShape.assign(idx.shape().begin(), idx.shape().end());
    outShape.insert(outShape.end(), x.shape().begin() + 1, x.shape().end());
  }
  // All of x in its own dtype: x itself, as astype does (an unshuffled batch stays a view).
  if (!idx.defined() && dt == x.dtype()) return args[1].is(VKind::Tensor) ? std::move(args[1]) : makeTensor(x);
  bool lend = lendable(args[0], dt, outShape);
  Tensor out;
  if (lend) {
    Tensor& lent = args[0].as<TensorObj>()->t;
    lent = lent.view(outShape, contiguousStrides(outShape), lent.offset());
    out = lent;
  } else {
    out = Tensor::empty(dt, outShape);
  }
  if (!idx.defined()) {
    assignInto(out, x);
  } else {
    // Row by row, straight from x (never a contiguous copy of the whole data set).
    Shape inner(x.shape().begin() + 1, x.shape().end());
    Shape innerStrides(x.strides().begin() + 1, x.strides().end());
    Shape outStrides = contiguousStrides(inner);
    int64_t n = x.dim(0), rowLen = numel(inner), nk = idx.numel();
    const int64_t* pi = idx.ptr<int64_t>();
    bool copyRows = dt == x.dtype() && x.view(inner, innerStrides, x.offset()).isContiguous();
    size_t rowBytes = (size_t)rowLen * dtypeSize(dt);
    for (int64_t k = 0; k < nk; ++k) {
      int64_t i = pi[k] < 0 ? pi[k] + n : pi[k];
      Tensor src = x.view(inner, innerStrides, x.offset() + i * x.strides()[0]);
      if (copyRows) {
        if (rowBytes) std::memcpy(static_cast<char*>(out.data()) + k * rowBytes, src.data(), rowBytes);
      } else {
        assignInto(out.view(inner, outStrides, out.offset() + k * rowLen), src);
      }
    }
  }
  if (lend) return std::move(args[0]);
  return makeTensor(std::move(out));
}

Value prim_StorageId(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "__storage_id", "x");
  return Value::integer((int64_t)x.buffer()->id);
}

}  // namespace msl
