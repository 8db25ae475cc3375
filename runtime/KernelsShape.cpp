// Shape kernels: reshape, permute, broadcast and concatenate.
#include "ir/Diagnostics.h"
#include "runtime/Kernels.h"

namespace msl {

Tensor reshapeTo(const Tensor& x, const Shape& shape) {
  MSL_ASSERT(numel(shape) == x.numel(), "reshapeTo: element count differs");
  Tensor c = x.contiguous();
  return c.view(shape, contiguousStrides(shape), c.offset());
}

Tensor permute(const Tensor& x, const std::vector<int>& perm) {
  Shape shape, strides;
  for (int p : perm) {
    shape.push_back(x.shape()[p]);
    strides.push_back(x.strides()[p]);
  }
  return x.view(shape, strides, x.offset());
}

Tensor broadcastTo(const Tensor& x, const Shape& shape, const char* op) {
  Shape out;
  if (x.ndim() > (int)shape.size() || !broadcastShapes(x.shape(), shape, &out) || out != shape)
    raiseShapeMismatch(x.shape(), shape, op);
  return x.view(shape, broadcastStrides(x, shape), x.offset());
}

Tensor concatenate(const std::vector<Tensor>& xs, int axis, const char* fnName) {
  MSL_ASSERT(!xs.empty(), "concatenate: no tensors");
  const Shape& first = xs[0].shape();
  DType dt = xs[0].dtype();
  Shape shape = first;
  shape[axis] = 0;
  for (const Tensor& t : xs) {
    bool same = t.ndim() == (int)first.size();
    for (int d = 0; same && d < t.ndim(); ++d) same = d == axis || t.dim(d) == first[d];
    if (!same) raise(DiagId::ConcatShapes, SourceLoc{}, {fnName, shapeStr(first), shapeStr(t.shape()), std::to_string(axis)});
    shape[axis] += t.dim(axis);
    dt = promote(dt, t.dtype());
  }
  Tensor out = Tensor::empty(dt, shape);
  int64_t at = 0;
  for (const Tensor& t : xs) {
    Shape part = shape;
    part[axis] = t.dim(axis);
    assignInto(out.view(part, out.strides(), at * out.strides()[axis]), t);
    at += t.dim(axis);
  }
  return out;
}

}  // namespace msl
