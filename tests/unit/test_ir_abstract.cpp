// Abstract values: interning, text form, join and widening.
#include <gtest/gtest.h>

#include "IrTestUtil.h"

namespace msl::ir {
namespace {

using namespace test;

TEST(Abstract, InternedValuesCompareByPointer) {
  EXPECT_EQ(f32({2, 3}), f32({2, 3}));
  EXPECT_NE(f32({2, 3}), f32({3, 2}));
  EXPECT_NE(f32({2}), i64({2}));
  EXPECT_EQ(Abstract::tuple({ic(1), str("a")}), Abstract::tuple({ic(1), str("a")}));
  EXPECT_NE(Abstract::tuple({ic(1)}), Abstract::list({ic(1)}));
  EXPECT_NE(Abstract::integer(), ic(0));
  EXPECT_EQ(Abstract::intDim(Dim::of(4)), ic(4));
  EXPECT_NE(Abstract::floatConst(0.0), Abstract::floatConst(-0.0));
}

TEST(Abstract, TextForm) {
  Dim s = Dim::fresh();
  EXPECT_EQ(toString(f32({2, 3})), "f32[2,3]");
  EXPECT_EQ(toString(Abstract::tensor(DType::F32, {s, Dim::of(784)})), "f32[" + s.str() + ",784]");
  EXPECT_EQ(s.str()[0], '?');
  EXPECT_EQ(toString(f32({})), "f32[]");
  DType bf = DType::BF16;
  EXPECT_EQ(toString(Abstract::tensorOf(&bf, nullptr)), "bf16[...]");
  Dims two = dims({2});
  EXPECT_EQ(toString(Abstract::tensorOf(nullptr, &two)), "Tensor[2]");
  EXPECT_EQ(toString(Abstract::tuple({Abstract::integer(), Abstract::str()})), "(i64, str)");
  EXPECT_EQ(toString(Abstract::tuple({ic(1)})), "(i64=1,)");
  EXPECT_EQ(toString(Abstract::listOf(Abstract::real())), "[f64, ...]");
  EXPECT_EQ(toString(Abstract::dict({"w"}, {f32({3})})), "{'w': f32[3]}");
  EXPECT_EQ(toString(Abstract::dictOf(Abstract::str(), Abstract::integer())), "dict[str, i64]");
  EXPECT_EQ(toString(Abstract::boolConst(true)), "bool=True");
  EXPECT_EQ(toString(Abstract::floatConst(0.5)), "f64=0.5");
  EXPECT_EQ(toString(Abstract::dtypeConst(DType::I32)), "dtype=i32");
  EXPECT_EQ(toString(Abstract::intDim(s)), "i64=" + s.str());
  EXPECT_EQ(toString(Abstract::none()), "None");
  EXPECT_EQ(toString(Abstract::token()), "state");
  EXPECT_EQ(toString(Abstract::primitive(Prim::Add)), "prim add");
  A cls = Abstract::classType("Dense", SourceLoc{}, {"w", "b"}, {nullptr, nullptr}, {}, {});
  EXPECT_EQ(toString(Abstract::record(cls, {f32({784, 256}), f32({256})})), "Dense{w: f32[784,256], b: f32[256]}");
  EXPECT_EQ(dimsStr(dims({2, 3})), "(2, 3)");
  EXPECT_EQ(dimsStr(dims({5})), "(5,)");
  EXPECT_EQ(dimsStr(dims({})), "()");
}

TEST(Join, ScalarsLoseTheirValues) {
  EXPECT_EQ(join(ic(1), ic(1)), ic(1));
  EXPECT_EQ(join(ic(1), ic(2)), Abstract::integer());
  EXPECT_EQ(join(str("a"), str("b")), Abstract::str());
  EXPECT_EQ(join(Abstract::integer(), Abstract::real()), Abstract::any());
  EXPECT_EQ(join(Abstract::bottom(), f32({2})), f32({2}));
  EXPECT_EQ(join(Abstract::undef(), f32({2})), f32({2}));
  EXPECT_EQ(join(Abstract::any(), f32({2})), Abstract::any());
}

TEST(Join, TensorsWidenDimensionsToSymbols) {
  A j = join(f32({3, 5}), f32({4, 5}));
  ASSERT_TRUE(j->isTensor() && j->rankKnown);
  EXPECT_TRUE(j->shape[0].isSymbol());
  EXPECT_EQ(j->shape[1], Dim::of(5));
  // With a supply, repeating the join (a fixpoint round) gives the same symbol.
  SymbolSupply syms;
  A a = join(f32({3}), f32({4}), &syms);
  syms.restart();
  A b = join(f32({3}), f32({4}), &syms);
  EXPECT_EQ(a, b);
  // Joining the widened value with a new size keeps the symbol: a fixpoint.
  syms.restart();
  EXPECT_EQ(join(a, f32({9}), &syms), a);
  EXPECT_EQ(toString(join(f32({2}), f32({2, 2}))), "f32[...]");
  EXPECT_EQ(toString(join(f32({2}), i64({2}))), "Tensor[2]");
}

TEST(Join, Containers) {
  EXPECT_EQ(join(Abstract::tuple({ic(1), str("a")}), Abstract::tuple({ic(2), str("a")})),
            Abstract::tuple({Abstract::integer(), str("a")}));
  // Lists of different lengths become lists of unknown length.
  EXPECT_EQ(join(Abstract::list({}), Abstract::list({f32({2})})), Abstract::listOf(f32({2})));
  EXPECT_EQ(join(Abstract::listOf(f32({2})), Abstract::list({f32({2}), f32({2})})), Abstract::listOf(f32({2})));
  EXPECT_EQ(join(Abstract::dict({"a"}, {ic(1)}), Abstract::dict({"a"}, {ic(2)})), Abstract::dict({"a"}, {Abstract::integer()}));
  EXPECT_EQ(join(Abstract::dict({}, {}), Abstract::dict({"a"}, {ic(2)})), Abstract::dictOf(Abstract::str(), ic(2)));
}

TEST(Join, CallablesFormUnions) {
  Module m("t", nullptr);
  Graph* f = m.newGraph("f", nullptr, {});
  Graph* g = m.newGraph("g", nullptr, {});
  A ff = Abstract::function(f, {}, {});
  A gg = Abstract::function(g, {}, {});
  A u = join(ff, gg);
  ASSERT_EQ(u->kind, AKind::Union);
  EXPECT_EQ(u->elems.size(), 2u);
  EXPECT_EQ(join(u, ff), u);
  EXPECT_EQ(join(gg, ff), u);
  EXPECT_EQ(toString(u), "function f | function g");
  // The same graph with different captured values joins the captured values.
  EXPECT_EQ(join(Abstract::function(f, {ic(1)}, {}), Abstract::function(f, {ic(2)}, {})),
            Abstract::function(f, {Abstract::integer()}, {}));
  EXPECT_EQ(join(ff, ic(1)), Abstract::any());
}

TEST(Widening, DynamicScalars) {
  A t = Abstract::tuple({ic(3), Abstract::floatConst(0.1), Abstract::boolConst(true), str("relu"), f32({2}),
                         Abstract::none(), Abstract::dtypeConst(DType::F64)});
  EXPECT_EQ(toString(dynamicScalars(t)), "(i64, f64, bool, str='relu', f32[2], None, dtype=f64)");
  EXPECT_EQ(dynamicScalars(Abstract::intDim(Dim::fresh())), Abstract::integer());
  A already = Abstract::tuple({Abstract::integer(), f32({2})});
  EXPECT_EQ(dynamicScalars(already), already);
}

TEST(Abstract, IterationItems) {
  EXPECT_EQ(iterItem(f32({5, 3})), f32({3}));
  EXPECT_EQ(iterItem(f32({})), nullptr);
  EXPECT_EQ(iterItem(Abstract::list({ic(1), ic(2)})), Abstract::integer());
  EXPECT_EQ(iterItem(Abstract::range(ic(0), ic(3), ic(1))), Abstract::integer());
  EXPECT_EQ(iterItem(Abstract::dict({"a"}, {f32({1})})), Abstract::str());
  EXPECT_EQ(iterItem(Abstract::integer()), nullptr);
}

}  // namespace
}  // namespace msl::ir
