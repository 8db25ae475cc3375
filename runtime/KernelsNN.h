// Neural-network kernels: convolution, pooling, losses, normalisation, lookups
// (runtime/KernelsNN.cpp). The primitives of runtime/NNPrims.cpp parse their arguments
// and call these; other runtime code (gradients, compiled code) may call them directly.
//
// Conventions are those of runtime/Kernels.h: inputs are never written; results are new
// contiguous tensors; f16/bf16 compute in f32 and are stored back in their dtype; integer
// and bool inputs of float computations give f32. Shape errors name both shapes.
#pragma once
#include <algorithm>
#include <cstdint>

#include "runtime/Kernels.h"

namespace msl {

// Spatial window parameters (height, width) of conv2d and the pooling kernels.
struct Window2d {
  int64_t kh = 1, kw = 1;  // window (kernel) size; conv2d takes it from the weights
  int64_t sh = 1, sw = 1;  // strides, >= 1
  int64_t ph = 0, pw = 0;  // zero padding added on both sides, >= 0
};

// The output size of one spatial axis: floor((in + 2*pad - k) / stride) + 1, or -1 when
// the padded input is smaller than the window.
int64_t windowOutSize(int64_t in, int64_t k, int64_t stride, int64_t pad);

// conv2d: x (N, C, H, W), w (O, C, KH, KW), optional bias (O,) -> (N, O, OH, OW).
// f32 (and f16/bf16 in f32) runs on oneDNN's convolution (primitives cached by shape);
// f64 on loops of ours. Raises ValueError naming both shapes on a mismatch.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, int64_t sh, int64_t sw, int64_t ph, int64_t pw);

// The windows of pooling over `planes` planes of H x W: calls f(p, out, h0, h1, w0, w1)
// for output `out` = (p * OH + oh) * OW + ow, whose window covers rows [h0, h1) and columns
// [w0, w1) of plane p, clipped to the input.
template <class F>
void forEachWindow(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW, const Window2d& win, F&& f) {
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t h0 = oh * win.sh - win.ph, w0 = ow * win.sw - win.pw;
        int64_t h1 = std::min(h0 + win.kh, H), w1 = std::min(w0 + win.kw, W);
        f(p, (p * OH + oh) * OW + ow, std::max<int64_t>(h0, 0), h1, std::max<int64_t>(w0, 0), w1);
      }
}

// max/average pooling over the last two axes of x (rank >= 3: (..., H, W)). Max pooling
// keeps the dtype, pads with -inf and propagates NaN; average pooling divides by the
// window size, padding included (PyTorch's count_include_pad), and gives floats.
// Padding must be at most half the window (as in PyTorch).
Tensor pool2d(const Tensor& x, bool isMax, const Window2d& win, const char* fnName);

// Softmax cross-entropy with integer labels: logits (..., C), labels (...) in [0, C) ->
// one loss per example, shape (...): logsumexp(logits) - logits[label], computed stably.
Tensor crossEntropy(const Tensor& logits, const Tensor& labels);

// (x - mean) / sqrt(var + eps) over the last axis of x (no scale or shift).
Tensor layerNormalize(const Tensor& x, double eps);

// table[ids]: ids (any shape, integer) select rows of table (V, ...) -> ids.shape +
// table.shape[1:]. Negative ids count from the end; others out of range raise
// IndexOutOfRange.
Tensor embeddingLookup(const Tensor& table, const Tensor& ids);

// ---- gradients (runtime/KernelsNNBwd.cpp), in the dtype of the input they belong to
// conv2d's cotangent dy (N, O, OH, OW) for its input x (wantInput) or its weights w.
Tensor conv2dBackward(const Tensor& dy, const Tensor& x, const Tensor& w, int64_t sh, int64_t sw, int64_t ph,
                      int64_t pw, bool wantInput);
// pool2d's cotangent for x: max pooling to the first largest element of each window,
// average pooling spread over the window.
Tensor pool2dBackward(const Tensor& dy, const Tensor& x, bool isMax, const Window2d& win);
// The transpose of max pooling's backward pass: c (x's shape) read at each window's
// maximum, in the pooled shape (second-order derivatives of max_pool2d).
Tensor pool2dGatherMax(const Tensor& c, const Tensor& x, const Window2d& win);
// layer_norm's cotangents for x, gamma and beta (the last two of shape (D,)).
void layerNormBackward(const Tensor& dy, const Tensor& x, const Tensor* gamma, double eps, Tensor* dx,
                       Tensor* dgamma, Tensor* dbeta);

// one_hot(ids, n): ids.shape + (n,) of dtype dt, 1 where the last index equals the id;
// ids outside [0, n) give rows of zeros (as in JAX).
Tensor oneHot(const Tensor& ids, int64_t n, DType dt);

}  // namespace msl
