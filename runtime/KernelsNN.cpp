// Neural-network kernels (see runtime/KernelsNN.h).
//
// Convolution in f32 goes through oneDNN's convolution_forward on the layouts it picks
// (reordered from and to NCHW/OIHW), with primitives cached by problem shape (a training loop creates each one
// once); other float types are either converted to f32 (f16/bf16) or computed by a direct
// loop (f64, which oneDNN's CPU convolution does not support). Pooling, losses and
// lookups are loops of ours over contiguous data.
#include "runtime/KernelsNN.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <unordered_map>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "ir/Diagnostics.h"
#include "runtime/Dnnl.h"

namespace msl {

namespace {

[[noreturn]] void valueError(const std::string& msg) { raise(DiagId::ValueError, SourceLoc{}, {msg}); }

// The float dtype a float computation on `dt` produces: floats keep theirs, the rest f32.
DType floatResult(DType dt) { return isFloat(dt) ? dt : kDefaultFloat; }
// The dtype it computes in: f16/bf16 in f32.
DType computeType(DType dt) { return dt == DType::F64 ? DType::F64 : DType::F32; }

// Whether max pooling takes v over the running maximum m: v is larger, or NaN (which then
// propagates). Computed without branches (`|`, not `||`): on real data the outcome is a
// coin toss, and mispredicted branches cost more than the comparisons.
inline bool poolTakes(float v, float m) { return (v > m) | (v != v); }
// Select without a branch: v where take, else m (bit patterns, so NaN payloads survive).
inline float selectF32(bool take, float v, float m) {
  uint32_t mask = 0u - (uint32_t)take, vi, mi;
  std::memcpy(&vi, &v, 4);
  std::memcpy(&mi, &m, 4);
  uint32_t r = (vi & mask) | (mi & ~mask);
  float out;
  std::memcpy(&out, &r, 4);
  return out;
}

// ------------------------------------------------------------------ conv2d (oneDNN, f32)
// On the layouts oneDNN picks (StagedPrimitive, runtime/Dnnl.h), cached by problem shape.
std::map<std::array<int64_t, 12>, StagedPrimitive>& convCache() {
  static std::map<std::array<int64_t, 12>, StagedPrimitive> c;
  return c;
}

// x (N,C,H,W), w (O,C,KH,KW), b (O,) or null, y (N,O,OH,OW): contiguous f32.
void convF32(const float* x, const float* w, const float* b, float* y, int64_t N, int64_t C, int64_t H, int64_t W,
             int64_t O, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  std::array<int64_t, 12> key = {N, C, H, W, O, KH, KW, sh, sw, ph, pw, b ? 1 : 0};
  auto& prims = convCache();
  auto it = prims.find(key);
  if (it == prims.end()) {
    if (prims.size() >= 256) prims.clear();  // bounds memory in shape-varying programs
    dnnl::engine& eng = dnnlEngine();
    dnnl::memory::desc xd({N, C, H, W}, dt::f32, tag::nchw), xa({N, C, H, W}, dt::f32, tag::any);
    dnnl::memory::desc wd({O, C, KH, KW}, dt::f32, tag::oihw), wa({O, C, KH, KW}, dt::f32, tag::any);
    dnnl::memory::desc bd({O}, dt::f32, tag::x);
    dnnl::memory::desc yd({N, O, OH, OW}, dt::f32, tag::nchw), ya({N, O, OH, OW}, dt::f32, tag::any);
    auto prop = dnnl::prop_kind::forward_inference;
    auto alg = dnnl::algorithm::convolution_direct;
    dnnl::memory::dims strides = {sh, sw}, pad = {ph, pw};
    auto desc = b ? dnnl::convolution_forward::desc(prop, alg, xa, wa, bd, ya, strides, pad, pad)
                  : dnnl::convolution_forward::desc(prop, alg, xa, wa, ya, strides, pad, pad);
    dnnl::convolution_forward::primitive_desc pd(desc, eng);
    std::vector<StagedPrimitive::Arg> args = {{DNNL_ARG_SRC, xd, pd.src_desc(), false},
                                              {DNNL_ARG_WEIGHTS, wd, pd.weights_desc(), false},
                                              {DNNL_ARG_DST, yd, pd.dst_desc(), true}};
    if (b) args.push_back({DNNL_ARG_BIAS, bd, pd.bias_desc(), false});
    it = prims.emplace(key, StagedPrimitive(dnnl::convolution_forward(pd), args)).first;
  }
  std::vector<void*> ptrs = {const_cast<float*>(x), const_cast<float*>(w), y};
  if (b) ptrs.push_back(const_cast<float*>(b));
  it->second.run(ptrs);
}

// The same by direct loops (f64, and sizes oneDNN does not take: zero channels).
template <class T>
void convLoop(const T* x, const T* w, const T* b, T* y, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
              int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          T acc = b ? b[o] : T(0);
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < KH; ++i) {
              int64_t ih = oh * sh - ph + i;
              if (ih < 0 || ih >= H) continue;
              const T* xrow = x + ((n * C + c) * H + ih) * W;
              const T* wrow = w + ((o * C + c) * KH + i) * KW;
              for (int64_t j = 0; j < KW; ++j) {
                int64_t iw = ow * sw - pw + j;
                if (iw >= 0 && iw < W) acc += xrow[iw] * wrow[j];
              }
            }
          y[((n * O + o) * OH + oh) * OW + ow] = acc;
        }
}

}  // namespace

int64_t windowOutSize(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  int64_t span = in + 2 * pad - k;
  return span < 0 ? -1 : span / stride + 1;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  std::string shapes = shapeStr(x.shape()) + " and weights " + shapeStr(w.shape());
  if (x.ndim() != 4 || w.ndim() != 4)
    valueError("conv2d: expects input (N, C, H, W) and weights (O, C, KH, KW); got input " + shapes);
  if (x.dim(1) != w.dim(1))
    valueError("conv2d: input " + shapes + " have different channel counts (" + std::to_string(x.dim(1)) +
               " != " + std::to_string(w.dim(1)) + ")");
  if (sh < 1 || sw < 1) valueError("conv2d: stride must be at least 1");
  if (ph < 0 || pw < 0) valueError("conv2d: padding must not be negative");
  int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), O = w.dim(0), KH = w.dim(2), KW = w.dim(3);
  if (bias && !(bias->ndim() == 1 && bias->dim(0) == O))
    valueError("conv2d: bias of shape " + shapeStr(bias->shape()) + " does not match weights " + shapeStr(w.shape()) +
               " (expected (" + std::to_string(O) + ",))");
  int64_t OH = windowOutSize(H, KH, sh, ph), OW = windowOutSize(W, KW, sw, pw);
  if (OH < 0 || OW < 0)
    valueError("conv2d: the kernel " + shapeStr(Shape{KH, KW}) + " is larger than the padded input " +
               shapeStr(Shape{H + 2 * ph, W + 2 * pw}) + " (input " + shapes + ")");
  DType rt = promote(x.dtype(), w.dtype());
  if (bias) rt = promote(rt, bias->dtype());
  rt = floatResult(rt);
  DType ct = computeType(rt);
  Tensor y = Tensor::empty(ct, {N, O, OH, OW});
  if (y.numel() == 0) return astype(y, rt);
  Tensor xc = astype(x, ct).contiguous(), wc = astype(w, ct).contiguous(), bc;
  if (bias) bc = astype(*bias, ct).contiguous();
  if (ct == DType::F32 && C > 0 && KH > 0 && KW > 0) {
    try {
      convF32(xc.ptr<float>(), wc.ptr<float>(), bias ? bc.ptr<float>() : nullptr, y.ptr<float>(), N, C, H, W, O, KH,
              KW, OH, OW, sh, sw, ph, pw);
    } catch (const dnnl::error& e) {
      internalError(std::string("oneDNN convolution failed: ") + e.what());
    }
  } else if (ct == DType::F32) {
    convLoop<float>(xc.ptr<float>(), wc.ptr<float>(), bias ? bc.ptr<float>() : nullptr, y.ptr<float>(), N, C, H, W, O,
                    KH, KW, OH, OW, sh, sw, ph, pw);
  } else {
    convLoop<double>(xc.ptr<double>(), wc.ptr<double>(), bias ? bc.ptr<double>() : nullptr, y.ptr<double>(), N, C, H,
                     W, O, KH, KW, OH, OW, sh, sw, ph, pw);
  }
  return astype(y, rt);
}

// ------------------------------------------------------------------ pooling
Tensor pool2d(const Tensor& x, bool isMax, const Window2d& win, const char* fn) {
  std::string f = fn;
  if (x.ndim() < 3) valueError(f + ": expects a tensor (..., H, W) of rank 3 or more, got shape " + shapeStr(x.shape()));
  if (win.kh < 1 || win.kw < 1) valueError(f + ": kernel size must be at least 1");
  if (win.sh < 1 || win.sw < 1) valueError(f + ": stride must be at least 1");
  if (win.ph < 0 || win.pw < 0) valueError(f + ": padding must not be negative");
  if (2 * win.ph > win.kh || 2 * win.pw > win.kw)
    valueError(f + ": padding " + shapeStr(Shape{win.ph, win.pw}) + " must be at most half the kernel size " +
               shapeStr(Shape{win.kh, win.kw}));
  int nd = x.ndim();
  int64_t H = x.dim(nd - 2), W = x.dim(nd - 1);
  int64_t OH = windowOutSize(H, win.kh, win.sh, win.ph), OW = windowOutSize(W, win.kw, win.sw, win.pw);
  if (OH < 0 || OW < 0)
    valueError(f + ": the kernel " + shapeStr(Shape{win.kh, win.kw}) + " is larger than the padded input " +
               shapeStr(Shape{H + 2 * win.ph, W + 2 * win.pw}) + " (input shape " + shapeStr(x.shape()) + ")");
  Shape outShape(x.shape().begin(), x.shape().end() - 2);
  outShape.push_back(OH);
  outShape.push_back(OW);
  int64_t planes = numel(Shape(x.shape().begin(), x.shape().end() - 2));
  DType rt = isMax ? x.dtype() : floatResult(x.dtype());
  // Max pooling writes x's dtype directly; average pooling sums into f64 first.
  Tensor y = Tensor::empty(isMax ? rt : DType::F64, outShape);
  if (y.numel() == 0) return astype(y, rt);
  Tensor xc = x.contiguous();
  if (isMax && x.dtype() == DType::F32 && win.ph == 0 && win.pw == 0) {
    // The common case (a CNN's max pooling), as plain loops: the windows lie inside the
    // input, so no clipping; the same comparisons as the general loop below.
    // The window size as a constant for 2x2 (unrolled), else as given.
    auto run = [&](auto kh, auto kw) {
      const float* px = xc.ptr<float>();
      float* py = y.ptr<float>();
      for (int64_t p = 0; p < planes; ++p)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            const float* w0 = px + (p * H + oh * win.sh) * W + ow * win.sw;
            float m = w0[0];
            for (int64_t i = 0; i < (int64_t)kh; ++i)
              for (int64_t j = 0; j < (int64_t)kw; ++j) {
                float v = w0[i * W + j];
                m = selectF32(poolTakes(v, m), v, m);
              }
            py[(p * OH + oh) * OW + ow] = m;
          }
    };
#if defined(__SSE2__)
    if (win.kh == 2 && win.kw == 2 && win.sh == 2 && win.sw == 2) {
      // 2x2 at stride 2, four windows at a time: the same comparisons in the same order
      // (cmpgt is false on NaN; cmpunord(v, v) tests v for NaN), then the scalar tail.
      const float* px = xc.ptr<float>();
      float* py = y.ptr<float>();
      auto take = [](__m128 v, __m128 m) {
        __m128 t = _mm_or_ps(_mm_cmpgt_ps(v, m), _mm_cmpunord_ps(v, v));
        return _mm_or_ps(_mm_and_ps(t, v), _mm_andnot_ps(t, m));
      };
      for (int64_t p = 0; p < planes; ++p)
        for (int64_t oh = 0; oh < OH; ++oh) {
          const float *r0 = px + (p * H + 2 * oh) * W, *r1 = r0 + W;
          float* out = py + (p * OH + oh) * OW;
          int64_t ow = 0;
          for (; ow + 4 <= OW; ow += 4) {
            __m128 x0 = _mm_loadu_ps(r0 + 2 * ow), x1 = _mm_loadu_ps(r0 + 2 * ow + 4);
            __m128 y0 = _mm_loadu_ps(r1 + 2 * ow), y1 = _mm_loadu_ps(r1 + 2 * ow + 4);
            __m128 m = _mm_shuffle_ps(x0, x1, _MM_SHUFFLE(2, 0, 2, 0));
            m = take(_mm_shuffle_ps(x0, x1, _MM_SHUFFLE(3, 1, 3, 1)), m);
            m = take(_mm_shuffle_ps(y0, y1, _MM_SHUFFLE(2, 0, 2, 0)), m);
            m = take(_mm_shuffle_ps(y0, y1, _MM_SHUFFLE(3, 1, 3, 1)), m);
            _mm_storeu_ps(out + ow, m);
          }
          for (; ow < OW; ++ow) {
            const float* w0 = r0 + 2 * ow;
            float m = w0[0];
            for (float v : {w0[1], w0[W], w0[W + 1]}) m = selectF32(poolTakes(v, m), v, m);
            out[ow] = m;
          }
        }
      return y;
    }
#endif
    if (win.kh == 2 && win.kw == 2) run(std::integral_constant<int, 2>(), std::integral_constant<int, 2>());
    else run(win.kh, win.kw);
    return y;
  }
  visitDType(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = ComputeT<T>;
    const T* px = xc.ptr<T>();
    forEachWindow(planes, H, W, OH, OW, win, [&](int64_t p, int64_t at, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
      const T* plane = px + p * H * W;
      if (isMax) {
        // Windows always hold an input element (padding <= half the window).
        C m = convertValue<C>(plane[h0 * W + w0]);
        for (int64_t i = h0; i < h1; ++i)
          for (int64_t j = w0; j < w1; ++j) {
            C v = convertValue<C>(plane[i * W + j]);
            if (v > m || v != v) m = v;  // NaN propagates: nothing is greater than it
          }
        y.ptr<T>()[at] = convertValue<T>(m);
      } else {
        double s = 0;
        for (int64_t i = h0; i < h1; ++i)
          for (int64_t j = w0; j < w1; ++j) s += convertValue<double>(plane[i * W + j]);
        y.ptr<double>()[at] = s / (double)(win.kh * win.kw);
      }
    });
  });
  return astype(y, rt);
}

// ------------------------------------------------------------------ losses and normalisation
namespace {
// Calls f(T*) with x's data as a contiguous tensor of its float compute type.
template <class F> void withFloatData(const Tensor& x, Tensor* holder, F&& f) {
  *holder = astype(x, computeType(floatResult(x.dtype()))).contiguous();
  if (holder->dtype() == DType::F64) f(holder->ptr<double>());
  else f(holder->ptr<float>());
}
}  // namespace

Tensor crossEntropy(const Tensor& logits, const Tensor& labels) {
  std::string shapes = shapeStr(logits.shape()) + " and labels " + shapeStr(labels.shape());
  if (logits.ndim() < 1) valueError("cross_entropy: logits must have a class axis, got logits " + shapes);
  if (!isInteger(labels.dtype()))
    raise(DiagId::TypeError, SourceLoc{},
          {std::string("cross_entropy: labels must be integers, not ") + dtypeName(labels.dtype())});
  Shape batch(logits.shape().begin(), logits.shape().end() - 1);
  if (labels.shape() != batch)
    valueError("cross_entropy: labels must have the shape of logits without the last axis; got logits " + shapes);
  int64_t C = logits.dim(logits.ndim() - 1), rows = numel(batch);
  DType rt = floatResult(logits.dtype());
  Tensor out = Tensor::empty(computeType(rt), batch), holder;
  Tensor lab = astype(labels, DType::I64).contiguous();
  const int64_t* pl = lab.ptr<int64_t>();
  for (int64_t r = 0; r < rows; ++r)
    if (pl[r] < 0 || pl[r] >= C)
      raise(DiagId::IndexOutOfRange, SourceLoc{}, {std::to_string(pl[r]), std::to_string(logits.ndim() - 1), std::to_string(C)});
  withFloatData(logits, &holder, [&](auto* px) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(px)>>;
    T* po = out.ptr<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = px + r * C;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t c = 0; c < C; ++c) m = row[c] > m || row[c] != row[c] ? row[c] : m;
      T lse;
      if (std::isinf(m)) {
        lse = m;  // all -inf (or an inf): exp would give nan
      } else {
        double s = 0;
        for (int64_t c = 0; c < C; ++c) s += std::exp((double)(row[c] - m));
        lse = m + (T)std::log(s);
      }
      po[r] = lse - row[pl[r]];
    }
  });
  return astype(out, rt);
}

Tensor layerNormalize(const Tensor& x, double eps) {
  if (x.ndim() < 1) valueError("layer_norm: expects a tensor with at least one axis, got shape " + shapeStr(x.shape()));
  int64_t D = x.dim(x.ndim() - 1), rows = D == 0 ? 0 : x.numel() / D;
  DType rt = floatResult(x.dtype());
  Tensor out = Tensor::empty(computeType(rt), x.shape()), holder;
  withFloatData(x, &holder, [&](auto* px) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(px)>>;
    T* po = out.ptr<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = px + r * D;
      double mean = 0, var = 0;
      for (int64_t c = 0; c < D; ++c) mean += row[c];
      mean /= (double)D;
      for (int64_t c = 0; c < D; ++c) var += ((double)row[c] - mean) * ((double)row[c] - mean);
      var /= (double)D;
      double inv = 1.0 / std::sqrt(var + eps);
      for (int64_t c = 0; c < D; ++c) po[r * D + c] = (T)(((double)row[c] - mean) * inv);
    }
  });
  return astype(out, rt);
}

// ------------------------------------------------------------------ lookups
namespace {
// ids as contiguous i64, after checking they are integers.
Tensor indexIds(const Tensor& ids, const char* fn) {
  if (!isInteger(ids.dtype()))
    raise(DiagId::TypeError, SourceLoc{}, {std::string(fn) + ": ids must be integers, not " + dtypeName(ids.dtype())});
  return astype(ids, DType::I64).contiguous();
}
}  // namespace

Tensor embeddingLookup(const Tensor& table, const Tensor& ids) {
  if (table.ndim() < 1)
    valueError("embedding: the table must have at least one axis, got table " + shapeStr(table.shape()) + " and ids " +
               shapeStr(ids.shape()));
  Tensor idx = indexIds(ids, "embedding");
  int64_t V = table.dim(0), rowSize = V == 0 ? numel(Shape(table.shape().begin() + 1, table.shape().end())) : table.numel() / V;
  Shape outShape = ids.shape();
  outShape.insert(outShape.end(), table.shape().begin() + 1, table.shape().end());
  Tensor out = Tensor::empty(table.dtype(), outShape);
  Tensor tc = table.contiguous();
  size_t es = dtypeSize(table.dtype());
  const int64_t* pi = idx.ptr<int64_t>();
  for (int64_t k = 0; k < idx.numel(); ++k) {
    int64_t i = pi[k];
    if (i < -V || i >= V) raise(DiagId::IndexOutOfRange, SourceLoc{}, {std::to_string(i), "0", std::to_string(V)});
    if (i < 0) i += V;
    if (rowSize > 0)
      std::memcpy(static_cast<char*>(out.data()) + k * rowSize * es, static_cast<const char*>(tc.data()) + i * rowSize * es,
                  rowSize * es);
  }
  return out;
}

Tensor oneHot(const Tensor& ids, int64_t n, DType dt) {
  if (n < 0) valueError("one_hot: the number of classes must not be negative, got " + std::to_string(n));
  Tensor idx = indexIds(ids, "one_hot");
  Shape outShape = ids.shape();
  outShape.push_back(n);
  Tensor out = Tensor::zeros(dt, outShape);
  const int64_t* pi = idx.ptr<int64_t>();
  visitDType(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* po = out.ptr<T>();
    for (int64_t k = 0; k < idx.numel(); ++k)
      if (pi[k] >= 0 && pi[k] < n) po[k * n + pi[k]] = convertValue<T>(1);
  });
  return out;
}

}  // namespace msl
