// Matrix multiplication with NumPy's rules.
//
// f32 (and f16/bf16, converted to f32) runs on oneDNN's matmul primitive. The engine and
// stream are created on first use (oneDNN's initialisation costs tens of milliseconds);
// primitives are cached by problem shape and operand layout, so a training loop creates
// each one once. Operands whose last two dimensions are row- or column-major are passed
// with their strides (x @ w.T copies nothing). f64 (unsupported by oneDNN's CPU matmul),
// integer and bool products use loops of ours with i-k-j order, which vectorise along j.
#include <dnnl.hpp>

#include <array>
#include <cstring>
#include <map>

#include "ir/Diagnostics.h"
#include "runtime/Dnnl.h"
#include "runtime/Parallel.h"
#include "runtime/Kernels.h"

namespace msl {

namespace {

// A batch of matrices: element (b, i, j) at data + b*sb + i*si + j*sj.
struct MatArg {
  const void* data;
  int64_t sb, si, sj;
};

// A 2-D tensor as a MatArg with canonical strides when it is row- or column-major
// (strides of size-1 dimensions do not matter); otherwise `t` becomes a contiguous copy.
MatArg matrixArg(Tensor& t) {
  int64_t rows = t.dim(0), cols = t.dim(1), si = t.strides()[0], sj = t.strides()[1];
  if ((cols == 1 || sj == 1) && (rows == 1 || si >= cols)) return {t.data(), rows * cols, rows == 1 ? cols : si, 1};
  if ((rows == 1 || si == 1) && (cols == 1 || sj >= rows)) return {t.data(), rows * cols, 1, cols == 1 ? rows : sj};
  t = t.contiguous();
  return {t.data(), rows * cols, cols, 1};
}

// ------------------------------------------------------------------ oneDNN (f32)
struct Dnnl {
  // oneDNN runs on OpenMP threads: as many as MSL_NUM_THREADS (runtime/Parallel.h). The
  // count is per calling thread in OpenMP, so it is set by the thread that starts oneDNN.
  int threads = (setNumThreads(numThreads()), numThreads());
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<std::array<int64_t, 10>, dnnl::matmul> cache;
};

Dnnl& dnnlState() {
  static Dnnl d;
  return d;
}

}  // namespace

dnnl::engine& dnnlEngine() { return dnnlState().engine; }
dnnl::stream& dnnlStream() { return dnnlState().stream; }

namespace {

void gemmF32(int64_t B, int64_t M, int64_t N, int64_t K, const MatArg& a, const MatArg& b, float* c) {
  using dt = dnnl::memory::data_type;
  Dnnl& d = dnnlState();
  dnnl::memory::desc ad({B, M, K}, dt::f32, {a.sb, a.si, a.sj});
  dnnl::memory::desc bd({B, K, N}, dt::f32, {b.sb, b.si, b.sj});
  dnnl::memory::desc cd({B, M, N}, dt::f32, {M * N, N, 1});
  std::array<int64_t, 10> key = {B, M, N, K, a.sb, a.si, a.sj, b.sb, b.si, b.sj};
  auto it = d.cache.find(key);
  if (it == d.cache.end()) {
    if (d.cache.size() >= 512) d.cache.clear();  // bounds memory in shape-varying programs
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(ad, bd, cd), d.engine);
    it = d.cache.emplace(key, dnnl::matmul(pd)).first;
  }
  dnnl::memory am(ad, d.engine, const_cast<void*>(a.data));
  dnnl::memory bm(bd, d.engine, const_cast<void*>(b.data));
  dnnl::memory cm(cd, d.engine, c);
  it->second.execute(d.stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
  d.stream.wait();
}

// ------------------------------------------------------------------ loops (f64, integers)
template <class T, class Acc>
void gemmLoop(int64_t B, int64_t M, int64_t N, int64_t K, const MatArg& a, const MatArg& b, T* c) {
  const T* pa = static_cast<const T*>(a.data);
  const T* pb = static_cast<const T*>(b.data);
  std::vector<Acc> row((size_t)N);
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t i = 0; i < M; ++i) {
      std::fill(row.begin(), row.end(), Acc(0));
      for (int64_t k = 0; k < K; ++k) {
        Acc av = (Acc)pa[bi * a.sb + i * a.si + k * a.sj];
        const T* brow = pb + bi * b.sb + k * b.si;
        if (b.sj == 1) {
          for (int64_t j = 0; j < N; ++j) row[j] += av * (Acc)brow[j];
        } else {
          for (int64_t j = 0; j < N; ++j) row[j] += av * (Acc)brow[j * b.sj];
        }
      }
      T* crow = c + (bi * M + i) * N;
      for (int64_t j = 0; j < N; ++j) crow[j] = (T)row[j];
    }
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (a.ndim() == 0 || b.ndim() == 0)
    raise(DiagId::ValueError, SourceLoc{},
          {"matmul: operands must have at least one dimension, got shapes " + shapeStr(a.shape()) + " and " + shapeStr(b.shape())});
  DType rt = promote(a.dtype(), b.dtype());
  // Compute dtypes: f16/bf16 in f32; integers in i64 (wrapping); bool as 0/1 in i64.
  DType ct = rt == DType::F16 || rt == DType::BF16 ? DType::F32 : isFloat(rt) ? rt : DType::I64;
  Tensor A = a.ndim() == 1 ? a.view({1, a.dim(0)}, {0, a.strides()[0]}, a.offset()) : a;
  Tensor B = b.ndim() == 1 ? b.view({b.dim(0), 1}, {b.strides()[0], 0}, b.offset()) : b;
  int na = A.ndim(), nb = B.ndim();
  int64_t M = A.dim(na - 2), K = A.dim(na - 1), Kb = B.dim(nb - 2), N = B.dim(nb - 1);
  if (K != Kb)
    raise(DiagId::MatmulShapes, SourceLoc{}, {shapeStr(a.shape()), shapeStr(b.shape()), std::to_string(K), std::to_string(Kb)});
  Shape batchA(A.shape().begin(), A.shape().end() - 2), batchB(B.shape().begin(), B.shape().end() - 2), batch;
  if (!broadcastShapes(batchA, batchB, &batch)) raiseShapeMismatch(a.shape(), b.shape(), "@");
  int64_t nBatch = numel(batch);

  Shape outShape = batch;
  if (a.ndim() > 1) outShape.push_back(M);
  if (b.ndim() > 1) outShape.push_back(N);
  Tensor C = Tensor::empty(ct, outShape);
  if (C.numel() == 0) return astype(C, rt);

  A = astype(A, ct);
  B = astype(B, ct);
  MatArg ma, mb;
  int64_t rows = M, batches = nBatch;
  Tensor A2, B2;  // the operands as passed to the kernels
  if (numel(batchB) == 1) {
    // One right-hand matrix: the batch of A is more rows.
    rows = nBatch * M;
    batches = 1;
    A2 = nBatch == 1 ? A.view({M, K}, {A.strides()[na - 2], A.strides()[na - 1]}, A.offset()) : reshapeTo(A, {rows, K});
    B2 = B.view({K, N}, {B.strides()[nb - 2], B.strides()[nb - 1]}, B.offset());
    ma = matrixArg(A2);
    mb = matrixArg(B2);
  } else {
    // Batched: both operands expanded to the full batch, as contiguous [batches, r, c].
    auto full = [&](const Tensor& t, int64_t r, int64_t c) {
      Shape s = batch;
      s.push_back(r);
      s.push_back(c);
      return broadcastTo(t, s, "@").contiguous();
    };
    A2 = full(A, M, K);
    B2 = full(B, K, N);
    ma = {A2.data(), M * K, K, 1};
    mb = {B2.data(), K * N, N, 1};
  }
  if (K == 0) {
    std::memset(C.data(), 0, C.numel() * dtypeSize(ct));
  } else if (ct == DType::F32) {
    try {
      gemmF32(batches, rows, N, K, ma, mb, C.ptr<float>());
    } catch (const dnnl::error& e) {
      internalError(std::string("oneDNN matmul failed: ") + e.what());
    }
  } else if (ct == DType::F64) {
    gemmLoop<double, double>(batches, rows, N, K, ma, mb, C.ptr<double>());
  } else {
    gemmLoop<int64_t, uint64_t>(batches, rows, N, K, ma, mb, C.ptr<int64_t>());
  }
  return astype(C, rt);
}

}  // namespace msl
