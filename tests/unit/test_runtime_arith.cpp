// Tests of the Value-level operators: Python semantics on scalars (expected values from
// Python 3.11), strings and sequences, comparisons, errors, and tensors through the
// operators (promotion, broadcasting, in-place reuse, per-op overhead).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "runtime/Print.h"
#include "runtime_tensor_test_util.h"

namespace msl {
namespace {

using namespace msl::test;

Value call(Prim p, std::vector<Value> pos) {
  static PrimContext cx;
  return callPrim(cx, p, std::move(pos));
}
Value B(bool b) { return Value::boolean(b); }
std::string R(const Value& v) { return reprOf(v); }

TEST(Arith, IntegersFollowPython) {
  struct { int64_t a, b, fd, md; } cases[] = {{7, 2, 3, 1}, {-7, 2, -4, 1}, {7, -2, -4, -1}, {-7, -2, 3, -1}, {0, -3, 0, 0}};
  for (auto c : cases) {
    EXPECT_EQ(call(Prim::FloorDiv, {I(c.a), I(c.b)}).asInt(), c.fd);
    EXPECT_EQ(call(Prim::Mod, {I(c.a), I(c.b)}).asInt(), c.md);
  }
  EXPECT_EQ(R(call(Prim::Div, {I(7), I(2)})), "3.5");
  EXPECT_EQ(R(call(Prim::Div, {I((1LL << 53) + 1), I(1)})), "9007199254740992.0");
  EXPECT_EQ(R(call(Prim::Pow, {I(2), I(10)})), "1024");
  EXPECT_EQ(R(call(Prim::Pow, {I(2), I(-1)})), "0.5");
  EXPECT_EQ(R(call(Prim::Pow, {I(-2), I(63)})), "-9223372036854775808");
  EXPECT_EQ(R(call(Prim::Add, {B(true), B(true)})), "2");
  EXPECT_EQ(R(call(Prim::Mul, {B(true), F(2.5)})), "2.5");
  EXPECT_EQ(R(call(Prim::BitAnd, {B(true), B(false)})), "False");
  EXPECT_EQ(R(call(Prim::BitXor, {I(6), B(true)})), "7");
  EXPECT_EQ(R(call(Prim::BitOr, {I(4), I(1)})), "5");
  EXPECT_EQ(R(call(Prim::Neg, {B(true)})), "-1");
  EXPECT_EQ(R(call(Prim::Pos, {B(true)})), "1");
  EXPECT_EQ(R(call(Prim::Invert, {B(true)})), "-2");
  EXPECT_EQ(R(call(Prim::Invert, {I(5)})), "-6");
  EXPECT_EQ(R(call(Prim::Mod, {I(INT64_MIN), I(-1)})), "0");
}

TEST(Arith, IntegerErrors) {
  EXPECT_EQ(errorOf([] { call(Prim::Add, {I(INT64_MAX), I(1)}); }), "integer overflow in +");
  EXPECT_EQ(errorOf([] { call(Prim::Sub, {I(INT64_MIN), I(1)}); }), "integer overflow in -");
  EXPECT_EQ(errorOf([] { call(Prim::Mul, {I(1LL << 40), I(1LL << 40)}); }), "integer overflow in *");
  EXPECT_EQ(errorOf([] { call(Prim::Pow, {I(2), I(63)}); }), "integer overflow in **");
  EXPECT_EQ(errorOf([] { call(Prim::FloorDiv, {I(INT64_MIN), I(-1)}); }), "integer overflow in //");
  EXPECT_EQ(errorOf([] { call(Prim::Neg, {I(INT64_MIN)}); }), "integer overflow in unary -");
  EXPECT_EQ(errorOf([] { call(Prim::Div, {I(1), I(0)}); }), "division by zero");
  EXPECT_EQ(errorOf([] { call(Prim::FloorDiv, {I(1), I(0)}); }), "integer division or modulo by zero");
  EXPECT_EQ(errorOf([] { call(Prim::Mod, {I(1), B(false)}); }), "integer modulo by zero");
  EXPECT_EQ(errorOf([] { call(Prim::Pow, {I(0), I(-1)}); }), "0.0 cannot be raised to a negative power");
}

TEST(Arith, FloatsFollowPython) {
  struct { double a, b; const char *fd, *md; } cases[] = {
      {7.5, 2.0, "3.0", "1.5"},      {-7.5, 2.0, "-4.0", "0.5"},    {7.5, -2.0, "-4.0", "-0.5"},
      {-7.5, -2.0, "3.0", "-1.5"},   {0.0, -3.0, "-0.0", "-0.0"},   {-0.0, 3.0, "-0.0", "0.0"},
      {1e308, 1e-308, "inf", "3.498445546245627e-309"}, {-7.0, INFINITY, "-1.0", "inf"},
  };
  for (auto c : cases) {
    EXPECT_EQ(R(call(Prim::FloorDiv, {F(c.a), F(c.b)})), c.fd) << c.a << " // " << c.b;
    EXPECT_EQ(R(call(Prim::Mod, {F(c.a), F(c.b)})), c.md) << c.a << " % " << c.b;
  }
  EXPECT_EQ(R(call(Prim::Div, {F(1e16), I(3)})), "3333333333333333.5");
  EXPECT_EQ(R(call(Prim::Pow, {F(2.0), F(0.5)})), "1.4142135623730951");
  EXPECT_EQ(R(call(Prim::Pow, {F(-8.0), I(3)})), "-512.0");
  EXPECT_EQ(errorOf([] { call(Prim::Div, {F(1.0), I(0)}); }), "float division by zero");
  EXPECT_EQ(errorOf([] { call(Prim::FloorDiv, {F(1.0), F(0.0)}); }), "float floor division by zero");
  EXPECT_EQ(errorOf([] { call(Prim::Mod, {I(1), F(0.0)}); }), "float modulo by zero");
  EXPECT_EQ(errorOf([] { call(Prim::Pow, {F(0.0), F(-1.5)}); }), "0.0 cannot be raised to a negative power");
  EXPECT_EQ(errorOf([] { call(Prim::Pow, {F(-8.0), F(0.5)}); }), "negative number cannot be raised to a fractional power");
  EXPECT_EQ(errorOf([] { call(Prim::Pow, {F(10.0), F(400.0)}); }), "float overflow in **");
  EXPECT_EQ(errorOf([] { call(Prim::BitAnd, {F(1.0), I(1)}); }), "unsupported operand types for &: 'float' and 'int'");
}

TEST(Arith, SequencesAndStrings) {
  EXPECT_EQ(R(call(Prim::Add, {S("ab"), S("cd")})), "'abcd'");
  EXPECT_EQ(R(call(Prim::Mul, {S("ab"), I(3)})), "'ababab'");
  EXPECT_EQ(R(call(Prim::Mul, {I(2), S("x")})), "'xx'");
  EXPECT_EQ(R(call(Prim::Mul, {S("ab"), I(-1)})), "''");
  EXPECT_EQ(R(call(Prim::Add, {L({I(1)}), L({I(2)})})), "[1, 2]");
  EXPECT_EQ(R(call(Prim::Add, {T({I(1)}), T({S("a")})})), "(1, 'a')");
  EXPECT_EQ(R(call(Prim::Mul, {L({I(0)}), I(3)})), "[0, 0, 0]");
  EXPECT_EQ(R(call(Prim::Mul, {T({I(0), I(1)}), B(true)})), "(0, 1)");
  EXPECT_EQ(errorOf([] { call(Prim::Add, {S("a"), I(1)}); }), "unsupported operand types for +: 'str' and 'int'");
  EXPECT_EQ(errorOf([] { call(Prim::Add, {L({}), T({})}); }), "unsupported operand types for +: 'list' and 'tuple'");
  EXPECT_EQ(errorOf([] { call(Prim::Mul, {S("a"), F(2.0)}); }), "unsupported operand types for *: 'str' and 'float'");
  EXPECT_EQ(errorOf([] { call(Prim::Sub, {S("a"), S("a")}); }), "unsupported operand types for -: 'str' and 'str'");
  EXPECT_EQ(errorOf([] { call(Prim::Neg, {S("a")}); }), "bad operand type for unary -: 'str'");
  EXPECT_NE(errorOf([] { call(Prim::Mul, {S("ab"), I(1LL << 40)}); }), "");
  // A consumed list or string is extended in place; a shared one is not changed.
  Value l = L({I(1)});
  Object* obj = l.obj();
  Value args[2] = {std::move(l), L({I(2)})};
  Value r = prim_Add(testContext(), args);
  EXPECT_EQ(r.obj(), obj);
  EXPECT_EQ(R(r), "[1, 2]");
  Value shared = r;
  EXPECT_EQ(R(call(Prim::Add, {r, L({I(3)})})), "[1, 2, 3]");
  EXPECT_EQ(R(shared), "[1, 2]");
  Value s = S("ab");
  Value sargs[2] = {std::move(s), S("c")};
  EXPECT_EQ(R(prim_Add(testContext(), sargs)), "'abc'");
}

TEST(Arith, Comparisons) {
  EXPECT_TRUE(call(Prim::Lt, {I(1), F(1.5)}).asBool());
  EXPECT_FALSE(call(Prim::Eq, {I((1LL << 53) + 1), F(9007199254740992.0)}).asBool());
  EXPECT_TRUE(call(Prim::Gt, {I((1LL << 53) + 1), F(9007199254740992.0)}).asBool());
  EXPECT_TRUE(call(Prim::Lt, {I(INT64_MAX), F(9223372036854775808.0)}).asBool());
  EXPECT_FALSE(call(Prim::Lt, {F(NAN), I(1)}).asBool());
  EXPECT_FALSE(call(Prim::Ge, {F(NAN), F(NAN)}).asBool());
  EXPECT_TRUE(call(Prim::Ne, {F(NAN), F(NAN)}).asBool());
  EXPECT_TRUE(call(Prim::Eq, {B(true), I(1)}).asBool());
  EXPECT_TRUE(call(Prim::Le, {B(false), F(-0.0)}).asBool());
  EXPECT_TRUE(call(Prim::Lt, {S("abc"), S("abd")}).asBool());
  EXPECT_TRUE(call(Prim::Lt, {S("ab"), S("abc")}).asBool());
  EXPECT_TRUE(call(Prim::Lt, {S("z"), S("\xc3\xa9")}).asBool());  // code point order
  EXPECT_TRUE(call(Prim::Lt, {T({I(1), I(2)}), T({I(1), I(3)})}).asBool());
  EXPECT_TRUE(call(Prim::Lt, {L({I(1)}), L({I(1), I(0)})}).asBool());
  EXPECT_TRUE(call(Prim::Ge, {T({I(2)}), T({I(1), I(9)})}).asBool());
  EXPECT_TRUE(call(Prim::Eq, {T({I(1), S("a")}), T({F(1.0), S("a")})}).asBool());
  EXPECT_TRUE(call(Prim::Ne, {L({I(1)}), T({I(1)})}).asBool());
  EXPECT_TRUE(call(Prim::Eq, {Value::none(), Value::none()}).asBool());
  EXPECT_FALSE(call(Prim::Eq, {S("1"), I(1)}).asBool());
  EXPECT_EQ(errorOf([] { call(Prim::Lt, {I(1), S("a")}); }), "unsupported operand types for <: 'int' and 'str'");
  EXPECT_EQ(errorOf([] { call(Prim::Ge, {L({}), T({})}); }), "unsupported operand types for >=: 'list' and 'tuple'");
  EXPECT_EQ(errorOf([] { call(Prim::Lt, {Value::none(), Value::none()}); }),
            "unsupported operand types for <: 'NoneType' and 'NoneType'");
  EXPECT_EQ(errorOf([] { call(Prim::Lt, {T({I(1), S("a")}), T({I(1), I(2)})}); }),
            "unsupported operand types for <: 'str' and 'int'");
}

TEST(Arith, TensorsThroughOperators) {
  Value x = TV(makeT(DType::F32, {3}, {1, 2, 3}));
  EXPECT_EQ(R(call(Prim::Mul, {x, F(2.0)})), "tensor([2., 4., 6.])");
  EXPECT_EQ(R(call(Prim::Add, {I(1), x})), "tensor([2., 3., 4.])");
  EXPECT_EQ(R(call(Prim::Div, {TV(makeT(DType::U8, {2}, {51, 255})), F(255.0)})), "tensor([0.2, 1. ])");
  EXPECT_EQ(R(call(Prim::Mul, {TV(makeT(DType::I64, {2}, {1, 3})), F(0.5)})), "tensor([0.5, 1.5])");
  EXPECT_EQ(R(call(Prim::Div, {TV(makeT(DType::I64, {2}, {1, 3})), I(2)})), "tensor([0.5, 1.5])");
  EXPECT_EQ(R(call(Prim::FloorDiv, {TV(makeT(DType::I64, {2}, {-7, 7})), I(2)})), "tensor([-4,  3])");
  EXPECT_EQ(R(call(Prim::Mod, {TV(makeT(DType::I64, {2}, {-7, 7})), I(0)})), "tensor([0, 0])");
  EXPECT_EQ(R(call(Prim::Div, {x, F(0.0)})), "tensor([inf, inf, inf])");
  EXPECT_EQ(R(call(Prim::Lt, {x, F(2.5)})), "tensor([ True,  True, False])");
  EXPECT_EQ(R(call(Prim::Eq, {x, x})), "tensor([ True,  True,  True])");
  EXPECT_EQ(R(call(Prim::Eq, {x, Value::none()})), "False");
  EXPECT_EQ(R(call(Prim::Ne, {x, S("a")})), "True");
  EXPECT_EQ(R(call(Prim::Neg, {x})), "tensor([-1., -2., -3.])");
  EXPECT_EQ(R(call(Prim::Invert, {TV(makeT(DType::Bool, {2}, {1, 0}))})), "tensor([False,  True])");
  EXPECT_EQ(R(call(Prim::BitAnd, {TV(makeT(DType::Bool, {2}, {1, 1})), TV(makeT(DType::Bool, {2}, {1, 0}))})),
            "tensor([ True, False])");
  EXPECT_EQ(R(call(Prim::BitOr, {TV(makeT(DType::I32, {2}, {4, 1})), I(2)})), "tensor([6, 3], dtype=i32)");
  EXPECT_EQ(R(call(Prim::MatMul, {TV(makeT(DType::F32, {2, 2}, {1, 2, 3, 4})), L({F(1), F(1)})})), "tensor([3., 7.])");
  EXPECT_EQ(errorOf([&] { call(Prim::Add, {x, TV(makeT(DType::F32, {2}, {1, 2}))}); }),
            "shapes (3,) and (2,) cannot be broadcast together for +");
  EXPECT_EQ(errorOf([&] { call(Prim::Add, {x, L({I(1)})}); }), "unsupported operand types for +: 'Tensor' and 'list'");
  EXPECT_EQ(errorOf([&] { call(Prim::Lt, {x, Value::none()}); }), "unsupported operand types for <: 'Tensor' and 'NoneType'");
  EXPECT_EQ(errorOf([&] { call(Prim::BitAnd, {x, x}); }), "&: unsupported dtype f32");
  EXPECT_EQ(errorOf([&] { call(Prim::MatMul, {x, F(1.0)}); }), "unsupported operand types for @: 'Tensor' and 'float'");
  EXPECT_EQ(errorOf([&] { call(Prim::MatMul, {TV(makeT(DType::F32, {2, 3}, {0, 0, 0, 0, 0, 0})), x}); }), "");
  EXPECT_EQ(errorOf([&] { call(Prim::MatMul, {x, TV(makeT(DType::F32, {2, 3}, {0, 0, 0, 0, 0, 0}))}); }),
            "matmul: shapes (3,) and (2, 3) are not aligned (3 != 2)");
  // Tuples holding one-element tensors order by their items.
  EXPECT_TRUE(call(Prim::Lt, {T({TV(makeT(DType::F32, {}, {1}))}), T({TV(makeT(DType::F32, {}, {2}))})}).asBool());
}

TEST(Arith, ConsumedTensorsAreReused) {
  // x = x * a + b with x consumed each time: the result lives in x's buffer throughout.
  Value x = TV(makeT(DType::F32, {4}, {1, 1, 1, 1}));
  const void* data = TOf(x).data();
  Value a = F(0.5), b = TV(makeT(DType::F32, {4}, {1, 2, 3, 4}));
  for (int i = 0; i < 10; ++i) {
    Value args1[2] = {std::move(x), a};
    Value t = prim_Mul(testContext(), args1);
    Value args2[2] = {std::move(t), b};
    x = prim_Add(testContext(), args2);
  }
  EXPECT_EQ(TOf(x).data(), data);
  EXPECT_NEAR(TOf(x).getF64(3), 8.0 - 7.0 / 1024, 1e-6);
  // A shared tensor is never overwritten.
  Value y = x;
  Value args[2] = {x, F(1.0)};
  Value z = prim_Add(testContext(), args);
  EXPECT_NE(TOf(z).data(), TOf(y).data());
  EXPECT_NEAR(TOf(y).getF64(3), 8.0 - 7.0 / 1024, 1e-6);
}

TEST(Arith, OneElementChainConverges) {
  // 10^6 iterations of x = x * a + b on one-element tensors (two operators each), moving
  // x through so that each result may reuse its buffer. The time is printed for a look;
  // speed is measured by bench/run.sh dispatch, not asserted here.
  PrimContext cx;
  Value x = TV(makeT(DType::F32, {1}, {0})), a = TV(makeT(DType::F32, {1}, {0.5})), b = TV(makeT(DType::F32, {1}, {1}));
  const int n = 1000000;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    Value args1[2] = {std::move(x), a};
    Value t = prim_Mul(cx, args1);
    Value args2[2] = {std::move(t), b};
    x = prim_Add(cx, args2);
  }
  double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / (2.0 * n);
  std::printf("one-element tensor operator: %.1f ns per op\n", ns);
  EXPECT_NEAR(TOf(x).getF64(0), 2.0, 1e-6);
}

}  // namespace
}  // namespace msl
