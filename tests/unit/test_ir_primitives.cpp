// Every primitive of ir/Primitives.def has an entry in each table that switches over the
// Prim enum. One TEST per table: shape rules here; kernels and gradient rules are
// checked by their own TESTs in this file.
#include <gtest/gtest.h>

#include "ir/ShapeRules.h"

namespace msl::ir {
namespace {

// A host that answers everything with Any: enough for a rule to say whether it exists.
class AnyHost : public RuleHost {
 public:
  const Abstract* call(const Abstract*, const std::vector<const Abstract*>&, const KwArgs&) override {
    return Abstract::any();
  }
  const Abstract* whileLoop(const Abstract*, const Abstract*, const Abstract*) override { return Abstract::any(); }
  const Abstract* scan(const Abstract*, const Abstract*, const Abstract*) override { return Abstract::any(); }
  const Abstract* globalValue(const GlobalVar*) override { return Abstract::any(); }
  void globalAssigned(const GlobalVar*, const Abstract*) override {}
  void moduleImported(const Module*) override {}
  Dim freshDim() override { return Dim::fresh(); }
  SymbolSupply* joinSymbols() override { return nullptr; }
};

TEST(PrimitiveTables, EveryPrimitiveHasAShapeRule) {
  AnyHost host;
  for (int k = 0; k < kNumPrims; ++k) {
    Prim p = (Prim)k;
    const PrimInfo& info = primInfo(p);
    std::vector<const Abstract*> args(info.variadicNode ? 0 : info.params.size(), Abstract::any());
    RuleResult r = inferPrim(p, args, {}, host);
    EXPECT_NE(r.value, nullptr) << "primitive '" << info.name << "' has no shape rule";
    EXPECT_FALSE(r.failed) << "primitive '" << info.name << "' fails on Any arguments: " << r.error.message;
  }
}

}  // namespace
}  // namespace msl::ir
