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

// A Builtin whose first parameter is written `x: Tensor` is also a tensor method
// (LANGUAGE.md 3: "Methods on tensors mirror the functions").
TEST(PrimitiveTables, TensorMethodsFromAnnotations) {
  auto flag = [](const char* name) {
    Prim p;
    EXPECT_TRUE(builtinPrim(name, &p)) << name;
    return primInfo(p).tensorMethod;
  };
  for (const char* m : {"exp", "relu", "sigmoid", "softmax", "maximum", "take", "pad", "sort", "topk", "tile",
                        "cumsum", "mean", "reshape", "astype", "add"})
    EXPECT_TRUE(flag(m)) << m;
  for (const char* f : {"where", "concat", "stack", "einsum", "zeros", "tensor", "len", "sum", "print", "tree_map"})
    EXPECT_FALSE(flag(f)) << f;
  Prim p;
  ASSERT_TRUE(builtinPrim("exp", &p));
  EXPECT_EQ(primInfo(p).params[0].name, "x");
  EXPECT_EQ(primInfo(p).params[0].annotation, "Tensor");
}

TEST(PrimitiveTables, MethodHint) {
  EXPECT_EQ(methodHint("sigmod", {"sigmoid", "sum"}), "; did you mean 'sigmoid'?");
  EXPECT_EQ(methodHint("concat", {"exp", "sum"}), "; concat() is a function: call concat(...)");
  EXPECT_EQ(methodHint("zzzzzz", {"exp", "sum"}), "");
}

}  // namespace
}  // namespace msl::ir
