// UTF-8 helpers for msl strings, which hold UTF-8 text and are indexed by code point.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace msl {

// Decodes the code point starting at s[*i] and advances *i past it. An invalid or
// truncated sequence yields its first byte as a code point (0x80..0xFF) and advances by
// one, so every byte string decodes to something.
inline uint32_t utf8Next(std::string_view s, size_t* i) {
  unsigned char c = (unsigned char)s[*i];
  int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 1) { ++*i; return c; }
  if (len == 0 || *i + len > s.size()) { ++*i; return c; }
  uint32_t cp = c & (0xFF >> (len + 1));
  for (int k = 1; k < len; ++k) {
    unsigned char d = (unsigned char)s[*i + k];
    if ((d & 0xC0) != 0x80) { ++*i; return c; }
    cp = (cp << 6) | (d & 0x3F);
  }
  *i += len;
  return cp;
}

inline void utf8Append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += (char)cp;
  } else if (cp < 0x800) {
    out += (char)(0xC0 | (cp >> 6));
    out += (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += (char)(0xE0 | (cp >> 12));
    out += (char)(0x80 | ((cp >> 6) & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  } else {
    out += (char)(0xF0 | (cp >> 18));
    out += (char)(0x80 | ((cp >> 12) & 0x3F));
    out += (char)(0x80 | ((cp >> 6) & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  }
}

// Number of code points (continuation bytes are not counted).
inline int64_t utf8Length(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Byte offset of code point `index` (s.size() when index == length).
inline size_t utf8Offset(std::string_view s, int64_t index) {
  size_t i = 0;
  for (; i < s.size(); ++i) {
    if (((unsigned char)s[i] & 0xC0) == 0x80) continue;
    if (index-- == 0) return i;
  }
  return i;
}

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or values > U+10FFFF).
inline bool utf8Valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) { ++i; continue; }
    size_t start = i;
    uint32_t cp = utf8Next(s, &i);
    size_t len = i - start;
    if (len == 1) return false;  // a stray or truncated lead byte
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
      return false;  // overlong
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
  }
  return true;
}

// Python's str.isspace() for one code point.
inline bool isPySpace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace msl
