// Shape rules of ir/ShapeRules: promotion, broadcasting, reductions, matmul, reshape,
// transposes, concatenation, indexing, constructors, Python values and definite errors.
#include <gtest/gtest.h>

#include "IrTestUtil.h"

namespace msl::ir {
namespace {

using namespace test;

TEST(Promotion, PythonScalarsAreWeak) {
  EXPECT_EQ(ty(Prim::Mul, {f32({3}), Abstract::floatConst(2.0)}), "f32[3]");
  EXPECT_EQ(ty(Prim::Mul, {i64({3}), Abstract::floatConst(0.5)}), "f32[3]");
  EXPECT_EQ(ty(Prim::Div, {tensor(DType::U8, {2}), Abstract::floatConst(255.0)}), "f32[2]");
  EXPECT_EQ(ty(Prim::Add, {tensor(DType::Bool, {2}), ic(1)}), "i64[2]");
  EXPECT_EQ(ty(Prim::Add, {tensor(DType::F16, {2}), ic(1)}), "f16[2]");
  EXPECT_EQ(ty(Prim::Sub, {Abstract::floatConst(1.0), tensor(DType::I32, {})}), "f32[]");
}

TEST(Promotion, TensorsPromoteAlongTheLattice) {
  EXPECT_EQ(ty(Prim::Add, {tensor(DType::I32, {2}), i64({2})}), "i64[2]");
  EXPECT_EQ(ty(Prim::Add, {tensor(DType::U8, {2}), tensor(DType::F16, {2})}), "f16[2]");
  EXPECT_EQ(ty(Prim::Add, {tensor(DType::F16, {2}), tensor(DType::BF16, {2})}), "f32[2]");
  EXPECT_EQ(ty(Prim::Mul, {f32({2}), tensor(DType::F64, {2})}), "f64[2]");
  EXPECT_EQ(ty(Prim::Maximum, {tensor(DType::I32, {2}), f32({2})}), "f32[2]");
}

TEST(Promotion, DivisionGivesFloatAndComparisonsBool) {
  EXPECT_EQ(ty(Prim::Div, {i64({4}), i64({4})}), "f32[4]");
  EXPECT_EQ(ty(Prim::Div, {tensor(DType::F64, {4}), ic(2)}), "f64[4]");
  EXPECT_EQ(ty(Prim::FloorDiv, {i64({4}), ic(2)}), "i64[4]");
  EXPECT_EQ(ty(Prim::Lt, {f32({2, 3}), Abstract::floatConst(0.0)}), "bool[2,3]");
  EXPECT_EQ(ty(Prim::Eq, {i64({3}), i64({3})}), "bool[3]");
}

TEST(Broadcasting, StaticShapes) {
  EXPECT_EQ(ty(Prim::Add, {f32({2, 3}), f32({3})}), "f32[2,3]");
  EXPECT_EQ(ty(Prim::Add, {f32({2, 1}), f32({1, 4})}), "f32[2,4]");
  EXPECT_EQ(ty(Prim::Add, {f32({}), f32({5, 1, 2})}), "f32[5,1,2]");
  EXPECT_EQ(ty(Prim::Add, {f32({2, 3}), f32({4})}),
            "error: shapes (2, 3) and (4,) cannot be broadcast together for +");
  EXPECT_EQ(ty(Prim::Maximum, {f32({2}), f32({3})}),
            "error: shapes (2,) and (3,) cannot be broadcast together for maximum");
}

TEST(Broadcasting, SymbolicDimensions) {
  Dim s = Dim::fresh(), t = Dim::fresh();
  A xs = Abstract::tensor(DType::F32, {s, Dim::of(3)});
  // A symbol against 1 stays the symbol; against a static size it becomes that size.
  EXPECT_EQ(rule(Prim::Add, {xs, f32({1, 3})}).value, xs);
  EXPECT_EQ(rule(Prim::Add, {xs, f32({3})}).value, xs);
  EXPECT_EQ(rule(Prim::Add, {xs, f32({7, 3})}).value, f32({7, 3}));
  // Two different symbols: a new symbol (the kernel checks at run time).
  A r = rule(Prim::Add, {xs, Abstract::tensor(DType::F32, {t, Dim::of(3)})}).value;
  ASSERT_TRUE(r->isTensor());
  EXPECT_TRUE(r->shape[0].isSymbol());
  EXPECT_NE(r->shape[0], s);
  EXPECT_NE(r->shape[0], t);
  // The same symbol on both sides stays.
  EXPECT_EQ(rule(Prim::Mul, {xs, xs}).value, xs);
}

TEST(Reductions, AxisAndKeepdims) {
  A x = tensor(DType::I32, {2, 3, 4});
  EXPECT_EQ(ty(Prim::TensorSum, {x}), "i64[]");
  EXPECT_EQ(ty(Prim::TensorSum, {x}, {{"axis", ic(1)}}), "i64[2,4]");
  EXPECT_EQ(ty(Prim::TensorSum, {x, ic(-1), Abstract::boolConst(true)}), "i64[2,3,1]");
  EXPECT_EQ(ty(Prim::TensorMax, {x, Abstract::tuple({ic(0), ic(2)})}), "i32[3]");
  EXPECT_EQ(ty(Prim::Mean, {x}, {{"axis", ic(0)}}), "f32[3,4]");
  EXPECT_EQ(ty(Prim::Var, {f32({5, 2})}, {{"axis", ic(0)}, {"ddof", ic(1)}}), "f32[2]");
  EXPECT_EQ(ty(Prim::Argmax, {f32({5, 2})}), "i64[]");
  EXPECT_EQ(ty(Prim::Argmax, {f32({5, 2}), ic(1)}), "i64[5]");
  EXPECT_EQ(ty(Prim::TensorAll, {f32({5, 2}), ic(0)}), "bool[2]");
  EXPECT_EQ(ty(Prim::Cumsum, {tensor(DType::Bool, {2, 3})}), "i64[6]");
  EXPECT_EQ(ty(Prim::Cumsum, {f32({2, 3}), ic(1)}), "f32[2,3]");
  EXPECT_EQ(ty(Prim::TensorSum, {x, ic(3)}), "error: axis 3 is out of range for a tensor with 3 dimensions");
  EXPECT_EQ(ty(Prim::Softmax, {i64({2, 3})}), "f32[2,3]");
}

TEST(Reductions, HostSumMaxMin) {
  EXPECT_EQ(ty(Prim::Sum, {f32({4, 2})}, {{"axis", ic(0)}}), "f32[2]");
  EXPECT_EQ(ty(Prim::Sum, {Abstract::list({ic(1), ic(2)})}), "i64=3");
  EXPECT_EQ(ty(Prim::Max, {f32({3, 2})}, {{"axis", ic(1)}}), "f32[3]");
  EXPECT_EQ(ty(Prim::Max, {Abstract::list({ic(1), ic(5)})}), "i64");
  EXPECT_EQ(ty(Prim::Max, {f32({3}), f32({3})}),
            "error: max() of two tensors reduces nothing; use maximum(a, b) for the elementwise maximum");
  EXPECT_EQ(ty(Prim::Min, {Abstract::integer(), ic(4)}), "i64");
}

TEST(MatMul, Shapes) {
  EXPECT_EQ(ty(Prim::MatMul, {f32({2, 3}), f32({3, 4})}), "f32[2,4]");
  EXPECT_EQ(ty(Prim::MatMul, {f32({3}), f32({3, 4})}), "f32[4]");
  EXPECT_EQ(ty(Prim::MatMul, {f32({2, 3}), f32({3})}), "f32[2]");
  EXPECT_EQ(ty(Prim::MatMul, {f32({3}), f32({3})}), "f32[]");
  EXPECT_EQ(ty(Prim::MatMul, {f32({5, 2, 3}), f32({3, 4})}), "f32[5,2,4]");
  EXPECT_EQ(ty(Prim::MatMul, {f32({5, 1, 2, 3}), f32({7, 3, 4})}), "f32[5,7,2,4]");
  EXPECT_EQ(ty(Prim::MatMul, {tensor(DType::I32, {2, 3}), f32({3, 1})}), "f32[2,1]");
  EXPECT_EQ(ty(Prim::MatMul, {f32({2, 3}), f32({4, 5})}), "error: matmul: shapes (2, 3) and (4, 5) are not aligned (3 != 4)");
  EXPECT_EQ(ty(Prim::Dot, {f32({3}), f32({3})}), "f32[]");
  Dim b = Dim::fresh();
  A x = Abstract::tensor(DType::F32, {b, Dim::of(784)});
  A r = rule(Prim::MatMul, {x, f32({784, 256})}).value;
  EXPECT_EQ(r, Abstract::tensor(DType::F32, {b, Dim::of(256)}));
}

TEST(Shapes, Reshape) {
  A x = f32({2, 3, 4});
  EXPECT_EQ(ty(Prim::Reshape, {x, ic(6), ic(-1)}), "f32[6,4]");
  EXPECT_EQ(ty(Prim::Reshape, {x, Abstract::tuple({ic(-1)})}), "f32[24]");
  EXPECT_EQ(ty(Prim::Reshape, {x, Abstract::list({ic(4), ic(3), ic(2)})}), "f32[4,3,2]");
  EXPECT_EQ(ty(Prim::Reshape, {x, ic(5), ic(5)}),
            "error: cannot reshape a tensor of shape (2, 3, 4) (24 elements) into shape (5, 5)");
  EXPECT_EQ(ty(Prim::Reshape, {x, ic(5), ic(-1)}),
            "error: cannot reshape a tensor of shape (2, 3, 4) (24 elements) into shape (5, -1)");
  // A batch of unknown size keeps its symbol through -1.
  Dim b = Dim::fresh();
  A imgs = Abstract::tensor(DType::U8, {b, Dim::of(28), Dim::of(28)});
  EXPECT_EQ(rule(Prim::Reshape, {imgs, ic(-1), ic(784)}).value, Abstract::tensor(DType::U8, {b, Dim::of(784)}));
  // A dimension given by a symbolic int.
  A r = rule(Prim::Reshape, {f32({6}), Abstract::intDim(b)}).value;
  EXPECT_EQ(r, Abstract::tensor(DType::F32, {b}));
}

TEST(Shapes, TransposeSwapSqueezeExpand) {
  A x = f32({2, 3, 4});
  EXPECT_EQ(ty(Prim::Transpose, {x}), "f32[4,3,2]");
  EXPECT_EQ(ty(Prim::Transpose, {x, ic(0), ic(2), ic(1)}), "f32[2,4,3]");
  EXPECT_EQ(ty(Prim::Transpose, {x, Abstract::tuple({ic(1), ic(0), ic(2)})}), "f32[3,2,4]");
  EXPECT_EQ(ty(Prim::TransposeT, {f32({2, 5})}), "f32[5,2]");
  EXPECT_EQ(ty(Prim::Swapaxes, {x, ic(0), ic(-1)}), "f32[4,3,2]");
  EXPECT_EQ(ty(Prim::ExpandDims, {x, ic(0)}), "f32[1,2,3,4]");
  EXPECT_EQ(ty(Prim::ExpandDims, {x, ic(-1)}), "f32[2,3,4,1]");
  EXPECT_EQ(ty(Prim::Squeeze, {f32({1, 3, 1})}), "f32[3]");
  EXPECT_EQ(ty(Prim::Squeeze, {f32({1, 3, 1}), ic(0)}), "f32[3,1]");
  EXPECT_EQ(ty(Prim::Flatten, {x}), "f32[24]");
  EXPECT_EQ(ty(Prim::BroadcastTo, {f32({3}), Abstract::tuple({ic(2), ic(3)})}), "f32[2,3]");
  EXPECT_EQ(ty(Prim::BroadcastTo, {f32({3}), Abstract::tuple({ic(2), ic(4)})}),
            "error: shapes (3,) and (2, 4) cannot be broadcast together for broadcast_to");
}

TEST(Shapes, ConcatAndStack) {
  EXPECT_EQ(ty(Prim::Concat, {Abstract::list({f32({2, 3}), f32({4, 3})})}), "f32[6,3]");
  EXPECT_EQ(ty(Prim::Concat, {Abstract::tuple({f32({2, 3}), tensor(DType::F64, {2, 1})}), ic(1)}), "f64[2,4]");
  EXPECT_EQ(ty(Prim::Concat, {Abstract::list({f32({2, 3}), f32({2, 4})})}),
            "error: concat: shapes (2, 3) and (2, 4) differ outside axis 0");
  EXPECT_EQ(ty(Prim::Stack, {Abstract::list({f32({2, 3}), f32({2, 3})})}), "f32[2,2,3]");
  EXPECT_EQ(ty(Prim::Stack, {Abstract::list({f32({2, 3}), f32({2, 3})}), ic(-1)}), "f32[2,3,2]");
  A r = rule(Prim::Concat, {Abstract::listOf(f32({2, 3}))}).value;
  EXPECT_TRUE(r->shape[0].isSymbol());
  EXPECT_EQ(r->shape[1], Dim::of(3));
}

TEST(Shapes, Queries) {
  Dim b = Dim::fresh();
  A x = Abstract::tensor(DType::F32, {b, Dim::of(3)});
  EXPECT_EQ(rule(Prim::Shape, {x}).value, Abstract::tuple({Abstract::intDim(b), ic(3)}));
  EXPECT_EQ(ty(Prim::NDim, {x}), "i64=2");
  EXPECT_EQ(ty(Prim::DTypeOf, {x}), "dtype=f32");
  EXPECT_EQ(ty(Prim::Size, {f32({2, 3})}), "i64=6");
  EXPECT_EQ(ty(Prim::Len, {x}), "i64=" + b.str());
  EXPECT_EQ(ty(Prim::Item, {f32({1, 1})}), "f64");
  EXPECT_EQ(ty(Prim::Item, {i64({})}), "i64");
  EXPECT_EQ(ty(Prim::Item, {f32({2})}),
            "error: only a tensor with one element converts to a Python scalar; this one has shape (2,)");
  EXPECT_EQ(ty(Prim::ToList, {f32({2, 2})}), "[[f64, ...], ...]");
}

TEST(Indexing, BasicIndices) {
  A x = f32({5, 3});
  auto slice = [](A lo, A hi, A st) { return Abstract::slice(lo, hi, st); };
  A none = Abstract::none();
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, ic(0)}), "f32[3]");
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, Abstract::tuple({ic(-1), ic(2)})}), "f32[]");
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, slice(ic(1), ic(3), none)}), "f32[2,3]");
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, slice(none, none, ic(2))}), "f32[3,3]");
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, slice(ic(-2), none, none)}), "f32[2,3]");
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, slice(none, none, ic(-1))}), "f32[5,3]");
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, Abstract::tuple({slice(none, none, none), none})}), "f32[5,1,3]");
  EXPECT_EQ(ty(Prim::TensorGetItem, {f32({2, 3, 4}), Abstract::tuple({Abstract::ellipsis(), ic(0)})}), "f32[2,3]");
  EXPECT_EQ(ty(Prim::GetItem, {x, ic(1)}), "f32[3]");
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, Abstract::tuple({ic(0), ic(0), ic(0)})}),
            "error: too many indices: tensor has 2 dimensions but 3 were indexed");
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, ic(5)}), "error: index 5 is out of range for axis 0 with size 5");
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, Abstract::tuple({ic(0), ic(-4)})}),
            "error: index -4 is out of range for axis 1 with size 3");
  // A dynamic bound gives a symbol.
  A r = rule(Prim::TensorGetItem, {x, slice(none, Abstract::integer(), none)}).value;
  EXPECT_TRUE(r->shape[0].isSymbol());
}

TEST(Indexing, IntegerTensorsAndMasks) {
  A x = f32({5, 3});
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, i64({4})}), "f32[4,3]");
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, Abstract::list({ic(0), ic(2)})}), "f32[2,3]");
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, Abstract::tuple({Abstract::slice(Abstract::none(), Abstract::none(),
                                                                          Abstract::none()),
                                                          i64({2, 2})})}),
            "f32[5,2,2]");
  // A boolean mask: its number of true elements is a symbol.
  A r = rule(Prim::TensorGetItem, {x, tensor(DType::Bool, {5})}).value;
  ASSERT_TRUE(r->isTensor() && r->rankKnown);
  ASSERT_EQ(r->rank(), 2);
  EXPECT_TRUE(r->shape[0].isSymbol());
  EXPECT_EQ(r->shape[1], Dim::of(3));
  A all = rule(Prim::TensorGetItem, {x, tensor(DType::Bool, {5, 3})}).value;
  ASSERT_EQ(all->rank(), 1);
  EXPECT_TRUE(all->shape[0].isSymbol());
  EXPECT_EQ(ty(Prim::TensorGetItem, {x, tensor(DType::Bool, {4})}),
            "error: boolean index of shape (4,) does not match the indexed shape (5,)");
  // Assignment keeps the tensor's type, and checks the index.
  EXPECT_EQ(ty(Prim::SetItem, {x, tensor(DType::Bool, {5}), Abstract::floatConst(0.0)}), "f32[5,3]");
  EXPECT_EQ(ty(Prim::SetItem, {x, ic(9), Abstract::floatConst(0.0)}), "error: index 9 is out of range for axis 0 with size 5");
}

TEST(Construction, FromShapesAndData) {
  EXPECT_EQ(ty(Prim::Zeros, {Abstract::tuple({ic(2), ic(3)})}), "f32[2,3]");
  EXPECT_EQ(ty(Prim::Ones, {ic(4)}, {{"dtype", Abstract::dtypeConst(DType::I32)}}), "i32[4]");
  EXPECT_EQ(ty(Prim::Ones, {ic(4), Abstract::primitive(Prim::IntNew)}), "i64[4]");
  EXPECT_EQ(ty(Prim::Full, {Abstract::tuple({ic(2)}), Abstract::floatConst(1.5)}), "f32[2]");
  EXPECT_EQ(ty(Prim::Full, {Abstract::tuple({ic(2)}), ic(7)}), "i64[2]");
  EXPECT_EQ(ty(Prim::Arange, {ic(5)}), "i64[5]");
  EXPECT_EQ(ty(Prim::Arange, {ic(1), ic(10), ic(3)}), "i64[3]");
  EXPECT_EQ(ty(Prim::Arange, {Abstract::floatConst(0.0), ic(2)}), "f32[2]");
  EXPECT_EQ(ty(Prim::Linspace, {ic(0), ic(1)}), "f32[50]");
  EXPECT_EQ(ty(Prim::Eye, {ic(3)}), "f32[3,3]");
  EXPECT_EQ(ty(Prim::ZerosLike, {i64({2})}), "i64[2]");
  EXPECT_EQ(ty(Prim::TensorNew, {Abstract::list({Abstract::list({ic(1), ic(2)}), Abstract::list({ic(3), ic(4)})})}),
            "i64[2,2]");
  EXPECT_EQ(ty(Prim::TensorNew, {Abstract::list({Abstract::floatConst(1.0), ic(2)})}), "f32[2]");
  EXPECT_EQ(ty(Prim::TensorNew, {Abstract::floatConst(1.0)}), "f32[]");
  EXPECT_EQ(ty(Prim::TensorNew, {Abstract::list({ic(1)}), Abstract::dtypeConst(DType::F64)}), "f64[1]");
  EXPECT_EQ(ty(Prim::TensorNew, {Abstract::list({Abstract::list({ic(1), ic(2)}), Abstract::list({ic(3)})})}),
            "error: tensor(): nested lists have inconsistent lengths at depth 1");
  // Sizes known only at run time give symbols; a symbolic int gives its own symbol.
  Dim n = Dim::fresh();
  EXPECT_EQ(rule(Prim::Zeros, {Abstract::tuple({Abstract::intDim(n), ic(3)})}).value,
            Abstract::tensor(DType::F32, {n, Dim::of(3)}));
  A r = rule(Prim::Zeros, {Abstract::integer()}).value;
  EXPECT_TRUE(r->shape[0].isSymbol());
  // Data of unknown length (read from a file, say) gives a symbolic dimension.
  A data = rule(Prim::TensorNew, {Abstract::listOf(Abstract::real())}).value;
  ASSERT_TRUE(data->isTensor() && data->rankKnown && data->rank() == 1);
  EXPECT_TRUE(data->shape[0].isSymbol());
  EXPECT_EQ(ty(Prim::TensorNew, {Abstract::list({Abstract::any(), Abstract::list({ic(1)})})}), "Tensor[...]");
  EXPECT_EQ(ty(Prim::Exp, {ic(2)}), "f32[]");
  EXPECT_EQ(ty(Prim::Floor, {i64({2})}), "i64[2]");
  EXPECT_EQ(ty(Prim::IsNan, {f32({2})}), "bool[2]");
  EXPECT_EQ(ty(Prim::Where, {tensor(DType::Bool, {3, 1}), f32({3}), Abstract::floatConst(0.0)}), "f32[3,3]");
  EXPECT_EQ(ty(Prim::AsType, {f32({3}), Abstract::dtypeConst(DType::U8)}), "u8[3]");
}

TEST(PythonValues, ScalarsStringsContainers) {
  EXPECT_EQ(ty(Prim::Add, {ic(1), ic(2)}), "i64=3");
  EXPECT_EQ(ty(Prim::FloorDiv, {ic(-7), ic(2)}), "i64=-4");
  EXPECT_EQ(ty(Prim::Mod, {ic(-7), ic(2)}), "i64=1");
  EXPECT_EQ(ty(Prim::Div, {ic(1), ic(2)}), "f64");
  EXPECT_EQ(ty(Prim::Add, {Abstract::integer(), Abstract::real()}), "f64");
  EXPECT_EQ(ty(Prim::Add, {Abstract::boolConst(true), Abstract::boolConst(true)}), "i64=2");
  EXPECT_EQ(ty(Prim::Lt, {ic(1), ic(2)}), "bool=True");
  EXPECT_EQ(ty(Prim::Add, {str("a"), str("b")}), "str='ab'");
  EXPECT_EQ(ty(Prim::Eq, {str("relu"), str("tanh")}), "bool=False");
  EXPECT_EQ(ty(Prim::Add, {str("a"), ic(1)}), "error: unsupported operand types for +: 'str' and 'int'");
  EXPECT_EQ(ty(Prim::Add, {Abstract::tuple({ic(1)}), Abstract::tuple({str("x")})}), "(i64=1, str='x')");
  EXPECT_EQ(ty(Prim::Mul, {Abstract::list({ic(0)}), ic(3)}), "[i64=0, i64=0, i64=0]");
  EXPECT_EQ(ty(Prim::Neg, {ic(4)}), "i64=-4");
  EXPECT_EQ(ty(Prim::Len, {Abstract::list({ic(1), ic(2)})}), "i64=2");
  EXPECT_EQ(ty(Prim::Len, {str("héllo")}), "i64=5");
  // Tensors combine with tensors and Python numbers only (runtime/Arith.cpp).
  EXPECT_EQ(ty(Prim::Add, {f32({2}), Abstract::list({ic(1), ic(2)})}),
            "error: unsupported operand types for +: 'Tensor' and 'list'");
  EXPECT_EQ(ty(Prim::Eq, {f32({2}), Abstract::none()}), "bool=False");
  EXPECT_EQ(ty(Prim::Ne, {str("a"), f32({2})}), "bool=True");
  EXPECT_EQ(ty(Prim::Lt, {str("a"), ic(1)}), "error: unsupported operand types for <: 'str' and 'int'");
  EXPECT_EQ(ty(Prim::BitAnd, {Abstract::real(), ic(1)}), "error: unsupported operand types for &: 'float' and 'int'");
  EXPECT_EQ(ty(Prim::MatMul, {Abstract::list({ic(1)}), Abstract::list({ic(2)})}), "i64[]");
  EXPECT_EQ(ty(Prim::GetItem, {ic(1), ic(0)}), "error: 'int' object is not subscriptable");
  EXPECT_EQ(ty(Prim::SetItem, {Abstract::tuple({ic(1)}), ic(0), ic(2)}),
            "error: 'tuple' object does not support item assignment");
  EXPECT_EQ(ty(Prim::CheckBound, {Abstract::undef(), str("y")}),
            "error: variable 'y' is not assigned on every path that reaches here");
}

// What optim's is_param asks of a leaf is decided by its abstract (graph mode then folds
// the branches on it: codegen/FoldBranches.h).
TEST(PythonValues, IsinstanceAndDTypeEquality) {
  A tensorType = Abstract::primitive(Prim::TensorNew);
  EXPECT_EQ(ty(Prim::Isinstance, {f32({2}), tensorType}), "bool=True");
  EXPECT_EQ(ty(Prim::Isinstance, {ic(1), tensorType}), "bool=False");
  EXPECT_EQ(ty(Prim::Isinstance, {Abstract::boolean(), Abstract::primitive(Prim::IntNew)}), "bool=True");
  EXPECT_EQ(ty(Prim::Isinstance, {Abstract::real(), Abstract::primitive(Prim::IntNew)}), "bool=False");
  EXPECT_EQ(ty(Prim::Isinstance, {Abstract::any(), tensorType}), "bool");  // unknown kind
  EXPECT_EQ(ty(Prim::Isinstance, {f32({2}), Abstract::tuple({tensorType})}), "bool");  // not decided
  EXPECT_EQ(ty(Prim::Eq, {Abstract::dtypeConst(DType::F32), Abstract::dtypeConst(DType::F32)}), "bool=True");
  EXPECT_EQ(ty(Prim::Eq, {Abstract::dtypeConst(DType::I32), Abstract::dtypeConst(DType::F32)}), "bool=False");
  EXPECT_EQ(ty(Prim::Ne, {Abstract::dtypeConst(DType::I32), Abstract::dtypeConst(DType::F32)}), "bool=True");
  EXPECT_EQ(ty(Prim::Eq, {Abstract::dtypeAny(), Abstract::dtypeConst(DType::F32)}), "bool");
}

TEST(PythonValues, IndexingAndUnpacking) {
  A t = Abstract::tuple({ic(1), str("a"), f32({2})});
  EXPECT_EQ(ty(Prim::GetItem, {t, ic(1)}), "str='a'");
  EXPECT_EQ(ty(Prim::GetItem, {t, ic(-1)}), "f32[2]");
  EXPECT_EQ(ty(Prim::GetItem, {t, Abstract::slice(ic(1), Abstract::none(), Abstract::none())}), "(str='a', f32[2])");
  EXPECT_EQ(ty(Prim::GetItem, {t, ic(3)}), "error: tuple index 3 is out of range for length 3");
  EXPECT_EQ(ty(Prim::GetItem, {Abstract::listOf(f32({2})), Abstract::integer()}), "f32[2]");
  A d = Abstract::dict({"w", "b"}, {f32({3, 2}), f32({2})});
  EXPECT_EQ(ty(Prim::GetItem, {d, str("b")}), "f32[2]");
  EXPECT_EQ(ty(Prim::GetItem, {d, str("x")}), "error: key 'x' not found");
  EXPECT_EQ(ty(Prim::SetItem, {d, str("c"), ic(1)}), "{'w': f32[3,2], 'b': f32[2], 'c': i64=1}");
  EXPECT_EQ(ty(Prim::Unpack, {t, ic(3), ic(-1)}), "(i64=1, str='a', f32[2])");
  EXPECT_EQ(ty(Prim::Unpack, {t, ic(2), ic(-1)}), "error: cannot unpack 3 values into 2 names");
  EXPECT_EQ(ty(Prim::Unpack, {t, ic(2), ic(1)}), "(i64=1, [str='a', f32[2]])");
  EXPECT_EQ(ty(Prim::Unpack, {f32({2, 5}), ic(2), ic(-1)}), "(f32[5], f32[5])");
  EXPECT_EQ(ty(Prim::Unpack, {f32({3, 5}), ic(2), ic(-1)}), "error: cannot unpack 3 values into 2 names");
  EXPECT_EQ(ty(Prim::Unpack, {ic(3), ic(2), ic(-1)}), "error: 'int' object is not iterable");
  EXPECT_EQ(ty(Prim::ListAppend, {Abstract::list({}), f32({2})}), "[f32[2]]");
  EXPECT_EQ(ty(Prim::ListAppend, {Abstract::listOf(ic(1)), ic(2)}), "[i64, ...]");
  EXPECT_EQ(ty(Prim::DictItems, {d}), "[(str='w', f32[3,2]), (str='b', f32[2])]");
  EXPECT_EQ(ty(Prim::Truth, {f32({3})}),
            "error: the truth value of a tensor with 3 elements is ambiguous; use any() or all()");
  EXPECT_EQ(ty(Prim::Truth, {f32({1})}), "bool");
  EXPECT_EQ(ty(Prim::Is, {Abstract::none(), f32({1})}), "bool=False");
}

TEST(Records, AttributesAndMethods) {
  A cls = Abstract::classType("Dense", SourceLoc{}, {"w", "b"}, {nullptr, Abstract::none()}, {}, {});
  A rec = Abstract::record(cls, {f32({784, 256}), f32({256})});
  EXPECT_EQ(toString(rec), "Dense{w: f32[784,256], b: f32[256]}");
  EXPECT_EQ(ty(Prim::GetAttr, {rec, str("w")}), "f32[784,256]");
  EXPECT_EQ(ty(Prim::GetAttr, {rec, str("x")}), "error: 'Dense' object has no attribute 'x'");
  EXPECT_EQ(ty(Prim::SetAttr, {rec, str("b"), f32({10})}), "Dense{w: f32[784,256], b: f32[10]}");
  EXPECT_EQ(ty(Prim::SetAttr, {rec, str("c"), f32({10})}), "error: 'Dense' has no field 'c'");
  EXPECT_EQ(ty(Prim::GetAttr, {f32({2, 3}), str("T")}), "Any");  // properties go through the host (Any here)
  EXPECT_EQ(ty(Prim::GetAttr, {f32({2, 3}), str("sum")}), "method(f32[2,3], prim tensor_sum)");
  EXPECT_EQ(ty(Prim::GetAttr, {f32({2, 3}), str("nope")}), "error: 'Tensor' object has no attribute 'nope'");
}

TEST(Binding, PrimitiveSignatures) {
  EXPECT_EQ(ty(Prim::Zeros, {}), "error: zeros() missing required argument 'shape'");
  EXPECT_EQ(ty(Prim::Zeros, {ic(1), Abstract::dtypeConst(DType::F32), ic(3)}),
            "error: zeros() takes from 1 to 2 positional arguments but 3 were given");
  EXPECT_EQ(ty(Prim::Zeros, {ic(1)}, {{"bogus", ic(1)}}), "error: zeros() got an unexpected keyword argument 'bogus'");
  EXPECT_EQ(ty(Prim::Zeros, {ic(1)}, {{"shape", ic(1)}}), "error: zeros() got multiple values for argument 'shape'");
  EXPECT_EQ(ty(Prim::Print, {ic(1), str("a")}, {{"sep", str(",")}}), "None");
}

}  // namespace
}  // namespace msl::ir
