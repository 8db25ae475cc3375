// Reductions and scans: sum, prod, max, min, all, any, mean, var, logsumexp, argmax,
// argmin, cumsum, softmax.
//
// Every reduction sees its (contiguous) input as blocks [O, R, I]: O outer positions, R
// reduced elements and I inner positions. Reduced axes that form one block of adjacent
// dimensions need no copy; others are permuted to the end first. With I == 1 the kernel
// reduces contiguous rows (float sums pairwise, exactly as NumPy's pairwise_sum), else it
// accumulates whole rows of I elements into the output, which vectorises.
//
// Threads (runtime/Parallel.h): outputs are split among threads, each computed exactly as
// on one thread; a single long row is split only where the split does not change the
// result (NumPy's fixed 8192-element blocks of a float sum, or exact operations: max, min,
// integer sums, and, or). Results never depend on MSL_NUM_THREADS.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "ir/Diagnostics.h"
#include "runtime/KernelLoops.h"
#include "runtime/Kernels.h"
#include "runtime/MathFns.h"
#include "runtime/ReduceLoops.h"

namespace msl {

Shape reducedShape(const Shape& s, const std::vector<int>& axes, bool keepdims) {
  Shape out;
  size_t k = 0;
  for (int d = 0; d < (int)s.size(); ++d) {
    bool reduced = k < axes.size() && axes[k] == d;
    if (reduced) ++k;
    if (!reduced) out.push_back(s[d]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

namespace {


// The input as [O, R, I] blocks of a contiguous tensor.
struct Blocks {
  Tensor x;  // contiguous
  int64_t O = 1, R = 1, I = 1;
};

Blocks toBlocks(const Tensor& in, const std::vector<int>& axes) {
  Blocks b;
  const Shape& s = in.shape();
  bool adjacent = axes.empty() || axes.back() - axes.front() + 1 == (int)axes.size();
  if (adjacent) {
    b.x = in.contiguous();
    int lo = axes.empty() ? (int)s.size() : axes.front(), hi = axes.empty() ? (int)s.size() - 1 : axes.back();
    for (int d = 0; d < (int)s.size(); ++d) (d < lo ? b.O : d <= hi ? b.R : b.I) *= s[d];
    return b;
  }
  std::vector<int> perm;
  size_t k = 0;
  for (int d = 0; d < (int)s.size(); ++d) {
    if (k < axes.size() && axes[k] == d) { ++k; continue; }
    perm.push_back(d);
    b.O *= s[d];
  }
  for (int a : axes) {
    perm.push_back(a);
    b.R *= s[a];
  }
  b.x = permute(in, perm).contiguous();
  return b;
}

// A float sum of a contiguous row as NumPy computes it (runtime/ReduceLoops.h): blocks of
// kNumpyBuffer elements summed pairwise, their sums added in order. The blocks are fixed
// by n alone: on the thread pool they are summed in parallel and added in order, so the
// result is the same, bit for bit, for every thread count.

template <class T> T numpySum(const T* a, int64_t n) {
  if (n <= kNumpyBuffer) return T(0) + pairwiseSum(a, n);
  int64_t blocks = (n + kNumpyBuffer - 1) / kNumpyBuffer;
  auto blockSum = [&](int64_t k) { return pairwiseSum(a + k * kNumpyBuffer, std::min(kNumpyBuffer, n - k * kNumpyBuffer)); };
  T acc = T(0);
  if (n < kParallelMin || numThreads() <= 1) {
    for (int64_t k = 0; k < blocks; ++k) acc += blockSum(k);
    return acc;
  }
  std::vector<T> sums((size_t)blocks);
  parallelFor(blocks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) sums[k] = blockSum(k);
  }, n);
  for (T v : sums) acc += v;
  return acc;
}

// Reduces blocks with `step`, starting from `init` or, when `fromFirst`, from the first
// reduced element (R > 0 then). On the thread pool, outputs are split among threads
// (each output is computed as on one thread); a single long row (O == 1, I == 1) is split
// into pieces only when `exact` (the step is associative in exact arithmetic: max, min,
// integer sums and products, and, or), the pieces being combined in order with `step`.
template <class T, class A, class Step>
void reduceBlocks(const Blocks& b, A* out, A init, bool fromFirst, Step step, bool exact = false) {
  const T* x = b.x.ptr<T>();
  int64_t work = b.O * b.R * b.I;
  int64_t r0 = fromFirst ? 1 : 0;
  if (b.O == 0 || b.I == 0) return;  // no outputs
  if (b.I == 1) {
    if (b.O == 1 && exact && work >= kParallelMin && numThreads() > 1 && b.R > 0) {
      constexpr int64_t kPiece = 1 << 14;
      int64_t pieces = (b.R + kPiece - 1) / kPiece;
      std::unique_ptr<A[]> part(new A[pieces]);  // not std::vector<bool>: threads write it
      parallelFor(pieces, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t k = lo; k < hi; ++k) {
          int64_t rb = k * kPiece, re = std::min(b.R, rb + kPiece);
          A acc = (A)x[rb];
          for (int64_t r = rb + 1; r < re; ++r) acc = step(acc, x[r]);
          part[k] = acc;
        }
      }, work);
      A acc = fromFirst ? part[0] : step(init, part[0]);
      for (int64_t k = 1; k < pieces; ++k) acc = step(acc, part[k]);
      out[0] = acc;
      return;
    }
    parallelFor(b.O, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) {
        const T* p = x + o * b.R;
        A acc = fromFirst ? (A)p[0] : init;
        for (int64_t r = r0; r < b.R; ++r) acc = step(acc, p[r]);
        out[o] = acc;
      }
    }, work);
    return;
  }
  // Columns: units of (outer position, a run of inner positions). Rows are read in runs
  // as long as possible (one thread: whole rows, streamed like NumPy), split only to give
  // each thread a share; every output is computed the same way whatever the split.
  int64_t threads = work >= kParallelMin ? numThreads() : 1;
  int64_t perO = b.O >= threads ? 1 : (threads + b.O - 1) / b.O;
  int64_t kCols = std::max<int64_t>(64, ((b.I + perO - 1) / perO + 15) / 16 * 16);
  int64_t runs = (b.I + kCols - 1) / kCols;
  parallelFor(b.O * runs, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t u = lo; u < hi; ++u) {
      int64_t o = u / runs, i0 = (u % runs) * kCols, i1 = std::min(b.I, i0 + kCols);
      const T* p = x + o * b.R * b.I;
      A* q = out + o * b.I;
      for (int64_t i = i0; i < i1; ++i) q[i] = fromFirst ? (A)p[i] : init;
      for (int64_t r = r0; r < b.R; ++r) {
        const T* row = p + r * b.I;
        for (int64_t i = i0; i < i1; ++i) q[i] = step(q[i], row[i]);
      }
    }
  }, work);
}

template <class T> void floatSum(const Blocks& b, T* out) {
  if (b.I == 1) {
    const T* x = b.x.ptr<T>();
    if (b.O == 1) {
      out[0] = numpySum(x, b.R);
      return;
    }
    parallelFor(b.O, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) out[o] = numpySum(x + o * b.R, b.R);
    }, b.O * b.R);
    return;
  }
  reduceBlocks<T, T>(b, out, T(0), false, [](T acc, T v) { return acc + v; });
}

// The float dtype mean, var, logsumexp and softmax compute in and return.
DType floatResult(DType d) { return isFloat(d) ? d : kDefaultFloat; }

int64_t reducedCount(const Shape& s, const std::vector<int>& axes) {
  int64_t n = 1;
  for (int a : axes) n *= s[a];
  return n;
}

}  // namespace

Tensor reduce(RedOp op, const Tensor& x, const std::vector<int>& axes, bool keepdims, const char* fnName) {
  DType in = x.dtype();
  if (op == RedOp::Max || op == RedOp::Min) checkExtremeNotEmpty(reducedCount(x.shape(), axes), fnName);
  // The dtype computed in (and accumulated in), and the result's.
  DType ct, rt;
  switch (op) {
    case RedOp::Sum: case RedOp::Prod:
      ct = isFloat(in) ? computeDType(in) : DType::I64;
      rt = isFloat(in) ? in : DType::I64;
      break;
    case RedOp::Max: case RedOp::Min: ct = computeDType(in); rt = in; break;
    default: ct = rt = DType::Bool;
  }
  Blocks b = toBlocks(astype(x, ct), axes);
  Tensor out = Tensor::empty(ct, reducedShape(x.shape(), axes, keepdims));
  visitCompute(ct, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* q = out.ptr<T>();
    if constexpr (std::is_same_v<T, bool>) {
      // all/min are "and", any/max are "or".
      if (op == RedOp::All || op == RedOp::Min) reduceBlocks<T, T>(b, q, true, false, [](bool a, bool v) { return a && v; }, true);
      else reduceBlocks<T, T>(b, q, false, false, [](bool a, bool v) { return a || v; }, true);
    } else if ((op == RedOp::Max || op == RedOp::Min) && std::is_floating_point_v<T> && b.I == 1) {
      // Rows (or pieces of one long row, exact for max and min) on 8 vector lanes.
      bool isMax = op == RedOp::Max;
      const T* x = b.x.ptr<T>();
      auto row = [&](const T* p, int64_t n) { return isMax ? extremeRow<T, true>(p, n) : extremeRow<T, false>(p, n); };
      if (b.O == 1 && b.R >= kParallelMin && numThreads() > 1) {
        constexpr int64_t kPiece = 1 << 14;
        int64_t pieces = (b.R + kPiece - 1) / kPiece;
        std::unique_ptr<T[]> part(new T[pieces]);
        parallelFor(pieces, 1, [&](int64_t lo, int64_t hi) {
          for (int64_t k = lo; k < hi; ++k) part[k] = row(x + k * kPiece, std::min(kPiece, b.R - k * kPiece));
        }, b.R);
        T acc = part[0];
        for (int64_t k = 1; k < pieces; ++k) acc = isMax ? maxOf(acc, part[k]) : minOf(acc, part[k]);
        q[0] = acc;
      } else {
        parallelFor(b.O, 1, [&](int64_t lo, int64_t hi) {
          for (int64_t o = lo; o < hi; ++o) q[o] = row(x + o * b.R, b.R);
        }, b.O * b.R);
      }
    } else if (op == RedOp::Max) {
      reduceBlocks<T, T>(b, q, T(), true, maxOf<T>, true);
    } else if (op == RedOp::Min) {
      reduceBlocks<T, T>(b, q, T(), true, minOf<T>, true);
    } else if constexpr (std::is_floating_point_v<T>) {
      if (op == RedOp::Sum) floatSum<T>(b, q);
      else reduceBlocks<T, T>(b, q, T(1), false, [](T a, T v) { return a * v; });
    } else if constexpr (std::is_same_v<T, int64_t>) {
      // Integer sums and products wrap.
      if (op == RedOp::Sum) reduceBlocks<T, T>(b, q, 0, false, [](T a, T v) { return (T)((uint64_t)a + (uint64_t)v); }, true);
      else reduceBlocks<T, T>(b, q, 1, false, [](T a, T v) { return (T)((uint64_t)a * (uint64_t)v); }, true);
    }
  });
  return astype(out, rt);
}

Tensor meanOf(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  DType rt = floatResult(x.dtype());
  DType ct = computeDType(rt);
  Tensor s = reduce(RedOp::Sum, astype(x, ct), axes, keepdims, "mean");
  return meanFromSum(s, reducedCount(x.shape(), axes), rt);
}

Tensor meanFromSum(const Tensor& s, int64_t count, DType rt) {
  return astype(binary(BinOp::Div, s, Scalar::real((double)count)), rt);
}

void checkExtremeNotEmpty(int64_t count, const char* fnName) {
  if (count == 0)
    raise(DiagId::ValueError, SourceLoc{}, {std::string(fnName) + "() of an empty tensor: the reduction has no identity"});
}

Tensor varOf(const Tensor& x, const std::vector<int>& axes, bool keepdims, int64_t ddof) {
  DType rt = floatResult(x.dtype());
  Tensor xf = astype(x, computeDType(rt));
  Tensor m = meanOf(xf, axes, true);
  Tensor sq = binary(BinOp::Sub, xf, m);
  if (!binaryInPlace(BinOp::Mul, sq, sq, sq)) sq = binary(BinOp::Mul, sq, sq);  // squares, in place
  Tensor s = reduce(RedOp::Sum, sq, axes, keepdims, "var");
  int64_t n = reducedCount(x.shape(), axes) - ddof;
  return astype(binary(BinOp::Div, s, Scalar::real((double)(n > 0 ? n : 0))), rt);
}

Tensor logsumexpOf(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  DType rt = floatResult(x.dtype());
  Tensor xf = astype(x, computeDType(rt));
  if (reducedCount(x.shape(), axes) == 0) {
    Tensor out = Tensor::empty(rt, reducedShape(x.shape(), axes, keepdims));
    assignInto(out, Tensor::scalar(rt, -INFINITY));
    return out;
  }
  // m = max, replaced by 0 where it is not finite (all -inf, or inf/nan present).
  Tensor m = reduce(RedOp::Max, xf, axes, true, "logsumexp");
  m = where(unary(UnOp::IsFinite, m), m, Scalar::real(0.0));
  Tensor e = unary(UnOp::Exp, binary(BinOp::Sub, xf, m));
  Tensor s = reduce(RedOp::Sum, e, axes, keepdims, "logsumexp");
  Tensor mk = keepdims ? m : reshapeTo(m, reducedShape(x.shape(), axes, false));
  return astype(binary(BinOp::Add, unary(UnOp::Log, s), mk), rt);
}

Tensor argReduce(bool isMax, const Tensor& x, int axis, bool keepdims, const char* fnName) {
  if (x.numel() == 0 || (axis >= 0 && x.dim(axis) == 0))
    raise(DiagId::ValueError, SourceLoc{}, {std::string(fnName) + "() of an empty tensor"});
  Blocks b;
  Shape outShape;
  if (axis < 0) {
    b = toBlocks(astype(x, computeDType(x.dtype())), {});
    b.R = b.O;  // the whole tensor is one reduced row
    b.O = 1;
    if (keepdims) outShape = Shape(x.ndim(), 1);
  } else {
    b = toBlocks(astype(x, computeDType(x.dtype())), {axis});
    outShape = reducedShape(x.shape(), {axis}, keepdims);
  }
  Tensor out = Tensor::empty(DType::I64, outShape);
  int64_t* q = out.ptr<int64_t>();
  visitCompute(b.x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* base = b.x.ptr<T>();
    parallelFor(b.O * b.I, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t u = lo; u < hi; ++u) {
        int64_t o = u / b.I, i = u % b.I;
        const T* p = base + o * b.R * b.I + i;
        T best = p[0];
        int64_t at = 0;
        for (int64_t r = 1; r < b.R; ++r) {
          if constexpr (std::is_floating_point_v<T>) {
            if (best != best) break;  // the first nan wins
          }
          T v = p[r * b.I];
          bool better = isMax ? v > best : v < best;
          if constexpr (std::is_floating_point_v<T>) better = better || v != v;
          if (better) { best = v; at = r; }
        }
        q[o * b.I + i] = at;
      }
    }, b.O * b.R * b.I);
  });
  return out;
}

Tensor cumsumOf(const Tensor& x, int axis) {
  DType rt = isFloat(x.dtype()) ? x.dtype() : DType::I64;
  Tensor xc = astype(x, computeDType(rt));
  Blocks b;
  Shape outShape = x.shape();
  if (axis < 0) {
    b.x = xc.contiguous();
    b.R = x.numel();
    outShape = {x.numel()};
  } else {
    b = toBlocks(xc, {axis});
  }
  Tensor out = Tensor::empty(b.x.dtype(), outShape);
  visitCompute(b.x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T> || std::is_same_v<T, int64_t>) {
      const T* p = b.x.ptr<T>();
      T* q = out.ptr<T>();
      for (int64_t o = 0; o < b.O && b.R > 0; ++o) {
        int64_t base = o * b.R * b.I;
        for (int64_t i = 0; i < b.I; ++i) q[base + i] = p[base + i];
        for (int64_t r = 1; r < b.R; ++r) {
          const T* row = p + base + r * b.I;
          T* prev = q + base + (r - 1) * b.I;
          T* cur = prev + b.I;
          for (int64_t i = 0; i < b.I; ++i) {
            if constexpr (std::is_floating_point_v<T>) cur[i] = prev[i] + row[i];
            else cur[i] = (T)((uint64_t)prev[i] + (uint64_t)row[i]);
          }
        }
      }
    }
  });
  return astype(out, rt);
}

Tensor softmaxOf(const Tensor& x, int axis, bool log) {
  DType rt = floatResult(x.dtype());
  Blocks b = toBlocks(astype(x, computeDType(rt)), {axis});
  Tensor out = Tensor::empty(b.x.dtype(), x.shape());
  visitCompute(b.x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T>) {
      const T* p = b.x.ptr<T>();
      T* q = out.ptr<T>();
      if (b.R == 0) return;
      // Each (outer, inner) position is independent: split them among threads.
      parallelFor(b.O * b.I, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t u = lo; u < hi; ++u) {
          int64_t o = u / b.I, i = u % b.I;
          int64_t base = o * b.R * b.I + i;
          T m = p[base];
          for (int64_t r = 1; r < b.R; ++r) m = maxOf(m, p[base + r * b.I]);
          T s = 0;
          for (int64_t r = 0; r < b.R; ++r) {
            T e = fn::exp(p[base + r * b.I] - m);
            if (!log) q[base + r * b.I] = e;
            s += e;
          }
          if (log) {
            T ls = fn::log(s);
            for (int64_t r = 0; r < b.R; ++r) q[base + r * b.I] = (p[base + r * b.I] - m) - ls;
          } else {
            for (int64_t r = 0; r < b.R; ++r) q[base + r * b.I] /= s;
          }
        }
      }, b.O * b.R * b.I);
    }
  });
  return astype(out, rt);
}

}  // namespace msl
