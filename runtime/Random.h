// Counter-based random numbers, bit-compatible with jax.random's default implementation
// (Threefry-2x32 with `jax_threefry_partitionable`, the default since JAX 0.5).
//
// A key is a u32 tensor of shape (2,), as jax.random.PRNGKey gives. Every draw is a pure
// function of (key, shape): element i (row-major) of a draw of shape s is computed from
// threefry2x32(key, (hi32(i), lo32(i))), so the numbers do not depend on threads, targets
// or how the work is split.
#pragma once
#include <cstdint>
#include <utility>

#include "runtime/Tensor.h"

namespace msl::random {

struct Key {
  uint32_t k0 = 0, k1 = 0;
};

// The Threefry-2x32 block cipher with 20 rounds (Salmon et al., "Parallel random numbers:
// as easy as 1, 2, 3", SC'11): encrypts the counter pair (x0, x1) under the key.
std::pair<uint32_t, uint32_t> threefry2x32(Key key, uint32_t x0, uint32_t x1);

// jax.random.PRNGKey(seed) with JAX's default 32-bit integers: (0, seed mod 2^32).
Key seedKey(int64_t seed);
// The key stored in a u32 tensor of shape (2,), and back.
Key keyOf(const Tensor& t);
Tensor keyTensor(Key k);

// n new keys, as a u32 tensor of shape (n, 2): key i = threefry2x32(key, (0, i)).
Tensor split(Key key, int64_t n);
// A key derived from key and a 32-bit value: threefry2x32(key, (0, data)).
Key foldIn(Key key, uint32_t data);

// Raw bits, u32 of the given shape: for element i, y0 ^ y1 of threefry2x32(key, i as 2x32).
Tensor bits(Key key, const Shape& shape);
// Uniform floats in [lo, hi) (f32 or f64): 23 (52) random mantissa bits give a float in
// [1, 2), minus 1, scaled to [lo, hi) and clamped below at lo, all in the target dtype.
Tensor uniform(Key key, const Shape& shape, DType dt, double lo, double hi);
// Standard normal f32: sqrt(2) * erfinv(u) for u uniform in (-1, 1). Equal to JAX's within one
// unit in the last place: XLA's log1p inside erfinv is its own, and differs between its CPU
// and GPU backends too (bits, uniform and the draws built on them are bit-exact).
Tensor normal(Key key, const Shape& shape, DType dt);
// A random permutation of 0..n-1 (i64): sorts by random bits, ceil(3 ln n / ln(2^32 - 1))
// rounds, each with a fresh subkey (JAX's _shuffle).
Tensor permutation(Key key, int64_t n);
// Standard Gumbel noise -log(-log(u)), u uniform in [tiny, 1), in dtype dt.
Tensor gumbel(Key key, const Shape& shape, DType dt);

// erfinv for f32 as XLA computes it (M. Giles, "Approximating the erfinv function", GPU
// Computing Gems, 2011: a degree-8 polynomial in w = -log(1 - x^2), two branches at w = 5).
float erfinvF32(float x);

}  // namespace msl::random
