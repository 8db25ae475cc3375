// Threefry-2x32 random numbers as jax.random computes them (see runtime/Random.h).
// XLA fuses `u * (hi - lo) + lo` into one fused multiply-add; std::fma rounds once as it
// does. The file is built with -ffp-contract=off (runtime/CMakeLists.txt) so that no other
// expression is fused behind our back.
#include "runtime/Random.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace msl::random {

namespace {
inline uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

// Calls f(i, y0, y1) for the Threefry output of every counter i < n (i split into hi, lo).
template <class F> void forCounters(Key key, int64_t n, F&& f) {
  for (int64_t i = 0; i < n; ++i) {
    auto [y0, y1] = threefry2x32(key, (uint32_t)((uint64_t)i >> 32), (uint32_t)i);
    f(i, y0, y1);
  }
}
}  // namespace

std::pair<uint32_t, uint32_t> threefry2x32(Key key, uint32_t x0, uint32_t x1) {
  // Key schedule: the two key words and their parity word with the Skein constant.
  const uint32_t ks[3] = {key.k0, key.k1, key.k0 ^ key.k1 ^ 0x1BD11BDAu};
  static constexpr int kRot[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
  x0 += ks[0];
  x1 += ks[1];
  // Five blocks of four mix rounds (x0 += x1; x1 = rotl(x1, r) ^ x0), each block followed
  // by a key injection that also adds the block number.
  for (uint32_t blk = 0; blk < 5; ++blk) {
    for (int r : kRot[blk & 1]) {
      x0 += x1;
      x1 = rotl(x1, r) ^ x0;
    }
    x0 += ks[(blk + 1) % 3];
    x1 += ks[(blk + 2) % 3] + blk + 1;
  }
  return {x0, x1};
}

Key seedKey(int64_t seed) { return Key{0, (uint32_t)(uint64_t)seed}; }

Key keyOf(const Tensor& t) {
  Tensor c = t.contiguous();
  return Key{c.ptr<uint32_t>()[0], c.ptr<uint32_t>()[1]};
}

Tensor keyTensor(Key k) {
  Tensor t = Tensor::empty(DType::U32, Shape{2});
  t.ptr<uint32_t>()[0] = k.k0;
  t.ptr<uint32_t>()[1] = k.k1;
  return t;
}

Tensor split(Key key, int64_t n) {
  Tensor t = Tensor::empty(DType::U32, Shape{n, 2});
  uint32_t* p = t.ptr<uint32_t>();
  forCounters(key, n, [&](int64_t i, uint32_t y0, uint32_t y1) {
    p[2 * i] = y0;
    p[2 * i + 1] = y1;
  });
  return t;
}

Key foldIn(Key key, uint32_t data) {
  auto [y0, y1] = threefry2x32(key, 0, data);
  return Key{y0, y1};
}

Tensor bits(Key key, const Shape& shape) {
  Tensor t = Tensor::empty(DType::U32, shape);
  uint32_t* p = t.ptr<uint32_t>();
  forCounters(key, t.numel(), [&](int64_t i, uint32_t y0, uint32_t y1) { p[i] = y0 ^ y1; });
  return t;
}

Tensor uniform(Key key, const Shape& shape, DType dt, double lo, double hi) {
  Tensor t = Tensor::empty(dt, shape);
  if (dt == DType::F64) {
    // 64 bits per element: (y0 << 32) | y1; the top 52 are the mantissa.
    double* p = t.ptr<double>();
    forCounters(key, t.numel(), [&](int64_t i, uint32_t y0, uint32_t y1) {
      uint64_t b = ((uint64_t)y0 << 32) | y1;
      double f = std::bit_cast<double>((b >> 12) | 0x3FF0000000000000ull) - 1.0;
      double v = std::fma(f, hi - lo, lo);
      p[i] = v < lo ? lo : v;
    });
    return t;
  }
  float l = (float)lo, h = (float)hi, span = h - l;
  float* p = t.ptr<float>();
  forCounters(key, t.numel(), [&](int64_t i, uint32_t y0, uint32_t y1) {
    float f = std::bit_cast<float>(((y0 ^ y1) >> 9) | 0x3F800000u) - 1.0f;
    float v = std::fma(f, span, l);
    p[i] = v < l ? l : v;
  });
  return t;
}

float erfinvF32(float x) {
  // Giles' single-precision coefficients, highest degree first; Horner steps fused as XLA
  // fuses them.
  static constexpr float kSmall[9] = {2.81022636e-08f, 3.43273939e-07f, -3.5233877e-06f,
                                      -4.39150654e-06f, 0.00021858087f, -0.00125372503f,
                                      -0.00417768164f, 0.246640727f, 1.50140941f};
  static constexpr float kLarge[9] = {-0.000200214257f, 0.000100950558f, 0.00134934322f,
                                      -0.00367342844f, 0.00573950773f, -0.0076224613f,
                                      0.00943887047f, 1.00167406f, 2.83297682f};
  if (std::fabs(x) == 1.0f) return x * std::numeric_limits<float>::infinity();
  float w = -std::log1p(-x * x);
  const float* c = kSmall;
  if (w < 5.0f) {
    w = w - 2.5f;
  } else {
    w = std::sqrt(w) - 3.0f;
    c = kLarge;
  }
  float p = c[0];
  for (int i = 1; i < 9; ++i) p = std::fma(p, w, c[i]);
  return p * x;
}

Tensor normal(Key key, const Shape& shape, DType) {
  // u in [nextafter(-1, 0), 1): erfinv is finite everywhere on it.
  Tensor u = uniform(key, shape, DType::F32, std::nextafter(-1.0f, 0.0f), 1.0);
  float* p = u.ptr<float>();
  const float sqrt2 = (float)std::sqrt(2.0);
  for (int64_t i = 0, n = u.numel(); i < n; ++i) p[i] = sqrt2 * erfinvF32(p[i]);
  return u;
}

Tensor permutation(Key key, int64_t n) {
  Tensor t = Tensor::empty(DType::I64, Shape{n});
  int64_t* x = t.ptr<int64_t>();
  std::iota(x, x + n, int64_t{0});
  int rounds = (int)std::ceil(3.0 * std::log((double)std::max<int64_t>(1, n)) / std::log(4294967295.0));
  std::vector<uint32_t> sortKeys((size_t)n);
  std::vector<int64_t> order((size_t)n), tmp((size_t)n);
  for (int r = 0; r < rounds; ++r) {
    Tensor keys = split(key, 2);
    key = Key{keys.ptr<uint32_t>()[0], keys.ptr<uint32_t>()[1]};
    Key sub{keys.ptr<uint32_t>()[2], keys.ptr<uint32_t>()[3]};
    forCounters(sub, n, [&](int64_t i, uint32_t y0, uint32_t y1) { sortKeys[(size_t)i] = y0 ^ y1; });
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return sortKeys[a] < sortKeys[b]; });
    for (int64_t i = 0; i < n; ++i) tmp[(size_t)i] = x[order[(size_t)i]];
    std::copy(tmp.begin(), tmp.end(), x);
  }
  return t;
}

Tensor gumbel(Key key, const Shape& shape, DType dt) {
  if (dt == DType::F64) {
    Tensor u = uniform(key, shape, dt, std::numeric_limits<double>::min(), 1.0);
    double* p = u.ptr<double>();
    for (int64_t i = 0, n = u.numel(); i < n; ++i) p[i] = -std::log(-std::log(p[i]));
    return u;
  }
  Tensor u = uniform(key, shape, DType::F32, std::numeric_limits<float>::min(), 1.0);
  float* p = u.ptr<float>();
  for (int64_t i = 0, n = u.numel(); i < n; ++i) p[i] = -std::log(-std::log(p[i]));
  return u;
}

}  // namespace msl::random
