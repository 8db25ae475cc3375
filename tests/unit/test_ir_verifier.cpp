// The verifier accepts well-formed modules and names each broken invariant.
#include <gtest/gtest.h>

#include "IrTestUtil.h"
#include "ir/Verifier.h"

namespace msl::ir {
namespace {

using namespace test;

bool mentions(const std::vector<std::string>& errors, const std::string& what) {
  for (const std::string& e : errors)
    if (e.find(what) != std::string::npos) return true;
  return false;
}

// def f(x): def g(): return x + 1 ; return g()
struct Nested {
  Builder b;
  Graph* f;
  Graph* g;
  Node* add;
  Nested() {
    f = b.function("f", {"x"});
    g = b.function("g", {}, f);
    add = b.prim(g, Prim::Add, {b.param(f, 0), b.m.constInt(1)});
    g->output = add;
    f->output = b.call(f, b.closure(g), {});
    b.finish();
  }
};

TEST(Verifier, AcceptsWellFormedModules) {
  Nested t;
  EXPECT_TRUE(verifyModule(t.b.m).empty());
  EXPECT_NO_THROW(verifyOrThrow(t.b.m, "after test"));
}

TEST(Verifier, MissingOutput) {
  Nested t;
  t.g->output = nullptr;
  EXPECT_TRUE(mentions(verifyModule(t.b.m), "graph 'f.g': has no output"));
}

TEST(Verifier, FreeVariableNotListed) {
  Nested t;
  t.g->freeVars.clear();
  EXPECT_TRUE(mentions(verifyModule(t.b.m), "of an enclosing graph, not in its free variables"));
}

TEST(Verifier, ClosureMadeWithoutCapturingWhatItNeeds) {
  Nested t;
  // A branch of f that makes a closure of g must itself capture g's free variable x.
  Graph* branch = t.b.graph("if_true", {}, t.f);
  branch->output = t.b.call(branch, t.b.closure(t.g), {});
  t.b.finish();
  EXPECT_TRUE(verifyModule(t.b.m).empty());
  branch->freeVars.clear();
  EXPECT_TRUE(mentions(verifyModule(t.b.m), "makes a closure of 'f.g' whose free variable"));
}

TEST(Verifier, InputOfAnUnrelatedGraph) {
  Nested t;
  Graph* h = t.b.function("h", {"y"});
  h->output = t.b.prim(h, Prim::Neg, {t.add});
  EXPECT_TRUE(mentions(verifyModule(t.b.m), "which does not enclose it"));
}

TEST(Verifier, NodesOutOfCreationOrder) {
  Nested t;
  Node* later = t.b.prim(t.f, Prim::Neg, {t.b.param(t.f, 0)});
  Node* first = t.f->nodes.front();
  first->inputs.push_back(later);  // the call now uses a node created after it
  EXPECT_TRUE(mentions(verifyModule(t.b.m), "created after it"));
}

TEST(Verifier, ApplyWithoutCalleeAndTooManyKeywords) {
  Nested t;
  Node* empty = t.b.m.newApply(t.f, {}, {});
  (void)empty;
  t.add->kwnames = {"a", "b", "c"};
  std::vector<std::string> errors = verifyModule(t.b.m);
  EXPECT_TRUE(mentions(errors, "has no callee"));
  EXPECT_TRUE(mentions(errors, "3 keyword names for 2 arguments"));
}

TEST(Verifier, CorePrimitiveArity) {
  Nested t;
  Node* bad = t.b.prim(t.f, Prim::TupleGetItem, {t.b.param(t.f, 0), t.b.m.constInt(0), t.b.m.constInt(1)});
  Node* dict = t.b.prim(t.f, Prim::MakeDict, {t.b.m.constStr("k")});
  Node* method = t.b.prim(t.f, Prim::MethodCall, {t.b.param(t.f, 0), t.b.param(t.f, 0)});
  Node* index = t.b.prim(t.f, Prim::TupleGetItem, {t.b.param(t.f, 0), t.b.param(t.f, 0)});
  t.f->output = t.b.prim(t.f, Prim::MakeTuple, {bad, dict, method, index});
  std::vector<std::string> errors = verifyModule(t.b.m);
  EXPECT_TRUE(mentions(errors, "tuple_getitem takes 2 positional arguments, given 3"));
  EXPECT_TRUE(mentions(errors, "make_dict takes key/value pairs"));
  EXPECT_TRUE(mentions(errors, "method_call takes a constant method name and a receiver"));
  EXPECT_TRUE(mentions(errors, "tuple_getitem takes a constant index"));
}

TEST(Verifier, ParametersAndConstants) {
  Nested t;
  t.f->paramKinds.push_back(ParamKind::VarKw);
  Node* c = t.b.m.newConst(ConstKind::Graph);
  t.f->output = t.b.call(t.f, c, {});
  std::vector<std::string> errors = verifyModule(t.b.m);
  EXPECT_TRUE(mentions(errors, "2 parameter kinds for 1 parameters"));
  EXPECT_TRUE(mentions(errors, "names no graph"));
}

TEST(Verifier, ThrowsAnInternalError) {
  Nested t;
  t.f->output = nullptr;
  try {
    verifyOrThrow(t.b.m, "after test");
    FAIL() << "expected an internal error";
  } catch (const InternalError& e) {
    EXPECT_NE(e.msg.find("invalid IR in module 'test' after test:"), std::string::npos);
    EXPECT_NE(e.msg.find("graph 'f': has no output"), std::string::npos);
  }
}

}  // namespace
}  // namespace msl::ir
