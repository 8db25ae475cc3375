// Tests of the Threefry-2x32 random numbers (runtime/Random.cpp): the published known-answer
// vectors of the cipher (Random123's kat_vectors, also JAX's testThreefry2x32), the counter
// layout of split and bits, and the properties of each draw. Agreement with values that JAX
// itself produced is tests/lang/random/jax_values.msl.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "runtime/Random.h"

namespace msl::random {
namespace {

TEST(Threefry, KnownAnswerVectors) {
  struct Kat { Key key; uint32_t x0, x1, y0, y1; };
  const Kat kats[] = {
      {{0, 0}, 0, 0, 0x6b200159u, 0x99ba4efeu},
      {{0xffffffffu, 0xffffffffu}, 0xffffffffu, 0xffffffffu, 0x1cb996fcu, 0xbb002be7u},
      {{0x13198a2eu, 0x03707344u}, 0x243f6a88u, 0x85a308d3u, 0xc4923a9cu, 0x483df7a0u},
  };
  for (const Kat& k : kats) {
    auto [y0, y1] = threefry2x32(k.key, k.x0, k.x1);
    EXPECT_EQ(y0, k.y0);
    EXPECT_EQ(y1, k.y1);
  }
}

TEST(Threefry, SeedsAsJaxDefault) {
  EXPECT_EQ(seedKey(42).k0, 0u);
  EXPECT_EQ(seedKey(42).k1, 42u);
  EXPECT_EQ(seedKey(-1).k1, 0xffffffffu);  // 32-bit ints: the low word
  EXPECT_EQ(seedKey((1ll << 32) + 5).k1, 5u);
}

TEST(Threefry, SplitAndBitsUseTheCounterOfEachElement) {
  Key k = seedKey(3);
  Tensor keys = split(k, 4);
  ASSERT_EQ(keys.dtype(), DType::U32);
  for (int64_t i = 0; i < 4; ++i) {
    auto [y0, y1] = threefry2x32(k, 0, (uint32_t)i);
    EXPECT_EQ(keys.ptr<uint32_t>()[2 * i], y0);
    EXPECT_EQ(keys.ptr<uint32_t>()[2 * i + 1], y1);
  }
  Tensor b = bits(k, Shape{2, 3});
  for (int64_t i = 0; i < 6; ++i) {
    auto [y0, y1] = threefry2x32(k, 0, (uint32_t)i);
    EXPECT_EQ(b.ptr<uint32_t>()[i], y0 ^ y1);
  }
  EXPECT_EQ(foldIn(k, 9).k0, threefry2x32(k, 0, 9).first);
}

TEST(Threefry, UniformStaysInItsInterval) {
  for (auto [lo, hi] : {std::pair{0.0, 1.0}, {-2.0, 5.0}, {1e-30, 1e-29}}) {
    Tensor u = uniform(seedKey(11), Shape{5000}, DType::F32, lo, hi);
    for (int64_t i = 0; i < u.numel(); ++i) {
      float v = u.ptr<float>()[i];
      EXPECT_GE(v, (float)lo);
      EXPECT_LE(v, (float)hi);  // [lo, hi) before rounding to f32
    }
  }
  Tensor d = uniform(seedKey(11), Shape{5000}, DType::F64, 0.0, 1.0);
  for (int64_t i = 0; i < d.numel(); ++i) EXPECT_LT(d.ptr<double>()[i], 1.0);
}

TEST(Threefry, ErfinvInvertsErf) {
  for (float x = -0.999f; x < 1.0f; x += 0.0137f) {
    double y = erfinvF32(x);
    EXPECT_NEAR(std::erf(y), x, 2e-6 * (1 + std::fabs(x))) << x;
  }
  EXPECT_EQ(erfinvF32(0.0f), 0.0f);
  EXPECT_TRUE(std::isinf(erfinvF32(1.0f)) && erfinvF32(1.0f) > 0);
  EXPECT_TRUE(std::isinf(erfinvF32(-1.0f)) && erfinvF32(-1.0f) < 0);
}

TEST(Threefry, PermutationIsAPermutation) {
  for (int64_t n : {0, 1, 2, 17, 1626, 4000}) {  // 1626 and up: two sorting rounds
    Tensor p = permutation(seedKey(5), n);
    std::set<int64_t> seen(p.ptr<int64_t>(), p.ptr<int64_t>() + n);
    EXPECT_EQ((int64_t)seen.size(), n);
    if (n) {
      EXPECT_EQ(*seen.begin(), 0);
      EXPECT_EQ(*seen.rbegin(), n - 1);
    }
  }
}

TEST(Threefry, GumbelIsFinite) {
  Tensor g = gumbel(seedKey(8), Shape{10000}, DType::F32);
  double mean = 0;
  for (int64_t i = 0; i < g.numel(); ++i) {
    ASSERT_TRUE(std::isfinite(g.ptr<float>()[i]));
    mean += g.ptr<float>()[i];
  }
  EXPECT_NEAR(mean / (double)g.numel(), 0.5772, 0.05);  // the Euler-Mascheroni constant
}

}  // namespace
}  // namespace msl::random
