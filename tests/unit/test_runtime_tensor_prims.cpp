// Tests of the tensor primitives as programs call them (construction, elementwise
// functions on tensors and Python numbers, reductions, shapes, conversions). Expected
// values were produced by NumPy 1.24 / JAX semantics.
#include <gtest/gtest.h>

#include "runtime/Print.h"
#include "runtime_tensor_test_util.h"

namespace msl {
namespace {

using namespace msl::test;

Value call(Prim p, std::vector<Value> pos, Kwargs kw = {}) { return callPrim(p, std::move(pos), std::move(kw)); }
std::string R(const Value& v) { return reprOf(v); }
Value D(DType d) { return Value::dtype(d); }
Value B(bool b) { return Value::boolean(b); }
Value x23() { return TV(makeT(DType::F32, {2, 3}, {0, 1, 2, 3, 4, 5})); }

TEST(TensorPrims, EveryTensorPrimitiveIsImplemented) {
  for (int i = (int)Prim::Add; i <= (int)Prim::TensorSetItem; ++i)
    EXPECT_NE(primImpl((Prim)i), nullptr) << primName((Prim)i);
}

TEST(TensorPrims, Construction) {
  EXPECT_EQ(R(call(Prim::TensorNew, {L({I(1), I(2)})})), "tensor([1, 2])");
  EXPECT_EQ(R(call(Prim::TensorNew, {L({I(1), I(2)})}, {{"dtype", D(DType::F64)}})), "tensor([1., 2.], dtype=f64)");
  EXPECT_EQ(R(call(Prim::TensorNew, {F(2.5)})), "tensor(2.5)");
  EXPECT_EQ(R(call(Prim::Zeros, {T({I(2), I(1)})})), "tensor([[0.],\n        [0.]])");
  EXPECT_EQ(R(call(Prim::Ones, {I(3)}, {{"dtype", D(DType::I32)}})), "tensor([1, 1, 1], dtype=i32)");
  EXPECT_EQ(R(call(Prim::Full, {I(2), F(0.5)})), "tensor([0.5, 0.5])");
  EXPECT_EQ(R(call(Prim::Full, {I(2), I(7)})), "tensor([7, 7])");
  EXPECT_EQ(R(call(Prim::Full, {T({I(2), I(2)}), L({I(1), I(2)})})), "tensor([[1, 2],\n        [1, 2]])");
  EXPECT_EQ(R(call(Prim::Arange, {I(5)})), "tensor([0, 1, 2, 3, 4])");
  EXPECT_EQ(R(call(Prim::Arange, {I(2), I(10), I(3)})), "tensor([2, 5, 8])");
  EXPECT_EQ(R(call(Prim::Arange, {I(10), I(2), I(-3)})), "tensor([10,  7,  4])");
  EXPECT_EQ(R(call(Prim::Arange, {I(0), I(1), F(0.1)})),
            "tensor([0.        , 0.1       , 0.2       , 0.3       , 0.4       ,\n"
            "        0.5       , 0.6       , 0.7       , 0.8       , 0.90000004])");
  EXPECT_EQ(R(call(Prim::Arange, {I(3), I(0)})), "tensor([], dtype=i64)");
  EXPECT_EQ(R(call(Prim::Linspace, {I(0), I(1), I(5)})), "tensor([0.  , 0.25, 0.5 , 0.75, 1.  ])");
  EXPECT_EQ(R(call(Prim::Linspace, {I(2), I(3), I(1)}, {{"dtype", D(DType::F64)}})), "tensor([2.], dtype=f64)");
  EXPECT_EQ(R(call(Prim::Eye, {I(2), I(3)})), "tensor([[1., 0., 0.],\n        [0., 1., 0.]])");
  EXPECT_EQ(R(call(Prim::ZerosLike, {TV(makeT(DType::I32, {2}, {4, 5}))})), "tensor([0, 0], dtype=i32)");
  EXPECT_EQ(R(call(Prim::OnesLike, {x23()}, {{"dtype", D(DType::Bool)}})), "tensor([[ True,  True,  True],\n        [ True,  True,  True]])");
  EXPECT_EQ(errorOf([] { call(Prim::Arange, {I(0), I(3), I(0)}); }), "arange(): step must not be zero");
  EXPECT_EQ(errorOf([] { call(Prim::Zeros, {T({I(-1)})}); }), "zeros(): negative dimension -1 in shape");
}

TEST(TensorPrims, Elementwise) {
  EXPECT_EQ(R(call(Prim::Exp, {F(0.0)})), "tensor(1.)");  // a Python number gives a 0-d f32 tensor
  EXPECT_EQ(R(call(Prim::Sqrt, {I(4)})), "tensor(2.)");
  EXPECT_EQ(R(call(Prim::Exp, {TV(makeT(DType::I64, {2}, {0, 1}))})), "tensor([1.       , 2.7182817])");
  EXPECT_EQ(R(call(Prim::Relu, {TV(makeT(DType::I64, {2}, {-1, 3}))})), "tensor([0, 3])");
  EXPECT_EQ(R(call(Prim::Gelu, {TV(makeT(DType::F32, {2}, {-1, 1}))}, {{"approximate", B(true)}})), "tensor([-0.158808,  0.841192])");
  EXPECT_EQ(R(call(Prim::Gelu, {TV(makeT(DType::F32, {2}, {-1, 1}))})), "tensor([-0.15865526,  0.8413447 ])");
  EXPECT_EQ(R(call(Prim::IsNan, {TV(makeT(DType::F32, {2}, {NAN, 1}))})), "tensor([ True, False])");
  EXPECT_EQ(R(call(Prim::TensorAbs, {TV(makeT(DType::I32, {2}, {-3, 3}))})), "tensor([3, 3], dtype=i32)");
  EXPECT_EQ(R(call(Prim::TensorRound, {TV(makeT(DType::F32, {3}, {0.5, 1.5, 2.675}))})), "tensor([0., 2., 3.])");
  EXPECT_EQ(R(call(Prim::TensorRound, {TV(makeT(DType::F64, {1}, {2.675}))}, {{"decimals", I(2)}})), "tensor([2.68], dtype=f64)");  // 2.675 * 100 == 267.5
  EXPECT_EQ(R(call(Prim::Maximum, {x23(), F(2.5)})), "tensor([[2.5, 2.5, 2.5],\n        [3. , 4. , 5. ]])");
  EXPECT_EQ(R(call(Prim::Minimum, {I(1), F(2.0)})), "tensor(1.)");
  EXPECT_EQ(R(call(Prim::Clip, {x23(), I(1), I(3)})), "tensor([[1., 1., 2.],\n        [3., 3., 3.]])");
  EXPECT_EQ(R(call(Prim::Clip, {x23()}, {{"hi", F(0.5)}})), "tensor([[0. , 0.5, 0.5],\n        [0.5, 0.5, 0.5]])");
  EXPECT_EQ(R(call(Prim::Where, {TV(makeT(DType::Bool, {2}, {1, 0})), I(1), I(0)})), "tensor([1, 0])");
  EXPECT_EQ(R(call(Prim::Where, {TV(makeT(DType::I64, {3}, {2, 0, 1})), x23(), F(-1.0)})), "tensor([[ 0., -1.,  2.],\n        [ 3., -1.,  5.]])");
  EXPECT_EQ(R(call(Prim::AsType, {x23(), D(DType::U8)})), "tensor([[0, 1, 2],\n        [3, 4, 5]], dtype=u8)");
  EXPECT_EQ(errorOf([] { call(Prim::Maximum, {TV(makeT(DType::F32, {2}, {0, 0})), TV(makeT(DType::F32, {3}, {0, 0, 0}))}); }),
            "shapes (2,) and (3,) cannot be broadcast together for maximum");
  // A consumed argument is updated in place.
  Value x = TV(makeT(DType::F32, {2}, {1, 4}));
  const void* data = TOf(x).data();
  Value args[1] = {std::move(x)};
  Value y = prim_Sqrt(testContext(), args);
  EXPECT_EQ(TOf(y).data(), data);
  EXPECT_EQ(R(y), "tensor([1., 2.])");
}

TEST(TensorPrims, Reductions) {
  EXPECT_EQ(R(call(Prim::TensorSum, {x23()}, {{"axis", I(0)}})), "tensor([3., 5., 7.])");
  EXPECT_EQ(R(call(Prim::TensorSum, {x23()})), "tensor(15.)");
  EXPECT_EQ(R(call(Prim::TensorSum, {TV(makeT(DType::Bool, {3}, {1, 0, 1}))})), "tensor(2)");
  EXPECT_EQ(R(call(Prim::Mean, {x23()}, {{"axis", I(1)}, {"keepdims", B(true)}})), "tensor([[1.],\n        [4.]])");
  EXPECT_EQ(R(call(Prim::Mean, {TV(makeT(DType::I64, {2}, {1, 2}))})), "tensor(1.5)");
  EXPECT_EQ(R(call(Prim::Var, {x23()})), "tensor(2.9166667)");
  EXPECT_EQ(R(call(Prim::Std, {x23()}, {{"ddof", I(1)}})), "tensor(1.8708287)");
  EXPECT_EQ(R(call(Prim::Prod, {x23()}, {{"axis", I(1)}})), "tensor([ 0., 60.])");
  EXPECT_EQ(R(call(Prim::TensorMax, {x23()}, {{"axis", T({I(0), I(1)})}})), "tensor(5.)");
  EXPECT_EQ(R(call(Prim::TensorMin, {x23()}, {{"axis", I(-1)}})), "tensor([0., 3.])");
  EXPECT_EQ(R(call(Prim::Argmax, {x23()}, {{"axis", I(1)}})), "tensor([2, 2])");
  EXPECT_EQ(R(call(Prim::Argmin, {x23()})), "tensor(0)");
  EXPECT_EQ(R(call(Prim::Logsumexp, {TV(makeT(DType::F32, {2}, {0, 0}))})), "tensor(0.6931472)");
  EXPECT_EQ(R(call(Prim::TensorAll, {x23()}, {{"axis", I(0)}})), "tensor([False,  True,  True])");
  EXPECT_EQ(R(call(Prim::TensorAny, {x23()})), "tensor(True)");
  EXPECT_EQ(R(call(Prim::Cumsum, {x23()})), "tensor([ 0.,  1.,  3.,  6., 10., 15.])");
  EXPECT_EQ(R(call(Prim::Cumsum, {x23()}, {{"axis", I(1)}})), "tensor([[ 0.,  1.,  3.],\n        [ 3.,  7., 12.]])");
  EXPECT_EQ(errorOf([] { call(Prim::TensorSum, {x23()}, {{"axis", I(2)}}); }), "axis 2 is out of range for a tensor with 2 dimensions");
  EXPECT_EQ(errorOf([] { call(Prim::TensorMax, {TV(Tensor::empty(DType::F32, {0}))}); }),
            "max() of an empty tensor: the reduction has no identity");
}

TEST(TensorPrims, Shapes) {
  Value x = x23();
  EXPECT_EQ(R(call(Prim::Shape, {x})), "(2, 3)");
  EXPECT_EQ(R(call(Prim::DTypeOf, {x})), "f32");
  EXPECT_EQ(R(call(Prim::NDim, {x})), "2");
  EXPECT_EQ(R(call(Prim::Size, {x})), "6");
  EXPECT_EQ(TOf(call(Prim::Reshape, {x, I(3), I(2)})).shape(), (Shape{3, 2}));
  EXPECT_EQ(TOf(call(Prim::Reshape, {x, T({I(3), I(-1)})})).shape(), (Shape{3, 2}));
  EXPECT_EQ(TOf(call(Prim::Reshape, {x, L({I(-1)})})).shape(), (Shape{6}));
  EXPECT_EQ(TOf(call(Prim::Reshape, {TV(makeT(DType::F32, {1}, {1}))})).shape(), (Shape{}));
  EXPECT_EQ(errorOf([&] { call(Prim::Reshape, {x, I(4), I(-1)}); }), "cannot reshape a tensor of shape (2, 3) (6 elements) into shape (4, -1)");
  EXPECT_EQ(errorOf([&] { call(Prim::Reshape, {x, T({I(7)})}); }), "cannot reshape a tensor of shape (2, 3) (6 elements) into shape (7,)");
  EXPECT_EQ(R(call(Prim::Transpose, {x})), "tensor([[0., 3.],\n        [1., 4.],\n        [2., 5.]])");
  EXPECT_EQ(R(call(Prim::TransposeT, {x})), "tensor([[0., 3.],\n        [1., 4.],\n        [2., 5.]])");
  EXPECT_EQ(TOf(call(Prim::Transpose, {TV(Tensor::zeros(DType::F32, {2, 3, 4})), T({I(1), I(0), I(2)})})).shape(), (Shape{3, 2, 4}));
  EXPECT_EQ(TOf(call(Prim::Swapaxes, {TV(Tensor::zeros(DType::F32, {2, 3, 4})), I(0), I(-1)})).shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(TOf(call(Prim::ExpandDims, {x, I(-1)})).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(TOf(call(Prim::ExpandDims, {x, T({I(0), I(2)})})).shape(), (Shape{1, 2, 1, 3}));
  EXPECT_EQ(TOf(call(Prim::Squeeze, {TV(Tensor::zeros(DType::F32, {1, 2, 1}))})).shape(), (Shape{2}));
  EXPECT_EQ(TOf(call(Prim::Squeeze, {TV(Tensor::zeros(DType::F32, {1, 2, 1})), I(0)})).shape(), (Shape{2, 1}));
  EXPECT_NE(errorOf([&] { call(Prim::Squeeze, {x, I(0)}); }), "");
  EXPECT_EQ(R(call(Prim::BroadcastTo, {TV(makeT(DType::I64, {2}, {1, 2})), T({I(2), I(2)})})), "tensor([[1, 2],\n        [1, 2]])");
  EXPECT_EQ(errorOf([&] { call(Prim::BroadcastTo, {x, T({I(3), I(3)})}); }), "shapes (2, 3) and (3, 3) cannot be broadcast together for broadcast_to");
  EXPECT_EQ(R(call(Prim::Concat, {L({TV(makeT(DType::I64, {1}, {1})), TV(makeT(DType::F32, {2}, {2, 3}))})})), "tensor([1., 2., 3.])");
  EXPECT_EQ(TOf(call(Prim::Concat, {T({x, x})}, {{"axis", I(1)}})).shape(), (Shape{2, 6}));
  EXPECT_EQ(errorOf([&] { call(Prim::Concat, {L({x, TV(makeT(DType::F32, {2}, {0, 0}))})}); }),
            "concat: shapes (2, 3) and (2,) differ outside axis 0");
  EXPECT_EQ(TOf(call(Prim::Stack, {L({x, x, x})}, {{"axis", I(1)}})).shape(), (Shape{2, 3, 3}));
  EXPECT_EQ(R(call(Prim::Stack, {L({I(1), I(2)})})), "tensor([1, 2])");
  EXPECT_EQ(TOf(call(Prim::Flatten, {x})).shape(), (Shape{6}));
  EXPECT_EQ(R(call(Prim::Item, {TV(makeT(DType::F32, {1, 1}, {0.1}))})), "0.10000000149011612");
  EXPECT_EQ(R(call(Prim::Item, {TV(makeT(DType::Bool, {}, {1}))})), "True");
  EXPECT_EQ(errorOf([&] { call(Prim::Item, {x}); }), "only a tensor with one element converts to a Python scalar; this one has shape (2, 3)");
  EXPECT_EQ(R(call(Prim::ToList, {x})), "[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]");
  EXPECT_EQ(R(call(Prim::ToList, {TV(makeT(DType::I32, {}, {7}))})), "7");
  // Transposed views reshape through a copy; contiguous ones stay views.
  Value t = call(Prim::TransposeT, {x});
  EXPECT_EQ(R(call(Prim::Reshape, {t, I(-1)})), "tensor([0., 3., 1., 4., 2., 5.])");
  EXPECT_EQ(TOf(call(Prim::Reshape, {x, I(-1)})).buffer(), TOf(x).buffer());
}

TEST(TensorPrims, DotAndSoftmax) {
  Value a = TV(makeT(DType::F32, {2, 2}, {1, 2, 3, 4}));
  EXPECT_EQ(R(call(Prim::Dot, {a, a})), "tensor([[ 7., 10.],\n        [15., 22.]])");
  EXPECT_EQ(R(call(Prim::Dot, {L({I(1), I(2)}), L({I(3), I(4)})})), "tensor(11)");
  EXPECT_EQ(R(call(Prim::Dot, {a, F(2.0)})), "tensor([[2., 4.],\n        [6., 8.]])");
  // N-d: dot(a, b)[i, j, k] = sum(a[i, :] * b[j, :, k]).
  Value b3 = TV(makeT(DType::F32, {2, 2, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}));
  Value d = call(Prim::Dot, {a, b3});
  EXPECT_EQ(TOf(d).shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(R(d), "tensor([[[1., 2., 0.],\n         [2., 2., 3.]],\n\n        [[3., 4., 0.],\n         [4., 4., 7.]]])");
  EXPECT_EQ(R(call(Prim::Softmax, {TV(makeT(DType::F32, {2}, {0, 0}))})), "tensor([0.5, 0.5])");
  EXPECT_EQ(R(call(Prim::LogSoftmax, {TV(makeT(DType::F64, {2}, {1000, 1000}))})), "tensor([-0.69314718, -0.69314718], dtype=f64)");
  EXPECT_EQ(R(call(Prim::Softmax, {a}, {{"axis", I(0)}})), "tensor([[0.11920292, 0.11920292],\n        [0.880797  , 0.880797  ]])");
}

}  // namespace
}  // namespace msl
