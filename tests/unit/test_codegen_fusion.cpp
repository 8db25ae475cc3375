// Elementwise fusion (codegen/Fusion.h, codegen/KernelGen.h, runtime/FusedKernel.h):
// specialised graphs from .msl source, fused, must give the values of the unfused graph
// run by the interpreter (eager kernels) bit for bit, for every fusible primitive, with
// broadcasting, Python numbers, non-contiguous views, several dtypes and a dynamic batch
// dimension; with the fast f32 exp, within the ULP bound docs/fusion.md states.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "codegen/Fusion.h"
#include "codegen/KernelGen.h"
#include "ir/Fused.h"
#include "ir/Abstract.h"
#include "runtime/AbstractOf.h"
#include "runtime/FusedKernel.h"
#include "runtime/Interpreter.h"
#include "runtime/Kernels.h"
#include "runtime/Parallel.h"
#include "runtime/Tensor.h"
#include "tools/msl/Driver.h"

using namespace msl;

namespace {

// A program loaded into its own interpreter; `fn` is its module-level function f.
struct Loaded {
  std::unique_ptr<Program> prog;
  ir::Module* m = nullptr;
  std::unique_ptr<Interpreter> interp;
  Value fn;
  explicit Loaded(const std::string& src) {
    prog = std::make_unique<Program>(std::vector<std::string>{});
    m = prog->loadText("<test>", src);
    interp = std::make_unique<Interpreter>();
    interp->runModule(m);
    fn = interp->global(m->findGlobal("f")->id);
  }
  // The specialisation the interpreter will run for `args`.
  ir::Graph* specialise(const std::vector<Value>& args) {
    const ClosureObj* cl = fn.as<ClosureObj>();
    std::vector<const ir::Abstract*> a, c;
    for (const Value& v : args) a.push_back(abstractOf(v));
    for (const Value& v : cl->captured) c.push_back(abstractOf(v));
    return interp->specializer().get(cl->graph, a, c);
  }
  Value call(const std::vector<Value>& args) { return interp->call(fn, args); }
};

int countPrim(const ir::Graph* g, Prim p) {
  int n = 0;
  for (const ir::Node* x : g->nodes) n += x->isPrimApply(p);
  return n;
}

std::mt19937_64& rng() {
  static std::mt19937_64 r(12345);
  return r;
}

Tensor randomTensor(DType dt, const Shape& shape, double lo = -3, double hi = 3) {
  Tensor t = Tensor::empty(dt, shape);
  std::uniform_real_distribution<double> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = u(rng());
    visitDType(dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (std::is_same_v<T, bool>) t.ptr<T>()[i] = v > 0;
      else if constexpr (std::is_floating_point_v<T>) t.ptr<T>()[i] = (T)v;
      else if constexpr (std::is_integral_v<T>) t.ptr<T>()[i] = (T)std::llround(v * 7);
    });
  }
  return t;
}
Value T(DType dt, const Shape& s, double lo = -3, double hi = 3) { return makeTensor(randomTensor(dt, s, lo, hi)); }

const Tensor& tensorIn(const Value& v) { return v.as<TensorObj>()->t; }

// Max distance in units in the last place between two f32/f64 tensors of one shape
// (0 when bit-identical; nan against nan counts as equal); other dtypes: 0 or 1e9.
double maxUlp(const Tensor& a0, const Tensor& b0) {
  if (a0.dtype() != b0.dtype() || a0.shape() != b0.shape()) return 1e18;
  Tensor a = a0.contiguous(), b = b0.contiguous();
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (a.dtype() == DType::F32) {
      float x = a.ptr<float>()[i], y = b.ptr<float>()[i];
      if (std::isnan(x) && std::isnan(y)) continue;
      int32_t ix, iy;
      std::memcpy(&ix, &x, 4);
      std::memcpy(&iy, &y, 4);
      if (ix < 0) ix = INT32_MIN - ix;
      if (iy < 0) iy = INT32_MIN - iy;
      worst = std::max(worst, std::fabs((double)ix - (double)iy));
    } else if (a.dtype() == DType::F64) {
      double x = a.ptr<double>()[i], y = b.ptr<double>()[i];
      if (std::isnan(x) && std::isnan(y)) continue;
      int64_t ix, iy;
      std::memcpy(&ix, &x, 8);
      std::memcpy(&iy, &y, 8);
      if (ix < 0) ix = INT64_MIN - ix;
      if (iy < 0) iy = INT64_MIN - iy;
      worst = std::max(worst, std::fabs((double)ix - (double)iy));
    } else {
      if (std::memcmp((char*)a.data() + i * dtypeSize(a.dtype()), (char*)b.data() + i * dtypeSize(a.dtype()),
                      dtypeSize(a.dtype())) != 0)
        return 1e9;
    }
  }
  return worst;
}

struct Result {
  int kernels = 0;
  int fusedOps = 0;
  double ulp = 0;
};

// Runs f(args) unfused (one interpreter) and fused (another), compares.
Result fuseAndCompare(const std::string& src, const std::vector<Value>& args, bool fastExp = false) {
  Loaded ref(src), fused(src);
  ir::Graph* g = fused.specialise(args);
  codegen::FusionOptions opt;
  opt.kernel.fastExp = fastExp;
  codegen::FusionStats st = codegen::fuseElementwise(*g->module, g, opt);
  Result r;
  r.kernels = countPrim(g, Prim::Fused);
  r.fusedOps = st.fusedOps;
  Value want = ref.call(args);
  Value got = fused.call(args);
  if (!want.is(VKind::Tensor) || !got.is(VKind::Tensor)) {
    r.ulp = 1e18;
    return r;
  }
  r.ulp = maxUlp(tensorIn(want), tensorIn(got));
  return r;
}

// ---------------------------------------------------------------- the benchmark chain
// The one __fused node of g's kernel.
const FusedKernel* theKernel(const ir::Graph* g) {
  for (const ir::Node* n : g->nodes)
    if (n->isPrimApply(Prim::Fused)) return fusedKernel((int)n->inputs[1]->i);
  return nullptr;
}

// Graph mode's options (fastExp off): the chain is vector code and eager's bits, since
// f32 sigmoid and tanh-form gelu use the eager kernels' own exp (runtime/MathFns.h).
TEST(Fusion, GeluChainIsOneVectorKernelAndBitIdentical) {
  const char* src =
      "def f(x, w, b, g):\n"
      "    return gelu(x * w + b, approximate=True) * sigmoid(g) + x\n";
  std::vector<Value> args{T(DType::F32, {8, 33}), T(DType::F32, {33}), T(DType::F32, {33}), T(DType::F32, {8, 33})};
  Result r = fuseAndCompare(src, args);
  EXPECT_EQ(r.kernels, 1);
  EXPECT_EQ(r.fusedOps, 6);
  EXPECT_EQ(r.ulp, 0);
  Loaded l(src);
  ir::Graph* g = l.specialise(args);
  codegen::fuseElementwise(*g->module, g);
  ASSERT_TRUE(theKernel(g));
  EXPECT_EQ(theKernel(g)->lanes, 16);
}

// Over the whole range of both functions' arguments (large magnitudes where e^x
// overflows or vanishes, the clamps of the exp, infinities, nan, zeros, subnormals): the
// same bits as eager, in vector steps and in the launcher's partial steps alike (257
// columns), with the fast exp on or off (it concerns plain exp and softplus only).
TEST(Fusion, SigmoidAndGeluTanhAreEagersBits) {
  Tensor x = randomTensor(DType::F32, {64, 257}, -120, 120);
  const float edges[] = {NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-45f, -1e-45f, 1e-38f, 86.5f, -86.5f,
                         86.49f, -86.51f, 89.0f, -89.0f, 89.01f, 88.72f, -88.72f, 103.9f, -103.9f, 3e38f, -3e38f,
                         5.4f, -5.4f, -9.92322f, 1e-7f, -1e-7f};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; ++i) x.ptr<float>()[i * 3] = edges[i];
  for (const char* body : {"sigmoid(x) * y", "gelu(x, approximate=True) * y", "sigmoid(-x) + gelu(x * y, approximate=True)"})
    for (bool fast : {false, true}) {
      std::string src = std::string("def f(x, y):\n    return ") + body + "\n";
      Result r = fuseAndCompare(src, {makeTensor(x), T(DType::F32, {257}, 0.5, 2)}, fast);
      EXPECT_EQ(r.kernels, 1) << body;
      EXPECT_EQ(r.ulp, 0) << body << (fast ? " (fast exp)" : "");
    }
}

TEST(Fusion, FastExpFunctionsAreWithinTheStatedBound) {
  // softplus built on the fast exp: ulp of its own results.
  const char* src = "def f(x):\n    return softplus(x) * 1.0\n";
  Result r = fuseAndCompare(src, {T(DType::F32, {256, 257}, -30, 30)}, /*fastExp=*/true);
  EXPECT_EQ(r.kernels, 1);
  EXPECT_LE(r.ulp, 4) << "docs/fusion.md states the bound";
  std::printf("softplus: max %g ulp from eager\n", r.ulp);
}

// exp itself over f32's whole useful range, subnormal results and overflow included.
TEST(Fusion, FastExpUlpAgainstTheLibrary) {
  const char* src = "def f(x):\n    return exp(x) * 1.0\n";
  Tensor x = Tensor::empty(DType::F32, {200003});
  for (int64_t i = 0; i < x.numel(); ++i) x.ptr<float>()[i] = (float)(-104.0 + 194.0 * (double)i / 200002.0);
  x.ptr<float>()[0] = NAN;
  x.ptr<float>()[1] = INFINITY;
  x.ptr<float>()[2] = -INFINITY;
  x.ptr<float>()[3] = 0.0f;
  Result r = fuseAndCompare(src, {makeTensor(x)}, true);
  EXPECT_EQ(r.kernels, 1);
  // Results below 2^-126 (subnormals) count ULPs of the subnormal spacing.
  EXPECT_LE(r.ulp, 2);
  std::printf("fast exp: max %g ulp against the C library\n", r.ulp);
}

// ---------------------------------------------------------------- every fusible primitive
struct Case {
  const char* body;  // the expression of f(x, y)
  DType dx, dy;
};

TEST(Fusion, EveryFusiblePrimitiveMatchesTheEagerKernel) {
  const Case cases[] = {
      {"exp(x) + y", DType::F32, DType::F32},
      {"log(x.abs() + 0.5) * y", DType::F32, DType::F32},
      {"log1p(x.abs()) - y", DType::F64, DType::F64},
      {"sqrt(x.abs()) + y", DType::F32, DType::F32},
      {"rsqrt(x.abs() + 0.25) * y", DType::F32, DType::F32},
      {"sin(x) + cos(y)", DType::F32, DType::F32},
      {"tanh(x) * y", DType::F64, DType::F64},
      {"sigmoid(x) + y", DType::F32, DType::F32},
      {"sigmoid(x) + y", DType::F64, DType::F64},
      {"relu(x) * y", DType::F32, DType::F32},
      {"relu(x) * y", DType::I64, DType::I64},
      {"gelu(x) + y", DType::F32, DType::F32},
      {"gelu(x, approximate=True) + y", DType::F64, DType::F64},
      {"softplus(x) - y", DType::F32, DType::F32},
      {"floor(x) + ceil(y)", DType::F32, DType::F32},
      {"-x * y", DType::F32, DType::F32},
      {"-x * y", DType::I32, DType::I32},
      {"abs(x) + y", DType::I64, DType::I64},
      {"abs(x) * y", DType::F32, DType::F32},
      {"x / y + 1", DType::F32, DType::F32},
      {"x / y + 1", DType::I64, DType::I64},
      {"x ** 2.0 + y", DType::F32, DType::F32},
      {"x.abs() ** y + 1.0", DType::F64, DType::F64},
      {"maximum(x, y) - minimum(x, y)", DType::F32, DType::F32},
      {"maximum(x, y) * minimum(x, 2)", DType::I32, DType::I32},
      {"where(x < y, x, y) + 1.0", DType::F32, DType::F32},
      {"where(x <= y, 1.0, y) * 2", DType::F64, DType::F64},
      {"where(x == y, x, 0) + where(x != y, y, 0)", DType::I64, DType::I64},
      {"where(x > 0.5, x, y) + where(x >= y, 1, 2)", DType::F32, DType::F32},
      {"(x > 0) & (y < 0) | (x == y)", DType::F32, DType::F32},
      {"(x & y) ^ (x | y)", DType::I64, DType::I64},
      {"(x & y) | (x ^ y)", DType::Bool, DType::Bool},
      {"x + y * x", DType::Bool, DType::Bool},
      {"astype(x, i32) * 3 + astype(y, i32)", DType::F32, DType::F32},
      {"astype(x, f64) * 2.5 + y", DType::F32, DType::F64},
      {"astype(x * 40.0, u8) + astype(y, u8)", DType::F32, DType::F32},
      {"astype(x, bool) | (y > 0)", DType::I64, DType::F32},
      {"clip(x, -0.5, 0.5) * y", DType::F32, DType::F32},
      {"clip(x, lo=-2) + clip(y, hi=3)", DType::I64, DType::I64},
      {"x * 3 + y", DType::F32, DType::I64},
      {"x * y - 2.5", DType::I32, DType::F32},
      {"where(isnan(x / y), 0.0, x) + isfinite(y / x)", DType::F32, DType::F32},
      {"(x - y) * (x + y) / (x * y + 0.5)", DType::F64, DType::F64},
  };
  rng().seed(12345);  // the same inputs whether this test runs alone or after others
  for (const Case& c : cases) {
    std::string src = std::string("def f(x, y):\n    return ") + c.body + "\n";
    std::vector<Value> args{T(c.dx, {7, 19}), T(c.dy, {7, 19})};
    Result r = fuseAndCompare(src, args);
    EXPECT_EQ(r.kernels, 1) << c.body << " " << dtypeName(c.dx);
    EXPECT_EQ(r.ulp, 0) << c.body << " " << dtypeName(c.dx);
  }
}

// ---------------------------------------------------------------- layouts and numbers
TEST(Fusion, BroadcastingScalarsAndRankZero) {
  const char* src =
      "def f(x, y, z, s, k):\n"
      "    return (x * s + y) * z - k\n";
  // x [5, 1, 7], y [3, 7], z 0-d, s a float and k an int known only at run time.
  std::vector<Value> args{T(DType::F32, {5, 1, 7}), T(DType::F32, {3, 7}), T(DType::F32, {}), Value::real(0.37),
                          Value::integer(3)};
  Result r = fuseAndCompare(src, args);
  EXPECT_EQ(r.kernels, 1);
  EXPECT_EQ(r.ulp, 0);
}

TEST(Fusion, NonContiguousViews) {
  const char* src = "def f(x, y):\n    return tanh(x) * y + x\n";
  Tensor a = randomTensor(DType::F32, {9, 13});
  Tensor b = randomTensor(DType::F32, {13, 9});
  Tensor at = permute(a, {1, 0});  // [13, 9], strides (1, 13)
  std::vector<Value> args{makeTensor(at), makeTensor(b)};
  Result r = fuseAndCompare(src, args);
  EXPECT_EQ(r.kernels, 1);
  EXPECT_EQ(r.ulp, 0);
  // A strided slice (every other column) broadcast against a 3-d tensor.
  Tensor c = randomTensor(DType::F64, {6, 10});
  Tensor cs = c.view({6, 5}, {10, 2}, 1);
  std::vector<Value> args2{makeTensor(cs), T(DType::F64, {4, 6, 5})};
  Result r2 = fuseAndCompare("def f(x, y):\n    return exp(x) * y + x\n", args2);
  EXPECT_EQ(r2.kernels, 1);
  EXPECT_EQ(r2.ulp, 0);
}

TEST(Fusion, IntermediateUsedOutsideTheChainIsASecondOutput) {
  // t is returned too: it stays a value of its own, as a second output of the kernel.
  const char* src =
      "def f(x, y):\n"
      "    t = x * y + 1.0\n"
      "    u = exp(t) - y\n"
      "    return u * 2.0 + t, t\n";
  Loaded l(src);
  std::vector<Value> args{T(DType::F32, {4, 5}), T(DType::F32, {4, 5})};
  ir::Graph* g = l.specialise(args);
  codegen::FusionOptions opt;
  opt.kernel.fastExp = false;
  codegen::fuseElementwise(*g->module, g, opt);
  // t = x * y + 1 leaves the function: one kernel with two outputs (t and the result).
  EXPECT_EQ(countPrim(g, Prim::Fused), 1);
  Loaded ref(src);
  Value want = ref.call(args), got = l.call(args);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(maxUlp(tensorIn(want.as<TupleObj>()->items[i]), tensorIn(got.as<TupleObj>()->items[i])), 0) << i;
}

// A kernel of a differentiated graph, whose inputs are typed by the cotangent convention,
// keeps its chain as calls (FusedKernel::chain): given inputs of other dtypes or ranks
// (an f64 cotangent for an f32 value) it runs them by eager kernels, with eager's result
// for those inputs; given the inputs it was made for, it runs the kernel. Simulated on a
// clone marked as made by J and run with other arguments than its signature's.
TEST(Fusion, KernelOfADifferentiatedGraphRunsItsChainForOtherTypes) {
  const char* src =
      "def f(x, y):\n"
      "    t = x * y + 1.0\n"
      "    return tanh(t) * y - t, t\n";
  Loaded l(src), ref(src);
  ir::Graph* g = l.specialise({T(DType::F32, {3, 4}), T(DType::F32, {3, 4})});
  g->madeByJ = true;
  codegen::FusionOptions opt;
  codegen::fuseElementwise(*g->module, g, opt);
  ASSERT_EQ(countPrim(g, Prim::Fused), 1);
  FusedKernel* k = const_cast<FusedKernel*>(theKernel(g));
  ASSERT_TRUE(k);
  ASSERT_EQ(k->chain.size(), 5u);  // multiply, add, tanh, multiply, subtract
  ASSERT_EQ(k->chainOutputs.size(), 2u);
  auto run = [&](std::vector<Value> args) {
    return l.interp->runGraph(g, l.fn.as<ClosureObj>(), args.data());
  };
  struct Case { DType x, y; Shape sx, sy; };
  for (const Case& c : {Case{DType::F64, DType::F32, {3, 4}, {3, 4}}, Case{DType::F32, DType::F64, {3, 4}, {4}},
                        Case{DType::F32, DType::F32, {4}, {3, 4}}, Case{DType::F32, DType::F32, {3, 4}, {3, 4}}}) {
    std::vector<Value> args{T(c.x, c.sx), T(c.y, c.sy)};
    uint64_t chainCalls = k->chainCalls, calls = k->calls;
    Value got = run(args), want = ref.call(args);
    bool fits = c.x == DType::F32 && c.y == DType::F32 && c.sx.size() == 2 && c.sy.size() == 2;
    EXPECT_EQ(k->chainCalls - chainCalls, fits ? 0u : 1u);
    EXPECT_EQ(k->calls - calls, fits ? 1u : 0u);
    for (size_t i = 0; i < 2; ++i) {
      const Tensor &a = tensorIn(want.as<TupleObj>()->items[i]), &b = tensorIn(got.as<TupleObj>()->items[i]);
      EXPECT_EQ(a.dtype(), b.dtype());
      EXPECT_EQ(maxUlp(a, b), 0) << i;
    }
  }
}

// Whatever uses the chain's intermediate values, they are computed once per element:
// a value used twice inside the chain is one kernel.
TEST(Fusion, ValueUsedTwiceInsideTheChainIsFused) {
  const char* src =
      "def f(x, y):\n"
      "    t = x * y + 1.0\n"
      "    return (exp(t) - y) * 2.0 + t\n";
  Result r = fuseAndCompare(src, {T(DType::F32, {4, 5}), T(DType::F32, {4, 5})});
  EXPECT_EQ(r.kernels, 1);
  EXPECT_EQ(r.fusedOps, 6);
  EXPECT_EQ(r.ulp, 0);
}

// One kernel serves every batch size: the graph specialised with a symbolic batch
// dimension, its kernel run on several.
TEST(Fusion, DynamicBatchDimension) {
  const char* src = "def f(x, w):\n    return relu(x * w + 0.5) - w\n";
  Loaded l(src);
  const ClosureObj* cl = l.fn.as<ClosureObj>();
  const ir::Abstract* xa = ir::Abstract::tensor(DType::F32, {ir::Dim::fresh(), ir::Dim::of(6)});
  const ir::Abstract* wa = ir::Abstract::tensor(DType::F32, {ir::Dim::of(6)});
  ir::Graph* g = l.interp->specializer().get(cl->graph, {xa, wa}, {});
  codegen::FusionOptions opt;
  codegen::fuseElementwise(*g->module, g, opt);
  ASSERT_EQ(countPrim(g, Prim::Fused), 1);
  const ir::Node* fusedNode = nullptr;
  for (const ir::Node* n : g->nodes)
    if (n->isPrimApply(Prim::Fused)) fusedNode = n;
  int id = (int)fusedNode->inputs[1]->i;
  FusedKernel* k = fusedKernel(id);
  ASSERT_TRUE(k);
  Loaded ref(src);
  for (int64_t batch : {1, 3, 17, 1000}) {
    Value x = T(DType::F32, {batch, 6}), w = T(DType::F32, {6});
    // The kernel's inputs are the chain's external nodes in order: x then w.
    ASSERT_EQ(fusedNode->inputs[2], g->params[0]);
    Value got = runFusedKernel(*k, {x, w});
    EXPECT_EQ(maxUlp(tensorIn(ref.call({x, w})), tensorIn(got)), 0) << batch;
  }
}

TEST(Fusion, ResultsDoNotDependOnTheThreadCount) {
  const char* src = "def f(x, y):\n    return sigmoid(x) * y + tanh(y)\n";
  std::vector<Value> args{T(DType::F32, {300, 1001}), T(DType::F32, {1001})};
  Loaded l(src);
  ir::Graph* g = l.specialise(args);
  codegen::fuseElementwise(*g->module, g);
  int before = numThreads();
  setNumThreads(1);
  Value one = l.call(args);
  setNumThreads(4);
  Value four = l.call(args);
  setNumThreads(before);
  EXPECT_EQ(maxUlp(tensorIn(one), tensorIn(four)), 0);
}

TEST(Fusion, ShapeMismatchIsStillAnError) {
  const char* src = "def f(x, y):\n    return exp(x) + y * 2.0\n";
  Loaded l(src);
  ir::Graph* g = l.specialise({T(DType::F32, {3}), T(DType::F32, {3})});
  codegen::fuseElementwise(*g->module, g);
  ASSERT_EQ(countPrim(g, Prim::Fused), 1);
  const ir::Node* fusedNode = nullptr;
  for (const ir::Node* n : g->nodes)
    if (n->isPrimApply(Prim::Fused)) fusedNode = n;
  FusedKernel* k = fusedKernel((int)fusedNode->inputs[1]->i);
  try {
    runFusedKernel(*k, {T(DType::F32, {3}), T(DType::F32, {4})});
    FAIL() << "expected ShapeMismatch";
  } catch (const Error& e) {
    EXPECT_EQ(e.diag.id, DiagId::ShapeMismatch);
  }
}

// ---------------------------------------------------------------- reduction epilogues
// A chain read only by sum / mean / max / min (over all axes or the last one) is one
// kernel that reduces its elements in eager's order (docs/fusion.md "Reductions"): the
// same bits as eager's reduce() for every size (blocks of 8192, rows shorter and longer
// than a block, the parallel split of long rows), NaN and inf, f32 and f64, every
// thread count; and close to a naive double-precision reference.

const ir::Node* theFusedNode(const ir::Graph* g) {
  for (const ir::Node* n : g->nodes)
    if (n->isPrimApply(Prim::Fused)) return n;
  return nullptr;
}

// The outcome of a call: its value, or the id of the error it raised.
struct Outcome {
  Value v;
  bool raised = false;
  DiagId id = DiagId::TypeError;
};
template <class F> Outcome outcomeOf(F f) {
  Outcome o;
  try {
    o.v = f();
  } catch (const Error& e) {
    o.raised = true;
    o.id = e.diag.id;
  }
  return o;
}

struct RedCase {
  const char* body;  // f(x, y)'s result; x and y of one shape [rows, cols]
  int fusedOps;      // primitives the kernel stands for, the reduction included
  FusedReduce::Op op;
  bool lastAxis;
  double (*elem)(double x, double y);  // the chain's element, for the naive reference
};

// The naive reference: each element in double, summed in long double (max/min: the
// largest/smallest, NaN when any element is NaN), per row (lastAxis) or over all. *mags:
// the scale of each result's rounding (the sum of the elements' scales; max/min: the
// largest), an element's scale being its magnitude + 10 (inputs are within [-3, 3]).
std::vector<double> naiveReduce(const RedCase& c, const Tensor& x, const Tensor& y, std::vector<double>* mags) {
  const int64_t rows = x.dim(0), cols = x.dim(1), n = x.numel();
  const int64_t R = c.lastAxis ? cols : n, O = c.lastAxis ? rows : 1;
  auto at = [](const Tensor& t, int64_t i) { return t.dtype() == DType::F32 ? (double)t.ptr<float>()[i] : t.ptr<double>()[i]; };
  std::vector<double> out;
  mags->clear();
  for (int64_t o = 0; o < O; ++o) {
    long double s = 0, mag = 0;
    double ext = NAN;
    bool nan = false;
    for (int64_t r = 0; r < R; ++r) {
      double e = c.elem(at(x, o * R + r), at(y, o * R + r));
      s += e;
      // (an element's own rounding error scales with its operands, at most ~10 here)
      if (c.op == FusedReduce::Op::Max || c.op == FusedReduce::Op::Min) mag = std::max(mag, (long double)std::fabs(e) + 10);
      else mag += std::fabs(e) + 10;
      if (std::isnan(e)) nan = true;
      if (r == 0 || (c.op == FusedReduce::Op::Max ? e > ext : e < ext)) ext = e;
    }
    if (c.op == FusedReduce::Op::Max || c.op == FusedReduce::Op::Min) out.push_back(nan ? NAN : ext);
    else if (c.op == FusedReduce::Op::Mean) out.push_back((double)(s / (long double)R));
    else out.push_back((double)s);
    mags->push_back((double)(c.op == FusedReduce::Op::Mean ? mag / (long double)R : mag));
  }
  return out;
}

TEST(Fusion, ReductionEpiloguesAreEagersBitsAndNearANaiveReference) {
  const RedCase cases[] = {
      {"mean((x - y) ** 2)", 3, FusedReduce::Op::Mean, false, [](double x, double y) { return (x - y) * (x - y); }},
      {"sum(x * x, axis=-1)", 2, FusedReduce::Op::Sum, true, [](double x, double) { return x * x; }},
      {"max(abs(x - y))", 3, FusedReduce::Op::Max, false, [](double x, double y) { return std::fabs(x - y); }},
      {"min(x * y + 1.0, axis=-1, keepdims=True)", 3, FusedReduce::Op::Min, true, [](double x, double y) { return x * y + 1.0; }},
      {"(x - y).sum(keepdims=True)", 2, FusedReduce::Op::Sum, false, [](double x, double y) { return x - y; }},
      {"mean(x * y, axis=1)", 2, FusedReduce::Op::Mean, true, [](double x, double y) { return x * y; }},
      {"(x * 0.0).max(axis=-1)", 2, FusedReduce::Op::Max, true, [](double x, double) { return x * 0.0; }},
      {"min(sqrt(abs(x)) - y)", 4, FusedReduce::Op::Min, false, [](double x, double y) { return std::sqrt(std::fabs(x)) - y; }},
  };
  const Shape shapes[] = {{0, 5}, {5, 0}, {1, 1}, {1, 15}, {1, 16}, {1, 17}, {3, 5}, {1, 1023}, {1, 4097}, {4097, 1},
                          {7, 8192}, {2, 8193}, {1, 100003}, {300, 333}, {3, 30000}};
  rng().seed(777);
  const int before = numThreads();
  for (const RedCase& c : cases)
    for (DType dt : {DType::F32, DType::F64}) {
      std::string src = std::string("def f(x, y):\n    return ") + c.body + "\n";
      Loaded l(src), ref(src);
      // One kernel for every size: both dimensions symbolic.
      const ir::Abstract* a = ir::Abstract::tensor(dt, {ir::Dim::fresh(), ir::Dim::fresh()});
      ir::Graph* g = l.interp->specializer().get(l.fn.as<ClosureObj>()->graph, {a, a}, {});
      codegen::FusionStats st = codegen::fuseElementwise(*g->module, g);
      const std::string what = std::string(c.body) + " " + dtypeName(dt);
      ASSERT_EQ(countPrim(g, Prim::Fused), 1) << what;
      EXPECT_EQ(st.reductions, 1) << what;
      EXPECT_EQ(st.fusedOps, c.fusedOps) << what;
      const ir::Node* fn = theFusedNode(g);
      FusedKernel* k = fusedKernel((int)fn->inputs[1]->i);
      ASSERT_TRUE(k);
      EXPECT_EQ(k->reduce.op, c.op) << what;
      EXPECT_EQ(k->reduce.lastAxis, c.lastAxis) << what;
      for (const Shape& shape : shapes)
        for (int special = 0; special < 3; ++special) {
          Tensor x = randomTensor(dt, shape), y = randomTensor(dt, shape);
          const int64_t n = x.numel();
          // 1: infinities; 2: NaN and infinities, at random places.
          if (special && n) {
            std::uniform_int_distribution<int64_t> pos(0, n - 1);
            auto put = [&](Tensor& t, double v) {
              int64_t i = pos(rng());
              if (dt == DType::F32) t.ptr<float>()[i] = (float)v;
              else t.ptr<double>()[i] = v;
            };
            put(x, INFINITY);
            put(y, -INFINITY);
            if (special == 2) put(x, NAN);
          }
          std::vector<Value> args{makeTensor(x), makeTensor(y)};
          std::vector<Value> kargs;  // the kernel's inputs: the chain's external nodes in order
          for (size_t q = 2; q < fn->inputs.size(); ++q) kargs.push_back(fn->inputs[q] == g->params[0] ? args[0] : args[1]);
          const std::string at = what + " shape " + std::to_string(shape[0]) + "x" + std::to_string(shape[1]) +
                                 " special " + std::to_string(special);
          for (int threads : {1, 4}) {
            setNumThreads(threads);
            Outcome want = outcomeOf([&] { return ref.call(args); });
            Outcome got = outcomeOf([&] { return runFusedKernel(*k, kargs); });
            ASSERT_EQ(want.raised, got.raised) << at;
            if (want.raised) {  // max/min of nothing
              EXPECT_EQ(got.id, want.id) << at;
              EXPECT_EQ(got.id, DiagId::ValueError) << at;
              continue;
            }
            const Tensor &w = tensorIn(want.v), &r = tensorIn(got.v);
            EXPECT_EQ(maxUlp(w, r), 0) << at << " threads " << threads;
            if (threads != 1) continue;
            std::vector<double> mags;
            std::vector<double> naive = naiveReduce(c, x, y, &mags);
            ASSERT_EQ((int64_t)naive.size(), r.numel()) << at;
            Tensor r64 = astype(r, DType::F64).contiguous();
            const double tol = dt == DType::F32 ? 1e-5 : 1e-12;
            for (size_t i = 0; i < naive.size(); ++i) {
              double v = r64.ptr<double>()[i];
              if (std::isnan(naive[i]) || std::isinf(naive[i])) {
                EXPECT_TRUE(std::isnan(naive[i]) ? std::isnan(v) : v == naive[i]) << at << " [" << i << "] " << v;
              } else {
                EXPECT_LE(std::fabs(v - naive[i]), tol * (mags[i] + 1e-30)) << at << " [" << i << "] " << v << " vs " << naive[i];
              }
            }
          }
        }
    }
  setNumThreads(before);
}

// Through the interpreter, shapes static: the reduction's node is gone, the kernel's
// value is eager's, bit for bit; a broadcast operand and a transposed view too.
TEST(Fusion, ReductionThroughTheInterpreter) {
  Result r = fuseAndCompare("def f(x, y):\n    return mean((x - y) ** 2)\n", {T(DType::F32, {37, 411}), T(DType::F32, {37, 411})});
  EXPECT_EQ(r.kernels, 1);
  EXPECT_EQ(r.fusedOps, 3);
  EXPECT_EQ(r.ulp, 0);
  Tensor a = randomTensor(DType::F64, {300, 129});
  Result r2 = fuseAndCompare("def f(x, y):\n    return sum(exp(x) * y, axis=-1)\n",
                             {makeTensor(permute(a, {1, 0})), T(DType::F64, {300})});
  EXPECT_EQ(r2.kernels, 1);
  EXPECT_EQ(r2.ulp, 0);
  Result r3 = fuseAndCompare("def f(x, y):\n    return max(x * y, axis=-1, keepdims=True)\n",
                             {T(DType::F32, {5, 1, 9000}), T(DType::F32, {3, 1})});
  EXPECT_EQ(r3.kernels, 1);
  EXPECT_EQ(r3.ulp, 0);
}

// Left to eager: a reduction over another axis, of a value read elsewhere too, of
// integers; the elementwise chain is still fused where it has two operations or more.
TEST(Fusion, ReductionsLeftAlone) {
  struct Left {
    const char* src;
    DType dt;
    int kernels;
  };
  const Left cases[] = {
      {"def f(x, y):\n    return sum(x * y, axis=0)\n", DType::F32, 0},
      {"def f(x, y):\n    return sum(x * y + 1.0, axis=0)\n", DType::F32, 1},
      {"def f(x, y):\n    t = x * y + 1.0\n    return sum(t) + t\n", DType::F32, 1},
      {"def f(x, y):\n    return sum(x * y + 1)\n", DType::I64, 1},
      {"def f(x, y):\n    return sum(x * y, 1.0)\n", DType::F32, 0},
  };
  for (const Left& c : cases) {
    Loaded l(c.src);
    std::vector<Value> args{T(c.dt, {6, 7}), T(c.dt, {6, 7})};
    ir::Graph* g = l.specialise(args);
    codegen::FusionStats st = codegen::fuseElementwise(*g->module, g);
    EXPECT_EQ(st.kernels, c.kernels) << c.src;
    EXPECT_EQ(st.reductions, 0) << c.src;
    Loaded ref(c.src);
    EXPECT_EQ(maxUlp(tensorIn(ref.call(args)), tensorIn(l.call(args))), 0) << c.src;
  }
}

// ir::unfuse puts the chain back, the reduction last, where the kernel was.
TEST(Fusion, ReductionChainIsUnfused) {
  const char* src = "def f(x, y):\n    z = mean((x - y) ** 2, axis=-1)\n    return z * 2.0\n";
  Loaded l(src);
  ir::Graph* g = l.specialise({T(DType::F32, {4, 5}), T(DType::F32, {4, 5})});
  codegen::fuseElementwise(*g->module, g);
  EXPECT_EQ(countPrim(g, Prim::Fused), 1);
  EXPECT_EQ(countPrim(g, Prim::Mean), 0);
  ir::unfuse(*g->module, g);
  EXPECT_EQ(countPrim(g, Prim::Fused), 0);
  EXPECT_EQ(countPrim(g, Prim::Mean), 1);
  EXPECT_EQ(countPrim(g, Prim::Pow), 1);
  const ir::Node* mul = nullptr;
  for (const ir::Node* n : g->nodes)
    if (n->isPrimApply(Prim::Mul)) mul = n;
  ASSERT_TRUE(mul);
  EXPECT_TRUE(mul->inputs[1]->isPrimApply(Prim::Mean));
}

// ---------------------------------------------------------------- the generated code
TEST(KernelGen, TheChainIsOneVectorisedLoopWithoutContraction) {
  const char* src =
      "def f(x, w, b, g):\n"
      "    return gelu(x * w + b, approximate=True) * sigmoid(g) + x\n";
  Loaded l(src);
  std::vector<Value> args{T(DType::F32, {4, 16}), T(DType::F32, {16}), T(DType::F32, {16}), T(DType::F32, {4, 16})};
  ir::Graph* g = l.specialise(args);
  codegen::fuseElementwise(*g->module, g);
  const ir::Node* fusedNode = nullptr;
  for (const ir::Node* n : g->nodes)
    if (n->isPrimApply(Prim::Fused)) fusedNode = n;
  ASSERT_TRUE(fusedNode);
  const codegen::FusedSpec* spec = codegen::fusedSpecOf((int)fusedNode->inputs[1]->i);
  ASSERT_TRUE(spec);
  std::string ir = codegen::fusedKernelIR(*spec, {}, /*optimized=*/true);
  // The contiguous inner loop is vectorised (16 lanes) and no multiply-add was
  // contracted: the only FMAs are the 9 of each of the two exps (runtime/MathFns.h
  // expForOnePlus), none the program's own `x * w + b`.
  EXPECT_TRUE(ir.find("<16 x float>") != std::string::npos) << ir;
  EXPECT_EQ(ir.find("fmuladd"), std::string::npos);
  size_t fmas = 0;
  for (size_t at = ir.find("call <16 x float> @llvm.fma"); at != std::string::npos; at = ir.find("call <16 x float> @llvm.fma", at + 1))
    ++fmas;
  EXPECT_EQ(fmas, 18u) << ir;
  EXPECT_EQ(ir.find("@expf"), std::string::npos);
  // Unoptimised: one loop, over contiguous memory; rows, strided views and the thread
  // pool are the runtime's launcher's (runtime/FusedKernel.h), not generated code.
  std::string raw = codegen::fusedKernelIR(*spec, {}, false);
  size_t a = raw.find("\nvector.body:");
  EXPECT_NE(a, std::string::npos);
  EXPECT_EQ(raw.find("\nvector.body:", a + 1), std::string::npos);
  EXPECT_EQ(raw.find("msl_rt_parallel_for"), std::string::npos);
}

}  // namespace
