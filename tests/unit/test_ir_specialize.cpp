// Specialisation: one typed clone per signature, cached; Python numbers are dynamic;
// the cap; clones keep the structure of the original (free variables, defaults,
// kwnames, locations) and carry abstract values and errors.
#include <gtest/gtest.h>

#include "IrTestUtil.h"
#include "ir/Specialize.h"
#include "ir/Verifier.h"

namespace msl::ir {
namespace {

using namespace test;

// def f(x, n, s=2.0): 
//     def g(y, k=n): return y * s + x      (free variables x and s; default k)
//     return g(x, k=n) if n > 0 else x
struct Sample {
  Builder b;
  Graph* f;
  Graph* g;
  Graph* yes;
  Graph* no;
  Node* call;
  Sample() {
    f = b.function("f", {"x", "n", "s"});
    f->defaults[2] = b.m.constFloat(2.0);
    Node* x = b.param(f, 0);
    Node* n = b.param(f, 1);
    Node* s = b.param(f, 2);
    g = b.function("g", {"y", "k"}, f);
    g->qualname = "f.g";
    g->defaults[1] = n;
    g->output = b.prim(g, Prim::Add, {b.prim(g, Prim::Mul, {b.param(g, 0), s}), x});
    yes = b.graph("if_true", {}, f);
    call = b.call(yes, b.closure(g), {x, n}, {"k"});
    yes->output = b.prim(yes, Prim::MakeTuple, {call});
    no = b.graph("if_false", {}, f);
    no->output = b.prim(no, Prim::MakeTuple, {x});
    Node* r = b.ifElse(f, b.prim(f, Prim::Gt, {n, b.m.constInt(0)}), yes, no);
    f->output = b.tupleItem(f, r, 0);
    b.finish();
  }
};

TEST(Specialize, SameSignatureSameClone) {
  Sample t;
  Specializer sp;
  Graph* a = sp.get(t.f, {f32({2}), ic(3), Abstract::floatConst(2.0)});
  Graph* b = sp.get(t.f, {f32({2}), ic(3), Abstract::floatConst(2.0)});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, t.f);
  EXPECT_EQ(sp.original(a), t.f);
  EXPECT_EQ(sp.count(t.f), 1);
  // Python int/float values are dynamic: a new step count or scale does not re-specialise.
  EXPECT_EQ(sp.get(t.f, {f32({2}), ic(4), Abstract::floatConst(0.5)}), a);
  EXPECT_EQ(sp.get(t.f, {f32({2}), Abstract::integer(), Abstract::real()}), a);
  // Specialising a clone is specialising its original.
  EXPECT_EQ(sp.get(a, {f32({2}), ic(7), Abstract::real()}), a);
  // A new shape or dtype is a new signature.
  Graph* c = sp.get(t.f, {f32({5}), ic(3), Abstract::real()});
  Graph* d = sp.get(t.f, {i64({2}), ic(3), Abstract::real()});
  EXPECT_NE(c, a);
  EXPECT_NE(d, a);
  EXPECT_NE(c, d);
  EXPECT_EQ(sp.count(t.f), 3);
  // Strings are static.
  EXPECT_NE(sp.get(t.f, {f32({2}), ic(3), str("a")}), sp.get(t.f, {f32({2}), ic(3), str("b")}));
}

TEST(Specialize, TheNumberOfSpecialisationsIsCapped) {
  Sample t;
  Specializer sp({}, 3);
  for (int64_t k = 1; k <= 3; ++k) sp.get(t.f, {f32({k}), ic(1), Abstract::real()});
  sp.get(t.f, {f32({1}), ic(9), Abstract::real()});  // cached: does not count
  try {
    sp.get(t.f, {f32({4}), ic(1), Abstract::real()});
    FAIL() << "expected TooManySpecialisations";
  } catch (const Error& e) {
    EXPECT_EQ(e.diag.id, DiagId::TooManySpecialisations);
    EXPECT_EQ(e.diag.message, "function 'f' was specialised 4 times; the limit is 3");
  }
}

TEST(Specialize, CloneKeepsTheStructureAndCarriesTypes) {
  Sample t;
  Specializer sp;
  Graph* a = sp.get(t.f, {f32({2}), Abstract::integer(), Abstract::real()});
  EXPECT_TRUE(verifyModule(t.b.m).empty());
  const Specialisation* info = sp.info(a);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(toString(info->result), "f32[2]");
  EXPECT_TRUE(info->errors.empty());
  // Same shape of graph: parameters, kinds, defaults, names, locations.
  ASSERT_EQ(a->params.size(), 3u);
  EXPECT_EQ(a->params[2]->name, "s");
  EXPECT_EQ(a->paramKinds, t.f->paramKinds);
  ASSERT_NE(a->defaults[2], nullptr);
  EXPECT_TRUE(a->defaults[2]->isConst() && a->defaults[2]->f == 2.0);
  EXPECT_EQ(a->qualname, "f");
  EXPECT_EQ(a->loc.line, t.f->loc.line);
  EXPECT_EQ(a->nodes.size(), t.f->nodes.size());
  EXPECT_EQ(a->output->abs, f32({2}));
  for (const Node* p : a->params) EXPECT_NE(p->abs, nullptr);
  // The nested graphs are cloned, and their free variables point at the clone's nodes.
  const Node* sw = a->output->inputs[1]->inputs[0];  // tuple_getitem(switch(...)(), 0)
  ASSERT_TRUE(sw->isPrimApply(Prim::Switch));
  Graph* yes = sw->inputs[2]->g;
  ASSERT_NE(yes, t.yes);
  EXPECT_EQ(sp.original(yes), t.yes);
  EXPECT_EQ(yes->parent, a);
  for (const Node* fv : yes->freeVars) EXPECT_EQ(fv->graph, a);
  const Node* call = yes->output->inputs[1];
  EXPECT_EQ(call->kwnames, std::vector<std::string>{"k"});
  EXPECT_EQ(call->loc.line, t.call->loc.line);
  Graph* g = call->inputs[0]->g;
  EXPECT_EQ(sp.original(g), t.g);
  EXPECT_EQ(g->parent, a);
  EXPECT_EQ(g->qualname, "f.g");
  ASSERT_EQ(g->defaults.size(), 2u);
  EXPECT_EQ(g->defaults[1], a->params[1]);
  EXPECT_EQ(g->freeVars.size(), t.g->freeVars.size());
  for (const Node* fv : g->freeVars) EXPECT_EQ(fv->graph, a);
  // Nodes of nested graphs carry the types of the contexts reached; closures name clones.
  EXPECT_EQ(call->abs, f32({2}));
  EXPECT_EQ(g->output->abs, f32({2}));
  EXPECT_EQ(call->inputs[0]->abs->graph, g);
  // The original is untouched.
  EXPECT_EQ(t.f->output->abs, nullptr);
}

TEST(Specialize, ErrorsAreKeptOnTheCloneNodes) {
  Builder b;
  Graph* f = b.function("f", {"x"});
  Node* bad = b.prim(f, Prim::MatMul, {b.param(f, 0), b.param(f, 0)});
  f->output = bad;
  b.finish();
  Specializer sp;
  Graph* ok = sp.get(f, {f32({3, 3})});
  EXPECT_TRUE(sp.info(ok)->errors.empty());
  Graph* a = sp.get(f, {f32({2, 3})});
  const Specialisation* info = sp.info(a);
  ASSERT_EQ(info->errors.size(), 1u);
  EXPECT_EQ(info->errors[0].message, "matmul: shapes (2, 3) and (2, 3) are not aligned (3 != 2)");
  ASSERT_EQ(info->errorAt.count(a->output), 1u);
  EXPECT_EQ(a->output->abs, Abstract::bottom());
  EXPECT_EQ(info->errorAt.at(a->output).loc.line, bad->loc.line);
}

TEST(Specialize, ClosuresAreKeyedByTheirCapturedValues) {
  Sample t;
  Specializer sp;
  // g alone, as the interpreter specialises a closure it calls: captured x and s.
  ASSERT_EQ(t.g->freeVars.size(), 2u);
  Graph* a = sp.get(t.g, {f32({2}), Abstract::integer()}, {f32({2}), Abstract::real()});
  Graph* b = sp.get(t.g, {f32({2}), ic(1)}, {f32({2}), Abstract::floatConst(3.0)});
  Graph* c = sp.get(t.g, {f32({2}), Abstract::integer()}, {f32({1}), Abstract::real()});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(toString(sp.info(c)->result), "f32[2]");
  // Its free variables stay the nodes of the enclosing function.
  EXPECT_EQ(a->freeVars, t.g->freeVars);
  EXPECT_TRUE(verifyModule(t.b.m).empty());
}

}  // namespace
}  // namespace msl::ir
