// The batching rules' table (autodiff/BatchRules.cpp) against ir/Primitives.def and the
// reverse rules: every primitive with a reverse rule (so: every primitive that computes
// on tensors) has a batching rule of its own or is handled by the transform, so that
// vmap(grad(f)) and vmap of any differentiable program batch without the per-example
// loop. Batched values are checked against stacking per-example results in
// tests/lang/vmap/batchcheck.msl.
#include <gtest/gtest.h>

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
    "dropout",  // with an unbatched key every example must draw the same mask, as jax.vmap does
    // No batched form yet: they run once per example (__vmap_loop), which is correct but
    // slower. Taking one off this list means writing its rule in autodiff/BatchRules.cpp.
    "linspace", "uniform", "tile", "pad", "einsum", "sorted", "dict", "partial",
    "__matmul_bwd", "__getitem_bwd", "__getattr_bwd", "__concat_bwd", "__unpack_bwd", "__tensor_bwd",
    "__seq_bwd", "__nn_bwd", "__take_bwd", "__tile_bwd", "__pad_bwd", "__sort_bwd", "__topk_bwd",
    "__split_bwd", "__max_pool_jvp",
    // grad's pieces (higher order): vmap(grad(f)) runs the gradient once per example
    "grad", "value_and_grad", "__grad_pack", "__vjp_pack", "__vjp_make", "__jsite_arrange",
    "__jsite_arrange_bwd", "__grad_pack_bwd", "__vjp_pack_bwd",
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
}

// f(x, y) = op(x, y) on f32[3] examples, batched as `batched` says: whether B(f) calls
// the per-example loop.
bool usesLoop(Prim op, std::vector<bool> batched, bool withAbstracts) {
  ir::Module m("t", nullptr);
  ir::Graph* g = m.newGraph("f", nullptr, SourceLoc{});
  const ir::Abstract* t = ir::Abstract::tensor(DType::F32, {ir::Dim::of(3)});
  std::vector<ir::Node*> in{m.constPrim(op)};
  for (const char* name : {"x", "y"}) {
    ir::Node* p = m.newParam(g, name, SourceLoc{});
    if (withAbstracts) p->abs = t;
    g->paramKinds.push_back(ir::ParamKind::Positional);
    g->defaults.push_back(nullptr);
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
}

}  // namespace
}  // namespace msl::autodiff
