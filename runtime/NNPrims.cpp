// The neural-network primitives of ir/Primitives.def: conv2d, max_pool2d, avg_pool2d,
// cross_entropy, mse, layer_norm, batch_norm, embedding, one_hot. They parse and check
// their arguments here and compute with the kernels of runtime/KernelsNN.h and
// runtime/Kernels.h. Tensor arguments also accept Python numbers and nested lists
// (argTensor), as the other tensor primitives do.
#include <string>

#include "ir/Diagnostics.h"
#include "runtime/KernelsNN.h"
#include "runtime/PrimImpl.h"
#include "runtime/TensorValues.h"

namespace msl {

void pairArg(const Value& v, const char* fn, const char* param, int64_t* h, int64_t* w) {
  if (isSeq(v)) {
    const auto& items = seqItems(v);
    if (items.size() != 2)
      raise(DiagId::TypeError, SourceLoc{},
            {std::string(fn) + "() argument '" + param + "' must be an int or a pair of ints, got " +
             std::to_string(items.size()) + " values"});
    *h = intArg(items[0], fn, param);
    *w = intArg(items[1], fn, param);
    return;
  }
  *h = *w = intArg(v, fn, param);
}

void windowArg(const Value& kernel, const Value& stride, const Value& padding, const char* fn, Window2d* win) {
  pairArg(kernel, fn, "kernel", &win->kh, &win->kw);
  if (stride.isNone()) win->sh = win->kh, win->sw = win->kw;
  else pairArg(stride, fn, "stride", &win->sh, &win->sw);
  pairArg(padding, fn, "padding", &win->ph, &win->pw);
}

namespace {

// x.reshape so that a per-channel vector (C,) lines up with axis 1 of a tensor of rank
// `ndim`: (C, 1, ..., 1), ndim - 1 axes. A 0-d value broadcasts as it is.
Tensor channelVector(const Tensor& v, int ndim, int64_t C, const Tensor& x, const char* param) {
  if (v.ndim() == 0) return v;
  if (v.ndim() != 1 || v.dim(0) != C)
    valueError(std::string("batch_norm: ") + param + " of shape " + shapeStr(v.shape()) +
               " does not match the channels of x " + shapeStr(x.shape()) + " (expected (" + std::to_string(C) + ",))");
  Shape s{C};
  for (int d = 2; d < ndim; ++d) s.push_back(1);
  return reshapeTo(v, s);
}

Value poolPrim(Value* args, bool isMax, const char* fn) {
  Tensor x = argTensor(args[0], fn, "x");
  Window2d win;
  windowArg(args[1], args[2], args[3], fn, &win);
  return makeTensor(pool2d(x, isMax, win, fn));
}

}  // namespace

Value prim_Conv2d(CallContext&, Value* args) {
  const char* fn = "conv2d";
  Tensor x = argTensor(args[0], fn, "x"), w = argTensor(args[1], fn, "w"), b;
  if (!args[2].isNone()) b = argTensor(args[2], fn, "b");
  int64_t sh, sw, ph, pw;
  pairArg(args[3], fn, "stride", &sh, &sw);
  pairArg(args[4], fn, "padding", &ph, &pw);
  return makeTensor(conv2d(x, w, b.defined() ? &b : nullptr, sh, sw, ph, pw));
}

Value prim_MaxPool2d(CallContext&, Value* args) { return poolPrim(args, true, "max_pool2d"); }
Value prim_AvgPool2d(CallContext&, Value* args) { return poolPrim(args, false, "avg_pool2d"); }

Value prim_CrossEntropy(CallContext&, Value* args) {
  Tensor logits = argTensor(args[0], "cross_entropy", "logits"), labels = argTensor(args[1], "cross_entropy", "labels");
  return makeTensor(crossEntropy(logits, labels));
}

Value prim_Mse(CallContext&, Value* args) {
  Tensor a = argTensor(args[0], "mse", "a"), b = argTensor(args[1], "mse", "b");
  Tensor d = binary(BinOp::Sub, a, b, "mse");
  Tensor sq = binary(BinOp::Mul, d, d, "mse");
  std::vector<int> all;
  for (int k = 0; k < sq.ndim(); ++k) all.push_back(k);
  return makeTensor(meanOf(sq, all, false));
}

Value prim_LayerNorm(CallContext&, Value* args) {
  const char* fn = "layer_norm";
  Tensor x = argTensor(args[0], fn, "x");
  double eps = argFloat(args[3], fn, "eps");
  Tensor y = layerNormalize(x, eps);
  if (!args[1].isNone()) y = binary(BinOp::Mul, y, argTensor(args[1], fn, "gamma"), fn);
  if (!args[2].isNone()) y = binary(BinOp::Add, y, argTensor(args[2], fn, "beta"), fn);
  return makeTensor(std::move(y));
}

Value prim_BatchNorm(CallContext&, Value* args) {
  const char* fn = "batch_norm";
  Tensor x = argTensor(args[0], fn, "x");
  if (x.ndim() < 2)
    valueError("batch_norm: expects x of shape (N, C, ...), got shape " + shapeStr(x.shape()));
  int64_t C = x.dim(1);
  int nd = x.ndim();
  Tensor mean = channelVector(argTensor(args[1], fn, "mean"), nd, C, x, "mean");
  Tensor var = channelVector(argTensor(args[2], fn, "var"), nd, C, x, "var");
  double eps = argFloat(args[5], fn, "eps");
  // y = (x - mean) * (rsqrt(var + eps) * gamma) + beta
  Tensor scale = unary(UnOp::Rsqrt, binary(BinOp::Add, var, Scalar::real(eps), fn));
  if (!args[3].isNone()) scale = binary(BinOp::Mul, scale, channelVector(argTensor(args[3], fn, "gamma"), nd, C, x, "gamma"), fn);
  Tensor y = binary(BinOp::Mul, binary(BinOp::Sub, x, mean, fn), scale, fn);
  if (!args[4].isNone()) y = binary(BinOp::Add, y, channelVector(argTensor(args[4], fn, "beta"), nd, C, x, "beta"), fn);
  return makeTensor(std::move(y));
}

Value prim_Embedding(CallContext&, Value* args) {
  Tensor table = argTensor(args[0], "embedding", "table"), ids = argTensor(args[1], "embedding", "ids");
  return makeTensor(embeddingLookup(table, ids));
}

Value prim_OneHot(CallContext&, Value* args) {
  Tensor ids = argTensor(args[0], "one_hot", "ids");
  return makeTensor(oneHot(ids, intArg(args[1], "one_hot", "n"), argDType(args[2], "one_hot", "dtype")));
}

}  // namespace msl
