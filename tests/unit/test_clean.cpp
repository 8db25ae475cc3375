// The cleaning passes of autodiff/Clean.h, one rewrite at a time on small graphs built
// with the ir API: each test checks that the rewrite happened (or, where its condition
// does not hold, that it did not) and that running the graph gives the value it gave
// before cleaning. The last tests differentiate whole programs with cleaning on and off.
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "autodiff/Clean.h"
#include "autodiff/J.h"
#include "ir/IR.h"
#include "ir/Manager.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "runtime/Interpreter.h"
#include "runtime/Print.h"
#include "runtime_tensor_test_util.h"
#include "tools/msl/Driver.h"

using namespace msl;
using msl::test::makeT;
using msl::test::TV;
using ir::Graph;
using ir::Module;
using ir::Node;

namespace {

using Build = std::function<Graph*(Module&)>;

// Modules outlive the closures (and values) that point into them.
Module& newModule() {
  static std::vector<std::unique_ptr<Module>> keep;
  keep.push_back(std::make_unique<Module>("clean_test", nullptr));
  return *keep.back();
}

Interpreter& interp() {
  static Interpreter it;
  return it;
}

Value runGraph(const Graph* g, std::vector<Value> args) {
  auto* c = new ClosureObj();
  Value cv = Value::object(c);
  c->graph = g;
  c->defaults.assign(g->params.size(), Value::undef());
  c->jworld = g->madeByJ ? 1000 : 0;  // differentiated code runs in a world of its own (docs/autodiff.md)
  return interp().runGraph(g, c, args.data());
}

Node* call(Module& m, Graph* g, Prim p, std::vector<Node*> args) {
  args.insert(args.begin(), m.constPrim(p));
  return m.newApply(g, std::move(args), SourceLoc{});
}

size_t countPrim(const Graph* g, Prim p) {
  size_t n = 0;
  for (const Node* x : g->nodes) n += x->isPrimApply(p);
  return n;
}

// Builds the graph twice: runs one as built, cleans the other and runs it; the values
// must print the same. Returns the cleaned graph (and the statistics).
Graph* cleanAndCompare(const Build& build, const std::function<std::vector<Value>()>& args,
                       autodiff::CleanStats* stats = nullptr) {
  Module& m0 = newModule();
  Graph* g0 = build(m0);
  ir::computeFreeVars(m0);
  std::string before = reprOf(runGraph(g0, args()));

  Module& m1 = newModule();
  Graph* g1 = build(m1);
  ir::computeFreeVars(m1);
  autodiff::CleanStats s = autodiff::cleanGraphs(g1);
  if (stats) *stats = s;
  std::vector<std::string> errors = ir::verifyModule(m1);
  EXPECT_TRUE(errors.empty()) << errors[0];
  EXPECT_EQ(reprOf(runGraph(g1, args())), before);
  return g1;
}

Value t23(double base) {
  std::vector<double> v;
  for (int i = 0; i < 6; ++i) v.push_back(base + i);
  return TV(makeT(DType::F32, Shape{2, 3}, v));
}

const ir::Abstract* f32(std::vector<int64_t> dims) {
  ir::Dims d;
  for (int64_t x : dims) d.push_back(ir::Dim::of(x));
  return ir::Abstract::tensor(DType::F32, d);
}

}  // namespace

TEST(Clean, TupleGetItemOfMakeTupleIsTheItem) {
  autodiff::CleanStats st;
  Graph* g = cleanAndCompare(
      [](Module& m) {
        Graph* g = m.newGraph("f", nullptr, SourceLoc{});
        Node* a = m.newParam(g, "a", SourceLoc{});
        Node* b = m.newParam(g, "b", SourceLoc{});
        Node* t = call(m, g, Prim::MakeTuple, {a, b});
        Node* x = call(m, g, Prim::TupleGetItem, {t, m.constInt(1)});
        Node* y = call(m, g, Prim::GetItem, {t, m.constInt(-2)});
        g->output = call(m, g, Prim::MakeTuple, {x, y});
        return g;
      },
      [] { return std::vector<Value>{Value::real(1.5), Value::real(2.5)}; }, &st);
  EXPECT_EQ(st.tuples, 2);
  ASSERT_EQ(g->nodes.size(), 1u);  // only the output tuple is left
  EXPECT_EQ(g->output->inputs[1], g->params[1]);
  EXPECT_EQ(g->output->inputs[2], g->params[0]);
}

TEST(Clean, CtIndexOfTupleAndDictIsTheItemOrNone) {
  Graph* g = cleanAndCompare(
      [](Module& m) {
        Graph* g = m.newGraph("f", nullptr, SourceLoc{});
        Node* a = m.newParam(g, "a", SourceLoc{});
        Node* b = m.newParam(g, "b", SourceLoc{});
        Node* d = call(m, g, Prim::MakeDict, {m.constInt(7), a, m.constStr("k"), b});
        Node* t = call(m, g, Prim::MakeTuple, {a, b});
        g->output = call(m, g, Prim::MakeTuple,
                         {call(m, g, Prim::CtIndex, {d, m.constStr("k")}), call(m, g, Prim::CtIndex, {d, m.constInt(8)}),
                          call(m, g, Prim::CtIndex, {t, m.constInt(0)}), call(m, g, Prim::CtIndex, {t, m.constInt(5)})});
        return g;
      },
      [] { return std::vector<Value>{Value::real(1.5), Value::real(2.5)}; });
  ASSERT_EQ(g->nodes.size(), 1u);
  EXPECT_EQ(g->output->inputs[1], g->params[1]);
  EXPECT_TRUE(g->output->inputs[2]->isConst() && g->output->inputs[2]->ckind == ir::ConstKind::None);
  EXPECT_EQ(g->output->inputs[3], g->params[0]);
  EXPECT_TRUE(g->output->inputs[4]->isConst() && g->output->inputs[4]->ckind == ir::ConstKind::None);
}

TEST(Clean, SymbolicZerosFold) {
  autodiff::CleanStats st;
  Graph* g = cleanAndCompare(
      [](Module& m) {
        Graph* g = m.newGraph("f", nullptr, SourceLoc{});
        Node* a = m.newParam(g, "a", SourceLoc{});
        Node* x = m.newParam(g, "x", SourceLoc{});
        Node* s1 = call(m, g, Prim::CtAdd, {m.constNone(), a});
        Node* s2 = call(m, g, Prim::CtAdd, {s1, m.constNone()});
        Node* z = call(m, g, Prim::SumBwd, {m.constNone(), x, m.constNone(), m.constBool(false)});
        Node* u = call(m, g, Prim::Unbroadcast, {z, x});
        Node* t = call(m, g, Prim::MakeTuple, {s2});
        Node* f = call(m, g, Prim::CtFill, {t, x});  // a tuple is never None
        g->output = call(m, g, Prim::MakeTuple, {s2, u, f});
        return g;
      },
      [] { return std::vector<Value>{Value::real(1.5), t23(0)}; }, &st);
  EXPECT_EQ(countPrim(g, Prim::CtAdd), 0u);
  EXPECT_EQ(countPrim(g, Prim::SumBwd), 0u);
  EXPECT_EQ(countPrim(g, Prim::Unbroadcast), 0u);
  EXPECT_EQ(countPrim(g, Prim::CtFill), 0u);
  EXPECT_EQ(g->output->inputs[1], g->params[0]);
  EXPECT_GE(st.zeros, 5);
}

TEST(Clean, CtFillOfWhatMayBeNoneStays) {
  Graph* g = cleanAndCompare(
      [](Module& m) {
        Graph* g = m.newGraph("f", nullptr, SourceLoc{});
        Node* c = m.newParam(g, "c", SourceLoc{});
        Node* x = m.newParam(g, "x", SourceLoc{});
        g->output = call(m, g, Prim::CtFill, {c, x});
        return g;
      },
      [] { return std::vector<Value>{Value::none(), t23(0)}; });
  EXPECT_EQ(countPrim(g, Prim::CtFill), 1u);
}

// __unbroadcast is the identity exactly when the abstracts show the same shape and dtype.
TEST(Clean, UnbroadcastOfTheSameShapeIsTheIdentity) {
  auto build = [](const ir::Abstract* like) {
    return [like](Module& m) {
      Graph* g = m.newGraph("f", nullptr, SourceLoc{});
      Node* c = m.newParam(g, "c", SourceLoc{});
      Node* x = m.newParam(g, "x", SourceLoc{});
      c->abs = f32({2, 3});
      x->abs = like;
      g->output = call(m, g, Prim::Unbroadcast, {c, x});
      return g;
    };
  };
  Graph* same = cleanAndCompare(build(f32({2, 3})), [] { return std::vector<Value>{t23(0), t23(1)}; });
  EXPECT_EQ(same->output, same->params[0]);
  Graph* wider = cleanAndCompare(build(f32({3})), [] {
    return std::vector<Value>{t23(0), TV(makeT(DType::F32, Shape{3}, {1, 2, 3}))};
  });
  EXPECT_EQ(countPrim(wider, Prim::Unbroadcast), 1u);
}

TEST(Clean, AlgebraicIdentitiesWhereTheTypeIsKept) {
  autodiff::CleanStats st;
  Graph* g = cleanAndCompare(
      [](Module& m) {
        Graph* g = m.newGraph("f", nullptr, SourceLoc{});
        Node* x = m.newParam(g, "x", SourceLoc{});
        x->abs = f32({2, 3});
        Node* a = call(m, g, Prim::Mul, {x, m.constFloat(1.0)});
        Node* b = call(m, g, Prim::Add, {m.constInt(0), a});
        Node* c = call(m, g, Prim::Sub, {b, m.constFloat(0.0)});
        Node* d = call(m, g, Prim::Mul, {m.constInt(1), c});
        g->output = call(m, g, Prim::Neg, {call(m, g, Prim::Neg, {d})});
        return g;
      },
      [] { return std::vector<Value>{t23(-2)}; }, &st);
  EXPECT_EQ(g->output, g->params[0]);
  EXPECT_TRUE(g->nodes.empty());
  EXPECT_EQ(st.algebra, 5);
}

TEST(Clean, AlgebraSkipsPromotionAndUnknownTypes) {
  auto build = [](const ir::Abstract* a) {
    return [a](Module& m) {
      Graph* g = m.newGraph("f", nullptr, SourceLoc{});
      Node* x = m.newParam(g, "x", SourceLoc{});
      x->abs = a;
      g->output = call(m, g, Prim::Mul, {x, m.constFloat(1.0)});  // an int tensor * 1.0 is a float tensor
      return g;
    };
  };
  ir::Dims d{ir::Dim::of(3)};
  Graph* ints = cleanAndCompare(build(ir::Abstract::tensor(DType::I64, d)), [] {
    return std::vector<Value>{TV(makeT(DType::I64, Shape{3}, {1, 2, 3}))};
  });
  EXPECT_EQ(countPrim(ints, Prim::Mul), 1u);
  Graph* unknown = cleanAndCompare(build(nullptr), [] { return std::vector<Value>{Value::integer(4)}; });
  EXPECT_EQ(countPrim(unknown, Prim::Mul), 1u);
}

// h(a, b) = (lambda y: a * y)(b) + a, called as h(x, 2.0): inlined, with its nested graph.
TEST(Clean, InlineCallOfGraphConstantWithNestedClosure) {
  autodiff::CleanStats st;
  Graph* g = cleanAndCompare(
      [](Module& m) {
        Graph* h = m.newGraph("h", nullptr, SourceLoc{});
        h->isFunction = true;
        Node* a = m.newParam(h, "a", SourceLoc{});
        Node* b = m.newParam(h, "b", SourceLoc{});
        Graph* lam = m.newGraph("<lambda>", h, SourceLoc{});
        lam->isFunction = true;
        Node* y = m.newParam(lam, "y", SourceLoc{});
        lam->output = call(m, lam, Prim::Mul, {a, y});
        Node* r = m.newApply(h, {m.constGraph(lam), b}, SourceLoc{});
        h->output = call(m, h, Prim::Add, {r, a});
        Graph* g = m.newGraph("f", nullptr, SourceLoc{});
        g->isFunction = true;
        Node* x = m.newParam(g, "x", SourceLoc{});
        g->output = m.newApply(g, {m.constGraph(h), x, m.constFloat(2.0)}, SourceLoc{});
        return g;
      },
      [] { return std::vector<Value>{Value::real(3.0)}; }, &st);
  EXPECT_EQ(st.inlined, 2);
  for (const Node* n : g->nodes) EXPECT_TRUE(n->inputs[0]->isConst() && n->inputs[0]->ckind == ir::ConstKind::Prim);
  EXPECT_EQ(g->nodes.size(), 2u);  // multiply, add
}

// A recursive callee stays a call (and cleaning ends).
TEST(Clean, RecursiveCalleeIsNotInlined) {
  Graph* g = cleanAndCompare(
      [](Module& m) {
        // r(n) = switch(n > 0, r_then, r_else)(), r_then() = r(n - 1) + 1.0: calls of r stay.
        Graph* r = m.newGraph("r", nullptr, SourceLoc{});
        r->isFunction = true;
        Node* n = m.newParam(r, "n", SourceLoc{});
        Graph* t = m.newGraph("r.if_true", r, SourceLoc{});
        Node* sub = call(m, t, Prim::Sub, {n, m.constInt(1)});
        Node* rec = m.newApply(t, {m.constGraph(r), sub}, SourceLoc{});
        t->output = call(m, t, Prim::Add, {rec, m.constFloat(1.0)});
        Graph* e = m.newGraph("r.if_false", r, SourceLoc{});
        e->output = m.constFloat(0.0);
        Node* c = call(m, r, Prim::Gt, {n, m.constInt(0)});
        Node* sw = call(m, r, Prim::Switch, {c, m.constGraph(t), m.constGraph(e)});
        r->output = m.newApply(r, {sw}, SourceLoc{});
        Graph* g = m.newGraph("f", nullptr, SourceLoc{});
        Node* x = m.newParam(g, "x", SourceLoc{});
        g->output = m.newApply(g, {m.constGraph(r), x}, SourceLoc{});
        return g;
      },
      [] { return std::vector<Value>{Value::integer(3)}; });
  // r refers to itself: f keeps calling it, and r (outside f) is left as it was.
  ASSERT_EQ(g->nodes.size(), 1u) << ir::printGraphTree(g);
  ASSERT_TRUE(g->output->inputs[0]->isGraphConst());
  EXPECT_EQ(countPrim(g->output->inputs[0]->g, Prim::Switch), 1u);
}

// a(n) calls b(n), b(n) calls a(n) under a branch: inlining a into f brings b, and b
// brings a call of a again, which stays (a is on the chain of callees already inlined).
TEST(Clean, MutualRecursionInlinesOnceAndEnds) {
  autodiff::CleanStats st;
  Module& m = newModule();
  Graph* a = m.newGraph("a", nullptr, SourceLoc{});
  Graph* b = m.newGraph("b", nullptr, SourceLoc{});
  Node* na = m.newParam(a, "n", SourceLoc{});
  a->output = m.newApply(a, {m.constGraph(b), call(m, a, Prim::Add, {na, m.constInt(1)})}, SourceLoc{});
  Node* nb = m.newParam(b, "n", SourceLoc{});
  Graph* t = m.newGraph("b.if_true", b, SourceLoc{});
  t->output = m.newApply(t, {m.constGraph(a), nb}, SourceLoc{});
  Graph* e = m.newGraph("b.if_false", b, SourceLoc{});
  e->output = nb;
  Node* c = call(m, b, Prim::Lt, {nb, m.constInt(0)});
  b->output = m.newApply(b, {call(m, b, Prim::Switch, {c, m.constGraph(t), m.constGraph(e)})}, SourceLoc{});
  Graph* f = m.newGraph("f", nullptr, SourceLoc{});
  Node* x = m.newParam(f, "x", SourceLoc{});
  f->output = m.newApply(f, {m.constGraph(a), x}, SourceLoc{});
  ir::computeFreeVars(m);
  st = autodiff::cleanGraphs(f);
  EXPECT_EQ(st.inlined, 2);  // a, then b; the call of a in b's branch stays
  EXPECT_TRUE(ir::verifyModule(m).empty());
  EXPECT_EQ(reprOf(runGraph(f, {Value::integer(4)})), "5");
}

// `if self.b is None:` of a Dense with a bias is switch(False, ...) once specialised: the
// taken arm's call is inlined, the other arm goes, and a switch on a value stays.
TEST(Clean, SwitchOnAKnownBoolIsTheTakenArm) {
  autodiff::CleanStats st;
  Graph* g = cleanAndCompare(
      [](Module& m) {
        Graph* g = m.newGraph("f", nullptr, SourceLoc{});
        Node* x = m.newParam(g, "x", SourceLoc{});
        Node* c = m.newParam(g, "c", SourceLoc{});
        Graph* t = m.newGraph("f.if_true", g, SourceLoc{});
        t->output = call(m, t, Prim::Add, {x, m.constInt(1)});
        Graph* e = m.newGraph("f.if_false", g, SourceLoc{});
        e->output = call(m, e, Prim::Mul, {x, m.constInt(3)});
        Node* known = m.newApply(g, {call(m, g, Prim::Switch, {m.constBool(false), m.constGraph(t), m.constGraph(e)})},
                                 SourceLoc{});
        Node* open = m.newApply(g, {call(m, g, Prim::Switch, {c, m.constGraph(t), m.constGraph(e)})}, SourceLoc{});
        g->output = call(m, g, Prim::MakeTuple, {known, open});
        return g;
      },
      [] { return std::vector<Value>{Value::integer(5), Value::boolean(true)}; }, &st);
  EXPECT_EQ(countPrim(g, Prim::Switch), 1u);  // the switch on the parameter c
  EXPECT_TRUE(g->output->inputs[1]->isPrimApply(Prim::Mul));
}

TEST(Clean, PartialCallBecomesDirectAndIsInlined) {
  autodiff::CleanStats st;
  Graph* g = cleanAndCompare(
      [](Module& m) {
        Graph* h = m.newGraph("h", nullptr, SourceLoc{});
        Node* a = m.newParam(h, "a", SourceLoc{});
        Node* b = m.newParam(h, "b", SourceLoc{});
        h->output = call(m, h, Prim::Sub, {a, b});
        Graph* g = m.newGraph("f", nullptr, SourceLoc{});
        Node* x = m.newParam(g, "x", SourceLoc{});
        Node* p = call(m, g, Prim::Partial, {m.constGraph(h), x});
        g->output = m.newApply(g, {p, m.constFloat(0.25)}, SourceLoc{});
        return g;
      },
      [] { return std::vector<Value>{Value::real(3.0)}; }, &st);
  EXPECT_EQ(st.partials, 1);
  EXPECT_EQ(st.inlined, 1);
  ASSERT_EQ(g->nodes.size(), 1u);
  EXPECT_TRUE(g->nodes[0]->isPrimApply(Prim::Sub));
}

// __jcall of a graph made by J, with arguments one to one: a direct call, then inlined.
TEST(Clean, JCallOfJGraphIsInlined) {
  autodiff::CleanStats st;
  Graph* g = cleanAndCompare(
      [](Module& m) {
        Graph* j = m.newGraph("j", nullptr, SourceLoc{});
        j->madeByJ = true;
        j->isFunction = true;
        Node* a = m.newParam(j, "a", SourceLoc{});
        j->output = call(m, j, Prim::MakeTuple, {call(m, j, Prim::Mul, {a, a}), m.constNone()});
        Graph* g = m.newGraph("f", nullptr, SourceLoc{});
        g->madeByJ = true;  // J's code: the closures it makes are of its world, so __jcall runs them directly
        Node* x = m.newParam(g, "x", SourceLoc{});
        Node* r = call(m, g, Prim::JCall, {m.constGraph(j), x});
        g->output = call(m, g, Prim::TupleGetItem, {r, m.constInt(0)});
        return g;
      },
      [] { return std::vector<Value>{Value::real(3.0)}; }, &st);
  EXPECT_EQ(st.jcalls, 1);
  ASSERT_EQ(g->nodes.size(), 1u);
  EXPECT_TRUE(g->output->isPrimApply(Prim::Mul));
}

// The shape J gives a call of a known function: (out, bprop) = Jh(x), and the backward
// pass calls that bprop. Inlining Jh (from outside, with its nested bprop), taking the
// bprop out of the tuple and inlining its call leave straight-line code.
TEST(Clean, KnownJCallAndItsBpropBecomeStraightLine) {
  autodiff::CleanStats st;
  Graph* g = cleanAndCompare(
      [](Module& m) {
        Graph* jh = m.newGraph("h", nullptr, SourceLoc{});  // J(h) for h(a) = a * a
        jh->madeByJ = jh->isFunction = true;
        Node* a = m.newParam(jh, "a", SourceLoc{});
        Node* out = call(m, jh, Prim::Mul, {a, a});
        Graph* hb = m.newGraph("h.bprop", jh, SourceLoc{});
        hb->madeByJ = true;
        Node* ct = m.newParam(hb, "ct", SourceLoc{});
        Node* c = call(m, hb, Prim::CtFill, {ct, out});
        Node* ca = call(m, hb, Prim::CtAdd, {call(m, hb, Prim::Mul, {c, a}), call(m, hb, Prim::Mul, {c, a})});
        hb->output = call(m, hb, Prim::MakeTuple, {m.constNone(), ca});
        jh->output = call(m, jh, Prim::MakeTuple, {out, m.constGraph(hb)});

        Graph* f = m.newGraph("f", nullptr, SourceLoc{});  // runs J(h) and its bprop
        Node* x = m.newParam(f, "x", SourceLoc{});
        Node* t = m.newApply(f, {m.constGraph(jh), x}, SourceLoc{});
        Node* o = call(m, f, Prim::TupleGetItem, {t, m.constInt(0)});
        Node* bp = call(m, f, Prim::TupleGetItem, {t, m.constInt(1)});
        Node* cts = m.newApply(f, {bp, m.constFloat(1.0)}, SourceLoc{});
        f->output = call(m, f, Prim::MakeTuple, {o, call(m, f, Prim::CtIndex, {cts, m.constInt(1)})});
        return f;
      },
      [] { return std::vector<Value>{Value::real(3.0)}; }, &st);
  EXPECT_EQ(st.inlined, 2);  // J(h), then its bprop
  for (const Node* n : g->nodes) EXPECT_TRUE(n->inputs[0]->isConst() && n->inputs[0]->ckind == ir::ConstKind::Prim);
  EXPECT_EQ(countPrim(g, Prim::TupleGetItem) + countPrim(g, Prim::CtIndex), 0u);
  EXPECT_EQ(countPrim(g, Prim::Mul), 2u);  // a * a and ct * a (once: CSE)
}

// __jcall(f, x, w) of an unknown function whose bprop's result is read only at index 2
// (w's cotangent): the call gets the mask of x (bit 0) as keyword "<skip>", so that the
// runtime differentiates f without x's cotangent. Read as a whole, it gets none.
TEST(Clean, JCallGetsTheMaskOfArgumentsWhoseCotangentsNobodyReads) {
  for (bool whole : {false, true}) {
    Module& m = newModule();
    Graph* g = m.newGraph("g", nullptr, SourceLoc{});
    g->madeByJ = true;
    Node* f = m.newParam(g, "f", SourceLoc{});
    Node* x = m.newParam(g, "x", SourceLoc{});
    Node* w = m.newParam(g, "w", SourceLoc{});
    Node* t = call(m, g, Prim::JCall, {f, x, w});
    Node* bp = call(m, g, Prim::TupleGetItem, {t, m.constInt(1)});
    Graph* b = m.newGraph("g.bprop", g, SourceLoc{});
    b->madeByJ = true;
    Node* ct = m.newParam(b, "ct", SourceLoc{});
    Node* cts = m.newApply(b, {bp, ct}, SourceLoc{});
    b->output = whole ? cts : call(m, b, Prim::MakeTuple, {m.constNone(), call(m, b, Prim::CtIndex, {cts, m.constInt(2)})});
    g->output = call(m, g, Prim::MakeTuple, {call(m, g, Prim::TupleGetItem, {t, m.constInt(0)}), m.constGraph(b)});
    ir::computeFreeVars(std::vector<Graph*>{g, b});
    autodiff::cleanGraphs(g);
    if (whole) {
      EXPECT_TRUE(t->kwnames.empty());
      continue;
    }
    ASSERT_EQ(t->kwnames, std::vector<std::string>{autodiff::kJCallSkip});
    ASSERT_EQ(t->inputs.size(), 5u);
    EXPECT_TRUE(t->inputs[4]->isConst() && t->inputs[4]->ckind == ir::ConstKind::Int && t->inputs[4]->i == 1);
  }
}

TEST(Clean, DeadPureNodesGoEffectsStay) {
  Module& m = newModule();
  Graph* g = m.newGraph("f", nullptr, SourceLoc{});
  Node* x = m.newParam(g, "x", SourceLoc{});
  Node* fn = m.newParam(g, "fn", SourceLoc{});
  call(m, g, Prim::Exp, {x});                   // unused, pure: removed
  call(m, g, Prim::Print, {x});                 // unused, I/O: kept
  m.newApply(g, {fn, x}, SourceLoc{});          // unused call of an unknown function: kept
  g->output = call(m, g, Prim::Add, {x, x});
  ir::computeFreeVars(m);
  autodiff::CleanStats st = autodiff::cleanGraphs(g);
  EXPECT_EQ(st.dce, 1);
  EXPECT_EQ(countPrim(g, Prim::Exp), 0u);
  EXPECT_EQ(countPrim(g, Prim::Print), 1u);
  EXPECT_EQ(g->nodes.size(), 3u);
  EXPECT_TRUE(ir::verifyModule(m).empty());
}

TEST(Clean, CommonSubexpressionsMerge) {
  autodiff::CleanStats st;
  Graph* g = cleanAndCompare(
      [](Module& m) {
        Graph* g = m.newGraph("f", nullptr, SourceLoc{});
        Node* x = m.newParam(g, "x", SourceLoc{});
        Node* y = m.newParam(g, "y", SourceLoc{});
        Node* a = call(m, g, Prim::Mul, {x, y});
        Node* b = call(m, g, Prim::Mul, {x, y});
        Node* c = call(m, g, Prim::Add, {a, m.constFloat(2.0)});
        Node* d = call(m, g, Prim::Add, {b, m.constFloat(2.0)});  // the same constant, another node
        Node* e = call(m, g, Prim::Add, {b, m.constFloat(3.0)});
        g->output = call(m, g, Prim::MakeTuple, {c, d, e});
        return g;
      },
      [] { return std::vector<Value>{Value::real(3.0), Value::real(0.5)}; }, &st);
  EXPECT_EQ(st.cse, 2);
  EXPECT_EQ(countPrim(g, Prim::Mul), 1u);
  EXPECT_EQ(countPrim(g, Prim::Add), 2u);
}

// Cotangents of a tuple (a loop's carry) taken apart item by item, as J writes them for a
// loop body: zeros like the tuple indexed are zeros like the item, zeros like a string are
// None, zeros like a float are 0.0, and the cotangent of t[k] added to a tuple built in the
// graph is that tuple with the item added at k. Exact for a None and a tuple cotangent.
TEST(Clean, CotangentsOfTuplesFoldItemByItem) {
  auto build = [](Module& m) {
    Graph* g = m.newGraph("f", nullptr, SourceLoc{});
    Node* ct = m.newParam(g, "ct", SourceLoc{});
    Node* t = m.newParam(g, "t", SourceLoc{});
    t->abs = ir::Abstract::tuple({ir::Abstract::real(), ir::Abstract::str()});
    Node* t0 = call(m, g, Prim::TupleGetItem, {t, m.constInt(0)});
    Node* t1 = call(m, g, Prim::TupleGetItem, {t, m.constInt(1)});
    Node* y = call(m, g, Prim::MakeTuple, {t0, t1});
    Node* f = call(m, g, Prim::CtFill, {ct, y});
    Node* a = call(m, g, Prim::CtFill, {call(m, g, Prim::CtIndex, {f, m.constInt(0)}), t0});
    Node* b = call(m, g, Prim::CtFill, {call(m, g, Prim::CtIndex, {f, m.constInt(1)}), t1});
    Node* mul = call(m, g, Prim::Mul, {a, m.constFloat(2.0)});
    Node* g0 = call(m, g, Prim::GetItemBwd, {mul, t, m.constInt(0)});
    Node* g1 = call(m, g, Prim::GetItemBwd, {b, t, m.constInt(1)});
    g->output = call(m, g, Prim::CtAdd, {g1, g0});
    return g;
  };
  Value t = makeTuple({Value::real(1.5), makeStr("s")});
  for (Value ct : {Value::none(), makeTuple({Value::real(3.0), Value::none()})}) {
    Graph* g = cleanAndCompare(build, [&] { return std::vector<Value>{ct, t}; });
    EXPECT_EQ(countPrim(g, Prim::GetItemBwd), 0u);
    EXPECT_EQ(countPrim(g, Prim::CtAdd), 0u);
    EXPECT_EQ(countPrim(g, Prim::TupleGetItem), 0u);  // nothing reads t any more
    ASSERT_EQ(countPrim(g, Prim::CtFill), 1u);        // zeros like a float: 0.0
    for (const Node* n : g->nodes)
      if (n->isPrimApply(Prim::CtFill)) EXPECT_TRUE(n->inputs[2]->isConst());
    EXPECT_TRUE(g->output->isPrimApply(Prim::MakeTuple));
  }
}

// A nested graph's parameters take the abstracts of the primal parameters they image
// (jorigin): here zeros like a float parameter become the constant 0.0.
TEST(Clean, NestedParamsTakeTheirPrimalsAbstracts) {
  for (bool seeded : {false, true}) {
    Module& m = newModule();
    Graph* primal = m.newGraph("primal_body", nullptr, SourceLoc{});
    Node* q = m.newParam(primal, "x", SourceLoc{});
    q->abs = ir::Abstract::real();
    primal->output = q;
    Graph* root = m.newGraph("f", nullptr, SourceLoc{});
    Graph* h = m.newGraph("f.body", root, SourceLoc{});
    Node* p = m.newParam(h, "x", SourceLoc{});
    Node* c = m.newParam(h, "c", SourceLoc{});
    if (seeded) p->jorigin = q;
    h->output = call(m, h, Prim::CtFill, {c, p});
    root->output = m.constGraph(h, SourceLoc{});
    ir::computeFreeVars(m);
    autodiff::cleanGraphs(root);
    std::vector<std::string> errors = ir::verifyModule(m);
    EXPECT_TRUE(errors.empty()) << errors[0];
    ASSERT_TRUE(h->output->isPrimApply(Prim::CtFill));
    EXPECT_EQ(h->output->inputs[2]->isConst(), seeded);
  }
}

// ------------------------------------------------------------------ whole programs

namespace {

// Runs `text` and returns the repr of global `name`, with cleaning on or off.
std::string runProgram(const std::string& text, const std::string& name, bool clean, ir::Module** mod = nullptr) {
  static std::vector<std::unique_ptr<Program>> keep;
  keep.push_back(std::make_unique<Program>(std::vector<std::string>{}));
  ir::Module* m = keep.back()->loadText("<test>", text);
  static std::vector<std::unique_ptr<Interpreter>> interps;
  interps.push_back(std::make_unique<Interpreter>());
  autodiff::setCleaningEnabled(clean);
  interps.back()->runModule(m);
  std::string out = reprOf(interps.back()->global(m->findGlobal(name)->id));
  autodiff::setCleaningEnabled(true);
  if (mod) *mod = m;
  return out;
}

const char* kProgram =
    "def helper(a, b=2.0):\n"
    "    return a * b\n"
    "def f(x, w, s):\n"
    "    k = s * 3.0\n"
    "    g = lambda y: k * y\n"
    "    h = tanh(x @ w) * g(2.0)\n"
    "    if s > 0.0:\n"
    "        h = h * s\n"
    "    return mean(h) + helper(s) + helper(s, b=s)\n"
    "x = reshape(arange(6.0), (2, 3)) / 6.0\n"
    "w = reshape(arange(12.0), (3, 4)) / 12.0\n"
    "r = grad(f, argnums=(0, 1, 2))(x, w, 0.5)\n";

}  // namespace

TEST(CleanPrograms, GradientsAreTheSameWithAndWithoutCleaning) {
  ir::Module* m = nullptr;
  std::string off = runProgram(kProgram, "r", false);
  std::string on = runProgram(kProgram, "r", true, &m);
  EXPECT_EQ(on, off);
  EXPECT_NE(on.find("tensor"), std::string::npos);
}

// The J graph of a straight-line function: no tuple built to be indexed, no __ct_add of
// None, no closure called, and the verifier finds nothing wrong.
TEST(CleanPrograms, StraightLineGradientIsClean) {
  ir::Module* m = nullptr;
  runProgram(
      "def f(x, w):\n"
      "    k = 2.0\n"
      "    g = lambda y: y * k\n"
      "    return mean(g(tanh(x @ w)))\n"
      "r = grad(f)(ones((2, 3)), ones((3, 4)))\n",
      "r", true, &m);
  size_t jgraphs = 0;
  for (const auto& gp : m->graphs()) {
    if (!gp->madeByJ || gp->nodes.empty()) continue;
    ++jgraphs;
    for (const Node* n : gp->nodes) {
      EXPECT_FALSE(n->isPrimApply(Prim::TupleGetItem)) << gp->qualname;
      EXPECT_FALSE(n->isPrimApply(Prim::JCall)) << gp->qualname;
      EXPECT_FALSE(n->isPrimApply(Prim::CtIndex)) << gp->qualname;
      if (n->isPrimApply(Prim::CtAdd)) {
        for (size_t k = 1; k < n->inputs.size(); ++k)
          EXPECT_FALSE(n->inputs[k]->isConst() && n->inputs[k]->ckind == ir::ConstKind::None);
      }
      if (n->isPrimApply(Prim::MakeTuple)) {
        EXPECT_EQ(n, gp->output) << gp->qualname;  // only the results
      }
    }
  }
  EXPECT_EQ(jgraphs, 2u);  // J(f) and its bprop; the lambda's J graphs were inlined
  std::vector<std::string> errors = ir::verifyModule(*m);
  EXPECT_TRUE(errors.empty()) << errors[0];
}

// A while loop's body (a tuple carry with a state) is cleaned with its carry's abstracts:
// its bprop takes the cotangent apart item by item (no zeros made like the carry, no
// __getitem_bwd), captures nothing for this linear body and gives the gradients it gives
// without cleaning, (192.0, 1.5^7) as Python computes them:
//   x, y, d = 1.0, 0.5, 1.0
//   while x < 100: x = x * 1.5 + y; y = y * 2.0; d *= 1.5
//   print(x + y, d)   # 192.0 17.0859375
TEST(CleanPrograms, WhileBodyBpropKnowsItsCarry) {
  const char* text =
      "def f(x):\n"
      "    y = 0.5\n"
      "    while x < 100.0:\n"
      "        x = x * 1.5 + y\n"
      "        y = y * 2.0\n"
      "    return x + y\n"
      "r = value_and_grad(f)(1.0)\n";
  ir::Module* m = nullptr;
  std::string off = runProgram(text, "r", false);
  std::string on = runProgram(text, "r", true, &m);
  EXPECT_EQ(on, off);
  EXPECT_EQ(on, "(192.0, 17.0859375)");
  size_t bodies = 0;
  for (const auto& gp : m->graphs()) {
    if (!gp->madeByJ || gp->nodes.empty() || gp->qualname.find("while_body.bprop") == std::string::npos) continue;
    ++bodies;
    EXPECT_TRUE(gp->freeVars.empty()) << gp->qualname;
    EXPECT_EQ(countPrim(gp.get(), Prim::GetItemBwd), 0u) << gp->qualname;
    EXPECT_EQ(countPrim(gp.get(), Prim::CtIndex), 4u) << gp->qualname;  // ct of the carry, then its three items
  }
  EXPECT_GE(bodies, 1u);
  std::vector<std::string> errors = ir::verifyModule(*m);
  EXPECT_TRUE(errors.empty()) << errors[0];
}
