// Gradients of the neural-network kernels (declared in runtime/KernelsNN.h), used by the
// reverse rules of autodiff/Rules.cpp through runtime/AutodiffPrims.cpp. They compute in
// f64 or f32 (the gradient's dtype is the input's) and are checked against finite
// differences in tests/lang/grad/gradcheck_nn.msl.
#include <cmath>
#include <numeric>

#include "runtime/KernelsNN.h"

namespace msl {

namespace {

DType gradDType(DType d) { return d == DType::F64 ? DType::F64 : DType::F32; }

// Calls f(T{}) with T the compute type (float or double) of dt.
template <class F> void visitFloat(DType dt, F&& f) {
  if (dt == DType::F64) f(double{});
  else f(float{});
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
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t i = 0; i < KH; ++i)
            for (int64_t j = 0; j < KW; ++j) {
              const T* row = dc + ((n * K) + (c * KH + i) * KW + j) * L;
              T* plane = px + (n * C + c) * H * W;
              for (int64_t oh = 0; oh < OH; ++oh) {
                int64_t h = oh * sh - ph + i;
                if (h < 0 || h >= H) continue;
                for (int64_t ow = 0; ow < OW; ++ow) {
                  int64_t ww = ow * sw - pw + j;
                  if (ww >= 0 && ww < W) plane[h * W + ww] += row[oh * OW + ow];
                }
              }
            }
      out = dx;
    } else {
      // cols (N, K, L); dw = sum_n dy_n (O, L) @ cols_n^T (L, K).
      Tensor xc = astype(x, dt).contiguous();
      Tensor cols = Tensor::zeros(dt, Shape{N, K, L});
      const T* px = xc.ptr<T>();
      T* pc = cols.ptr<T>();
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t i = 0; i < KH; ++i)
            for (int64_t j = 0; j < KW; ++j) {
              T* row = pc + ((n * K) + (c * KH + i) * KW + j) * L;
              const T* plane = px + (n * C + c) * H * W;
              for (int64_t oh = 0; oh < OH; ++oh) {
                int64_t h = oh * sh - ph + i;
                if (h < 0 || h >= H) continue;
                for (int64_t ow = 0; ow < OW; ++ow) {
                  int64_t ww = ow * sw - pw + j;
                  if (ww >= 0 && ww < W) row[oh * OW + ow] = plane[h * W + ww];
                }
              }
            }
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
Tensor pool2dBackward(const Tensor& dy, const Tensor& x, bool isMax, const Window2d& win) {
  int nd = x.ndim();
  int64_t H = x.dim(nd - 2), W = x.dim(nd - 1), OH = dy.dim(nd - 2), OW = dy.dim(nd - 1);
  int64_t planes = numel(Shape(x.shape().begin(), x.shape().end() - 2));
  DType dt = gradDType(x.dtype());
  Tensor dx = Tensor::zeros(dt, x.shape());
  visitFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    Tensor xc = astype(x, dt).contiguous(), dyc = astype(dy, dt).contiguous();
    const T *px = xc.ptr<T>(), *pd = dyc.ptr<T>();
    T* po = dx.ptr<T>();
    T inv = (T)1 / (T)(win.kh * win.kw);
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          int64_t h0 = oh * win.sh - win.ph, w0 = ow * win.sw - win.pw;
          int64_t h1 = std::min(h0 + win.kh, H), w1 = std::min(w0 + win.kw, W);
          h0 = std::max<int64_t>(h0, 0);
          w0 = std::max<int64_t>(w0, 0);
          T g = pd[(p * OH + oh) * OW + ow];
          const T* plane = px + p * H * W;
          T* dplane = po + p * H * W;
          if (isMax) {
            int64_t best = h0 * W + w0;
            for (int64_t i = h0; i < h1; ++i)
              for (int64_t j = w0; j < w1; ++j)
                if (plane[i * W + j] > plane[best] || plane[i * W + j] != plane[i * W + j]) best = i * W + j;
            dplane[best] += g;
          } else {
            for (int64_t i = h0; i < h1; ++i)
              for (int64_t j = w0; j < w1; ++j) dplane[i * W + j] += g * inv;
          }
        }
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

}  // namespace msl
