// Kernels against naive references: every elementwise operation over random shapes,
// layouts (contiguous, transposed, strided), broadcasting, dtypes and edge values
// (empty, 0-d, nan, inf); casts; where; reductions; scans; softmax; matmul.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "runtime/MathFns.h"
#include "runtime_tensor_test_util.h"

namespace msl {
namespace {

using namespace msl::test;

constexpr DType kAll[] = {DType::Bool, DType::U8, DType::U32, DType::I32, DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64};

// Rounds a double to dtype dt's values (what storing it in a tensor of dt gives).
double roundTo(double v, DType dt) { return Tensor::scalar(dt, v).getF64(0); }

// ------------------------------------------------------------------------ binary
// The reference of `a op b` computed in compute dtype ct on two elements given as doubles
// (integers given exactly), for inputs already converted to ct.
double refBinary(BinOp op, double a, double b, DType ct) {
  if (isComparison(op)) {
    switch (op) {
      case BinOp::Eq: return a == b;
      case BinOp::Ne: return a != b;
      case BinOp::Lt: return a < b;
      case BinOp::Le: return a <= b;
      case BinOp::Gt: return a > b;
      default: return a >= b;
    }
  }
  if (ct == DType::Bool) {
    bool x = a != 0, y = b != 0;
    switch (op) {
      case BinOp::Add: case BinOp::Max: case BinOp::BitOr: return x || y;
      case BinOp::Mul: case BinOp::Min: case BinOp::BitAnd: return x && y;
      default: return x != y;  // BitXor
    }
  }
  if (!isFloat(ct)) {
    // Exact in 128 bits, then wrapped to the dtype.
    __int128 x = (__int128)(int64_t)a, y = (__int128)(int64_t)b, r = 0;
    switch (op) {
      case BinOp::Add: r = x + y; break;
      case BinOp::Sub: r = x - y; break;
      case BinOp::Mul: r = x * y; break;
      case BinOp::FloorDiv:
        if (y == 0) return 0;
        r = x / y;
        if (r * y != x && ((x < 0) != (y < 0))) --r;
        break;
      case BinOp::Mod:
        if (y == 0) return 0;
        r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        break;
      case BinOp::Pow: {
        if (y < 0) return x == 1 ? 1 : x == -1 ? ((y & 1) ? -1 : 1) : 0;
        uint64_t acc = 1;
        for (int64_t i = 0; i < (int64_t)y; ++i) acc *= (uint64_t)(int64_t)x;
        r = (int64_t)acc;
        break;
      }
      case BinOp::Max: r = x > y ? x : y; break;
      case BinOp::Min: r = x < y ? x : y; break;
      case BinOp::BitAnd: r = x & y; break;
      case BinOp::BitOr: r = x | y; break;
      default: r = x ^ y; break;
    }
    return (double)Tensor::scalarInt(ct, (int64_t)(uint64_t)r).getI64(0);
  }
  // Floats: + - * / must be correctly rounded: one IEEE operation for f64, and for f32 a
  // long double result rounded once more (64 bits are enough to round twice safely).
  long double x = a, y = b, r;
  if (ct == DType::F64 && op <= BinOp::Div) {
    switch (op) {
      case BinOp::Add: return a + b;
      case BinOp::Sub: return a - b;
      case BinOp::Mul: return a * b;
      default: return a / b;
    }
  }
  switch (op) {
    case BinOp::Add: r = x + y; break;
    case BinOp::Sub: r = x - y; break;
    case BinOp::Mul: r = x * y; break;
    case BinOp::Div: r = x / y; break;
    case BinOp::FloorDiv: r = y == 0 ? x / y : std::floor(x / y); break;
    case BinOp::Mod:  // the exact remainder (fmod is exact), moved to the divisor's sign
      r = std::fmod(x, y);
      if (y == 0) r = NAN;
      else if (r == 0) r = std::copysign(0.0L, y);
      else if ((r < 0) != (y < 0)) r += y;
      break;
    case BinOp::Pow: r = ct == DType::F64 ? std::pow(a, b) : std::pow((float)a, (float)b); break;
    case BinOp::Max: r = (a != a || b != b) ? NAN : std::max(a, b); break;
    default: r = (a != a || b != b) ? NAN : std::min(a, b); break;  // Min
  }
  return roundTo((double)r, ct);
}

DType computeOf(DType d) { return d == DType::F16 || d == DType::BF16 ? DType::F32 : d; }

// One random case of `op`; returns a description on mismatch.
void checkBinaryCase(Rng& r, BinOp op, DType da, DType db, bool scalarB) {
  Shape sa = r.shape();
  Shape sb = r.coin(0.7) ? broadcastPartner(r, sa) : sa;
  if (r.coin(0.5)) std::swap(sa, sb);
  bool nice = op == BinOp::FloorDiv || op == BinOp::Mod || op == BinOp::Pow;  // no specials
  Tensor a = r.tensor(da, sa, !nice);
  Tensor b = r.tensor(db, sb, !nice);
  if (op == BinOp::Pow && !isFloat(db)) b = astype(binary(BinOp::Mod, b, Scalar::integer(5)), db);
  Scalar s;
  if (scalarB) {
    double v = r.value(db, false);
    s = isFloat(db) ? Scalar::real(v) : db == DType::Bool ? Scalar::boolean(v != 0) : Scalar::integer((int64_t)v);
    if (op == BinOp::Pow && !isFloat(db)) s.i = r.uniformInt(0, 4);
  }
  Operand ob = scalarB ? Operand(s) : Operand(b);
  DType p = scalarB ? promoteWeak(da, s.kind) : promote(da, db);
  bool bad = ((op == BinOp::BitAnd || op == BinOp::BitOr || op == BinOp::BitXor) && isFloat(p)) ||
             ((op == BinOp::Sub || op == BinOp::FloorDiv || op == BinOp::Mod || op == BinOp::Pow) && p == DType::Bool);
  DType rt = isComparison(op) ? DType::Bool : op == BinOp::Div && !isFloat(p) ? DType::F32 : p;
  // A Python int outside the range of an u8/i32 result is an error; comparisons with it
  // are computed in i64.
  DType rangeT = isComparison(op) ? p : rt;
  bool outOfRange = scalarB && s.kind == WeakKind::Int &&
                    ((rangeT == DType::U8 && (s.i < 0 || s.i > 255)) || (rangeT == DType::U32 && (s.i < 0 || s.i > (int64_t)UINT32_MAX)) || (rangeT == DType::I32 && (s.i < INT32_MIN || s.i > INT32_MAX)));
  if (bad || (outOfRange && !isComparison(op))) {
    EXPECT_NE(errorOf([&] { binary(op, a, ob); }), "") << binOpSymbol(op) << dtypeName(p);
    return;
  }
  Tensor out = binary(op, a, ob);
  DType ct = outOfRange ? DType::I64 : computeOf(isComparison(op) ? p : rt);
  ASSERT_EQ(out.dtype(), rt) << binOpSymbol(op) << " " << dtypeName(da) << " " << dtypeName(db);
  Shape expect;
  if (scalarB) expect = sa;
  else ASSERT_TRUE(broadcastShapes(sa, sb, &expect));
  ASSERT_EQ(out.shape(), expect);
  ASSERT_TRUE(out.isContiguous());
  for (int64_t i = 0; i < out.numel(); ++i) {
    auto elem = [&](const Tensor& t, int64_t flat) {
      return isFloat(t.dtype()) ? roundTo(t.getF64(flat), ct) : isFloat(ct) ? roundTo((double)t.getI64(flat), ct)
                                                                            : (double)Tensor::scalarInt(ct, t.getI64(flat)).getI64(0);
    };
    double x = elem(a, broadcastFlat(sa, expect, i));
    double y = scalarB ? (s.kind == WeakKind::Float ? roundTo(s.f, ct) : isFloat(ct) ? roundTo((double)s.i, ct)
                                                                                     : (double)Tensor::scalarInt(ct, s.i).getI64(0))
                       : elem(b, broadcastFlat(sb, expect, i));
    double want = roundTo(refBinary(op, x, y, ct), rt);
    double got = isFloat(rt) ? out.getF64(i) : (double)out.getI64(i);
    bool ok = sameDouble(got, want) || (op == BinOp::Pow && std::fabs(got - want) <= 1e-6 * std::fabs(want)) ||
              (got == 0 && want == 0 && op != BinOp::Mod && op != BinOp::FloorDiv);
    ASSERT_TRUE(ok) << binOpSymbol(op) << " " << dtypeName(da) << shapeStr(sa) << " " << dtypeName(db) << shapeStr(sb)
                    << (scalarB ? " (scalar)" : "") << " at " << i << ": " << x << " op " << y << " = " << got
                    << ", want " << want;
  }
}

TEST(Kernels, BinaryMatchesReference) {
  Rng r(7);
  const BinOp ops[] = {BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div, BinOp::FloorDiv, BinOp::Mod,
                       BinOp::Pow, BinOp::Max, BinOp::Min, BinOp::BitAnd, BinOp::BitOr, BinOp::BitXor,
                       BinOp::Eq, BinOp::Ne, BinOp::Lt, BinOp::Le, BinOp::Gt, BinOp::Ge};
  for (BinOp op : ops)
    for (int c = 0; c < 60; ++c) {
      DType da = kAll[r.uniformInt(0, 7)], db = kAll[r.uniformInt(0, 7)];
      checkBinaryCase(r, op, da, db, r.coin(0.3));
      if (HasFatalFailure()) return;
    }
}

TEST(Kernels, BinaryPromotionExamples) {
  Tensor f32 = makeT(DType::F32, {2}, {1, 2}), u8 = makeT(DType::U8, {2}, {51, 255}), i64 = makeT(DType::I64, {2}, {1, 3});
  EXPECT_EQ(binary(BinOp::Mul, f32, Scalar::real(2.0)).dtype(), DType::F32);
  Tensor scaled = binary(BinOp::Div, u8, Scalar::real(255.0));
  EXPECT_EQ(scaled.dtype(), DType::F32);
  EXPECT_EQ(scaled.getF64(1), 1.0);
  EXPECT_EQ(binary(BinOp::Mul, i64, Scalar::real(0.5)).dtype(), DType::F32);
  EXPECT_EQ(binary(BinOp::Div, i64, i64).dtype(), DType::F32);
  EXPECT_EQ(binary(BinOp::Add, u8, Scalar::integer(1)).getI64(1), 0);  // u8 wraps
  EXPECT_EQ(errorOf([&] { binary(BinOp::Add, u8, Scalar::integer(300)); }), "Python int 300 is out of range for u8 in +");
  EXPECT_EQ(binary(BinOp::Lt, u8, Scalar::integer(300)).getI64(1), 1);  // compared in i64
  EXPECT_EQ(binary(BinOp::Gt, u8, Scalar::integer(-1)).getI64(0), 1);
  EXPECT_EQ(binary(BinOp::Add, makeT(DType::Bool, {1}, {1}), Scalar::integer(1)).dtype(), DType::I64);
  EXPECT_EQ(binary(BinOp::Lt, i64, Scalar::real(2.5)).dtype(), DType::Bool);
  EXPECT_EQ(binary(BinOp::FloorDiv, i64, Scalar::integer(0)).getI64(0), 0);  // as JAX
  EXPECT_EQ(errorOf([&] { binary(BinOp::Add, makeT(DType::F32, {2, 3}, {0, 0, 0, 0, 0, 0}), makeT(DType::F32, {2}, {0, 0})); }),
            "shapes (2, 3) and (2,) cannot be broadcast together for +");
  EXPECT_EQ(errorOf([&] { binary(BinOp::BitAnd, f32, f32); }), "&: unsupported dtype f32");
  EXPECT_EQ(errorOf([&] { binary(BinOp::Sub, makeT(DType::Bool, {1}, {1}), makeT(DType::Bool, {1}, {1})); }),
            "-: unsupported dtype bool");
}

TEST(Kernels, InPlaceVariants) {
  Tensor x = makeT(DType::F32, {3}, {1, 2, 3});
  const void* data = x.data();
  ASSERT_TRUE(binaryInPlace(BinOp::Mul, x, Scalar::real(2.0), x));
  EXPECT_EQ(x.data(), data);
  EXPECT_EQ(x.getF64(2), 6.0);
  ASSERT_TRUE(binaryInPlace(BinOp::Add, makeT(DType::F32, {1}, {1}), x, x));  // broadcast operand
  EXPECT_EQ(x.getF64(2), 7.0);
  Tensor shared = x;  // now the buffer has two owners: never written
  EXPECT_FALSE(binaryInPlace(BinOp::Add, x, Scalar::real(1.0), x));
  EXPECT_EQ(shared.getF64(0), 3.0);
  // A result of another dtype or shape does not fit.
  Tensor w = makeT(DType::F32, {1}, {1});
  EXPECT_FALSE(binaryInPlace(BinOp::Add, w, makeT(DType::F32, {2}, {1, 2}), w));
  Tensor i = makeT(DType::I64, {2}, {1, 2});
  EXPECT_FALSE(binaryInPlace(BinOp::Div, i, i, i));
  EXPECT_FALSE(binaryInPlace(BinOp::Lt, i, i, i));
  Tensor h = makeT(DType::F16, {2}, {1, 2});
  EXPECT_FALSE(binaryInPlace(BinOp::Add, h, h, h));  // 16-bit floats compute in f32
  Tensor v = permute(makeT(DType::F32, {2, 2}, {1, 2, 3, 4}), {1, 0});
  EXPECT_FALSE(binaryInPlace(BinOp::Add, v, v, v));  // not contiguous
  EXPECT_EQ(errorOf([&] { binaryInPlace(BinOp::BitAnd, w, w, w); }), "&: unsupported dtype f32");
  Tensor u = makeT(DType::F32, {2}, {4, 9});
  data = u.data();
  ASSERT_TRUE(unaryInPlace(UnOp::Sqrt, u));
  EXPECT_EQ(u.data(), data);
  EXPECT_EQ(u.getF64(1), 3.0);
  Tensor k = makeT(DType::I64, {1}, {4});
  EXPECT_FALSE(unaryInPlace(UnOp::Exp, k));  // gives f32
  EXPECT_TRUE(unaryInPlace(UnOp::Floor, k));  // identity
  EXPECT_EQ(k.getI64(0), 4);
}

// ------------------------------------------------------------------------ unary
double refUnary(UnOp op, double x, DType ct) {
  bool fl = isFloat(ct);
  switch (op) {
    case UnOp::Neg: return fl ? -x : (double)Tensor::scalarInt(ct, -(int64_t)x).getI64(0);
    case UnOp::Invert: return ct == DType::Bool ? (double)(x == 0) : (double)Tensor::scalarInt(ct, ~(int64_t)x).getI64(0);
    case UnOp::Abs: return fl ? std::fabs(x) : (double)Tensor::scalarInt(ct, x < 0 ? -(int64_t)x : (int64_t)x).getI64(0);
    case UnOp::Sign: return x != x ? x : x > 0 ? 1 : x < 0 ? -1 : x;
    case UnOp::Floor: return std::floor(x);
    case UnOp::Ceil: return std::ceil(x);
    case UnOp::Relu: return x < 0 ? 0 : x;
    case UnOp::Exp: return std::exp(x);
    case UnOp::Log: return std::log(x);
    case UnOp::Log1p: return std::log1p(x);
    case UnOp::Sqrt: return std::sqrt(x);
    case UnOp::Rsqrt: return 1 / std::sqrt(x);
    case UnOp::Sin: return std::sin(x);
    case UnOp::Cos: return std::cos(x);
    case UnOp::Tanh: return std::tanh(x);
    case UnOp::Sigmoid: return 1 / (1 + std::exp(-x));
    case UnOp::Gelu: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case UnOp::GeluTanh: return x / (1 + std::exp(-2 * std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case UnOp::Softplus: return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0);
    case UnOp::IsNan: return x != x;
    default: return std::isfinite(x);  // IsFinite
  }
}

TEST(Kernels, UnaryMatchesReference) {
  Rng r(11);
  for (int op = 0; op <= (int)UnOp::IsFinite; ++op)
    for (int c = 0; c < 40; ++c) {
      DType dt = kAll[r.uniformInt(0, 7)];
      Tensor x = r.tensor(dt, r.shape());
      UnOp u = (UnOp)op;
      bool floatFn = u >= UnOp::Exp && u <= UnOp::Softplus;
      if ((u == UnOp::Neg && dt == DType::Bool) || (u == UnOp::Invert && isFloat(dt))) {
        EXPECT_NE(errorOf([&] { unary(u, x); }), "");
        continue;
      }
      Tensor out = unary(u, x);
      DType rt = u >= UnOp::IsNan ? DType::Bool : floatFn && !isFloat(dt) ? DType::F32 : dt;
      ASSERT_EQ(out.dtype(), rt) << unOpName(u) << " " << dtypeName(dt);
      ASSERT_EQ(out.shape(), x.shape());
      for (int64_t i = 0; i < x.numel(); ++i) {
        double v = isFloat(dt) ? x.getF64(i) : (double)x.getI64(i);
        double want = roundTo(refUnary(u, v, computeOf(dt)), rt), got = out.getF64(i);
        bool ok = sameDouble(got, want) || (floatFn && std::fabs(got - want) <= 1e-5 * std::fabs(want) + 1e-30) ||
                  (dt == DType::F16 || dt == DType::BF16 ? std::fabs(got - want) <= 1e-2 * std::fabs(want) : false) ||
                  (u == UnOp::Sign && got == 0 && want == 0);
        ASSERT_TRUE(ok) << unOpName(u) << " " << dtypeName(dt) << " of " << v << " = " << got << ", want " << want;
      }
    }
}

TEST(Kernels, UnaryEdges) {
  EXPECT_EQ(unary(UnOp::Relu, makeT(DType::F32, {1}, {NAN})).getF64(0) != 0, true);  // nan stays nan
  EXPECT_EQ(unary(UnOp::Exp, makeT(DType::I64, {}, {0})).dtype(), DType::F32);
  EXPECT_EQ(unary(UnOp::Floor, makeT(DType::I32, {1}, {3})).dtype(), DType::I32);
  EXPECT_EQ(unary(UnOp::Sigmoid, makeT(DType::F32, {2}, {-1000, 1000})).getF64(0), 0.0);
  EXPECT_EQ(unary(UnOp::Softplus, makeT(DType::F32, {1}, {1000})).getF64(0), 1000.0);
  EXPECT_EQ(unary(UnOp::Exp, Tensor::empty(DType::F32, {0, 3})).shape(), (Shape{0, 3}));
  Tensor h = makeT(DType::F16, {2}, {0.5, 2});
  EXPECT_EQ(unary(UnOp::Sqrt, h).dtype(), DType::F16);
  EXPECT_EQ(unary(UnOp::Sqrt, h).getF64(1), (double)halfToFloat(floatToHalf(std::sqrt(2.0f))));
}

// f32 sigmoid and tanh-form gelu run on msl's own exp (fn::expForOnePlus, shared with
// fused kernels): its accuracy against the C library, the functions' against double
// references, and eager's vector loop (AVX2 + FMA where the CPU has them) against the
// scalar function bit for bit, over contiguous and strided tensors.
TEST(Kernels, SigmoidAndGeluTanhF32) {
  auto ulps = [](float a, float b) {
    int32_t ia, ib;
    std::memcpy(&ia, &a, 4);
    std::memcpy(&ib, &b, 4);
    if (ia < 0) ia = INT32_MIN - ia;
    if (ib < 0) ib = INT32_MIN - ib;
    return std::fabs((double)ia - (double)ib);
  };
  auto ulpOf = [](double ref) {
    float f = (float)ref;
    return std::fabs((double)std::nextafter(f, INFINITY) - (double)f);
  };
  double worstExp = 0, worstSig = 0;
  for (int i = 0; i <= 400000; ++i) {
    float x = (float)(-86.5 + 175.5 * i / 400000.0);
    worstExp = std::max(worstExp, ulps(fn::expForOnePlus(x), std::exp(x)));
    float y = (float)(-80.0 + 160.0 * i / 400000.0);
    double ref = 1.0 / (1.0 + std::exp(-(double)y));
    if (ref > 1e-37) worstSig = std::max(worstSig, std::fabs((double)fn::sigmoid(y) - ref) / ulpOf(ref));
    // gelu over [-10, 10]: e^u's relative error grows with |u| (the rounding of u
    // itself, |u| ulp), so the bound is relative and scaled by 1 + |u|.
    float xg = y / 8.0f;
    double xd = xg, u = -2.0 * std::sqrt(2.0 / M_PI) * (xd + 0.044715 * xd * xd * xd);
    double refg = xd / (1.0 + std::exp(u));
    ASSERT_LE(std::fabs((double)fn::geluTanh(xg) - refg), 4 * 0x1p-24 * (1 + std::fabs(u)) * std::fabs(refg))
        << "gelu of " << xg;
  }
  EXPECT_LE(worstExp, 1);  // docs/fusion.md
  EXPECT_LE(worstSig, 3);  // 2.46 measured, as with the C library's expf
  EXPECT_EQ(fn::expForOnePlus(INFINITY), INFINITY);
  EXPECT_TRUE(std::isnan(fn::expForOnePlus(NAN)));
  EXPECT_EQ(fn::sigmoid(-INFINITY), 0.0f);
  EXPECT_EQ(fn::sigmoid(INFINITY), 1.0f);
  EXPECT_EQ(fn::sigmoid(-200.0f), 0.0f);
  EXPECT_EQ(fn::geluTanh(INFINITY), INFINITY);
  EXPECT_EQ(fn::geluTanh(-30.0f), -0.0f);

  // Eager kernels against the scalar function: random values over a wide range and the
  // edges (clamps, nan, inf, subnormals), 1027 elements (vector steps and a remainder).
  Rng r(5);
  std::vector<double> vals;
  for (int i = 0; i < 1000; ++i) vals.push_back(r.uniform(-120, 120));
  for (double e : {(double)NAN, (double)INFINITY, -(double)INFINITY, 0.0, -0.0, 1e-45, -1e-45, 86.5, -86.5, 89.0,
                   89.01, -89.0, -86.51, 88.72, -88.72, 3e38, -3e38, 1e-7, -1e-7, 5.4, -5.4, -9.92322, 15.0,
                   -15.0, 0.5, -0.5, 103.0})
    vals.push_back(e);
  Tensor x = makeT(DType::F32, {(int64_t)vals.size()}, vals);
  for (UnOp op : {UnOp::Sigmoid, UnOp::GeluTanh}) {
    auto scalar = [&](float v) { return op == UnOp::Sigmoid ? fn::sigmoid(v) : fn::geluTanh(v); };
    Tensor out = unary(op, x);
    for (int64_t i = 0; i < x.numel(); ++i) {
      float want = scalar(x.ptr<float>()[i]), got = out.ptr<float>()[i];
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << unOpName(op) << " of " << x.ptr<float>()[i];
      } else {
        EXPECT_EQ(std::memcmp(&want, &got, 4), 0) << unOpName(op) << " of " << x.ptr<float>()[i] << ": " << got << " vs " << want;
      }
    }
    // A strided view (every other element): the strided loop, the same bits.
    Tensor s = unary(op, x.view({x.numel() / 2}, {2}, 0));
    for (int64_t i = 0; i < s.numel(); ++i) {
      float want = scalar(x.ptr<float>()[2 * i]), got = s.ptr<float>()[i];
      if (!std::isnan(want)) {
        EXPECT_EQ(std::memcmp(&want, &got, 4), 0) << unOpName(op);
      }
    }
  }
}

TEST(Kernels, RoundHalfToEven) {
  Tensor x = makeT(DType::F64, {6}, {0.5, 1.5, 2.5, -0.5, 1.25, 12345});
  Tensor r0 = roundTensor(x, 0), r1 = roundTensor(x, 1), rm = roundTensor(x, -2);
  const double e0[] = {0, 2, 2, -0.0, 1, 12345}, e1[] = {0.5, 1.5, 2.5, -0.5, 1.2, 12345}, em[] = {0, 0, 0, -0.0, 0, 12300};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(r0.getF64(i), e0[i]);
    EXPECT_EQ(r1.getF64(i), e1[i]);
    EXPECT_EQ(rm.getF64(i), em[i]);
  }
  EXPECT_EQ(roundTensor(makeT(DType::I64, {2}, {250, 351}), -2).getI64(0), 200);
  EXPECT_EQ(roundTensor(makeT(DType::I64, {2}, {250, 351}), -2).getI64(1), 400);
}

// ------------------------------------------------------------------------ casts, where
TEST(Kernels, AstypeAllPairs) {
  Rng r(3);
  for (DType from : kAll)
    for (DType to : kAll) {
      Tensor x = r.tensor(from, r.shape(3, 4));
      Tensor y = astype(x, to);
      ASSERT_EQ(y.dtype(), to);
      ASSERT_EQ(y.shape(), x.shape());
      for (int64_t i = 0; i < x.numel(); ++i) {
        double v = isFloat(from) ? x.getF64(i) : (double)x.getI64(i);
        double want;
        if (to == DType::Bool) want = v != 0;
        else if (isFloat(to)) want = roundTo(isFloat(from) ? v : (double)x.getI64(i), to);
        else if (isFloat(from)) want = v != v ? 0 : (double)Tensor::scalar(to, v).getI64(0);
        else want = (double)Tensor::scalarInt(to, x.getI64(i)).getI64(0);
        double got = isFloat(to) ? y.getF64(i) : (double)y.getI64(i);
        ASSERT_TRUE(sameDouble(got, want) || (to == DType::F16 && from == DType::F64))
            << dtypeName(from) << "->" << dtypeName(to) << " " << v << ": " << got << " vs " << want;
      }
    }
  // Saturation and wrapping.
  EXPECT_EQ(astype(makeT(DType::F32, {3}, {300, -5, NAN}), DType::U8).getI64(0), 255);
  EXPECT_EQ(astype(makeT(DType::F32, {3}, {300, -5, NAN}), DType::U8).getI64(1), 0);
  EXPECT_EQ(astype(makeT(DType::F32, {3}, {300, -5, NAN}), DType::U8).getI64(2), 0);
  EXPECT_EQ(astype(makeT(DType::I64, {1}, {257}), DType::U8).getI64(0), 1);
  EXPECT_EQ(astype(makeT(DType::F64, {1}, {1e300}), DType::I64).getI64(0), INT64_MAX);
}

TEST(Kernels, WhereBroadcasts) {
  Rng r(5);
  for (int c = 0; c < 100; ++c) {
    Shape s = r.shape();
    Shape sc = broadcastPartner(r, s), sx = broadcastPartner(r, s);
    DType dt = kAll[r.uniformInt(0, 7)];
    Tensor cond = r.tensor(DType::Bool, sc), x = r.tensor(dt, sx), y = r.tensor(dt, s);
    Tensor out = where(cond, x, y);
    Shape expect;
    broadcastShapes(sc, sx, &expect);
    broadcastShapes(Shape(expect), s, &expect);
    ASSERT_EQ(out.shape(), expect);
    for (int64_t i = 0; i < out.numel(); ++i) {
      bool cv = cond.getI64(broadcastFlat(sc, expect, i)) != 0;
      double want = cv ? x.getF64(broadcastFlat(sx, expect, i)) : y.getF64(broadcastFlat(s, expect, i));
      ASSERT_TRUE(sameDouble(out.getF64(i), want));
    }
  }
  Tensor w = where(makeT(DType::Bool, {2}, {1, 0}), makeT(DType::I64, {2}, {1, 2}), Scalar::real(0.5));
  EXPECT_EQ(w.dtype(), DType::F32);
  EXPECT_EQ(w.getF64(1), 0.5);
}

// ------------------------------------------------------------------------ reductions
std::vector<int> randomAxes(Rng& r, int ndim) {
  std::vector<int> axes;
  for (int d = 0; d < ndim; ++d)
    if (r.coin()) axes.push_back(d);
  return axes;
}

// The output flat index of input flat index `flat` when reducing `axes`.
int64_t reducedIndex(const Shape& s, const std::vector<int>& axes, int64_t flat) {
  std::vector<int64_t> idx(s.size());
  for (int d = (int)s.size() - 1; d >= 0; --d) {
    idx[d] = flat % s[d];
    flat /= s[d];
  }
  int64_t o = 0;
  for (int d = 0; d < (int)s.size(); ++d)
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) o = o * s[d] + idx[d];
  return o;
}

TEST(Kernels, ReductionsMatchReference) {
  Rng r(13);
  const RedOp ops[] = {RedOp::Sum, RedOp::Prod, RedOp::Max, RedOp::Min, RedOp::All, RedOp::Any};
  for (RedOp op : ops)
    for (int c = 0; c < 80; ++c) {
      DType dt = kAll[r.uniformInt(0, 7)];
      Shape s = r.shape(4, 6);
      Tensor x = r.tensor(dt, s, r.coin(0.3));
      std::vector<int> axes = randomAxes(r, x.ndim());
      bool keep = r.coin();
      int64_t count = 1;
      for (int a : axes) count *= s[a];
      if ((op == RedOp::Max || op == RedOp::Min) && count == 0) {
        EXPECT_NE(errorOf([&] { reduce(op, x, axes, keep, "max"); }), "");
        continue;
      }
      Tensor out = reduce(op, x, axes, keep, "r");
      DType rt = op == RedOp::All || op == RedOp::Any ? DType::Bool
                 : (op == RedOp::Sum || op == RedOp::Prod) && !isFloat(dt) ? DType::I64 : dt;
      ASSERT_EQ(out.dtype(), rt);
      ASSERT_EQ(out.shape(), reducedShape(s, axes, keep));
      int64_t n = out.numel();
      std::vector<long double> acc((size_t)n, op == RedOp::Prod || op == RedOp::All ? 1 : 0);
      std::vector<bool> seen((size_t)n, false);
      std::vector<int64_t> iacc((size_t)n, op == RedOp::Prod ? 1 : 0);
      for (int64_t i = 0; i < x.numel(); ++i) {
        int64_t o = reducedIndex(s, axes, i);
        double v = isFloat(dt) ? x.getF64(i) : (double)x.getI64(i);
        switch (op) {
          case RedOp::Sum: acc[o] += v; iacc[o] = (int64_t)((uint64_t)iacc[o] + (uint64_t)x.getI64(i)); break;
          case RedOp::Prod: acc[o] *= v; iacc[o] = (int64_t)((uint64_t)iacc[o] * (uint64_t)x.getI64(i)); break;
          case RedOp::Max: acc[o] = !seen[o] || v != v || acc[o] != acc[o] ? (acc[o] != acc[o] && seen[o] ? acc[o] : (seen[o] && v < acc[o] ? acc[o] : v)) : std::max<long double>(acc[o], v); break;
          case RedOp::Min: acc[o] = !seen[o] || v != v || acc[o] != acc[o] ? (acc[o] != acc[o] && seen[o] ? acc[o] : (seen[o] && v > acc[o] ? acc[o] : v)) : std::min<long double>(acc[o], v); break;
          case RedOp::All: acc[o] = acc[o] != 0 && v != 0; break;
          case RedOp::Any: acc[o] = acc[o] != 0 || v != 0; break;
        }
        seen[o] = true;
      }
      for (int64_t o = 0; o < n; ++o) {
        double got = isFloat(rt) ? out.getF64(o) : (double)out.getI64(o);
        double want = !isFloat(dt) && (op == RedOp::Sum || op == RedOp::Prod) ? (double)iacc[o] : (double)acc[o];
        bool ok;
        if (isFloat(dt) && (op == RedOp::Sum || op == RedOp::Prod)) {
          double tol = (dt == DType::F64 ? 1e-12 : dt == DType::F32 ? 1e-5 : 5e-2) * (std::fabs(want) + count);
          ok = sameDouble(got, roundTo(want, dt)) || std::fabs(got - want) <= tol || (std::isnan(got) && std::isnan(want)) ||
               (std::isinf(got) && std::isinf(want) && (got > 0) == (want > 0));
        } else {
          ok = sameDouble(got, roundTo(want, rt)) || (got == 0 && want == 0);
        }
        ASSERT_TRUE(ok) << "op " << (int)op << " " << dtypeName(dt) << shapeStr(s) << " axes " << axes.size() << " at " << o
                        << ": " << got << " vs " << want;
      }
    }
}

TEST(Kernels, SumIsNumpyPairwise) {
  // np.sum(np.arange(1000, dtype=np.float32) * np.float32(0.1)) == 49950.0 (pairwise), while a
  // sequential f32 loop gives 49950.016.
  Tensor x = Tensor::empty(DType::F32, {1000});
  for (int i = 0; i < 1000; ++i) x.ptr<float>()[i] = (float)i * 0.1f;
  EXPECT_EQ(reduce(RedOp::Sum, x, {0}, false, "sum").getF64(0), 49950.0);
  EXPECT_EQ(reduce(RedOp::Sum, makeT(DType::Bool, {3}, {1, 1, 0}), {0}, false, "sum").dtype(), DType::I64);
  EXPECT_EQ(reduce(RedOp::Sum, Tensor::empty(DType::F32, {0}), {0}, false, "sum").getF64(0), 0.0);
}

TEST(Kernels, MeanVarLogsumexp) {
  Rng r(17);
  for (int c = 0; c < 60; ++c) {
    DType dt = kAll[r.uniformInt(1, 7)];
    Shape s = r.shape(3, 5);
    Tensor x = r.tensor(dt, s, false);
    std::vector<int> axes = randomAxes(r, x.ndim());
    int64_t count = 1;
    for (int a : axes) count *= s[a];
    if (count == 0) continue;
    Tensor m = meanOf(x, axes, false), v = varOf(x, axes, false, 1), l = logsumexpOf(x, axes, false);
    DType rt = isFloat(dt) ? dt : DType::F32;
    ASSERT_EQ(m.dtype(), rt);
    ASSERT_EQ(v.dtype(), rt);
    ASSERT_EQ(l.dtype(), rt);
    std::vector<double> sum((size_t)m.numel(), 0), sq((size_t)m.numel(), 0), mx((size_t)m.numel(), -INFINITY), se((size_t)m.numel(), 0);
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t o = reducedIndex(s, axes, i);
      double e = x.getF64(i);
      sum[o] += e;
      mx[o] = std::max(mx[o], e);
    }
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t o = reducedIndex(s, axes, i);
      double d = x.getF64(i) - sum[o] / count;
      sq[o] += d * d;
      se[o] += std::exp(x.getF64(i) - mx[o]);
    }
    double tol = dt == DType::F64 ? 1e-10 : dt == DType::F16 || dt == DType::BF16 ? 3e-2 : 1e-4;
    for (int64_t o = 0; o < m.numel(); ++o) {
      EXPECT_NEAR(m.getF64(o), sum[o] / count, tol * (1 + std::fabs(sum[o] / count)));
      double var = count > 1 ? sq[o] / (count - 1) : INFINITY;
      if (count > 1) {
        EXPECT_NEAR(v.getF64(o), var, tol * (1 + var) * 4);
      }
      EXPECT_NEAR(l.getF64(o), std::log(se[o]) + mx[o], tol * (1 + std::fabs(mx[o])));
    }
  }
  // Stable for large values, -inf for an all -inf row, ints give f32.
  EXPECT_NEAR(logsumexpOf(makeT(DType::F32, {2}, {1000, 1000}), {0}, false).getF64(0), 1000 + std::log(2.0), 1e-3);
  EXPECT_EQ(logsumexpOf(makeT(DType::F32, {2}, {-INFINITY, -INFINITY}), {0}, false).getF64(0), -INFINITY);
  EXPECT_EQ(meanOf(makeT(DType::I64, {2}, {1, 2}), {0}, false).getF64(0), 1.5);
  EXPECT_EQ(varOf(makeT(DType::F32, {4}, {1, 2, 3, 4}), {0}, true, 0).shape(), (Shape{1}));
  EXPECT_EQ(varOf(makeT(DType::F32, {4}, {1, 2, 3, 4}), {0}, false, 0).getF64(0), 1.25);
}

TEST(Kernels, ArgReduceFirstOccurrenceAndNan) {
  Rng r(19);
  for (int c = 0; c < 80; ++c) {
    DType dt = kAll[r.uniformInt(0, 7)];
    Shape s = r.shape(3, 5);
    Tensor x = r.tensor(dt, s);
    if (x.numel() == 0) continue;
    bool isMax = r.coin();
    int axis = x.ndim() && r.coin() ? (int)r.uniformInt(0, x.ndim() - 1) : -1;
    if (axis >= 0 && s[axis] == 0) continue;
    Tensor out = argReduce(isMax, x, axis, false, "argmax");
    ASSERT_EQ(out.dtype(), DType::I64);
    std::vector<int> axes;
    if (axis >= 0) axes.push_back(axis);
    else for (int d = 0; d < x.ndim(); ++d) axes.push_back(d);
    std::vector<double> best((size_t)out.numel());
    std::vector<int64_t> at((size_t)out.numel(), -1), pos((size_t)out.numel(), 0);
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t o = reducedIndex(s, axes, i);
      double v = x.getF64(i);
      bool take = at[o] < 0 || (best[o] == best[o] && (v != v || (isMax ? v > best[o] : v < best[o])));
      if (take) { best[o] = v; at[o] = pos[o]; }
      ++pos[o];
    }
    for (int64_t o = 0; o < out.numel(); ++o) ASSERT_EQ(out.getI64(o), at[o]) << dtypeName(dt) << shapeStr(s) << " axis " << axis;
  }
  EXPECT_NE(errorOf([] { argReduce(true, Tensor::empty(DType::F32, {0}), -1, false, "argmax"); }), "");
  EXPECT_EQ(argReduce(true, makeT(DType::F32, {2, 2}, {1, 5, 7, 2}), -1, true, "argmax").shape(), (Shape{1, 1}));
}

TEST(Kernels, CumsumAndSoftmax) {
  Rng r(23);
  for (int c = 0; c < 60; ++c) {
    DType dt = kAll[r.uniformInt(0, 7)];
    Shape s = r.shape(3, 5);
    Tensor x = r.tensor(dt, s, false);
    int axis = x.ndim() && r.coin(0.7) ? (int)r.uniformInt(0, x.ndim() - 1) : -1;
    Tensor cs = cumsumOf(x, axis);
    ASSERT_EQ(cs.dtype(), isFloat(dt) ? dt : DType::I64);
    Tensor xs = axis < 0 ? reshapeTo(x, {x.numel()}) : x;
    int ax = axis < 0 ? 0 : axis;
    ASSERT_EQ(cs.shape(), xs.shape());
    Shape st = contiguousStrides(xs.shape());
    for (int64_t i = 0; i < xs.numel(); ++i) {
      int64_t k = (i / st[ax]) % xs.dim(ax);
      double want = 0;
      for (int64_t j = 0; j <= k; ++j) want += isFloat(dt) ? xs.getF64(i - (k - j) * st[ax]) : (double)xs.getI64(i - (k - j) * st[ax]);
      double got = isFloat(dt) ? cs.getF64(i) : (double)cs.getI64(i);
      ASSERT_NEAR(got, want, (dt == DType::F16 || dt == DType::BF16 ? 0.1 : 1e-4) * (1 + std::fabs(want)));
    }
    if (x.ndim() == 0 || !isFloat(dt)) continue;
    int sax = (int)r.uniformInt(0, x.ndim() - 1);
    if (x.dim(sax) == 0) continue;  // nothing sums to one
    Tensor sm = softmaxOf(x, sax, false), lsm = softmaxOf(x, sax, true);
    Tensor total = reduce(RedOp::Sum, astype(sm, DType::F64), {sax}, false, "sum");
    for (int64_t o = 0; o < total.numel(); ++o) ASSERT_NEAR(total.getF64(o), 1.0, 2e-2);
    for (int64_t i = 0; i < x.numel(); ++i)
      ASSERT_NEAR(std::exp(lsm.getF64(i)), sm.getF64(i), 5e-2 * sm.getF64(i) + 1e-6);  // bf16: 8 bits
  }
  Tensor big = softmaxOf(makeT(DType::F32, {3}, {1000, 1000, -INFINITY}), 0, false);
  EXPECT_EQ(big.getF64(0), 0.5);
  EXPECT_EQ(big.getF64(2), 0.0);
}

// ------------------------------------------------------------------------ matmul
TEST(Kernels, MatmulMatchesNaive) {
  Rng r(29);
  for (int c = 0; c < 120; ++c) {
    DType dt = c % 3 == 0 ? DType::F32 : kAll[r.uniformInt(0, 7)];
    int64_t M = r.uniformInt(1, 6), K = r.uniformInt(0, 6), N = r.uniformInt(1, 6);
    Shape batchA, batchB;
    int kind = (int)r.uniformInt(0, 4);
    if (kind >= 2) batchA = r.shape(2, 3);
    if (kind >= 3) batchB = broadcastPartner(r, batchA);
    if (kind == 4) std::swap(batchA, batchB);
    for (auto* b : {&batchA, &batchB})
      for (auto& d : *b) d = std::max<int64_t>(d, 1);
    bool vecA = kind == 1 && r.coin(), vecB = kind == 1 && !vecA;
    Shape sa = batchA, sb = batchB;
    if (!vecA) sa.push_back(M);
    sa.push_back(K);
    sb.push_back(K);
    if (!vecB) sb.push_back(N);
    Tensor a = r.tensor(dt, sa, false), b = r.tensor(dt, sb, false);
    Tensor out = matmul(a, b);
    DType rt = dt;
    ASSERT_EQ(out.dtype(), rt);
    Shape batch;
    ASSERT_TRUE(broadcastShapes(batchA, batchB, &batch));
    Shape expect = batch;
    if (!vecA) expect.push_back(M);
    if (!vecB) expect.push_back(N);
    ASSERT_EQ(out.shape(), expect) << shapeStr(sa) << " @ " << shapeStr(sb);
    int64_t Mv = vecA ? 1 : M, Nv = vecB ? 1 : N;
    Shape full = batch;
    full.push_back(Mv);
    full.push_back(Nv);
    for (int64_t o = 0; o < out.numel(); ++o) {
      int64_t i = (o / Nv) % Mv, j = o % Nv, bi = o / (Mv * Nv);
      long double acc = 0;
      uint64_t iacc = 0;
      for (int64_t k = 0; k < K; ++k) {
        Shape fa = batch, fb = batch;
        int64_t ia = broadcastFlat(batchA, batch, bi) * (vecA ? K : M * K) + (vecA ? 0 : i * K) + k;
        int64_t ib = broadcastFlat(batchB, batch, bi) * (vecB ? K : K * N) + (vecB ? k : k * N + j);
        acc += (long double)a.getF64(ia) * b.getF64(ib);
        iacc += (uint64_t)a.getI64(ia) * (uint64_t)b.getI64(ib);
      }
      double got = isFloat(rt) ? out.getF64(o) : (double)out.getI64(o);
      double want = isFloat(rt) ? (double)acc : dt == DType::Bool ? (double)(iacc != 0)
                                                                  : (double)Tensor::scalarInt(rt, (int64_t)iacc).getI64(0);
      double tol = dt == DType::F16 || dt == DType::BF16 ? 0.1 * (1 + std::fabs(want)) : 1e-4 * (1 + std::fabs(want));
      ASSERT_NEAR(got, want, isFloat(rt) ? tol : 0) << dtypeName(dt) << " " << shapeStr(sa) << " @ " << shapeStr(sb) << " at " << o;
    }
  }
}

TEST(Kernels, MatmulLayoutsAndErrors) {
  // Transposed operands are passed to oneDNN with their strides.
  Tensor w = makeT(DType::F32, {3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor x = makeT(DType::F32, {2, 2}, {1, 0, 0, 1});
  Tensor y = matmul(x, permute(w, {1, 0}));  // (2, 2) @ (2, 3)
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.getF64(1), 3.0);
  EXPECT_EQ(y.getF64(5), 6.0);
  EXPECT_EQ(matmul(makeT(DType::F32, {3}, {1, 2, 3}), makeT(DType::F32, {3}, {4, 5, 6})).getF64(0), 32.0);
  EXPECT_EQ(matmul(makeT(DType::F32, {2, 0}, {}), makeT(DType::F32, {0, 3}, {})).getF64(0), 0.0);
  EXPECT_EQ(errorOf([] { matmul(makeT(DType::F32, {2, 3}, {0, 0, 0, 0, 0, 0}), makeT(DType::F32, {2}, {0, 0})); }),
            "matmul: shapes (2, 3) and (2,) are not aligned (3 != 2)");
  EXPECT_NE(errorOf([] { matmul(makeT(DType::F32, {}, {1}), makeT(DType::F32, {1}, {1})); }), "");
}

}  // namespace
}  // namespace msl
