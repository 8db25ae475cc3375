// Strided iteration for kernels (private to the runtime's kernel files).
//
// A kernel over K operands that share one logical shape (the output and its broadcast
// inputs) first collapses the shape: size-1 dimensions are dropped and neighbouring
// dimensions that are contiguous with each other in every operand are merged. Then it
// visits rows: the innermost collapsed dimension, with one base offset and one stride per
// operand. A contiguous operation becomes a single row; the body specialises the common
// inner strides (all 1, or 1 and 0 for a broadcast scalar) into plain loops.
#pragma once
#include <algorithm>
#include <array>
#include <type_traits>

#include "runtime/Parallel.h"
#include "runtime/Tensor.h"

namespace msl {

template <int K>
struct StridedLoop {
  Shape shape;                  // collapsed, outermost first; empty means one element
  std::array<Shape, K> strides;  // per operand, in elements
};

template <int K>
StridedLoop<K> collapseLoop(const Shape& shape, const std::array<const Shape*, K>& strides) {
  StridedLoop<K> L;
  // Walk from the innermost dimension outwards, merging when every operand's stride of
  // the outer dimension equals its inner stride times the inner size.
  for (size_t d = shape.size(); d-- > 0;) {
    int64_t n = shape[d];
    if (n == 1) continue;
    if (!L.shape.empty()) {
      int64_t inner = L.shape.back();
      bool merge = true;
      for (int k = 0; k < K; ++k)
        if ((*strides[k])[d] != L.strides[k].back() * inner) merge = false;
      if (merge) {
        L.shape.back() *= n;
        continue;
      }
    }
    L.shape.push_back(n);
    for (int k = 0; k < K; ++k) L.strides[k].push_back((*strides[k])[d]);
  }
  std::reverse(L.shape.begin(), L.shape.end());
  for (int k = 0; k < K; ++k) std::reverse(L.strides[k].begin(), L.strides[k].end());
  return L;
}

// Calls body(const int64_t* offsets, int64_t n, const int64_t* innerStrides) for every row.
// The caller handles empty shapes (no rows) before.
template <int K, class Body>
void forEachRow(const StridedLoop<K>& L, Body&& body) {
  int nd = (int)L.shape.size();
  int64_t off[K] = {};
  if (nd == 0) {
    int64_t zero[K] = {};
    body(off, (int64_t)1, zero);
    return;
  }
  int64_t inner = L.shape[nd - 1];
  int64_t ist[K];
  for (int k = 0; k < K; ++k) ist[k] = L.strides[k][nd - 1];
  if (nd == 1) {
    body(off, inner, ist);
    return;
  }
  Shape idx(nd - 1, 0);
  while (true) {
    body(off, inner, ist);
    int d = nd - 2;
    for (; d >= 0; --d) {
      for (int k = 0; k < K; ++k) off[k] += L.strides[k][d];
      if (++idx[d] < L.shape[d]) break;
      for (int k = 0; k < K; ++k) off[k] -= L.strides[k][d] * L.shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

// forEachRow on the thread pool (runtime/Parallel.h) when the loop has kParallelMin
// elements or more: rows are split among threads, or a single row into pieces whose
// boundaries are multiples of 64 elements. The body must treat each element on its own
// (elementwise kernels), so the result does not depend on the split.
template <int K, class Body>
void forEachRowParallel(const StridedLoop<K>& L, Body&& body) {
  int nd = (int)L.shape.size();
  int64_t total = 1;
  for (int64_t s : L.shape) total *= s;
  if (nd == 0 || total < kParallelMin || numThreads() <= 1) {
    forEachRow(L, body);
    return;
  }
  int64_t inner = L.shape[nd - 1];
  int64_t ist[K];
  for (int k = 0; k < K; ++k) ist[k] = L.strides[k][nd - 1];
  if (nd == 1) {
    parallelFor(inner, 64, [&](int64_t b, int64_t e) {
      int64_t off[K];
      for (int k = 0; k < K; ++k) off[k] = b * ist[k];
      body(off, e - b, ist);
    });
    return;
  }
  parallelFor(total / inner, 1, [&](int64_t rb, int64_t re) {
    Shape idx(nd - 1, 0);
    int64_t off[K] = {};
    int64_t r = rb;
    for (int d = nd - 2; d >= 0; --d) {
      idx[d] = r % L.shape[d];
      r /= L.shape[d];
      for (int k = 0; k < K; ++k) off[k] += idx[d] * L.strides[k][d];
    }
    for (int64_t row = rb; row < re; ++row) {
      body(off, inner, ist);
      for (int d = nd - 2; d >= 0; --d) {
        for (int k = 0; k < K; ++k) off[k] += L.strides[k][d];
        if (++idx[d] < L.shape[d]) break;
        for (int k = 0; k < K; ++k) off[k] -= L.strides[k][d] * L.shape[d];
        idx[d] = 0;
      }
    }
  }, total);
}

// The dtype a computation runs in: f16/bf16 compute in f32.
inline DType computeDType(DType d) { return d == DType::F16 || d == DType::BF16 ? DType::F32 : d; }

// Calls f(std::type_identity<T>{}) for a compute dtype (not f16/bf16).
template <class F> decltype(auto) visitCompute(DType dt, F&& f) {
  switch (dt) {
    case DType::Bool: return f(std::type_identity<bool>{});
    case DType::U8: return f(std::type_identity<uint8_t>{});
    case DType::U32: return f(std::type_identity<uint32_t>{});
    case DType::I32: return f(std::type_identity<int32_t>{});
    case DType::I64: return f(std::type_identity<int64_t>{});
    case DType::F32: return f(std::type_identity<float>{});
    default: break;
  }
  return f(std::type_identity<double>{});
}

}  // namespace msl
