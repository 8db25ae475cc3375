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

}  // namespace
}  // namespace msl
