// The batching rules' table (autodiff/BatchRules.cpp) against ir/Primitives.def and the
// reverse rules: every primitive with a reverse rule (so: every primitive that computes
// on tensors) has a batching rule of its own or is handled by the transform, so that
// vmap(grad(f)) and vmap of any differentiable program batch without the per-example
// loop. Batched values are checked against stacking per-example results in
// tests/lang/vmap/batchcheck.msl.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>

#include "autodiff/J.h"
#include "autodiff/Vmap.h"
#include "ir/Abstract.h"
#include "ir/IR.h"

namespace msl::autodiff {
namespace {

// Differentiable primitives batched by running them once per example, and why.
const std::set<std::string> kLoopOnly = {
    // vmap's own helpers (differentiable for vmap(grad(f))): a nested vmap runs the inner
    // one once per example, so they never meet a batched argument of an outer vmap there
    "__vmap_bcast", "__vmap_select",
    // jacobian makes a function value, like grad; its batched form (the rows of a batched
    // vjp) is not written yet, so jacobian inside a vmapped function runs per example
    "jacobian",
    // jit(f) inside a vmapped function: the closure is copied once per example (cheap; the
    // calls of it are batched like any call)
    "jit",
    // vmap(f) inside a vmapped function: the inner vmap runs once per example (as vmap_call)
    "vmap",
};

TEST(BatchRules, EveryDifferentiablePrimitiveHasABatchingRule) {
  std::string missing, stale;
  for (int i = 0; i < kNumPrims; ++i) {
    Prim p = (Prim)i;
    if (diffKind(p) != DiffKind::Rule) continue;
    BatchKind k = batchKind(p);
    bool ok = k == BatchKind::Rule || k == BatchKind::Structural;
    if (!ok && !kLoopOnly.count(primName(p))) missing += std::string(" ") + primName(p);
    if (ok && kLoopOnly.count(primName(p))) stale += std::string(" ") + primName(p);
  }
  EXPECT_TRUE(missing.empty()) << "primitives with a reverse rule but no batching rule (autodiff/BatchRules.cpp):" << missing;
  EXPECT_TRUE(stale.empty()) << "these have a batching rule now; take them off kLoopOnly:" << stale;
}

// The helpers reverse mode emits are batched too (vmap of gradient graphs).
TEST(BatchRules, ReverseModeHelpersAreBatched) {
  for (Prim p : {Prim::CtAdd, Prim::CtFill, Prim::CtIndex, Prim::Unbroadcast, Prim::SumBwd, Prim::MinMaxBwd,
                 Prim::MatMulBwd, Prim::GetItemBwd, Prim::GetAttrBwd, Prim::TransposeBwd, Prim::ConcatBwd,
                 Prim::UnpackBwd, Prim::TensorNewBwd, Prim::SeqBwd, Prim::NNBwd})
    EXPECT_NE(batchKind(p), BatchKind::Error) << primName(p);
  for (Prim p : {Prim::MatMulBwd, Prim::GetItemBwd, Prim::TakeBwd, Prim::SortBwd, Prim::TopkBwd})
    EXPECT_EQ(batchKind(p), BatchKind::Rule) << primName(p);
}

// f(x, y) = op(x, y) on f32[3] examples, batched as `batched` says: whether B(f) calls
// the per-example loop.
bool usesLoop(Prim op, std::vector<bool> batched, bool withAbstracts, ir::Dims shape = {ir::Dim::of(3)}) {
  ir::Module m("t", nullptr);
  ir::Graph* g = m.newGraph("f", nullptr, SourceLoc{});
  const ir::Abstract* t = ir::Abstract::tensor(DType::F32, shape);
  std::vector<ir::Node*> in{m.constPrim(op)};
  for (const char* name : {"x", "y"}) {
    ir::Node* p = m.newParam(g, name, SourceLoc{});
    if (withAbstracts) p->abs = t;
    in.push_back(p);
  }
  g->output = m.newApply(g, in, SourceLoc{});
  ir::Graph* b = vmapGraph(g, batched);
  EXPECT_EQ(b->params.size(), 3u);  // the batch size first
  for (ir::Node* n : b->nodes)
    if (n->isPrimApply(Prim::VmapLoop)) return true;
  return false;
}

TEST(BatchRules, RulesEmitBatchedIRWherePerExampleShapesAreKnown) {
  EXPECT_FALSE(usesLoop(Prim::Add, {true, false}, true));
  EXPECT_FALSE(usesLoop(Prim::MatMul, {true, true}, true));
  EXPECT_FALSE(usesLoop(Prim::Maximum, {false, true}, true));
  // Without per-example ranks an elementwise op cannot align its operands: per example.
  EXPECT_TRUE(usesLoop(Prim::Add, {true, true}, false));
  // Random numbers with batched keys: one draw per key.
  EXPECT_TRUE(usesLoop(Prim::Normal, {true, false}, true));
  // conv2d with per-example weights (vmap(grad(f)) batches the parameters): a
  // block-diagonal kernel, no loop.
  ir::Dims nchw{ir::Dim::of(1), ir::Dim::of(2), ir::Dim::of(5), ir::Dim::of(5)};
  EXPECT_FALSE(usesLoop(Prim::Conv2d, {true, true}, true, nchw));
  EXPECT_FALSE(usesLoop(Prim::Conv2d, {false, true}, true, nchw));
  EXPECT_FALSE(usesLoop(Prim::Conv2d, {true, false}, true, nchw));
}

// f(x) = op(x-dependent arguments) on f32[3] examples, x batched: whether B(f) calls the
// per-example loop.
bool loopsWith(Prim op, const std::function<std::vector<ir::Node*>(ir::Module&, ir::Node*)>& args) {
  ir::Module m("t", nullptr);
  ir::Graph* g = m.newGraph("f", nullptr, SourceLoc{});
  ir::Node* x = m.newParam(g, "x", SourceLoc{});
  x->abs = ir::Abstract::tensor(DType::F32, {ir::Dim::of(3)});
  std::vector<ir::Node*> in{m.constPrim(op)};
  for (ir::Node* a : args(m, x)) in.push_back(a);
  g->output = m.newApply(g, in, SourceLoc{});
  ir::Graph* b = vmapGraph(g, {true});
  for (ir::Node* n : b->nodes)
    if (n->isPrimApply(Prim::VmapLoop)) return true;
  return false;
}

TEST(BatchRules, LayoutAndContainerRulesEmitBatchedIR) {
  EXPECT_FALSE(loopsWith(Prim::Tile, [](ir::Module& m, ir::Node* x) { return std::vector<ir::Node*>{x, m.constInt(2)}; }));
  EXPECT_FALSE(loopsWith(Prim::Pad, [](ir::Module& m, ir::Node* x) { return std::vector<ir::Node*>{x, m.constInt(1)}; }));
  EXPECT_FALSE(loopsWith(Prim::Einsum, [](ir::Module& m, ir::Node* x) { return std::vector<ir::Node*>{m.constStr("i,i"), x, x}; }));
  EXPECT_FALSE(loopsWith(Prim::Sorted, [](ir::Module&, ir::Node* x) { return std::vector<ir::Node*>{x}; }));
  EXPECT_FALSE(loopsWith(Prim::Partial, [](ir::Module& m, ir::Node* x) { return std::vector<ir::Node*>{m.constPrim(Prim::Add), x}; }));
  // A spec that is not known here: per example.
  EXPECT_TRUE(loopsWith(Prim::Einsum, [](ir::Module&, ir::Node* x) { return std::vector<ir::Node*>{x, x}; }));
}

}  // namespace
}  // namespace msl::autodiff
