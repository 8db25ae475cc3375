// Tests of dtypes (names, promotion, f16/bf16 conversion), tensors (buffers, views,
// copies, element access) and tensor arguments (tensor(data), shapes, axes).
#include <gtest/gtest.h>

#include <bit>
#include <cstring>

#include "runtime_tensor_test_util.h"

namespace msl {
namespace {

using namespace msl::test;

constexpr DType kAll[] = {DType::Bool, DType::U8, DType::U32, DType::I32, DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64};

// ------------------------------------------------------------------------ dtypes
TEST(DType, NamesAndSizes) {
  const char* names[] = {"bool", "u8", "u32", "i32", "i64", "f16", "bf16", "f32", "f64"};
  const size_t sizes[] = {1, 1, 4, 4, 8, 2, 2, 4, 8};
  for (int i = 0; i < kNumDTypes; ++i) {
    EXPECT_STREQ(dtypeName((DType)i), names[i]);
    EXPECT_EQ(dtypeSize((DType)i), sizes[i]);
    DType d;
    ASSERT_TRUE(dtypeFromName(names[i], &d));
    EXPECT_EQ(d, (DType)i);
  }
  DType d;
  EXPECT_FALSE(dtypeFromName("float32", &d));
}

TEST(DType, PromotionTable) {
  // JAX's lattice bool < u8 < u32 < i32 < i64 < f16/bf16 < f32 < f64 (x64 enabled), u32 + i32 = i64,
  // f16 + bf16 = f32.
  const char* expect[9][9] = {
      // bool    u8     u32    i32    i64    f16    bf16   f32    f64
      {"bool", "u8", "u32", "i32", "i64", "f16", "bf16", "f32", "f64"},   // bool
      {"u8", "u8", "u32", "i32", "i64", "f16", "bf16", "f32", "f64"},     // u8
      {"u32", "u32", "u32", "i64", "i64", "f16", "bf16", "f32", "f64"},   // u32
      {"i32", "i32", "i64", "i32", "i64", "f16", "bf16", "f32", "f64"},   // i32
      {"i64", "i64", "i64", "i64", "i64", "f16", "bf16", "f32", "f64"},   // i64
      {"f16", "f16", "f16", "f16", "f16", "f16", "f32", "f32", "f64"},    // f16
      {"bf16", "bf16", "bf16", "bf16", "bf16", "f32", "bf16", "f32", "f64"},  // bf16
      {"f32", "f32", "f32", "f32", "f32", "f32", "f32", "f32", "f64"},    // f32
      {"f64", "f64", "f64", "f64", "f64", "f64", "f64", "f64", "f64"},    // f64
  };
  for (int a = 0; a < 9; ++a)
    for (int b = 0; b < 9; ++b) EXPECT_STREQ(dtypeName(promote(kAll[a], kAll[b])), expect[a][b]) << a << " " << b;
}

TEST(DType, WeakPromotion) {
  for (DType t : kAll) {
    EXPECT_EQ(promoteWeak(t, WeakKind::Bool), t);
    EXPECT_EQ(promoteWeak(t, WeakKind::Int), t == DType::Bool ? DType::I64 : t);
    EXPECT_EQ(promoteWeak(t, WeakKind::Float), isFloat(t) ? t : DType::F32);
  }
}

TEST(DType, HalfRoundTripsEveryValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = halfToFloat((uint16_t)h);
    if (f != f) {
      EXPECT_TRUE(halfToFloat(floatToHalf(f)) != halfToFloat(floatToHalf(f)));
      continue;
    }
    EXPECT_EQ(floatToHalf(f), (uint16_t)h) << h;
    EXPECT_EQ((float)(_Float16)f, f);  // agrees with the compiler's half type
  }
}

TEST(DType, HalfRoundsToNearestEven) {
  Rng r(1);
  for (int i = 0; i < 200000; ++i) {
    // Random bit patterns cover normals, subnormals, overflow and ties.
    float f = std::bit_cast<float>((uint32_t)r.uniformInt(0, 0xffffffffLL));
    if (f != f) continue;
    _Float16 ref = (_Float16)f;
    uint16_t bits;
    std::memcpy(&bits, &ref, 2);
    ASSERT_EQ(floatToHalf(f), bits) << f;
  }
  EXPECT_EQ(floatToHalf(65520.0f), 0x7c00);  // tie between max and inf rounds to inf
  EXPECT_EQ(floatToHalf(65519.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(-0.0f), 0x8000);
}

// bf16 reference: the nearer of the two neighbouring bf16 values, ties to even; for
// rounding, infinity stands at 2^128 (where the next exponent would start).
uint16_t bf16Reference(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint16_t lo = (uint16_t)(x >> 16), hi = (uint16_t)(lo + 1);
  if ((x & 0xffff) == 0) return lo;
  auto val = [](uint16_t b) {
    double v = bf16ToFloat(b);
    return std::isinf(v) ? std::copysign(0x1p128, v) : v;
  };
  double dl = std::fabs(val(lo) - f), dh = std::fabs(val(hi) - f);
  return dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
}

TEST(DType, Bf16RoundsToNearestEven) {
  Rng r(2);
  for (int i = 0; i < 200000; ++i) {
    float f = std::bit_cast<float>((uint32_t)r.uniformInt(0, 0xffffffffLL));
    if (f != f) continue;
    ASSERT_EQ(floatToBf16(f), bf16Reference(f)) << f;
  }
  EXPECT_EQ(bf16ToFloat(floatToBf16(1.0f)), 1.0f);
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(NAN))));
}

// ------------------------------------------------------------------------ tensors
TEST(Tensor, ShapeStrings) {
  EXPECT_EQ(shapeStr({2, 3}), "(2, 3)");
  EXPECT_EQ(shapeStr({5}), "(5,)");
  EXPECT_EQ(shapeStr({}), "()");
  EXPECT_EQ(numel({2, 0, 3}), 0);
  EXPECT_EQ(numel({}), 1);
}

TEST(Tensor, BuffersAreAlignedAndCounted) {
  for (size_t n : {0, 1, 3, 64, 1000}) {
    BufferRef b = allocBuffer(n);
    EXPECT_EQ((uintptr_t)b->data % 64, 0u);
    EXPECT_EQ(b->bytes, n);
    EXPECT_TRUE(runtimeAllocated(*b));
  }
  Tensor t = Tensor::zeros(DType::F32, {3});
  EXPECT_TRUE(t.uniquelyOwned());
  Tensor u = t;
  EXPECT_FALSE(t.uniquelyOwned());
  // A buffer made elsewhere is released by its own function and never written in place.
  static int released = 0;
  {
    BufferRef ext(new Buffer());
    static float storage[4];
    ext->data = storage;
    ext->bytes = sizeof storage;
    ext->release = [](Buffer*) { ++released; };
    EXPECT_FALSE(runtimeAllocated(*ext));
  }
  EXPECT_EQ(released, 1);
}

TEST(Tensor, ViewsContiguousAndClone) {
  Tensor t = makeT(DType::I64, {2, 3}, {0, 1, 2, 3, 4, 5});
  EXPECT_TRUE(t.isContiguous());
  Tensor tt = permute(t, {1, 0});
  EXPECT_FALSE(tt.isContiguous());
  EXPECT_EQ(tt.getI64(1), 3);  // tt[0, 1] = t[1, 0]
  Tensor c = tt.contiguous();
  EXPECT_TRUE(c.isContiguous());
  EXPECT_NE(c.buffer(), t.buffer());
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(c.ptr<int64_t>()[i], tt.getI64(i));
  EXPECT_EQ(t.contiguous().buffer(), t.buffer());  // already contiguous: no copy
  // Size-1 dimensions do not break contiguity; contiguous() normalises their strides.
  Tensor v = t.view({1, 3}, {99, 1}, 3);
  EXPECT_TRUE(v.isContiguous());
  EXPECT_EQ(v.contiguous().strides(), (Shape{3, 1}));
  EXPECT_EQ(v.contiguous().getI64(2), 5);

  uint64_t before = tensorCopyCount();
  Tensor k = t.clone();
  EXPECT_EQ(tensorCopyCount(), before + 1);
  EXPECT_NE(k.buffer(), t.buffer());
  c = tt.contiguous();
  EXPECT_EQ(tensorCopyCount(), before + 1);  // contiguous() is not a functional-update copy
}

TEST(Tensor, ScalarsAndElementAccess) {
  EXPECT_EQ(Tensor::scalar(DType::F32, 0.1).getF64(0), (double)0.1f);
  EXPECT_EQ(Tensor::scalar(DType::F16, 0.1).getF64(0), (double)halfToFloat(floatToHalf(0.1f)));
  EXPECT_EQ(Tensor::scalarInt(DType::U8, 300).getI64(0), 44);   // wraps
  EXPECT_EQ(Tensor::scalar(DType::I32, 1e20).getI64(0), INT32_MAX);  // saturates
  EXPECT_EQ(Tensor::scalar(DType::I64, NAN).getI64(0), 0);
  EXPECT_EQ(Tensor::scalar(DType::Bool, 0.5).getI64(0), 1);
  EXPECT_EQ(Tensor::scalarInt(DType::I64, INT64_MIN).getI64(0), INT64_MIN);
  EXPECT_EQ(Tensor::scalar(DType::F64, -2.5).ndim(), 0);
}

TEST(Tensor, HugeShapesAreUserErrors) {
  EXPECT_NE(errorOf([] { Tensor::empty(DType::F32, {1LL << 40, 1LL << 40}); }), "");
}

// ------------------------------------------------------------------------ arguments
TEST(TensorArgs, TensorFromNestedData) {
  Tensor t = argTensor(L({L({I(1), I(2)}), L({I(3), I(4)})}), "tensor", "data");
  EXPECT_EQ(t.dtype(), DType::I64);
  EXPECT_EQ(t.shape(), (Shape{2, 2}));
  EXPECT_EQ(t.getI64(3), 4);
  Tensor f = argTensor(L({I(1), F(2.5), Value::boolean(true)}), "tensor", "data");
  EXPECT_EQ(f.dtype(), DType::F32);
  EXPECT_EQ(f.getF64(2), 1.0);
  EXPECT_EQ(argTensor(T({Value::boolean(true)}), "tensor", "data").dtype(), DType::Bool);
  EXPECT_EQ(argTensor(F(2.0), "f", "x").dtype(), DType::F32);
  EXPECT_EQ(argTensor(I(2), "f", "x").dtype(), DType::I64);
  Tensor e = argTensor(L({}), "tensor", "data");
  EXPECT_EQ(e.dtype(), DType::F32);
  EXPECT_EQ(e.shape(), (Shape{0}));
  EXPECT_EQ(argTensor(L({L({}), L({})}), "tensor", "data").shape(), (Shape{2, 0}));
  // An explicit dtype converts the Python values directly (no detour through f32).
  DType f64 = DType::F64;
  EXPECT_EQ(tensorFromData(L({F(0.1)}), &f64, "tensor").getF64(0), 0.1);
  DType i64 = DType::I64;
  EXPECT_EQ(tensorFromData(L({I(INT64_MAX)}), &i64, "tensor").getI64(0), INT64_MAX);
  // Tensors inside lists stack, promoting with each other and weakly with numbers.
  Value row = TV(makeT(DType::F16, {2}, {1, 2}));
  Tensor s = tensorFromData(L({row, L({F(3), F(4)})}), nullptr, "tensor");
  EXPECT_EQ(s.dtype(), DType::F16);
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_EQ(s.getF64(3), 4.0);
}

TEST(TensorArgs, RaggedAndBadData) {
  EXPECT_EQ(errorOf([] { argTensor(L({L({I(1), I(2)}), L({I(3)})}), "tensor", "data"); }),
            "tensor(): nested lists have inconsistent lengths at depth 1");
  EXPECT_EQ(errorOf([] { argTensor(L({I(1), L({I(3)})}), "tensor", "data"); }),
            "tensor(): nested lists have inconsistent lengths at depth 1");
  EXPECT_EQ(errorOf([] { argTensor(L({L({I(3)}), I(1)}), "tensor", "data"); }),
            "tensor(): nested lists have inconsistent lengths at depth 1");
  EXPECT_EQ(errorOf([] { argTensor(L({S("a")}), "tensor", "data"); }), "tensor(): unsupported element type 'str'");
  EXPECT_EQ(errorOf([] { argTensor(S("a"), "exp", "x"); }), "exp() argument 'x' must be a tensor, not 'str'");
  Value deep = I(1);
  for (int i = 0; i < 100; ++i) deep = L({deep});
  EXPECT_NE(errorOf([&] { argTensor(deep, "tensor", "data"); }), "");
}

TEST(TensorArgs, ShapesAndAxes) {
  EXPECT_EQ(argShape(I(3), "zeros", "shape"), (Shape{3}));
  EXPECT_EQ(argShape(T({I(2), I(0)}), "zeros", "shape"), (Shape{2, 0}));
  EXPECT_EQ(argShape(L({}), "zeros", "shape"), (Shape{}));
  EXPECT_EQ(errorOf([] { argShape(T({I(2), I(-1)}), "zeros", "shape"); }), "zeros(): negative dimension -1 in shape");
  EXPECT_NE(errorOf([] { argShape(F(2.0), "zeros", "shape"); }), "");
  EXPECT_EQ(argAxes(Value::none(), 3, "sum"), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(argAxes(I(-1), 3, "sum"), (std::vector<int>{2}));
  EXPECT_EQ(argAxes(T({I(2), I(0)}), 3, "sum"), (std::vector<int>{0, 2}));
  EXPECT_EQ(errorOf([] { argAxes(I(3), 3, "sum"); }), "axis 3 is out of range for a tensor with 3 dimensions");
  EXPECT_EQ(errorOf([] { normAxis(-2, 1); }), "axis -2 is out of range for a tensor with 1 dimension");
  EXPECT_EQ(errorOf([] { argAxes(T({I(0), I(-3)}), 3, "sum"); }), "sum(): repeated axis 0");
  EXPECT_EQ(normAxis(-1, 4), 3);
}

}  // namespace
}  // namespace msl
