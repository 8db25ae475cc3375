// The JSON reader and writer of runtime/Json.h.
#include "runtime/Json.h"

#include <vector>

namespace msl::json {

namespace {

bool isWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

int hexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The four hex digits at t[i..i+4), or -1.
int32_t hex4(std::string_view t, size_t i) {
  if (i + 4 > t.size()) return -1;
  int32_t v = 0;
  for (size_t k = 0; k < 4; ++k) {
    int h = hexVal(t[i + k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

// Length of the valid UTF-8 sequence (of a non-ASCII code point) at t[i], or 0.
size_t utf8Len(std::string_view t, size_t i) {
  auto b = [&](size_t k) { return (unsigned char)t[i + k]; };
  unsigned char c = b(0);
  size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (len == 0 || i + len > t.size()) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((b(k) & 0xC0) != 0x80) return 0;
  // Overlong forms, UTF-16 surrogates and code points above U+10FFFF.
  if (c == 0xE0 && b(1) < 0xA0) return 0;
  if (c == 0xED && b(1) >= 0xA0) return 0;
  if (c == 0xF0 && b(1) < 0x90) return 0;
  if (c == 0xF4 && b(1) >= 0x90) return 0;
  return len;
}

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += (char)cp;
  } else if (cp < 0x800) {
    out += (char)(0xC0 | cp >> 6);
    out += (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += (char)(0xE0 | cp >> 12);
    out += (char)(0x80 | (cp >> 6 & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  } else {
    out += (char)(0xF0 | cp >> 18);
    out += (char)(0x80 | (cp >> 12 & 0x3F));
    out += (char)(0x80 | (cp >> 6 & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  }
}

class Validator {
 public:
  Validator(std::string_view t, int maxDepth) : t_(t), maxDepth_(maxDepth) {}

  std::string run() {
    ws();
    if (!value()) return why_;
    ws();
    if (i_ != t_.size()) return at("text after the JSON value");
    return "";
  }

 private:
  std::string at(const std::string& what) { return what + " at byte " + std::to_string(i_); }
  bool fail(const std::string& what) {
    why_ = at(what);
    return false;
  }
  void ws() {
    while (i_ < t_.size() && isWs(t_[i_])) ++i_;
  }
  bool word(std::string_view w) {
    if (t_.substr(i_, w.size()) != w) return fail("invalid literal");
    i_ += w.size();
    return true;
  }

  // Containers are walked with an explicit stack, so depth costs no C++ recursion.
  bool value() {
    std::vector<char> stack;  // '{' or '[' per open container
    while (true) {
      // At the start of a value.
      if (i_ >= t_.size()) return fail("unexpected end of the text");
      char c = t_[i_];
      if (c == '{' || c == '[') {
        if ((int)stack.size() >= maxDepth_)
          return fail("nesting deeper than " + std::to_string(maxDepth_) + " levels");
        stack.push_back(c);
        ++i_;
        ws();
        char close = c == '{' ? '}' : ']';
        if (i_ < t_.size() && t_[i_] == close) {
          ++i_;
          stack.pop_back();
        } else {
          if (c == '{' && !key()) return false;
          continue;
        }
      } else if (c == '"') {
        if (!str()) return false;
      } else if (c == '-' || isDigit(c)) {
        if (!number()) return false;
      } else if (c == 't') {
        if (!word("true")) return false;
      } else if (c == 'f') {
        if (!word("false")) return false;
      } else if (c == 'n') {
        if (!word("null")) return false;
      } else {
        return fail(std::string("unexpected character '") + (c >= 0x20 && c < 0x7f ? std::string(1, c) : "?") + "'");
      }
      // After a value: close containers or go on to the next element.
      while (true) {
        if (stack.empty()) return true;
        ws();
        if (i_ >= t_.size()) return fail("unexpected end of the text");
        char close = stack.back() == '{' ? '}' : ']';
        if (t_[i_] == close) {
          ++i_;
          stack.pop_back();
          continue;
        }
        if (t_[i_] != ',') return fail(std::string("expected ',' or '") + close + "'");
        ++i_;
        ws();
        if (stack.back() == '{' && !key()) return false;
        break;
      }
    }
  }

  // A member's key and its ':', leaving the cursor at the value.
  bool key() {
    if (i_ >= t_.size() || t_[i_] != '"') return fail("expected a string key");
    if (!str()) return false;
    ws();
    if (i_ >= t_.size() || t_[i_] != ':') return fail("expected ':'");
    ++i_;
    ws();
    return true;
  }

  bool str() {
    ++i_;  // '"'
    while (true) {
      if (i_ >= t_.size()) return fail("unterminated string");
      unsigned char c = (unsigned char)t_[i_];
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return fail("control character in a string");
      if (c == '\\') {
        if (i_ + 1 >= t_.size()) return fail("unterminated string");
        char e = t_[i_ + 1];
        if (e == 'u') {
          int32_t u = hex4(t_, i_ + 2);
          if (u < 0) return fail("bad \\u escape");
          i_ += 6;
          if (u >= 0xDC00 && u <= 0xDFFF) return fail("unpaired surrogate in a \\u escape");
          if (u >= 0xD800 && u <= 0xDBFF) {
            int32_t lo = i_ + 1 < t_.size() && t_[i_] == '\\' && t_[i_ + 1] == 'u' ? hex4(t_, i_ + 2) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) return fail("unpaired surrogate in a \\u escape");
            i_ += 6;
          }
          continue;
        }
        if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't')
          return fail("bad escape in a string");
        i_ += 2;
        continue;
      }
      if (c < 0x80) {
        ++i_;
        continue;
      }
      size_t len = utf8Len(t_, i_);
      if (len == 0) return fail("invalid UTF-8 in a string");
      i_ += len;
    }
  }

  bool number() {
    if (t_[i_] == '-') ++i_;
    if (i_ >= t_.size() || !isDigit(t_[i_])) return fail("bad number");
    if (t_[i_] == '0') {
      ++i_;
    } else {
      while (i_ < t_.size() && isDigit(t_[i_])) ++i_;
    }
    if (i_ < t_.size() && t_[i_] == '.') {
      ++i_;
      if (i_ >= t_.size() || !isDigit(t_[i_])) return fail("bad number");
      while (i_ < t_.size() && isDigit(t_[i_])) ++i_;
    }
    if (i_ < t_.size() && (t_[i_] == 'e' || t_[i_] == 'E')) {
      ++i_;
      if (i_ < t_.size() && (t_[i_] == '+' || t_[i_] == '-')) ++i_;
      if (i_ >= t_.size() || !isDigit(t_[i_])) return fail("bad number");
      while (i_ < t_.size() && isDigit(t_[i_])) ++i_;
    }
    return true;
  }

  std::string_view t_;
  int maxDepth_;
  size_t i_ = 0;
  std::string why_;
};

}  // namespace

std::string validate(std::string_view text, int maxDepth) { return Validator(text, maxDepth).run(); }

// ------------------------------------------------------------------ Cursor

void Cursor::ws() {
  while (i_ < t_.size() && isWs(t_[i_])) ++i_;
}

char Cursor::peek() {
  ws();
  return i_ < t_.size() ? t_[i_] : '\0';
}

void Cursor::beginObject() {
  ws();
  ++i_;
  first_ = true;
}

bool Cursor::nextMember(std::string* key) {
  ws();
  if (t_[i_] == '}') {
    ++i_;
    first_ = false;
    return false;
  }
  if (!first_) {
    ++i_;  // ','
    ws();
  }
  first_ = false;
  *key = string();
  ws();
  ++i_;  // ':'
  return true;
}

void Cursor::beginArray() {
  ws();
  ++i_;
  first_ = true;
}

bool Cursor::nextElement() {
  ws();
  if (t_[i_] == ']') {
    ++i_;
    first_ = false;
    return false;
  }
  if (!first_) {
    ++i_;  // ','
    ws();
  }
  first_ = false;
  return true;
}

std::string Cursor::string() {
  ws();
  std::string out;
  ++i_;  // '"'
  while (t_[i_] != '"') {
    char c = t_[i_];
    if (c != '\\') {
      out += c;
      ++i_;
      continue;
    }
    char e = t_[i_ + 1];
    i_ += 2;
    switch (e) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        uint32_t cp = (uint32_t)hex4(t_, i_);
        i_ += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {  // validated: a low surrogate follows
          uint32_t lo = (uint32_t)hex4(t_, i_ + 2);
          i_ += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        appendUtf8(out, cp);
        break;
      }
      default: out += e; break;  // '"', '\\', '/'
    }
  }
  ++i_;
  return out;
}

bool Cursor::unsignedInt(uint64_t max, uint64_t* out) {
  ws();
  size_t start = i_;
  bool ok = true;
  uint64_t v = 0;
  while (i_ < t_.size() && isDigit(t_[i_])) {
    uint64_t d = (uint64_t)(t_[i_] - '0');
    if (v > (max - d) / 10) ok = false;
    else v = v * 10 + d;
    ++i_;
  }
  if (i_ == start) ok = false;  // a '-'
  // The rest of the number: sign, digits, fraction, exponent.
  while (i_ < t_.size() && (isDigit(t_[i_]) || t_[i_] == '-' || t_[i_] == '+' || t_[i_] == '.' || t_[i_] == 'e' || t_[i_] == 'E')) {
    ok = false;
    ++i_;
  }
  if (ok) *out = v;
  return ok;
}

void Cursor::skip() {
  int depth = 0;
  do {
    ws();
    char c = t_[i_];
    if (c == '{' || c == '[') {
      ++depth;
      ++i_;
    } else if (c == '}' || c == ']') {
      --depth;
      ++i_;
    } else if (c == ',' || c == ':') {
      ++i_;
    } else if (c == '"') {
      string();
    } else {
      while (i_ < t_.size() && !isWs(t_[i_]) && t_[i_] != ',' && t_[i_] != '}' && t_[i_] != ']') ++i_;
    }
    ws();
  } while (depth > 0);
  first_ = false;
}

// ------------------------------------------------------------------ writer

std::string quote(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : s) {
    unsigned char u = (unsigned char)c;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace msl::json
