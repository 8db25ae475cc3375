// The reverse rules' table (autodiff/Rules.cpp) against ir/Primitives.def: every primitive
// is classified, exactly the Rule primitives have a rule (one cotangent per parameter), and
// the primitives still waiting for a rule are exactly the list below (so a new primitive
// must be classified, and a new rule must take its name off the list). Gradient values are
// checked against finite differences in tests/unit/test_gradcheck.cpp (every rule) and
// tests/lang/grad/gradcheck.msl.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "autodiff/J.h"
#include "autodiff/Rules.h"

namespace msl::autodiff {
namespace {

// Differentiable primitives without a reverse rule yet. J's loop helpers (__scan_j,
// __tree_map_j, ...) have none yet (second order through loops).
const std::set<std::string> kPending = {
    "list.append", "list.extend", "list.insert", "dict.get", "dict.update", "tolist",
    "call_ex", "method_update",
    "grad_call", "vjp_call", "__jsite_bprop", "__scan_jj", "__scan_bwd_j", "__while_jj", "__while_bwd_j",
    "__loop_j_bprop", "custom_vjp_call", "custom_vjp_bprop", "__tree_map_j", "__tree_map_bwd", "jacobian_call",
    "__jenter_j", "__jcall_j", "__tree_map_jj", "__tree_map_bwd_j",
    "__scan_jvp", "__while_jvp", "__jvp_of_j",
    "vmap_call",  // (vmap(f)(x) is a call of a partial: __jcall differentiates the batched f)
    "take_into",  // data loading (stdlib/data.msl) is not differentiated: reported if it is
    "__fused",  // graph mode's fused kernels exist only in graphs after autodiff (codegen/Fusion.h)
};

TEST(ReverseRules, EveryPrimitiveIsClassified) {
  std::set<std::string> notYet;
  for (int i = 0; i < kNumPrims; ++i)
    if (diffKind((Prim)i) == DiffKind::NotYet) notYet.insert(primName((Prim)i));
  std::set<std::string> unexpected, done;
  for (const auto& n : notYet)
    if (!kPending.count(n)) unexpected.insert(n);
  for (const auto& n : kPending)
    if (!notYet.count(n)) done.insert(n);
  std::string u, d;
  for (const auto& n : unexpected) u += " " + n;
  for (const auto& n : done) d += " " + n;
  EXPECT_TRUE(unexpected.empty()) << "primitives with no differentiation kind (classify them in autodiff/Rules.cpp):" << u;
  EXPECT_TRUE(done.empty()) << "these have a rule now; take them off kPending:" << d;
}

TEST(ReverseRules, RulesExistExactlyForRulePrimitives) {
  ir::Module m("rules", nullptr);
  for (int i = 0; i < kNumPrims; ++i) {
    Prim p = (Prim)i;
    const PrimInfo& info = primInfo(p);
    ir::Graph* g = m.newGraph(info.name, nullptr, SourceLoc{});
    size_t n = info.variadicNode ? 4 : info.params.size();
    std::vector<ir::Node*> xs;
    for (size_t k = 0; k < n; ++k) xs.push_back(m.newParam(g, "x" + std::to_string(k), SourceLoc{}));
    // Rules that read constant arguments (a spec, a kind, an operand index) see such constants.
    auto tuple = [&](std::vector<ir::Node*> items) {
      items.insert(items.begin(), m.constPrim(Prim::MakeTuple));
      return m.newApply(g, items, SourceLoc{});
    };
    if (p == Prim::Einsum) {
      xs[0] = m.constStr("ij,jk->ik");
      xs[1] = tuple({m.newParam(g, "a", SourceLoc{}), m.newParam(g, "b", SourceLoc{})});
    } else if (p == Prim::NNBwd) {
      xs[1] = m.constStr("gelu");
      xs[2] = tuple({m.newParam(g, "a", SourceLoc{}), m.constBool(false)});
    } else if (p == Prim::MatMulBwd) {
      xs[3] = m.constInt(0);
    } else if (p == Prim::SeqBwd) {
      xs[2] = m.constStr("list");
    }
    RuleCtx r{m, g, SourceLoc{}, xs, m.newParam(g, "y", SourceLoc{}), m.newParam(g, "ct", SourceLoc{})};
    std::vector<ir::Node*> cts = reverseRule(p, r);
    if (diffKind(p) != DiffKind::Rule) {  // the table and the classification agree
      EXPECT_TRUE(cts.empty()) << info.name << " has a rule but is not classified Rule";
      continue;
    }
    EXPECT_EQ(cts.size(), n) << info.name;
    // A rule's IR can be differentiated again: every primitive it calls has a rule or no
    // derivative (autodiff of a backward pass, grad of grad).
    for (ir::Node* node : g->nodes) {
      if (!node->isApply() || !node->inputs[0]->isConst() || node->inputs[0]->ckind != ir::ConstKind::Prim) continue;
      Prim q = node->inputs[0]->prim;
      EXPECT_NE(diffKind(q), DiffKind::NotYet) << info.name << "'s rule calls " << primName(q) << ", which has no rule";
    }
    bool any = false;
    for (ir::Node* c : cts) any = any || c;
    EXPECT_TRUE(any) << info.name << " has a rule that gives no cotangent";
  }
}

}  // namespace
}  // namespace msl::autodiff
