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
  Specializer sp({}, 3, /*generalise=*/false);  // a signature per shape
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
  Graph* a = sp.get(f, {f32({2, 3})});
  // (Generalised on the join f32[?, 3], where inference cannot tell; the run time checks.)
  Graph* ok = sp.get(f, {f32({3, 3})});
  EXPECT_TRUE(sp.info(ok)->errors.empty());
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
  // Their types for this specialisation are the key's, kept beside the clone (the nodes
  // carry none): tensors with their shapes, numbers without their values (b's 3.0 ran a).
  const Specialisation* sa = sp.info(a);
  ASSERT_EQ(sa->captured.size(), 2u);
  EXPECT_EQ(t.g->freeVars[0]->abs, nullptr);
  EXPECT_EQ(toString(sa->captured.at(t.g->freeVars[0])), "f32[2]");
  EXPECT_EQ(sa->captured.at(t.g->freeVars[1]), Abstract::real());
  // (c differs from a in a dimension only: generalised, a symbol for it)
  const Abstract* cx = sp.info(c)->captured.at(t.g->freeVars[0]);
  ASSERT_TRUE(cx->isTensor() && cx->rankKnown && cx->rank() == 1);
  EXPECT_TRUE(cx->shape[0].isSymbol());
  // A specialisation of f: g is nested in the clone, reads only the clone's nodes, and f
  // captures nothing.
  Graph* fc = sp.get(t.f, {f32({2}), Abstract::integer(), Abstract::real()});
  EXPECT_TRUE(sp.info(fc)->captured.empty());
}

// A second signature that differs only in dimensions gives one specialisation on the join
// (a symbol where they differ); calls that fit it run it; others specialise as before.
TEST(Specialize, GeneralisesOnASecondSignatureThatDiffersOnlyInDimensions) {
  Sample t;
  Specializer sp;
  Graph* a = sp.get(t.f, {f32({128, 4}), ic(1), Abstract::real()});
  Graph* g = sp.get(t.f, {f32({96, 4}), ic(1), Abstract::real()});
  EXPECT_NE(g, a);
  EXPECT_EQ(sp.count(t.f), 2);
  const Specialisation* info = sp.info(g);
  ASSERT_NE(info, nullptr);
  EXPECT_TRUE(info->symbolic);
  const Abstract* x = info->key.args[0];
  ASSERT_TRUE(x->isTensor() && x->rank() == 2);
  EXPECT_TRUE(x->shape[0].isSymbol());
  EXPECT_EQ(x->shape[1], Dim::of(4));
  EXPECT_EQ(g->params[0]->abs, x);
  EXPECT_TRUE(info->result->isTensor() && info->result->shape[0].isSymbol());
  // Batches that fit run the generalised clone (a batch of 1 too); the first signature
  // keeps its own.
  EXPECT_EQ(sp.get(t.f, {f32({1000, 4}), ic(5), Abstract::real()}), g);
  EXPECT_EQ(sp.get(t.f, {f32({1, 4}), ic(5), Abstract::real()}), g);
  EXPECT_EQ(sp.get(t.f, {f32({96, 4}), ic(2), Abstract::real()}), g);
  EXPECT_EQ(sp.get(t.f, {f32({128, 4}), ic(1), Abstract::real()}), a);
  EXPECT_EQ(sp.count(t.f), 2);
  // A static dimension of the join that differs: generalised once more.
  Graph* g2 = sp.get(t.f, {f32({7, 5}), ic(1), Abstract::real()});
  EXPECT_NE(g2, g);
  EXPECT_TRUE(sp.info(g2)->key.args[0]->shape[1].isSymbol());
  EXPECT_EQ(sp.get(t.f, {f32({7, 4}), ic(1), Abstract::real()}), g2);  // the latest first
  EXPECT_EQ(sp.count(t.f), 3);
  // Another rank, dtype or static value is another signature, not a generalisation.
  Graph* r = sp.get(t.f, {f32({4}), ic(1), Abstract::real()});
  Graph* d = sp.get(t.f, {i64({128, 4}), ic(1), Abstract::real()});
  Graph* s = sp.get(t.f, {f32({128, 4}), ic(1), str("a")});
  EXPECT_FALSE(sp.info(r)->symbolic);
  EXPECT_FALSE(sp.info(d)->symbolic);
  EXPECT_FALSE(sp.info(s)->symbolic);
  EXPECT_EQ(sp.count(t.f), 6);
  EXPECT_TRUE(verifyModule(t.b.m).empty());
  // Off: a specialisation per shape.
  Specializer per({}, Specializer::kDefaultMaxPerFunction, /*generalise=*/false);
  per.get(t.f, {f32({128, 4}), ic(1), Abstract::real()});
  per.get(t.f, {f32({96, 4}), ic(1), Abstract::real()});
  per.get(t.f, {f32({1000, 4}), ic(1), Abstract::real()});
  EXPECT_EQ(per.count(t.f), 3);
}

// A symbol of a generalised signature stands for one size wherever it appears: a call
// fits only when its dimensions there agree.
TEST(Specialize, ASymbolStandsForOneSize) {
  Sample t;
  Specializer sp;
  Dim n = Dim::fresh();
  Graph* g = sp.get(t.g, {Abstract::tensor(DType::F32, {n}), Abstract::integer()},
                    {Abstract::tensor(DType::F32, {n}), Abstract::real()});
  EXPECT_TRUE(sp.info(g)->symbolic);
  EXPECT_EQ(sp.get(t.g, {f32({3}), Abstract::integer()}, {f32({3}), Abstract::real()}), g);
  EXPECT_NE(sp.get(t.g, {f32({3}), Abstract::integer()}, {f32({4}), Abstract::real()}), g);
}

// The cap counts generalised specialisations too.
TEST(Specialize, TheCapHoldsWithGeneralisation) {
  Sample t;
  Specializer sp({}, 2);
  sp.get(t.f, {f32({1}), ic(1), Abstract::real()});
  sp.get(t.f, {f32({2}), ic(1), Abstract::real()});  // the join: 2
  for (int64_t k = 3; k < 100; ++k) sp.get(t.f, {f32({k}), ic(1), Abstract::real()});  // fit: no new one
  EXPECT_EQ(sp.count(t.f), 2);
  try {
    sp.get(t.f, {f32({2, 2}), ic(1), Abstract::real()});
    FAIL() << "expected TooManySpecialisations";
  } catch (const Error& e) {
    EXPECT_EQ(e.diag.message, "function 'f' was specialised 3 times; the limit is 2");
  }
}

// Static arguments (jit's static_argnums): the value is part of the signature, and the
// clone uses a constant instead of the parameter.
TEST(Specialize, StaticArgumentsAreKeyedByValueAndFolded) {
  Sample t;
  Specializer sp;
  uint64_t nStatic = 1u << 1;
  Graph* three = sp.get(t.f, {f32({2}), ic(3), Abstract::real()}, {}, nStatic);
  EXPECT_EQ(sp.get(t.f, {f32({2}), ic(3), Abstract::real()}, {}, nStatic), three);
  Graph* four = sp.get(t.f, {f32({2}), ic(4), Abstract::real()}, {}, nStatic);
  Graph* dynamic = sp.get(t.f, {f32({2}), ic(3), Abstract::real()});
  EXPECT_NE(four, three);
  EXPECT_NE(dynamic, three);
  EXPECT_NE(dynamic, four);
  EXPECT_EQ(sp.count(t.f), 3);
  EXPECT_EQ(sp.info(three)->key.args[1], ic(3));
  EXPECT_EQ(sp.info(dynamic)->key.args[1], Abstract::integer());
  // n > 0 compares the constant 3: the parameter n is used nowhere in the function.
  auto uses = [](const Graph* g, const Node* p) {
    int k = 0;
    for (const Node* n : g->nodes)
      for (const Node* in : n->inputs) k += in == p;
    return k;
  };
  EXPECT_EQ(uses(three, three->params[1]), 0);
  EXPECT_GT(uses(dynamic, dynamic->params[1]), 0);
  const Node* gt = nullptr;
  for (const Node* n : three->nodes)
    if (n->isPrimApply(Prim::Gt)) gt = n;
  ASSERT_NE(gt, nullptr);
  ASSERT_TRUE(gt->inputs[1]->isConst());
  EXPECT_EQ(gt->inputs[1]->i, 3);
  EXPECT_EQ(gt->abs, Abstract::boolConst(true));
  EXPECT_TRUE(verifyModule(t.b.m).empty());
  // A static argument with another dimension elsewhere generalises; another value does not.
  Graph* wide = sp.get(t.f, {f32({5}), ic(3), Abstract::real()}, {}, nStatic);
  EXPECT_TRUE(sp.info(wide)->symbolic);
  EXPECT_EQ(sp.info(wide)->key.args[1], ic(3));
  EXPECT_EQ(uses(wide, wide->params[1]), 0);
}

// def f(x): return sq(x), sq a module-level variable: a specialisation is used while sq
// has the abstract its inference saw, and made again when sq is rebound to another.
TEST(Specialize, ARebindingOfAGlobalItsInferenceReadMakesItAgain) {
  Builder b;
  Graph* sq = b.function("sq", {"x"});
  sq->output = b.prim(sq, Prim::Mul, {b.param(sq, 0), b.param(sq, 0)});
  Graph* half = b.function("half", {"x"});
  half->output = b.prim(half, Prim::Mul, {b.param(half, 0), b.m.constFloat(0.5)});
  Graph* f = b.function("f", {"x"});
  GlobalVar* gv = b.m.global("sq");
  f->output = b.call(f, b.globalGet(f, gv), {b.param(f, 0)});
  b.finish();
  const Abstract* value = Abstract::function(sq, {}, {});
  uint64_t version = 0, lookups = 0;
  InferHooks hooks;
  hooks.globalValue = [&](const GlobalVar* g) {
    ++lookups;
    return g == gv ? value : nullptr;
  };
  hooks.globalVersion = [&](const GlobalVar*) { return version; };
  Specializer sp(hooks, 2);
  Graph* a = sp.get(f, {f32({3})});
  EXPECT_EQ(toString(sp.info(a)->result), "f32[3]");
  ASSERT_EQ(sp.info(a)->globals.size(), 1u);
  EXPECT_EQ(sp.info(a)->globals[0].var, gv);
  // No global_set of sq since: its value is not read again.
  uint64_t before = lookups;
  EXPECT_EQ(sp.get(f, {f32({3})}), a);
  EXPECT_EQ(lookups, before);
  // Rebound to a value of the same abstract: the same clone.
  ++version;
  EXPECT_EQ(sp.get(f, {f32({3})}), a);
  EXPECT_GT(lookups, before);
  // Rebound to another function: a new one, which replaces the old (the cap of 2 counts
  // those in use).
  value = Abstract::function(half, {}, {});
  ++version;
  Graph* c = sp.get(f, {f32({3})});
  EXPECT_NE(c, a);
  EXPECT_EQ(sp.count(f), 1);
  value = Abstract::integer();
  ++version;
  Graph* d = sp.get(f, {f32({3})});
  EXPECT_NE(d, c);
  EXPECT_EQ(sp.count(f), 1);
  EXPECT_EQ(sp.get(f, {f32({3})}), d);
  // Without the version hook, the values are read on every look-up.
  hooks.globalVersion = nullptr;
  Specializer eager(hooks);
  value = Abstract::function(sq, {}, {});
  Graph* e = eager.get(f, {f32({3})});
  value = Abstract::function(half, {}, {});
  EXPECT_NE(eager.get(f, {f32({3})}), e);
}

}  // namespace
}  // namespace msl::ir
