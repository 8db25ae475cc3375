// Type and shape inference over hand-built graphs: promotion through calls, symbolic
// dimensions from a boolean mask and from a loop, switch joins, recursion, closures,
// keyword arguments, records, globals, and recorded errors.
#include <gtest/gtest.h>

#include "IrTestUtil.h"
#include "ir/Infer.h"

namespace msl::ir {
namespace {

using namespace test;

std::string valueOf(InferContext* c, const Node* n) {
  auto it = c->values.find(n);
  return it == c->values.end() ? "<none>" : toString(it->second);
}

TEST(Infer, StraightLineCode) {
  Builder b;
  Graph* f = b.function("f", {"x", "y"});
  Node* m = b.prim(f, Prim::Mul, {b.param(f, 1), b.m.constFloat(2.0)});
  f->output = b.prim(f, Prim::Add, {b.param(f, 0), m});
  b.finish();
  Inferencer inf;
  InferContext* c = inf.infer(f, {f32({2, 3}), tensor(DType::I32, {3})}, {});
  EXPECT_EQ(toString(c->result), "f32[2,3]");
  EXPECT_EQ(valueOf(c, m), "f32[3]");
  EXPECT_TRUE(c->errors.empty());
}

TEST(Infer, BooleanMaskGivesASymbolThatFlowsDownstream) {
  Builder b;
  Graph* f = b.function("f", {"x", "m"});
  Node* sel = b.prim(f, Prim::GetItem, {b.param(f, 0), b.param(f, 1)});
  Node* y = b.prim(f, Prim::Add, {sel, b.m.constFloat(1.0)});
  Node* s = b.prim(f, Prim::TensorSum, {y, b.m.constInt(0)}, {"axis"});
  Node* n = b.tupleItem(f, b.prim(f, Prim::Shape, {y}), 0);
  Node* z = b.prim(f, Prim::Zeros, {b.prim(f, Prim::MakeTuple, {n, b.m.constInt(2)})});
  f->output = b.prim(f, Prim::MakeTuple, {y, s, z});
  b.finish();
  Inferencer inf;
  InferContext* c = inf.infer(f, {f32({5, 3}), tensor(DType::Bool, {5})}, {});
  A sv = c->values[sel];
  ASSERT_TRUE(sv->isTensor() && sv->rankKnown);
  Dim k = sv->shape[0];
  EXPECT_TRUE(k.isSymbol());
  EXPECT_EQ(c->values[y], sv);
  EXPECT_EQ(toString(c->values[s]), "f32[3]");
  EXPECT_EQ(c->values[n], Abstract::intDim(k));
  EXPECT_EQ(c->values[z], Abstract::tensor(DType::F32, {k, Dim::of(2)}));
}

// while i < n: x = concat([x, x0]); i = i + 1
TEST(Infer, WhileLoopWidensAGrowingDimensionToASymbol) {
  Builder b;
  Graph* f = b.function("f", {"x0", "n"});
  Graph* cond = b.graph("while_cond", {"carry"}, f);
  cond->output = b.prim(cond, Prim::Lt, {b.tupleItem(cond, b.param(cond, 0), 0), b.param(f, 1)});
  Graph* body = b.graph("while_body", {"carry"}, f);
  Node* i = b.tupleItem(body, b.param(body, 0), 0);
  Node* t = b.tupleItem(body, b.param(body, 0), 1);
  Node* t2 = b.prim(body, Prim::Concat, {b.prim(body, Prim::MakeList, {t, b.param(f, 0)})});
  Node* next = b.prim(body, Prim::MakeTuple, {b.prim(body, Prim::Add, {i, b.m.constInt(1)}), t2});
  body->output = b.prim(body, Prim::MakeTuple, {b.m.constBool(true), next});
  Node* init = b.prim(f, Prim::MakeTuple, {b.m.constInt(0), b.param(f, 0)});
  Node* loop = b.prim(f, Prim::WhileLoop, {b.closure(cond), b.closure(body), init});
  Node* count = b.tupleItem(f, loop, 0);
  Node* out = b.tupleItem(f, loop, 1);
  f->output = b.prim(f, Prim::MakeTuple, {count, out});
  b.finish();
  Inferencer inf;
  InferContext* c = inf.infer(f, {f32({1, 3}), Abstract::integer()}, {});
  EXPECT_EQ(toString(c->values[count]), "i64");
  A o = c->values[out];
  ASSERT_TRUE(o->isTensor() && o->rankKnown && o->rank() == 2);
  EXPECT_TRUE(o->shape[0].isSymbol());
  EXPECT_EQ(o->shape[1], Dim::of(3));
  // The body's final context sees the widened carry: the same symbol.
  ASSERT_EQ(c->callees[loop].size(), 2u);
  InferContext* bc = c->callees[loop][1];
  EXPECT_EQ(bc->graph, body);
  EXPECT_EQ(bc->values[t], o);
}

// for item in xs: l.append(item * 2.0)
TEST(Infer, ScanOverATensorBuildsAListOfUnknownLength) {
  Builder b;
  Graph* f = b.function("f", {"xs"});
  Graph* body = b.graph("for_body", {"carry", "item"}, f);
  Node* l = b.tupleItem(body, b.param(body, 0), 0);
  Node* l2 = b.prim(body, Prim::ListAppendLocal, {l, b.prim(body, Prim::Mul, {b.param(body, 1), b.m.constFloat(2.0)})});
  body->output = b.prim(body, Prim::MakeTuple, {b.m.constBool(true), b.prim(body, Prim::MakeTuple, {l2})});
  Node* init = b.prim(f, Prim::MakeTuple, {b.prim(f, Prim::MakeList, {})});
  Node* loop = b.prim(f, Prim::Scan, {b.closure(body), b.param(f, 0), init});
  f->output = b.tupleItem(f, loop, 0);
  b.finish();
  Inferencer inf;
  InferContext* c = inf.infer(f, {f32({4, 2})}, {});
  EXPECT_EQ(toString(c->result), "[f32[2], ...]");
}

TEST(Infer, SwitchJoinsBranchesAndPrunesConstantConditions) {
  Builder b;
  Graph* f = b.function("f", {"c", "x"});
  Graph* yes = b.graph("if_true", {}, f);
  yes->output = b.prim(yes, Prim::MakeTuple, {b.param(f, 1)});
  Graph* no = b.graph("if_false", {}, f);
  no->output = b.prim(no, Prim::MakeTuple, {b.prim(no, Prim::Zeros, {b.m.constInt(4)})});
  Node* v = b.tupleItem(f, b.ifElse(f, b.param(f, 0), yes, no), 0);
  f->output = v;
  b.finish();
  Inferencer inf;
  A r = inf.infer(f, {Abstract::boolean(), f32({3})}, {})->result;
  ASSERT_TRUE(r->isTensor() && r->rankKnown);
  EXPECT_TRUE(r->shape[0].isSymbol());
  EXPECT_EQ(inf.infer(f, {Abstract::boolConst(true), f32({3})}, {})->result, f32({3}));
  EXPECT_EQ(inf.infer(f, {Abstract::boolConst(false), f32({3})}, {})->result, f32({4}));
}

// def fact(n): return 1 if n <= 1 else n * fact(n - 1)
TEST(Infer, RecursionReachesAFixpoint) {
  Builder b;
  Graph* fact = b.function("fact", {"n"});
  Graph* base = b.graph("if_true", {}, fact);
  base->output = b.m.constInt(1);
  Graph* rec = b.graph("if_false", {}, fact);
  Node* sub = b.prim(rec, Prim::Sub, {b.param(fact, 0), b.m.constInt(1)});
  rec->output = b.prim(rec, Prim::Mul, {b.param(fact, 0), b.call(rec, b.closure(fact), {sub})});
  fact->output = b.ifElse(fact, b.prim(fact, Prim::Le, {b.param(fact, 0), b.m.constInt(1)}), base, rec);
  b.finish();
  Inferencer inf;
  EXPECT_EQ(toString(inf.infer(fact, {Abstract::integer()}, {})->result), "i64");
  // A constant argument is widened at the recursive call: still one context per type.
  EXPECT_EQ(toString(inf.infer(fact, {ic(5)}, {})->result), "i64");
}

// def total(x): return x.sum() if x.size == 0 else x[0] + total(x[1:])
TEST(Infer, RecursionOverAShrinkingTensorWidensItsArgument) {
  Builder b;
  Graph* total = b.function("total", {"x"});
  Node* x = b.param(total, 0);
  Graph* base = b.graph("if_true", {}, total);
  base->output = b.prim(base, Prim::TensorSum, {x});
  Graph* rec = b.graph("if_false", {}, total);
  Node* rest = b.prim(rec, Prim::GetItem,
                      {x, b.prim(rec, Prim::MakeSlice, {b.m.constInt(1), b.m.constNone(), b.m.constNone()})});
  Node* head = b.prim(rec, Prim::GetItem, {x, b.m.constInt(0)});
  Node* call = b.call(rec, b.closure(total), {rest});
  rec->output = b.prim(rec, Prim::Add, {head, call});
  Node* empty = b.prim(total, Prim::Eq, {b.prim(total, Prim::Size, {x}), b.m.constInt(0)});
  total->output = b.ifElse(total, empty, base, rec);
  b.finish();
  Inferencer inf;
  InferContext* c = inf.infer(total, {f32({5})}, {});
  EXPECT_EQ(toString(c->result), "f32[]");
  EXPECT_TRUE(c->errors.empty());
}

TEST(Infer, ClosuresKeywordsAndDefaults) {
  Builder b;
  Graph* outer = b.function("outer", {"x"});
  Node* x = b.param(outer, 0);
  Graph* inner = b.function("inner", {"y", "scale"}, outer);
  inner->defaults[1] = b.m.constFloat(2.0);
  inner->output = b.prim(inner, Prim::Mul, {b.prim(inner, Prim::Add, {x, b.param(inner, 0)}), b.param(inner, 1)});
  Node* byDefault = b.call(outer, b.closure(inner), {b.m.constFloat(1.0)});
  Node* byKeyword = b.call(outer, b.closure(inner), {b.m.constFloat(1.0), x}, {"scale"});
  Node* tooMany = b.call(outer, b.closure(inner), {x, x, x});
  outer->output = b.prim(outer, Prim::MakeTuple, {byDefault, byKeyword, tooMany});
  b.finish();
  ASSERT_EQ(inner->freeVars.size(), 1u);
  Inferencer inf;
  InferContext* c = inf.infer(outer, {tensor(DType::F16, {2})}, {});
  EXPECT_EQ(valueOf(c, byDefault), "f16[2]");
  EXPECT_EQ(valueOf(c, byKeyword), "f16[2]");
  EXPECT_EQ(valueOf(c, tooMany), "Bottom");
  ASSERT_EQ(c->errors.size(), 1u);
  EXPECT_EQ(c->errors[0].first, tooMany);
  EXPECT_EQ(c->errors[0].second.message, "inner() takes from 1 to 2 positional arguments but 3 were given");
  EXPECT_EQ(c->errors[0].second.loc.line, tooMany->loc.line);
}

TEST(Infer, ErrorsAreRecordedOnTheNodeAndItsValueIsBottom) {
  Builder b;
  Graph* f = b.function("f", {"x", "y"});
  Node* bad = b.prim(f, Prim::Add, {b.param(f, 0), b.param(f, 1)});
  Node* after = b.prim(f, Prim::Mul, {bad, b.m.constFloat(2.0)});
  f->output = after;
  b.finish();
  Inferencer inf;
  InferContext* c = inf.infer(f, {f32({2}), f32({3})}, {});
  EXPECT_EQ(valueOf(c, bad), "Bottom");
  EXPECT_EQ(valueOf(c, after), "Bottom");
  ASSERT_EQ(c->errors.size(), 1u);
  EXPECT_EQ(c->errors[0].second.id, DiagId::ShapeMismatch);
  EXPECT_EQ(c->errors[0].second.message, "shapes (2,) and (3,) cannot be broadcast together for +");
  EXPECT_EQ(c->errors[0].second.loc.line, bad->loc.line);
}

TEST(Infer, RecordsMethodsAndCallableInstances) {
  Builder b;
  // class Dense: w, b; def __call__(self, x): return x @ self.w + self.b
  Graph* call = b.function("__call__", {"self", "x"});
  Node* self = b.param(call, 0);
  Node* w = b.prim(call, Prim::GetAttr, {self, b.m.constStr("w")});
  Node* bias = b.prim(call, Prim::GetAttr, {self, b.m.constStr("b")});
  call->output = b.prim(call, Prim::Add, {b.prim(call, Prim::MatMul, {b.param(call, 1), w}), bias});
  // def run(m, x): return m(x), m.__call__(x), m.w.sum(axis=0)
  Graph* run = b.function("run", {"m", "x"});
  Node* direct = b.call(run, b.param(run, 0), {b.param(run, 1)});
  Node* method = b.prim(run, Prim::MethodCall, {b.m.constStr("__call__"), b.param(run, 0), b.param(run, 1)});
  Node* wsum = b.prim(run, Prim::MethodCall,
                      {b.m.constStr("sum"), b.prim(run, Prim::GetAttr, {b.param(run, 0), b.m.constStr("w")}),
                       b.m.constInt(0)},
                      {"axis"});
  run->output = b.prim(run, Prim::MakeTuple, {direct, method, wsum});
  b.finish();
  A cls = Abstract::classType("Dense", SourceLoc{}, {"w", "b"}, {nullptr, nullptr}, {"__call__"},
                              {Abstract::function(call, {}, {})});
  A model = Abstract::record(cls, {f32({784, 10}), f32({10})});
  Dim batch = Dim::fresh();
  Inferencer inf;
  InferContext* c = inf.infer(run, {model, Abstract::tensor(DType::F32, {batch, Dim::of(784)})}, {});
  A y = Abstract::tensor(DType::F32, {batch, Dim::of(10)});
  EXPECT_EQ(c->values[direct], y);
  EXPECT_EQ(c->values[method], y);
  EXPECT_EQ(toString(c->values[wsum]), "f32[10]");
}

TEST(Infer, MethodsOfBuiltinValues) {
  Builder b;
  Graph* f = b.function("f", {"l", "x"});
  auto method = [&](Prim p, const char* name, std::vector<Node*> args) {
    args.insert(args.begin(), b.m.constStr(name));
    return b.prim(f, p, args);
  };
  Node* appended = method(Prim::MethodUpdate, "append", {b.param(f, 0), b.m.constFloat(1.0)});
  Node* counted = method(Prim::MethodUpdate, "count", {appended, b.m.constFloat(1.0)});
  Node* inExpr = method(Prim::MethodCall, "append", {b.param(f, 0), b.m.constFloat(1.0)});
  Node* shape = method(Prim::MethodCall, "shape", {b.param(f, 1)});
  Node* reshaped = method(Prim::MethodCall, "reshape", {b.param(f, 1), b.m.constInt(3), b.m.constInt(-1)});
  f->output = b.prim(f, Prim::MakeTuple, {appended, counted, inExpr, shape, reshaped});
  b.finish();
  Inferencer inf;
  InferContext* c = inf.infer(f, {Abstract::list({}), f32({6, 2})}, {});
  EXPECT_EQ(valueOf(c, appended), "[f64=1.0]");
  EXPECT_EQ(valueOf(c, counted), "[f64=1.0]");  // a statement leaves the receiver as it was
  EXPECT_EQ(valueOf(c, reshaped), "f32[3,4]");
  ASSERT_EQ(c->errors.size(), 2u);
  EXPECT_EQ(c->errors[0].second.message,
            "'list.append()' updates the list: use it as a statement (`x.append(...)`), which rebinds the variable");
  EXPECT_EQ(c->errors[1].second.message, "'tuple' object is not callable");
}

TEST(Infer, GlobalsComeFromTheHook) {
  Builder b;
  Graph* sq = b.function("sq", {"x"});
  sq->output = b.prim(sq, Prim::Mul, {b.param(sq, 0), b.param(sq, 0)});
  Graph* f = b.function("f", {"x"});
  GlobalVar* gv = b.m.global("sq");
  f->output = b.call(f, b.globalGet(f, gv), {b.param(f, 0)});
  b.finish();
  InferHooks hooks;
  hooks.globalValue = [&](const GlobalVar* g) { return g == gv ? Abstract::function(sq, {}, {}) : nullptr; };
  Inferencer inf(hooks);
  EXPECT_EQ(toString(inf.infer(f, {i64({3})}, {})->result), "i64[3]");
  Inferencer blind;
  EXPECT_EQ(toString(blind.infer(f, {i64({3})}, {})->result), "Any");
}

TEST(Check, ReportsDefiniteErrorsOfTheTopLevelInOrder) {
  Builder b;
  Node* state = b.m.newConst(ConstKind::Token);
  GlobalVar* gx = b.m.global("x");
  // x = zeros((2, 3))
  Graph* s1 = b.graph("<module>", {});
  Node* z = b.prim(s1, Prim::Zeros, {b.prim(s1, Prim::MakeTuple, {b.m.constInt(2), b.m.constInt(3)})});
  s1->output = b.prim(s1, Prim::GlobalSet, {state, b.globalSlot(gx), z});
  // x + ones(4)
  Graph* s2 = b.graph("<module>", {});
  Node* bad = b.prim(s2, Prim::Add, {b.globalGet(s2, gx, state),
                                     b.prim(s2, Prim::Ones, {b.m.constInt(4)})});
  s2->output = bad;
  b.m.statements = {s1, s2};
  b.finish();
  std::vector<Diagnostic> errors = checkModule(b.m);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "shapes (2, 3) and (4,) cannot be broadcast together for +");
  EXPECT_EQ(errors[0].loc.line, bad->loc.line);
}

}  // namespace
}  // namespace msl::ir
