// Elementwise kernels: copies and casts, binary operations with broadcasting and JAX
// promotion, unary functions, rounding and where.
#include <cmath>
#include <optional>

#include "ir/Diagnostics.h"
#include "runtime/KernelLoops.h"
#include "runtime/Kernels.h"
#include "runtime/MathFns.h"

namespace msl {

// ================================================================== shapes
bool broadcastShapes(const Shape& a, const Shape& b, Shape* out) {
  size_t n = std::max(a.size(), b.size());
  out->resize(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da == db || db == 1) (*out)[i] = da;
    else if (da == 1) (*out)[i] = db;
    else return false;
  }
  return true;
}

Shape broadcastStrides(const Tensor& t, const Shape& shape) {
  Shape st(shape.size(), 0);
  size_t lead = shape.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i)
    st[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return st;
}

void raiseShapeMismatch(const Shape& a, const Shape& b, const char* op) {
  raise(DiagId::ShapeMismatch, SourceLoc{}, {shapeStr(a), shapeStr(b), op});
}

[[noreturn]] static void raiseDType(const char* op, DType dt) {
  raise(DiagId::DTypeError, SourceLoc{}, {op, dtypeName(dt)});
}

// ================================================================== copies and casts
template <class D, class S>
static void convertRows(const StridedLoop<2>& L, D* dst, const S* src) {
  forEachRowParallel(L, [&](const int64_t* off, int64_t n, const int64_t* st) {
    D* d = dst + off[0];
    const S* s = src + off[1];
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < n; ++i) d[i] = convertValue<D>(s[i]);
    } else if (st[0] == 1 && st[1] == 0) {
      D v = convertValue<D>(*s);
      for (int64_t i = 0; i < n; ++i) d[i] = v;
    } else {
      for (int64_t i = 0; i < n; ++i) d[i * st[0]] = convertValue<D>(s[i * st[1]]);
    }
  });
}

// Same-dtype copies move bits: one instantiation per element size.
template <size_t N> struct BitsOf;
template <> struct BitsOf<1> { using T = uint8_t; };
template <> struct BitsOf<2> { using T = uint16_t; };
template <> struct BitsOf<4> { using T = uint32_t; };
template <> struct BitsOf<8> { using T = uint64_t; };

void assignInto(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  Shape sst = broadcastStrides(src, dst.shape());
  StridedLoop<2> L = collapseLoop<2>(dst.shape(), {&dst.strides(), &sst});
  if (dst.dtype() == src.dtype()) {
    auto copyBits = [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      convertRows<T, T>(L, static_cast<T*>(dst.data()), static_cast<const T*>(src.data()));
    };
    switch (dtypeSize(dst.dtype())) {
      case 1: copyBits((BitsOf<1>::T*)nullptr); return;
      case 2: copyBits((BitsOf<2>::T*)nullptr); return;
      case 4: copyBits((BitsOf<4>::T*)nullptr); return;
      default: copyBits((BitsOf<8>::T*)nullptr); return;
    }
  }
  visitDType(dst.dtype(), [&](auto dtag) {
    using D = typename decltype(dtag)::type;
    visitDType(src.dtype(), [&](auto stag) {
      using S = typename decltype(stag)::type;
      convertRows<D, S>(L, static_cast<D*>(dst.data()), static_cast<const S*>(src.data()));
    });
  });
}

Tensor astype(const Tensor& t, DType dt) {
  if (t.dtype() == dt) return t;
  Tensor out = Tensor::empty(dt, t.shape());
  assignInto(out, t);
  return out;
}

template <class T> static T scalarAs(const Scalar& s) {
  return s.kind == WeakKind::Float ? convertValue<T>(s.f) : convertValue<T>(s.i);
}

Tensor scalarTensor(DType dt, const Scalar& s) {
  Tensor t = Tensor::empty(dt, {});
  visitDType(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    *t.ptr<T>() = scalarAs<T>(s);
  });
  return t;
}

// ================================================================== binary operations
const char* binOpSymbol(BinOp op) {
  static const char* const names[] = {"+", "-", "*", "/", "//", "%", "**", "maximum", "minimum",
                                      "&", "|", "^", "==", "!=", "<", "<=", ">", ">="};
  return names[(int)op];
}

namespace {

template <class T> T wrapAdd(T a, T b) { using U = std::make_unsigned_t<T>; return (T)(U)((U)a + (U)b); }
template <class T> T wrapSub(T a, T b) { using U = std::make_unsigned_t<T>; return (T)(U)((U)a - (U)b); }
template <class T> T wrapMul(T a, T b) { using U = std::make_unsigned_t<T>; return (T)(U)((U)a * (U)b); }

// Python's floor division and modulo on integers; division by zero gives 0 (as JAX).
template <class T> T intFloorDiv(T a, T b) {
  if (b == 0) return 0;
  if constexpr (std::is_signed_v<T>) {
    if (b == -1) return wrapSub<T>(0, a);  // avoids the trap on MIN / -1
    T q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
  } else {
    return a / b;
  }
}
template <class T> T intMod(T a, T b) {
  if (b == 0) return 0;
  if constexpr (std::is_signed_v<T>) {
    if (b == -1) return 0;
    T r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  } else {
    return a % b;
  }
}
// Integer power by squaring (wrapping). A negative exponent gives trunc(1 / a^|b|).
template <class T> T intPow(T a, T b) {
  if constexpr (std::is_signed_v<T>) {
    if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
  }
  T result = 1;
  while (b) {
    if (b & 1) result = wrapMul(result, a);
    b >>= 1;
    if (b) a = wrapMul(a, a);
  }
  return result;
}

}  // namespace

namespace {

// Which (op, compute type) pairs exist; binaryResultType rules out the others first.
template <BinOp op, class T> constexpr bool binSupported() {
  if constexpr (std::is_same_v<T, bool>)
    return op == BinOp::Add || op == BinOp::Mul || op == BinOp::Max || op == BinOp::Min ||
           op == BinOp::BitAnd || op == BinOp::BitOr || op == BinOp::BitXor || op >= BinOp::Eq;
  else if constexpr (std::is_floating_point_v<T>)
    return op != BinOp::BitAnd && op != BinOp::BitOr && op != BinOp::BitXor;
  else
    return op != BinOp::Div;
}

template <BinOp op, class T> inline auto applyBin(T a, T b) {
  if constexpr (op == BinOp::Eq) return a == b;
  else if constexpr (op == BinOp::Ne) return a != b;
  else if constexpr (op == BinOp::Lt) return a < b;
  else if constexpr (op == BinOp::Le) return a <= b;
  else if constexpr (op == BinOp::Gt) return a > b;
  else if constexpr (op == BinOp::Ge) return a >= b;
  else if constexpr (std::is_same_v<T, bool>) {
    if constexpr (op == BinOp::Add || op == BinOp::Max || op == BinOp::BitOr) return (bool)(a | b);
    else if constexpr (op == BinOp::Mul || op == BinOp::Min || op == BinOp::BitAnd) return (bool)(a & b);
    else return (bool)(a ^ b);  // BitXor
  } else if constexpr (std::is_floating_point_v<T>) {
    if constexpr (op == BinOp::Add) return a + b;
    else if constexpr (op == BinOp::Sub) return a - b;
    else if constexpr (op == BinOp::Mul) return a * b;
    else if constexpr (op == BinOp::Div) return a / b;
    else if constexpr (op == BinOp::FloorDiv) return fn::floorDiv(a, b);
    else if constexpr (op == BinOp::Mod) return fn::mod(a, b);
    else if constexpr (op == BinOp::Pow) return fn::powElem(a, b);
    else if constexpr (op == BinOp::Max) return (a > b || a != a) ? a : b;  // nan propagates
    else return (a < b || a != a) ? a : b;                                  // Min
  } else {
    if constexpr (op == BinOp::Add) return wrapAdd(a, b);
    else if constexpr (op == BinOp::Sub) return wrapSub(a, b);
    else if constexpr (op == BinOp::Mul) return wrapMul(a, b);
    else if constexpr (op == BinOp::FloorDiv) return intFloorDiv(a, b);
    else if constexpr (op == BinOp::Mod) return intMod(a, b);
    else if constexpr (op == BinOp::Pow) return intPow(a, b);
    else if constexpr (op == BinOp::Max) return a > b ? a : b;
    else if constexpr (op == BinOp::Min) return a < b ? a : b;
    else if constexpr (op == BinOp::BitAnd) return (T)(a & b);
    else if constexpr (op == BinOp::BitOr) return (T)(a | b);
    else return (T)(a ^ b);  // BitXor
  }
}

// out[i] = f(a[i * sa], b[i * sb]) for i < n, with sa, sb in {0, 1}: operands of the
// output's shape and contiguous, or scalars.
template <class R, class T, class F>
void binaryFlat(R* out, int64_t n, const T* a, int64_t sa, const T* b, int64_t sb, F f) {
  if (n == 1) {
    out[0] = f(a[0], b[0]);
    return;
  }
  parallelFor(n, 64, [&](int64_t lo, int64_t hi) {
    if (sa && sb) {
      for (int64_t i = lo; i < hi; ++i) out[i] = f(a[i], b[i]);
    } else if (sa) {
      T vb = *b;
      for (int64_t i = lo; i < hi; ++i) out[i] = f(a[i], vb);
    } else {
      T va = *a;
      for (int64_t i = lo; i < hi; ++i) out[i] = f(va, b[i]);
    }
  });
}

// out (contiguous, `shape`) = f(a, b) with a and b seen through broadcast strides.
template <class R, class T, class F>
void binaryStrided(R* out, const Shape& shape, const T* a, const Shape& sa, const T* b, const Shape& sb, F f) {
  if (numel(shape) == 0) return;
  Shape so = contiguousStrides(shape);
  StridedLoop<3> L = collapseLoop<3>(shape, {&so, &sa, &sb});
  forEachRowParallel(L, [&](const int64_t* off, int64_t len, const int64_t* st) {
    R* o = out + off[0];
    const T* pa = a + off[1];
    const T* pb = b + off[2];
    if (st[1] == 1 && st[2] == 1) {
      for (int64_t i = 0; i < len; ++i) o[i] = f(pa[i], pb[i]);
    } else if (st[1] == 1 && st[2] == 0) {
      T vb = *pb;
      for (int64_t i = 0; i < len; ++i) o[i] = f(pa[i], vb);
    } else if (st[1] == 0 && st[2] == 1) {
      T va = *pa;
      for (int64_t i = 0; i < len; ++i) o[i] = f(va, pb[i]);
    } else {
      for (int64_t i = 0; i < len; ++i) o[i] = f(pa[i * st[1]], pb[i * st[2]]);
    }
  });
}

// Calls run(f) with the elementwise function of `op` on compute type T.
template <class T, class Run>
void withBinaryFn(BinOp op, Run&& run) {
  switch (op) {
#define MSL_BIN_CASE(OP)                                                 \
  case BinOp::OP:                                                        \
    if constexpr (binSupported<BinOp::OP, T>()) {                        \
      run([](T x, T y) { return applyBin<BinOp::OP, T>(x, y); });        \
      return;                                                            \
    }                                                                    \
    break;
    MSL_BIN_CASE(Add) MSL_BIN_CASE(Sub) MSL_BIN_CASE(Mul) MSL_BIN_CASE(Div)
    MSL_BIN_CASE(FloorDiv) MSL_BIN_CASE(Mod) MSL_BIN_CASE(Pow) MSL_BIN_CASE(Max)
    MSL_BIN_CASE(Min) MSL_BIN_CASE(BitAnd) MSL_BIN_CASE(BitOr) MSL_BIN_CASE(BitXor)
    MSL_BIN_CASE(Eq) MSL_BIN_CASE(Ne) MSL_BIN_CASE(Lt) MSL_BIN_CASE(Le) MSL_BIN_CASE(Gt)
    MSL_BIN_CASE(Ge)
#undef MSL_BIN_CASE
  }
  internalError(std::string("binary kernel missing for ") + binOpSymbol(op));
}


// The operands' dtype promotion (both Python scalars: their default dtypes).
DType promotedType(const Operand& a, const Operand& b) {
  auto weakDefault = [](WeakKind k) {
    return k == WeakKind::Float ? kDefaultFloat : k == WeakKind::Int ? kDefaultInt : DType::Bool;
  };
  if (a.t && b.t) return promote(a.t->dtype(), b.t->dtype());
  if (a.t) return promoteWeak(a.t->dtype(), b.s.kind);
  if (b.t) return promoteWeak(b.t->dtype(), a.s.kind);
  return promote(weakDefault(a.s.kind), weakDefault(b.s.kind));
}

}  // namespace

DType binaryResultType(BinOp op, const Operand& a, const Operand& b) {
  DType p = promotedType(a, b);
  switch (op) {
    case BinOp::Div: return isFloat(p) ? p : kDefaultFloat;
    case BinOp::BitAnd: case BinOp::BitOr: case BinOp::BitXor:
      if (isFloat(p)) raiseDType(binOpSymbol(op), p);
      return p;
    case BinOp::Sub: case BinOp::FloorDiv: case BinOp::Mod: case BinOp::Pow:
      if (p == DType::Bool) raiseDType(binOpSymbol(op), p);
      return p;
    default: return isComparison(op) ? DType::Bool : p;
  }
}

// out = a op b computed in dtype ct over `shape` (sameShape: no broadcasting needed).
static void computeBinary(BinOp op, const Operand& a, const Operand& b, DType ct, bool sameShape, const Shape& shape,
                          void* outData) {
  // Inputs in the compute dtype (a conversion copies; the common case needs none).
  // std::optional: no Tensor is constructed on the common path.
  std::optional<Tensor> ca, cb;
  const Tensor *pa = a.t, *pb = b.t;
  // A float tensor times a mask of its shape (reverse mode's relu and max rules: c * (x > 0)):
  // the mask converted as it is read, with no converted copy; the same products.
  if (op == BinOp::Mul && sameShape && pa && pb && (ct == DType::F32 || ct == DType::F64) && pa->isContiguous() &&
      pb->isContiguous() && ((pa->dtype() == ct && pb->dtype() == DType::Bool) ||
                             (pb->dtype() == ct && pa->dtype() == DType::Bool))) {
    const Tensor& v = pa->dtype() == ct ? *pa : *pb;
    // (read as bytes, 0 or 1: the compiler vectorises the conversion of bytes, not of bools)
    const uint8_t* m = reinterpret_cast<const uint8_t*>((pa->dtype() == ct ? *pb : *pa).ptr<bool>());
    int64_t n = numel(shape);
    auto run = [&](auto* out, const auto* x) {
      using T = std::remove_const_t<std::remove_reference_t<decltype(*x)>>;
      parallelFor(n, 4096, [&](int64_t b0, int64_t b1) {
        for (int64_t i = b0; i < b1; ++i) out[i] = x[i] * (T)(int32_t)m[i];
      });
    };
    if (ct == DType::F32) run(static_cast<float*>(outData), v.ptr<float>());
    else run(static_cast<double*>(outData), v.ptr<double>());
    return;
  }
  // x ** 2 with a number for the exponent: x * x (fn::powElem), as the multiply's
  // vectorised loop.
  if (op == BinOp::Pow && !pb && pa && (ct == DType::F32 || ct == DType::F64) && scalarAs<double>(b.s) == 2.0)
    return computeBinary(BinOp::Mul, a, a, ct, true, shape, outData);
  if (pa && pa->dtype() != ct) pa = &ca.emplace(astype(*pa, ct));
  if (pb && pb->dtype() != ct) pb = &cb.emplace(astype(*pb, ct));
  int64_t n = numel(shape);
  bool flat = n == 1 || (sameShape && (!pa || pa->isContiguous()) && (!pb || pb->isContiguous()));
  visitCompute(ct, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T sa = pa ? T() : scalarAs<T>(a.s), sb = pb ? T() : scalarAs<T>(b.s);
    const T* xa = pa ? pa->ptr<T>() : &sa;
    const T* xb = pb ? pb->ptr<T>() : &sb;
    withBinaryFn<T>(op, [&](auto f) {
      using R = decltype(f(T(), T()));
      R* o = static_cast<R*>(outData);
      if (flat) {
        binaryFlat(o, n, xa, pa ? 1 : 0, xb, pb ? 1 : 0, f);
      } else {
        Shape zeros(shape.size(), 0);
        binaryStrided(o, shape, xa, pa ? broadcastStrides(*pa, shape) : zeros, xb, pb ? broadcastStrides(*pb, shape) : zeros, f);
      }
    });
  });
}

// Whether `o` is a Python int outside the range of the integer dtype `dt` it meets.
static bool intOutOfRange(const Operand& o, DType dt) {
  if (o.t || o.s.kind != WeakKind::Int) return false;
  if (dt == DType::U8) return o.s.i < 0 || o.s.i > 255;
  if (dt == DType::U32) return o.s.i < 0 || o.s.i > (int64_t)UINT32_MAX;
  if (dt == DType::I32) return o.s.i < INT32_MIN || o.s.i > INT32_MAX;
  return false;
}

// Raises ValueError when a Python int does not fit the integer dtype of the result (JAX
// refuses too; wrapping would be a silent wrong answer).
static void checkIntFits(const Operand& a, const Operand& b, DType dt, const char* opName) {
  for (const Operand* o : {&a, &b})
    if (intOutOfRange(*o, dt))
      raise(DiagId::ValueError, SourceLoc{},
            {"Python int " + std::to_string(o->s.i) + " is out of range for " + dtypeName(dt) + " in " + opName});
}

// The compute dtype of `a op b` with result dtype rt. Comparisons with a Python int out
// of the tensor dtype's range compare in i64, so that `u8_tensor < 300` is all true.
static DType binaryComputeType(BinOp op, const Operand& a, const Operand& b, DType rt) {
  if (!isComparison(op)) {
    checkIntFits(a, b, rt, binOpSymbol(op));
    return computeDType(rt);
  }
  DType p = promotedType(a, b);
  if (intOutOfRange(a, p) || intOutOfRange(b, p)) return DType::I64;
  return computeDType(p);
}

Tensor binary(BinOp op, const Operand& a, const Operand& b, const char* opName) {
  static const Shape kScalarShape;
  DType rt = binaryResultType(op, a, b);
  bool sameShape = !(a.t && b.t) || a.t->shape() == b.t->shape();
  Shape broadcast;
  if (!sameShape && !broadcastShapes(a.t->shape(), b.t->shape(), &broadcast))
    raiseShapeMismatch(a.t->shape(), b.t->shape(), opName ? opName : binOpSymbol(op));
  const Shape& shape = !sameShape ? broadcast : a.t ? a.t->shape() : b.t ? b.t->shape() : kScalarShape;
  bool direct = computeDType(rt) == rt;  // f16/bf16 results are computed in f32 first
  Tensor out = Tensor::empty(direct ? rt : DType::F32, shape);
  computeBinary(op, a, b, binaryComputeType(op, a, b, rt), sameShape, shape, out.data());
  if (direct) return out;
  return astype(out, rt);
}

bool binaryInPlace(BinOp op, const Operand& a, const Operand& b, Tensor& dst) {
  DType rt = binaryResultType(op, a, b);
  if (rt != dst.dtype() || computeDType(rt) != rt || !reusable(dst)) return false;
  bool sameShape = !(a.t && b.t) || a.t->shape() == b.t->shape();
  if (sameShape) {
    if ((a.t ? a.t->shape() : b.t->shape()) != dst.shape()) return false;
  } else {
    Shape broadcast;
    if (!broadcastShapes(a.t->shape(), b.t->shape(), &broadcast) || broadcast != dst.shape()) return false;
  }
  if (!dst.isContiguous()) return false;
  computeBinary(op, a, b, binaryComputeType(op, a, b, rt), sameShape, dst.shape(), dst.data());
  return true;
}

// ================================================================== unary operations
const char* unOpName(UnOp op) {
  static const char* const names[] = {"-", "~", "abs", "sign", "floor", "ceil", "relu", "exp", "log", "log1p",
                                      "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "gelu", "gelu",
                                      "softplus", "isnan", "isfinite"};
  return names[(int)op];
}

namespace {

// `row`, when given, computes contiguous spans (row(in, out, n)); it must compute f.
template <class R, class T, class F, class Row = std::nullptr_t>
void unaryLoop(R* out, const Tensor& x, F f, Row row = nullptr) {
  constexpr bool hasRow = !std::is_same_v<Row, std::nullptr_t>;
  int64_t n = x.numel();
  const T* a = x.ptr<T>();
  if (x.isContiguous()) {
    parallelFor(n, 64, [&](int64_t lo, int64_t hi) {
      if constexpr (hasRow) row(a + lo, out + lo, hi - lo);
      else for (int64_t i = lo; i < hi; ++i) out[i] = f(a[i]);
    });
    return;
  }
  Shape so = contiguousStrides(x.shape());
  StridedLoop<2> L = collapseLoop<2>(x.shape(), {&so, &x.strides()});
  forEachRowParallel(L, [&](const int64_t* off, int64_t len, const int64_t* st) {
    R* o = out + off[0];
    const T* p = a + off[1];
    if (st[1] == 1) {
      if constexpr (hasRow) row(p, o, len);
      else for (int64_t i = 0; i < len; ++i) o[i] = f(p[i]);
    } else {
      for (int64_t i = 0; i < len; ++i) o[i] = f(p[i * st[1]]);
    }
  });
}

template <UnOp op, class T> constexpr bool unSupported() {
  if constexpr (op >= UnOp::Exp && op <= UnOp::Softplus) return std::is_floating_point_v<T>;
  else if constexpr (op == UnOp::Neg) return !std::is_same_v<T, bool>;
  else if constexpr (op == UnOp::Invert) return !std::is_floating_point_v<T>;
  else return true;
}

template <UnOp op, class T> inline auto applyUn(T x) {
  if constexpr (op == UnOp::Neg) {
    if constexpr (std::is_floating_point_v<T>) return -x;
    else return wrapSub<T>(0, x);
  } else if constexpr (op == UnOp::Invert) {
    if constexpr (std::is_same_v<T, bool>) return !x;
    else return (T)~x;
  } else if constexpr (op == UnOp::Abs) {
    if constexpr (std::is_floating_point_v<T>) return std::fabs(x);
    else if constexpr (std::is_signed_v<T>) return x < 0 ? wrapSub<T>(0, x) : x;
    else return x;
  } else if constexpr (op == UnOp::Sign) {
    if constexpr (std::is_floating_point_v<T>) return x > 0 ? T(1) : x < 0 ? T(-1) : x;  // keeps 0, -0, nan
    else if constexpr (std::is_same_v<T, bool>) return x;
    else return (T)((x > 0) - (x < 0));
  } else if constexpr (op == UnOp::Floor) {
    if constexpr (std::is_floating_point_v<T>) return fn::floor(x);
    else return x;
  } else if constexpr (op == UnOp::Ceil) {
    if constexpr (std::is_floating_point_v<T>) return fn::ceil(x);
    else return x;
  } else if constexpr (op == UnOp::Relu) {
    if constexpr (std::is_same_v<T, bool>) return x;
    else return x < T(0) ? T(0) : x;  // max(x, 0): nan stays nan
  } else if constexpr (op == UnOp::Exp) return fn::exp(x);
  else if constexpr (op == UnOp::Log) return fn::log(x);
  else if constexpr (op == UnOp::Log1p) return fn::log1p(x);
  else if constexpr (op == UnOp::Sqrt) return fn::sqrt(x);
  else if constexpr (op == UnOp::Rsqrt) return fn::rsqrt(x);
  else if constexpr (op == UnOp::Sin) return fn::sin(x);
  else if constexpr (op == UnOp::Cos) return fn::cos(x);
  else if constexpr (op == UnOp::Tanh) return fn::tanh(x);
  else if constexpr (op == UnOp::Sigmoid) return fn::sigmoid(x);
  else if constexpr (op == UnOp::Gelu) return fn::gelu(x);
  else if constexpr (op == UnOp::GeluTanh) return fn::geluTanh(x);
  else if constexpr (op == UnOp::Softplus) return fn::softplus(x);
  else if constexpr (op == UnOp::IsNan) {
    if constexpr (std::is_floating_point_v<T>) return x != x;
    else return false;
  } else {  // IsFinite
    if constexpr (std::is_floating_point_v<T>) return std::isfinite(x);
    else return true;
  }
}

// Contiguous spans of f32 sigmoid and tanh-form gelu (fn::expForOnePlus: FMAs and bit
// operations): compiled for AVX2 and FMA as well, taken where the CPU has them, so that
// std::fma is one instruction and the loop vectorises. The same operations either way,
// so the same bits (and the same as fused kernels'); elsewhere std::fma is the C
// library's.
template <UnOp op> void floatRowPortable(const float* a, float* o, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = applyUn<op, float>(a[i]);
}
#if defined(__x86_64__) && defined(__GNUC__)
template <UnOp op> __attribute__((target("avx2,fma"))) void floatRowFma(const float* a, float* o, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = applyUn<op, float>(a[i]);
}
template <UnOp op> void floatRow(const float* a, float* o, int64_t n) {
  static const bool fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (fma) floatRowFma<op>(a, o, n);
  else floatRowPortable<op>(a, o, n);
}
#else
template <UnOp op> void floatRow(const float* a, float* o, int64_t n) { floatRowPortable<op>(a, o, n); }
#endif
template <UnOp op, class T> constexpr auto rowOf() {
  if constexpr (std::is_same_v<T, float> && (op == UnOp::Sigmoid || op == UnOp::GeluTanh)) return &floatRow<op>;
  else return nullptr;
}

template <class T>
void unaryTyped(UnOp op, void* out, const Tensor& x) {
  switch (op) {
#define MSL_UN_CASE(OP)                                                                  \
  case UnOp::OP:                                                                         \
    if constexpr (unSupported<UnOp::OP, T>()) {                                          \
      using R = decltype(applyUn<UnOp::OP, T>(T()));                                     \
      unaryLoop<R, T>(static_cast<R*>(out), x, [](T v) { return applyUn<UnOp::OP, T>(v); }, rowOf<UnOp::OP, T>()); \
      return;                                                                            \
    }                                                                                    \
    break;
    MSL_UN_CASE(Neg) MSL_UN_CASE(Invert) MSL_UN_CASE(Abs) MSL_UN_CASE(Sign) MSL_UN_CASE(Floor)
    MSL_UN_CASE(Ceil) MSL_UN_CASE(Relu) MSL_UN_CASE(Exp) MSL_UN_CASE(Log) MSL_UN_CASE(Log1p)
    MSL_UN_CASE(Sqrt) MSL_UN_CASE(Rsqrt) MSL_UN_CASE(Sin) MSL_UN_CASE(Cos) MSL_UN_CASE(Tanh)
    MSL_UN_CASE(Sigmoid) MSL_UN_CASE(Gelu) MSL_UN_CASE(GeluTanh) MSL_UN_CASE(Softplus)
    MSL_UN_CASE(IsNan) MSL_UN_CASE(IsFinite)
#undef MSL_UN_CASE
  }
  internalError(std::string("unary kernel missing for ") + unOpName(op));
}

}  // namespace

// The result dtype of op(x) for an input of dtype `in`; *identity when the result is the
// input itself (values are immutable, so no copy is needed). Raises DTypeError.
static DType unaryResultType(UnOp op, DType in, bool* identity) {
  *identity = false;
  if (op == UnOp::IsNan || op == UnOp::IsFinite) return DType::Bool;
  if (op >= UnOp::Exp) return isFloat(in) ? in : kDefaultFloat;
  if (op == UnOp::Neg && in == DType::Bool) raiseDType("-", in);
  if (op == UnOp::Invert && isFloat(in)) raiseDType("~", in);
  *identity = (!isFloat(in) && (op == UnOp::Floor || op == UnOp::Ceil)) ||
              (in == DType::Bool && op != UnOp::Invert) || (isUnsigned(in) && op == UnOp::Abs);
  return in;
}

// out = op(x) with result dtype rt (its compute dtype when 16-bit).
static void computeUnary(UnOp op, const Tensor& x, DType rt, void* outData) {
  DType ct = computeDType(op >= UnOp::Exp && op <= UnOp::Softplus ? rt : x.dtype());
  std::optional<Tensor> converted;
  const Tensor& tx = x.dtype() == ct ? x : converted.emplace(astype(x, ct));
  visitCompute(ct, [&](auto tag) {
    using T = typename decltype(tag)::type;
    unaryTyped<T>(op, outData, tx);
  });
}

Tensor unary(UnOp op, const Tensor& x) {
  bool identity;
  DType rt = unaryResultType(op, x.dtype(), &identity);
  if (identity) return x;
  bool direct = computeDType(rt) == rt;
  Tensor out = Tensor::empty(direct ? rt : DType::F32, x.shape());
  computeUnary(op, x, rt, out.data());
  if (direct) return out;
  return astype(out, rt);
}

bool unaryInPlace(UnOp op, Tensor& x) {
  bool identity;
  DType rt = unaryResultType(op, x.dtype(), &identity);
  if (identity) return true;
  if (rt != x.dtype() || computeDType(rt) != rt || !x.isContiguous() || !reusable(x)) return false;
  computeUnary(op, x, rt, x.data());
  return true;
}

Tensor roundTensor(const Tensor& x, int64_t decimals) {
  DType dt = x.dtype();
  if (dt == DType::Bool || (!isFloat(dt) && decimals >= 0)) return x;
  if (decimals > 400) return x;  // every float is already that precise
  if (decimals < -400) decimals = -400;
  Tensor tx = astype(x, computeDType(dt));
  Tensor out = Tensor::empty(tx.dtype(), x.shape());
  visitCompute(tx.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T>) {
      // NumPy: y = x * 10^d (or x / 10^-d), rint, then scale back.
      T scale = (T)std::pow(10.0, (double)(decimals >= 0 ? decimals : -decimals));
      if (decimals >= 0) unaryLoop<T, T>(out.ptr<T>(), tx, [scale](T v) { return fn::rint(v * scale) / scale; });
      else unaryLoop<T, T>(out.ptr<T>(), tx, [scale](T v) { return fn::rint(v / scale) * scale; });
    } else if constexpr (!std::is_same_v<T, bool>) {
      // Integers with decimals < 0: round half to even at a power of ten.
      double p = std::pow(10.0, (double)-decimals);
      unaryLoop<T, T>(out.ptr<T>(), tx, [p](T v) { return convertValue<T>(std::nearbyint((double)v / p) * p); });
    }
  });
  return astype(out, dt);
}

// ================================================================== where
Tensor where(const Tensor& cond, const Operand& x, const Operand& y) {
  DType rt = promotedType(x, y);
  checkIntFits(x, y, rt, "where");
  Shape shape = cond.shape();
  for (const Operand* o : {&x, &y})
    if (o->t && !broadcastShapes(Shape(shape), o->t->shape(), &shape))
      raiseShapeMismatch(cond.shape(), o->t->shape(), "where");
  Tensor c = astype(cond, DType::Bool);
  Tensor tx = x.t ? astype(*x.t, rt) : scalarTensor(rt, x.s);
  Tensor ty = y.t ? astype(*y.t, rt) : scalarTensor(rt, y.s);
  Tensor out = Tensor::empty(rt, shape);
  if (out.numel() == 0) return out;
  Shape so = contiguousStrides(shape), sc = broadcastStrides(c, shape);
  Shape sx = broadcastStrides(tx, shape), sy = broadcastStrides(ty, shape);
  StridedLoop<4> L = collapseLoop<4>(shape, {&so, &sc, &sx, &sy});
  visitDType(rt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = out.ptr<T>();
    const bool* pc = c.ptr<bool>();
    const T *px = tx.ptr<T>(), *py = ty.ptr<T>();
    forEachRowParallel(L, [&](const int64_t* off, int64_t n, const int64_t* st) {
      for (int64_t i = 0; i < n; ++i)
        o[off[0] + i] = pc[off[1] + i * st[1]] ? px[off[2] + i * st[2]] : py[off[3] + i * st[3]];
    });
  });
  return out;
}

}  // namespace msl
