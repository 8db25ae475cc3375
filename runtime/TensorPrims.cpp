// The tensor primitives (the "tensors" section of ir/Primitives.def) except indexing
// (runtime/TensorIndex.cpp): construction, elementwise functions, reductions, shapes.
//
// Arguments that accept a tensor also accept Python numbers and nested lists (argTensor);
// `exp(1.0)` gives a 0-d f32 tensor, as in JAX. Elementwise functions write into a
// consumed, uniquely-owned input when they can (see runtime/Arith.cpp).
#include <cmath>

#include "ir/Diagnostics.h"
#include "runtime/Host.h"
#include "runtime/PrimImpl.h"
#include "runtime/TensorValues.h"

namespace msl {

namespace {

Tensor& tensorOf(const Value& v) { return v.as<TensorObj>()->t; }

// An optional dtype argument (None gives false).
bool optDType(const Value& v, const char* fn, DType* out) {
  if (v.isNone()) return false;
  *out = argDType(v, fn, "dtype");
  return true;
}

// An elementwise operand: a tensor, a Python number, or data converted by argTensor.
struct OperandArg {
  Tensor t;
  Scalar s;
  bool isScalar = false;
  OperandArg(const Value& v, const char* fn, const char* param) {
    if (asScalar(v, &s)) isScalar = true;
    else t = argTensor(v, fn, param);
  }
  Operand op() const { return isScalar ? Operand(s) : Operand(t); }
};

// A unary elementwise primitive, writing into its argument when that is consumed.
Value unaryPrim(UnOp op, Value* args, const char* fn) {
  if (args[0].is(VKind::Tensor)) {
    Tensor& x = tensorOf(args[0]);
    if (args[0].unique() && reusable(x) && unaryInPlace(op, x)) return std::move(args[0]);
    return makeTensor(unary(op, x));
  }
  return makeTensor(unary(op, argTensor(args[0], fn, "x")));
}

Value shapeTuple(const Shape& s) {
  std::vector<Value> items;
  for (int64_t d : s) items.push_back(Value::integer(d));
  return makeTuple(std::move(items));
}

// The values of a `*args` tuple, or of the one tuple/list it holds (x.reshape((2, 3))).
const std::vector<Value>& packedItems(const Value& packed) {
  const auto& items = packed.as<TupleObj>()->items;
  if (items.size() == 1 && isSeq(items[0])) return seqItems(items[0]);
  return items;
}

}  // namespace

// ================================================================== construction
Value prim_TensorNew(CallContext&, Value* args) {
  DType dt;
  bool has = optDType(args[1], "tensor", &dt);
  return makeTensor(tensorFromData(args[0], has ? &dt : nullptr, "tensor"));
}

static Value filled(const Value& shapeArg, DType dt, double v, const char* fn) {
  Tensor t = Tensor::empty(dt, argShape(shapeArg, fn, "shape"));
  assignInto(t, Tensor::scalar(dt, v));
  return makeTensor(std::move(t));
}

Value prim_Zeros(CallContext&, Value* args) {
  return makeTensor(Tensor::zeros(argDType(args[1], "zeros", "dtype"), argShape(args[0], "zeros", "shape")));
}

Value prim_Ones(CallContext&, Value* args) { return filled(args[0], argDType(args[1], "ones", "dtype"), 1.0, "ones"); }

Value prim_Full(CallContext&, Value* args) {
  Shape shape = argShape(args[0], "full", "shape");
  Tensor v = argTensor(args[1], "full", "value");
  DType dt;
  if (!optDType(args[2], "full", &dt)) dt = v.dtype();
  Tensor t = Tensor::empty(dt, shape);
  assignInto(t, broadcastTo(v, shape, "full"));
  return makeTensor(std::move(t));
}

Value prim_Arange(CallContext&, Value* args) {
  const char* fn = "arange";
  Value start = args[0], stop = args[1], step = args[2];
  if (stop.isNone()) std::swap(start, stop), start = Value::integer(0);
  if (step.isNone()) step = Value::integer(1);
  bool anyFloat = false;
  for (const Value* v : {&start, &stop, &step}) {
    if (v->is(VKind::Float)) anyFloat = true;
    else if (!v->is(VKind::Int) && !v->is(VKind::Bool)) argFloat(*v, fn, "start");  // raises
  }
  DType dt;
  if (!optDType(args[3], fn, &dt)) dt = anyFloat ? kDefaultFloat : kDefaultInt;
  int64_t n;
  if (!anyFloat) {
    int64_t a = argInt(start, fn, "start"), b = argInt(stop, fn, "stop"), s = argInt(step, fn, "step");
    if (s == 0) valueError("arange(): step must not be zero");
    __int128 span = (__int128)b - a;
    __int128 len = s > 0 ? (span + s - 1) / s : (span + s + 1) / s;
    if (len > ((__int128)1 << 40)) valueError("arange(): too many elements");
    n = len > 0 ? (int64_t)len : 0;
    Tensor t = Tensor::empty(dt, {n});
    visitDType(dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* p = t.ptr<T>();
      for (int64_t i = 0; i < n; ++i) p[i] = convertValue<T>(a + i * s);
    });
    return makeTensor(std::move(t));
  }
  double a = argFloat(start, fn, "start"), b = argFloat(stop, fn, "stop"), s = argFloat(step, fn, "step");
  if (s == 0) valueError("arange(): step must not be zero");
  double len = std::ceil((b - a) / s);
  if (!(len < 1e12)) {
    if (len != len) valueError("arange(): the number of elements is not finite");
    if (len > 0) valueError("arange(): too many elements");
  }
  n = len > 0 ? (int64_t)len : 0;
  Tensor t = Tensor::empty(dt, {n});
  // NumPy's fill: the first two values converted, then first + i * (second - first).
  visitDType(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = ComputeT<T>;
    T* p = t.ptr<T>();
    if (n == 0) return;
    C first = convertValue<C>(convertValue<T>(a));
    C delta = convertValue<C>(convertValue<T>(a + s)) - first;
    for (int64_t i = 0; i < n; ++i) p[i] = convertValue<T>(i == 0 ? first : first + (C)i * delta);
  });
  return makeTensor(std::move(t));
}

Value prim_Linspace(CallContext&, Value* args) {
  const char* fn = "linspace";
  double a = argFloat(args[0], fn, "start"), b = argFloat(args[1], fn, "stop");
  int64_t num = argInt(args[2], fn, "num");
  if (num < 0) valueError("linspace(): num must be non-negative, got " + std::to_string(num));
  DType dt = argDType(args[3], fn, "dtype");
  // NumPy's computation in f64: i * step + start, and exactly `stop` last.
  Tensor y = Tensor::empty(DType::F64, {num});
  double* p = y.ptr<double>();
  int64_t div = num - 1;
  double delta = b - a, step = div > 0 ? delta / (double)div : 0;
  for (int64_t i = 0; i < num; ++i) {
    double yi = (double)i;
    if (div <= 0) yi *= delta;
    else if (step == 0) yi = yi / (double)div * delta;  // subnormal steps (NumPy gh-5437)
    else yi *= step;
    p[i] = yi + a;
  }
  if (num > 1) p[num - 1] = b;
  return makeTensor(astype(y, dt));
}

Value prim_Eye(CallContext&, Value* args) {
  int64_t n = argInt(args[0], "eye", "n");
  int64_t m = args[1].isNone() ? n : argInt(args[1], "eye", "m");
  if (n < 0 || m < 0) valueError("eye(): negative dimension");
  DType dt = argDType(args[2], "eye", "dtype");
  Tensor t = Tensor::zeros(dt, {n, m});
  Tensor diag = t.view({std::min(n, m)}, {m + 1}, 0);
  assignInto(diag, Tensor::scalar(dt, 1.0));
  return makeTensor(std::move(t));
}

static Value likePrim(Value* args, double v, const char* fn) {
  Tensor x = argTensor(args[0], fn, "x");
  DType dt;
  if (!optDType(args[1], fn, &dt)) dt = x.dtype();
  Tensor t = Tensor::empty(dt, x.shape());
  assignInto(t, Tensor::scalar(dt, v));
  return makeTensor(std::move(t));
}
Value prim_ZerosLike(CallContext&, Value* args) { return likePrim(args, 0.0, "zeros_like"); }
Value prim_OnesLike(CallContext&, Value* args) { return likePrim(args, 1.0, "ones_like"); }

// ================================================================== elementwise
Value prim_Exp(CallContext&, Value* args) { return unaryPrim(UnOp::Exp, args, "exp"); }
Value prim_Log(CallContext&, Value* args) { return unaryPrim(UnOp::Log, args, "log"); }
Value prim_Log1p(CallContext&, Value* args) { return unaryPrim(UnOp::Log1p, args, "log1p"); }
Value prim_Sqrt(CallContext&, Value* args) { return unaryPrim(UnOp::Sqrt, args, "sqrt"); }
Value prim_Rsqrt(CallContext&, Value* args) { return unaryPrim(UnOp::Rsqrt, args, "rsqrt"); }
Value prim_Sign(CallContext&, Value* args) { return unaryPrim(UnOp::Sign, args, "sign"); }
Value prim_Floor(CallContext&, Value* args) { return unaryPrim(UnOp::Floor, args, "floor"); }
Value prim_Ceil(CallContext&, Value* args) { return unaryPrim(UnOp::Ceil, args, "ceil"); }
Value prim_Sin(CallContext&, Value* args) { return unaryPrim(UnOp::Sin, args, "sin"); }
Value prim_Cos(CallContext&, Value* args) { return unaryPrim(UnOp::Cos, args, "cos"); }
Value prim_Tanh(CallContext&, Value* args) { return unaryPrim(UnOp::Tanh, args, "tanh"); }
Value prim_Sigmoid(CallContext&, Value* args) { return unaryPrim(UnOp::Sigmoid, args, "sigmoid"); }
Value prim_Relu(CallContext&, Value* args) { return unaryPrim(UnOp::Relu, args, "relu"); }
Value prim_Softplus(CallContext&, Value* args) { return unaryPrim(UnOp::Softplus, args, "softplus"); }
Value prim_IsNan(CallContext&, Value* args) { return unaryPrim(UnOp::IsNan, args, "isnan"); }
Value prim_IsFinite(CallContext&, Value* args) { return unaryPrim(UnOp::IsFinite, args, "isfinite"); }
Value prim_TensorAbs(CallContext&, Value* args) { return unaryPrim(UnOp::Abs, args, "abs"); }
Value prim_Gelu(CallContext&, Value* args) {
  return unaryPrim(argBool(args[1], "gelu", "approximate") ? UnOp::GeluTanh : UnOp::Gelu, args, "gelu");
}

Value prim_TensorRound(CallContext&, Value* args) {
  int64_t decimals = args[1].isNone() ? 0 : argInt(args[1], "round", "decimals");
  return makeTensor(roundTensor(argTensor(args[0], "round", "x"), decimals));
}

static Value binaryPrim(BinOp op, Value* args, const char* fn) {
  OperandArg x(args[0], fn, "x"), y(args[1], fn, "y");
  return makeTensor(binary(op, x.op(), y.op(), fn));
}
Value prim_Maximum(CallContext&, Value* args) { return binaryPrim(BinOp::Max, args, "maximum"); }
Value prim_Minimum(CallContext&, Value* args) { return binaryPrim(BinOp::Min, args, "minimum"); }

Value prim_Clip(CallContext&, Value* args) {
  Tensor r = argTensor(args[0], "clip", "x");
  if (!args[1].isNone()) r = binary(BinOp::Max, r, OperandArg(args[1], "clip", "lo").op(), "clip");
  if (!args[2].isNone()) r = binary(BinOp::Min, r, OperandArg(args[2], "clip", "hi").op(), "clip");
  return makeTensor(std::move(r));
}

Value prim_Where(CallContext&, Value* args) {
  Tensor cond = argTensor(args[0], "where", "cond");
  OperandArg x(args[1], "where", "x"), y(args[2], "where", "y");
  return makeTensor(where(cond, x.op(), y.op()));
}

Value prim_AsType(CallContext&, Value* args) {
  return makeTensor(astype(argTensor(args[0], "astype", "x"), argDType(args[1], "astype", "dtype")));
}

// ================================================================== reductions
namespace {
struct ReduceArgs {
  Tensor x;
  std::vector<int> axes;
  bool keepdims;
  ReduceArgs(Value* args, const char* fn)
      : x(argTensor(args[0], fn, "x")), axes(argAxes(args[1], x.ndim(), fn)), keepdims(argBool(args[2], fn, "keepdims")) {}
};
Value reducePrim(RedOp op, Value* args, const char* fn) {
  ReduceArgs r(args, fn);
  return makeTensor(reduce(op, r.x, r.axes, r.keepdims, fn));
}
// argmax/argmin/cumsum take one axis or None (-1).
int optAxis(const Value& v, int ndim, const char* fn) { return v.isNone() ? -1 : normAxis(intArg(v, fn, "axis"), ndim); }
}  // namespace

Value prim_TensorSum(CallContext&, Value* args) { return reducePrim(RedOp::Sum, args, "sum"); }
Value prim_TensorMax(CallContext&, Value* args) { return reducePrim(RedOp::Max, args, "max"); }
Value prim_TensorMin(CallContext&, Value* args) { return reducePrim(RedOp::Min, args, "min"); }
Value prim_Prod(CallContext&, Value* args) { return reducePrim(RedOp::Prod, args, "prod"); }
Value prim_TensorAll(CallContext&, Value* args) { return reducePrim(RedOp::All, args, "all"); }
Value prim_TensorAny(CallContext&, Value* args) { return reducePrim(RedOp::Any, args, "any"); }

Value prim_Mean(CallContext&, Value* args) {
  ReduceArgs r(args, "mean");
  return makeTensor(meanOf(r.x, r.axes, r.keepdims));
}
Value prim_Logsumexp(CallContext&, Value* args) {
  ReduceArgs r(args, "logsumexp");
  return makeTensor(logsumexpOf(r.x, r.axes, r.keepdims));
}
Value prim_Var(CallContext&, Value* args) {
  ReduceArgs r(args, "var");
  return makeTensor(varOf(r.x, r.axes, r.keepdims, argInt(args[3], "var", "ddof")));
}
Value prim_Std(CallContext&, Value* args) {
  ReduceArgs r(args, "std");
  Tensor v = varOf(r.x, r.axes, r.keepdims, argInt(args[3], "std", "ddof"));
  return makeTensor(unary(UnOp::Sqrt, v));
}

static Value argPrim(bool isMax, Value* args, const char* fn) {
  Tensor x = argTensor(args[0], fn, "x");
  return makeTensor(argReduce(isMax, x, optAxis(args[1], x.ndim(), fn), argBool(args[2], fn, "keepdims"), fn));
}
Value prim_Argmax(CallContext&, Value* args) { return argPrim(true, args, "argmax"); }
Value prim_Argmin(CallContext&, Value* args) { return argPrim(false, args, "argmin"); }

Value prim_Cumsum(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "cumsum", "x");
  return makeTensor(cumsumOf(x, optAxis(args[1], x.ndim(), "cumsum")));
}

// ================================================================== shapes
Value prim_Shape(CallContext&, Value* args) { return shapeTuple(argTensor(args[0], "shape", "x").shape()); }
Value prim_DTypeOf(CallContext&, Value* args) { return Value::dtype(argTensor(args[0], "dtype", "x").dtype()); }
Value prim_NDim(CallContext&, Value* args) { return Value::integer(argTensor(args[0], "ndim", "x").ndim()); }
Value prim_Size(CallContext&, Value* args) { return Value::integer(argTensor(args[0], "size", "x").numel()); }

Value prim_Reshape(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "reshape", "x");
  Shape shape;
  int infer = -1;
  std::string given = "(";
  for (const Value& d : packedItems(args[1])) {
    int64_t n = intArg(d, "reshape", "shape");
    given += (shape.empty() ? "" : ", ") + std::to_string(n);
    if (n == -1 && infer < 0) infer = (int)shape.size();
    else if (n < 0) valueError("reshape(): invalid dimension " + std::to_string(n) + " in the new shape");
    shape.push_back(n);
  }
  given += shape.size() == 1 ? ",)" : ")";
  auto mismatch = [&] {
    raise(DiagId::ReshapeSize, SourceLoc{}, {shapeStr(x.shape()), std::to_string(x.numel()), given});
  };
  if (infer >= 0) {
    shape[infer] = 1;
    int64_t known = numel(shape);
    if (known == 0 || x.numel() % known != 0) mismatch();
    shape[infer] = x.numel() / known;
  }
  if (numel(shape) != x.numel()) mismatch();
  return makeTensor(reshapeTo(x, shape));
}

Value prim_Transpose(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "transpose", "x");
  const auto& items = packedItems(args[1]);
  std::vector<int> perm;
  if (items.empty()) {
    for (int d = x.ndim() - 1; d >= 0; --d) perm.push_back(d);
  } else {
    if ((int)items.size() != x.ndim()) valueError("transpose(): axes do not match the tensor's " + std::to_string(x.ndim()) + " dimensions");
    std::vector<bool> seen(x.ndim(), false);
    for (const Value& a : items) {
      int d = normAxis(intArg(a, "transpose", "axes"), x.ndim());
      if (seen[d]) valueError("transpose(): repeated axis in transpose");
      seen[d] = true;
      perm.push_back(d);
    }
  }
  return makeTensor(permute(x, perm));
}

Value prim_TransposeT(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "T", "x");
  std::vector<int> perm;
  for (int d = x.ndim() - 1; d >= 0; --d) perm.push_back(d);
  return makeTensor(permute(x, perm));
}

Value prim_Swapaxes(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "swapaxes", "x");
  int a = normAxis(intArg(args[1], "swapaxes", "a"), x.ndim()), b = normAxis(intArg(args[2], "swapaxes", "b"), x.ndim());
  std::vector<int> perm;
  for (int d = 0; d < x.ndim(); ++d) perm.push_back(d == a ? b : d == b ? a : d);
  return makeTensor(permute(x, perm));
}

Value prim_ExpandDims(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "expand_dims", "x");
  int count = isSeq(args[1]) ? (int)seqItems(args[1]).size() : 1;
  std::vector<int> axes = argAxes(args[1], x.ndim() + count, "expand_dims");
  Shape shape, strides;
  size_t k = 0;
  int src = 0;
  for (int d = 0; d < x.ndim() + count; ++d) {
    if (k < axes.size() && axes[k] == d) {
      ++k;
      shape.push_back(1);
      strides.push_back(0);
    } else {
      shape.push_back(x.dim(src));
      strides.push_back(x.strides()[src++]);
    }
  }
  return makeTensor(x.view(shape, strides, x.offset()));
}

Value prim_Squeeze(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "squeeze", "x");
  std::vector<bool> drop(x.ndim(), false);
  if (args[1].isNone()) {
    for (int d = 0; d < x.ndim(); ++d) drop[d] = x.dim(d) == 1;
  } else {
    for (int d : argAxes(args[1], x.ndim(), "squeeze")) {
      if (x.dim(d) != 1)
        valueError("squeeze(): cannot remove axis " + std::to_string(d) + " of size " + std::to_string(x.dim(d)) +
                   " (only axes of size 1)");
      drop[d] = true;
    }
  }
  Shape shape, strides;
  for (int d = 0; d < x.ndim(); ++d)
    if (!drop[d]) {
      shape.push_back(x.dim(d));
      strides.push_back(x.strides()[d]);
    }
  return makeTensor(x.view(shape, strides, x.offset()));
}

Value prim_BroadcastTo(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "broadcast_to", "x");
  return makeTensor(broadcastTo(x, argShape(args[1], "broadcast_to", "shape"), "broadcast_to"));
}

// The tensors of a list/tuple argument, at least one, none 0-d.
static std::vector<Tensor> tensorList(const Value& v, const char* fn) {
  if (!isSeq(v))
    raise(DiagId::TypeError, SourceLoc{}, {std::string(fn) + "() argument 'xs' must be a list or tuple of tensors, not '" + typeNameOf(v) + "'"});
  std::vector<Tensor> xs;
  for (const Value& item : seqItems(v)) xs.push_back(argTensor(item, fn, "xs"));
  if (xs.empty()) valueError(std::string(fn) + "(): needs at least one tensor");
  return xs;
}

Value prim_Concat(CallContext&, Value* args) {
  std::vector<Tensor> xs = tensorList(args[0], "concat");
  if (xs[0].ndim() == 0) valueError("concat(): 0-d tensors cannot be concatenated");
  int axis = normAxis(intArg(args[1], "concat", "axis"), xs[0].ndim());
  return makeTensor(concatenate(xs, axis, "concat"));
}

Value prim_Stack(CallContext&, Value* args) {
  std::vector<Tensor> xs = tensorList(args[0], "stack");
  int axis = normAxis(intArg(args[1], "stack", "axis"), xs[0].ndim() + 1);
  const Shape first = xs[0].shape();
  for (Tensor& t : xs) {
    if (t.shape() != first)
      valueError("stack(): all tensors must have the same shape; got " + shapeStr(first) + " and " + shapeStr(t.shape()));
    Shape shape = t.shape(), strides = t.strides();
    shape.insert(shape.begin() + axis, 1);
    strides.insert(strides.begin() + axis, 0);
    t = t.view(shape, strides, t.offset());
  }
  return makeTensor(concatenate(xs, axis, "stack"));
}

Value prim_Flatten(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "flatten", "x");
  return makeTensor(reshapeTo(x, {x.numel()}));
}

Value prim_Item(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "item", "x");
  if (x.numel() != 1) raise(DiagId::ItemOfNonScalar, SourceLoc{}, {shapeStr(x.shape())});
  return tensorElement(x, 0);
}

Value prim_ToList(CallContext&, Value* args) { return tensorToList(argTensor(args[0], "tolist", "x")); }

Value prim_Dot(CallContext&, Value* args) {
  Tensor a = argTensor(args[0], "dot", "x"), b = argTensor(args[1], "dot", "y");
  if (a.ndim() == 0 || b.ndim() == 0) return makeTensor(binary(BinOp::Mul, a, b, "dot"));
  if (b.ndim() <= 2) return makeTensor(matmul(a, b));
  // N-d: sum over the last axis of a and the second-to-last of b:
  // dot(a, b)[i..., j..., k] = sum(a[i..., :] * b[j..., :, k]).
  int nb = b.ndim();
  int64_t K = b.dim(nb - 2), N = b.dim(nb - 1);
  if (a.dim(a.ndim() - 1) != K)
    raise(DiagId::MatmulShapes, SourceLoc{}, {shapeStr(a.shape()), shapeStr(b.shape()), std::to_string(a.dim(a.ndim() - 1)), std::to_string(K)});
  std::vector<int> perm;
  perm.push_back(nb - 2);
  for (int d = 0; d < nb - 2; ++d) perm.push_back(d);
  perm.push_back(nb - 1);
  int64_t restB = numel(Shape(b.shape().begin(), b.shape().end() - 2));
  int64_t rowsA = numel(Shape(a.shape().begin(), a.shape().end() - 1));
  Tensor b2 = reshapeTo(permute(b, perm), {K, restB * N});
  Tensor a2 = reshapeTo(a, {rowsA, K});
  Shape out(a.shape().begin(), a.shape().end() - 1);
  out.insert(out.end(), b.shape().begin(), b.shape().end() - 2);
  out.push_back(N);
  return makeTensor(reshapeTo(matmul(a2, b2), out));
}

static Value softmaxPrim(Value* args, bool log, const char* fn) {
  Tensor x = argTensor(args[0], fn, "x");
  if (x.ndim() == 0) return makeTensor(reshapeTo(softmaxOf(reshapeTo(x, {1}), 0, log), {}));
  return makeTensor(softmaxOf(x, normAxis(intArg(args[1], fn, "axis"), x.ndim()), log));
}
Value prim_Softmax(CallContext&, Value* args) { return softmaxPrim(args, false, "softmax"); }
Value prim_LogSoftmax(CallContext&, Value* args) { return softmaxPrim(args, true, "log_softmax"); }

}  // namespace msl
