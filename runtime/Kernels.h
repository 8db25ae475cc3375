// Tensor kernels: the building blocks of the tensor primitives (runtime/Arith.cpp,
// runtime/TensorPrims.cpp, runtime/TensorIndex.cpp) and of other runtime code that
// computes on tensors.
//
// Conventions
// - Kernels never write into their inputs. The *InPlace variants of elementwise kernels
//   write the result into a tensor the caller gives up (see reusable()) when its dtype,
//   shape and layout fit, which is how `x = x * a + b` on a consumed x allocates nothing.
// - f16/bf16 are stored as 16-bit patterns (Half, BFloat16) and computed in f32.
// - Elementwise kernels dispatch on dtype once per call; the inner loops are plain loops
//   over contiguous rows (the compiler vectorises them) with a general strided path.
#pragma once
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "runtime/DType.h"
#include "runtime/Tensor.h"

namespace msl {

// ------------------------------------------------------------------ element types
struct Half { uint16_t bits; };      // IEEE binary16
struct BFloat16 { uint16_t bits; };  // bfloat16

template <class T> inline constexpr bool kIsHalfLike = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;
// The type a storage type computes in: f16/bf16 compute in float.
template <class T> using ComputeT = std::conditional_t<kIsHalfLike<T>, float, T>;

// Value conversions with the runtime's rules: float -> integer saturates (nan gives 0),
// integer -> narrower integer wraps, anything -> bool is `!= 0`, f16/bf16 round to
// nearest even.
template <class D, class S> inline D convertValue(S s);

// Calls f(std::type_identity<T>{}) with the storage type T of `dt`.
template <class F> decltype(auto) visitDType(DType dt, F&& f);

// ------------------------------------------------------------------ shapes and layouts
// NumPy broadcasting of two shapes; false when incompatible.
bool broadcastShapes(const Shape& a, const Shape& b, Shape* out);
// The strides (in elements) of `t` seen with shape `shape`, to which it broadcasts:
// 0 along broadcast dimensions. `shape` must be a broadcast of t's shape.
Shape broadcastStrides(const Tensor& t, const Shape& shape);
// Raises ShapeMismatch naming both shapes and `op`.
[[noreturn]] void raiseShapeMismatch(const Shape& a, const Shape& b, const char* op);

// A buffer made by allocBuffer: the runtime may write into it when nobody else sees it.
bool runtimeAllocated(const Buffer& b);
// True when `t` may be overwritten by an operation that consumes it: its buffer is
// runtime-allocated and referenced by `t` alone. (The caller checks that it holds the
// only reference to the Value holding `t`.)
inline bool reusable(const Tensor& t) { return t.uniquelyOwned() && runtimeAllocated(*t.buffer()); }

// ------------------------------------------------------------------ copies and casts
// dst[...] = src converted to dst's dtype; src broadcasts to dst's shape; both may have
// any strides. dst must not overlap src unless they are the same elements.
void assignInto(const Tensor& dst, const Tensor& src);
// t with dtype `dt`: t itself when it has that dtype, else a new contiguous tensor.
Tensor astype(const Tensor& t, DType dt);

// ------------------------------------------------------------------ elementwise
enum class BinOp : uint8_t {
  Add, Sub, Mul, Div, FloorDiv, Mod, Pow, Max, Min,
  BitAnd, BitOr, BitXor,
  Eq, Ne, Lt, Le, Gt, Ge,
};
// How messages name the operation: "+", "//", "maximum", "<=".
const char* binOpSymbol(BinOp op);
inline bool isComparison(BinOp op) { return op >= BinOp::Eq; }

// A Python scalar taking part in a tensor operation: weakly typed (see promoteWeak).
struct Scalar {
  WeakKind kind = WeakKind::Int;
  int64_t i = 0;  // Bool and Int
  double f = 0;   // Float
  static Scalar boolean(bool b) { return {WeakKind::Bool, b, 0}; }
  static Scalar integer(int64_t v) { return {WeakKind::Int, v, 0}; }
  static Scalar real(double v) { return {WeakKind::Float, 0, v}; }
};
// A 0-d tensor of dtype `dt` holding a Python scalar (converted as astype converts).
Tensor scalarTensor(DType dt, const Scalar& s);

// An operand of an elementwise operation: a tensor or a Python scalar.
struct Operand {
  const Tensor* t = nullptr;
  Scalar s;
  Operand(const Tensor& x) : t(&x) {}  // NOLINT: implicit on purpose
  Operand(Scalar x) : s(x) {}          // NOLINT
};

// The result dtype of `a op b`: JAX promotion (Python scalars weak), `/` of integers
// gives f32, comparisons give bool. Raises DTypeError for bitwise operations on floats
// and for -, //, %, ** on bools.
DType binaryResultType(BinOp op, const Operand& a, const Operand& b);
// a op b with broadcasting. Integer // and % by zero give 0 (as JAX does); float
// operations follow IEEE. Raises ShapeMismatch with `opName` (default: binOpSymbol).
Tensor binary(BinOp op, const Operand& a, const Operand& b, const char* opName = nullptr);
// a op b written into `dst`, a tensor the caller gives up (reusable(dst); it may be one
// of the operands), when the result has dst's dtype and shape and dst is contiguous;
// false (nothing computed) otherwise. Raises the errors `binary` raises for dtypes.
bool binaryInPlace(BinOp op, const Operand& a, const Operand& b, Tensor& dst);

enum class UnOp : uint8_t {
  Neg, Invert, Abs, Sign, Floor, Ceil, Relu,  // keep the dtype
  Exp, Log, Log1p, Sqrt, Rsqrt, Sin, Cos, Tanh, Sigmoid, Gelu, GeluTanh, Softplus,  // float
  IsNan, IsFinite,  // give bool
};
const char* unOpName(UnOp op);
// op(x); integer/bool inputs of float functions give f32. Raises DTypeError for `-` of
// bool and `~` of floats.
Tensor unary(UnOp op, const Tensor& x);
// x = op(x) in place when x is given up (reusable) and the result keeps its dtype (or
// is x itself, e.g. floor of integers); false (nothing computed) otherwise.
bool unaryInPlace(UnOp op, Tensor& x);
// NumPy's round(x, decimals): half to even; integers with decimals >= 0 are unchanged.
Tensor roundTensor(const Tensor& x, int64_t decimals);
// where(cond, x, y) with broadcasting of all three; cond is converted to bool.
Tensor where(const Tensor& cond, const Operand& x, const Operand& y);

// ------------------------------------------------------------------ reductions
enum class RedOp : uint8_t { Sum, Prod, Max, Min, All, Any };
// Reduces over `axes` (sorted, distinct, normalised). Sum/Prod of bool and integer
// tensors give i64; All/Any give bool; Max/Min keep the dtype and raise ValueError on
// an empty reduction. Float sums use NumPy's pairwise summation along contiguous rows.
Tensor reduce(RedOp op, const Tensor& x, const std::vector<int>& axes, bool keepdims,
              const char* fnName);
// mean: integers give f32; var/std: mean of squared deviations over (n - ddof).
Tensor meanOf(const Tensor& x, const std::vector<int>& axes, bool keepdims);
Tensor varOf(const Tensor& x, const std::vector<int>& axes, bool keepdims, int64_t ddof);
// log(sum(exp(x))) computed stably.
Tensor logsumexpOf(const Tensor& x, const std::vector<int>& axes, bool keepdims);
// Index of the first maximum (minimum) along `axis`, or of the flattened tensor when
// axis < 0; i64. NaN counts as the maximum (and minimum), as in NumPy.
Tensor argReduce(bool isMax, const Tensor& x, int axis, bool keepdims, const char* fnName);
// Running sum along `axis` (of the flattened tensor when axis < 0); integers give i64.
Tensor cumsumOf(const Tensor& x, int axis);
// softmax / log_softmax along `axis`, subtracting the maximum first.
Tensor softmaxOf(const Tensor& x, int axis, bool log);
// The shape after reducing `axes`.
Shape reducedShape(const Shape& s, const std::vector<int>& axes, bool keepdims);

// ------------------------------------------------------------------ shapes
// A view with the new shape when the layout allows it, else a contiguous copy reshaped.
// `shape` must have x's number of elements.
Tensor reshapeTo(const Tensor& x, const Shape& shape);
// A view with axes permuted: result dim i is x's dim perm[i].
Tensor permute(const Tensor& x, const std::vector<int>& perm);
// A view of x broadcast to `shape` (raises ShapeMismatch with `op`).
Tensor broadcastTo(const Tensor& x, const Shape& shape, const char* op);
// Concatenation along an existing axis (dtypes promoted); raises ConcatShapes.
Tensor concatenate(const std::vector<Tensor>& xs, int axis, const char* fnName);

// ------------------------------------------------------------------ linear algebra
// NumPy matmul: 1-D operands are promoted to matrices and the added dimension removed
// afterwards; batch dimensions broadcast. f32 (and f16/bf16, computed in f32) goes
// through oneDNN; f64 and integers through loops of ours. Raises MatmulShapes.
Tensor matmul(const Tensor& a, const Tensor& b);

// ================================================================== implementation
namespace detail {
template <class D> inline D fromFloat(double v) {
  if constexpr (std::is_same_v<D, bool>) {
    return v != 0;
  } else if constexpr (std::is_floating_point_v<D>) {
    return (D)v;
  } else {
    // Saturating conversion; nan gives 0.
    if (!(v == v)) return 0;
    constexpr double lo = (double)std::numeric_limits<D>::min();
    constexpr double hi = (double)std::numeric_limits<D>::max();
    if (v <= lo) return std::numeric_limits<D>::min();
    if (v >= hi) return std::numeric_limits<D>::max();
    return (D)v;
  }
}
}  // namespace detail

template <class D, class S> inline D convertValue(S s) {
  if constexpr (std::is_same_v<S, Half>) {
    return convertValue<D>(halfToFloat(s.bits));
  } else if constexpr (std::is_same_v<S, BFloat16>) {
    return convertValue<D>(bf16ToFloat(s.bits));
  } else if constexpr (std::is_same_v<D, Half>) {
    return Half{floatToHalf(convertValue<float>(s))};
  } else if constexpr (std::is_same_v<D, BFloat16>) {
    return BFloat16{floatToBf16(convertValue<float>(s))};
  } else if constexpr (std::is_same_v<D, S>) {
    return s;
  } else if constexpr (std::is_floating_point_v<S>) {
    return detail::fromFloat<D>((double)s);
  } else if constexpr (std::is_same_v<D, bool>) {
    return s != 0;
  } else {
    return static_cast<D>(s);  // integer/bool -> integer (wraps) or -> float
  }
}

template <class F> decltype(auto) visitDType(DType dt, F&& f) {
  switch (dt) {
    case DType::Bool: return f(std::type_identity<bool>{});
    case DType::U8: return f(std::type_identity<uint8_t>{});
    case DType::U32: return f(std::type_identity<uint32_t>{});
    case DType::I32: return f(std::type_identity<int32_t>{});
    case DType::I64: return f(std::type_identity<int64_t>{});
    case DType::F16: return f(std::type_identity<Half>{});
    case DType::BF16: return f(std::type_identity<BFloat16>{});
    case DType::F32: return f(std::type_identity<float>{});
    case DType::F64: break;
  }
  return f(std::type_identity<double>{});
}

}  // namespace msl
