// runtime/AbstractOf: the abstract value of run-time values, as signatures use them.
#include <gtest/gtest.h>

#include "ir/IR.h"
#include "runtime/AbstractOf.h"

namespace msl {
namespace {

using ir::Abstract;

std::string ty(const Value& v) { return ir::toString(abstractOf(v)); }

Value tensorValue(DType dt, Shape shape) { return makeTensor(Tensor::zeros(dt, shape)); }

TEST(AbstractOf, Scalars) {
  EXPECT_EQ(ty(Value::integer(3)), "i64");  // Python numbers are dynamic
  EXPECT_EQ(ty(Value::real(0.5)), "f64");
  EXPECT_EQ(ty(Value::boolean(true)), "bool");
  EXPECT_EQ(ty(Value::none()), "None");
  EXPECT_EQ(ty(makeStr("relu")), "str='relu'");  // strings are static
  EXPECT_EQ(ty(makeStr(std::string(kMaxStaticStr + 1, 'x'))), "str");
  EXPECT_EQ(ty(Value::dtype(DType::BF16)), "dtype=bf16");
  EXPECT_EQ(ty(Value::prim((int)Prim::Relu)), "prim relu");
  EXPECT_EQ(ty(Value::token()), "state");
}

TEST(AbstractOf, TensorsAndContainers) {
  EXPECT_EQ(ty(tensorValue(DType::F32, {2, 3})), "f32[2,3]");
  EXPECT_EQ(ty(tensorValue(DType::I64, {})), "i64[]");
  EXPECT_EQ(abstractOf(tensorValue(DType::F32, {2, 3})), abstractOf(tensorValue(DType::F32, {2, 3})));
  EXPECT_EQ(ty(makeTuple({Value::integer(1), makeStr("a")})), "(i64, str='a')");
  EXPECT_EQ(ty(makeList({tensorValue(DType::F32, {2})})), "[f32[2]]");
  std::vector<Value> many(kMaxStructural + 1, tensorValue(DType::F32, {4}));
  EXPECT_EQ(ty(makeList(many)), "[f32[4], ...]");
  many.push_back(makeStr("x"));
  EXPECT_EQ(ty(makeList(many)), "[Any, ...]");
  Value d = makeDict();
  d.as<DictObj>()->set(makeStr("w"), tensorValue(DType::F32, {3, 2}));
  d.as<DictObj>()->set(makeStr("b"), tensorValue(DType::F32, {2}));
  EXPECT_EQ(ty(d), "{'w': f32[3,2], 'b': f32[2]}");
  Value e = makeDict();
  e.as<DictObj>()->set(Value::integer(1), Value::real(1.0));
  EXPECT_EQ(ty(e), "dict[i64, f64]");
  EXPECT_EQ(ty(makeRange(0, 10, 1)), "range(i64, i64, i64)");
  EXPECT_EQ(ty(makeSlice(Value::none(), Value::integer(2), Value::none())), "slice(None, i64, None)");
}

TEST(AbstractOf, RecordsClassesAndClosures) {
  ir::Module m("t", nullptr);
  ir::Graph* g = m.newGraph("forward", nullptr, {});
  m.newParam(g, "self", {});
  m.newParam(g, "x", {});
  auto* cls = new ClassObj;
  cls->name = "Dense";
  cls->fields = {"w", "b"};
  cls->hasDefault = {false, true};
  cls->defaults = {Value::none(), Value::none()};
  auto* fn = new ClosureObj;
  fn->graph = g;
  fn->defaults = {Value::undef(), Value::real(1.0)};
  cls->methods.push_back({"forward", Value::object(fn)});
  Value clsv = Value::object(cls);
  auto* rec = new RecordObj;
  rec->cls = clsv;
  rec->fields = {tensorValue(DType::F32, {784, 256}), tensorValue(DType::F32, {256})};
  Value r = Value::object(rec);
  const Abstract* a = abstractOf(r);
  EXPECT_EQ(ir::toString(a), "Dense{w: f32[784,256], b: f32[256]}");
  ASSERT_EQ(a->ref->kind, ir::AKind::Class);
  const Abstract* method = a->ref->method("forward");
  ASSERT_NE(method, nullptr);
  EXPECT_EQ(method->graph, g);
  ASSERT_EQ(method->defaults.size(), 2u);
  EXPECT_EQ(method->defaults[0], nullptr);
  EXPECT_EQ(method->defaults[1], Abstract::real());
  EXPECT_EQ(a->ref->elems[0], nullptr);
  EXPECT_EQ(a->ref->elems[1], Abstract::none());
  // Equal values of the same class give the same abstract.
  auto* rec2 = new RecordObj;
  rec2->cls = clsv;
  rec2->fields = rec->fields;
  EXPECT_EQ(abstractOf(Value::object(rec2)), a);
}

// appendSignature (the interpreter's call cache, docs/graph_mode.md "Closure calls"): two
// values with the same signature have the same abstract; values of the same abstract
// that a loop passes again (same dtypes and shapes, scalars of the same kind, equal
// strings) have the same signature.
TEST(AbstractOf, SignaturesDecideAbstracts) {
  ir::Module m("t", nullptr);
  ir::Graph* g1 = m.newGraph("f", nullptr, {});
  ir::Graph* g2 = m.newGraph("g", nullptr, {});
  auto closure = [](ir::Graph* g, std::vector<Value> captured, std::vector<Value> defaults) {
    auto* c = new ClosureObj;
    c->graph = g;
    c->captured = std::move(captured);
    c->defaults = std::move(defaults);
    return Value::object(c);
  };
  auto cls = [](std::string name) {
    auto* c = new ClassObj;
    c->name = std::move(name);
    c->fields = {"w"};
    c->hasDefault = {false};
    c->defaults = {Value::none()};
    return Value::object(c);
  };
  Value a = cls("A"), a2 = cls("A"), b = cls("B");  // a2: another class object, an equal abstract
  auto record = [](Value c, Value w) {
    auto* r = new RecordObj;
    r->cls = std::move(c);
    r->fields = {std::move(w)};
    return Value::object(r);
  };
  auto dict = [](std::vector<std::pair<std::string, Value>> kv) {
    Value d = makeDict();
    for (auto& [k, v] : kv) d.as<DictObj>()->set(makeStr(k), v);
    return d;
  };
  auto partial = [](Value f, std::vector<Value> args, std::vector<std::pair<std::string, Value>> kw) {
    auto* p = new PartialObj;
    p->func = std::move(f);
    p->args = std::move(args);
    p->kwargs = std::move(kw);
    return Value::object(p);
  };
  Value t23 = tensorValue(DType::F32, {2, 3});
  std::string longStr(kMaxStaticStr + 1, 'x');
  std::vector<Value> values = {
      Value::integer(1), Value::integer(2), Value::real(1.0), Value::boolean(true), Value::none(), Value::undef(),
      Value::token(), Value::dtype(DType::F32), Value::dtype(DType::BF16), Value::prim((int)Prim::Relu),
      Value::prim((int)Prim::Add), makeStr("a"), makeStr("b"), makeStr(""), makeStr(longStr),
      makeStr(longStr + "y"), t23, tensorValue(DType::F32, {2, 3}), tensorValue(DType::F32, {3, 2}),
      tensorValue(DType::F32, {6}), tensorValue(DType::I32, {2, 3}), tensorValue(DType::F32, {}),
      makeTuple({}), makeList({}), makeTuple({Value::integer(1), makeStr("a")}), makeTuple({Value::integer(1), makeStr("b")}),
      makeTuple({Value::integer(7), makeStr("a")}), makeList({Value::integer(1), makeStr("a")}),
      makeTuple({makeTuple({Value::integer(1)})}), makeTuple({Value::integer(1), Value::integer(1)}),
      dict({{"w", t23}}), dict({{"b", t23}}), dict({{"w", Value::integer(1)}}), dict({{"w", t23}, {"b", t23}}),
      dict({{"b", t23}, {"w", t23}}), a, a2, b, record(a, t23), record(a, tensorValue(DType::F32, {2, 3})),
      record(a2, t23), record(b, t23), record(a, Value::integer(1)), closure(g1, {}, {}),
      closure(g1, {Value::integer(3)}, {}), closure(g1, {Value::real(3)}, {}), closure(g2, {Value::integer(3)}, {}),
      closure(g1, {}, {Value::undef(), Value::integer(1)}), closure(g1, {}, {Value::integer(1), Value::undef()}),
      partial(Value::prim((int)Prim::Add), {Value::integer(1)}, {}), partial(Value::prim((int)Prim::Add), {}, {{"x", Value::integer(1)}}),
      partial(Value::prim((int)Prim::Add), {}, {{"y", Value::integer(1)}}),
      makeSlice(Value::none(), Value::integer(2), Value::none()), makeSlice(Value::integer(2), Value::none(), Value::none()),
      makeRange(0, 10, 1), makeRange(0, 5, 2)};
  auto* bm = new BoundMethodObj;
  bm->self = record(a, t23);
  bm->func = closure(g1, {}, {});
  values.push_back(Value::object(bm));
  for (bool eager : {false, true}) {
    std::vector<std::vector<uint64_t>> sigs(values.size());
    for (size_t i = 0; i < values.size(); ++i) ASSERT_TRUE(appendSignature(values[i], eager, sigs[i])) << i;
    auto abs = [&](const Value& v) { return eager && v.is(VKind::Str) ? Abstract::str() : abstractOf(v); };
    for (size_t i = 0; i < values.size(); ++i)
      for (size_t j = 0; j < values.size(); ++j)
        if (sigs[i] == sigs[j])
          EXPECT_EQ(abs(values[i]), abs(values[j])) << i << " " << j << " " << ir::toString(abs(values[i])) << " vs "
                                                    << ir::toString(abs(values[j]));
    auto same = [&](size_t i, size_t j) { return sigs[i] == sigs[j]; };
    EXPECT_TRUE(same(0, 1));     // ints
    EXPECT_FALSE(same(0, 2));    // int, float
    EXPECT_TRUE(same(16, 17));   // f32[2,3] twice
    EXPECT_FALSE(same(16, 18));  // f32[2,3], f32[3,2]
    EXPECT_TRUE(same(14, 15));   // long strings: str
    EXPECT_EQ(same(11, 12), eager);  // "a", "b": the same at the top of a call's signature only
    EXPECT_FALSE(same(24, 25));  // (1, "a"), (1, "b"): nested strings keep their bytes
    EXPECT_TRUE(same(24, 26));   // (1, "a"), (7, "a")
    EXPECT_TRUE(same(38, 39));   // records of one class, equal shapes
    EXPECT_FALSE(same(38, 40));  // another class object (an equal abstract: a miss, not an error)
  }
  // Kept alive: the classes a signature names.
  std::vector<uint64_t> sig;
  std::vector<Value> keep;
  ASSERT_TRUE(appendSignature(values[38], true, sig, &keep));
  ASSERT_EQ(keep.size(), 1u);
  EXPECT_EQ(keep[0].obj(), a.obj());
  // Not described: containers of more than kMaxStructural items (homogeneous abstracts),
  // dicts with other keys.
  std::vector<Value> many(kMaxStructural + 1, Value::integer(1));
  sig.clear();
  EXPECT_FALSE(appendSignature(makeList(many), true, sig));
  Value e = makeDict();
  e.as<DictObj>()->set(Value::integer(1), Value::real(1.0));
  sig.clear();
  EXPECT_FALSE(appendSignature(e, true, sig));
  sig.clear();
  EXPECT_FALSE(appendSignature(makeTuple({makeList(many)}), true, sig));
}

}  // namespace
}  // namespace msl
