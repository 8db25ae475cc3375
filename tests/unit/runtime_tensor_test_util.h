// Helpers for the tensor runtime tests: random tensors (with strided layouts), naive
// element access by multi-index, and tensor values from literals.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "runtime/Kernels.h"
#include "runtime/TensorValues.h"
#include "runtime_host_test_util.h"

namespace msl::test {

// A tensor from values (converted to dtype dt), with the given shape.
inline Tensor makeT(DType dt, const Shape& shape, const std::vector<double>& vals) {
  Tensor t = Tensor::empty(dt, shape);
  EXPECT_EQ((int64_t)vals.size(), t.numel());
  visitDType(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (size_t i = 0; i < vals.size(); ++i) t.ptr<T>()[i] = convertValue<T>(vals[i]);
  });
  return t;
}

inline Value TV(Tensor t) { return makeTensor(std::move(t)); }
// A context for calling primitive implementations directly.
inline CallContext& testContext() {
  static PrimContext cx;
  return cx;
}
inline Tensor& TOf(const Value& v) { return v.as<TensorObj>()->t; }

// Offset of the element at multi-index `idx` (row-major flat index `flat`).
inline int64_t offsetOf(const Tensor& t, int64_t flat) {
  int64_t off = 0;
  for (int d = t.ndim() - 1; d >= 0; --d) {
    off += (flat % t.dim(d)) * t.strides()[d];
    flat /= t.dim(d);
  }
  return off;
}

// Flat index into `t` (of shape ts, broadcast to `out`) of flat output index `flat`.
inline int64_t broadcastFlat(const Shape& ts, const Shape& out, int64_t flat) {
  std::vector<int64_t> idx(out.size());
  for (int d = (int)out.size() - 1; d >= 0; --d) {
    idx[d] = flat % out[d];
    flat /= out[d];
  }
  int64_t f = 0;
  size_t lead = out.size() - ts.size();
  for (size_t d = 0; d < ts.size(); ++d) f = f * ts[d] + (ts[d] == 1 ? 0 : idx[lead + d]);
  return f;
}

class Rng {
 public:
  explicit Rng(uint32_t seed) : g_(seed) {}
  int64_t uniformInt(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(g_); }
  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(g_); }
  bool coin(double p = 0.5) { return uniform(0, 1) < p; }

  // A random value for dtype dt, sometimes special (0, -0, nan, inf) for floats.
  double value(DType dt, bool specials = true) {
    switch (dt) {
      case DType::Bool: return (double)coin();
      case DType::U8: return (double)uniformInt(0, 255);
      case DType::I32: return (double)uniformInt(-1000, 1000);
      case DType::I64: return (double)uniformInt(-100000, 100000);
      default: break;
    }
    if (specials && coin(0.05)) {
      const double sp[] = {0.0, -0.0, NAN, INFINITY, -INFINITY, 1.0, -1.0};
      return sp[uniformInt(0, 6)];
    }
    return uniform(-10, 10);
  }

  Shape shape(int maxDims = 4, int64_t maxDim = 5) {
    Shape s;
    int nd = (int)uniformInt(0, maxDims);
    for (int i = 0; i < nd; ++i) s.push_back(uniformInt(coin(0.1) ? 0 : 1, maxDim));
    return s;
  }

  // A tensor of `shape`, laid out contiguously, transposed, or as a strided slice of a
  // bigger tensor (so kernels see every kind of layout).
  Tensor tensor(DType dt, const Shape& shape, bool specials = true) {
    int layout = (int)uniformInt(0, 2);
    Shape big = shape;
    if (layout == 2)
      for (auto& d : big) d = d * 2;
    if (layout == 1) std::reverse(big.begin(), big.end());
    std::vector<double> vals((size_t)numel(big));
    for (double& v : vals) v = value(dt, specials);
    Tensor t = makeT(dt, big, vals);
    if (layout == 1) {
      std::vector<int> perm;
      for (int d = (int)shape.size() - 1; d >= 0; --d) perm.push_back(d);
      return permute(t, perm);
    }
    if (layout == 2) {
      Shape st = t.strides();
      for (auto& s : st) s *= 2;
      return t.view(shape, st, 0);
    }
    return t;
  }

 private:
  std::mt19937 g_;
};

// Shapes that broadcast with `s`: some dims set to 1, some leading dims dropped.
inline Shape broadcastPartner(Rng& r, const Shape& s) {
  Shape p = s;
  for (auto& d : p)
    if (r.coin(0.3)) d = 1;
  while (!p.empty() && r.coin(0.3)) p.erase(p.begin());
  return p;
}

// Exact equality of two doubles, nan equal to nan, and -0 distinct from 0.
inline bool sameDouble(double a, double b) {
  if (a != a || b != b) return a != a && b != b;
  return a == b && std::signbit(a) == std::signbit(b);
}

}  // namespace msl::test
