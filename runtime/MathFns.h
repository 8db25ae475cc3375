// THE scalar math functions of msl's kernels (exp, log, tanh, erf, ...).
//
// Every kernel of the runtime computes transcendental functions through this header, and
// generated code is meant to call the same definitions, so that eager and compiled results
// agree. Each function forwards to the C library (replacing one here replaces it
// everywhere), except the f32 exp inside sigmoid and tanh-form gelu (expForOnePlus below),
// msl's own, which codegen/KernelGen.cpp emits as vector code. Overloads exist for float (f32, and f16/bf16 computed in f32) and double.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

namespace msl::fn {

#define MSL_MATHFN_1(name, expr)                     \
  inline float name(float x) { return expr; }        \
  inline double name(double x) { return expr; }

MSL_MATHFN_1(exp, std::exp(x))
MSL_MATHFN_1(log, std::log(x))
MSL_MATHFN_1(log1p, std::log1p(x))
MSL_MATHFN_1(sqrt, std::sqrt(x))
MSL_MATHFN_1(sin, std::sin(x))
MSL_MATHFN_1(cos, std::cos(x))
MSL_MATHFN_1(tanh, std::tanh(x))
MSL_MATHFN_1(erfc, std::erfc(x))
MSL_MATHFN_1(floor, std::floor(x))
MSL_MATHFN_1(ceil, std::ceil(x))
MSL_MATHFN_1(rint, std::nearbyint(x))  // round half to even
#undef MSL_MATHFN_1

inline float pow(float x, float y) { return std::pow(x, y); }
inline double pow(double x, double y) { return std::pow(x, y); }
// x ** y of tensor elements (eager kernels, and graph mode's fused code generates the same):
// y == 2 is x * x, the square correctly rounded, as NumPy and PyTorch square. glibc's pow
// gives the same bits for y == 2 (every 7th f32 bit pattern and 2e7 random doubles
// checked) at ~20x the cost of a multiply and never vectorised, so `(a - b) ** 2` paid a
// pow call per element. Any other y is pow. Python floats keep pow (CPython's float **).
template <class T> inline T powElem(T x, T y) { return y == T(2) ? x * x : fn::pow(x, y); }
inline float fmod(float x, float y) { return std::fmod(x, y); }
inline double fmod(double x, double y) { return std::fmod(x, y); }

// Derived functions, written once in terms of the ones above.
template <class T> inline T rsqrt(T x) { return T(1) / fn::sqrt(x); }

// e^x where only 1 + e^x is used (sigmoid, tanh-form gelu). f64: exp. f32: msl's own
// vectorisable exp, which fused kernels (codegen/KernelGen.cpp, Gen::expCoreF32) emit as
// the same operations, so that eager and graph mode give the same bits: x clamped to
// [-86.5, 89] (below, e^x < 2^-124 vanishes in 1 + e^x; above, the result is inf as it
// should be), x = n ln2 + r with n = rint(x / ln2) taken from the low bits of
// x * log2(e) + 1.5 * 2^23 (one FMA: no float-to-int conversion, nan stays nan), r by
// Cody-Waite in two FMAs, e^r = 1 + r + r^2 P(r) with Cephes' degree-5 P (Horner, FMAs),
// times 2^n as (p + p) * 2^(n-1), a normal power of two for n in [-125, 128]. Explicit
// FMAs are single roundings (std::fma; -ffp-contract=off forms no others). At most 1 ulp
// from the C library's expf over the clamped range (docs/fusion.md).
inline double expForOnePlus(double x) { return fn::exp(x); }
inline float expForOnePlus(float x) {
  x = x > 89.0f ? 89.0f : x;
  x = x < -86.5f ? -86.5f : x;
  constexpr float shift = 0x1.8p23f;
  float t = std::fma(x, 1.44269504088896341f, shift);
  float n = t - shift;
  float r = std::fma(n, -0.693359375f, x);
  r = std::fma(n, 2.12194440e-4f, r);
  // (written out: a loop over the coefficients kept GCC from vectorising eager's loops)
  float p = std::fma(1.9875691500E-4f, r, 1.3981999507E-3f);
  p = std::fma(p, r, 8.3334519073E-3f);
  p = std::fma(p, r, 4.1665795894E-2f);
  p = std::fma(p, r, 1.6666665459E-1f);
  p = std::fma(p, r, 5.0000001201E-1f);
  p = std::fma(p, r * r, r) + 1.0f;
  // The low 9 bits of t's representation are n (two's complement): shifted into the
  // exponent field and biased, 2^(n-1).
  uint32_t scale = (std::bit_cast<uint32_t>(t) << 23) + (126u << 23);
  return (p + p) * std::bit_cast<float>(scale);
}

// 1 / (1 + e^-x): saturates to 0 and 1 without overflow trouble.
template <class T> inline T sigmoid(T x) { return T(1) / (T(1) + fn::expForOnePlus(-x)); }
// log(1 + e^x) = max(x, 0) + log1p(e^-|x|), exact for large |x|.
template <class T> inline T softplus(T x) {
  T ax = x < T(0) ? -x : x;
  return (x > T(0) ? x : T(0)) + fn::log1p(fn::exp(-ax));
}
// x * Phi(x) with the exact normal CDF, Phi(x) = erfc(-x / sqrt(2)) / 2 (no cancellation
// for negative x).
template <class T> inline T gelu(T x) {
  return x * (fn::erfc(-x * T(0.70710678118654752440)) / T(2));
}
// The tanh approximation 0.5 x (1 + tanh(z)), z = sqrt(2/pi) (x + 0.044715 x^3), computed
// as x * sigmoid(2z) = x / (1 + e^(-2z)), the same function without the cancellation for
// x < 0: one exp and one division (-2 sqrt(2/pi) is one constant).
template <class T> inline T geluTanh(T x) {
  T y = x + T(0.044715) * x * x * x;
  return x / (T(1) + fn::expForOnePlus(T(-1.59576912160573071176) * y));
}

// Python's float floor division and modulo (CPython's float_divmod: the remainder takes
// the divisor's sign). A zero divisor gives NumPy's results, a / b and nan; Python
// scalars check for zero before calling these.
template <class T> inline T floorDiv(T a, T b) {
  if (b == 0) return a / b;
  T m = fn::fmod(a, b);
  T div = (a - m) / b;
  if (m != 0 && ((b < 0) != (m < 0))) div -= 1;
  if (div == 0) return std::copysign(T(0), a / b);
  T fl = fn::floor(div);
  if (div - fl > T(0.5)) fl += 1;
  return fl;
}
template <class T> inline T mod(T a, T b) {
  T m = fn::fmod(a, b);
  if (b == 0) return m;
  if (m == 0) return std::copysign(T(0), b);
  if ((b < 0) != (m < 0)) m += b;
  return m;
}

}  // namespace msl::fn
