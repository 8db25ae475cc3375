// Shape rules of the neural-network and selection primitives (ir/ShapeRules.cpp, the
// conv2d ... einsum rules): output shapes and dtypes as runtime/NNPrims.cpp and
// runtime/ShapeOpsPrims.cpp compute them, and the definite errors they raise.
#include <gtest/gtest.h>

#include "IrTestUtil.h"

namespace msl::ir {
namespace {

using namespace test;

A pair(int64_t a, int64_t b) { return Abstract::tuple({ic(a), ic(b)}); }

TEST(NNRules, ConvAndPooling) {
  EXPECT_EQ(ty(Prim::Conv2d, {f32({2, 3, 8, 8}), f32({4, 3, 3, 3})}), "f32[2,4,6,6]");
  EXPECT_EQ(ty(Prim::Conv2d, {f32({2, 3, 8, 8}), f32({4, 3, 3, 3})}, {{"stride", ic(2)}, {"padding", ic(1)}}),
            "f32[2,4,4,4]");
  EXPECT_EQ(ty(Prim::Conv2d, {f32({1, 3, 8, 9}), f32({4, 3, 3, 3})}, {{"stride", pair(1, 2)}}), "f32[1,4,6,4]");
  EXPECT_EQ(ty(Prim::Conv2d, {i64({1, 1, 4, 4}), i64({1, 1, 2, 2})}), "f32[1,1,3,3]");
  EXPECT_EQ(ty(Prim::Conv2d, {f32({1, 3, 5, 5}), f32({8, 2, 3, 3})}),
            "error: conv2d: input (1, 3, 5, 5) and weights (8, 2, 3, 3) have different channel counts (3 != 2)");
  EXPECT_EQ(ty(Prim::MaxPool2d, {f32({2, 3, 8, 8}), ic(2)}), "f32[2,3,4,4]");
  EXPECT_EQ(ty(Prim::MaxPool2d, {i64({2, 3, 8, 8}), ic(3)}, {{"stride", ic(1)}, {"padding", ic(1)}}), "i64[2,3,8,8]");
  EXPECT_EQ(ty(Prim::AvgPool2d, {i64({3, 8, 8}), pair(2, 4)}, {{"stride", pair(2, 1)}}), "f32[3,4,5]");
}

TEST(NNRules, LossesNormalisationLookups) {
  EXPECT_EQ(ty(Prim::CrossEntropy, {f32({5, 10}), i64({5})}), "f32[5]");
  EXPECT_EQ(ty(Prim::Mse, {f32({2, 3}), f32({3})}), "f32[]");
  EXPECT_EQ(ty(Prim::Mse, {f32({2, 3}), f32({4})}), "error: shapes (2, 3) and (4,) cannot be broadcast together for mse");
  EXPECT_EQ(ty(Prim::LayerNorm, {f32({2, 3}), f32({3}), f32({3})}), "f32[2,3]");
  EXPECT_EQ(ty(Prim::BatchNorm, {f32({2, 3, 4, 4}), f32({3}), f32({3})}), "f32[2,3,4,4]");
  EXPECT_EQ(ty(Prim::Embedding, {f32({10, 4}), i64({2, 5})}), "f32[2,5,4]");
  EXPECT_EQ(ty(Prim::OneHot, {i64({3}), ic(7)}), "f32[3,7]");
  EXPECT_EQ(ty(Prim::OneHot, {i64({3}), ic(7), Abstract::dtypeConst(DType::I32)}), "i32[3,7]");
}

TEST(NNRules, SelectionAndLayout) {
  EXPECT_EQ(ty(Prim::Take, {f32({3, 4, 5}), i64({2})}, {{"axis", ic(1)}}), "f32[3,2,5]");
  EXPECT_EQ(ty(Prim::Take, {f32({3, 4, 5}), i64({2, 2})}), "f32[2,2]");
  EXPECT_EQ(ty(Prim::Tile, {f32({2, 3}), Abstract::tuple({ic(2), ic(1), ic(2)})}), "f32[2,2,6]");
  EXPECT_EQ(ty(Prim::Split, {f32({6, 4}), ic(3)}), "[f32[2,4], f32[2,4], f32[2,4]]");
  EXPECT_EQ(ty(Prim::Pad, {f32({2, 3}), Abstract::tuple({pair(1, 0), pair(2, 2)})}), "f32[3,7]");
  EXPECT_EQ(ty(Prim::Pad, {f32({2, 3}), ic(1)}), "f32[4,5]");
  EXPECT_EQ(ty(Prim::Sort, {f32({2, 3})}), "f32[2,3]");
  EXPECT_EQ(ty(Prim::Sort, {f32({2, 3}), Abstract::none()}), "f32[6]");
  EXPECT_EQ(ty(Prim::Topk, {f32({3, 9}), ic(4)}), "(f32[3,4], i64[3,4])");
  EXPECT_EQ(ty(Prim::Einsum, {str("bij,bjk->bki"), f32({2, 3, 4}), f32({2, 4, 5})}), "f32[2,5,3]");
  EXPECT_EQ(ty(Prim::Einsum, {str("ij,jk"), f32({2, 3}), tensor(DType::F64, {3, 4})}), "f64[2,4]");
}

}  // namespace
}  // namespace msl::ir
