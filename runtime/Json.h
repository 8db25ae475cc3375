// A small JSON reader and writer (RFC 8259), for file headers such as safetensors'.
//
// Reading is two passes over the text: `validate` checks the grammar (strings are valid
// UTF-8 without raw control characters, escapes are well formed, surrogates are paired,
// numbers follow the grammar, nesting is limited) without allocating anything; a `Cursor`
// then walks the validated text, decoding only what its user asks for, so a reader that
// follows a schema builds no document tree and its memory stays proportional to what it
// keeps. Nothing here throws.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace msl::json {

// Checks that `text` is exactly one JSON value, optionally surrounded by whitespace, with
// objects and arrays nested at most `maxDepth` deep. Returns "" when it is, else what is
// wrong and where ("unterminated string at byte 12").
std::string validate(std::string_view text, int maxDepth);

// Walks text that `validate` accepted. Every method first skips whitespace.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : t_(text) {}

  // The first character of the next value: '{', '[', '"', 't', 'f', 'n', '-' or a digit.
  char peek();
  // Objects: beginObject() consumes '{'; then nextMember(&key) decodes the next key and
  // consumes its ':' (the cursor is then at the member's value), or consumes '}' and
  // returns false.
  void beginObject();
  bool nextMember(std::string* key);
  // Arrays: beginArray() consumes '['; nextElement() is true before each element, false
  // (having consumed ']') at the end.
  void beginArray();
  bool nextElement();
  // The decoded string at the cursor (peek() == '"').
  std::string string();
  // A number at the cursor that is a non-negative integer written without fraction or
  // exponent and at most `max`: true with *out set; otherwise false, the number consumed.
  bool unsignedInt(uint64_t max, uint64_t* out);
  // Skips any value.
  void skip();
  size_t pos() const { return i_; }

 private:
  void ws();
  std::string_view t_;
  size_t i_ = 0;
  bool first_ = false;  // no element/member read yet in the innermost container
};

// `s` as a JSON string literal, quotes included (control characters, '"' and '\\' escaped;
// other bytes as they are).
std::string quote(std::string_view s);

}  // namespace msl::json
