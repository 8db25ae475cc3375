// The forward rules' table (autodiff/ForwardRules.cpp) against ir/Primitives.def: every
// primitive with a reverse rule (diffKind Rule) has a forward rule that gives a tangent,
// and so do the helpers reverse mode emits (jvp of a gradient transforms gradient graphs).
// Tangent values are checked against finite differences in tests/lang/jvp/jvpcheck.msl.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "autodiff/ForwardRules.h"
#include "autodiff/J.h"
#include "autodiff/Jvp.h"
#include "ir/Diagnostics.h"

namespace msl::autodiff {
namespace {

// The helpers of reverse mode: linear in their first argument (the cotangent), which is
// the only argument given a tangent here.
const std::set<Prim> kHelpers = {
    Prim::CtAdd, Prim::CtFill, Prim::CtIndex, Prim::Unbroadcast, Prim::SumBwd, Prim::MinMaxBwd,
    Prim::MatMulBwd, Prim::GetItemBwd, Prim::GetAttrBwd, Prim::TransposeBwd, Prim::ConcatBwd,
    Prim::UnpackBwd, Prim::TensorNewBwd, Prim::SeqBwd, Prim::NNBwd,
};

// Primitives whose result is a function: no tangent travels with a function value (grad(f)
// called under jvp runs as reverse mode's IR, whose calls and loops are below).
const std::set<Prim> kFunctionValued = {Prim::Grad, Prim::ValueAndGrad, Prim::Jacobian, Prim::Jit, Prim::VjpMake, Prim::Vmap};

// The calls and loops of reverse mode's graphs: the JVP transform hands each to the runtime
// as __jvp_of_j(p, ...), which runs it under JVP knowing its J expansion (jvp of a gradient).
const std::set<Prim> kRunUnderJvp = {Prim::JCall, Prim::JEnter, Prim::ScanJ, Prim::ScanBwd, Prim::WhileJ, Prim::WhileBwd,
                                     Prim::TreeMapJ, Prim::TreeMapBwd};
// Their versions under J (second-order code): jvp of them is a third-order derivative.
const std::set<Prim> kThirdOrder = {Prim::JCallJ, Prim::JEnterJ, Prim::ScanJJ, Prim::ScanBwdJ, Prim::WhileJJ, Prim::WhileBwdJ,
                                    Prim::LoopJBprop, Prim::TreeMapJJ, Prim::TreeMapBwdJ};

// A call of p with one parameter node per declared parameter, its forward rule applied.
bool ruleGives(ir::Module& m, Prim p, bool onlyFirst, std::string* why) {
  const PrimInfo& info = primInfo(p);
  ir::Graph* g = m.newGraph(info.name, nullptr, SourceLoc{});
  size_t n = info.variadicNode ? 4 : info.params.size();
  std::vector<ir::Node*> in{m.constPrim(p)};
  for (size_t k = 0; k < n; ++k) in.push_back(m.newParam(g, "x" + std::to_string(k), SourceLoc{}));
  ir::Node* call = m.newApply(g, in, SourceLoc{});
  FwdCtx r{m, g, SourceLoc{}, call, {nullptr}, {}, {}, {}};
  for (size_t k = 0; k < n; ++k)
    r.inT.push_back(onlyFirst && k > 0 ? nullptr : m.newParam(g, "t" + std::to_string(k), SourceLoc{}));
  bindForward(p, r);
  ir::Node* t = nullptr;
  try {
    if (!forwardRule(p, r, &t)) {
      *why = "has no forward rule";
      return false;
    }
  } catch (const msl::Error& e) {
    *why = "raised: " + e.diag.message;
    return false;
  }
  if (kFunctionValued.count(p)) {
    if (t) *why = "makes a function but its forward rule gives a tangent";
    return t == nullptr;
  }
  if (!t) *why = "has a forward rule that gives no tangent";
  return t != nullptr;
}

// Differentiable primitives without a forward rule yet: jvp reports them as not
// supported yet at the operation. A new forward rule must take its name off this list.
const std::set<std::string> kForwardPending = {};

TEST(ForwardRules, EveryReverseRuleHasAForwardRule) {
  ir::Module m("forward_rules", nullptr);
  for (int i = 0; i < kNumPrims; ++i) {
    Prim p = (Prim)i;
    if (diffKind(p) != DiffKind::Rule) continue;
    std::string why;
    bool ok = ruleGives(m, p, kHelpers.count(p) > 0, &why);
    if (kForwardPending.count(primName(p))) {
      EXPECT_FALSE(ok) << primName(p) << " has a forward rule now: take it off kForwardPending";
      continue;
    }
    EXPECT_TRUE(ok) << primName(p) << " " << why;
  }
}

TEST(ForwardRules, ReverseModeHelpersHaveForwardRules) {
  ir::Module m("forward_rules", nullptr);
  for (Prim p : kHelpers) {
    std::string why;
    EXPECT_TRUE(ruleGives(m, p, true, &why)) << primName(p) << " " << why;
  }
}

// A graph that calls p on its parameters (one per declared parameter), transformed by JVP.
ir::Graph* jvpOfCall(ir::Module& m, Prim p) {
  const PrimInfo& info = primInfo(p);
  ir::Graph* g = m.newGraph(info.name, nullptr, SourceLoc{});
  std::vector<ir::Node*> in{m.constPrim(p)};
  for (size_t k = 0; k < info.params.size(); ++k) in.push_back(m.newParam(g, "x" + std::to_string(k), SourceLoc{}));
  g->output = m.newApply(g, in, SourceLoc{});
  return jvpGraph(g);
}

TEST(ForwardRules, ReverseModeCallsRunUnderJvp) {
  ir::Module m("forward_rules", nullptr);
  for (Prim p : kRunUnderJvp) {
    ir::Graph* jg = jvpOfCall(m, p);
    bool found = false;
    for (ir::Node* n : jg->nodes)
      found = found || (n->isPrimApply(Prim::JvpOfJ) && n->inputs[1]->isPrimConst(p));
    EXPECT_TRUE(found) << primName(p) << " is not handed to __jvp_of_j";
  }
  for (Prim p : kThirdOrder) {
    try {
      jvpOfCall(m, p);
      ADD_FAILURE() << primName(p) << ": jvp of a second derivative should be reported";
    } catch (const msl::Error& e) {
      EXPECT_NE(e.diag.message.find("third-order"), std::string::npos) << primName(p) << ": " << e.diag.message;
    }
  }
}

// __nn_bwd's tangent along its arguments (jvp of the gradient of gelu, layer_norm and
// batch_norm; values in tests/lang/grad/jvp_of_grad_nn.msl): given when the last argument
// (eps, approximate) has a zero tangent, reported when it may have one.
TEST(ForwardRules, NNBwdAlongItsArguments) {
  for (auto [kind, nargs] : std::vector<std::pair<std::string, size_t>>{{"gelu", 2}, {"layer_norm", 4}, {"batch_norm", 6}}) {
    for (bool epsTangent : {false, true}) {
      ir::Module m("forward_rules", nullptr);
      ir::Graph* g = m.newGraph("nn", nullptr, SourceLoc{});
      std::vector<ir::Node*> a{m.constPrim(Prim::MakeTuple)}, ta{m.constPrim(Prim::MakeTuple)};
      for (size_t k = 0; k < nargs; ++k) {
        a.push_back(m.newParam(g, "a" + std::to_string(k), SourceLoc{}));
        ir::Node* t = m.newParam(g, "t" + std::to_string(k), SourceLoc{});
        if (k + 1 == nargs && !epsTangent) t = m.newApply(g, {m.constPrim(Prim::TreeZerosLike), a.back()}, SourceLoc{});
        ta.push_back(t);
      }
      ir::Node* args = m.newApply(g, a, SourceLoc{});
      ir::Node* targs = m.newApply(g, ta, SourceLoc{});
      ir::Node* ct = m.newParam(g, "ct", SourceLoc{});
      ir::Node* call = m.newApply(g, {m.constPrim(Prim::NNBwd), ct, m.constStr(kind), args}, SourceLoc{});
      FwdCtx r{m, g, SourceLoc{}, call, {nullptr, nullptr, nullptr, targs}, {}, {}, {}};
      bindForward(Prim::NNBwd, r);
      ir::Node* t = nullptr;
      if (epsTangent) {
        EXPECT_THROW(forwardRule(Prim::NNBwd, r, &t), msl::Error) << kind;
        continue;
      }
      size_t before = g->nodes.size();
      EXPECT_TRUE(forwardRule(Prim::NNBwd, r, &t)) << kind;
      EXPECT_NE(t, nullptr) << kind;
      // Only what the tangent uses is left of what the reverse rule made.
      std::set<const ir::Node*> used;
      std::vector<const ir::Node*> todo{t};
      while (!todo.empty()) {
        const ir::Node* n = todo.back();
        todo.pop_back();
        if (n && n->graph == g && used.insert(n).second)
          for (const ir::Node* i : n->inputs) todo.push_back(i);
      }
      for (size_t k = before; k < g->nodes.size(); ++k) EXPECT_TRUE(used.count(g->nodes[k])) << kind << ": a dead node";
    }
  }
}

TEST(ForwardRules, IntegerValuedPrimitivesHaveNoRule) {
  // Zero-derivative primitives are copied by the transform; a rule for one would be dead.
  ir::Module m("forward_rules", nullptr);
  for (Prim p : {Prim::Floor, Prim::Argmax, Prim::Eq, Prim::StopGradient, Prim::Shape}) {
    std::string why;
    EXPECT_EQ(diffKind(p), DiffKind::Zero) << primName(p);
    EXPECT_FALSE(ruleGives(m, p, false, &why)) << primName(p);
  }
}

}  // namespace
}  // namespace msl::autodiff
