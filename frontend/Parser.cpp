// The msl parser: ANTLR lexer -> TokenSource -> ANTLR parser -> parse tree -> AST.
//
// This is the only file that includes ANTLR's generated code. Its parts:
//   - token kinds and rejected tokens for the TokenSource;
//   - SyntaxErrorStrategy: replaces ANTLR's error reporting and recovery; the first
//     syntax error becomes one msl::Error with a short message ("expected ':'");
//   - GuardedParser and guard(): stop deep input before it exhausts the parser's stack;
//   - Session: one lexer + token source + parser over one text (a file, or the text of an
//     f-string replacement field at its place in the file);
//   - Builder: walks the parse tree and builds the AST of frontend/AST.h, decoding literals
//     (escapes, adjacent strings, f-strings, numbers), checking what the grammar accepts
//     too generously (targets, parameters, arguments, class bodies, `return`/`break`
//     placement, the Python features msl leaves out) and bounding the depth of the tree;
//   - runWithLargeStack: parsing runs on a thread with a 512 MiB stack.
#include "frontend/Parser.h"

#include <locale.h>
#include <pthread.h>
#include <stdlib.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <set>
#include <unordered_map>

#include "MslLexer.h"
#include "MslParser.h"
#include "antlr4-runtime.h"
#include "frontend/Input.h"
#include "frontend/TokenSource.h"
#include "ir/Diagnostics.h"

namespace msl {
namespace {

using antlr4::ParserRuleContext;
using antlr4::Token;
using antlr4::tree::ParseTree;
using antlr4::tree::TerminalNode;
using msl_antlr::MslLexer;
using P = msl_antlr::MslParser;
using namespace ast;

// ============================================================================ token kinds

const TokenKinds& tokenKinds() {
  static const TokenKinds kinds = [] {
    TokenKinds k;
    k.newline = P::NEWLINE;
    k.indent = P::INDENT;
    k.dedent = P::DEDENT;
    k.lineJoin = P::LINE_JOIN;
    k.openParen = P::OPEN_PAREN;
    k.closeParen = P::CLOSE_PAREN;
    k.openBrack = P::OPEN_BRACK;
    k.closeBrack = P::CLOSE_BRACK;
    k.openBrace = P::OPEN_BRACE;
    k.closeBrace = P::CLOSE_BRACE;
    k.unterminatedString = P::UNTERMINATED_STRING;
    k.badNumber = P::BAD_NUMBER;
    k.errorChar = P::ERROR_CHAR;
    auto notInLanguage = [&](size_t type, std::string what, std::string why) {
      k.rejected[type] = {DiagId::NotInLanguage, {std::move(what), std::move(why)}};
    };
    notInLanguage(P::GLOBAL, "'global'",
                  "module-level names are looked up when used; a function cannot rebind them, "
                  "return the new value instead");
    notInLanguage(P::NONLOCAL, "'nonlocal'",
                  "a nested function captures the values of enclosing variables, not the "
                  "variables; return the new value instead");
    notInLanguage(P::DEL, "'del'", "values are immutable; rebind the name instead");
    notInLanguage(P::WITH, "'with'", "there are no context managers");
    const char* noExceptions = "an error ends the program; check the condition before the operation instead";
    notInLanguage(P::TRY, "'try'", noExceptions);
    notInLanguage(P::EXCEPT, "'except'", noExceptions);
    notInLanguage(P::FINALLY, "'finally'", noExceptions);
    notInLanguage(P::YIELD, "'yield'", "there are no generators; build a list instead");
    notInLanguage(P::ASYNC, "'async'", "there are no coroutines");
    notInLanguage(P::AWAIT, "'await'", "there are no coroutines");
    notInLanguage(P::WALRUS, "':=' (assignment expression)", "assign in a statement of its own");
    auto notYet = [&](size_t type, std::string what) {
      k.rejected[type] = {DiagId::NotSupportedYet, {std::move(what)}};
    };
    notYet(P::LEFT_SHIFT, "the '<<' operator");
    notYet(P::RIGHT_SHIFT, "the '>>' operator");
    notYet(P::LEFT_SHIFT_ASSIGN, "the '<<=' operator");
    notYet(P::RIGHT_SHIFT_ASSIGN, "the '>>=' operator");
    return k;
  }();
  return kinds;
}

SourceLoc tokenLoc(const SourceFile* file, const Token* t) {
  return SourceLoc{file, uint32_t(t->getLine()), uint32_t(t->getCharPositionInLine() + 1)};
}

// The place just after the last character of `t`.
SourceLoc tokenEnd(const SourceFile* file, const Token* t) {
  SourceLoc loc = tokenLoc(file, t);
  if (TokenSource::isAtEnd(t) || t->getType() == P::INDENT || t->getType() == P::DEDENT ||
      t->getType() == Token::EOF)
    return loc;
  std::string text = t->getText();
  for (unsigned char c : text) {
    if (c == '\n') {
      ++loc.line;
      loc.col = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++loc.col;
    }
  }
  return loc;
}

// ============================================================================ syntax errors

// Turns the parser's first error into an msl::Error: no recovery, no ANTLR text.
class SyntaxErrorStrategy : public antlr4::DefaultErrorStrategy {
 public:
  explicit SyntaxErrorStrategy(const SourceFile* file) : file_(file) {}

  // True when the error was found at the end of the input (the REPL then waits for more).
  bool errorAtEnd = false;

  void reportError(antlr4::Parser* p, const antlr4::RecognitionException& e) override {
    fail(p, e.getOffendingToken() ? e.getOffendingToken() : p->getCurrentToken(), e.getExpectedTokens());
  }
  void recover(antlr4::Parser*, std::exception_ptr) override {}
  Token* recoverInline(antlr4::Parser* p) override { fail(p, p->getCurrentToken(), p->getExpectedTokens()); }
  void reportUnwantedToken(antlr4::Parser* p) override {
    fail(p, p->getCurrentToken(), p->getExpectedTokens());
  }
  void reportMissingToken(antlr4::Parser* p) override {
    fail(p, p->getCurrentToken(), p->getExpectedTokens());
  }

 private:
  static bool startsExpression(size_t type) {
    switch (type) {
      case P::NAME: case P::INT_LIT: case P::FLOAT_LIT: case P::IMAG_LIT: case P::STRING:
      case P::OPEN_PAREN: case P::OPEN_BRACK: case P::OPEN_BRACE: case P::MINUS: case P::ADD:
      case P::NOT_OP: case P::NOT: case P::LAMBDA: case P::NONE: case P::TRUE: case P::FALSE:
      case P::ELLIPSIS:
        return true;
      default:
        return false;
    }
  }

  static bool isKeyword(const std::string& text) {
    static const std::set<std::string> keywords = {
        "def", "return", "raise", "from", "import", "as", "assert", "if", "elif", "else",
        "while", "for", "in", "or", "and", "not", "is", "None", "True", "False", "class",
        "continue", "break", "pass", "lambda"};
    return keywords.count(text) != 0;
  }

  // "name 'x'", "number '2'", "')'", "end of line", ...
  static std::string describe(const Token* t) {
    size_t type = t->getType();
    if (type == Token::EOF || TokenSource::isAtEnd(t)) return "end of input";
    switch (type) {
      case P::NEWLINE: return "end of line";
      case P::INDENT: return "indent";
      case P::DEDENT: return "end of the indented block";
      case P::NAME: return "name '" + t->getText() + "'";
      case P::INT_LIT: case P::FLOAT_LIT: case P::IMAG_LIT: return "number '" + t->getText() + "'";
      case P::STRING: return "string literal";
      default: break;
    }
    std::string text = t->getText();
    if (isKeyword(text)) return "keyword '" + text + "'";
    return "'" + text + "'";
  }

  static std::string expectedName(antlr4::Parser* p, ssize_t type) {
    switch (type) {
      case P::NEWLINE: return "end of line";
      case P::NAME: return "a name";
      case P::STRING: return "a string";
      case P::INT_LIT: return "a number";
      case P::INDENT: return "an indented block";
      case P::DEDENT: return "end of the block";
      default: break;
    }
    if (type == ssize_t(Token::EOF)) return "end of input";
    std::string lit = p->getVocabulary().getLiteralName(size_t(type));
    return lit.empty() ? p->getVocabulary().getSymbolicName(size_t(type)) : lit;
  }

  // The first token of the logical line that holds `t`.
  static Token* statementStart(antlr4::Parser* p, Token* t) {
    Token* first = nullptr;
    for (ssize_t i = ssize_t(t->getTokenIndex()); i >= 0; --i) {
      Token* x = p->getTokenStream()->get(size_t(i));
      size_t xt = x->getType();
      if (x != t && (xt == P::NEWLINE || xt == P::INDENT || xt == P::DEDENT || xt == P::SEMI)) break;
      first = x;
    }
    return first;
  }

  [[noreturn]] void syntax(SourceLoc at, const std::string& msg) { raise(DiagId::SyntaxError, at, {msg}); }

  [[noreturn]] void fail(antlr4::Parser* p, Token* t, const antlr4::misc::IntervalSet& expected) {
    size_t type = t->getType();
    bool atEnd = type == Token::EOF || TokenSource::isAtEnd(t);
    errorAtEnd = atEnd;
    SourceLoc here = tokenLoc(file_, t);
    // Errors at a line end point just after the last token before it.
    SourceLoc afterPrevious = here;
    if (atEnd || type == P::NEWLINE || type == P::DEDENT) {
      for (ssize_t i = ssize_t(t->getTokenIndex()) - 1; i >= 0; --i) {
        Token* prev = p->getTokenStream()->get(size_t(i));
        size_t pt = prev->getType();
        if (pt == P::NEWLINE || pt == P::INDENT || pt == P::DEDENT) continue;
        afterPrevious = tokenEnd(file_, prev);
        break;
      }
    }
    if (type == P::INDENT) raise(DiagId::UnexpectedIndent, here);
    // Python statements that start with a plain name: `match x:`, Python 2's `print x`.
    if (Token* first = statementStart(p, t); first && first != t && first->getType() == P::NAME) {
      bool second = p->getTokenStream()->get(first->getTokenIndex() + 1) == t && type != P::NEWLINE && !atEnd;
      bool colonEnds = type == P::NEWLINE && t->getTokenIndex() > 0 &&
                       p->getTokenStream()->get(t->getTokenIndex() - 1)->getType() == P::COLON;
      if (first->getText() == "match" && (second || type == P::COLON || colonEnds))
        raise(DiagId::NotInLanguage, tokenLoc(file_, first), {"the 'match' statement", "use if/elif/else"});
      if (first->getText() == "print" && second) syntax(tokenLoc(file_, first), "missing parentheses in call to 'print'");
    }
    if (expected.contains(size_t(P::INDENT)))
      raise(DiagId::ExpectedIndent, type == P::NEWLINE || atEnd ? afterPrevious : here);

    bool wantsExpression = expected.contains(size_t(P::NAME)) && expected.contains(size_t(P::INT_LIT)) &&
                           expected.contains(size_t(P::OPEN_PAREN));
    std::vector<ssize_t> others;
    for (ssize_t e : expected.toList()) {
      if (e == ssize_t(Token::EPSILON)) continue;
      if (wantsExpression && e >= 0 && startsExpression(size_t(e))) continue;
      if (wantsExpression && (e == P::STAR || e == P::POWER)) continue;  // *xs, **d
      others.push_back(e);
    }
    SourceLoc loc = (type == P::NEWLINE || atEnd || type == P::DEDENT) ? afterPrevious : here;
    std::string msg;
    bool endsStatement = others.empty() || (others.size() <= 2 && std::all_of(others.begin(), others.end(), [](ssize_t e) {
                                              return e == P::NEWLINE || e == P::SEMI || e == ssize_t(Token::EOF);
                                            }));
    auto isCloser = [](ssize_t e) { return e == P::CLOSE_PAREN || e == P::CLOSE_BRACK || e == P::CLOSE_BRACE; };
    bool keyword = type != P::NEWLINE && !atEnd && isKeyword(t->getText()) && !startsExpression(type);
    if (wantsExpression && keyword && expected.contains(size_t(P::PASS))) {
      msg = "unexpected keyword '" + t->getText() + "'";  // at the start of a statement
    } else if (wantsExpression) {
      msg = "expected an expression";
      if (keyword) msg += ", found keyword '" + t->getText() + "'";
    } else if (endsStatement) {
      msg = "unexpected " + describe(t);
    } else if (others.size() == 1 && isCloser(others[0]) && startsExpression(type)) {
      msg = "expected ',' or " + expectedName(p, others[0]);  // `f(a b)`, `[1 2]`
    } else if (others.size() <= 3) {
      msg = "expected ";
      for (size_t i = 0; i < others.size(); ++i) {
        if (i > 0) msg += i + 1 == others.size() ? " or " : ", ";
        msg += expectedName(p, others[i]);
      }
      if (type == P::ASSIGN && expected.contains(size_t(P::COLON))) msg += " (use '==' to compare)";
    } else {
      msg = "unexpected " + describe(t);
    }
    raise(DiagId::SyntaxError, loc, {msg});
  }

  const SourceFile* file_;
};

// A safety net: anything still reported through ANTLR's listener interface (nothing should
// be) becomes an msl syntax error instead of text on the console.
class ThrowingListener : public antlr4::BaseErrorListener {
 public:
  explicit ThrowingListener(const SourceFile* file) : file_(file) {}
  void syntaxError(antlr4::Recognizer*, Token*, size_t line, size_t col, const std::string&,
                   std::exception_ptr) override {
    raise(DiagId::SyntaxError, SourceLoc{file_, uint32_t(line), uint32_t(col + 1)}, {"unexpected input"});
  }

 private:
  const SourceFile* file_;
};

// ============================================================================ stack bound

// The parser and the AST builder recurse as deep as the input nests. They run on a thread
// with a large stack (runWithLargeStack) and stop with SyntaxTooDeep when they have used
// kParserStackBudget of it, which leaves the rest for ANTLR's own recursion. The input
// limits (nesting, tree depth) are far below that; this is the safety net behind them.
thread_local uintptr_t tStackBase = 0;
thread_local size_t tStackBudget = 0;

bool stackExhausted() {
  auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  return tStackBase != 0 && here < tStackBase && tStackBase - here > tStackBudget;
}

[[noreturn]] void tooDeep(SourceLoc at) {
  raise(DiagId::SyntaxTooDeep, at, {std::to_string(limits::kMaxSyntaxDepth)});
}

// ANTLR's parser with the stack bound checked on entry to every rule.
class GuardedParser : public P {
 public:
  GuardedParser(antlr4::TokenStream* input, const SourceFile* file) : P(input), file_(file) {}
  void enterRule(ParserRuleContext* ctx, size_t state, size_t rule) override {
    if (stackExhausted()) tooDeep(tokenLoc(file_, getCurrentToken()));
    P::enterRule(ctx, state, rule);
  }
  void enterRecursionRule(ParserRuleContext* ctx, size_t state, size_t rule, int precedence) override {
    if (stackExhausted()) tooDeep(tokenLoc(file_, getCurrentToken()));
    P::enterRecursionRule(ctx, state, rule, precedence);
  }

 private:
  const SourceFile* file_;
};

// ============================================================================ sessions

// One ANTLR pipeline over one text. `line`/`col0` place the text's first character in the
// file (an f-string field starts in the middle of a line).
struct Session {
  Session(const SourceFile* file, const std::string& text, TokenSource::Mode mode, size_t line = 1,
          size_t col0 = 0)
      : input(text),
        lexer(&input),
        tokens(lexer, tokenKinds(), file, mode),
        stream(&tokens),
        parser(&stream, file),
        listener(file),
        strategy(std::make_shared<SyntaxErrorStrategy>(file)) {
    lexer.removeErrorListeners();
    lexer.addErrorListener(&listener);
    parser.removeErrorListeners();
    parser.addErrorListener(&listener);
    parser.setErrorHandler(strategy);
    if (line != 1 || col0 != 0) {
      lexer.setLine(line);
      lexer.setCharPositionInLine(col0);
    }
  }

  antlr4::ANTLRInputStream input;
  MslLexer lexer;
  TokenSource tokens;
  antlr4::CommonTokenStream stream;
  GuardedParser parser;
  ThrowingListener listener;
  std::shared_ptr<SyntaxErrorStrategy> strategy;
};

// The lexer sees the text with a final newline (as Python's tokenizer does), so that a
// last line without one still ends and a trailing backslash is a line continuation.
std::string lexerText(const std::string& text) {
  if (text.empty() || text.back() != '\n') return text + "\n";
  return text;
}

// ============================================================================ literals

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

int digitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

// Value of an INT_LIT token's text; false if it does not fit in 64 unsigned bits.
bool parseIntText(std::string_view s, uint64_t& out) {
  unsigned base = 10;
  size_t i = 0;
  if (s.size() > 1 && s[0] == '0') {
    char p = char(s[1] | 0x20);
    if (p == 'x') base = 16;
    if (p == 'o') base = 8;
    if (p == 'b') base = 2;
    if (base != 10) i = 2;
  }
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] == '_') continue;
    unsigned d = unsigned(digitValue(s[i]));
    if (v > (UINT64_MAX - d) / base) return false;
    v = v * base + d;
  }
  out = v;
  return true;
}

double parseFloatText(std::string_view s) {
  std::string t;
  for (char c : s)
    if (c != '_') t += c;
  static locale_t cLocale = newlocale(LC_ALL_MASK, "C", locale_t(nullptr));
  return strtod_l(t.c_str(), nullptr, cLocale);  // overflow gives inf, underflow 0, as Python
}

// Maps byte offsets in a token's text to source locations. Offsets asked for mostly grow,
// so the walk resumes from the last answer.
class TextCursor {
 public:
  TextCursor(const SourceFile* file, std::string_view text, SourceLoc start)
      : file_(file), text_(text), start_(start), pos_(start) {}
  SourceLoc at(size_t off) {
    if (off < off_) {
      off_ = 0;
      pos_ = start_;
    }
    for (; off_ < off && off_ < text_.size(); ++off_) {
      unsigned char c = text_[off_];
      if (c == '\n') {
        ++pos_.line;
        pos_.col = 1;
      } else if ((c & 0xC0) != 0x80) {
        ++pos_.col;
      }
    }
    pos_.file = file_;
    return pos_;
  }

 private:
  const SourceFile* file_;
  std::string_view text_;
  SourceLoc start_, pos_;
  size_t off_ = 0;
};

// ============================================================================ the builder

class Builder {
 public:
  explicit Builder(const SourceFile* file) : file_(file) {}

  std::unique_ptr<Module> module(P::File_inputContext* c) {
    auto m = std::make_unique<Module>();
    m->file = file_;
    for (auto* s : c->stmt()) stmt(s, m->body);
    m->docstring = takeDocstring(m->body);
    return m;
  }

  ExprP fieldExpr(P::Fstring_fieldContext* c) { return testlistStar(c->testlist_star_expr()); }

 private:
  // ------------------------------------------------------------------ locations
  SourceLoc loc(const Token* t) const { return tokenLoc(file_, t); }
  SourceLoc loc(TerminalNode* n) const { return loc(n->getSymbol()); }
  SourceLoc end(const Token* t) const { return tokenEnd(file_, t); }
  SourceRange range(ParserRuleContext* c) const { return {loc(c->getStart()), end(c->getStop())}; }

  template <class T>
  std::unique_ptr<T> make(SourceRange r) {
    auto n = std::make_unique<T>();
    n->range = r;
    return n;
  }

  [[noreturn]] void syntax(SourceLoc at, std::string msg) { raise(DiagId::SyntaxError, at, {std::move(msg)}); }

  // The stack bound, checked where the builder's recursion passes.
  void guard(ParserRuleContext* c) {
    if (stackExhausted()) tooDeep(loc(c->getStart()));
  }

  // ------------------------------------------------------------------ depth bound
  // Every node is sealed once its children are in place: its depth (longest path to a
  // leaf) is recorded, and a tree deeper than the limit is an error. A node's depth is
  // read once, by its parent's seal, and then forgotten, which keeps the table as small
  // as the set of nodes waiting for a parent.
  uint32_t depthOf(const void* n) {
    if (!n) return 0;
    auto it = depth_.find(n);
    if (it == depth_.end()) return 1;
    uint32_t d = it->second;
    depth_.erase(it);
    return d;
  }

  static void partsDepth(const std::vector<FStringPart>& parts, const std::function<void(const Expr*)>& f) {
    for (const FStringPart& p : parts) {
      if (p.expr) f(p.expr.get());
      partsDepth(p.spec, f);
    }
  }

  static void forEachChild(const Expr& e, const std::function<void(const Expr*)>& f) {
    auto comps = [&](const std::vector<Comprehension>& gens) {
      for (const Comprehension& g : gens) {
        f(g.target.get());
        f(g.iter.get());
        for (const ExprP& i : g.ifs) f(i.get());
      }
    };
    switch (e.kind) {
      case ExprKind::FString: partsDepth(static_cast<const FString&>(e).parts, f); break;
      case ExprKind::Tuple: for (const ExprP& x : static_cast<const Tuple&>(e).elts) f(x.get()); break;
      case ExprKind::List: for (const ExprP& x : static_cast<const List&>(e).elts) f(x.get()); break;
      case ExprKind::Dict: {
        auto& d = static_cast<const Dict&>(e);
        for (const ExprP& x : d.keys) f(x.get());
        for (const ExprP& x : d.values) f(x.get());
        break;
      }
      case ExprKind::BinOp: f(static_cast<const BinOp&>(e).lhs.get()); f(static_cast<const BinOp&>(e).rhs.get()); break;
      case ExprKind::UnaryOp: f(static_cast<const UnaryOp&>(e).operand.get()); break;
      case ExprKind::BoolOp: for (const ExprP& x : static_cast<const BoolOp&>(e).values) f(x.get()); break;
      case ExprKind::Compare: {
        auto& c = static_cast<const Compare&>(e);
        f(c.left.get());
        for (const ExprP& x : c.comparators) f(x.get());
        break;
      }
      case ExprKind::IfExp: {
        auto& i = static_cast<const IfExp&>(e);
        f(i.test.get());
        f(i.body.get());
        f(i.orelse.get());
        break;
      }
      case ExprKind::Lambda: {
        auto& l = static_cast<const Lambda&>(e);
        for (const Param& p : l.params) f(p.defaultValue.get());
        f(l.body.get());
        break;
      }
      case ExprKind::Call: {
        auto& c = static_cast<const Call&>(e);
        f(c.func.get());
        for (const Arg& a : c.args) f(a.value.get());
        break;
      }
      case ExprKind::Attribute: f(static_cast<const Attribute&>(e).value.get()); break;
      case ExprKind::Subscript: f(static_cast<const Subscript&>(e).value.get()); f(static_cast<const Subscript&>(e).index.get()); break;
      case ExprKind::Slice: {
        auto& s = static_cast<const Slice&>(e);
        f(s.lower.get());
        f(s.upper.get());
        f(s.step.get());
        break;
      }
      case ExprKind::ListComp: f(static_cast<const ListComp&>(e).elt.get()); comps(static_cast<const ListComp&>(e).generators); break;
      case ExprKind::GeneratorExp: f(static_cast<const GeneratorExp&>(e).elt.get()); comps(static_cast<const GeneratorExp&>(e).generators); break;
      case ExprKind::DictComp: {
        auto& d = static_cast<const DictComp&>(e);
        f(d.key.get());
        f(d.value.get());
        comps(d.generators);
        break;
      }
      case ExprKind::Starred: f(static_cast<const Starred&>(e).value.get()); break;
      default: break;
    }
  }

  void checkDepth(const void* node, uint32_t d, SourceLoc at) {
    depth_[node] = d;
    if (d > limits::kMaxSyntaxDepth) raise(DiagId::SyntaxTooDeep, at, {std::to_string(limits::kMaxSyntaxDepth)});
  }

  template <class T>
  ExprP seal(std::unique_ptr<T> n) {
    uint32_t d = 0;
    forEachChild(*n, [&](const Expr* c) { d = std::max(d, depthOf(c)); });
    SourceLoc at = n->loc();
    if constexpr (std::is_same_v<T, BinOp>) at = n->opLoc;
    checkDepth(n.get(), d + 1, at);
    return ExprP(std::move(n));
  }

  template <class T>
  StmtP sealStmt(std::unique_ptr<T> s) {
    uint32_t d = 0;
    auto expr = [&](const Expr* e) { d = std::max(d, depthOf(e)); };
    auto body = [&](const Body& b) {
      for (const StmtP& x : b) d = std::max(d, depthOf(x.get()));
    };
    Stmt& st = *s;
    switch (st.kind) {
      case StmtKind::ExprStmt: expr(static_cast<ExprStmt&>(st).value.get()); break;
      case StmtKind::Assign:
        for (auto& t : static_cast<Assign&>(st).targets) expr(t.get());
        expr(static_cast<Assign&>(st).value.get());
        break;
      case StmtKind::AugAssign: expr(static_cast<AugAssign&>(st).target.get()); expr(static_cast<AugAssign&>(st).value.get()); break;
      case StmtKind::AnnAssign: {
        auto& a = static_cast<AnnAssign&>(st);
        expr(a.target.get());
        expr(a.annotation.get());
        expr(a.value.get());
        break;
      }
      case StmtKind::If: {
        auto& i = static_cast<If&>(st);
        expr(i.test.get());
        body(i.body);
        body(i.orelse);
        break;
      }
      case StmtKind::While: expr(static_cast<While&>(st).test.get()); body(static_cast<While&>(st).body); break;
      case StmtKind::For: {
        auto& f = static_cast<For&>(st);
        expr(f.target.get());
        expr(f.iter.get());
        body(f.body);
        break;
      }
      case StmtKind::Return: expr(static_cast<Return&>(st).value.get()); break;
      case StmtKind::Assert: expr(static_cast<Assert&>(st).test.get()); expr(static_cast<Assert&>(st).msg.get()); break;
      case StmtKind::Raise: expr(static_cast<Raise&>(st).exc.get()); break;
      case StmtKind::FunctionDef: {
        auto& f = static_cast<FunctionDef&>(st);
        for (auto& x : f.decorators) expr(x.get());
        for (auto& p : f.params) {
          expr(p.defaultValue.get());
          expr(p.annotation.get());
        }
        body(f.body);
        break;
      }
      case StmtKind::ClassDef: {
        auto& c = static_cast<ClassDef&>(st);
        for (auto& x : c.decorators) expr(x.get());
        body(c.body);
        break;
      }
      default: break;
    }
    checkDepth(s.get(), d + 1, s->loc());
    return StmtP(std::move(s));
  }

  // ------------------------------------------------------------------ statements
  void stmt(P::StmtContext* c, Body& out) {
    guard(c);
    if (auto* s = c->simple_stmts()) {
      simpleStmts(s, out);
    } else {
      out.push_back(compound(c->compound_stmt()));
    }
  }

  void simpleStmts(P::Simple_stmtsContext* c, Body& out) {
    for (auto* s : c->simple_stmt()) out.push_back(simpleStmt(s));
  }

  StmtP simpleStmt(P::Simple_stmtContext* c) {
    if (auto* e = c->expr_stmt()) return exprStmt(e);
    if (auto* s = c->pass_stmt()) return sealStmt(make<Pass>(range(s)));
    if (auto* s = c->break_stmt()) {
      if (loopDepth_ == 0) raise(DiagId::BreakOutsideLoop, loc(s->getStart()), {"break"});
      return sealStmt(make<Break>(range(s)));
    }
    if (auto* s = c->continue_stmt()) {
      if (loopDepth_ == 0) raise(DiagId::BreakOutsideLoop, loc(s->getStart()), {"continue"});
      return sealStmt(make<Continue>(range(s)));
    }
    if (auto* s = c->return_stmt()) {
      if (!inFunction_) raise(DiagId::ReturnOutsideFunction, loc(s->getStart()));
      auto r = make<Return>(range(s));
      if (s->testlist_star_expr()) r->value = value(testlistStar(s->testlist_star_expr()));
      return sealStmt(std::move(r));
    }
    if (auto* s = c->raise_stmt()) {
      if (s->FROM())
        raise(DiagId::NotInLanguage, loc(s->FROM()),
              {"'raise ... from'", "an error ends the program; there is no exception chaining"});
      auto r = make<Raise>(range(s));
      if (!s->test().empty()) r->exc = test(s->test(0));
      return sealStmt(std::move(r));
    }
    if (auto* s = c->assert_stmt()) {
      auto a = make<Assert>(range(s));
      a->test = test(s->test(0));
      if (s->test().size() > 1) a->msg = test(s->test(1));
      return sealStmt(std::move(a));
    }
    if (auto* s = c->import_name()) {
      auto imp = make<Import>(range(s));
      for (auto* d : s->dotted_as_name()) {
        ImportAlias alias;
        alias.name = dottedName(d->dotted_name());
        if (d->NAME()) alias.asname = d->NAME()->getText();
        alias.range = range(d);
        imp->names.push_back(std::move(alias));
      }
      return sealStmt(std::move(imp));
    }
    return importFrom(c->import_from());
  }

  static std::string dottedName(P::Dotted_nameContext* c) {
    std::string name;
    for (auto* n : c->NAME()) {
      if (!name.empty()) name += '.';
      name += n->getText();
    }
    return name;
  }

  StmtP importFrom(P::Import_fromContext* c) {
    if (!c->DOT().empty() || !c->ELLIPSIS().empty()) {
      Token* first = !c->DOT().empty() ? c->DOT(0)->getSymbol() : c->ELLIPSIS(0)->getSymbol();
      if (!c->ELLIPSIS().empty() && c->ELLIPSIS(0)->getSymbol()->getTokenIndex() < first->getTokenIndex())
        first = c->ELLIPSIS(0)->getSymbol();
      raise(DiagId::NotInLanguage, loc(first),
            {"a relative import", "'import m' and 'from m import x' already look in the importing file's folder first"});
    }
    if (c->STAR()) raise(DiagId::NotInLanguage, loc(c->STAR()), {"'import *'", "name the imported names"});
    auto imp = make<ImportFrom>(range(c));
    imp->module = dottedName(c->dotted_name());
    imp->moduleRange = range(c->dotted_name());
    for (auto* a : c->import_as_names()->import_as_name()) {
      ImportAlias alias;
      alias.name = a->NAME(0)->getText();
      if (a->NAME().size() > 1) alias.asname = a->NAME(1)->getText();
      alias.range = range(a);
      imp->names.push_back(std::move(alias));
    }
    return sealStmt(std::move(imp));
  }

  StmtP exprStmt(P::Expr_stmtContext* c) {
    auto lists = c->testlist_star_expr();
    if (auto* ann = c->annassign()) {
      auto a = make<AnnAssign>(range(c));
      a->target = testlistStar(lists[0]);
      ExprKind k = a->target->kind;
      if (k != ExprKind::Name && k != ExprKind::Attribute && k != ExprKind::Subscript) {
        if (k == ExprKind::Tuple || k == ExprKind::List)
          syntax(a->target->loc(), "only a single target (not a tuple or list) can be annotated");
        checkTarget(a->target.get(), false);
        syntax(a->target->loc(), "this target cannot be annotated");
      }
      a->annotation = test(ann->test());
      if (ann->testlist_star_expr()) a->value = value(testlistStar(ann->testlist_star_expr()));
      return sealStmt(std::move(a));
    }
    if (auto* aug = c->augassign()) {
      auto a = make<AugAssign>(range(c));
      a->target = testlistStar(lists[0]);
      ExprKind k = a->target->kind;
      if (k != ExprKind::Name && k != ExprKind::Attribute && k != ExprKind::Subscript) {
        if (k == ExprKind::Tuple || k == ExprKind::List || k == ExprKind::Starred)
          raise(DiagId::BadAssignTarget, a->target->loc(), {std::string(k == ExprKind::List ? "a list" : "a tuple") + " in an augmented assignment"});
        checkTarget(a->target.get(), false);
      }
      Token* op = aug->getStart();
      a->opLoc = loc(op);
      switch (op->getType()) {
        case P::ADD_ASSIGN: a->op = BinOpKind::Add; break;
        case P::SUB_ASSIGN: a->op = BinOpKind::Sub; break;
        case P::MULT_ASSIGN: a->op = BinOpKind::Mul; break;
        case P::AT_ASSIGN: a->op = BinOpKind::MatMul; break;
        case P::DIV_ASSIGN: a->op = BinOpKind::Div; break;
        case P::MOD_ASSIGN: a->op = BinOpKind::Mod; break;
        case P::AND_ASSIGN: a->op = BinOpKind::BitAnd; break;
        case P::OR_ASSIGN: a->op = BinOpKind::BitOr; break;
        case P::XOR_ASSIGN: a->op = BinOpKind::BitXor; break;
        case P::POWER_ASSIGN: a->op = BinOpKind::Pow; break;
        default: a->op = BinOpKind::FloorDiv; break;
      }
      a->value = value(testlist(c->testlist()));
      return sealStmt(std::move(a));
    }
    if (lists.size() > 1) {
      auto a = make<Assign>(range(c));
      for (size_t i = 0; i + 1 < lists.size(); ++i) {
        ExprP t = testlistStar(lists[i]);
        checkTarget(t.get(), true);
        a->targets.push_back(std::move(t));
      }
      a->value = value(testlistStar(lists.back()));
      return sealStmt(std::move(a));
    }
    auto s = make<ExprStmt>(range(c));
    s->value = value(testlistStar(lists[0]));
    return sealStmt(std::move(s));
  }

  // A value position: a bare `*x` is not allowed there.
  ExprP value(ExprP e) {
    if (e->kind == ExprKind::Starred) syntax(e->loc(), "can't use starred expression here");
    return e;
  }

  static const char* targetDescription(const Expr* e) {
    switch (e->kind) {
      case ExprKind::Call: return "a function call";
      case ExprKind::Int: case ExprKind::Float: case ExprKind::Str: case ExprKind::Bool:
      case ExprKind::FString: return "a literal";
      case ExprKind::NoneLit: return "None";
      case ExprKind::EllipsisLit: return "ellipsis";
      case ExprKind::Compare: return "a comparison";
      case ExprKind::IfExp: return "a conditional expression";
      case ExprKind::Lambda: return "a lambda";
      case ExprKind::Dict: return "a dict display";
      case ExprKind::ListComp: return "a list comprehension";
      case ExprKind::DictComp: return "a dict comprehension";
      case ExprKind::GeneratorExp: return "a generator expression";
      default: return "an expression";
    }
  }

  // Assignment, `for` and comprehension targets: names, attributes, subscripts, and
  // tuples/lists of targets with at most one starred element.
  void checkTarget(const Expr* e, bool allowUnpacking) {
    switch (e->kind) {
      case ExprKind::Name: case ExprKind::Attribute: case ExprKind::Subscript: return;
      case ExprKind::Tuple: case ExprKind::List: {
        if (!allowUnpacking) break;
        const auto& elts = e->kind == ExprKind::Tuple ? static_cast<const Tuple*>(e)->elts : static_cast<const List*>(e)->elts;
        bool starred = false;
        for (const ExprP& x : elts) {
          if (x->kind == ExprKind::Starred) {
            if (starred) syntax(x->loc(), "multiple starred expressions in assignment");
            starred = true;
            checkTarget(static_cast<const Starred*>(x.get())->value.get(), true);
          } else {
            checkTarget(x.get(), true);
          }
        }
        return;
      }
      case ExprKind::Starred:
        syntax(e->loc(), "a starred assignment target must be in a list or tuple");
      default: break;
    }
    raise(DiagId::BadAssignTarget, e->loc(), {targetDescription(e)});
  }

  SourceLoc bodyEnd(const Body& b, SourceLoc fallback) const { return b.empty() ? fallback : b.back()->range.end; }

  StmtP compound(P::Compound_stmtContext* c) {
    if (auto* s = c->if_stmt()) return ifStmt(s);
    if (auto* s = c->while_stmt()) {
      if (s->ELSE())
        raise(DiagId::NotInLanguage, loc(s->ELSE()), {"'else' after a loop", "use a flag, or 'return' from a function"});
      auto w = make<While>(range(s));
      w->test = test(s->test());
      w->body = loopBody(s->suite(0));
      w->range.end = bodyEnd(w->body, w->range.end);
      return sealStmt(std::move(w));
    }
    if (auto* s = c->for_stmt()) {
      if (s->ELSE())
        raise(DiagId::NotInLanguage, loc(s->ELSE()), {"'else' after a loop", "use a flag, or 'return' from a function"});
      auto f = make<For>(range(s));
      f->target = exprlist(s->exprlist());
      checkTarget(f->target.get(), true);
      f->iter = value(testlist(s->testlist()));
      f->body = loopBody(s->suite(0));
      f->range.end = bodyEnd(f->body, f->range.end);
      return sealStmt(std::move(f));
    }
    if (auto* s = c->funcdef()) return funcdef(s, {});
    if (auto* s = c->classdef()) return classdef(s, {});
    auto* d = c->decorated();
    std::vector<ExprP> decorators;
    for (auto* dec : d->decorator()) decorators.push_back(value(test(dec->test())));
    if (d->funcdef()) return funcdef(d->funcdef(), std::move(decorators));
    return classdef(d->classdef(), std::move(decorators));
  }

  StmtP ifStmt(P::If_stmtContext* c) {
    auto tests = c->test();
    auto suites = c->suite();
    auto elifs = c->ELIF();
    Body orelse;
    if (c->ELSE()) orelse = suite(suites.back());
    for (size_t i = tests.size(); i-- > 1;) {
      auto node = make<If>(SourceRange{loc(elifs[i - 1]), {}});
      node->test = test(tests[i]);
      node->body = suite(suites[i]);
      node->orelse = std::move(orelse);
      node->range.end = bodyEnd(node->orelse, bodyEnd(node->body, end(suites[i]->getStop())));
      orelse.clear();
      orelse.push_back(sealStmt(std::move(node)));
    }
    auto top = make<If>(SourceRange{loc(c->IF()), {}});
    top->test = test(tests[0]);
    top->body = suite(suites[0]);
    top->orelse = std::move(orelse);
    top->range.end = bodyEnd(top->orelse, bodyEnd(top->body, end(suites[0]->getStop())));
    return sealStmt(std::move(top));
  }

  Body suite(P::SuiteContext* c) {
    Body body;
    if (auto* s = c->simple_stmts()) {
      simpleStmts(s, body);
    } else {
      for (auto* s : c->stmt()) stmt(s, body);
    }
    return body;
  }

  Body loopBody(P::SuiteContext* c) {
    ++loopDepth_;
    Body b = suite(c);
    --loopDepth_;
    return b;
  }

  // The first statement of a module, function or class body, when it is a plain string.
  static std::string takeDocstring(Body& body) {
    if (body.empty() || body[0]->kind != StmtKind::ExprStmt) return {};
    auto* s = as<Str>(static_cast<ExprStmt*>(body[0].get())->value.get());
    if (!s) return {};
    std::string doc = std::move(s->value);
    body.erase(body.begin());
    return doc;
  }

  // Runs `f` with the statement context of a function or class body.
  template <class F>
  void inScope(bool function, F&& f) {
    bool savedFunction = inFunction_;
    int savedLoops = loopDepth_;
    inFunction_ = function;
    loopDepth_ = 0;
    f();
    inFunction_ = savedFunction;
    loopDepth_ = savedLoops;
  }

  StmtP funcdef(P::FuncdefContext* c, std::vector<ExprP> decorators) {
    auto f = make<FunctionDef>(range(c));
    f->name = c->NAME()->getText();
    f->nameLoc = loc(c->NAME());
    f->decorators = std::move(decorators);
    if (c->paramlist()) f->params = params(c->paramlist());
    if (c->test()) (void)value(test(c->test()));  // the return annotation is checked, then ignored
    inScope(true, [&] { f->body = suite(c->suite()); });
    f->docstring = takeDocstring(f->body);
    f->range.end = bodyEnd(f->body, end(c->getStop()));
    return sealStmt(std::move(f));
  }

  static const char* classMemberDescription(const Stmt* s) {
    switch (s->kind) {
      case StmtKind::ExprStmt: return "an expression statement";
      case StmtKind::Assign: return "an assignment (declare a field as 'name: Type = default')";
      case StmtKind::AugAssign: return "an augmented assignment";
      case StmtKind::AnnAssign: return "an annotated assignment to something other than a name";
      case StmtKind::If: return "an 'if' statement";
      case StmtKind::While: return "a 'while' loop";
      case StmtKind::For: return "a 'for' loop";
      case StmtKind::ClassDef: return "a nested class";
      case StmtKind::Import: case StmtKind::ImportFrom: return "an import";
      case StmtKind::Assert: return "an 'assert' statement";
      case StmtKind::Raise: return "a 'raise' statement";
      default: return "a statement";
    }
  }

  StmtP classdef(P::ClassdefContext* c, std::vector<ExprP> decorators) {
    if (c->arglist())
      raise(DiagId::NotInLanguage, loc(c->OPEN_PAREN()),
            {"class inheritance", "a class declares an immutable record; hold the other record in a field instead"});
    auto k = make<ClassDef>(range(c));
    k->name = c->NAME()->getText();
    k->nameLoc = loc(c->NAME());
    k->decorators = std::move(decorators);
    inScope(false, [&] { k->body = suite(c->suite()); });
    k->docstring = takeDocstring(k->body);
    std::set<std::string> fields;
    for (const StmtP& s : k->body) {
      if (s->kind == StmtKind::FunctionDef || s->kind == StmtKind::Pass) continue;
      if (auto* a = as<AnnAssign>(s.get())) {
        if (auto* n = as<Name>(a->target.get())) {
          if (!fields.insert(n->id).second) raise(DiagId::DuplicateField, n->loc(), {n->id, k->name});
          continue;
        }
      }
      raise(DiagId::BadClassBody, s->loc(), {classMemberDescription(s.get())});
    }
    k->range.end = bodyEnd(k->body, end(c->getStop()));
    return sealStmt(std::move(k));
  }

  // ------------------------------------------------------------------ parameters
  // Python's rules: positional parameters (defaults last), then `*args` or a bare `*`,
  // then keyword-only parameters, then `**kw`; no name twice.
  struct RawParam {
    enum Kind { Plain, Star, DoubleStar, Slash } kind = Plain;
    Token* name = nullptr;  // null for a bare `*` and `/`
    ParserRuleContext* annotation = nullptr;
    ParserRuleContext* defaultValue = nullptr;
    ParserRuleContext* ctx = nullptr;
  };

  std::vector<Param> checkedParams(const std::vector<RawParam>& raw) {
    std::vector<Param> out;
    std::set<std::string> names;
    bool star = false, bareStar = false, sawDefault = false, kwAfterBareStar = false;
    const RawParam* varKw = nullptr;
    for (const RawParam& r : raw) {
      SourceLoc at = loc(r.ctx->getStart());
      if (r.kind == RawParam::Slash) raise(DiagId::NotSupportedYet, at, {"a positional-only parameter marker '/'"});
      if (varKw) syntax(at, "no parameter may follow '**" + varKw->name->getText() + "'");
      if (r.name && !names.insert(r.name->getText()).second)
        raise(DiagId::DuplicateParam, loc(r.name), {r.name->getText()});
      Param p;
      p.range = range(r.ctx);
      if (r.name) p.name = r.name->getText();
      if (r.annotation) p.annotation = value(test(static_cast<P::TestContext*>(r.annotation)));
      switch (r.kind) {
        case RawParam::Star:
          if (star) syntax(at, "only one '*' parameter is allowed");
          star = true;
          if (!r.name) {
            bareStar = true;
            continue;
          }
          p.kind = ParamKind::VarArgs;
          break;
        case RawParam::DoubleStar:
          p.kind = ParamKind::VarKw;
          varKw = &r;
          break;
        default:
          p.kind = star ? ParamKind::KwOnly : ParamKind::Positional;
          if (r.defaultValue) {
            p.defaultValue = value(test(static_cast<P::TestContext*>(r.defaultValue)));
            sawDefault = sawDefault || !star;
          } else if (!star && sawDefault) {
            raise(DiagId::DefaultOrder, at);
          }
          if (bareStar) kwAfterBareStar = true;
          break;
      }
      out.push_back(std::move(p));
    }
    if (bareStar && !kwAfterBareStar) {
      for (const RawParam& r : raw)
        if (r.kind == RawParam::Star && !r.name) syntax(loc(r.ctx->getStart()), "named parameters must follow a bare '*'");
    }
    return out;
  }

  std::vector<Param> params(P::ParamlistContext* c) {
    std::vector<RawParam> raw;
    for (auto* p : c->param()) {
      RawParam r;
      r.ctx = p;
      if (p->DIV()) r.kind = RawParam::Slash;
      else if (p->STAR()) r.kind = RawParam::Star;
      else if (p->POWER()) r.kind = RawParam::DoubleStar;
      if (p->NAME()) r.name = p->NAME()->getSymbol();
      // NAME (COLON test)? (ASSIGN test)?: tell the annotation from the default by position.
      auto tests = p->test();
      size_t ti = 0;
      if (p->COLON() && ti < tests.size()) r.annotation = tests[ti++];
      if (p->ASSIGN() && ti < tests.size()) r.defaultValue = tests[ti++];
      raw.push_back(r);
    }
    return checkedParams(raw);
  }

  std::vector<Param> lambdaParams(P::Lambda_paramsContext* c) {
    std::vector<RawParam> raw;
    for (auto* p : c->lambda_param()) {
      RawParam r;
      r.ctx = p;
      if (p->DIV()) r.kind = RawParam::Slash;
      else if (p->STAR()) r.kind = RawParam::Star;
      else if (p->POWER()) r.kind = RawParam::DoubleStar;
      if (p->NAME()) r.name = p->NAME()->getSymbol();
      r.defaultValue = p->test();
      raw.push_back(r);
    }
    return checkedParams(raw);
  }

  // ------------------------------------------------------------------ expressions
  ExprP test(P::TestContext* c) {
    guard(c);
    if (c->lambdef()) return lambda(c->lambdef()->lambda_params(), c->lambdef(), [&] { return test(c->lambdef()->test()); });
    if (!c->IF()) return orTest(c->or_test(0));
    auto e = make<IfExp>(range(c));
    e->body = value(orTest(c->or_test(0)));
    e->test = value(orTest(c->or_test(1)));
    e->orelse = value(test(c->test()));
    return seal(std::move(e));
  }

  ExprP testNocond(P::Test_nocondContext* c) {
    if (auto* l = c->lambdef_nocond()) return lambda(l->lambda_params(), l, [&] { return testNocond(l->test_nocond()); });
    return orTest(c->or_test());
  }

  template <class F>
  ExprP lambda(P::Lambda_paramsContext* ps, ParserRuleContext* c, F body) {
    auto l = make<Lambda>(range(c));
    if (ps) l->params = lambdaParams(ps);
    l->body = value(body());
    return seal(std::move(l));
  }

  // or_test: `and` / `or` are left-nested in the parse tree; each run of one operator
  // becomes one BoolOp (a or b or c: values [a, b, c]), found walking the left spine
  // iteratively.
  ExprP orTest(P::Or_testContext* c) {
    guard(c);
    if (auto* cmp = dynamic_cast<P::CompareTestContext*>(c)) return comparison(cmp);
    if (auto* n = dynamic_cast<P::NotTestContext*>(c)) {
      auto u = make<UnaryOp>(range(n));
      u->op = UnaryOpKind::Not;
      u->opLoc = loc(n->NOT());
      u->operand = value(orTest(n->or_test()));
      return seal(std::move(u));
    }
    bool isAnd = dynamic_cast<P::AndTestContext*>(c) != nullptr;
    std::vector<P::Or_testContext*> rights;
    std::vector<Token*> ops;
    P::Or_testContext* cur = c;
    for (;;) {
      if (auto* a = isAnd ? dynamic_cast<P::AndTestContext*>(cur) : nullptr) {
        rights.push_back(a->or_test(1));
        ops.push_back(a->AND()->getSymbol());
        cur = a->or_test(0);
      } else if (auto* o = isAnd ? nullptr : dynamic_cast<P::OrTestContext*>(cur)) {
        rights.push_back(o->or_test(1));
        ops.push_back(o->OR()->getSymbol());
        cur = o->or_test(0);
      } else {
        break;
      }
    }
    auto b = make<BoolOp>(range(c));
    b->op = isAnd ? BoolOpKind::And : BoolOpKind::Or;
    b->values.push_back(value(orTest(cur)));
    for (size_t i = rights.size(); i-- > 0;) {
      b->opLocs.push_back(loc(ops[i]));
      b->values.push_back(value(orTest(rights[i])));
    }
    return seal(std::move(b));
  }

  ExprP comparison(P::CompareTestContext* c) {
    auto exprs = c->expr();
    if (exprs.size() == 1) return expr(exprs[0]);
    auto cmp = make<Compare>(range(c));
    cmp->left = value(expr(exprs[0]));
    for (size_t i = 0; i < c->comp_op().size(); ++i) {
      auto* op = c->comp_op(i);
      CmpOpKind k;
      switch (op->getStart()->getType()) {
        case P::LESS_THAN: k = CmpOpKind::Lt; break;
        case P::GREATER_THAN: k = CmpOpKind::Gt; break;
        case P::EQUALS: k = CmpOpKind::Eq; break;
        case P::GT_EQ: k = CmpOpKind::Ge; break;
        case P::LT_EQ: k = CmpOpKind::Le; break;
        case P::NOT_EQ: k = CmpOpKind::Ne; break;
        case P::IN: k = CmpOpKind::In; break;
        case P::NOT: k = CmpOpKind::NotIn; break;
        default: k = op->NOT() ? CmpOpKind::IsNot : CmpOpKind::Is; break;
      }
      cmp->ops.push_back(k);
      cmp->opLocs.push_back(loc(op->getStart()));
      cmp->comparators.push_back(value(expr(exprs[i + 1])));
    }
    return seal(std::move(cmp));
  }

  static BinOpKind binOpOf(size_t tokenType) {
    switch (tokenType) {
      case P::STAR: return BinOpKind::Mul;
      case P::AT: return BinOpKind::MatMul;
      case P::DIV: return BinOpKind::Div;
      case P::MOD: return BinOpKind::Mod;
      case P::IDIV: return BinOpKind::FloorDiv;
      case P::ADD: return BinOpKind::Add;
      case P::MINUS: return BinOpKind::Sub;
      case P::AND_OP: return BinOpKind::BitAnd;
      case P::XOR: return BinOpKind::BitXor;
      default: return BinOpKind::BitOr;
    }
  }

  // expr: binary operators are left-nested in the parse tree (a - b - c is
  // ((a - b) - c)); the left spine is walked iteratively so that a long chain does not
  // recurse, and the tree-depth limit reports it.
  ExprP expr(P::ExprContext* c) {
    guard(c);
    if (auto* a = dynamic_cast<P::AtomExprContext*>(c)) return atomExpr(a->atom_expr());
    if (auto* u = dynamic_cast<P::UnaryExprContext*>(c)) return unary(u);
    if (auto* p = dynamic_cast<P::PowerExprContext*>(c)) {
      auto b = make<BinOp>(range(p));
      b->op = BinOpKind::Pow;
      b->opLoc = loc(p->POWER());
      b->lhs = value(expr(p->expr(0)));
      b->rhs = value(expr(p->expr(1)));
      return seal(std::move(b));
    }
    std::vector<P::BinaryExprContext*> chain;
    P::ExprContext* cur = c;
    while (auto* b = dynamic_cast<P::BinaryExprContext*>(cur)) {
      chain.push_back(b);
      cur = b->expr(0);
    }
    ExprP lhs = value(expr(cur));
    for (size_t i = chain.size(); i-- > 0;) {
      P::BinaryExprContext* b = chain[i];
      auto n = make<BinOp>(range(b));
      n->op = binOpOf(b->op->getType());
      n->opLoc = loc(b->op);
      n->lhs = std::move(lhs);
      n->rhs = value(expr(b->expr(1)));
      lhs = seal(std::move(n));
    }
    return lhs;
  }

  // The INT_LIT token of an expression that is exactly an integer literal, else null.
  static Token* bareIntLiteral(P::ExprContext* c) {
    auto* a = dynamic_cast<P::AtomExprContext*>(c);
    if (!a || !a->atom_expr()->trailer().empty()) return nullptr;
    auto* lit = a->atom_expr()->atom()->INT_LIT();
    return lit ? lit->getSymbol() : nullptr;
  }

  ExprP unary(P::UnaryExprContext* c) {
    Token* op = c->op;
    // -9223372036854775808 is the one literal whose magnitude does not fit: fold it.
    if (op->getType() == P::MINUS) {
      if (Token* lit = bareIntLiteral(c->expr())) {
        uint64_t v = 0;
        if (parseIntText(lit->getText(), v) && v == uint64_t(1) << 63) {
          auto i = make<Int>(range(c));
          i->value = INT64_MIN;
          return seal(std::move(i));
        }
      }
    }
    auto u = make<UnaryOp>(range(c));
    u->op = op->getType() == P::MINUS ? UnaryOpKind::Neg : op->getType() == P::ADD ? UnaryOpKind::Pos : UnaryOpKind::Invert;
    u->opLoc = loc(op);
    u->operand = value(expr(c->expr()));
    return seal(std::move(u));
  }

  ExprP atomExpr(P::Atom_exprContext* c) {
    ExprP e = atom(c->atom());
    for (auto* t : c->trailer()) {
      SourceRange r{loc(c->getStart()), end(t->getStop())};
      if (t->DOT()) {
        auto a = make<Attribute>(r);
        a->value = value(std::move(e));
        a->attr = t->NAME()->getText();
        a->attrLoc = loc(t->NAME());
        e = seal(std::move(a));
      } else if (t->OPEN_BRACK()) {
        auto s = make<Subscript>(r);
        s->value = value(std::move(e));
        s->bracketLoc = loc(t->OPEN_BRACK());
        s->index = subscriptList(t->subscriptlist());
        e = seal(std::move(s));
      } else {
        auto call = make<Call>(r);
        call->func = value(std::move(e));
        if (t->arglist()) call->args = arglist(t->arglist());
        e = seal(std::move(call));
      }
    }
    return e;
  }

  ExprP subscriptList(P::SubscriptlistContext* c) {
    auto subs = c->subscript();
    if (subs.size() == 1 && c->COMMA().empty()) return subscript(subs[0]);
    auto t = make<Tuple>(range(c));
    for (auto* s : subs) t->elts.push_back(subscript(s));
    return seal(std::move(t));
  }

  ExprP subscript(P::SubscriptContext* c) {
    if (!c->COLON()) return value(test(c->test(0)));
    auto s = make<Slice>(range(c));
    bool afterColon = false;
    for (ParseTree* child : c->children) {
      if (dynamic_cast<TerminalNode*>(child)) {
        afterColon = true;
      } else if (auto* t = dynamic_cast<P::TestContext*>(child)) {
        (afterColon ? s->upper : s->lower) = value(test(t));
      } else if (auto* so = dynamic_cast<P::SliceopContext*>(child)) {
        if (so->test()) s->step = value(test(so->test()));
      }
    }
    return seal(std::move(s));
  }

  std::vector<Arg> arglist(P::ArglistContext* c) {
    std::vector<Arg> args;
    std::set<std::string> keywords;
    bool sawKeyword = false, sawDoubleStar = false;
    std::vector<size_t> bareGenerators;  // indices of unparenthesized generator arguments
    for (auto* a : c->argument()) {
      Arg arg;
      arg.range = range(a);
      SourceLoc at = loc(a->getStart());
      if (a->POWER()) {
        arg.kind = ArgKind::DoubleStar;
        arg.value = value(test(a->test(0)));
        sawDoubleStar = true;
      } else if (a->STAR()) {
        if (sawDoubleStar) syntax(at, "iterable argument unpacking follows keyword argument unpacking");
        arg.kind = ArgKind::Star;
        arg.value = value(test(a->test(0)));
      } else if (a->ASSIGN()) {
        auto* nameCtx = a->test(0);
        if (nameCtx->getStart() != nameCtx->getStop() || nameCtx->getStart()->getType() != P::NAME)
          syntax(loc(a->ASSIGN()), "a keyword argument must be a name; use '==' to compare");
        arg.kind = ArgKind::Keyword;
        arg.name = nameCtx->getText();
        if (!keywords.insert(arg.name).second) raise(DiagId::DuplicateKeywordArg, at, {arg.name});
        arg.value = value(test(a->test(1)));
        sawKeyword = true;
      } else {
        if (sawDoubleStar || sawKeyword) raise(DiagId::PositionalAfterKeyword, at);
        if (a->comp_for()) {
          auto g = make<GeneratorExp>(range(a));
          g->elt = element(test(a->test(0)));
          g->generators = compFor(a->comp_for());
          arg.value = seal(std::move(g));
        } else {
          arg.value = value(test(a->test(0)));
        }
      }
      if (a->comp_for()) bareGenerators.push_back(args.size());
      args.push_back(std::move(arg));
    }
    if (!bareGenerators.empty() && (args.size() > 1 || !c->COMMA().empty()))
      syntax(args[bareGenerators[0]].value->loc(),
             "a generator expression must be parenthesized unless it is the sole argument");
    return args;
  }

  // The element of a comprehension: not starred.
  ExprP element(ExprP e) {
    if (e->kind == ExprKind::Starred) syntax(e->loc(), "iterable unpacking cannot be used in a comprehension");
    return e;
  }

  std::vector<Comprehension> compFor(P::Comp_forContext* c) {
    std::vector<Comprehension> out;
    for (auto* clause : c->comp_clause()) {
      Comprehension g;
      g.range = range(clause);
      g.target = exprlist(clause->exprlist());
      checkTarget(g.target.get(), true);
      g.iter = value(orTest(clause->or_test()));
      for (auto* cond : clause->test_nocond()) g.ifs.push_back(value(testNocond(cond)));
      out.push_back(std::move(g));
    }
    return out;
  }

  // Elements of testlist-like rules, in order, with whether a comma was present.
  template <class Ctx>
  std::vector<ExprP> listElements(Ctx* c, bool& comma) {
    std::vector<ExprP> elts;
    comma = false;
    for (ParseTree* child : c->children) {
      if (auto* t = dynamic_cast<TerminalNode*>(child)) {
        comma = comma || t->getSymbol()->getType() == P::COMMA;
      } else if (auto* x = dynamic_cast<P::TestContext*>(child)) {
        elts.push_back(test(x));
      } else if (auto* x = dynamic_cast<P::ExprContext*>(child)) {
        elts.push_back(expr(x));
      } else if (auto* x = dynamic_cast<P::Star_exprContext*>(child)) {
        auto s = make<Starred>(range(x));
        s->value = value(expr(x->expr()));
        elts.push_back(seal(std::move(s)));
      }
    }
    return elts;
  }

  template <class Ctx>
  ExprP tupleOrSingle(Ctx* c) {
    bool comma = false;
    std::vector<ExprP> elts = listElements(c, comma);
    if (elts.size() == 1 && !comma) return std::move(elts[0]);
    auto t = make<Tuple>(range(c));
    t->elts = std::move(elts);
    return seal(std::move(t));
  }

  ExprP testlistStar(P::Testlist_star_exprContext* c) { return tupleOrSingle(c); }
  ExprP testlist(P::TestlistContext* c) { return tupleOrSingle(c); }
  ExprP exprlist(P::ExprlistContext* c) { return tupleOrSingle(c); }

  ExprP atom(P::AtomContext* c) {
    if (c->OPEN_PAREN()) {
      auto* tc = c->testlist_comp();
      if (!tc) return seal(make<Tuple>(range(c)));
      if (tc->comp_for()) return comprehension<GeneratorExp>(tc, range(c));
      bool comma = false;
      std::vector<ExprP> elts = listElements(tc, comma);
      if (elts.size() == 1 && !comma) return value(std::move(elts[0]));  // parenthesized
      auto t = make<Tuple>(range(c));
      t->elts = std::move(elts);
      return seal(std::move(t));
    }
    if (c->OPEN_BRACK()) {
      auto* tc = c->testlist_comp();
      if (tc && tc->comp_for()) return comprehension<ListComp>(tc, range(c));
      auto l = make<List>(range(c));
      bool comma = false;
      if (tc) l->elts = listElements(tc, comma);
      return seal(std::move(l));
    }
    if (c->OPEN_BRACE()) return dict(c);
    if (auto* n = c->NAME()) {
      auto e = make<Name>(range(c));
      e->id = n->getText();
      return seal(std::move(e));
    }
    if (auto* n = c->INT_LIT()) {
      uint64_t v = 0;
      if (!parseIntText(n->getText(), v) || v > uint64_t(INT64_MAX))
        raise(DiagId::IntLiteralTooLarge, loc(n), {n->getText()});
      auto e = make<Int>(range(c));
      e->value = int64_t(v);
      return seal(std::move(e));
    }
    if (auto* n = c->FLOAT_LIT()) {
      auto e = make<Float>(range(c));
      e->value = parseFloatText(n->getText());
      return seal(std::move(e));
    }
    if (auto* n = c->IMAG_LIT())
      raise(DiagId::NotInLanguage, loc(n), {"an imaginary literal", "there are no complex numbers"});
    if (!c->STRING().empty()) return strings(c->STRING(), range(c));
    if (c->ELLIPSIS()) return seal(make<EllipsisLit>(range(c)));
    if (c->NONE()) return seal(make<NoneLit>(range(c)));
    auto b = make<Bool>(range(c));
    b->value = c->TRUE() != nullptr;
    return seal(std::move(b));
  }

  template <class T>
  ExprP comprehension(P::Testlist_compContext* tc, SourceRange r) {
    auto g = make<T>(r);
    bool comma = false;
    std::vector<ExprP> elts = listElements(tc, comma);
    g->elt = element(std::move(elts[0]));
    g->generators = compFor(tc->comp_for());
    return seal(std::move(g));
  }

  ExprP dict(P::AtomContext* c) {
    auto* m = c->dictorsetmaker();
    const char* setWhy = "use a list, or a dict with keys";
    if (m && m->comp_for()) {
      auto* first = m->dict_entry(0);
      if (!first->COLON()) {
        if (first->POWER()) syntax(loc(first->POWER()), "dict unpacking cannot be used in a dict comprehension");
        raise(DiagId::NotInLanguage, loc(c->OPEN_BRACE()), {"a set comprehension", setWhy});
      }
      auto d = make<DictComp>(range(c));
      d->key = value(test(first->test(0)));
      d->value = value(test(first->test(1)));
      d->generators = compFor(m->comp_for());
      return seal(std::move(d));
    }
    auto d = make<Dict>(range(c));
    if (m) {
      for (auto* e : m->dict_entry()) {
        if (e->COLON()) {
          d->keys.push_back(value(test(e->test(0))));
          d->values.push_back(value(test(e->test(1))));
        } else if (e->POWER()) {
          d->keys.push_back(nullptr);
          d->values.push_back(value(expr(e->expr())));
        } else {
          raise(DiagId::NotInLanguage, loc(c->OPEN_BRACE()), {"a set display", setWhy});
        }
      }
    }
    return seal(std::move(d));
  }

  // ------------------------------------------------------------------ strings
  // Adjacent literals are joined; any f-string among them makes the result an FString.
  ExprP strings(const std::vector<TerminalNode*>& toks, SourceRange r) {
    std::vector<FStringPart> parts;
    bool anyF = false;
    std::string plain;
    for (TerminalNode* n : toks) {
      Token* t = n->getSymbol();
      std::string text = t->getText();
      TextCursor cursor(file_, text, loc(t));
      size_t q = text.find_first_of("'\"");
      bool raw = false, f = false;
      for (size_t i = 0; i < q; ++i) {
        char p = char(text[i] | 0x20);
        if (p == 'b') raise(DiagId::NotInLanguage, loc(t), {"a bytes literal", "strings are Unicode text (str)"});
        raw = raw || p == 'r';
        f = f || p == 'f';
      }
      size_t quote = text.compare(q, 3, std::string(3, text[q])) == 0 && text.size() - q >= 6 ? 3 : 1;
      size_t bodyOff = q + quote;
      std::string_view body(text.data() + bodyOff, text.size() - bodyOff - quote);
      if (f) {
        anyF = true;
        std::vector<FStringPart> ps = fstring(body, raw, cursor, bodyOff);
        for (FStringPart& p : ps) appendPart(parts, std::move(p));
      } else {
        FStringPart p;
        p.literal = decodePlain(body, raw, cursor, bodyOff);
        appendPart(parts, std::move(p));
      }
    }
    if (!anyF) {
      auto s = make<Str>(r);
      for (FStringPart& p : parts) plain += p.literal;
      s->value = std::move(plain);
      return seal(std::move(s));
    }
    auto fs = make<FString>(r);
    fs->parts = std::move(parts);
    return seal(std::move(fs));
  }

  // Appends a part, merging adjacent literal text.
  static void appendPart(std::vector<FStringPart>& parts, FStringPart p) {
    if (!p.expr && !parts.empty() && !parts.back().expr) {
      parts.back().literal += p.literal;
      return;
    }
    if (!p.expr && p.literal.empty()) return;
    parts.push_back(std::move(p));
  }

  std::string decodePlain(std::string_view body, bool raw, TextCursor& cursor, size_t bodyOff) {
    if (raw) return std::string(body);
    std::string out;
    out.reserve(body.size());
    for (size_t i = 0; i < body.size();) {
      if (body[i] == '\\') {
        i = decodeEscape(body, i, out, cursor, bodyOff);
      } else {
        out += body[i++];
      }
    }
    return out;
  }

  // Decodes the escape sequence at body[i] (a backslash) as Python does; returns the index
  // after it. Unknown escapes are errors in msl (Python only warns).
  size_t decodeEscape(std::string_view body, size_t i, std::string& out, TextCursor& cursor, size_t bodyOff) {
    SourceLoc at = cursor.at(bodyOff + i);
    if (i + 1 >= body.size()) {
      out += '\\';
      return i + 1;
    }
    char c = body[i + 1];
    auto hex = [&](size_t digits) -> size_t {
      uint32_t cp = 0;
      size_t k = i + 2;
      for (; k < i + 2 + digits; ++k) {
        if (k >= body.size() || digitValue(body[k]) >= 16)
          raise(DiagId::BadEscape, at, {std::string(body.substr(i + 1, k - i - 1))});
        cp = cp * 16 + uint32_t(digitValue(body[k]));
      }
      if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        raise(DiagId::BadEscape, at, {std::string(body.substr(i + 1, k - i - 1))});
      appendUtf8(out, cp);
      return k;
    };
    switch (c) {
      case '\n': return i + 2;
      case '\\': case '\'': case '"': out += c; return i + 2;
      case 'a': out += '\a'; return i + 2;
      case 'b': out += '\b'; return i + 2;
      case 'f': out += '\f'; return i + 2;
      case 'n': out += '\n'; return i + 2;
      case 'r': out += '\r'; return i + 2;
      case 't': out += '\t'; return i + 2;
      case 'v': out += '\v'; return i + 2;
      case 'x': return hex(2);
      case 'u': return hex(4);
      case 'U': return hex(8);
      case 'N': raise(DiagId::NotSupportedYet, at, {"the '\\N{...}' escape"});
      default: break;
    }
    if (c >= '0' && c <= '7') {
      uint32_t cp = 0;
      size_t k = i + 1;
      for (; k < body.size() && k < i + 4 && body[k] >= '0' && body[k] <= '7'; ++k) cp = cp * 8 + uint32_t(body[k] - '0');
      appendUtf8(out, cp);
      return k;
    }
    size_t len = 1;
    while (i + 1 + len < body.size() && (static_cast<unsigned char>(body[i + 1 + len]) & 0xC0) == 0x80) ++len;
    raise(DiagId::BadEscape, at, {std::string(body.substr(i + 1, len))});
  }

  // ------------------------------------------------------------------ f-strings
  // f"a{x!r:>{w}}b": literal text (escapes decoded, {{ }} collapsed) and replacement
  // fields, each field's expression re-parsed where it stands in the file.
  struct FStringScan {
    Builder& b;
    std::string_view body;
    bool raw;
    TextCursor& cursor;
    size_t bodyOff;

    SourceLoc at(size_t i) { return cursor.at(bodyOff + i); }
    [[noreturn]] void bad(size_t i, std::string msg) { raise(DiagId::BadFString, at(i), {std::move(msg)}); }

    // Literal text and fields up to the end of the body, or (in a format spec) up to the
    // '}' that closes the field, which is left for the caller.
    std::vector<FStringPart> parts(size_t& i, bool inSpec, int level) {
      std::vector<FStringPart> out;
      std::string lit;
      auto flush = [&] {
        if (lit.empty()) return;
        FStringPart p;
        p.literal = std::move(lit);
        lit.clear();
        out.push_back(std::move(p));
      };
      while (i < body.size()) {
        char c = body[i];
        if (c == '{') {
          if (!inSpec && i + 1 < body.size() && body[i + 1] == '{') {
            lit += '{';
            i += 2;
            continue;
          }
          if (level >= 2) bad(i, "expressions nested too deeply");
          ++i;
          FStringPart part = field(i, level, lit);
          flush();
          out.push_back(std::move(part));
          continue;
        }
        if (c == '}') {
          if (inSpec) break;
          if (i + 1 < body.size() && body[i + 1] == '}') {
            lit += '}';
            i += 2;
            continue;
          }
          bad(i, "single '}' is not allowed");
        }
        if (c == '\\' && !raw) {
          i = b.decodeEscape(body, i, lit, cursor, bodyOff);
          continue;
        }
        lit += c;
        ++i;
      }
      if (inSpec && i >= body.size()) bad(i, "expecting '}'");
      flush();
      return out;
    }

    // A replacement field; `i` is just after its '{'. A self-documenting field appends its
    // text ("x=") to `lit`.
    FStringPart field(size_t& i, int level, std::string& lit) {
      size_t open = i - 1, start = i;
      int depth = 0;
      for (;;) {
        if (i >= body.size()) bad(open, "expecting '}'");
        char c = body[i];
        if (c == '(' || c == '[' || c == '{') {
          ++depth;
        } else if (c == ')' || c == ']' || c == '}') {
          if (depth == 0) {
            if (c == '}') break;
            bad(i, std::string("unmatched '") + c + "'");
          }
          --depth;
        } else if (c == '\'' || c == '"') {
          bool triple = body.compare(i, 3, std::string(3, c)) == 0;
          size_t close = body.find(triple ? std::string(3, c) : std::string(1, c), i + (triple ? 3 : 1));
          if (close == std::string_view::npos) bad(i, "unterminated string in an expression");
          i = close + (triple ? 3 : 1);
          continue;
        } else if (c == '\\') {
          bad(i, "a backslash is not allowed in the expression part");
        } else if (c == '#') {
          bad(i, "'#' is not allowed in the expression part");
        } else if (depth == 0) {
          char next = i + 1 < body.size() ? body[i + 1] : '\0';
          if (c == '!' && next == '=') {
            i += 2;
            continue;
          }
          if (c == '!' || c == ':') break;
          if (c == '=') {
            if (next == '=') {
              i += 2;
              continue;
            }
            char prev = i > start ? body[i - 1] : '\0';
            if (prev != '=' && prev != '!' && prev != '<' && prev != '>') break;
          }
        }
        ++i;
      }
      std::string_view exprText = body.substr(start, i - start);
      if (exprText.find_first_not_of(" \t\n\f") == std::string_view::npos) bad(open, "empty expression not allowed");
      FStringPart part;
      if (body[i] == '=') {
        part.selfDocumenting = true;
        ++i;
        while (i < body.size() && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n')) ++i;
        lit += std::string(body.substr(start, i - start));
      }
      if (i < body.size() && body[i] == '!') {
        if (i + 1 >= body.size() || (body[i + 1] != 'r' && body[i + 1] != 's' && body[i + 1] != 'a'))
          bad(i, "invalid conversion character: expected 'r', 's' or 'a'");
        part.conversion = body[i + 1];
        i += 2;
      }
      if (i < body.size() && body[i] == ':') {
        ++i;
        part.spec = parts(i, true, level + 1);
      }
      if (i >= body.size() || body[i] != '}') bad(i < body.size() ? i : open, "expecting '}'");
      ++i;
      if (part.selfDocumenting && part.conversion == 0 && part.spec.empty()) part.conversion = 'r';
      part.expr = b.parseField(std::string(exprText), at(start));
      return part;
    }
  };

  std::vector<FStringPart> fstring(std::string_view body, bool raw, TextCursor& cursor, size_t bodyOff) {
    FStringScan scan{*this, body, raw, cursor, bodyOff};
    size_t i = 0;
    return scan.parts(i, false, 0);
  }

  // Parses the expression of a replacement field with the same grammar, its tokens placed
  // where the text stands in the file.
  ExprP parseField(const std::string& text, SourceLoc at) {
    Session s(file_, text, TokenSource::Mode::Expression, at.line, at.col - 1);
    P::Fstring_fieldContext* tree = s.parser.fstring_field();
    return value(fieldExpr(tree));
  }

  const SourceFile* file_;
  bool inFunction_ = false;
  int loopDepth_ = 0;
  std::unordered_map<const void*, uint32_t> depth_;
};

// ============================================================================ threads

// Runs `fn` on a thread with a large stack and rethrows what it threw. If such a thread
// cannot be made, runs `fn` here (the depth limits still hold; only very deep input is at
// risk then).
void runWithLargeStack(const std::function<void()>& fn) {
  struct Job {
    const std::function<void()>* fn;
    std::exception_ptr error;
  } job{&fn, nullptr};
  auto body = [](void* p) -> void* {
    auto* j = static_cast<Job*>(p);
    tStackBase = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    tStackBudget = limits::kParserStackBudget;
    try {
      (*j->fn)();
    } catch (...) {
      j->error = std::current_exception();
    }
    return nullptr;
  };
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, limits::kParserStackBytes);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, body, &job);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    // Here, on the caller's stack, assume only the usual 8 MiB.
    uintptr_t savedBase = tStackBase;
    size_t savedBudget = tStackBudget;
    tStackBase = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    tStackBudget = size_t(4) << 20;
    try {
      fn();
    } catch (...) {
      tStackBase = savedBase;
      tStackBudget = savedBudget;
      throw;
    }
    tStackBase = savedBase;
    tStackBudget = savedBudget;
    return;
  }
  pthread_join(thread, nullptr);
  if (job.error) std::rethrow_exception(job.error);
}

// ANTLR's shared DFA caches are not safe for concurrent parsers.
std::mutex& parseMutex() {
  static std::mutex m;
  return m;
}

bool endsWithBlankLine(const std::string& text) {
  std::string_view t(text);
  if (!t.empty() && t.back() == '\n') t.remove_suffix(1);
  size_t nl = t.rfind('\n');
  if (nl == std::string_view::npos) return false;
  return t.substr(nl + 1).find_first_not_of(" \t\f\r") == std::string_view::npos;
}

}  // namespace

std::unique_ptr<ast::Module> parseModule(const SourceFile* file) {
  MSL_ASSERT(file != nullptr, "parseModule: no file");
  std::lock_guard<std::mutex> lock(parseMutex());
  std::unique_ptr<ast::Module> result;
  runWithLargeStack([&] {
    Session s(file, lexerText(file->text), TokenSource::Mode::File);
    P::File_inputContext* tree = s.parser.file_input();
    Builder b(file);
    result = b.module(tree);
  });
  return result;
}

InputState replInputState(const std::string& text) {
  // Invalid bytes are an error whatever follows; check without registering the text.
  std::string normalized;
  normalized.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      normalized += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      normalized += text[i];
    }
  }
  SourceFile scratch;
  scratch.name = "<repl>";
  scratch.text = normalized;
  scratch.lineStarts.push_back(0);
  for (uint32_t i = 0; i < scratch.text.size(); ++i)
    if (scratch.text[i] == '\n') scratch.lineStarts.push_back(i + 1);
  if (!isWellFormedSource(scratch.text)) return InputState::Error;

  std::lock_guard<std::mutex> lock(parseMutex());
  InputState state = InputState::Complete;
  runWithLargeStack([&] {
    Session s(&scratch, lexerText(scratch.text), TokenSource::Mode::File);
    try {
      P::File_inputContext* tree = s.parser.file_input();
      Builder b(&scratch);
      std::unique_ptr<Module> m = b.module(tree);
      bool compound = s.tokens.sawIndent();
      for (const StmtP& st : m->body) {
        StmtKind k = st->kind;
        if (k == StmtKind::If || k == StmtKind::While || k == StmtKind::For || k == StmtKind::FunctionDef ||
            k == StmtKind::ClassDef)
          compound = true;
      }
      state = compound && !endsWithBlankLine(scratch.text) ? InputState::Incomplete : InputState::Complete;
    } catch (const Error&) {
      if (s.tokens.incompleteAtEof()) {
        state = InputState::Incomplete;
      } else if (s.strategy->errorAtEnd && !endsWithBlankLine(scratch.text)) {
        state = InputState::Incomplete;
      } else {
        state = InputState::Error;
      }
    }
  });
  return state;
}

}  // namespace msl
