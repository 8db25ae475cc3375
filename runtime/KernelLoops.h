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

}  // namespace msl
