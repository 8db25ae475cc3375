// Optimiser kernels: one pass over a parameter tensor where the same update written as
// tensor operations makes one pass per operation (Adam's is about fourteen).
//
// __adam_step(p, g, m, v, lr, b1, b2, eps, c1, c2, weight_decay, decoupled) -> stack([p, m, v])
// is stdlib/optim/adam.msl's update of one float tensor, operation for operation. The three
// results come as one tensor of shape (3,) + p.shape, a leaf of the model's tree, so that
// tree_map can take them apart (r[0], r[1], r[2] are views):
//   g' = g + wd * p               (only with wd != 0 and not decoupled: L2, torch's Adam)
//   m  = b1 * m + (1 - b1) * g'
//   v  = b2 * v + ((1 - b2) * g') * g'
//   d  = (m / c1) / (sqrt(v / c2) + eps)       c1 = 1 - b1^t, c2 = 1 - b2^t
//   d  = d + wd * p               (only with wd != 0 and decoupled: AdamW)
//   p  = p - lr * d
// Python floats meet the tensor's dtype as weak scalars do in the tensor operations (each
// converted to the dtype, then one rounding per operation), and this file is compiled
// without floating-point contraction (the project default), so the result is bit-identical to the unfused
// operations (tests/lang/optim/adam_step.msl checks it).
#include <cmath>

#include "runtime/Kernels.h"
#include "runtime/Parallel.h"
#include "runtime/PrimImpl.h"
#include "runtime/Tensor.h"

namespace msl {

namespace {

// One chunk [b, e). The pointers never alias (the outputs are a fresh buffer), the flags
// are template arguments, and sqrt is the instruction (this file is built with
// -fno-math-errno: runtime/CMakeLists.txt), so the loop vectorises.
template <class T, bool L2, bool Decoupled>
void adamChunk(int64_t b, int64_t e, const T* __restrict p, const T* __restrict g, const T* __restrict m,
               const T* __restrict v, T* __restrict po, T* __restrict mo, T* __restrict vo, const T* k) {
  const T lr = k[0], b1 = k[1], b2 = k[2], eps = k[3], c1 = k[4], c2 = k[5], wd = k[6], nb1 = k[7], nb2 = k[8];
  for (int64_t i = b; i < e; ++i) {
    T gi = g[i], pi = p[i];
    if constexpr (L2) gi = gi + wd * pi;
    T mi = b1 * m[i] + nb1 * gi;
    T vi = b2 * v[i] + (nb2 * gi) * gi;
    T d = (mi / c1) / (std::sqrt(vi / c2) + eps);
    if constexpr (Decoupled) d = d + wd * pi;
    po[i] = pi - lr * d;
    mo[i] = mi;
    vo[i] = vi;
  }
}

template <class T>
void adamLoop(int64_t n, const T* p, const T* g, const T* m, const T* v, T* o, const double* s, bool l2,
              bool decoupled) {
  // The Python floats as the tensor operations see them: each converted to T.
  const T k[9] = {(T)s[0], (T)s[1], (T)s[2], (T)s[3], (T)s[4], (T)s[5], (T)s[6], (T)(1.0 - s[1]), (T)(1.0 - s[2])};
  auto chunk = l2 ? &adamChunk<T, true, false> : decoupled ? &adamChunk<T, false, true> : &adamChunk<T, false, false>;
  parallelFor(n, 4096, [=](int64_t b, int64_t e) { chunk(b, e, p, g, m, v, o, o + n, o + 2 * n, k); }, n * 7);
}

}  // namespace

Value prim_AdamStep(CallContext&, Value* args) {
  const char* fn = "__adam_step";
  const char* names[4] = {"p", "g", "m", "v"};
  Tensor t[4];
  for (int k = 0; k < 4; ++k) t[k] = argTensor(args[k], fn, names[k]);
  DType dt = t[0].dtype();
  if (dt != DType::F32 && dt != DType::F64)
    raise(DiagId::TypeError, SourceLoc{}, {std::string(fn) + ": p must be an f32 or f64 tensor, got " + dtypeName(dt)});
  for (int k = 1; k < 4; ++k)
    if (t[k].dtype() != dt || t[k].shape() != t[0].shape())
      raise(DiagId::ValueError, SourceLoc{},
            {std::string(fn) + ": " + names[k] + " must have p's dtype and shape " + dtypeName(dt) +
             shapeStr(t[0].shape()) + ", got " + dtypeName(t[k].dtype()) + shapeStr(t[k].shape())});
  double s[7];
  const char* snames[7] = {"lr", "b1", "b2", "eps", "c1", "c2", "weight_decay"};
  for (int k = 0; k < 7; ++k) s[k] = argFloat(args[4 + (k < 6 ? k : 6)], fn, snames[k]);
  bool decoupled = argBool(args[11], fn, "decoupled");
  bool l2 = s[6] != 0.0 && !decoupled;
  bool dec = s[6] != 0.0 && decoupled;
  for (int k = 0; k < 4; ++k) t[k] = t[k].contiguous();
  Shape shape = t[0].shape();
  shape.insert(shape.begin(), 3);
  Tensor out = Tensor::empty(dt, shape);
  int64_t n = t[0].numel();
  if (dt == DType::F32)
    adamLoop<float>(n, t[0].ptr<float>(), t[1].ptr<float>(), t[2].ptr<float>(), t[3].ptr<float>(), out.ptr<float>(), s,
                    l2, dec);
  else
    adamLoop<double>(n, t[0].ptr<double>(), t[1].ptr<double>(), t[2].ptr<double>(), t[3].ptr<double>(),
                     out.ptr<double>(), s, l2, dec);
  return makeTensor(out);
}

}  // namespace msl
