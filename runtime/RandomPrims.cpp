// The random-number primitives of ir/Primitives.def: prng, split (of a key), fold_in,
// bits, uniform, normal, permutation, bernoulli, categorical, dropout. The numbers are
// jax.random's (runtime/Random.h); this file checks arguments and shapes.
#include <algorithm>
#include <cstring>
#include <string>

#include "ir/Diagnostics.h"
#include "runtime/KernelLoops.h"
#include "runtime/Kernels.h"
#include "runtime/PrimImpl.h"
#include "runtime/Random.h"
#include "runtime/TensorValues.h"

namespace msl {

bool isRandomKey(const Value& v) {
  if (!v.is(VKind::Tensor)) return false;
  const Tensor& t = v.as<TensorObj>()->t;
  return t.dtype() == DType::U32 && t.ndim() == 1 && t.dim(0) == 2;
}

namespace {

random::Key keyArg(const Value& v, const char* fn) {
  if (!isRandomKey(v))
    raise(DiagId::TypeError, SourceLoc{},
          {std::string(fn) + "() argument 'key' must be a random key (a u32 tensor of shape (2,) from prng or split), got " +
           typeNameOf(v)});
  return random::keyOf(v.as<TensorObj>()->t);
}

// A shape argument where None means ().
Shape shapeArg(const Value& v, const char* fn) { return v.is(VKind::None) ? Shape{} : argShape(v, fn, "shape"); }

// The float dtype of a draw: f32 or f64 (jax.random's numbers for f16/bf16 come from
// 16-bit draws, which msl does not make).
DType floatDType(const Value& v, const char* fn) {
  DType dt = argDType(v, fn, "dtype");
  if (dt != DType::F32 && dt != DType::F64)
    raise(DiagId::DTypeError, SourceLoc{}, {std::string(fn), std::string(dtypeName(dt)) + " (use f32 or f64, then astype)"});
  return dt;
}

}  // namespace

Value prim_Prng(CallContext&, Value* args) {
  return makeTensor(random::keyTensor(random::seedKey(intArg(args[0], "prng", "seed"))));
}

// split(key, n=2) for a key; otherwise NumPy's split of a tensor (runtime/ShapeOpsPrims.cpp).
Value splitTensor(Value* args);
Value prim_Split(CallContext&, Value* args) {
  if (!isRandomKey(args[0])) return splitTensor(args);
  int64_t n = args[1].is(VKind::None) ? 2 : intArg(args[1], "split", "n");
  if (n < 0) valueError("split: the number of keys must be >= 0, got " + std::to_string(n));
  if (!args[2].is(VKind::Int) || args[2].asInt() != 0) valueError("split: a key has no axis to split along");
  return makeTensor(random::split(random::keyOf(args[0].as<TensorObj>()->t), n));
}

Value prim_FoldIn(CallContext&, Value* args) {
  random::Key k = keyArg(args[0], "fold_in");
  return makeTensor(random::keyTensor(random::foldIn(k, (uint32_t)(uint64_t)intArg(args[1], "fold_in", "data"))));
}

Value prim_Bits(CallContext&, Value* args) {
  random::Key k = keyArg(args[0], "bits");
  return makeTensor(random::bits(k, shapeArg(args[1], "bits")));
}

Value prim_Uniform(CallContext&, Value* args) {
  const char* fn = "uniform";
  random::Key k = keyArg(args[0], fn);
  Shape s = shapeArg(args[1], fn);
  DType dt = floatDType(args[2], fn);
  return makeTensor(random::uniform(k, s, dt, argFloat(args[3], fn, "minval"), argFloat(args[4], fn, "maxval")));
}

Value prim_Normal(CallContext&, Value* args) {
  const char* fn = "normal";
  random::Key k = keyArg(args[0], fn);
  Shape s = shapeArg(args[1], fn);
  DType dt = argDType(args[2], fn, "dtype");
  if (dt != DType::F32) raise(DiagId::DTypeError, SourceLoc{}, {std::string(fn), std::string(dtypeName(dt)) + " (use f32, then astype)"});
  return makeTensor(random::normal(k, s, dt));
}

// permutation(key, n): a shuffled arange(n); permutation(key, x): x with its first axis
// shuffled (the same order as permutation(key, len(x))).
Value prim_Permutation(CallContext&, Value* args) {
  const char* fn = "permutation";
  random::Key k = keyArg(args[0], fn);
  int64_t n;
  if (!args[1].is(VKind::Tensor) && asIndexInt(args[1], &n)) {
    if (n < 0) valueError("permutation: n must be >= 0, got " + std::to_string(n));
    return makeTensor(random::permutation(k, n));
  }
  Tensor x = argTensor(args[1], fn, "x");
  if (x.ndim() == 0) valueError("permutation: x must be an int or a tensor with at least one axis, got shape ()");
  Tensor order = random::permutation(k, x.dim(0));
  Tensor xc = x.contiguous(), out = Tensor::empty(x.dtype(), x.shape());
  size_t row = (size_t)(x.dim(0) ? x.numel() / x.dim(0) : 0) * dtypeSize(x.dtype());
  const char* src = static_cast<const char*>(xc.data());
  char* dst = static_cast<char*>(out.data());
  for (int64_t i = 0; i < x.dim(0); ++i) std::memcpy(dst + i * row, src + order.ptr<int64_t>()[i] * row, row);
  return makeTensor(out);
}

// bernoulli(key, p=0.5, shape=None): uniform(key, shape, dtype of p) < p; shape None is p's.
Value prim_Bernoulli(CallContext&, Value* args) {
  const char* fn = "bernoulli";
  random::Key k = keyArg(args[0], fn);
  Scalar s;
  if (asScalar(args[1], &s)) {
    Shape shape = shapeArg(args[2], fn);
    return makeTensor(binary(BinOp::Lt, random::uniform(k, shape, DType::F32, 0.0, 1.0), s));
  }
  Tensor p = argTensor(args[1], fn, "p");
  DType dt = p.dtype() == DType::F64 ? DType::F64 : DType::F32;
  Shape shape = args[2].is(VKind::None) ? p.shape() : shapeArg(args[2], fn);
  Shape b;
  if (!broadcastShapes(shape, p.shape(), &b) || b != shape)
    valueError("bernoulli: p of shape " + shapeStr(p.shape()) + " does not broadcast to shape " + shapeStr(shape));
  return makeTensor(binary(BinOp::Lt, random::uniform(k, shape, dt, 0.0, 1.0), p));
}

// categorical(key, logits, axis=-1, shape=None): argmax(logits + Gumbel noise) over axis;
// shape (default: logits' shape without axis) may add leading batch axes.
Value prim_Categorical(CallContext&, Value* args) {
  const char* fn = "categorical";
  random::Key k = keyArg(args[0], fn);
  Tensor logits = argTensor(args[1], fn, "logits");
  if (!isFloat(logits.dtype())) raise(DiagId::DTypeError, SourceLoc{}, {std::string(fn), dtypeName(logits.dtype())});
  int nd = logits.ndim();
  if (nd == 0) valueError("categorical: logits must have at least one axis, got shape ()");
  int axis = normAxis(intArg(args[2], fn, "axis"), nd);
  Shape batch;
  for (int i = 0; i < nd; ++i)
    if (i != axis) batch.push_back(logits.dim(i));
  Shape shape = args[3].is(VKind::None) ? batch : shapeArg(args[3], fn);
  size_t pre = shape.size() >= batch.size() ? shape.size() - batch.size() : 0;
  if (shape.size() < batch.size() || !std::equal(batch.begin(), batch.end(), shape.begin() + (long)pre))
    valueError("categorical: shape " + shapeStr(shape) + " must end with the logits' batch shape " + shapeStr(batch));
  Shape noiseShape(shape.begin(), shape.begin() + (long)pre);
  for (int i = 0; i < nd; ++i) noiseShape.push_back(logits.dim(i));
  DType dt = computeDType(logits.dtype());
  Tensor noisy = binary(BinOp::Add, random::gumbel(k, noiseShape, dt), astype(logits, dt));
  return makeTensor(argReduce(true, noisy, (int)pre + axis, false, fn));
}

// dropout(key, x, p): zeroes each element with probability p and scales the others by
// 1/(1-p) (Flax's nn.Dropout: keep where bernoulli(key, 1-p, x.shape)).
Value prim_Dropout(CallContext&, Value* args) {
  const char* fn = "dropout";
  random::Key k = keyArg(args[0], fn);
  Tensor x = argTensor(args[1], fn, "x");
  double p = argFloat(args[2], fn, "p");
  if (!(p >= 0.0 && p <= 1.0)) valueError("dropout: p must be in [0, 1], got " + std::to_string(p));
  if (p == 0.0) return makeTensor(x);
  if (p == 1.0) return makeTensor(Tensor::zeros(x.dtype(), x.shape()));
  double keep = 1.0 - p;
  Tensor mask = binary(BinOp::Lt, random::uniform(k, x.shape(), DType::F32, 0.0, 1.0), Scalar::real(keep));
  Tensor scaled = binary(BinOp::Div, x, Scalar::real(keep));
  return makeTensor(where(mask, scaled, Scalar::real(0.0)));
}

}  // namespace msl
