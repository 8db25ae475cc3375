// Tests of the neural-network kernels and primitives (runtime/KernelsNN.cpp,
// runtime/NNPrims.cpp): each kernel against a naive reference in double precision over
// random shapes and layouts (strides and padding for conv/pool, empty tensors), plus
// argument parsing and error messages through the primitives.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "runtime/KernelsNN.h"
#include "runtime_tensor_test_util.h"

namespace msl {
namespace {

using namespace msl::test;

Value call(Prim p, std::vector<Value> pos, Kwargs kw = {}) { return callPrim(p, std::move(pos), std::move(kw)); }

// Element at a multi-index of a tensor of any layout, as double.
double at(const Tensor& t, std::initializer_list<int64_t> idx) {
  int64_t flat = 0, d = 0;
  for (int64_t i : idx) flat = flat * t.dim((int)d++) + i;
  return t.getF64(flat);
}

// Close within a tolerance relative to `scale` (the magnitude of the terms summed).
void expectClose(double got, double want, double tol, const std::string& what) {
  if (want != want) {
    EXPECT_TRUE(got != got) << what << ": got " << got << ", want nan";
    return;
  }
  if (std::isinf(want)) {
    EXPECT_EQ(got, want) << what;
    return;
  }
  EXPECT_NEAR(got, want, tol * (1 + std::fabs(want))) << what;
}

void expectAllClose(const Tensor& got, const std::vector<double>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.numel(), (int64_t)want.size()) << what;
  for (int64_t i = 0; i < got.numel(); ++i) expectClose(got.getF64(i), want[i], tol, what + " at " + std::to_string(i));
}

double tolOf(DType dt) { return dt == DType::F64 ? 1e-12 : 2e-5; }

// ------------------------------------------------------------------ conv2d
std::vector<double> convRef(const Tensor& x, const Tensor& w, const Tensor* b, int64_t sh, int64_t sw, int64_t ph,
                            int64_t pw, int64_t OH, int64_t OW) {
  int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), O = w.dim(0), KH = w.dim(2), KW = w.dim(3);
  std::vector<double> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          double acc = b ? b->getF64(o) : 0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t u = 0; u < KH; ++u)
              for (int64_t v = 0; v < KW; ++v) {
                int64_t ih = i * sh - ph + u, iw = j * sw - pw + v;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) acc += at(x, {n, c, ih, iw}) * at(w, {o, c, u, v});
              }
          y.push_back(acc);
        }
  return y;
}

TEST(RuntimeNN, Conv2dMatchesReference) {
  Rng r(7);
  for (DType dt : {DType::F32, DType::F64}) {
    for (int iter = 0; iter < 60; ++iter) {
      int64_t N = r.uniformInt(0, 2), C = r.uniformInt(iter % 10 == 0 ? 0 : 1, 3), H = r.uniformInt(1, 7),
              W = r.uniformInt(1, 7), O = r.uniformInt(iter % 13 == 0 ? 0 : 1, 3), KH = r.uniformInt(1, 3),
              KW = r.uniformInt(1, 3), sh = r.uniformInt(1, 3), sw = r.uniformInt(1, 3), ph = r.uniformInt(0, 2),
              pw = r.uniformInt(0, 2);
      Tensor x = r.tensor(dt, {N, C, H, W}, false), w = r.tensor(dt, {O, C, KH, KW}, false), b = r.tensor(dt, {O}, false);
      bool useBias = r.coin();
      int64_t OH = windowOutSize(H, KH, sh, ph), OW = windowOutSize(W, KW, sw, pw);
      std::string what = "conv " + shapeStr(x.shape()) + " " + shapeStr(w.shape()) + " s" + std::to_string(sh) +
                         std::to_string(sw) + " p" + std::to_string(ph) + std::to_string(pw);
      if (OH < 0 || OW < 0) {
        EXPECT_NE(errorOf([&] { conv2d(x, w, useBias ? &b : nullptr, sh, sw, ph, pw); }), "") << what;
        continue;
      }
      Tensor y = conv2d(x, w, useBias ? &b : nullptr, sh, sw, ph, pw);
      EXPECT_EQ(y.dtype(), dt);
      EXPECT_EQ(y.shape(), (Shape{N, O, OH, OW})) << what;
      expectAllClose(y, convRef(x, w, useBias ? &b : nullptr, sh, sw, ph, pw, OH, OW), dt == DType::F64 ? 1e-12 : 1e-4, what);
    }
  }
}

TEST(RuntimeNN, Conv2dPrimitiveArguments) {
  Tensor x = makeT(DType::F32, {1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = makeT(DType::F32, {1, 1, 2, 2}, {1, 0, 0, 1});
  EXPECT_EQ(reprOf(call(Prim::Conv2d, {TV(x), TV(w)})), "tensor([[[[ 6.,  8.],\n          [12., 14.]]]])");
  Value y = call(Prim::Conv2d, {TV(x), TV(w), L({F(1.0)})}, {{"stride", T({I(2), I(1)})}, {"padding", I(1)}});
  EXPECT_EQ(TOf(y).shape(), (Shape{1, 1, 2, 4}));
  EXPECT_EQ(TOf(y).getF64(0), 2.0);  // padding then x[0,0] * w[1,1] + bias
  // Integer inputs compute in f32.
  Tensor xi = makeT(DType::I64, {1, 1, 2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(TOf(call(Prim::Conv2d, {TV(xi), TV(xi)})).dtype(), DType::F32);
  EXPECT_EQ(TOf(call(Prim::Conv2d, {TV(xi), TV(xi)})).getF64(0), 30.0);
}

TEST(RuntimeNN, Conv2dErrors) {
  Tensor x = Tensor::zeros(DType::F32, {2, 3, 5, 5});
  EXPECT_EQ(errorOf([&] { call(Prim::Conv2d, {TV(x), TV(Tensor::zeros(DType::F32, {4, 2, 3, 3}))}); }),
            "conv2d: input (2, 3, 5, 5) and weights (4, 2, 3, 3) have different channel counts (3 != 2)");
  EXPECT_EQ(errorOf([&] { call(Prim::Conv2d, {TV(Tensor::zeros(DType::F32, {3, 5, 5})), TV(x)}); }),
            "conv2d: expects input (N, C, H, W) and weights (O, C, KH, KW); got input (3, 5, 5) and weights (2, 3, 5, 5)");
  EXPECT_EQ(errorOf([&] { call(Prim::Conv2d, {TV(x), TV(Tensor::zeros(DType::F32, {4, 3, 7, 7}))}); }),
            "conv2d: the kernel (7, 7) is larger than the padded input (5, 5) (input (2, 3, 5, 5) and weights (4, 3, 7, 7))");
  EXPECT_EQ(errorOf([&] {
              call(Prim::Conv2d, {TV(x), TV(Tensor::zeros(DType::F32, {4, 3, 1, 1})), TV(Tensor::zeros(DType::F32, {3}))});
            }),
            "conv2d: bias of shape (3,) does not match weights (4, 3, 1, 1) (expected (4,))");
  EXPECT_NE(errorOf([&] { call(Prim::Conv2d, {TV(x), TV(x)}, {{"stride", I(0)}}); }), "");
}

// conv2d's gradients by the definition: y[n,o,i,j] = sum x[n,c,i*sh-ph+u,j*sw-pw+v] w[o,c,u,v],
// so dx and dw accumulate dy times the other operand over every in-range tap.
void convBwdRef(const Tensor& dy, const Tensor& x, const Tensor& w, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                std::vector<double>* dx, std::vector<double>* dw) {
  int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), O = w.dim(0), KH = w.dim(2), KW = w.dim(3);
  int64_t OH = dy.dim(2), OW = dy.dim(3);
  dx->assign((size_t)x.numel(), 0.0);
  dw->assign((size_t)w.numel(), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t u = 0; u < KH; ++u)
              for (int64_t v = 0; v < KW; ++v) {
                int64_t ih = i * sh - ph + u, iw = j * sw - pw + v;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                double g = at(dy, {n, o, i, j});
                (*dx)[(size_t)(((n * C + c) * H + ih) * W + iw)] += g * at(w, {o, c, u, v});
                (*dw)[(size_t)(((o * C + c) * KH + u) * KW + v)] += g * at(x, {n, c, ih, iw});
              }
}

// f32 goes through oneDNN's backward primitives, f64 through im2col loops: both against
// the definition, over random shapes, strides and padding (and zero-sized batches).
TEST(RuntimeNN, Conv2dBackwardMatchesReference) {
  Rng r(17);
  for (DType dt : {DType::F32, DType::F64}) {
    for (int iter = 0; iter < 60; ++iter) {
      int64_t N = r.uniformInt(iter % 11 == 0 ? 0 : 1, 3), C = r.uniformInt(1, 3), H = r.uniformInt(1, 7),
              W = r.uniformInt(1, 7), O = r.uniformInt(1, 4), KH = r.uniformInt(1, 3), KW = r.uniformInt(1, 3),
              sh = r.uniformInt(1, 3), sw = r.uniformInt(1, 3), ph = r.uniformInt(0, 2), pw = r.uniformInt(0, 2);
      int64_t OH = windowOutSize(H, KH, sh, ph), OW = windowOutSize(W, KW, sw, pw);
      if (OH < 0 || OW < 0) continue;
      Tensor x = r.tensor(dt, {N, C, H, W}, false), w = r.tensor(dt, {O, C, KH, KW}, false);
      Tensor dy = r.tensor(dt, {N, O, OH, OW}, false);
      std::string what = "conv bwd " + shapeStr(x.shape()) + " " + shapeStr(w.shape()) + " s" + std::to_string(sh) +
                         std::to_string(sw) + " p" + std::to_string(ph) + std::to_string(pw) + " " + dtypeName(dt);
      std::vector<double> dxRef, dwRef;
      convBwdRef(dy, x, w, sh, sw, ph, pw, &dxRef, &dwRef);
      Tensor dx = conv2dBackward(dy, x, w, sh, sw, ph, pw, true), dw = conv2dBackward(dy, x, w, sh, sw, ph, pw, false);
      EXPECT_EQ(dx.dtype(), dt);
      EXPECT_EQ(dw.dtype(), dt);
      EXPECT_EQ(dx.shape(), x.shape()) << what;
      EXPECT_EQ(dw.shape(), w.shape()) << what;
      double tol = dt == DType::F64 ? 1e-12 : 1e-4;
      expectAllClose(dx, dxRef, tol, what + " dx");
      expectAllClose(dw, dwRef, tol, what + " dw");
    }
  }
}

// ------------------------------------------------------------------ pooling
std::vector<double> poolRef(const Tensor& x, bool isMax, const Window2d& w, int64_t OH, int64_t OW) {
  int nd = x.ndim();
  int64_t H = x.dim(nd - 2), W = x.dim(nd - 1), planes = x.numel() / std::max<int64_t>(H * W, 1);
  if (H * W == 0) planes = 0;
  std::vector<double> y;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < OH; ++i)
      for (int64_t j = 0; j < OW; ++j) {
        double acc = isMax ? -INFINITY : 0;
        for (int64_t u = 0; u < w.kh; ++u)
          for (int64_t v = 0; v < w.kw; ++v) {
            int64_t ih = i * w.sh - w.ph + u, iw = j * w.sw - w.pw + v;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            double e = x.getF64((p * H + ih) * W + iw);
            if (isMax) acc = (e > acc || e != e || acc != acc) ? (acc != acc ? acc : e) : acc;
            else acc += e;
          }
        y.push_back(isMax ? acc : acc / (double)(w.kh * w.kw));
      }
  return y;
}

TEST(RuntimeNN, PoolingMatchesReference) {
  Rng r(11);
  for (DType dt : {DType::F32, DType::F64, DType::I32}) {
    for (int iter = 0; iter < 60; ++iter) {
      bool isMax = iter % 2 == 0;
      Window2d w;
      w.kh = r.uniformInt(1, 3), w.kw = r.uniformInt(1, 3), w.sh = r.uniformInt(1, 3), w.sw = r.uniformInt(1, 3);
      w.ph = r.uniformInt(0, w.kh / 2), w.pw = r.uniformInt(0, w.kw / 2);
      Shape s = {r.uniformInt(iter % 9 == 0 ? 0 : 1, 2), r.uniformInt(1, 3), r.uniformInt(1, 6), r.uniformInt(1, 6)};
      if (iter % 5 == 0) s.erase(s.begin());
      Tensor x = r.tensor(dt, s, true);
      int64_t OH = windowOutSize(s[s.size() - 2], w.kh, w.sh, w.ph), OW = windowOutSize(s.back(), w.kw, w.sw, w.pw);
      std::string what = std::string(isMax ? "max " : "avg ") + shapeStr(s) + dtypeName(dt);
      if (OH < 0 || OW < 0) {
        EXPECT_NE(errorOf([&] { pool2d(x, isMax, w, "pool"); }), "") << what;
        continue;
      }
      Tensor y = pool2d(x, isMax, w, "pool");
      EXPECT_EQ(y.dtype(), isMax ? dt : (dt == DType::F64 ? DType::F64 : DType::F32)) << what;
      EXPECT_EQ(y.shape()[y.ndim() - 2], OH);
      expectAllClose(y, poolRef(x, isMax, w, OH, OW), 1e-5, what);
    }
  }
}

// pool2d's gradient by the definition: max pooling sends each window's cotangent to its
// first largest element, average pooling spreads it over the window (padding counted).
TEST(RuntimeNN, PoolingBackwardMatchesReference) {
  Rng r(19);
  for (DType dt : {DType::F32, DType::F64}) {
    for (int iter = 0; iter < 60; ++iter) {
      bool isMax = iter % 3 != 0;
      Window2d w;
      w.kh = r.uniformInt(1, 3), w.kw = r.uniformInt(1, 3), w.sh = r.uniformInt(1, 3), w.sw = r.uniformInt(1, 3);
      w.ph = iter % 2 ? 0 : r.uniformInt(0, w.kh / 2), w.pw = iter % 2 ? 0 : r.uniformInt(0, w.kw / 2);
      Shape s = {r.uniformInt(1, 2), r.uniformInt(1, 3), r.uniformInt(1, 6), r.uniformInt(1, 6)};
      int64_t H = s[2], W = s[3], OH = windowOutSize(H, w.kh, w.sh, w.ph), OW = windowOutSize(W, w.kw, w.sw, w.pw);
      if (OH < 0 || OW < 0) continue;
      Tensor x = r.tensor(dt, s, false), dy = r.tensor(dt, {s[0], s[1], OH, OW}, false);
      std::vector<double> want((size_t)x.numel(), 0.0);
      for (int64_t p = 0; p < s[0] * s[1]; ++p)
        for (int64_t i = 0; i < OH; ++i)
          for (int64_t j = 0; j < OW; ++j) {
            double g = dy.getF64((p * OH + i) * OW + j);
            int64_t best = -1;
            for (int64_t u = 0; u < w.kh; ++u)
              for (int64_t v = 0; v < w.kw; ++v) {
                int64_t ih = i * w.sh - w.ph + u, iw = j * w.sw - w.pw + v;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                int64_t k = (p * H + ih) * W + iw;
                if (!isMax) want[(size_t)k] += g / (double)(w.kh * w.kw);
                else if (best < 0 || x.getF64(k) > x.getF64(best)) best = k;
              }
            if (isMax) want[(size_t)best] += g;
          }
      std::string what = std::string(isMax ? "max bwd " : "avg bwd ") + shapeStr(s) + dtypeName(dt);
      Tensor dx = pool2dBackward(dy, x, isMax, w);
      EXPECT_EQ(dx.dtype(), dt);
      expectAllClose(dx, want, tolOf(dt), what);
    }
  }
}

TEST(RuntimeNN, PoolingPrimitives) {
  Tensor x = makeT(DType::F32, {1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  EXPECT_EQ(reprOf(call(Prim::MaxPool2d, {TV(x), I(2)})), "tensor([[[[ 6.,  8.],\n          [14., 16.]]]])");
  EXPECT_EQ(reprOf(call(Prim::AvgPool2d, {TV(x), I(2)})), "tensor([[[[ 3.5,  5.5],\n          [11.5, 13.5]]]])");
  Value y = call(Prim::MaxPool2d, {TV(x), T({I(3), I(3)})}, {{"stride", I(1)}, {"padding", I(1)}});
  EXPECT_EQ(TOf(y).shape(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(TOf(y).getF64(0), 6.0);
  EXPECT_EQ(errorOf([&] { call(Prim::MaxPool2d, {TV(x), I(2)}, {{"padding", I(2)}}); }),
            "max_pool2d: padding (2, 2) must be at most half the kernel size (2, 2)");
  EXPECT_EQ(errorOf([&] { call(Prim::AvgPool2d, {TV(Tensor::zeros(DType::F32, {4, 4})), I(2)}); }),
            "avg_pool2d: expects a tensor (..., H, W) of rank 3 or more, got shape (4, 4)");
  EXPECT_EQ(errorOf([&] { call(Prim::AvgPool2d, {TV(x), I(5)}); }),
            "avg_pool2d: the kernel (5, 5) is larger than the padded input (4, 4) (input shape (1, 1, 4, 4))");
}

// ------------------------------------------------------------------ losses, normalisation
TEST(RuntimeNN, CrossEntropyMatchesReference) {
  Rng r(3);
  for (DType dt : {DType::F32, DType::F64}) {
    for (int iter = 0; iter < 30; ++iter) {
      Shape batch = r.shape(2, 4);
      int64_t C = r.uniformInt(1, 6);
      Shape s = batch;
      s.push_back(C);
      Tensor logits = r.tensor(dt, s, false);
      Tensor labels = Tensor::empty(DType::I64, batch);
      for (int64_t k = 0; k < labels.numel(); ++k) labels.ptr<int64_t>()[k] = r.uniformInt(0, C - 1);
      Tensor y = crossEntropy(logits, labels);
      EXPECT_EQ(y.shape(), batch);
      EXPECT_EQ(y.dtype(), dt);
      std::vector<double> want;
      for (int64_t k = 0; k < labels.numel(); ++k) {
        double m = -INFINITY, s2 = 0;
        for (int64_t c = 0; c < C; ++c) m = std::max(m, logits.getF64(k * C + c));
        for (int64_t c = 0; c < C; ++c) s2 += std::exp(logits.getF64(k * C + c) - m);
        want.push_back(m + std::log(s2) - logits.getF64(k * C + labels.getI64(k)));
      }
      expectAllClose(y, want, tolOf(dt), "cross_entropy");
    }
  }
  // Stable for large logits.
  Tensor big = makeT(DType::F32, {1, 2}, {1000, 0});
  EXPECT_NEAR(crossEntropy(big, makeT(DType::I64, {1}, {1})).getF64(0), 1000.0, 1e-3);
  EXPECT_EQ(errorOf([&] { crossEntropy(big, makeT(DType::I64, {1}, {2})); }),
            "index 2 is out of range for axis 1 with size 2");
  EXPECT_EQ(errorOf([&] { crossEntropy(big, makeT(DType::I64, {2}, {0, 1})); }),
            "cross_entropy: labels must have the shape of logits without the last axis; got logits (1, 2) and labels (2,)");
  EXPECT_EQ(errorOf([&] { crossEntropy(big, makeT(DType::F32, {1}, {0})); }),
            "cross_entropy: labels must be integers, not f32");
  Tensor empty = crossEntropy(Tensor::zeros(DType::F32, {0, 3}), Tensor::zeros(DType::I64, {0}));
  EXPECT_EQ(empty.shape(), (Shape{0}));
}

TEST(RuntimeNN, Mse) {
  Tensor a = makeT(DType::F32, {2, 2}, {1, 2, 3, 4}), b = makeT(DType::F32, {2}, {1, 0});
  EXPECT_EQ(TOf(call(Prim::Mse, {TV(a), TV(b)})).getF64(0), 6.0);  // (0 + 4 + 4 + 16) / 4
  EXPECT_EQ(TOf(call(Prim::Mse, {TV(makeT(DType::I64, {2}, {1, 3})), I(1)})).dtype(), DType::F32);
  EXPECT_EQ(errorOf([&] { call(Prim::Mse, {TV(a), TV(makeT(DType::F32, {3}, {1, 2, 3}))}); }),
            "shapes (2, 2) and (3,) cannot be broadcast together for mse");
}

TEST(RuntimeNN, LayerNormMatchesReference) {
  Rng r(5);
  for (DType dt : {DType::F32, DType::F64}) {
    for (int iter = 0; iter < 20; ++iter) {
      Shape s = r.shape(3, 5);
      if (s.empty()) s = Shape{3};
      int64_t D = s.back();
      Tensor x = r.tensor(dt, s, false), g = r.tensor(dt, {D}, false), b = r.tensor(dt, {D}, false);
      Tensor y = TOf(call(Prim::LayerNorm, {TV(x), TV(g), TV(b)}));
      EXPECT_EQ(y.shape(), s);
      std::vector<double> want;
      int64_t rows = D ? x.numel() / D : 0;
      for (int64_t k = 0; k < rows; ++k) {
        double m = 0, v = 0;
        for (int64_t c = 0; c < D; ++c) m += x.getF64(k * D + c) / (double)D;
        for (int64_t c = 0; c < D; ++c) v += std::pow(x.getF64(k * D + c) - m, 2) / (double)D;
        for (int64_t c = 0; c < D; ++c)
          want.push_back((x.getF64(k * D + c) - m) / std::sqrt(v + 1e-5) * g.getF64(c) + b.getF64(c));
      }
      expectAllClose(y, want, dt == DType::F64 ? 1e-10 : 1e-4, "layer_norm " + shapeStr(s));
    }
  }
  EXPECT_EQ(errorOf([&] {
              call(Prim::LayerNorm, {TV(Tensor::zeros(DType::F32, {2, 3})), TV(Tensor::zeros(DType::F32, {2}))});
            }),
            "shapes (2, 3) and (2,) cannot be broadcast together for layer_norm");
}

TEST(RuntimeNN, BatchNorm) {
  Rng r(9);
  for (bool image : {true, false}) {
    Shape s = image ? Shape{2, 3, 2, 2} : Shape{4, 3};
    Tensor x = r.tensor(DType::F64, s, false), m = r.tensor(DType::F64, {3}, false), g = r.tensor(DType::F64, {3}, false),
           b = r.tensor(DType::F64, {3}, false);
    Tensor v = makeT(DType::F64, {3}, {0.5, 2, 3});
    Tensor y = TOf(call(Prim::BatchNorm, {TV(x), TV(m), TV(v), TV(g), TV(b)}, {{"eps", F(0.01)}}));
    EXPECT_EQ(y.shape(), s);
    std::vector<double> want;
    int64_t inner = image ? 4 : 1;
    for (int64_t k = 0; k < x.numel(); ++k) {
      int64_t c = (k / inner) % 3;
      want.push_back((x.getF64(k) - m.getF64(c)) / std::sqrt(v.getF64(c) + 0.01) * g.getF64(c) + b.getF64(c));
    }
    expectAllClose(y, want, 1e-12, "batch_norm");
  }
  EXPECT_EQ(errorOf([&] {
              call(Prim::BatchNorm, {TV(Tensor::zeros(DType::F32, {2, 3, 4, 4})), TV(Tensor::zeros(DType::F32, {4})),
                                     TV(Tensor::zeros(DType::F32, {3}))});
            }),
            "batch_norm: mean of shape (4,) does not match the channels of x (2, 3, 4, 4) (expected (3,))");
}

// ------------------------------------------------------------------ lookups
TEST(RuntimeNN, EmbeddingAndOneHot) {
  Tensor table = makeT(DType::F32, {3, 2}, {0, 1, 10, 11, 20, 21});
  Tensor ids = makeT(DType::I64, {2, 2}, {2, 0, 1, -1});
  EXPECT_EQ(reprOf(call(Prim::Embedding, {TV(table), TV(ids)})),
            "tensor([[[20., 21.],\n         [ 0.,  1.]],\n\n        [[10., 11.],\n         [20., 21.]]])");
  EXPECT_EQ(TOf(call(Prim::Embedding, {TV(table), TV(Tensor::zeros(DType::I64, {0}))})).shape(), (Shape{0, 2}));
  EXPECT_EQ(errorOf([&] { call(Prim::Embedding, {TV(table), L({I(3)})}); }), "index 3 is out of range for axis 0 with size 3");
  EXPECT_EQ(errorOf([&] { call(Prim::Embedding, {TV(table), L({F(1.0)})}); }), "embedding: ids must be integers, not f32");
  // A transposed table (strided) gives the same rows as its copy.
  Tensor tt = permute(makeT(DType::F64, {2, 3}, {0, 10, 20, 1, 11, 21}), {1, 0});
  EXPECT_EQ(reprOf(call(Prim::Embedding, {TV(tt), I(1)})), "tensor([10., 11.], dtype=f64)");

  EXPECT_EQ(reprOf(call(Prim::OneHot, {L({I(0), I(2), I(5), I(-1)}), I(3)})),
            "tensor([[1., 0., 0.],\n        [0., 0., 1.],\n        [0., 0., 0.],\n        [0., 0., 0.]])");
  EXPECT_EQ(reprOf(call(Prim::OneHot, {I(1), I(2)}, {{"dtype", Value::dtype(DType::I32)}})), "tensor([0, 1], dtype=i32)");
  EXPECT_EQ(TOf(call(Prim::OneHot, {TV(Tensor::zeros(DType::I64, {0, 2})), I(4)})).shape(), (Shape{0, 2, 4}));
}

}  // namespace
}  // namespace msl

namespace msl {
namespace {

using namespace msl::test;

Value call2(Prim p, std::vector<Value> pos, Kwargs kw = {}) {
  static PrimContext cx;
  return callPrim(cx, p, std::move(pos), std::move(kw));
}
Tensor TT(const Value& v) { return TOf(v); }

// ------------------------------------------------------------------ take, tile, split, pad
TEST(RuntimeShapeOps, TakeMatchesReference) {
  Rng r(21);
  for (int iter = 0; iter < 40; ++iter) {
    DType dt = iter % 2 ? DType::F64 : DType::I32;
    Shape s = r.shape(3, 4);
    if (s.empty()) s = Shape{3};
    Tensor x = r.tensor(dt, s);
    int axis = (int)r.uniformInt(-(int64_t)s.size(), (int64_t)s.size() - 1);
    int ax = axis < 0 ? axis + (int)s.size() : axis;
    int64_t n = s[ax];
    Shape is = r.shape(2, 3);
    Tensor idx = Tensor::empty(DType::I64, is);
    for (int64_t k = 0; k < idx.numel(); ++k) idx.ptr<int64_t>()[k] = n ? r.uniformInt(-n, n - 1) : 0;
    if (n == 0 && idx.numel() > 0) {
      EXPECT_NE(errorOf([&] { call2(Prim::Take, {TV(x), TV(idx)}, {{"axis", I(axis)}}); }), "");
      continue;
    }
    Tensor y = TT(call2(Prim::Take, {TV(x), TV(idx)}, {{"axis", I(axis)}}));
    Shape want(s.begin(), s.begin() + ax);
    want.insert(want.end(), is.begin(), is.end());
    want.insert(want.end(), s.begin() + ax + 1, s.end());
    ASSERT_EQ(y.shape(), want);
    int64_t outer = numel(Shape(s.begin(), s.begin() + ax)), inner = numel(Shape(s.begin() + ax + 1, s.end()));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < idx.numel(); ++k)
        for (int64_t i = 0; i < inner; ++i) {
          int64_t j = idx.getI64(k);
          if (j < 0) j += n;
          EXPECT_TRUE(sameDouble(y.getF64((o * idx.numel() + k) * inner + i), x.getF64((o * n + j) * inner + i)));
        }
  }
  Tensor x = makeT(DType::F32, {2, 3}, {0, 1, 2, 3, 4, 5});
  EXPECT_EQ(reprOf(call2(Prim::Take, {TV(x), L({I(5), I(0), I(-1)})})), "tensor([5., 0., 5.])");
  EXPECT_EQ(errorOf([&] { call2(Prim::Take, {TV(x), L({I(3)})}, {{"axis", I(1)}}); }),
            "index 3 is out of range for axis 1 with size 3");
}

TEST(RuntimeShapeOps, TileSplitPad) {
  Tensor x = makeT(DType::I64, {2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(reprOf(call2(Prim::Tile, {TV(x), T({I(1), I(2)})})), "tensor([[1, 2, 1, 2],\n        [3, 4, 3, 4]])");
  EXPECT_EQ(TT(call2(Prim::Tile, {TV(x), T({I(2), I(1), I(3)})})).shape(), (Shape{2, 2, 6}));
  EXPECT_EQ(reprOf(call2(Prim::Tile, {TV(makeT(DType::F32, {2}, {1, 2})), I(2)})), "tensor([1., 2., 1., 2.])");
  EXPECT_EQ(TT(call2(Prim::Tile, {TV(x), I(0)})).shape(), (Shape{2, 0}));
  // A transposed input tiles as its copy.
  EXPECT_EQ(reprOf(call2(Prim::Tile, {TV(permute(x, {1, 0})), T({I(2), I(1)})})),
            "tensor([[1, 3],\n        [2, 4],\n        [1, 3],\n        [2, 4]])");

  Tensor y = makeT(DType::F32, {6}, {0, 1, 2, 3, 4, 5});
  EXPECT_EQ(reprOf(call2(Prim::Split, {TV(y), I(3)})), "[tensor([0., 1.]), tensor([2., 3.]), tensor([4., 5.])]");
  EXPECT_EQ(reprOf(call2(Prim::Split, {TV(y), L({I(1), I(4)})})), "[tensor([0.]), tensor([1., 2., 3.]), tensor([4., 5.])]");
  EXPECT_EQ(reprOf(call2(Prim::Split, {TV(x), I(2)}, {{"axis", I(-1)}})), "[tensor([[1],\n        [3]]), tensor([[2],\n        [4]])]");
  EXPECT_EQ(errorOf([&] { call2(Prim::Split, {TV(y), I(4)}); }),
            "split: axis 0 of shape (6,) does not divide into 4 equal sections");

  EXPECT_EQ(reprOf(call2(Prim::Pad, {TV(x), I(1)})),
            "tensor([[0, 0, 0, 0],\n        [0, 1, 2, 0],\n        [0, 3, 4, 0],\n        [0, 0, 0, 0]])");
  EXPECT_EQ(reprOf(call2(Prim::Pad, {TV(makeT(DType::F32, {2}, {1, 2})), T({I(0), I(2)}), F(-1.5)})),
            "tensor([ 1. ,  2. , -1.5, -1.5])");
  EXPECT_EQ(TT(call2(Prim::Pad, {TV(x), L({T({I(0), I(1)}), T({I(2), I(0)})})})).shape(), (Shape{3, 4}));
  EXPECT_EQ(TT(call2(Prim::Pad, {TV(Tensor::zeros(DType::F32, {0, 2})), I(1)})).shape(), (Shape{2, 4}));
  EXPECT_NE(errorOf([&] { call2(Prim::Pad, {TV(x), I(-1)}); }), "");
}

// ------------------------------------------------------------------ sort, topk
TEST(RuntimeShapeOps, SortAndTopk) {
  Rng r(33);
  for (int iter = 0; iter < 30; ++iter) {
    DType dt = iter % 3 == 0 ? DType::I64 : iter % 3 == 1 ? DType::F32 : DType::F64;
    Shape s = r.shape(3, 5);
    if (s.empty()) s = Shape{4};
    Tensor x = r.tensor(dt, s);
    int axis = (int)r.uniformInt(0, (int64_t)s.size() - 1);
    Tensor y = TT(call2(Prim::Sort, {TV(x), I(axis)}));
    ASSERT_EQ(y.shape(), s);
    // Each line along the axis is a sorted permutation of the input's line (NaN last).
    int64_t n = s[axis], inner = numel(Shape(s.begin() + axis + 1, s.end())), outer = numel(Shape(s.begin(), s.begin() + axis));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        std::vector<double> want, got;
        for (int64_t j = 0; j < n; ++j) {
          want.push_back(x.getF64((o * n + j) * inner + i));
          got.push_back(y.getF64((o * n + j) * inner + i));
        }
        std::stable_sort(want.begin(), want.end(), [](double a, double b) { return b != b ? a == a : a < b; });
        for (int64_t j = 0; j < n; ++j) EXPECT_TRUE(sameDouble(got[j], want[j]) || (got[j] == 0 && want[j] == 0));
      }
    int64_t last = s.back(), k = r.uniformInt(0, last);
    Value tk = call2(Prim::Topk, {TV(x), I(k)});
    const auto& items = tk.as<TupleObj>()->items;
    Tensor vals = TT(items[0]), idx = TT(items[1]);
    EXPECT_EQ(idx.dtype(), DType::I64);
    int64_t rows = last ? x.numel() / last : 0;
    for (int64_t row = 0; row < rows; ++row) {
      std::vector<int64_t> order(last);
      std::iota(order.begin(), order.end(), 0);
      auto val = [&](int64_t j) { return x.getF64(row * last + j); };
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        double va = val(a), vb = val(b);
        if (va != va) return vb == vb;
        if (vb != vb) return false;
        return va > vb;
      });
      for (int64_t j = 0; j < k; ++j) {
        EXPECT_EQ(idx.getI64(row * k + j), order[j]);
        EXPECT_TRUE(sameDouble(vals.getF64(row * k + j), val(order[j])));
      }
    }
  }
  EXPECT_EQ(reprOf(call2(Prim::Sort, {TV(makeT(DType::F32, {2, 2}, {3, 1, 2, 0}))}, {{"axis", Value::none()}})),
            "tensor([0., 1., 2., 3.])");
  EXPECT_EQ(errorOf([&] { call2(Prim::Topk, {TV(makeT(DType::F32, {2}, {1, 2})), I(3)}); }),
            "topk: k = 3 is out of range for the last axis of shape (2,)");
}

// ------------------------------------------------------------------ einsum
// Naive einsum over explicit specs, in double.
std::vector<double> einsumRef(const std::vector<std::string>& ins, const std::string& out, const std::vector<Tensor>& ops) {
  std::map<char, int64_t> size;
  for (size_t k = 0; k < ops.size(); ++k)
    for (size_t p = 0; p < ins[k].size(); ++p) size[ins[k][p]] = ops[k].dim((int)p);
  std::string letters = out;
  for (auto& [c, n] : size)
    if (letters.find(c) == std::string::npos) letters += c;
  std::vector<double> res;
  int64_t total = 1, outN = 1;
  for (char c : letters) total *= size[c];
  for (char c : out) outN *= size[c];
  res.assign(outN, 0.0);
  std::map<char, int64_t> idx;
  for (int64_t f = 0; f < total; ++f) {
    int64_t rem = f;
    for (size_t i = letters.size(); i-- > 0;) idx[letters[i]] = rem % size[letters[i]], rem /= size[letters[i]];
    double prod = 1;
    for (size_t k = 0; k < ops.size(); ++k) {
      int64_t flat = 0;
      for (size_t p = 0; p < ins[k].size(); ++p) flat = flat * ops[k].dim((int)p) + idx[ins[k][p]];
      prod *= ops[k].getF64(flat);
    }
    int64_t o = 0;
    for (char c : out) o = o * size[c] + idx[c];
    res[o] += prod;
  }
  return res;
}

TEST(RuntimeShapeOps, EinsumMatchesReference) {
  struct Case { const char* spec; std::vector<std::string> ins; std::string out; };
  std::vector<Case> cases = {
      {"ij,jk->ik", {"ij", "jk"}, "ik"},      {"bij,bjk->bik", {"bij", "bjk"}, "bik"},
      {"ij,kj->ki", {"ij", "kj"}, "ki"},      {"i,j->ij", {"i", "j"}, "ij"},
      {"i,i->", {"i", "i"}, ""},              {"ii->i", {"ii"}, "i"},
      {"ij->ji", {"ij"}, "ji"},               {"ij,jk,kl->il", {"ij", "jk", "kl"}, "il"},
      {"ij,jk", {"ij", "jk"}, "ik"},          {"bhqd,bhkd->bhqk", {"bhqd", "bhkd"}, "bhqk"},
      {"ijk->", {"ijk"}, ""},                 {"ij,j->i", {"ij", "j"}, "i"},
  };
  Rng r(41);
  for (DType dt : {DType::F32, DType::F64, DType::I64}) {
    for (const Case& c : cases) {
      std::map<char, int64_t> size;
      for (const auto& in : c.ins)
        for (char ch : in)
          if (!size.count(ch)) size[ch] = r.uniformInt(r.coin(0.1) ? 0 : 1, 4);
      std::vector<Tensor> ops;
      std::vector<Value> args = {S(c.spec)};
      for (const auto& in : c.ins) {
        Shape s;
        for (char ch : in) s.push_back(size[ch]);
        ops.push_back(r.tensor(dt, s, false));
        args.push_back(TV(ops.back()));
      }
      Tensor y = TT(call2(Prim::Einsum, args));
      EXPECT_EQ(y.dtype(), dt) << c.spec;
      expectAllClose(y, einsumRef(c.ins, c.out, ops), dt == DType::F32 ? 1e-4 : 1e-12, c.spec);
    }
  }
  Tensor a = Tensor::zeros(DType::F32, {2, 3}), b = Tensor::zeros(DType::F32, {4, 5});
  EXPECT_EQ(errorOf([&] { call2(Prim::Einsum, {S("ij,jk->ik"), TV(a), TV(b)}); }),
            "einsum: letter 'j' has size 3 in operand 0 of shape (2, 3) but 4 in operand 1 of shape (4, 5)");
  EXPECT_EQ(errorOf([&] { call2(Prim::Einsum, {S("ij->ik"), TV(a)}); }),
            "einsum: output letter 'k' does not appear in the inputs of 'ij->ik'");
  EXPECT_EQ(errorOf([&] { call2(Prim::Einsum, {S("ij,jk->ik"), TV(a)}); }),
            "einsum: the spec 'ij,jk->ik' names 2 operands but 1 were given");
}

}  // namespace
}  // namespace msl
