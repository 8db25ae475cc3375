// The accumulation loops of eager float reductions (runtime/KernelsReduce.cpp), shared
// with graph mode's fused reductions (runtime/FusedKernel.cpp), which feed them the
// elements of a chain block by block and so get eager's bits (docs/fusion.md,
// "Reductions").
//
// Order of a float sum of a contiguous row of n elements (NumPy's): the row is cut into
// blocks of kNumpyBuffer elements fixed by n alone; each block is summed pairwise
// (pairwiseSum) and the blocks' sums are added in order to 0:
//   acc = 0; for each block b: acc += pairwiseSum(b)
// (for n <= kNumpyBuffer that is 0 + pairwiseSum(row)). max/min of a row is the
// sequential maxOf/minOf fold from its first element (extremeRow computes exactly that,
// faster); the fold of a row equals the fold of its blocks' folds, since maxOf/minOf keep
// the first NaN, else the first of equal largest (smallest) values.
#pragma once
#include <cstdint>
#include <type_traits>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "runtime/Tensor.h"

namespace msl {

// NumPy's pairwise summation (numpy/core/src/umath/loops_utils.h.src): blocks of 128
// summed with 8 accumulators, halves summed recursively.
template <class T> T pairwiseSum(const T* a, int64_t n) {
  if (n < 8) {
    T res = 0;
    for (int64_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    T r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwiseSum(a, n2) + pairwiseSum(a + n2, n - n2);
}

// NumPy's reduction loop sees a row in buffers of this many elements (checked against
// NumPy 1.24 for f32 rows of up to 3M elements).
constexpr int64_t kNumpyBuffer = 8192;

// Maximum and minimum steps; a nan, once met, is the result.
template <class T> T maxOf(T acc, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (acc != acc) return acc;
    if (v != v) return v;
  }
  return v > acc ? v : acc;
}
template <class T> T minOf(T acc, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (acc != acc) return acc;
    if (v != v) return v;
  }
  return v < acc ? v : acc;
}

// max/min of one contiguous float row (n >= 1), as the sequential maxOf/minOf loop
// computes it but over 8 vector lanes. The lanes agree with the sequential loop
// except for which of two equal values wins, which matters only for zeros (+0.0 / -0.0)
// and NaNs (the first one is the result): then the row is scanned again sequentially.
template <class T, bool isMax> T extremeRow(const T* p, int64_t n) {
  auto seq = [&] {
    T acc = p[0];
    for (int64_t i = 1; i < n; ++i) acc = isMax ? maxOf(acc, p[i]) : minOf(acc, p[i]);
    return acc;
  };
  if (n < 64) return seq();
  // Lanes of SSE2 (x86-64's baseline): maxps(v, r) is `v > r ? v : r`, the sequential
  // step when there is no NaN; z sums v - v, NaN once a NaN or an Inf was met (then the
  // sequential loop decides). Elsewhere, 8 scalar lanes.
  T acc, zs;
  int64_t i;
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, float>) {
    __m128 r0 = _mm_loadu_ps(p), r1 = _mm_loadu_ps(p + 4);
    __m128 z0 = _mm_sub_ps(r0, r0), z1 = _mm_sub_ps(r1, r1);
    for (i = 8; i + 8 <= n; i += 8) {
      __m128 v0 = _mm_loadu_ps(p + i), v1 = _mm_loadu_ps(p + i + 4);
      r0 = isMax ? _mm_max_ps(v0, r0) : _mm_min_ps(v0, r0);
      r1 = isMax ? _mm_max_ps(v1, r1) : _mm_min_ps(v1, r1);
      z0 = _mm_add_ps(z0, _mm_sub_ps(v0, v0));
      z1 = _mm_add_ps(z1, _mm_sub_ps(v1, v1));
    }
    alignas(16) float r[8], z[8];
    _mm_store_ps(r, r0), _mm_store_ps(r + 4, r1), _mm_store_ps(z, z0), _mm_store_ps(z + 4, z1);
    acc = r[0], zs = z[0];
    for (int j = 1; j < 8; ++j) {
      acc = isMax ? (r[j] > acc ? r[j] : acc) : (r[j] < acc ? r[j] : acc);
      zs += z[j];
    }
  } else
#endif
  {
    T r[8], z[8];
    for (int j = 0; j < 8; ++j) { r[j] = p[j]; z[j] = p[j] - p[j]; }
    for (i = 8; i + 8 <= n; i += 8)
      for (int j = 0; j < 8; ++j) {
        T v = p[i + j];
        r[j] = isMax ? (v > r[j] ? v : r[j]) : (v < r[j] ? v : r[j]);
        z[j] += v - v;
      }
    acc = r[0], zs = z[0];
    for (int j = 1; j < 8; ++j) {
      acc = isMax ? (r[j] > acc ? r[j] : acc) : (r[j] < acc ? r[j] : acc);
      zs += z[j];
    }
  }
  for (; i < n; ++i) {
    acc = isMax ? (p[i] > acc ? p[i] : acc) : (p[i] < acc ? p[i] : acc);
    zs += p[i] - p[i];
  }
  if (zs != zs || acc == T(0)) return seq();
  return acc;
}

// The mean from the sum `s` of `count` elements each: s / count as mean() divides,
// given as dtype rt.
Tensor meanFromSum(const Tensor& s, int64_t count, DType rt);
// Raises max()'s (min()'s) ValueError when it reduces count == 0 elements (no identity).
void checkExtremeNotEmpty(int64_t count, const char* fnName);

}  // namespace msl
