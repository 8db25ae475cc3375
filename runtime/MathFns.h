// THE scalar math functions of msl's kernels (exp, log, tanh, erf, ...).
//
// Every kernel of the runtime computes transcendental functions through this header, and
// generated code is meant to call the same definitions, so that eager and compiled results
// agree. Today each function forwards to the C library; replacing one here replaces it
// everywhere. Overloads exist for float (f32, and f16/bf16 computed in f32) and double.
#pragma once
#include <cmath>

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
inline float fmod(float x, float y) { return std::fmod(x, y); }
inline double fmod(double x, double y) { return std::fmod(x, y); }

// Derived functions, written once in terms of the ones above.
template <class T> inline T rsqrt(T x) { return T(1) / fn::sqrt(x); }
// 1 / (1 + e^-x): saturates to 0 and 1 without overflow trouble.
template <class T> inline T sigmoid(T x) { return T(1) / (T(1) + fn::exp(-x)); }
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
// as x * sigmoid(2z), which is the same function without the cancellation for x < 0.
template <class T> inline T geluTanh(T x) {
  T z = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
  return x * fn::sigmoid(T(2) * z);
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
