// Tensor element types and JAX-style promotion.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace msl {

// Order matters: it is the promotion lattice bool < u8 < u32 < i32 < i64 < f16/bf16 < f32 < f64
// (with u32 and i32 meeting at i64, as in JAX). u32 holds raw random bits and key data.
enum class DType : uint8_t { Bool, U8, U32, I32, I64, F16, BF16, F32, F64 };
constexpr int kNumDTypes = 9;

const char* dtypeName(DType t);          // "f32", "i64", "bool", ...
bool dtypeFromName(const std::string& s, DType* out);
size_t dtypeSize(DType t);
inline bool isFloat(DType t) { return t >= DType::F16; }
inline bool isInteger(DType t) { return t >= DType::U8 && t <= DType::I64; }
inline bool isUnsigned(DType t) { return t == DType::U8 || t == DType::U32; }

constexpr DType kDefaultFloat = DType::F32;
constexpr DType kDefaultInt = DType::I64;

// Promotion of two tensor dtypes (f16 with bf16 gives f32, u32 with i32 gives i64).
DType promote(DType a, DType b);
// The kind of a Python scalar taking part in a tensor operation ("weakly typed").
enum class WeakKind : uint8_t { Bool, Int, Float };
// dtype of `tensor(t) op python_scalar(k)`: the tensor's dtype, unless the scalar is of a
// higher kind (float with an integer/bool tensor gives f32; int with a bool tensor gives i64).
DType promoteWeak(DType t, WeakKind k);

// IEEE half and bfloat16 conversions (round to nearest even).
uint16_t floatToHalf(float f);
float halfToFloat(uint16_t h);
uint16_t floatToBf16(float f);
float bf16ToFloat(uint16_t h);

}  // namespace msl
