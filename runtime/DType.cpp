// Tensor element types: names, sizes, JAX-style promotion and 16-bit float conversions.
#include "runtime/DType.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace msl {

static const char* const kNames[kNumDTypes] = {"bool", "u8", "u32", "i32", "i64", "f16", "bf16", "f32", "f64"};
static const size_t kSizes[kNumDTypes] = {1, 1, 4, 4, 8, 2, 2, 4, 8};

const char* dtypeName(DType t) { return kNames[(int)t]; }

bool dtypeFromName(const std::string& s, DType* out) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (s == kNames[i]) {
      *out = (DType)i;
      return true;
    }
  return false;
}

size_t dtypeSize(DType t) { return kSizes[(int)t]; }

DType promote(DType a, DType b) {
  if ((a == DType::F16 && b == DType::BF16) || (a == DType::BF16 && b == DType::F16)) return DType::F32;
  if ((a == DType::U32 && b == DType::I32) || (a == DType::I32 && b == DType::U32)) return DType::I64;
  return a > b ? a : b;
}

DType promoteWeak(DType t, WeakKind k) {
  switch (k) {
    case WeakKind::Float: return isFloat(t) ? t : kDefaultFloat;
    case WeakKind::Int: return t == DType::Bool ? kDefaultInt : t;
    case WeakKind::Bool: return t;
  }
  return t;
}

uint16_t floatToHalf(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u)  // inf, or nan (kept quiet, with the top payload bits)
    return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0u));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (ax < 0x38800000u) {
    // Below the smallest normal half (2^-14): the result is a multiple of 2^-24. Scaling
    // by 2^24 is exact, and rint rounds to nearest even (the default rounding mode).
    float scaled = std::bit_cast<float>(ax) * 16777216.0f;
    return (uint16_t)(sign | (uint32_t)std::rint(scaled));
  }
  // Normal: round the 23-bit mantissa to 10 bits (nearest even), then rebias 127 -> 15.
  uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u);
  return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

float halfToFloat(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
  if (e == 0) {
    float v = (float)m * (1.0f / 16777216.0f);  // m * 2^-24, exact
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((e + 112u) << 23) | (m << 13));
}

uint16_t floatToBf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);  // quiet nan
  x += 0x7fffu + ((x >> 16) & 1u);
  return (uint16_t)(x >> 16);
}

float bf16ToFloat(uint16_t h) { return std::bit_cast<float>((uint32_t)h << 16); }

}  // namespace msl
