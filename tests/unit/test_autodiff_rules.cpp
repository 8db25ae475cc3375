// The reverse rules' table (autodiff/Rules.cpp) against ir/Primitives.def: every primitive
// is classified, exactly the Rule primitives have a rule (one cotangent per parameter), and
// the primitives still waiting for a rule are exactly the list below (so a new primitive
// must be classified, and a new rule must take its name off the list). Gradient values are
// checked against finite differences in tests/lang/grad/gradcheck.msl.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "autodiff/J.h"
#include "autodiff/Rules.h"

namespace msl::autodiff {
namespace {

// Differentiable primitives without a reverse rule yet (issue 4 adds them).
const std::set<std::string> kPending = {
    "prod", "cumsum",
    "take", "tile", "split", "pad",
    "sort", "topk", "einsum", "tensor_setitem", "sorted",
    "dict", "partial", "list.append", "list.extend", "list.insert", "dict.get",
    "dict.update", "tolist", "setattr", "setitem", "call_ex",
    "method_update", "list_append_local", "grad", "value_and_grad", "vjp", "grad_call",
    "vjp_call", "__jsite_bprop", "__sum_bwd", "__minmax_bwd", "__matmul_bwd", "__getitem_bwd",
    "__getattr_bwd", "__transpose_bwd", "__concat_bwd", "__unpack_bwd", "__tensor_bwd",
    "__scan_j", "__scan_bwd", "__while_j", "__while_bwd", "__seq_bwd", "__nn_bwd",
    "custom_vjp_call", "custom_vjp_bprop", "tree_map", "tree_leaves", "jacobian_call",
    "__ct_fill",
    "vmap_call", "__vmapcall", "__vmap_loop", "__vmap_bcast", "__vmap_select",
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
    RuleCtx r{m, g, SourceLoc{}, xs, m.newParam(g, "y", SourceLoc{}), m.newParam(g, "ct", SourceLoc{})};
    std::vector<ir::Node*> cts = reverseRule(p, r);
    if (diffKind(p) != DiffKind::Rule) {  // the table and the classification agree
      EXPECT_TRUE(cts.empty()) << info.name << " has a rule but is not classified Rule";
      continue;
    }
    EXPECT_EQ(cts.size(), n) << info.name;
    bool any = false;
    for (ir::Node* c : cts) any = any || c;
    EXPECT_TRUE(any) << info.name << " has a rule that gives no cotangent";
  }
}

}  // namespace
}  // namespace msl::autodiff
