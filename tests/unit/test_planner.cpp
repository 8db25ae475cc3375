// The buffer planner of graph mode (codegen/Planner.h) on small hand-built graphs: which
// input of a __fused node its output may overwrite, and the cases that must not reuse
// (a value read later, a view of a value read later, another dtype or shape, a captured
// value, a parameter not donated). Then, on programs: fusion with several outputs (an
// Adam update is one kernel) and the in-place run itself, bit-identical to eager, in the
// inputs' buffers exactly when the caller gave them up.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "codegen/Fusion.h"
#include "codegen/Planner.h"
#include "ir/Abstract.h"
#include "ir/IR.h"
#include "ir/Manager.h"
#include "ir/Specialize.h"
#include "runtime/AbstractOf.h"
#include "runtime/FusedKernel.h"
#include "runtime/Interpreter.h"
#include "runtime/Tensor.h"
#include "tools/msl/Driver.h"

using namespace msl;
using ir::Abstract;
using ir::Dim;
using ir::Graph;
using ir::Node;

namespace {

const Abstract* f32(std::initializer_list<int64_t> ds) {
  ir::Dims d;
  for (int64_t x : ds) d.push_back(Dim::of(x));
  return Abstract::tensor(DType::F32, d);
}
const Abstract* i32(std::initializer_list<int64_t> ds) {
  ir::Dims d;
  for (int64_t x : ds) d.push_back(Dim::of(x));
  return Abstract::tensor(DType::I32, d);
}

// A function graph f(x, y) of two f32[4] parameters, built node by node.
struct G {
  ir::Module m{"t", nullptr};
  Graph* g;
  Node *x, *y;
  G() {
    g = m.newGraph("f", nullptr, SourceLoc{});
    g->isFunction = true;
    x = m.newParam(g, "x", SourceLoc{});
    y = m.newParam(g, "y", SourceLoc{});
    g->paramKinds = {ir::ParamKind::Positional, ir::ParamKind::Positional};
    g->defaults = {nullptr, nullptr};
    x->abs = f32({4});
    y->abs = f32({4});
  }
  Node* prim(Prim p, std::vector<Node*> in, const Abstract* abs) {
    in.insert(in.begin(), m.constPrim(p));
    Node* n = m.newApply(g, std::move(in), SourceLoc{});
    n->abs = abs;
    return n;
  }
  Node* fused(std::vector<Node*> in, const Abstract* abs) {
    in.insert(in.begin(), m.constInt(0));
    return prim(Prim::Fused, std::move(in), abs);
  }
  std::vector<int> plan(Node* k, const codegen::PlanOptions& o = {}) {
    for (const codegen::FusedReuse& r : codegen::planBuffers(g, o))
      if (r.fused == k) return r.alias;
    return {99};
  }
};

TEST(Planner, AnIntermediateAtItsLastUseIsReused) {
  G t;
  Node* a = t.prim(Prim::Mul, {t.x, t.y}, f32({4}));
  Node* k = t.fused({a, t.y}, f32({4}));
  t.g->output = k;
  EXPECT_EQ(t.plan(k), std::vector<int>{0});
}

TEST(Planner, AValueReadLaterIsNotReused) {
  G t;
  Node* a = t.prim(Prim::Mul, {t.x, t.y}, f32({4}));
  Node* k = t.fused({a, t.y}, f32({4}));
  t.g->output = t.prim(Prim::Add, {a, k}, f32({4}));
  EXPECT_EQ(t.plan(k), std::vector<int>{-1});
  // Nor when it leaves the graph.
  G u;
  Node* b = u.prim(Prim::Mul, {u.x, u.y}, f32({4}));
  Node* k2 = u.fused({b, u.y}, f32({4}));
  u.g->output = u.prim(Prim::MakeTuple, {k2, b}, nullptr);
  EXPECT_EQ(u.plan(k2), std::vector<int>{-1});
}

TEST(Planner, AViewOfAValueReadLaterIsNotReused) {
  G t;
  Node* a = t.prim(Prim::Mul, {t.x, t.y}, f32({2, 2}));
  Node* v = t.prim(Prim::Reshape, {a, t.m.constInt(4)}, f32({4}));
  Node* k = t.fused({v, t.y}, f32({4}));
  t.g->output = t.prim(Prim::MakeTuple, {k, a}, nullptr);  // a (v's storage) is read later
  EXPECT_EQ(t.plan(k), std::vector<int>{-1});
  // Once nothing reads a after the kernel, its view may be written over.
  G u;
  Node* b = u.prim(Prim::Mul, {u.x, u.y}, f32({2, 2}));
  Node* w = u.prim(Prim::Reshape, {b, u.m.constInt(4)}, f32({4}));
  Node* k2 = u.fused({w, u.y}, f32({4}));
  u.g->output = k2;
  EXPECT_EQ(u.plan(k2), std::vector<int>{0});
  // A view of a parameter is the caller's storage: only when donated.
  G p;
  Node* pv = p.prim(Prim::Reshape, {p.x, p.m.constInt(4)}, f32({4}));
  Node* k3 = p.fused({pv, p.y}, f32({4}));
  p.g->output = k3;
  EXPECT_EQ(p.plan(k3), std::vector<int>{-1});
  codegen::PlanOptions don;
  don.donated = {true, false};
  EXPECT_EQ(p.plan(k3, don), std::vector<int>{0});
}

TEST(Planner, AnotherDtypeOrShapeIsNotReused) {
  G t;
  Node* a = t.prim(Prim::AsType, {t.x, t.m.constDType(DType::I32)}, i32({4}));
  Node* k = t.fused({a, t.y}, f32({4}));  // the output is f32
  t.g->output = k;
  EXPECT_EQ(t.plan(k), std::vector<int>{-1});
  G u;
  Node* b = u.prim(Prim::Mul, {u.x, u.y}, f32({4}));
  Node* k2 = u.fused({b}, f32({3, 4}));  // b is broadcast
  u.g->output = k2;
  EXPECT_EQ(u.plan(k2), std::vector<int>{-1});
}

TEST(Planner, ParametersOnlyWhenDonated) {
  G t;
  Node* k = t.fused({t.x, t.y}, f32({4}));
  t.g->output = k;
  EXPECT_EQ(t.plan(k), std::vector<int>{-1});
  codegen::PlanOptions o;
  o.donated = {false, true};
  EXPECT_EQ(t.plan(k, o), std::vector<int>{1});
  codegen::PlanOptions all;
  all.donateAllParams = true;
  EXPECT_EQ(t.plan(k, all), std::vector<int>{0});
}

TEST(Planner, ACapturedValueIsNotReused) {
  G t;
  Node* a = t.prim(Prim::Mul, {t.x, t.y}, f32({4}));
  Graph* h = t.m.newGraph("h", t.g, SourceLoc{});
  h->output = t.m.newApply(h, {t.m.constPrim(Prim::Neg), a}, SourceLoc{});
  ir::computeFreeVars(std::vector<Graph*>{h});
  ASSERT_EQ(h->freeVars.size(), 1u);
  Node* clo = t.prim(Prim::MakeTuple, {t.m.constGraph(h)}, nullptr);  // a closure over a, made before the kernel
  Node* k = t.fused({a, t.y}, f32({4}));
  t.g->output = t.prim(Prim::MakeTuple, {k, clo}, nullptr);
  EXPECT_EQ(t.plan(k), std::vector<int>{-1});
}

// In a nested function, a value captured from the enclosing graph (a free variable) is
// never an output's buffer, even at its only use; the function's own parameter is.
TEST(Planner, AFreeVariableIsNotReused) {
  G t;
  Node* a = t.prim(Prim::Mul, {t.x, t.y}, f32({4}));
  Graph* h = t.m.newGraph("h", t.g, SourceLoc{});
  h->isFunction = true;
  Node* z = t.m.newParam(h, "z", SourceLoc{});
  h->paramKinds = {ir::ParamKind::Positional};
  h->defaults = {nullptr};
  z->abs = f32({4});
  Node* k = t.m.newApply(h, {t.m.constPrim(Prim::Fused), t.m.constInt(0), a, z}, SourceLoc{});
  k->abs = f32({4});
  h->output = k;
  ir::computeFreeVars(std::vector<Graph*>{h});
  ASSERT_EQ(h->freeVars.size(), 1u);
  t.g->output = t.m.constGraph(h);
  codegen::PlanOptions all;
  all.donateAllParams = true;
  all.maxVariants = 4;
  std::vector<codegen::FusedReuse> plan = codegen::planBuffers(h, all);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].variants, (std::vector<std::vector<int>>{{1}}));
  // Only the captured value: no buffer to take.
  k->inputs = {t.m.constPrim(Prim::Fused), t.m.constInt(0), a, a};
  plan = codegen::planBuffers(h, all);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_TRUE(plan[0].variants.empty());
  EXPECT_EQ(plan[0].alias, std::vector<int>{-1});
}

TEST(Planner, SeveralOutputsTakeSeveralInputs) {
  G t;
  Node* a = t.prim(Prim::Mul, {t.x, t.y}, f32({4}));
  Node* b = t.prim(Prim::Add, {t.x, t.y}, f32({4}));
  Node* k = t.fused({a, t.y, b}, Abstract::tuple({f32({4}), f32({4})}));
  t.g->output = k;
  EXPECT_EQ(t.plan(k), (std::vector<int>{0, 2}));
  // The same input is never given to two outputs, nor two inputs sharing storage.
  G u;
  Node* c = u.prim(Prim::Mul, {u.x, u.y}, f32({4}));
  Node* cv = u.prim(Prim::Reshape, {c, u.m.constInt(4)}, f32({4}));
  Node* k2 = u.fused({c, cv}, Abstract::tuple({f32({4}), f32({4})}));
  u.g->output = k2;
  EXPECT_EQ(u.plan(k2), (std::vector<int>{-1, -1}));
}

// ---------------------------------------------------------------- on programs

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
  ir::Graph* specialise(const std::vector<Value>& args) {
    const ClosureObj* cl = fn.as<ClosureObj>();
    std::vector<const ir::Abstract*> a, c;
    for (const Value& v : args) a.push_back(abstractOf(v));
    for (const Value& v : cl->captured) c.push_back(abstractOf(v));
    return interp->specializer().get(cl->graph, a, c);
  }
};

Value ramp(int64_t n, float scale, float shift) {
  Tensor t = Tensor::empty(DType::F32, {n});
  for (int64_t i = 0; i < n; ++i) t.ptr<float>()[i] = (float)i * scale + shift;
  return makeTensor(std::move(t));
}
const Tensor& tensorIn(const Value& v) { return v.as<TensorObj>()->t; }
bool sameBits(const Value& a, const Value& b) {
  const Tensor &x = tensorIn(a), &y = tensorIn(b);
  return x.dtype() == y.dtype() && x.shape() == y.shape() &&
         std::memcmp(x.data(), y.data(), (size_t)x.numel() * dtypeSize(x.dtype())) == 0;
}
int countPrim(const ir::Graph* g, Prim p) {
  int n = 0;
  for (const ir::Node* x : g->nodes) n += x->isPrimApply(p);
  return n;
}

const char* kAdam =
    "def f(p, g, m, v):\n"
    "    m2 = 0.9 * m + 0.1 * g\n"
    "    v2 = 0.999 * v + 0.001 * g * g\n"
    "    p2 = p - 0.001 * (m2 / 0.1) / (sqrt(v2 / 0.001) + 1e-8)\n"
    "    return p2, m2, v2\n";

std::vector<Value> adamArgs() {
  return {ramp(1000, 0.01f, -3), ramp(1000, -0.002f, 1), ramp(1000, 0.001f, 0), ramp(1000, 0.0001f, 0.5f)};
}

TEST(PlannerPrograms, AnAdamUpdateIsOneKernelWithThreeOutputsInPlace) {
  Loaded eager(kAdam), fused(kAdam);
  std::vector<Value> args = adamArgs();
  ir::Graph* g = fused.specialise(args);
  codegen::FusionOptions opt;
  opt.kernel.fastExp = false;
  codegen::FusionStats st = codegen::fuseElementwise(*g->module, g, opt);
  EXPECT_EQ(countPrim(g, Prim::Fused), 1);
  EXPECT_EQ(st.multiOutput, 1);
  EXPECT_EQ(st.inPlace, 1);
  const Node* k = nullptr;
  for (const Node* n : g->nodes)
    if (n->isPrimApply(Prim::Fused)) k = n;
  ASSERT_NE(k, nullptr);
  FusedKernel* fk = fusedKernel((int)k->inputs[1]->i);
  ASSERT_NE(fk, nullptr);
  EXPECT_EQ(fk->numOutputs(), 3u);
  // Every output may take an input's buffer: its own state first (m2 <- m, v2 <- v,
  // p2 <- p; the inputs are numbered as the chain reads them: m, g, v, p).
  ASSERT_EQ(fk->inplace.size(), 1u);
  EXPECT_EQ(fk->inplace[0], (std::vector<int>{0, 2, 3}));

  Value want = eager.interp->call(eager.fn, adamArgs());
  // The caller keeps its arguments: new buffers, the arguments unchanged.
  Value held = fused.interp->call(fused.fn, args);
  uint64_t before = fk->inPlaceCalls;
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(sameBits(held.as<TupleObj>()->items[i], want.as<TupleObj>()->items[i])) << i;
  std::vector<Value> fresh = adamArgs();
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(sameBits(args[i], fresh[i])) << i;
  EXPECT_EQ(fk->inPlaceCalls, before);
  // The caller gives them up: the outputs are p's, m's and v's buffers.
  std::vector<uint64_t> ids;
  for (const Value& a : fresh) ids.push_back(tensorIn(a).buffer()->id);
  Value given = fused.interp->call(fused.fn, std::move(fresh));
  EXPECT_EQ(fk->inPlaceCalls, before + 1);
  std::vector<uint64_t> got;
  for (size_t i = 0; i < 3; ++i) {
    const Value& r = given.as<TupleObj>()->items[i];
    EXPECT_TRUE(sameBits(r, want.as<TupleObj>()->items[i])) << i;
    got.push_back(tensorIn(r).buffer()->id);
    EXPECT_NE(std::find(ids.begin(), ids.end(), got.back()), ids.end()) << i;
  }
  EXPECT_TRUE(got[0] != got[1] && got[1] != got[2] && got[0] != got[2]);
}

// `p - lr * g`: both parameters may be given up; p, on the output's spine, is the one
// variant offered by default; with two variants, whichever the caller gave up is taken.
TEST(PlannerPrograms, TheInputOnTheSpineComesFirstAndTheGivenUpOneIsTaken) {
  const char* src = "def f(p, g):\n    return p - 0.5 * g\n";
  Loaded eager(src);
  std::vector<Value> args{ramp(100, 0.5f, 1), ramp(100, 0.25f, -2)};
  Value want = eager.interp->call(eager.fn, args);
  for (int variants : {1, 2}) {
    Loaded fused(src);
    ir::Graph* g = fused.specialise(args);
    codegen::FusionOptions opt;
    opt.plan.maxVariants = variants;
    codegen::fuseElementwise(*g->module, g, opt);
    const Node* k = nullptr;
    for (const Node* n : g->nodes)
      if (n->isPrimApply(Prim::Fused)) k = n;
    ASSERT_NE(k, nullptr);
    FusedKernel* fk = fusedKernel((int)k->inputs[1]->i);
    ASSERT_EQ(fk->inplace.size(), (size_t)variants);
    // Inputs in the chain's order: g (read by 0.5 * g first), then p.
    EXPECT_EQ(fk->inplace[0], std::vector<int>{1});
    if (variants == 2) EXPECT_EQ(fk->inplace[1], std::vector<int>{0});
    // g given up, p kept by the caller: g's buffer when g is a variant, else a new one.
    Value p = ramp(100, 0.5f, 1);
    Value gg = ramp(100, 0.25f, -2);
    uint64_t gid = tensorIn(gg).buffer()->id, pid = tensorIn(p).buffer()->id;
    std::vector<Value> a;  // (not a braced list: its elements would stay alive during the call)
    a.push_back(p);
    a.push_back(std::move(gg));
    Value got = fused.interp->call(fused.fn, std::move(a));
    EXPECT_TRUE(sameBits(got, want));
    EXPECT_EQ(tensorIn(got).buffer()->id == gid, variants == 2);
    EXPECT_TRUE(sameBits(p, args[0]));
    // p given up: p's buffer.
    std::vector<Value> b;
    b.push_back(std::move(p));
    b.push_back(args[1]);
    Value got2 = fused.interp->call(fused.fn, std::move(b));
    EXPECT_TRUE(sameBits(got2, want));
    EXPECT_EQ(tensorIn(got2).buffer()->id, pid);
  }
}

// A chain whose intermediate is returned as well: one kernel with two outputs (it was two
// kernels before several outputs), and a value read after the chain keeps its buffer.
TEST(PlannerPrograms, AValueReadAfterTheChainKeepsItsBuffer) {
  const char* src =
      "def f(x, y):\n"
      "    a = x * y\n"
      "    b = exp(a) + 1.0\n"
      "    c = b * 2.0 - a\n"
      "    return c + a * b, a\n";
  Loaded eager(src), fused(src);
  std::vector<Value> args{ramp(64, 0.01f, -0.3f), ramp(64, 0.02f, 0.1f)};
  ir::Graph* g = fused.specialise(args);
  codegen::FusionOptions opt;
  opt.kernel.fastExp = false;
  codegen::fuseElementwise(*g->module, g, opt);
  EXPECT_EQ(countPrim(g, Prim::Fused), 1);
  Value want = eager.interp->call(eager.fn, args);
  std::vector<Value> given{ramp(64, 0.01f, -0.3f), ramp(64, 0.02f, 0.1f)};
  Value got = fused.interp->call(fused.fn, std::move(given));
  for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(sameBits(got.as<TupleObj>()->items[i], want.as<TupleObj>()->items[i])) << i;
  // The two results are distinct buffers.
  EXPECT_NE(tensorIn(got.as<TupleObj>()->items[0]).buffer()->id, tensorIn(got.as<TupleObj>()->items[1]).buffer()->id);
}

// A closure's chain reading captured tensors (docs/fusion.md, "Closures"): fused with the
// specialisation's types of the captured values, and its kernel never writes into them:
// the plan offers only the closure's own argument (every candidate asked for), and a call
// that gives the argument up writes into the argument's buffer, the captured values keep
// their bits, the result is eager's.
TEST(PlannerPrograms, ACapturedTensorIsNeverWrittenInPlace) {
  const char* src =
      "def f(s, b):\n"
      "    def g(x):\n"
      "        return s * x + b * 0.5\n"
      "    return g\n";
  Loaded eager(src), fused(src);
  auto make = [](Loaded& l) {
    std::vector<Value> a;  // moved in: the closure is the captured values' only holder
    a.push_back(ramp(256, 0.25f, -1));
    a.push_back(ramp(256, -0.5f, 3));
    return l.interp->call(l.fn, std::move(a));
  };
  Value ge = make(eager), gf = make(fused);
  const ClosureObj* cl = gf.as<ClosureObj>();
  ASSERT_EQ(cl->captured.size(), 2u);
  std::vector<uint64_t> capIds;
  for (const Value& c : cl->captured) capIds.push_back(tensorIn(c).buffer()->id);
  std::vector<const ir::Abstract*> argAbs{abstractOf(ramp(256, 1, 0))}, capAbs;
  for (const Value& c : cl->captured) capAbs.push_back(abstractOf(c));
  ir::Graph* g = fused.interp->specializer().get(cl->graph, argAbs, capAbs);
  const ir::Specialisation* spec = fused.interp->specializer().info(g);
  ASSERT_NE(spec, nullptr);
  ASSERT_EQ(spec->captured.size(), 2u);
  codegen::FusionOptions opt;
  opt.plan.maxVariants = 4;
  EXPECT_EQ(codegen::fuseElementwise(*g->module, g, opt).kernels, 0);  // without their types: not fused
  opt.captured = &spec->captured;
  codegen::FusionStats st = codegen::fuseElementwise(*g->module, g, opt);
  EXPECT_EQ(st.kernels, 1);
  EXPECT_EQ(st.fusedOps, 3);
  const Node* k = nullptr;
  for (const Node* n : g->nodes)
    if (n->isPrimApply(Prim::Fused)) k = n;
  ASSERT_NE(k, nullptr);
  ASSERT_EQ(k->inputs.size(), 5u);  // kernel, id, then s, x, b (as the chain reads them)
  EXPECT_EQ(k->inputs[2], g->freeVars[0]);
  EXPECT_EQ(k->inputs[3], g->params[0]);
  EXPECT_EQ(k->inputs[4], g->freeVars[1]);
  FusedKernel* fk = fusedKernel((int)k->inputs[1]->i);
  ASSERT_NE(fk, nullptr);
  EXPECT_EQ(fk->inplace, (std::vector<std::vector<int>>{{1}}));

  Value want = eager.interp->call(ge, {ramp(256, 0.125f, 0.5f)});
  uint64_t before = fk->inPlaceCalls;
  std::vector<Value> a;
  a.push_back(ramp(256, 0.125f, 0.5f));
  uint64_t xid = tensorIn(a[0]).buffer()->id;
  Value got = fused.interp->call(gf, std::move(a));
  EXPECT_TRUE(sameBits(got, want));
  EXPECT_EQ(fk->inPlaceCalls, before + 1);
  EXPECT_EQ(tensorIn(got).buffer()->id, xid);
  EXPECT_TRUE(sameBits(cl->captured[0], ramp(256, 0.25f, -1)));
  EXPECT_TRUE(sameBits(cl->captured[1], ramp(256, -0.5f, 3)));
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(tensorIn(cl->captured[i]).buffer()->id, capIds[i]) << i;
}

}  // namespace
