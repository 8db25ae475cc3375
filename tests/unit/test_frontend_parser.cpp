// Tests of the frontend: input validation, the token source (INDENT/DEDENT, brackets,
// limits), the parser and AST builder (every construct of LANGUAGE.md sections 1-3, with
// line:col), literals and f-strings, the diagnostics for errors and for the Python
// features msl leaves out, the AST dump, and the REPL's input states.
#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <cmath>
#include <string>

#include "frontend/AST.h"
#include "frontend/Input.h"
#include "frontend/Parser.h"
#include "ir/Diagnostics.h"

using namespace msl;
using namespace msl::ast;

namespace {

std::unique_ptr<Module> parse(const std::string& src) { return parseModule(addSourceText("t.msl", src)); }

std::string dumpOf(const std::string& src) { return dump(*parse(src)); }

// The diagnostic raised while loading or parsing `src` (a failed expectation if none).
Diagnostic errorOf(const std::string& src) {
  try {
    parse(src);
  } catch (const Error& e) {
    return e.diag;
  }
  ADD_FAILURE() << "no error for:\n" << src;
  return Diagnostic{};
}

// "line:col message" of the error, for compact expectations.
std::string err(const std::string& src) {
  Diagnostic d = errorOf(src);
  return std::to_string(d.loc.line) + ":" + std::to_string(d.loc.col) + " " + d.message;
}

std::string at(SourceLoc l) { return std::to_string(l.line) + ":" + std::to_string(l.col); }

// The value of the first statement (an expression statement or an assignment).
const Expr* firstValue(const Module& m) {
  const Stmt* s = m.body.at(0).get();
  if (auto* e = as<ExprStmt>(s)) return e->value.get();
  if (auto* a = as<Assign>(s)) return a->value.get();
  ADD_FAILURE() << "first statement is a " << stmtKindName(s->kind);
  return nullptr;
}

// The dump of just the expression `src` (as the value of `x = src`), without the Module
// and Assign lines and with indentation relative to the expression.
std::string exprDump(const std::string& src) {
  std::string d = dumpOf("x = " + src + "\n");
  size_t p = d.find("value: ");
  EXPECT_NE(p, std::string::npos);
  std::string out;
  size_t lineStart = d.rfind('\n', p) + 1;
  size_t indent = p - lineStart;
  std::string rest = d.substr(p + 7);
  size_t i = 0;
  bool first = true;
  while (i < rest.size()) {
    size_t nl = rest.find('\n', i);
    std::string line = rest.substr(i, nl - i);
    if (!first) line = line.size() >= indent ? line.substr(indent) : line;
    out += line + "\n";
    first = false;
    i = nl + 1;
  }
  return out;
}

}  // namespace

// ============================================================================ input

TEST(FrontendInput, NormalizesLineEndsAndByteOrderMark) {
  const SourceFile* f = addSourceText("crlf.msl", "\xEF\xBB\xBFx = 1\r\ny = 2\rz = 3\n");
  EXPECT_EQ(f->text, "x = 1\ny = 2\nz = 3\n");
  auto m = parseModule(f);
  ASSERT_EQ(m->body.size(), 3u);
  EXPECT_EQ(at(m->body[2]->loc()), "3:1");
}

TEST(FrontendInput, InvalidUtf8PointsAtTheByteInCodePoints) {
  try {
    addSourceText("bad.msl", "x = 1\ns = \"\xC3\xA9\xC3\xA9\xFF\"\n");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.diag.id, DiagId::InvalidUtf8);
    EXPECT_EQ(e.diag.message, "invalid UTF-8 byte 0xff");
    EXPECT_EQ(at(e.diag.loc), "2:8");  // s, space, =, space, ", é, é, then the bad byte
    EXPECT_EQ(e.diag.loc.file->name, "bad.msl");
  }
}

TEST(FrontendInput, RejectsOverlongAndSurrogateEncodings) {
  for (const char* bad : {"x = '\xC0\xAF'", "x = '\xED\xA0\x80'", "x = '\xF4\x90\x80\x80'", "x = '\xE2\x82'"}) {
    try {
      addSourceText("bad.msl", bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.diag.id, DiagId::InvalidUtf8);
      EXPECT_EQ(at(e.diag.loc), "1:6");
    }
  }
}

TEST(FrontendInput, NulByte) {
  try {
    addSourceText("nul.msl", std::string("x = 1\ny = 2\0", 12));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.diag.id, DiagId::NulByte);
    EXPECT_EQ(at(e.diag.loc), "2:6");
  }
}

TEST(FrontendInput, FileSizeLimit) {
  std::string big(limits::kMaxSourceBytes + 1, '\n');
  try {
    addSourceText("big.msl", big);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.diag.id, DiagId::FileTooLarge);
    EXPECT_EQ(e.diag.loc.file->name, "big.msl");
  }
  big.pop_back();
  EXPECT_NO_THROW(addSourceText("big.msl", big));
}

TEST(FrontendInput, LoadSourceFile) {
  char path[] = "/tmp/msl_parser_test_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string text = "def f(x):\n    return x\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), ssize_t(text.size()));
  close(fd);
  const SourceFile* f = loadSourceFile(path);
  EXPECT_EQ(f->name, path);
  EXPECT_EQ(f->text, text);
  EXPECT_EQ(parseModule(f)->body.size(), 1u);
  unlink(path);
}

TEST(FrontendInput, FileNotFoundCarriesReasonAndImportSite) {
  const SourceFile* importer = addSourceText("main.msl", "import nothere\n");
  try {
    loadSourceFile("/nonexistent/nothere.msl", SourceLoc{importer, 1, 8});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.diag.id, DiagId::FileNotFound);
    EXPECT_EQ(e.diag.message, "cannot open file '/nonexistent/nothere.msl': No such file or directory");
    EXPECT_EQ(e.diag.loc.file, importer);
    EXPECT_EQ(at(e.diag.loc), "1:8");
  }
  try {
    loadSourceFile("/tmp");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.diag.message, "cannot open file '/tmp': Is a directory");
  }
}

// ============================================================================ limits

TEST(FrontendLimits, TwoHundredNestedBracketsWork) {
  std::string src = "x = " + std::string(200, '(') + "1" + std::string(200, ')') + "\n";
  EXPECT_EQ(as<Int>(firstValue(*parse(src)))->value, 1);
  src = "x = " + std::string(200, '[') + "1" + std::string(200, ']') + "\n";
  EXPECT_EQ(firstValue(*parse(src))->kind, ExprKind::List);
  std::string calls;
  for (int i = 0; i < 200; ++i) calls += "f(";
  calls += "1" + std::string(200, ')');
  EXPECT_EQ(firstValue(*parse("x = " + calls + "\n"))->kind, ExprKind::Call);
}

TEST(FrontendLimits, ThreeHundredNestedBracketsAreTooDeep) {
  Diagnostic d = errorOf("x = " + std::string(300, '[') + "1" + std::string(300, ']') + "\n");
  EXPECT_EQ(d.id, DiagId::NestingTooDeep);
  EXPECT_EQ(d.message, "nesting too deep: the limit is 256 levels");
  EXPECT_EQ(at(d.loc), "1:261");  // the 257th '['
}

TEST(FrontendLimits, TwoHundredNestedBlocksWork) {
  std::string src;
  for (int i = 0; i < 200; ++i) src += std::string(size_t(i), ' ') + "if x:\n";
  src += std::string(200, ' ') + "y = 1\n";
  auto m = parse(src);
  const Stmt* s = m->body[0].get();
  int depth = 0;
  while (auto* i = as<If>(s)) {
    ++depth;
    s = i->body[0].get();
  }
  EXPECT_EQ(depth, 200);
  EXPECT_EQ(at(s->loc()), "201:201");
}

TEST(FrontendLimits, ThreeHundredNestedBlocksAreTooDeep) {
  std::string src;
  for (int i = 0; i < 300; ++i) src += std::string(size_t(i), ' ') + "while x:\n";
  src += std::string(300, ' ') + "y = 1\n";
  Diagnostic d = errorOf(src);
  EXPECT_EQ(d.id, DiagId::NestingTooDeep);
  EXPECT_EQ(at(d.loc), "258:258");  // the first token of the 257th block
}

TEST(FrontendLimits, BlocksAndBracketsCountTogether) {
  std::string src;
  for (int i = 0; i < 150; ++i) src += std::string(size_t(i), ' ') + "if x:\n";
  src += std::string(150, ' ') + "y = " + std::string(150, '(') + "1" + std::string(150, ')') + "\n";
  EXPECT_EQ(errorOf(src).id, DiagId::NestingTooDeep);
}

TEST(FrontendLimits, DeepExpressionsWithoutBracketsAreBounded) {
  // Chains that nest the tree without brackets: an error, never a crash.
  auto repeat = [](const std::string& head, const std::string& part, int n, const std::string& tail) {
    std::string s = head;
    for (int i = 0; i < n; ++i) s += part;
    return s + tail + "\n";
  };
  // 300000 levels of '~' exceed the parser's stack budget long before the tree is built.
  for (const std::string& src : {repeat("x = ", "-", 5000, "1"), repeat("x = ", "~", 300000, "1"),
                                 repeat("x = 1", "+1", 1200, ""), repeat("x = 2", "**2", 5000, ""),
                                 repeat("x = ", "lambda: ", 5000, "1"), repeat("x = ", "not ", 5000, "1"),
                                 repeat("x = ", "a if b else ", 5000, "c"), repeat("x = a", ".b", 2000, ""),
                                 repeat("x = f", "()", 2000, "")}) {
    Diagnostic d = errorOf(src);
    EXPECT_EQ(d.id, DiagId::SyntaxTooDeep) << src.substr(0, 20) << ": " << d.message;
    EXPECT_EQ(d.message, "expression or statement nested too deeply: the limit is 1000 levels");
  }
  // A 1200-term sum reports the place where the tree gets too deep: the 1000th '+'.
  EXPECT_EQ(at(errorOf(repeat("x = 1", "+1", 1200, "")).loc), "1:2004");
  // Within the limit: a 900-term sum and a 500-branch elif chain parse.
  EXPECT_EQ(firstValue(*parse(repeat("x = 1", " + 1", 900, "")))->kind, ExprKind::BinOp);
  EXPECT_EQ(parse(repeat("if a:\n    pass\n", "elif b:\n    pass\n", 500, ""))->body.size(), 1u);
}

TEST(FrontendLimits, TokenLimit) {
  // Every token counts, line ends included; blank lines make the test fast.
  std::string src = "x = 1\n" + std::string(limits::kMaxTokens, '\n');
  Diagnostic d = errorOf(src);
  EXPECT_EQ(d.id, DiagId::TooManyTokens);
  EXPECT_EQ(d.message, "too many tokens: the limit is 1048576");
  EXPECT_EQ(at(d.loc), "1048574:1");
  EXPECT_NO_THROW(parse("x = 1\n" + std::string(limits::kMaxTokens - 4, '\n')));
}

// Parsing runs on its own large stack: a caller with a small stack can parse deep input.
TEST(FrontendLimits, ParsesOnItsOwnStack) {
  struct Job {
    bool ok = false;
  } job;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t t;
  auto body = [](void* p) -> void* {
    std::string src;
    for (int i = 0; i < 120; ++i) src += std::string(size_t(i), ' ') + "if x:\n";
    src += std::string(120, ' ') + "y = " + std::string(130, '(') + "-1" + std::string(130, ')') + "\n";
    try {
      parse(src);
      static_cast<Job*>(p)->ok = true;
    } catch (...) {
    }
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&t, &attr, body, &job), 0);
  pthread_join(t, nullptr);
  pthread_attr_destroy(&attr);
  EXPECT_TRUE(job.ok);
}

// ============================================================================ token source

TEST(FrontendTokens, IndentationBlocksAndDedentAtEof) {
  auto m = parse("def f(x):\n    if x:\n        return 1\n    return 2");  // no final newline
  auto* f = as<FunctionDef>(m->body[0].get());
  ASSERT_TRUE(f);
  ASSERT_EQ(f->body.size(), 2u);
  EXPECT_EQ(f->body[0]->kind, StmtKind::If);
  EXPECT_EQ(at(f->body[1]->loc()), "4:5");
}

TEST(FrontendTokens, BlankAndCommentLinesAreIgnored) {
  auto m = parse("# header\n\nif x:\n\n    # inside\n        # deeper comment\n    y = 1\n  # shallow comment\n\n    z = 2\nw = 3\n");
  ASSERT_EQ(m->body.size(), 2u);
  EXPECT_EQ(as<If>(m->body[0].get())->body.size(), 2u);
}

TEST(FrontendTokens, ImplicitLineJoiningInsideBrackets) {
  auto m = parse("x = [1,\n  2,\n        3]\ny = f(a,\nb=2)\nz = {\n'k':\n 1}\n");
  ASSERT_EQ(m->body.size(), 3u);
  auto* l = as<List>(firstValue(*m));
  ASSERT_TRUE(l);
  EXPECT_EQ(at(l->elts[2]->loc()), "3:9");
}

TEST(FrontendTokens, BackslashContinuation) {
  auto m = parse("if a and \\\n   b:\n    x = 1 + \\\n2\n");
  auto* i = as<If>(m->body[0].get());
  ASSERT_TRUE(i);
  EXPECT_EQ(at(as<BoolOp>(i->test.get())->values[1]->loc()), "2:4");
  EXPECT_EQ(err("x = 1 + \\ 2\n"), "1:9 invalid syntax: unexpected character after line continuation character '\\'");
}

TEST(FrontendTokens, TabsAreConsistentOrAnError) {
  EXPECT_NO_THROW(parse("if x:\n\ty = 1\n\tif y:\n\t\tz = 2\n"));
  EXPECT_NO_THROW(parse("if x:\n        y = 1\n        z = 2\n"));
  Diagnostic d = errorOf("if x:\n\ty = 1\n        z = 2\n");  // a tab vs 8 spaces
  EXPECT_EQ(d.id, DiagId::TabsAndSpaces);
  EXPECT_EQ(at(d.loc), "3:9");
  EXPECT_EQ(errorOf("if x:\n    \ty = 1\n\t    z = 2\n").id, DiagId::TabsAndSpaces);
}

TEST(FrontendTokens, IndentationErrors) {
  EXPECT_EQ(err("  x = 1\n"), "1:3 unexpected indent");
  EXPECT_EQ(err("x = 1\n    y = 2\n"), "2:5 unexpected indent");
  EXPECT_EQ(err("if x:\ny = 1\n"), "2:1 expected an indented block");
  EXPECT_EQ(err("def f():\n"), "1:9 expected an indented block");
  EXPECT_EQ(err("if x:\n    y = 1\n  z = 2\n"), "3:3 unindent does not match any outer indentation level");
  EXPECT_EQ(errorOf("if x:\n    y = 1\n  z = 2\n").id, DiagId::BadIndent);
  EXPECT_EQ(errorOf("  x = 1\n").id, DiagId::UnexpectedIndent);
  EXPECT_EQ(errorOf("if x:\ny = 1\n").id, DiagId::ExpectedIndent);
}

TEST(FrontendTokens, Brackets) {
  Diagnostic d = errorOf("x = 1)\n");
  EXPECT_EQ(d.id, DiagId::UnmatchedBracket);
  EXPECT_EQ(d.message, "unmatched ')'");
  EXPECT_EQ(at(d.loc), "1:6");
  EXPECT_EQ(err("x = [1, 2)\n"), "1:10 closing ')' does not match opening '['");
  d = errorOf("x = f(a,\n  [1,\n");
  EXPECT_EQ(d.id, DiagId::UnclosedBracket);
  EXPECT_EQ(d.message, "'[' was never closed");
  EXPECT_EQ(at(d.loc), "2:3");
}

TEST(FrontendTokens, LexicalErrors) {
  EXPECT_EQ(err("x = 1 $ 2\n"), "1:7 unexpected character '$'");
  EXPECT_EQ(err("x = 1 ? 2\n"), "1:7 unexpected character '?'");
  EXPECT_EQ(err("x = \x01\n"), "1:5 unexpected character '\\x01'");
  EXPECT_EQ(errorOf("x = 1 $ 2\n").id, DiagId::BadCharacter);
  for (const char* bad : {"1__0", "0123", "1e", "0x", "0b102", "12ab", "1_"}) {
    Diagnostic d = errorOf(std::string("x = ") + bad + "\n");
    EXPECT_EQ(d.id, DiagId::BadNumber) << bad;
    EXPECT_EQ(d.message, std::string("invalid number literal '") + bad + "'");
  }
  Diagnostic d = errorOf("x = 'abc\ny = 2\n");
  EXPECT_EQ(d.id, DiagId::UnterminatedString);
  EXPECT_EQ(at(d.loc), "1:5");
  d = errorOf("x = 1\ny = \"\"\"abc\n\nz = 2\n");
  EXPECT_EQ(d.id, DiagId::UnterminatedString);
  EXPECT_EQ(at(d.loc), "2:5");
}

// ============================================================================ literals

TEST(FrontendLiterals, Integers) {
  EXPECT_EQ(as<Int>(firstValue(*parse("42\n")))->value, 42);
  EXPECT_EQ(as<Int>(firstValue(*parse("0x2a\n")))->value, 42);
  EXPECT_EQ(as<Int>(firstValue(*parse("0X_2A\n")))->value, 42);
  EXPECT_EQ(as<Int>(firstValue(*parse("0o17\n")))->value, 15);
  EXPECT_EQ(as<Int>(firstValue(*parse("0b101\n")))->value, 5);
  EXPECT_EQ(as<Int>(firstValue(*parse("1_000\n")))->value, 1000);
  EXPECT_EQ(as<Int>(firstValue(*parse("0\n")))->value, 0);
  EXPECT_EQ(as<Int>(firstValue(*parse("00\n")))->value, 0);
  EXPECT_EQ(as<Int>(firstValue(*parse("9223372036854775807\n")))->value, INT64_MAX);
  auto m = parse("x = -9223372036854775808\n");
  auto* i = as<Int>(firstValue(*m));
  ASSERT_TRUE(i);
  EXPECT_EQ(i->value, INT64_MIN);
  EXPECT_EQ(at(i->loc()), "1:5");
}

TEST(FrontendLiterals, IntegerOverflow) {
  Diagnostic d = errorOf("x = 9223372036854775808\n");
  EXPECT_EQ(d.id, DiagId::IntLiteralTooLarge);
  EXPECT_EQ(d.message, "integer literal 9223372036854775808 does not fit in 64 bits");
  EXPECT_EQ(at(d.loc), "1:5");
  EXPECT_EQ(errorOf("x = 0xFFFFFFFFFFFFFFFF\n").id, DiagId::IntLiteralTooLarge);
  EXPECT_EQ(errorOf("x = 123456789012345678901234567890\n").id, DiagId::IntLiteralTooLarge);
  EXPECT_EQ(errorOf("x = -9223372036854775809\n").id, DiagId::IntLiteralTooLarge);
  EXPECT_EQ(errorOf("x = 2 - 9223372036854775808\n").id, DiagId::IntLiteralTooLarge);
}

TEST(FrontendLiterals, Floats) {
  auto value = [](const std::string& s) { return as<Float>(firstValue(*parse(s + "\n")))->value; };
  EXPECT_EQ(value("3.5"), 3.5);
  EXPECT_EQ(value("1e-3"), 1e-3);
  EXPECT_EQ(value(".5"), 0.5);
  EXPECT_EQ(value("1."), 1.0);
  EXPECT_EQ(value("1_000.25"), 1000.25);
  EXPECT_EQ(value("2E+2"), 200.0);
  EXPECT_EQ(value("1e400"), HUGE_VAL);
  EXPECT_EQ(value("1e-400"), 0.0);
  EXPECT_EQ(exprDump("0.1"), "Float 0.1 @1:5\n");
}

TEST(FrontendLiterals, KeywordConstants) {
  EXPECT_EQ(exprDump("(True, False, None, ...)"),
            "Tuple @1:5\n  Bool True @1:6\n  Bool False @1:12\n  NoneLit @1:19\n  EllipsisLit @1:25\n");
}

TEST(FrontendLiterals, StringEscapesAsPython) {
  auto str = [](const std::string& s) { return as<Str>(firstValue(*parse("x = " + s + "\n")))->value; };
  EXPECT_EQ(str(R"("a\nb\tc\\d\'e\"f")"), "a\nb\tc\\d'e\"f");
  EXPECT_EQ(str(R"('\a\b\f\v\r')"), "\a\b\f\v\r");
  EXPECT_EQ(str(R"("\x41\101\0\u00e9\U0001F600")"), std::string("AA\0\xC3\xA9\xF0\x9F\x98\x80", 9));
  EXPECT_EQ(str("'ab\\\ncd'"), "abcd");
  EXPECT_EQ(str(R"(r"\d+\n")"), "\\d+\\n");
  EXPECT_EQ(str(R"(R'\'')"), "\\'");
  EXPECT_EQ(str(R"(u"x")"), "x");
  EXPECT_EQ(str("'''a\n'b'\n\"\"c'''"), "a\n'b'\n\"\"c");
  EXPECT_EQ(str("\"\"\"x\"\"\""), "x");
  EXPECT_EQ(str("''"), "");
  EXPECT_EQ(str("'h\xC3\xA9llo'"), "h\xC3\xA9llo");
}

TEST(FrontendLiterals, AdjacentStringsAreJoined) {
  auto m = parse("x = ('a' \"b\"\n     r'\\c' '''d''')\n");
  auto* s = as<Str>(firstValue(*m));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->value, "ab\\cd");
  EXPECT_EQ(at(s->range.begin), "1:6");
  EXPECT_EQ(at(s->range.end), "2:19");
}

TEST(FrontendLiterals, StringErrors) {
  Diagnostic d = errorOf("x = 'ab\\qc'\n");
  EXPECT_EQ(d.id, DiagId::BadEscape);
  EXPECT_EQ(d.message, "invalid escape sequence '\\q'");
  EXPECT_EQ(at(d.loc), "1:8");
  EXPECT_EQ(err("x = '\\x4'\n"), "1:6 invalid escape sequence '\\x4'");
  EXPECT_EQ(err("x = '\\ud800'\n"), "1:6 invalid escape sequence '\\ud800'");
  EXPECT_EQ(err("x = '\\N{DASH}'\n"), "1:6 the '\\N{...}' escape is not supported yet");
  EXPECT_EQ(errorOf("x = b'abc'\n").id, DiagId::NotInLanguage);
  EXPECT_EQ(err("x = \"\"\"\nab\\q\"\"\"\n"), "2:3 invalid escape sequence '\\q'");
}

// ============================================================================ f-strings

TEST(FrontendFStrings, LiteralsFieldsAndSpecs) {
  EXPECT_EQ(exprDump("f\"loss {l:.4f} at {step}\""),
            "FString @1:5\n"
            "  text \"loss \"\n"
            "  Field\n"
            "    Name l @1:13\n"
            "    spec:\n"
            "      text \".4f\"\n"
            "  text \" at \"\n"
            "  Field\n"
            "    Name step @1:24\n");
}

TEST(FrontendFStrings, ConversionsSelfDocumentingAndNestedSpecs) {
  auto m = parse("x = f'{a!r}{b!s}{c!a} {y=} {z = :>{w}} {{lit}} {d[\"k\"]:{w}.{p}f}'\n");
  auto* f = as<FString>(firstValue(*m));
  ASSERT_TRUE(f);
  const auto& p = f->parts;
  ASSERT_EQ(p.size(), 9u);
  EXPECT_EQ(p[0].conversion, 'r');
  EXPECT_EQ(p[1].conversion, 's');
  EXPECT_EQ(p[2].conversion, 'a');
  EXPECT_EQ(p[3].literal, " y=");
  EXPECT_TRUE(p[4].selfDocumenting);
  EXPECT_EQ(p[4].conversion, 'r');  // repr by default
  EXPECT_EQ(p[5].literal, " z = ");
  EXPECT_TRUE(p[6].selfDocumenting);
  EXPECT_EQ(p[6].conversion, 0);  // a format spec: format(), not repr
  ASSERT_EQ(p[6].spec.size(), 2u);
  EXPECT_EQ(p[6].spec[0].literal, ">");
  EXPECT_EQ(as<Name>(p[6].spec[1].expr.get())->id, "w");
  EXPECT_EQ(at(p[6].spec[1].expr->loc()), "1:36");
  EXPECT_EQ(p[7].literal, " {lit} ");
  EXPECT_EQ(p[8].expr->kind, ExprKind::Subscript);
  ASSERT_EQ(p[8].spec.size(), 4u);
  EXPECT_EQ(p[8].spec[1].literal, ".");
}

TEST(FrontendFStrings, LocationsInsideFieldsAreInTheFile) {
  // Non-ASCII text before the field: columns count code points.
  auto m2 = parse("s = \"\xC3\xA9\xC3\xA9\"; x = f\"\xE2\x82\xAC {a + bb}\"\n");
  auto* f = as<FString>(as<Assign>(m2->body[1].get())->value.get());
  ASSERT_TRUE(f);
  auto* b = as<BinOp>(f->parts[1].expr.get());
  ASSERT_TRUE(b);
  EXPECT_EQ(at(b->loc()), "1:20");
  EXPECT_EQ(at(b->opLoc), "1:22");
  EXPECT_EQ(at(b->rhs->loc()), "1:24");
  // Fields of a triple-quoted f-string on later lines.
  auto m3 = parse("x = f\"\"\"a\n  {y +\n z}\"\"\"\n");
  auto* g = as<BinOp>(as<FString>(firstValue(*m3))->parts[1].expr.get());
  ASSERT_TRUE(g);
  EXPECT_EQ(at(g->loc()), "2:4");
  EXPECT_EQ(at(g->rhs->loc()), "3:2");
  // Errors inside a field point into the file.
  EXPECT_EQ(err("x = f\"ab {x + } cd\"\n"), "1:14 invalid syntax: expected an expression");
  EXPECT_EQ(err("x = f'{a b}'\n"), "1:10 invalid syntax: unexpected name 'b'");
}

TEST(FrontendFStrings, NestedFStringsAndJoining) {
  auto m = parse("x = 'a' f\"{f'{y}'}\" 'b'\n");
  auto* f = as<FString>(firstValue(*m));
  ASSERT_TRUE(f);
  ASSERT_EQ(f->parts.size(), 3u);
  EXPECT_EQ(f->parts[0].literal, "a");
  auto* inner = as<FString>(f->parts[1].expr.get());
  ASSERT_TRUE(inner);
  EXPECT_EQ(at(inner->parts[0].expr->loc()), "1:15");
  EXPECT_EQ(f->parts[2].literal, "b");
  EXPECT_EQ(as<Tuple>(as<FString>(firstValue(*parse("x = f'{a, b}'\n")))->parts[0].expr.get())->elts.size(), 2u);
  EXPECT_EQ(as<FString>(firstValue(*parse("x = rf'\\d{x}'\n")))->parts[0].literal, "\\d");
  EXPECT_EQ(as<FString>(firstValue(*parse("x = f'\\n{x}'\n")))->parts[0].literal, "\n");
  EXPECT_EQ(as<Compare>(as<FString>(firstValue(*parse("x = f'{a != b}{a<=b}{a==b}'\n")))->parts[0].expr.get())->ops[0],
            CmpOpKind::Ne);
}

TEST(FrontendFStrings, Errors) {
  EXPECT_EQ(err("x = f'{}'\n"), "1:7 invalid f-string: empty expression not allowed");
  EXPECT_EQ(err("x = f'{ }'\n"), "1:7 invalid f-string: empty expression not allowed");
  EXPECT_EQ(err("x = f'{x'\n"), "1:7 invalid f-string: expecting '}'");
  EXPECT_EQ(err("x = f'a}b'\n"), "1:8 invalid f-string: single '}' is not allowed");
  EXPECT_EQ(err("x = f'{x!z}'\n"), "1:9 invalid f-string: invalid conversion character: expected 'r', 's' or 'a'");
  EXPECT_EQ(err("x = f'{x)}'\n"), "1:9 invalid f-string: unmatched ')'");
  EXPECT_EQ(err("x = f'{x:{y:{z}}}'\n"), "1:13 invalid f-string: expressions nested too deeply");
  EXPECT_EQ(err("x = f'{a\\n}'\n"), "1:9 invalid f-string: a backslash is not allowed in the expression part");
  EXPECT_EQ(err("x = f'{a#}'\n"), "1:9 invalid f-string: '#' is not allowed in the expression part");
  EXPECT_EQ(errorOf("x = f'{x!r }'\n").id, DiagId::BadFString);
}

// ============================================================================ statements

TEST(FrontendStatements, AssignmentForms) {
  auto m = parse("w, b = params\na, *rest = xs\na = b = 0\nx[i] = v\nx[a:b] += v\nm.l1.w = v\n"
                 "[p, (q, r)] = t\nd['k'] = v\n");
  auto* a = as<Assign>(m->body[0].get());
  ASSERT_TRUE(a);
  EXPECT_EQ(as<Tuple>(a->targets[0].get())->elts.size(), 2u);
  auto* star = as<Assign>(m->body[1].get());
  EXPECT_EQ(as<Tuple>(star->targets[0].get())->elts[1]->kind, ExprKind::Starred);
  auto* chain = as<Assign>(m->body[2].get());
  ASSERT_EQ(chain->targets.size(), 2u);
  EXPECT_EQ(as<Name>(chain->targets[1].get())->id, "b");
  EXPECT_EQ(as<Assign>(m->body[3].get())->targets[0]->kind, ExprKind::Subscript);
  auto* aug = as<AugAssign>(m->body[4].get());
  ASSERT_TRUE(aug);
  EXPECT_EQ(aug->op, BinOpKind::Add);
  EXPECT_EQ(at(aug->opLoc), "5:8");
  EXPECT_EQ(as<Subscript>(aug->target.get())->index->kind, ExprKind::Slice);
  EXPECT_EQ(as<Attribute>(as<Assign>(m->body[5].get())->targets[0].get())->attr, "w");
  EXPECT_EQ(as<Assign>(m->body[6].get())->targets[0]->kind, ExprKind::List);
}

TEST(FrontendStatements, EveryAugmentedOperator) {
  const std::pair<const char*, BinOpKind> ops[] = {
      {"+=", BinOpKind::Add}, {"-=", BinOpKind::Sub}, {"*=", BinOpKind::Mul}, {"/=", BinOpKind::Div},
      {"//=", BinOpKind::FloorDiv}, {"%=", BinOpKind::Mod}, {"**=", BinOpKind::Pow}, {"@=", BinOpKind::MatMul},
      {"&=", BinOpKind::BitAnd}, {"|=", BinOpKind::BitOr}, {"^=", BinOpKind::BitXor}};
  for (auto [text, kind] : ops) {
    auto m = parse(std::string("x ") + text + " 2\n");
    auto* a = as<AugAssign>(m->body[0].get());
    ASSERT_TRUE(a) << text;
    EXPECT_EQ(a->op, kind) << text;
    EXPECT_EQ(std::string(binOpSymbol(a->op)) + "=", text);
    EXPECT_EQ(at(a->opLoc), "1:3");
  }
}

TEST(FrontendStatements, AnnotatedAssignments) {
  auto m = parse("x: int = 3\ny: Tensor\n");
  auto* a = as<AnnAssign>(m->body[0].get());
  ASSERT_TRUE(a);
  EXPECT_EQ(as<Name>(a->annotation.get())->id, "int");
  EXPECT_EQ(as<Int>(a->value.get())->value, 3);
  EXPECT_FALSE(as<AnnAssign>(m->body[1].get())->value);
  EXPECT_EQ(err("a, b: int = 1, 2\n"), "1:1 invalid syntax: only a single target (not a tuple or list) can be annotated");
}

TEST(FrontendStatements, ControlFlow) {
  auto m = parse(
      "if a:\n    pass\nelif b:\n    x = 1\nelif c:\n    x = 2\nelse:\n    x = 3\n"
      "while x < 10:\n    x += 1\n    if x == 5:\n        break\n    continue\n"
      "for i, (a, b) in enumerate(zip(xs, ys)):\n    pass\n");
  auto* i = as<If>(m->body[0].get());
  ASSERT_TRUE(i);
  auto* elif1 = as<If>(i->orelse.at(0).get());
  ASSERT_TRUE(elif1);
  EXPECT_EQ(at(elif1->loc()), "3:1");
  auto* elif2 = as<If>(elif1->orelse.at(0).get());
  ASSERT_TRUE(elif2);
  EXPECT_EQ(elif2->orelse.at(0)->kind, StmtKind::Assign);
  EXPECT_EQ(at(i->range.end), "8:10");
  auto* w = as<While>(m->body[1].get());
  ASSERT_TRUE(w);
  EXPECT_EQ(w->body.size(), 3u);
  EXPECT_EQ(w->body[2]->kind, StmtKind::Continue);
  auto* f = as<For>(m->body[2].get());
  ASSERT_TRUE(f);
  auto* t = as<Tuple>(f->target.get());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->elts[1]->kind, ExprKind::Tuple);
  EXPECT_EQ(at(t->elts[1]->loc()), "14:8");
}

TEST(FrontendStatements, SimpleStatements) {
  auto m = parse("def f(x):\n    assert x > 0, 'positive'\n    raise ValueError('no')\n    return\n"
                 "x = 1; y = 2;\nexit(0)\nraise\n");
  auto* f = as<FunctionDef>(m->body[0].get());
  auto* a = as<Assert>(f->body[0].get());
  ASSERT_TRUE(a);
  EXPECT_EQ(as<Str>(a->msg.get())->value, "positive");
  EXPECT_EQ(as<Raise>(f->body[1].get())->exc->kind, ExprKind::Call);
  EXPECT_FALSE(as<Return>(f->body[2].get())->value);
  EXPECT_EQ(m->body.size(), 5u);
  EXPECT_EQ(at(m->body[2]->loc()), "5:8");
  EXPECT_FALSE(as<Raise>(m->body[4].get())->exc);
}

TEST(FrontendStatements, Imports) {
  auto m = parse("import helper\nimport helper as h, a.b.c\nfrom optim import adam\nfrom a.b import c as d, e\n"
                 "from m import (x,\n  y,)\n");
  auto* i = as<Import>(m->body[1].get());
  ASSERT_TRUE(i);
  ASSERT_EQ(i->names.size(), 2u);
  EXPECT_EQ(i->names[0].asname, "h");
  EXPECT_EQ(i->names[1].name, "a.b.c");
  EXPECT_EQ(at(i->names[1].range.begin), "2:21");
  auto* f = as<ImportFrom>(m->body[3].get());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->module, "a.b");
  EXPECT_EQ(at(f->moduleRange.begin), "4:6");
  EXPECT_EQ(f->names[0].name, "c");
  EXPECT_EQ(f->names[0].asname, "d");
  EXPECT_EQ(as<ImportFrom>(m->body[4].get())->names.size(), 2u);
}

TEST(FrontendStatements, FunctionsAndParameters) {
  auto m = parse("@jit\n@custom_vjp(fwd, bwd)\ndef f(x, y=2.0, *args, scale=1.0, **kw):\n"
                 "    \"\"\"Doc.\"\"\"\n    return x\n"
                 "def g(a: int, *, b, c=1) -> float:\n    pass\n");
  auto* f = as<FunctionDef>(m->body[0].get());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->name, "f");
  EXPECT_EQ(at(f->loc()), "3:1");
  EXPECT_EQ(at(f->nameLoc), "3:5");
  EXPECT_EQ(f->docstring, "Doc.");
  ASSERT_EQ(f->body.size(), 1u);
  ASSERT_EQ(f->decorators.size(), 2u);
  EXPECT_EQ(f->decorators[0]->kind, ExprKind::Name);
  EXPECT_EQ(f->decorators[1]->kind, ExprKind::Call);
  ASSERT_EQ(f->params.size(), 5u);
  EXPECT_EQ(f->params[0].kind, ParamKind::Positional);
  EXPECT_EQ(as<Float>(f->params[1].defaultValue.get())->value, 2.0);
  EXPECT_EQ(f->params[2].kind, ParamKind::VarArgs);
  EXPECT_EQ(f->params[2].name, "args");
  EXPECT_EQ(f->params[3].kind, ParamKind::KwOnly);
  EXPECT_EQ(f->params[4].kind, ParamKind::VarKw);
  EXPECT_EQ(at(f->params[4].range.begin), "3:35");
  auto* g = as<FunctionDef>(m->body[1].get());
  ASSERT_EQ(g->params.size(), 3u);
  EXPECT_EQ(as<Name>(g->params[0].annotation.get())->id, "int");
  EXPECT_EQ(g->params[1].kind, ParamKind::KwOnly);
  EXPECT_EQ(g->params[2].kind, ParamKind::KwOnly);
}

TEST(FrontendStatements, ClassesAreRecords) {
  auto m = parse("class Dense:\n    \"\"\"A layer.\"\"\"\n    w: Tensor\n    b: Tensor = None\n"
                 "    def __call__(self, x):\n        return x @ self.w + self.b\n    pass\n");
  auto* c = as<ClassDef>(m->body[0].get());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "Dense");
  EXPECT_EQ(at(c->nameLoc), "1:7");
  EXPECT_EQ(c->docstring, "A layer.");
  ASSERT_EQ(c->body.size(), 4u);
  EXPECT_EQ(c->body[0]->kind, StmtKind::AnnAssign);
  EXPECT_EQ(c->body[2]->kind, StmtKind::FunctionDef);
  EXPECT_NO_THROW(parse("class A:\n    pass\nclass B(): pass\n"));
  EXPECT_EQ(err("class A:\n    x = 1\n"),
            "2:5 a class body holds annotated fields, methods and a docstring; found an assignment "
            "(declare a field as 'name: Type = default')");
  EXPECT_EQ(errorOf("class A:\n    for i in x: pass\n").id, DiagId::BadClassBody);
  EXPECT_EQ(errorOf("class A:\n    'doc'\n    'not doc'\n").id, DiagId::BadClassBody);
  Diagnostic d = errorOf("class A:\n    x: int\n    x: float\n");
  EXPECT_EQ(d.id, DiagId::DuplicateField);
  EXPECT_EQ(d.message, "field 'x' declared twice in class 'A'");
  EXPECT_EQ(at(d.loc), "3:5");
}

TEST(FrontendStatements, Docstrings) {
  auto m = parse("'''Module doc.'''\nx = 1\n");
  EXPECT_EQ(m->docstring, "Module doc.");
  EXPECT_EQ(m->body.size(), 1u);
  auto m2 = parse("def f():\n    'only a docstring'\n");
  auto* f = as<FunctionDef>(m2->body[0].get());
  EXPECT_EQ(f->docstring, "only a docstring");
  EXPECT_TRUE(f->body.empty());
  auto m3 = parse("x = 1\n'not a docstring'\n");
  EXPECT_EQ(m3->docstring, "");
  EXPECT_EQ(m3->body.size(), 2u);
  EXPECT_EQ(parse("f'{x}'\n")->docstring, "");
  EXPECT_EQ(parse("'a' 'b'\n")->docstring, "ab");
}

// ============================================================================ expressions

TEST(FrontendExpressions, PowerBindsTighterThanUnaryMinus) {
  EXPECT_EQ(exprDump("-2**2"),
            "UnaryOp - @1:5\n"
            "  BinOp ** @1:6 op@1:7\n"
            "    Int 2 @1:6\n"
            "    Int 2 @1:9\n");
  // Right-associative, and a unary operator on its right: 2**-1**2 == 2**(-(1**2)).
  EXPECT_EQ(exprDump("2**-1**2"),
            "BinOp ** @1:5 op@1:6\n"
            "  Int 2 @1:5\n"
            "  UnaryOp - @1:8\n"
            "    BinOp ** @1:9 op@1:10\n"
            "      Int 1 @1:9\n"
            "      Int 2 @1:12\n");
}

TEST(FrontendExpressions, PythonPrecedence) {
  // a or b and not c == d | e ^ f & g + h * -i ** j
  auto m = parse("x = a or b and not c == d | e ^ f & g + h * -i ** j\n");
  auto* o = as<BoolOp>(firstValue(*m));
  ASSERT_TRUE(o);
  EXPECT_EQ(o->op, BoolOpKind::Or);
  auto* andOp = as<BoolOp>(o->values[1].get());
  ASSERT_TRUE(andOp);
  auto* notOp = as<UnaryOp>(andOp->values[1].get());
  ASSERT_TRUE(notOp);
  EXPECT_EQ(notOp->op, UnaryOpKind::Not);
  auto* eq = as<Compare>(notOp->operand.get());
  ASSERT_TRUE(eq);
  auto* bor = as<BinOp>(eq->comparators[0].get());
  ASSERT_TRUE(bor);
  EXPECT_EQ(bor->op, BinOpKind::BitOr);
  auto* bxor = as<BinOp>(bor->rhs.get());
  EXPECT_EQ(bxor->op, BinOpKind::BitXor);
  auto* band = as<BinOp>(bxor->rhs.get());
  EXPECT_EQ(band->op, BinOpKind::BitAnd);
  auto* add = as<BinOp>(band->rhs.get());
  EXPECT_EQ(add->op, BinOpKind::Add);
  auto* mul = as<BinOp>(add->rhs.get());
  EXPECT_EQ(mul->op, BinOpKind::Mul);
  auto* neg = as<UnaryOp>(mul->rhs.get());
  EXPECT_EQ(neg->op, UnaryOpKind::Neg);
  EXPECT_EQ(as<BinOp>(neg->operand.get())->op, BinOpKind::Pow);
  // Left associativity and the multiplicative operators.
  auto mt = parse("x = a - b - c @ d // e % f / g\n");
  auto* t = as<BinOp>(firstValue(*mt));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->op, BinOpKind::Sub);
  EXPECT_EQ(as<BinOp>(t->lhs.get())->op, BinOpKind::Sub);
  EXPECT_EQ(as<BinOp>(t->rhs.get())->op, BinOpKind::Div);
  EXPECT_EQ(exprDump("~a + +b"), "BinOp + @1:5 op@1:8\n  UnaryOp ~ @1:5\n    Name a @1:6\n  UnaryOp + @1:10\n    Name b @1:11\n");
}

TEST(FrontendExpressions, ChainedComparisons) {
  auto m = parse("x = a < b <= c > d >= e == f != g is h is not i in j not in k\n");
  auto* c = as<Compare>(firstValue(*m));
  ASSERT_TRUE(c);
  std::vector<CmpOpKind> expected = {CmpOpKind::Lt, CmpOpKind::Le, CmpOpKind::Gt, CmpOpKind::Ge, CmpOpKind::Eq,
                                     CmpOpKind::Ne, CmpOpKind::Is, CmpOpKind::IsNot, CmpOpKind::In, CmpOpKind::NotIn};
  EXPECT_EQ(c->ops, expected);
  ASSERT_EQ(c->comparators.size(), 10u);
  EXPECT_EQ(at(c->opLocs[7]), "1:40");
  EXPECT_EQ(std::string(cmpOpSymbol(c->ops[9])), "not in");
  EXPECT_EQ(exprDump("x is None"), "Compare is @1:5 op@1:7\n  Name x @1:5\n  NoneLit @1:10\n");
}

TEST(FrontendExpressions, ConditionalAndLambda) {
  EXPECT_EQ(exprDump("a if c else b"), "IfExp @1:5\n  test: Name c @1:10\n  body: Name a @1:5\n  orelse: Name b @1:17\n");
  auto ml = parse("x = lambda x, y=2, *a, k=1, **kw: x + y\n");
  auto* l = as<Lambda>(firstValue(*ml));
  ASSERT_TRUE(l);
  ASSERT_EQ(l->params.size(), 5u);
  EXPECT_EQ(l->params[2].kind, ParamKind::VarArgs);
  EXPECT_EQ(l->params[3].kind, ParamKind::KwOnly);
  EXPECT_EQ(l->body->kind, ExprKind::BinOp);
  EXPECT_EQ(as<Lambda>(firstValue(*parse("x = lambda: 0\n")))->params.size(), 0u);
  // Default capture: `lambda i=i: i` is allowed.
  EXPECT_NO_THROW(parse("fs = [lambda i=i: i for i in range(3)]\n"));
}

TEST(FrontendExpressions, CallsAttributesSubscripts) {
  auto m = parse("y = m.l1(x, *xs, scale=1.0, **d)[0].T\n");
  auto* attr = as<Attribute>(firstValue(*m));
  ASSERT_TRUE(attr);
  EXPECT_EQ(attr->attr, "T");
  EXPECT_EQ(at(attr->attrLoc), "1:37");
  auto* sub = as<Subscript>(attr->value.get());
  ASSERT_TRUE(sub);
  EXPECT_EQ(at(sub->bracketLoc), "1:33");
  auto* call = as<Call>(sub->value.get());
  ASSERT_TRUE(call);
  EXPECT_EQ(at(call->loc()), "1:5");  // a call points at its callee
  ASSERT_EQ(call->args.size(), 4u);
  EXPECT_EQ(call->args[0].kind, ArgKind::Positional);
  EXPECT_EQ(call->args[1].kind, ArgKind::Star);
  EXPECT_EQ(call->args[2].kind, ArgKind::Keyword);
  EXPECT_EQ(call->args[2].name, "scale");
  EXPECT_EQ(at(call->args[2].range.begin), "1:18");
  EXPECT_EQ(call->args[3].kind, ArgKind::DoubleStar);
  EXPECT_EQ(as<Attribute>(call->func.get())->attr, "l1");
  EXPECT_NO_THROW(parse("f(a, b,)\nf()\nf(*a, b)\nf(a=1, *b)\nf(**a, b=1)\n"));
}

TEST(FrontendExpressions, SlicesAndIndices) {
  EXPECT_EQ(exprDump("x[:, 0]"),
            "Subscript @1:5 bracket@1:6\n  Name x @1:5\n  index: Tuple @1:7\n    Slice @1:7\n    Int 0 @1:10\n");
  EXPECT_EQ(exprDump("x[a:b:c]"),
            "Subscript @1:5 bracket@1:6\n  Name x @1:5\n  index: Slice @1:7\n    lower: Name a @1:7\n"
            "    upper: Name b @1:9\n    step: Name c @1:11\n");
  EXPECT_EQ(exprDump("x[None, ..., ::2]"),
            "Subscript @1:5 bracket@1:6\n  Name x @1:5\n  index: Tuple @1:7\n    NoneLit @1:7\n"
            "    EllipsisLit @1:13\n    Slice @1:18\n      step: Int 2 @1:20\n");
  EXPECT_EQ(as<Subscript>(firstValue(*parse("x = y[1,]\n")))->index->kind, ExprKind::Tuple);
  EXPECT_EQ(as<Subscript>(firstValue(*parse("x = y[::]\n")))->index->kind, ExprKind::Slice);
}

TEST(FrontendExpressions, Displays) {
  EXPECT_EQ(as<Tuple>(firstValue(*parse("x = (1,)\n")))->elts.size(), 1u);
  EXPECT_EQ(as<Tuple>(firstValue(*parse("x = ()\n")))->elts.size(), 0u);
  EXPECT_EQ(as<Tuple>(firstValue(*parse("x = 1, 2,\n")))->elts.size(), 2u);
  EXPECT_EQ(as<List>(firstValue(*parse("x = [1, 2,]\n")))->elts.size(), 2u);
  EXPECT_EQ(as<List>(firstValue(*parse("x = []\n")))->elts.size(), 0u);
  EXPECT_EQ(firstValue(*parse("x = (1)\n"))->kind, ExprKind::Int);
  auto mt = parse("x = (1, 2)\n");
  auto* t = as<Tuple>(firstValue(*mt));
  EXPECT_EQ(at(t->loc()), "1:5");  // a parenthesized tuple starts at its '('
  auto ml = parse("x = [*a, *b, c]\n");
  auto* l = as<List>(firstValue(*ml));
  EXPECT_EQ(l->elts[0]->kind, ExprKind::Starred);
  auto md = parse("x = {'w': w, **other, 1: 2,}\n");
  auto* d = as<Dict>(firstValue(*md));
  ASSERT_TRUE(d);
  ASSERT_EQ(d->keys.size(), 3u);
  EXPECT_FALSE(d->keys[1]);
  EXPECT_EQ(as<Name>(d->values[1].get())->id, "other");
  EXPECT_EQ(as<Dict>(firstValue(*parse("x = {}\n")))->keys.size(), 0u);
}

TEST(FrontendExpressions, Comprehensions) {
  auto mlc = parse("x = [a * b for a in xs if a > 0 if a < 9 for b in a]\n");
  auto* lc = as<ListComp>(firstValue(*mlc));
  ASSERT_TRUE(lc);
  ASSERT_EQ(lc->generators.size(), 2u);
  EXPECT_EQ(lc->generators[0].ifs.size(), 2u);
  EXPECT_EQ(at(lc->generators[1].range.begin), "1:42");
  auto mdc = parse("x = {k: v for k, v in d.items()}\n");
  auto* dc = as<DictComp>(firstValue(*mdc));
  ASSERT_TRUE(dc);
  EXPECT_EQ(dc->generators[0].target->kind, ExprKind::Tuple);
  auto mcall = parse("x = sum(x * x for x in xs)\n");
  auto* call = as<Call>(firstValue(*mcall));
  ASSERT_TRUE(call);
  auto* g = as<GeneratorExp>(call->args[0].value.get());
  ASSERT_TRUE(g);
  EXPECT_EQ(at(g->loc()), "1:9");
  EXPECT_EQ(firstValue(*parse("x = (y for y in z)\n"))->kind, ExprKind::GeneratorExp);
  EXPECT_EQ(firstValue(*parse("x = [lambda: i for i in range(3)]\n"))->kind, ExprKind::ListComp);
  // A conditional expression needs parentheses as the iterable of a comprehension, and a
  // lambda is allowed in a condition.
  EXPECT_NO_THROW(parse("x = [a for a in (b if c else d) if (lambda: a)()]\n"));
}

TEST(FrontendExpressions, ColumnsCountCodePoints) {
  // Two-byte and three-byte characters before the tokens.
  auto m = parse("s = \"h\xC3\xA9llo\"; t = '\xE6\x97\xA5\xE6\x9C\xAC' + x\n# \xC3\xA9\n\xCF\x80 = 3\n");
  auto* a = as<Assign>(m->body[1].get());
  ASSERT_TRUE(a);
  EXPECT_EQ(at(a->loc()), "1:14");
  auto* b = as<BinOp>(a->value.get());
  EXPECT_EQ(at(b->opLoc), "1:23");
  EXPECT_EQ(at(b->rhs->loc()), "1:25");
  EXPECT_EQ(at(b->range.end), "1:26");
  auto* pi = as<Assign>(m->body[2].get());
  EXPECT_EQ(as<Name>(pi->targets[0].get())->id, "\xCF\x80");
  EXPECT_EQ(at(as<Int>(pi->value.get())->loc()), "3:5");
  EXPECT_EQ(err("x = '\xC3\xA9\xC3\xA9' + $\n"), "1:12 unexpected character '$'");
}

// ============================================================================ syntax errors

TEST(FrontendSyntaxErrors, ShortMessagesAtTheRightPlace) {
  EXPECT_EQ(err("def f(x)\n    return x\n"), "1:9 invalid syntax: expected ':' or '->'");
  EXPECT_EQ(err("if x\n    pass\n"), "1:5 invalid syntax: expected ':'");
  EXPECT_EQ(err("if x = 1:\n    pass\n"), "1:6 invalid syntax: expected ':' (use '==' to compare)");
  EXPECT_EQ(err("x = 1 +\n"), "1:8 invalid syntax: expected an expression");
  EXPECT_EQ(err("x = \n"), "1:4 invalid syntax: expected an expression");
  EXPECT_EQ(err("x = 1 2\n"), "1:7 invalid syntax: unexpected number '2'");
  EXPECT_EQ(err("f(a b)\n"), "1:5 invalid syntax: expected ',' or ')'");
  EXPECT_EQ(err("x = if\n"), "1:5 invalid syntax: expected an expression, found keyword 'if'");
  EXPECT_EQ(err("@dec\nx = 1\n"), "2:1 invalid syntax: expected 'def', 'class' or '@'");
  EXPECT_EQ(err("else:\n    pass\n"), "1:1 invalid syntax: unexpected keyword 'else'");
  EXPECT_EQ(err("x = 'a' 'b' c\n"), "1:13 invalid syntax: unexpected name 'c'");
  EXPECT_EQ(errorOf("x = 1 +\n").id, DiagId::SyntaxError);
}

TEST(FrontendSyntaxErrors, AssignmentTargets) {
  EXPECT_EQ(err("f() = 3\n"), "1:1 cannot assign to a function call");
  EXPECT_EQ(err("1 = x\n"), "1:1 cannot assign to a literal");
  EXPECT_EQ(err("a + b = c\n"), "1:1 cannot assign to an expression");
  EXPECT_EQ(err("x, f() = 1, 2\n"), "1:4 cannot assign to a function call");
  EXPECT_EQ(err("None = 1\n"), "1:1 cannot assign to None");
  EXPECT_EQ(err("a < b = c\n"), "1:1 cannot assign to a comparison");
  EXPECT_EQ(err("a, *b, *c = x\n"), "1:8 invalid syntax: multiple starred expressions in assignment");
  EXPECT_EQ(err("*a = x\n"), "1:1 invalid syntax: a starred assignment target must be in a list or tuple");
  EXPECT_EQ(err("x, y += 1\n"), "1:1 cannot assign to a tuple in an augmented assignment");
  EXPECT_EQ(err("for f() in x: pass\n"), "1:5 cannot assign to a function call");
  EXPECT_EQ(err("x = [1 for 2 in y]\n"), "1:12 cannot assign to a literal");
  EXPECT_EQ(errorOf("f() = 3\n").id, DiagId::BadAssignTarget);
  EXPECT_EQ(err("x = *a\n"), "1:5 invalid syntax: can't use starred expression here");
  EXPECT_EQ(err("x = (*a)\n"), "1:6 invalid syntax: can't use starred expression here");
  EXPECT_EQ(err("x = [*a for a in b]\n"), "1:6 invalid syntax: iterable unpacking cannot be used in a comprehension");
}

TEST(FrontendSyntaxErrors, ParametersAndArguments) {
  Diagnostic d = errorOf("def f(a=1, b): pass\n");
  EXPECT_EQ(d.id, DiagId::DefaultOrder);
  EXPECT_EQ(at(d.loc), "1:12");
  d = errorOf("def f(a, b, a): pass\n");
  EXPECT_EQ(d.id, DiagId::DuplicateParam);
  EXPECT_EQ(d.message, "duplicate parameter 'a'");
  EXPECT_EQ(at(d.loc), "1:13");
  EXPECT_EQ(errorOf("f = lambda x, x: 0\n").id, DiagId::DuplicateParam);
  EXPECT_EQ(err("def f(*a, *b): pass\n"), "1:11 invalid syntax: only one '*' parameter is allowed");
  EXPECT_EQ(err("def f(**k, a): pass\n"), "1:12 invalid syntax: no parameter may follow '**k'");
  EXPECT_EQ(err("def f(*): pass\n"), "1:7 invalid syntax: named parameters must follow a bare '*'");
  EXPECT_EQ(err("def f(a, /, b): pass\n"), "1:10 a positional-only parameter marker '/' is not supported yet");
  EXPECT_NO_THROW(parse("def f(a=1, *b, c, d=2, **e): pass\n"));
  d = errorOf("f(a=1, 2)\n");
  EXPECT_EQ(d.id, DiagId::PositionalAfterKeyword);
  EXPECT_EQ(at(d.loc), "1:8");
  EXPECT_EQ(errorOf("f(**a, 2)\n").id, DiagId::PositionalAfterKeyword);
  d = errorOf("f(a=1, a=2)\n");
  EXPECT_EQ(d.id, DiagId::DuplicateKeywordArg);
  EXPECT_EQ(d.message, "keyword argument 'a' repeated");
  EXPECT_EQ(err("f(**a, *b)\n"), "1:8 invalid syntax: iterable argument unpacking follows keyword argument unpacking");
  EXPECT_EQ(err("f(a.b=1)\n"), "1:6 invalid syntax: a keyword argument must be a name; use '==' to compare");
  EXPECT_EQ(err("f(x for x in y, 1)\n"),
            "1:3 invalid syntax: a generator expression must be parenthesized unless it is the sole argument");
  EXPECT_EQ(err("f((a for a in b), x for x in y)\n"),
            "1:19 invalid syntax: a generator expression must be parenthesized unless it is the sole argument");
  EXPECT_NO_THROW(parse("f((a for a in b), 1)\n"));
}

TEST(FrontendSyntaxErrors, ReturnAndLoopPlacement) {
  EXPECT_EQ(err("return 1\n"), "1:1 'return' outside function");
  EXPECT_EQ(errorOf("return 1\n").id, DiagId::ReturnOutsideFunction);
  EXPECT_EQ(err("class A:\n    return 1\n"), "2:5 'return' outside function");
  EXPECT_EQ(err("break\n"), "1:1 'break' outside loop");
  EXPECT_EQ(err("if x:\n    continue\n"), "2:5 'continue' outside loop");
  EXPECT_EQ(errorOf("break\n").id, DiagId::BreakOutsideLoop);
  EXPECT_EQ(err("while x:\n    def f():\n        break\n"), "3:9 'break' outside loop");
  EXPECT_NO_THROW(parse("while x:\n    if y:\n        break\n    for i in z:\n        continue\n"));
  EXPECT_NO_THROW(parse("def f():\n    while x:\n        return 1\n"));
}

// The Python features msl leaves out: a diagnostic that names them, never "invalid syntax".
TEST(FrontendSyntaxErrors, NotInLanguage) {
  struct Case {
    const char* src;
    const char* where;
    const char* starts;
  };
  const Case cases[] = {
      {"global x\n", "1:1", "'global' is not part of msl: module-level names are looked up when used"},
      {"def f():\n    nonlocal x\n", "2:5", "'nonlocal' is not part of msl"},
      {"del x\n", "1:1", "'del' is not part of msl"},
      {"with open(f) as g:\n    pass\n", "1:1", "'with' is not part of msl"},
      {"try:\n    pass\nexcept E:\n    pass\n", "1:1", "'try' is not part of msl"},
      {"def f():\n    yield 1\n", "2:5", "'yield' is not part of msl"},
      {"x = lambda: (yield)\n", "1:14", "'yield' is not part of msl"},
      {"async def f(): pass\n", "1:1", "'async' is not part of msl"},
      {"x = await y\n", "1:5", "'await' is not part of msl"},
      {"class A(B):\n    pass\n", "1:8", "class inheritance is not part of msl"},
      {"while x:\n    pass\nelse:\n    pass\n", "3:1", "'else' after a loop is not part of msl"},
      {"for x in y:\n    pass\nelse:\n    pass\n", "3:1", "'else' after a loop is not part of msl"},
      {"x = {1, 2}\n", "1:5", "a set display is not part of msl"},
      {"x = {a for a in b}\n", "1:5", "a set comprehension is not part of msl"},
      {"if (n := 10) > 5: pass\n", "1:7", "':=' (assignment expression) is not part of msl"},
      {"from . import x\n", "1:6", "a relative import is not part of msl"},
      {"from m import *\n", "1:15", "'import *' is not part of msl"},
      {"raise E from e\n", "1:9", "'raise ... from' is not part of msl"},
      {"x = b'abc'\n", "1:5", "a bytes literal is not part of msl"},
      {"x = 1j\n", "1:5", "an imaginary literal is not part of msl"},
  };
  for (const Case& c : cases) {
    Diagnostic d = errorOf(c.src);
    EXPECT_EQ(d.id, DiagId::NotInLanguage) << c.src << d.message;
    EXPECT_EQ(at(d.loc), c.where) << c.src;
    EXPECT_EQ(d.message.rfind(c.starts, 0), 0u) << d.message;
  }
  EXPECT_EQ(err("match command:\n    case 1:\n        pass\n"),
            "1:1 the 'match' statement is not part of msl: use if/elif/else");
  EXPECT_EQ(err("print 'hi'\n"), "1:1 invalid syntax: missing parentheses in call to 'print'");
  EXPECT_EQ(err("match (a, b):\n    case 1:\n        pass\n"),
            "1:1 the 'match' statement is not part of msl: use if/elif/else");
  EXPECT_EQ(err("match = = 1\n"), "1:9 invalid syntax: expected an expression");
  EXPECT_NO_THROW(parse("match = 1\nmatch(x)\nprint(match)\nprint\n"));
  Diagnostic d = errorOf("x = a << 2\n");
  EXPECT_EQ(d.id, DiagId::NotSupportedYet);
  EXPECT_EQ(d.message, "the '<<' operator is not supported yet");
  EXPECT_EQ(errorOf("x >>= 2\n").id, DiagId::NotSupportedYet);
}

// ============================================================================ AST dump

TEST(FrontendDump, StableFormat) {
  EXPECT_EQ(dumpOf("\"\"\"Doc.\"\"\"\nimport nn as n\nfrom optim import adam\n"
                   "@jit\ndef step(m, lr=0.1):\n    \"\"\"Step.\"\"\"\n    if m is None:\n        return f\"{m!r}\"\n"
                   "    for k, v in d.items():\n        m.w -= lr * v\n    return [x for x in m]\n"),
            "Module\n"
            "  doc: \"Doc.\"\n"
            "  Import @2:1\n"
            "    alias nn as n @2:8\n"
            "  ImportFrom optim @3:1 module@3:6\n"
            "    alias adam @3:19\n"
            "  FunctionDef step @5:1 name@5:5\n"
            "    doc: \"Step.\"\n"
            "    decorator: Name jit @4:2\n"
            "    Param m @5:10\n"
            "    Param lr @5:13\n"
            "      default: Float 0.1 @5:16\n"
            "    body:\n"
            "      If @7:5\n"
            "        test: Compare is @7:8 op@7:10\n"
            "          Name m @7:8\n"
            "          NoneLit @7:13\n"
            "        body:\n"
            "          Return @8:9\n"
            "            value: FString @8:16\n"
            "              Field !r\n"
            "                Name m @8:19\n"
            "      For @9:5\n"
            "        target: Tuple @9:9\n"
            "          Name k @9:9\n"
            "          Name v @9:12\n"
            "        iter: Call @9:17\n"
            "          func: Attribute .items @9:17 attr@9:19\n"
            "            Name d @9:17\n"
            "        body:\n"
            "          AugAssign -= @10:9 op@10:13\n"
            "            target: Attribute .w @10:9 attr@10:11\n"
            "              Name m @10:9\n"
            "            value: BinOp * @10:16 op@10:19\n"
            "              Name lr @10:16\n"
            "              Name v @10:21\n"
            "      Return @11:5\n"
            "        value: ListComp @11:12\n"
            "          elt: Name x @11:13\n"
            "          comprehension @11:15\n"
            "            target: Name x @11:19\n"
            "            iter: Name m @11:24\n");
}

TEST(FrontendDump, KindAndOperatorNames) {
  EXPECT_STREQ(exprKindName(ExprKind::GeneratorExp), "GeneratorExp");
  EXPECT_STREQ(stmtKindName(StmtKind::ImportFrom), "ImportFrom");
  EXPECT_STREQ(binOpSymbol(BinOpKind::MatMul), "@");
  EXPECT_STREQ(binOpSymbol(BinOpKind::FloorDiv), "//");
  EXPECT_STREQ(unaryOpSymbol(UnaryOpKind::Not), "not");
  EXPECT_STREQ(unaryOpSymbol(UnaryOpKind::Invert), "~");
  EXPECT_STREQ(cmpOpSymbol(CmpOpKind::IsNot), "is not");
  EXPECT_EQ(exprDump("'a\"\\\\\\n\\x01'"), "Str \"a\\\"\\\\\\n\\x01\" @1:5\n");
}

// ============================================================================ REPL

TEST(FrontendRepl, InputStates) {
  EXPECT_EQ(replInputState("x = 1\n"), InputState::Complete);
  EXPECT_EQ(replInputState(""), InputState::Complete);
  EXPECT_EQ(replInputState("# comment\n"), InputState::Complete);
  EXPECT_EQ(replInputState("x = 1\ny = 2\n"), InputState::Complete);
  // Open brackets, strings and continuations.
  EXPECT_EQ(replInputState("x = (1,\n"), InputState::Incomplete);
  EXPECT_EQ(replInputState("x = [\n\n"), InputState::Incomplete);
  EXPECT_EQ(replInputState("x = {'a':\n"), InputState::Incomplete);
  EXPECT_EQ(replInputState("x = 1 + \\\n"), InputState::Incomplete);
  EXPECT_EQ(replInputState("s = \"\"\"doc\n"), InputState::Incomplete);
  EXPECT_EQ(replInputState("s = '''doc\n\nmore\n"), InputState::Incomplete);
  // Blocks need a blank line to end.
  EXPECT_EQ(replInputState("if x:\n"), InputState::Incomplete);
  EXPECT_EQ(replInputState("if x:  # why\n"), InputState::Incomplete);
  EXPECT_EQ(replInputState("def f(x):\n    return x\n"), InputState::Incomplete);
  EXPECT_EQ(replInputState("def f(x):\n    return x\n\n"), InputState::Complete);
  EXPECT_EQ(replInputState("for i in x:\n    print(i)\n    \n"), InputState::Complete);
  EXPECT_EQ(replInputState("if x: pass\n"), InputState::Incomplete);
  EXPECT_EQ(replInputState("if x: pass\n\n"), InputState::Complete);
  EXPECT_EQ(replInputState("class A:\n    def f(self):\n"), InputState::Incomplete);
  EXPECT_EQ(replInputState("@jit\n"), InputState::Incomplete);
  EXPECT_EQ(replInputState("if x:\n    y = 1\nelse:\n"), InputState::Incomplete);
  // Errors.
  EXPECT_EQ(replInputState("if x:\n\n"), InputState::Error);
  EXPECT_EQ(replInputState("x = 1 +\n"), InputState::Error);
  EXPECT_EQ(replInputState("x = 'abc\n"), InputState::Error);
  EXPECT_EQ(replInputState("else:\n"), InputState::Error);
  EXPECT_EQ(replInputState("x = 1)\n"), InputState::Error);
  EXPECT_EQ(replInputState("return 1\n"), InputState::Error);
  EXPECT_EQ(replInputState("global x\n"), InputState::Error);
  EXPECT_EQ(replInputState("x = '\xFF'\n"), InputState::Error);
  EXPECT_EQ(replInputState("if x:\n    y = 1\n  z = 2\n"), InputState::Error);
}
