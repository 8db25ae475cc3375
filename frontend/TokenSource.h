// The token source between the ANTLR lexer and the ANTLR parser.
//
// It applies Python's rules for logical lines:
//   - NEWLINE ends a logical line; NEWLINEs inside (), [], {} and on blank or comment-only
//     lines are dropped (implicit line joining); a backslash at the end of a line joins it
//     with the next (the lexer puts that on the hidden channel);
//   - the leading whitespace of each logical line is compared with a stack of indentation
//     levels: deeper pushes and emits INDENT, shallower pops and emits one DEDENT per level
//     (it must land on an enclosing level); tabs advance to the next multiple of 8 and
//     indentation whose meaning depends on the tab width is an error;
//   - at the end of input a NEWLINE ends the last line and DEDENTs close open blocks.
// It also checks brackets (unmatched / mismatched / never closed), the nesting and token
// limits, and turns the lexer's error tokens (bad characters and numbers, unterminated
// strings, the Python keywords and operators that msl leaves out) into diagnostics.
//
// For the REPL it records whether the input ended while something was still open (a
// bracket, a triple-quoted string, a line continuation): `incompleteAtEof()`.
//
// It knows token types only through TokenKinds (filled in by frontend/Parser.cpp), so that
// the ANTLR-generated headers stay private to the parser.
#pragma once
#include <antlr4-runtime.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/Diagnostics.h"
#include "ir/Source.h"

namespace msl {

// The token types the token source must know about.
struct TokenKinds {
  size_t newline = 0, indent = 0, dedent = 0, lineJoin = 0;
  size_t openParen = 0, closeParen = 0, openBrack = 0, closeBrack = 0, openBrace = 0,
         closeBrace = 0;
  size_t unterminatedString = 0, badNumber = 0, errorChar = 0;
  // Token types rejected wherever they appear: the diagnostic and its arguments.
  struct Rejection {
    DiagId id;
    std::vector<std::string> args;
  };
  std::map<size_t, Rejection> rejected;
};

class TokenSource : public antlr4::TokenSource {
 public:
  enum class Mode {
    File,        // statements: NEWLINE / INDENT / DEDENT
    Expression,  // an f-string replacement field: no NEWLINE, INDENT or DEDENT at all
  };

  // `lexer` produces the raw tokens; `file` is where diagnostics point.
  TokenSource(antlr4::TokenSource& lexer, const TokenKinds& kinds, const SourceFile* file,
              Mode mode);

  std::unique_ptr<antlr4::Token> nextToken() override;
  size_t getLine() const override { return lexer_.getLine(); }
  size_t getCharPositionInLine() override { return lexer_.getCharPositionInLine(); }
  antlr4::CharStream* getInputStream() override { return lexer_.getInputStream(); }
  std::string getSourceName() override { return file_ ? file_->name : std::string(); }
  antlr4::TokenFactory<antlr4::CommonToken>* getTokenFactory() override {
    return lexer_.getTokenFactory();
  }

  // True when the input ended inside an open bracket, an open triple-quoted string or
  // right after a line continuation: more lines could complete it (the REPL asks).
  bool incompleteAtEof() const { return incompleteAtEof_; }
  // Whether `t` stands at the end of the input: EOF, or a NEWLINE / DEDENT made there.
  static bool isAtEnd(const antlr4::Token* t);
  // True when the input contained an indented block (the REPL then waits for a blank line).
  bool sawIndent() const { return sawIndent_; }

 private:
  struct Bracket {
    size_t type;
    SourceLoc loc;
    std::string text;
  };
  struct Indent {
    uint32_t col8;  // column with tabs advancing to the next multiple of 8
    uint32_t col1;  // column with tabs counting as one space: both must agree in order
  };

  void handle(std::unique_ptr<antlr4::Token> t);
  void handleEof(std::unique_ptr<antlr4::Token> eof);
  void indentation(const antlr4::Token& t);
  void checkToken(const antlr4::Token& t);
  void checkNesting(const antlr4::Token& t);
  std::unique_ptr<antlr4::Token> synthetic(size_t type, const antlr4::Token& at, bool atEnd);
  SourceLoc locOf(const antlr4::Token& t) const;
  [[noreturn]] void fail(DiagId id, const antlr4::Token& t, const std::vector<std::string>& args = {});

  antlr4::TokenSource& lexer_;
  const TokenKinds& kinds_;
  const SourceFile* file_;
  Mode mode_;
  std::deque<std::unique_ptr<antlr4::Token>> pending_;
  std::vector<Bracket> brackets_;
  std::vector<Indent> indents_{Indent{0, 0}};
  bool lineHasTokens_ = false;   // the current logical line has a significant token
  bool afterLineJoin_ = false;   // the last raw token was a line continuation
  SourceLoc joinLoc_;            // ... at this place
  bool done_ = false;            // EOF was produced
  bool incompleteAtEof_ = false;
  bool sawIndent_ = false;
  size_t tokenCount_ = 0;
};

}  // namespace msl
