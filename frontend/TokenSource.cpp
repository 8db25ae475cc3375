// Logical lines, INDENT / DEDENT, brackets and lexical diagnostics (see TokenSource.h).
#include "frontend/TokenSource.h"

#include "frontend/Input.h"

namespace msl {

using antlr4::Token;

TokenSource::TokenSource(antlr4::TokenSource& lexer, const TokenKinds& kinds,
                         const SourceFile* file, Mode mode)
    : lexer_(lexer), kinds_(kinds), file_(file), mode_(mode) {}

std::unique_ptr<Token> TokenSource::nextToken() {
  while (pending_.empty()) {
    if (done_) {
      // The parser never asks past EOF; answer with another EOF if it does.
      auto eof = lexer_.nextToken();
      pending_.push_back(std::move(eof));
      break;
    }
    handle(lexer_.nextToken());
  }
  std::unique_ptr<Token> t = std::move(pending_.front());
  pending_.pop_front();
  return t;
}

bool TokenSource::isAtEnd(const Token* t) {
  antlr4::CharStream* in = t ? t->getInputStream() : nullptr;
  return in != nullptr && t->getStartIndex() != INVALID_INDEX && t->getStartIndex() >= in->size();
}

SourceLoc TokenSource::locOf(const Token& t) const {
  return SourceLoc{file_, uint32_t(t.getLine()), uint32_t(t.getCharPositionInLine() + 1)};
}

void TokenSource::fail(DiagId id, const Token& t, const std::vector<std::string>& args) {
  raise(id, locOf(t), args);
}

std::unique_ptr<Token> TokenSource::synthetic(size_t type, const Token& at, bool atEnd) {
  size_t start = atEnd ? lexer_.getInputStream()->size() : at.getStartIndex();
  auto t = std::make_unique<antlr4::CommonToken>(
      std::make_pair(static_cast<antlr4::TokenSource*>(this), lexer_.getInputStream()), type,
      Token::DEFAULT_CHANNEL, start, start - 1);
  t->setLine(at.getLine());
  t->setCharPositionInLine(at.getCharPositionInLine());
  t->setText(type == kinds_.newline ? "<NEWLINE>" : type == kinds_.indent ? "<INDENT>"
             : type == kinds_.dedent ? "<DEDENT>" : "<EOF>");
  return t;
}

void TokenSource::handle(std::unique_ptr<Token> t) {
  size_t type = t->getType();
  if (type == Token::EOF) {
    handleEof(std::move(t));
    return;
  }
  if (t->getChannel() != Token::DEFAULT_CHANNEL) {
    if (type == kinds_.lineJoin) {
      afterLineJoin_ = true;
      joinLoc_ = locOf(*t);
    }
    return;
  }
  afterLineJoin_ = false;
  if (++tokenCount_ > limits::kMaxTokens)
    fail(DiagId::TooManyTokens, *t, {std::to_string(limits::kMaxTokens)});

  if (type == kinds_.newline) {
    // Implicit line joining inside brackets; blank and comment-only lines are ignored.
    if (mode_ == Mode::Expression || !brackets_.empty() || !lineHasTokens_) return;
    lineHasTokens_ = false;
    pending_.push_back(std::move(t));
    return;
  }

  checkToken(*t);
  if (mode_ == Mode::File && !lineHasTokens_ && brackets_.empty()) indentation(*t);

  auto closerOf = [&](size_t open) {
    return open == kinds_.openParen ? kinds_.closeParen
           : open == kinds_.openBrack ? kinds_.closeBrack : kinds_.closeBrace;
  };
  if (type == kinds_.openParen || type == kinds_.openBrack || type == kinds_.openBrace) {
    brackets_.push_back(Bracket{type, locOf(*t), t->getText()});
    checkNesting(*t);
  } else if (type == kinds_.closeParen || type == kinds_.closeBrack || type == kinds_.closeBrace) {
    if (brackets_.empty()) fail(DiagId::UnmatchedBracket, *t, {t->getText()});
    if (closerOf(brackets_.back().type) != type)
      fail(DiagId::MismatchedBracket, *t, {t->getText(), brackets_.back().text});
    brackets_.pop_back();
  }
  lineHasTokens_ = true;
  pending_.push_back(std::move(t));
}

void TokenSource::handleEof(std::unique_ptr<Token> eof) {
  if (afterLineJoin_) {
    incompleteAtEof_ = true;
    raise(DiagId::SyntaxError, joinLoc_, {"unexpected end of input after a line continuation '\\'"});
  }
  if (!brackets_.empty()) {
    incompleteAtEof_ = true;
    raise(DiagId::UnclosedBracket, brackets_.back().loc, {brackets_.back().text});
  }
  if (mode_ == Mode::File) {
    if (lineHasTokens_) pending_.push_back(synthetic(kinds_.newline, *eof, true));
    lineHasTokens_ = false;
    while (indents_.size() > 1) {
      indents_.pop_back();
      pending_.push_back(synthetic(kinds_.dedent, *eof, true));
    }
  }
  pending_.push_back(std::move(eof));
  done_ = true;
}

// Compares the leading whitespace of `t`'s line with the indentation stack and queues the
// INDENT or DEDENT tokens that go before `t`.
void TokenSource::indentation(const Token& t) {
  size_t pos = t.getCharPositionInLine();
  uint32_t col8 = 0, col1 = 0;
  if (pos > 0) {
    size_t lineStart = t.getStartIndex() - pos;
    std::string prefix = lexer_.getInputStream()->getText(antlr4::misc::Interval(lineStart, t.getStartIndex() - 1));
    for (char c : prefix) {
      if (c == ' ') {
        ++col8;
        ++col1;
      } else if (c == '\t') {
        col8 = (col8 / 8 + 1) * 8;
        ++col1;
      } else if (c == '\f') {
        col8 = col1 = 0;  // as Python: a form feed resets the count
      } else {
        break;
      }
    }
  }
  Indent top = indents_.back();
  if (col8 == top.col8) {
    if (col1 != top.col1) fail(DiagId::TabsAndSpaces, t);
    return;
  }
  if (col8 > top.col8) {
    if (col1 <= top.col1) fail(DiagId::TabsAndSpaces, t);
    indents_.push_back(Indent{col8, col1});
    sawIndent_ = true;
    checkNesting(t);
    pending_.push_back(synthetic(kinds_.indent, t, false));
    return;
  }
  while (indents_.size() > 1 && col8 < indents_.back().col8) {
    indents_.pop_back();
    pending_.push_back(synthetic(kinds_.dedent, t, false));
  }
  if (col8 != indents_.back().col8) fail(DiagId::BadIndent, t);
  if (col1 != indents_.back().col1) fail(DiagId::TabsAndSpaces, t);
}

void TokenSource::checkNesting(const Token& t) {
  size_t depth = brackets_.size() + indents_.size() - 1;
  if (depth > limits::kMaxNesting)
    fail(DiagId::NestingTooDeep, t, {std::to_string(limits::kMaxNesting)});
}

// Lexical diagnostics carried by the lexer's error tokens and rejected tokens.
void TokenSource::checkToken(const Token& t) {
  size_t type = t.getType();
  auto rejected = kinds_.rejected.find(type);
  if (rejected != kinds_.rejected.end()) fail(rejected->second.id, t, rejected->second.args);
  if (type == kinds_.badNumber) fail(DiagId::BadNumber, t, {t.getText()});
  if (type == kinds_.unterminatedString) {
    std::string text = t.getText();
    size_t q = text.find_first_of("'\"");
    bool triple = q != std::string::npos && text.compare(q, 3, std::string(3, text[q])) == 0;
    if (triple) incompleteAtEof_ = true;  // it runs to the end of the input
    fail(DiagId::UnterminatedString, t);
  }
  if (type == kinds_.errorChar) {
    std::string text = t.getText();
    if (text == "\\")
      fail(DiagId::SyntaxError, t, {"unexpected character after line continuation character '\\'"});
    if (text.size() == 1 && ((unsigned char)text[0] < 0x20 || text[0] == 0x7f)) {
      const char* digits = "0123456789abcdef";
      unsigned char c = text[0];
      text = std::string("\\x") + digits[c >> 4] + digits[c & 15];
    }
    fail(DiagId::BadCharacter, t, {text});
  }
}

}  // namespace msl
