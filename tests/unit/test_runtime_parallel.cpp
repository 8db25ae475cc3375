// The thread pool (runtime/Parallel.h) and the promise that kernels give bit-identical
// results whatever the thread count (docs/tensors.md "Threads").
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/Kernels.h"
#include "runtime/Parallel.h"

namespace msl {
namespace {

struct ThreadsGuard {
  int saved = numThreads();
  ~ThreadsGuard() { setNumThreads(saved); }
};

TEST(Parallel, ParseNumThreads) {
  int n = 0;
  std::string err;
  EXPECT_TRUE(parseNumThreads("1", &n, &err));
  EXPECT_EQ(n, 1);
  EXPECT_TRUE(parseNumThreads("16", &n, &err));
  EXPECT_EQ(n, 16);
  for (const char* bad : {"", "0", "-1", "abc", "2x", " 2", "1025", "99999999999"}) {
    EXPECT_FALSE(parseNumThreads(bad, &n, &err)) << bad;
    EXPECT_NE(err.find("MSL_NUM_THREADS"), std::string::npos);
  }
}

TEST(Parallel, CoversEveryIndexOnce) {
  ThreadsGuard g;
  for (int threads : {1, 2, 3, 8}) {
    setNumThreads(threads);
    for (int64_t n : {int64_t(0), int64_t(1), int64_t(100), kParallelMin - 1, kParallelMin, int64_t(1000003)}) {
      std::vector<std::atomic<int>> hits((size_t)n);
      std::atomic<int64_t> misaligned{0};
      parallelFor(n, 64, [&](int64_t b, int64_t e) {
        if (b % 64) ++misaligned;
        for (int64_t i = b; i < e; ++i) ++hits[i];
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
      EXPECT_EQ(misaligned.load(), 0);
    }
  }
}

TEST(Parallel, ExceptionsReachTheCaller) {
  ThreadsGuard g;
  setNumThreads(4);
  EXPECT_THROW(parallelFor(int64_t(1) << 20, 64, [&](int64_t b, int64_t) {
                 if (b >= (int64_t(1) << 19)) throw std::runtime_error("boom");
               }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<int64_t> sum{0};
  parallelFor(int64_t(1) << 20, 64, [&](int64_t b, int64_t e) { sum += e - b; });
  EXPECT_EQ(sum.load(), int64_t(1) << 20);
}

bool sameBits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.data(), cb.data(), (size_t)ca.numel() * dtypeSize(ca.dtype())) == 0;
}

Tensor data(int64_t n, DType dt) {
  Tensor t = Tensor::empty(DType::F64, {n});
  double* p = t.ptr<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = std::sin(i * 0.001) * 3.0 + 0.25 + (i % 9973 == 0 ? 1e6 : 0.0);
  return astype(t, dt);
}

TEST(Parallel, KernelsGiveTheSameBitsForAnyThreadCount) {
  ThreadsGuard g;
  for (DType dt : {DType::F32, DType::F64, DType::I64, DType::BF16}) {
    Tensor x = data(400001, dt);
    Tensor m = reshapeTo(data(600 * 700, dt), {600, 700});
    auto compute = [&] {
      std::vector<Tensor> r;
      r.push_back(binary(BinOp::Add, x, Scalar::real(0.5)));
      r.push_back(binary(BinOp::Mul, m, permute(reshapeTo(m, {700, 600}), {1, 0})));
      r.push_back(unary(UnOp::Exp, x));
      r.push_back(reduce(RedOp::Sum, x, {0}, false, "sum"));
      r.push_back(reduce(RedOp::Max, x, {0}, false, "max"));
      r.push_back(reduce(RedOp::Min, m, {0, 1}, false, "min"));
      r.push_back(reduce(RedOp::Sum, m, {0}, false, "sum"));
      r.push_back(reduce(RedOp::Sum, m, {1}, false, "sum"));
      r.push_back(reduce(RedOp::Prod, m, {1}, false, "prod"));
      r.push_back(meanOf(m, {0, 1}, false));
      r.push_back(varOf(m, {1}, false, 0));
      r.push_back(argReduce(true, m, 1, false, "argmax"));
      r.push_back(softmaxOf(m, 1, false));
      r.push_back(astype(m, DType::F64));
      r.push_back(reduce(RedOp::All, binary(BinOp::Gt, x, Scalar::real(-4.0)), {0}, false, "all"));
      return r;
    };
    setNumThreads(1);
    std::vector<Tensor> one = compute();
    for (int threads : {2, 3, 7}) {
      setNumThreads(threads);
      std::vector<Tensor> many = compute();
      for (size_t k = 0; k < one.size(); ++k)
        EXPECT_TRUE(sameBits(one[k], many[k])) << "dtype " << dtypeName(dt) << " result " << k << " threads " << threads;
    }
  }
}

// max/min of long float rows (vector lanes, pieces on threads) equal the sequential step
// `v > acc ? v : acc` with NaN winning from its first appearance: the same zero (+0.0 or
// -0.0) and NaN handling, for any thread count.
TEST(Parallel, LongRowMaxMinMatchTheSequentialStep) {
  ThreadsGuard g;
  auto ref = [](const std::vector<float>& v, bool isMax) {
    float acc = v[0];
    for (size_t i = 1; i < v.size(); ++i) {
      if (acc != acc) break;
      if (v[i] != v[i]) { acc = v[i]; break; }
      acc = isMax ? (v[i] > acc ? v[i] : acc) : (v[i] < acc ? v[i] : acc);
    }
    return acc;
  };
  auto tensorOf = [](const std::vector<float>& v) {
    Tensor t = Tensor::empty(DType::F32, {(int64_t)v.size()});
    std::memcpy(t.data(), v.data(), v.size() * sizeof(float));
    return t;
  };
  std::vector<std::vector<float>> cases;
  size_t n = 200003;
  std::vector<float> zeros(n, 0.0f);
  zeros[3] = -0.0f;
  cases.push_back(zeros);  // +0 first: +0 wins over the later -0
  zeros[0] = -0.0f;
  cases.push_back(zeros);  // -0 first
  std::vector<float> neg(n, -1.0f);
  for (size_t i = 0; i < n; i += 7) neg[i] = -0.0f;
  neg[150001] = 0.0f;
  cases.push_back(neg);
  std::vector<float> wave(n);
  for (size_t i = 0; i < n; ++i) wave[i] = std::sin(i * 0.01f) * 100.0f;
  cases.push_back(wave);
  wave[123457] = INFINITY;
  cases.push_back(wave);
  wave[99999] = NAN;
  cases.push_back(wave);
  wave[5] = -INFINITY;
  wave[100] = NAN;
  cases.push_back(wave);
  for (int threads : {1, 2, 5}) {
    setNumThreads(threads);
    for (size_t c = 0; c < cases.size(); ++c)
      for (bool isMax : {true, false}) {
        Tensor r = reduce(isMax ? RedOp::Max : RedOp::Min, tensorOf(cases[c]), {0}, false, "max");
        float got = r.ptr<float>()[0], want = ref(cases[c], isMax);
        EXPECT_EQ(std::memcmp(&got, &want, 4) == 0 || (got != got && want != want), true)
            << "case " << c << (isMax ? " max" : " min") << " threads " << threads << ": " << got << " vs " << want;
        EXPECT_EQ(std::signbit(got), std::signbit(want)) << "case " << c;
      }
  }
}

}  // namespace
}  // namespace msl
