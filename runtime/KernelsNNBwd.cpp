// Gradients of the neural-network kernels (declared in runtime/KernelsNN.h), used by the
// reverse rules of autodiff/Rules.cpp through runtime/AutodiffPrims.cpp. They compute in
// f64 or f32 (the gradient's dtype is the input's) and are checked against finite
// differences in tests/lang/grad/gradcheck_nn.msl.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "ir/Diagnostics.h"
#include "runtime/Dnnl.h"
#include "runtime/KernelsNN.h"
#include "runtime/Parallel.h"

// oneDNN's OpenMP thread count (runtime/Parallel.cpp sets it through the same call).
extern "C" void omp_set_num_threads(int n);

namespace msl {

namespace {

DType gradDType(DType d) { return d == DType::F64 ? DType::F64 : DType::F32; }

// Calls f(T{}) with T the compute type (float or double) of dt.
template <class F> void visitFloat(DType dt, F&& f) {
  if (dt == DType::F64) f(double{});
  else f(float{});
}

// The taps of im2col: calls f(col, pix) for every window tap that falls inside the input,
// col indexing cols (N, C*KH*KW, OH*OW) and pix the input (N, C, H, W), both flat.
template <class F>
void forEachTap(int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t OH, int64_t OW,
                int64_t sh, int64_t sw, int64_t ph, int64_t pw, F&& f) {
  int64_t K = C * KH * KW, L = OH * OW;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < KH; ++i)
        for (int64_t j = 0; j < KW; ++j) {
          int64_t row = (n * K + (c * KH + i) * KW + j) * L, plane = (n * C + c) * H * W;
          for (int64_t oh = 0; oh < OH; ++oh) {
            int64_t h = oh * sh - ph + i;
            if (h < 0 || h >= H) continue;
            for (int64_t ow = 0; ow < OW; ++ow) {
              int64_t w = ow * sw - pw + j;
              if (w >= 0 && w < W) f(row + oh * OW + ow, plane + h * W + w);
            }
          }
        }
}

// v where mask is all ones, else m, by their bits (no branch: see pool2dBackward).
template <class T> T selectBits(int64_t mask, T v, T m) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  U vi, mi, r;
  std::memcpy(&vi, &v, sizeof(T));
  std::memcpy(&mi, &m, sizeof(T));
  r = (vi & (U)mask) | (mi & ~(U)mask);
  T out;
  std::memcpy(&out, &r, sizeof(T));
  return out;
}

// conv2d's gradients in f32 by oneDNN's convolution_backward_data (dx) and
// convolution_backward_weights (dw) on the layouts oneDNN picks, as the forward pass
// (runtime/KernelsNN.cpp); primitives cached by problem shape, like the forward's. They
// run on one thread (see OneThread below).
struct ConvBwdPrims {
  StagedPrimitive data, weights;
};

// dy (N,O,OH,OW), x (N,C,H,W), w (O,C,KH,KW) contiguous f32; writes dx or dw (contiguous).
void convBackwardF32(const float* dy, const float* x, const float* w, float* out, bool wantInput, int64_t N,
                     int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW, int64_t OH, int64_t OW,
                     int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  // The weights' gradient sums over the batch; oneDNN splits that sum among its threads,
  // so its bits would depend on the thread count (docs/tensors.md promises they do not):
  // both primitives are made and run on one OpenMP thread, restored afterwards.
  struct OneThread {
    OneThread() { omp_set_num_threads(1); }
    ~OneThread() { omp_set_num_threads(numThreads()); }
  } oneThread;
  static std::map<std::array<int64_t, 11>, ConvBwdPrims> cache;
  std::array<int64_t, 11> key = {N, C, H, W, O, KH, KW, sh, sw, ph, pw};
  auto it = cache.find(key);
  if (it == cache.end()) {
    if (cache.size() >= 256) cache.clear();  // bounds memory in shape-varying programs
    dnnl::engine& eng = dnnlEngine();
    // Few input channels (LeNet's 1 and 6): activations in NHWC rather than the blocked
    // layouts oneDNN would pick, on which it takes slower kernels for the weights'
    // gradient. One thread, batch 64, reorders from and to NCHW included: conv 1->6 5x5
    // on 28x28 dw 1.4 -> 0.7 ms (avx512; 4.2 -> 0.9 ms on avx2), conv 6->16 on 14x14 dw
    // 1.2 -> 0.5 ms (1.05 -> 0.8), dx 1.1 -> 1.0 ms (1.4 -> 1.3); the same bits here. The
    // forward pass's brgconv picks NHWC already. Where oneDNN has no direct kernel for
    // NHWC (a reference or GEMM one), the layouts it picks.
    auto make = [&](tag act, ConvBwdPrims* out) {
      dnnl::memory::desc xd({N, C, H, W}, dt::f32, tag::nchw), xa({N, C, H, W}, dt::f32, act);
      dnnl::memory::desc wd({O, C, KH, KW}, dt::f32, tag::oihw), wa({O, C, KH, KW}, dt::f32, tag::any);
      dnnl::memory::desc yd({N, O, OH, OW}, dt::f32, tag::nchw), ya({N, O, OH, OW}, dt::f32, act);
      auto alg = dnnl::algorithm::convolution_direct;
      dnnl::memory::dims strides = {sh, sw}, pad = {ph, pw};
      dnnl::convolution_forward::primitive_desc hint(
          dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, xa, wa, ya, strides, pad, pad), eng);
      dnnl::convolution_backward_data::primitive_desc dpd(
          dnnl::convolution_backward_data::desc(alg, xa, wa, ya, strides, pad, pad), eng, hint);
      dnnl::convolution_backward_weights::primitive_desc wpd(
          dnnl::convolution_backward_weights::desc(alg, xa, wa, ya, strides, pad, pad), eng, hint);
      auto direct = [](const std::string& impl) { return impl.rfind("ref", 0) != 0 && impl.find("gemm") == std::string::npos; };
      if (act != tag::any && !(direct(dpd.impl_info_str()) && direct(wpd.impl_info_str()))) return false;
      out->data = StagedPrimitive(dnnl::convolution_backward_data(dpd), {{DNNL_ARG_DIFF_DST, yd, dpd.diff_dst_desc(), false},
                                                                        {DNNL_ARG_WEIGHTS, wd, dpd.weights_desc(), false},
                                                                        {DNNL_ARG_DIFF_SRC, xd, dpd.diff_src_desc(), true}});
      out->weights = StagedPrimitive(dnnl::convolution_backward_weights(wpd),
                                     {{DNNL_ARG_DIFF_DST, yd, wpd.diff_dst_desc(), false},
                                      {DNNL_ARG_SRC, xd, wpd.src_desc(), false},
                                      {DNNL_ARG_DIFF_WEIGHTS, wd, wpd.diff_weights_desc(), true}});
      return true;
    };
    ConvBwdPrims prims;
    if (!(C <= 8 && make(tag::nhwc, &prims))) make(tag::any, &prims);
    it = cache.emplace(key, std::move(prims)).first;
  }
  if (wantInput)
    it->second.data.run({const_cast<float*>(dy), const_cast<float*>(w), out});
  else
    it->second.weights.run({const_cast<float*>(dy), const_cast<float*>(x), out});
}

// convBackwardDataFewChannels at stride 1: dx[n, c, h, x] = sum over o, i, j (in that
// order) of dy[n, o, h + ph - i, x + pw - j] w[o, c, i, j], the taps outside dy skipped.
// Each image's dy is copied into rows padded with zeros on both sides, so that a strip of
// kStrip output columns reads every tap as one unaligned run, accumulated in registers.
// The padding adds 0 * w (+-0) to sums that start at +0 and so are never -0: the same bits
// as skipping those taps, for finite weights (the caller checks). Separate multiply and
// add (no FMA, as the rest of the build: -ffp-contract=off): the AVX2 and the portable
// strip give identical bits, so results do not depend on the CPU either.
constexpr int64_t kStrip = 32;

// out[0, kStrip) = sum_k base[off[k] + l] * wt[k], in k order.
void stripPortable(const float* base, const int64_t* off, const float* wt, int64_t n, float* out) {
  float acc[kStrip] = {};
  for (int64_t k = 0; k < n; ++k) {
    const float* __restrict s = base + off[k];
    float wv = wt[k];
    for (int64_t l = 0; l < kStrip; ++l) acc[l] += s[l] * wv;
  }
  std::memcpy(out, acc, sizeof(acc));
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MSL_STRIP_AVX2 1
__attribute__((target("avx2"))) void stripAvx2(const float* base, const int64_t* off, const float* wt, int64_t n,
                                               float* out) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t k = 0; k < n; ++k) {
    const float* s = base + off[k];
    __m256 wv = _mm256_set1_ps(wt[k]);
    a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(s), wv));
    a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(s + 8), wv));
    a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(s + 16), wv));
    a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_loadu_ps(s + 24), wv));
  }
  _mm256_storeu_ps(out, a0);
  _mm256_storeu_ps(out + 8, a1);
  _mm256_storeu_ps(out + 16, a2);
  _mm256_storeu_ps(out + 24, a3);
}
#endif

void convBackwardDataStride1(const float* dy, const float* w, float* dx, int64_t N, int64_t C, int64_t H, int64_t W,
                             int64_t O, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t ph, int64_t pw) {
  using Strip = void (*)(const float*, const int64_t*, const float*, int64_t, float*);
  Strip strip = stripPortable;
#ifdef MSL_STRIP_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) strip = stripAvx2;
#endif
  int64_t strips = (W + kStrip - 1) / kStrip;
  // Padded row: dy's column ow at ow + KW - 1; output column x's tap j reads x + pw - j
  // (pw >= 0), in [0, strips * kStrip + pw + KW - 1). Padding wider than the kernel makes
  // dy's row the longer.
  int64_t lead = KW - 1, L = std::max(strips * kStrip + pw + KW - 1, lead + OW);
  // The taps of each input row (c, h), in the order o, i, j: the same for every image.
  int64_t T = O * KH * KW;
  std::vector<int64_t> off((size_t)(C * H * T)), count((size_t)(C * H));
  std::vector<float> wt((size_t)(C * H * T));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t h = 0; h < H; ++h) {
      int64_t base = (c * H + h) * T, k = 0;
      for (int64_t o = 0; o < O; ++o)
        for (int64_t i = 0; i < KH; ++i) {
          int64_t oh = h + ph - i;
          if (oh < 0 || oh >= OH) continue;
          for (int64_t j = 0; j < KW; ++j, ++k) {
            off[(size_t)(base + k)] = (o * OH + oh) * L + lead + pw - j;
            wt[(size_t)(base + k)] = w[((o * C + c) * KH + i) * KW + j];
          }
        }
      count[(size_t)(c * H + h)] = k;
    }
  parallelFor(N, 1, [&](int64_t n0, int64_t n1) {
    std::vector<float> pad((size_t)(O * OH * L), 0.0f);
    float tmp[kStrip];
    for (int64_t n = n0; n < n1; ++n) {
      for (int64_t r = 0; r < O * OH; ++r)
        std::memcpy(pad.data() + r * L + lead, dy + (n * O * OH + r) * OW, (size_t)OW * sizeof(float));
      for (int64_t ch = 0; ch < C * H; ++ch) {
        const int64_t* offs = off.data() + ch * T;
        const float* wts = wt.data() + ch * T;
        int64_t k = count[(size_t)ch];
        float* row = dx + (n * C * H + ch) * W;
        for (int64_t x0 = 0; x0 < W; x0 += kStrip) {
          if (W - x0 >= kStrip) {
            strip(pad.data() + x0, offs, wts, k, row + x0);
          } else {
            strip(pad.data() + x0, offs, wts, k, tmp);
            std::memcpy(row + x0, tmp, (size_t)(W - x0) * sizeof(float));
          }
        }
      }
    }
  }, N * C * H * W * O * KH * KW);
}

// Whether p[0, n) holds no inf or NaN.
bool allFinite(const float* p, int64_t n) {
  uint32_t bad = 0;  // an exponent of all ones: inf or NaN (integers, so it vectorises)
  for (int64_t k = 0; k < n; ++k) {
    uint32_t u;
    std::memcpy(&u, p + k, 4);
    bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
  }
  return !bad;
}

// dx of a convolution with few input channels: dx[n, c, oh*sh - ph + i, ow*sw - pw + j]
// += dy[n, o, oh, ow] w[o, c, i, j]. oneDNN's blocked kernels pad the channels to a vector
// width (16) and took ten times as long on LeNet's first layer (one input channel); here
// the inner loop runs along a row. Used for strides above 1, and for non-finite weights
// (convBackwardDataStride1 takes stride 1 otherwise); each element sums its taps in the
// order o, i, j, as there. Images are split among threads; each element's sum has a fixed
// order, so the bits do not depend on the thread count.
void convBackwardDataFewChannels(const float* dy, const float* w, float* dx, int64_t N, int64_t C, int64_t H,
                                 int64_t W, int64_t O, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                                 int64_t sw, int64_t ph, int64_t pw) {
  // The output columns ow whose tap j lands inside the input: lo <= ow < hi.
  std::vector<int64_t> lo(KW), hi(KW);
  for (int64_t j = 0; j < KW; ++j) {
    lo[j] = j >= pw ? 0 : (pw - j + sw - 1) / sw;
    hi[j] = W - 1 + pw - j < 0 ? 0 : std::min(OW, (W - 1 + pw - j) / sw + 1);
  }
  parallelFor(N, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      float* dxn = dx + n * C * H * W;
      std::fill(dxn, dxn + C * H * W, 0.0f);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t o = 0; o < O; ++o) {
          const float* dyp = dy + (n * O + o) * OH * OW;
          const float* wp = w + (o * C + c) * KH * KW;
          for (int64_t i = 0; i < KH; ++i)
            for (int64_t oh = 0; oh < OH; ++oh) {
              int64_t h = oh * sh - ph + i;
              if (h < 0 || h >= H) continue;
              const float* __restrict dyr = dyp + oh * OW;
              float* __restrict row = dxn + (c * H + h) * W;
              for (int64_t j = 0; j < KW; ++j) {
                float wv = wp[i * KW + j];
                for (int64_t ow = lo[j]; ow < hi[j]; ++ow) row[ow * sw + j - pw] += dyr[ow] * wv;
              }
            }
        }
    }
  }, N * C * H * W * O * KH * KW / std::max<int64_t>(1, sh * sw));
}

}  // namespace

// conv2d as a matrix product over im2col columns: for image n, cols_n (C*KH*KW, OH*OW)
// holds the padded input under each window; y_n = w (O, C*KH*KW) @ cols_n. Hence
// dw = sum_n dy_n @ cols_n^T and dcols_n = w^T @ dy_n, scattered back (col2im).
Tensor conv2dBackward(const Tensor& dy, const Tensor& x, const Tensor& w, int64_t sh, int64_t sw, int64_t ph,
                      int64_t pw, bool wantInput) {
  int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), O = w.dim(0), KH = w.dim(2), KW = w.dim(3);
  int64_t OH = dy.dim(2), OW = dy.dim(3), K = C * KH * KW, L = OH * OW;
  DType dt = gradDType(x.dtype());
  Tensor out;
  if (dt == DType::F32 && N > 0 && C > 0 && O > 0 && KH > 0 && KW > 0 && L > 0) {
    Tensor dyc = astype(dy, dt).contiguous(), xc, wc;
    out = Tensor::empty(dt, wantInput ? x.shape() : w.shape());
    if (wantInput) wc = astype(w, dt).contiguous();
    else xc = astype(x, dt).contiguous();
    if (wantInput && C < 4) {
      const float* pw_ = wc.ptr<float>();
      bool finite = allFinite(pw_, wc.numel());
      if (sh == 1 && sw == 1 && ph >= 0 && pw >= 0 && finite) {
        convBackwardDataStride1(dyc.ptr<float>(), pw_, out.ptr<float>(), N, C, H, W, O, KH, KW, OH, OW, ph, pw);
        return out.dtype() == x.dtype() ? out : astype(out, x.dtype());
      }
      convBackwardDataFewChannels(dyc.ptr<float>(), wc.ptr<float>(), out.ptr<float>(), N, C, H, W, O, KH, KW, OH, OW,
                                  sh, sw, ph, pw);
      return out.dtype() == x.dtype() ? out : astype(out, x.dtype());
    }
    try {
      convBackwardF32(dyc.ptr<float>(), wantInput ? nullptr : xc.ptr<float>(), wantInput ? wc.ptr<float>() : nullptr,
                      out.ptr<float>(), wantInput, N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw);
    } catch (const dnnl::error& e) {
      internalError(std::string("oneDNN convolution backward failed: ") + e.what());
    }
    const Tensor& like = wantInput ? x : w;
    return out.dtype() == like.dtype() ? out : astype(out, like.dtype());
  }
  visitFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    Tensor dyc = astype(dy, dt).contiguous();
    if (wantInput) {
      // dcols = w^T @ dy for all images at once: (K, O) @ (N, O, L) -> (N, K, L).
      Tensor wt = permute(reshapeTo(astype(w, dt).contiguous(), Shape{O, K}), {1, 0});
      Tensor dcols = matmul(wt, reshapeTo(dyc, Shape{N, O, L})).contiguous();
      Tensor dx = Tensor::zeros(dt, x.shape());
      const T* dc = dcols.ptr<T>();
      T* px = dx.ptr<T>();
      forEachTap(N, C, H, W, KH, KW, OH, OW, sh, sw, ph, pw, [&](int64_t col, int64_t pix) { px[pix] += dc[col]; });
      out = dx;
    } else {
      // cols (N, K, L); dw = sum_n dy_n (O, L) @ cols_n^T (L, K).
      Tensor xc = astype(x, dt).contiguous();
      Tensor cols = Tensor::zeros(dt, Shape{N, K, L});
      const T* px = xc.ptr<T>();
      T* pc = cols.ptr<T>();
      forEachTap(N, C, H, W, KH, KW, OH, OW, sh, sw, ph, pw, [&](int64_t col, int64_t pix) { pc[col] = px[pix]; });
      Tensor per = matmul(reshapeTo(dyc, Shape{N, O, L}), permute(cols, {0, 2, 1}));  // (N, O, K)
      Tensor dw = reduce(RedOp::Sum, per, {0}, false, "conv2d");
      out = reshapeTo(dw.contiguous(), w.shape());
    }
  });
  const Tensor& like = wantInput ? x : w;
  return out.dtype() == like.dtype() ? out : astype(out, like.dtype());
}

// Max pooling sends each output's cotangent to the first largest element of its window;
// average pooling spreads it evenly over the window (padding counted, as in the forward).
// The offset in its plane of a window's maximum (the last NaN, if any): where max
// pooling's cotangent goes.
template <class T> int64_t windowMax(const T* plane, int64_t W, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
  int64_t best = h0 * W + w0;
  for (int64_t i = h0; i < h1; ++i)
    for (int64_t j = w0; j < w1; ++j)
      if (plane[i * W + j] > plane[best] || plane[i * W + j] != plane[i * W + j]) best = i * W + j;
  return best;
}

Tensor pool2dBackward(const Tensor& dy, const Tensor& x, bool isMax, const Window2d& win) {
  int nd = x.ndim();
  int64_t H = x.dim(nd - 2), W = x.dim(nd - 1), OH = dy.dim(nd - 2), OW = dy.dim(nd - 1);
  int64_t planes = numel(Shape(x.shape().begin(), x.shape().end() - 2));
  DType dt = gradDType(x.dtype());
  Tensor dx = Tensor::empty(dt, x.shape());
  visitFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    Tensor xc = astype(x, dt).contiguous(), dyc = astype(dy, dt).contiguous();
    const T *px = xc.ptr<T>(), *pd = dyc.ptr<T>();
    T* po = dx.ptr<T>();
    T inv = (T)1 / (T)(win.kh * win.kw);
    if (isMax && win.ph == 0 && win.pw == 0 && win.kh == 2 && win.kw == 2 && win.sh == 2 && win.sw == 2) {
      // 2x2 windows at stride 2 (a CNN's pooling) do not overlap: each element of dx is
      // written once, its window's cotangent if chosen (the element the loop below
      // picks), else zero; 0 + g as there (+0 for g = -0). Rows and columns that no
      // window covers get zero.
      for (int64_t p = 0; p < planes; ++p) {
        for (int64_t oh = 0; oh < OH; ++oh) {
          const T *r0 = px + (p * H + 2 * oh) * W, *r1 = r0 + W, *g = pd + (p * OH + oh) * OW;
          T *d0 = po + (p * H + 2 * oh) * W, *d1 = d0 + W;
          int64_t ow = 0;
#if defined(__SSE2__)
          if constexpr (std::is_same_v<T, float>) {
            // Four windows at a time, the same comparisons (cmpgt is false on NaN;
            // cmpunord(v, v) tests v for NaN); the chosen element's mask keeps 0 + g.
            for (; ow + 4 <= OW; ow += 4) {
              __m128 x0 = _mm_loadu_ps(r0 + 2 * ow), x1 = _mm_loadu_ps(r0 + 2 * ow + 4);
              __m128 y0 = _mm_loadu_ps(r1 + 2 * ow), y1 = _mm_loadu_ps(r1 + 2 * ow + 4);
              __m128 a = _mm_shuffle_ps(x0, x1, _MM_SHUFFLE(2, 0, 2, 0)), b = _mm_shuffle_ps(x0, x1, _MM_SHUFFLE(3, 1, 3, 1));
              __m128 c = _mm_shuffle_ps(y0, y1, _MM_SHUFFLE(2, 0, 2, 0)), d = _mm_shuffle_ps(y0, y1, _MM_SHUFFLE(3, 1, 3, 1));
              __m128 bv = a;
              __m128 mb = _mm_or_ps(_mm_cmpgt_ps(b, bv), _mm_cmpunord_ps(b, b));
              bv = _mm_or_ps(_mm_and_ps(mb, b), _mm_andnot_ps(mb, bv));
              __m128 mc = _mm_or_ps(_mm_cmpgt_ps(c, bv), _mm_cmpunord_ps(c, c));
              bv = _mm_or_ps(_mm_and_ps(mc, c), _mm_andnot_ps(mc, bv));
              __m128 md = _mm_or_ps(_mm_cmpgt_ps(d, bv), _mm_cmpunord_ps(d, d));
              __m128 gv = _mm_add_ps(_mm_setzero_ps(), _mm_loadu_ps(g + ow));
              __m128 gd = _mm_and_ps(md, gv);
              gv = _mm_andnot_ps(md, gv);
              __m128 gc = _mm_and_ps(mc, gv);
              gv = _mm_andnot_ps(mc, gv);
              __m128 gb = _mm_and_ps(mb, gv), ga = _mm_andnot_ps(mb, gv);
              _mm_storeu_ps(d0 + 2 * ow, _mm_unpacklo_ps(ga, gb));
              _mm_storeu_ps(d0 + 2 * ow + 4, _mm_unpackhi_ps(ga, gb));
              _mm_storeu_ps(d1 + 2 * ow, _mm_unpacklo_ps(gc, gd));
              _mm_storeu_ps(d1 + 2 * ow + 4, _mm_unpackhi_ps(gc, gd));
            }
          }
#endif
          for (; ow < OW; ++ow) {
            T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1], bv = a;
            int64_t sel = 0, m;
            m = -(int64_t)((b > bv) | (b != b));
            sel = (1 & m) | (sel & ~m);
            bv = selectBits(m, b, bv);
            m = -(int64_t)((c > bv) | (c != c));
            sel = (2 & m) | (sel & ~m);
            bv = selectBits(m, c, bv);
            m = -(int64_t)((d > bv) | (d != d));
            sel = (3 & m) | (sel & ~m);
            T gv = (T)0 + g[ow];
            d0[2 * ow] = selectBits(-(int64_t)(sel == 0), gv, (T)0);
            d0[2 * ow + 1] = selectBits(-(int64_t)(sel == 1), gv, (T)0);
            d1[2 * ow] = selectBits(-(int64_t)(sel == 2), gv, (T)0);
            d1[2 * ow + 1] = selectBits(-(int64_t)(sel == 3), gv, (T)0);
          }
          for (int64_t j = 2 * OW; j < W; ++j) d0[j] = d1[j] = (T)0;
        }
        std::fill(po + (p * H + 2 * OH) * W, po + (p + 1) * H * W, (T)0);
      }
      return;
    }
    std::fill(po, po + dx.numel(), (T)0);
    if (isMax && win.ph == 0 && win.pw == 0) {
      // Windows inside the input (no clipping), as plain loops: the same choice of element;
      // the window size a constant for 2x2 (unrolled).
      // Each output row's chosen elements are found first, then receive their cotangents:
      // interleaving the loads of x with the stores into dx (buffers of the same size,
      // read and written at the same offsets) stalls on 4K aliasing.
      std::vector<int64_t> bestOf((size_t)OW);
      auto run = [&](auto kh, auto kw) {
        for (int64_t p = 0; p < planes; ++p)
          for (int64_t oh = 0; oh < OH; ++oh) {
            for (int64_t ow = 0; ow < OW; ++ow) {
              int64_t base = (p * H + oh * win.sh) * W + ow * win.sw, best = base;
              T bv = px[base];
              for (int64_t i = 0; i < (int64_t)kh; ++i)
                for (int64_t j = 0; j < (int64_t)kw; ++j) {
                  int64_t k = base + i * W + j;
                  T v = px[k];
                  // Without branches (see poolTakes): the same element as the loop below.
                  bool take = (v > bv) | (v != v);
                  int64_t mask = -(int64_t)take;
                  best = (k & mask) | (best & ~mask);
                  bv = selectBits(mask, v, bv);
                }
              bestOf[(size_t)ow] = best;
            }
            const T* g = pd + (p * OH + oh) * OW;
            for (int64_t ow = 0; ow < OW; ++ow) po[bestOf[(size_t)ow]] += g[ow];
          }
      };
      if (win.kh == 2 && win.kw == 2) run(std::integral_constant<int, 2>(), std::integral_constant<int, 2>());
      else run(win.kh, win.kw);
      return;
    }
    forEachWindow(planes, H, W, OH, OW, win, [&](int64_t p, int64_t at, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
      T g = pd[at];
      const T* plane = px + p * H * W;
      T* dplane = po + p * H * W;
      if (isMax) {
        dplane[windowMax(plane, W, h0, h1, w0, w1)] += g;
      } else {
        for (int64_t i = h0; i < h1; ++i)
          for (int64_t j = w0; j < w1; ++j) dplane[i * W + j] += g * inv;
      }
    });
  });
  return dx.dtype() == x.dtype() ? dx : astype(dx, x.dtype());
}

// y = xhat * gamma + beta over the last axis, xhat = (x - mean) / sqrt(var + eps):
// dx = (g - mean(g) - xhat mean(g xhat)) / sqrt(var + eps) with g = dy * gamma;
// dgamma = sum(dy xhat) and dbeta = sum(dy) over the other axes.
void layerNormBackward(const Tensor& dy, const Tensor& x, const Tensor* gamma, double eps, Tensor* dx,
                       Tensor* dgamma, Tensor* dbeta) {
  int64_t D = x.dim(x.ndim() - 1), rows = D ? x.numel() / D : 0;
  DType dt = gradDType(x.dtype());
  *dx = Tensor::zeros(dt, x.shape());
  *dgamma = Tensor::zeros(dt, Shape{D});
  *dbeta = Tensor::zeros(dt, Shape{D});
  visitFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    Tensor xc = astype(x, dt).contiguous(), dyc = astype(dy, dt).contiguous();
    Tensor gc = gamma ? astype(broadcastTo(*gamma, Shape{D}, "layer_norm"), dt).contiguous() : Tensor();
    const T *px = xc.ptr<T>(), *pd = dyc.ptr<T>(), *pg = gamma ? gc.ptr<T>() : nullptr;
    T *pdx = dx->ptr<T>(), *pdg = dgamma->ptr<T>(), *pdb = dbeta->ptr<T>();
    std::vector<double> xhat((size_t)D), g((size_t)D);
    for (int64_t r = 0; r < rows; ++r) {
      const T *xr = px + r * D, *dr = pd + r * D;
      double mean = 0, var = 0;
      for (int64_t k = 0; k < D; ++k) mean += xr[k];
      mean /= (double)D;
      for (int64_t k = 0; k < D; ++k) var += (xr[k] - mean) * (xr[k] - mean);
      var /= (double)D;
      double inv = 1.0 / std::sqrt(var + eps), mg = 0, mgx = 0;
      for (int64_t k = 0; k < D; ++k) {
        xhat[(size_t)k] = (xr[k] - mean) * inv;
        g[(size_t)k] = dr[k] * (pg ? (double)pg[k] : 1.0);
        mg += g[(size_t)k];
        mgx += g[(size_t)k] * xhat[(size_t)k];
        pdg[k] += (T)(dr[k] * xhat[(size_t)k]);
        pdb[k] += dr[k];
      }
      mg /= (double)D;
      mgx /= (double)D;
      for (int64_t k = 0; k < D; ++k) pdx[r * D + k] = (T)((g[(size_t)k] - mg - xhat[(size_t)k] * mgx) * inv);
    }
  });
  if (dx->dtype() != x.dtype()) *dx = astype(*dx, x.dtype());
}

Tensor pool2dGatherMax(const Tensor& c, const Tensor& x, const Window2d& win) {
  int nd = x.ndim();
  int64_t H = x.dim(nd - 2), W = x.dim(nd - 1);
  int64_t OH = windowOutSize(H, win.kh, win.sh, win.ph), OW = windowOutSize(W, win.kw, win.sw, win.pw);
  Shape outShape(x.shape().begin(), x.shape().end() - 2);
  int64_t planes = numel(outShape);
  outShape.push_back(OH);
  outShape.push_back(OW);
  DType dt = gradDType(x.dtype());
  Tensor out = Tensor::zeros(dt, outShape);
  visitFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    Tensor xc = astype(x, dt).contiguous(), cc = astype(c, dt).contiguous();
    const T *px = xc.ptr<T>(), *pc = cc.ptr<T>();
    T* po = out.ptr<T>();
    forEachWindow(planes, H, W, OH, OW, win, [&](int64_t p, int64_t at, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
      po[at] = pc[p * H * W + windowMax(px + p * H * W, W, h0, h1, w0, w1)];
    });
  });
  return out.dtype() == x.dtype() ? out : astype(out, x.dtype());
}

}  // namespace msl
