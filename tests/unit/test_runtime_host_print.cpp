// Tests of printing and formatting (runtime/Print.cpp): Python's float repr, the format
// mini-language, str/repr of containers, records and other values. Expected texts were
// produced by Python 3.11.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstring>

#include "runtime/Print.h"
#include "runtime_host_test_util.h"

namespace msl {
namespace {

using namespace msl::test;

TEST(HostPrint, FloatReprMatchesPython) {
  struct Case { double x; const char* repr; };
  const Case cases[] = {
  {0.1, "0.1"},
  {2.0, "2.0"},
  {1e-05, "1e-05"},
  {1e+16, "1e+16"},
  {9999990000000000.0, "9999990000000000.0"},
  {0.0001, "0.0001"},
  {1e+22, "1e+22"},
  {1.5e-07, "1.5e-07"},
  {1.2345678901234568e+17, "1.2345678901234568e+17"},
  {0.3333333333333333, "0.3333333333333333"},
  {0.6666666666666666, "0.6666666666666666"},
  {-0.0, "-0.0"},
  {0.0, "0.0"},
  {5e-324, "5e-324"},
  {1.7976931348623157e+308, "1.7976931348623157e+308"},
  {100.0, "100.0"},
  {1000000000000000.0, "1000000000000000.0"},
  {0.3, "0.3"},
  {2.675, "2.675"},
  {9.999999999999999e-05, "9.999999999999999e-05"},
  {1234567890123456.8, "1234567890123456.8"},
  {3.14159, "3.14159"},
  {-2.5, "-2.5"},
  {1e+100, "1e+100"},
  {9223372036854775808.0, "9.223372036854776e+18"},
  {1e-10, "1e-10"},
  {0.30000000000000004, "0.30000000000000004"},
  {-1e-07, "-1e-07"},
  {123.456, "123.456"},
  {2.5e-05, "2.5e-05"},
  {1e+17, "1e+17"},
  {1.2345678901234567e+19, "1.2345678901234567e+19"},
  {0.00012, "0.00012"},
  {65536.0, "65536.0"},
  {0.14285714285714285, "0.14285714285714285"},
  };
  for (const Case& c : cases) EXPECT_EQ(floatRepr(c.x), c.repr) << c.repr;
  EXPECT_EQ(floatRepr(INFINITY), "inf");
  EXPECT_EQ(floatRepr(-INFINITY), "-inf");
  EXPECT_EQ(floatRepr(NAN), "nan");
}

TEST(HostPrint, FloatReprRoundTrips) {
  uint64_t state = 12345;
  for (int i = 0; i < 20000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    double x;
    uint64_t bits = state;
    std::memcpy(&x, &bits, sizeof x);
    if (!std::isfinite(x)) continue;
    EXPECT_EQ(std::strtod(floatRepr(x).c_str(), nullptr), x) << floatRepr(x);
  }
}

TEST(HostPrint, FormatSpecsMatchPython) {
  struct Case { Value v; const char* spec; const char* out; };
  const Case cases[] = {
  {F(123.0), ".3", "1.23e+02"},
  {F(1234.5), ".3", "1.23e+03"},
  {F(1.0), ".3", "1.0"},
  {F(0.0001), ".3", "0.0001"},
  {F(1e+16), ",", "1e+16"},
  {F(1234567.0), ",", "1,234,567.0"},
  {I(1234LL), "010,", "00,001,234"},
  {I(1234LL), "0=10,", "00,001,234"},
  {I(1234LL), "*=10,", "*****1,234"},
  {I(-1234LL), "010,", "-0,001,234"},
  {I(1234LL), "0>10,", "000001,234"},
  {I(1234LL), "08,", "0,001,234"},
  {F(-1234.5), "012,", "-0,001,234.5"},
  {I(11259375LL), "010_x", "0_00ab_cdef"},
  {I(12LL), "012_", "0_000_000_012"},
  {F(0.5), ".0%", "50%"},
  {F(0.1234), ".1%", "12.3%"},
  {Value::boolean(true), ">6", "     1"},
  {Value::boolean(true), "d", "1"},
  {Value::boolean(true), ".2f", "1.00"},
  {Value::boolean(false), "", "False"},
  {F(12345.678), "_", "12_345.678"},
  {I(255LL), "#_x", "0xff"},
  {I(255LL), "#010x", "0x000000ff"},
  {I(255LL), "X", "FF"},
  {I(255LL), "#o", "0o377"},
  {I(5LL), "#b", "0b101"},
  {I(-5LL), "#x", "-0x5"},
  {I(65LL), "c", "A"},
  {I(20013LL), "c", "中"},
  {F(NAN), "+", "+nan"},
  {F(INFINITY), "F", "INF"},
  {F(-INFINITY), "e", "-inf"},
  {F(NAN), ".2f", "nan"},
  {F(-0.0), "", "-0.0"},
  {F(-0.0), "+.2f", "-0.00"},
  {F(-0.0001), "z.2f", "0.00"},
  {F(-0.0), "z", "0.0"},
  {F(3.0), "g", "3"},
  {F(3.0), "#g", "3.00000"},
  {F(1e-05), "g", "1e-05"},
  {F(123456789.0), "g", "1.23457e+08"},
  {F(0.1), ".20", "0.10000000000000000555"},
  {F(12.5), ".0f", "12"},
  {F(13.5), ".0f", "14"},
  {F(1.0), "e", "1.000000e+00"},
  {F(1.0), ".0e", "1e+00"},
  {F(1.0), "#.0e", "1.e+00"},
  {F(1.0), "#.0f", "1."},
  {F(2.5), "", "2.5"},
  {F(1e+22), "", "1e+22"},
  {F(1e+22), ".1", "1e+22"},
  {F(100.0), ".2", "1e+02"},
  {F(1.5), "n", "1.5"},
  {I(1234567LL), "n", "1234567"},
  {F(1.2345e-05), "", "1.2345e-05"},
  {I(12LL), "+d", "+12"},
  {I(12LL), " d", " 12"},
  {I(-12LL), "=+8", "-     12"},
  {I(12345678LL), "_b", "1011_1100_0110_0001_0100_1110"},
  {F(3.14159), "10.3f", "     3.142"},
  {F(3.14159), "<10.3f", "3.142     "},
  {F(3.14159), "^10.3f", "  3.142   "},
  {F(3.14159), "^11.3f", "   3.142   "},
  {F(3.14159), ".4f", "3.1416"},
  {F(0.25), ".1f", "0.2"},
  {F(0.35), ".1f", "0.3"},
  {F(2.675), ".2f", "2.67"},
  {F(1e+300), ".3e", "1.000e+300"},
  {F(1.23456789e-300), ".3g", "1.23e-300"},
  {F(1234.5678), ".2e", "1.23e+03"},
  {F(1234.5678), "E", "1.234568E+03"},
  {F(1.234e-05), "G", "1.234E-05"},
  {F(1e+16), ".17g", "10000000000000000"},
  {S("ab"), "^5", " ab  "},
  {S("ab"), ".1", "a"},
  {S("abc"), "*>6.2", "****ab"},
  {S("abc"), "<6", "abc   "},
  {S("abc"), "6", "abc   "},
  {S("s"), "05", "s0000"},
  {S("héllo"), "*^9", "**héllo**"},
  {S("日本"), ">4", "  日本"},
  {S("x"), "é<3", "xéé"},
  {I(42LL), "", "42"},
  {I(42LL), "5", "   42"},
  {I(42LL), "<5", "42   "},
  {I(42LL), "^6", "  42  "},
  {I(-42LL), "05", "-0042"},
  {I(42LL), "+", "+42"},
  {I(1000000LL), ",", "1,000,000"},
  {I(-1000000LL), "_", "-1_000_000"},
  {I(9223372036854775807LL), ",", "9,223,372,036,854,775,807"},
  {I(INT64_MIN), "", "-9223372036854775808"},
  {I(INT64_MIN), "x", "-8000000000000000"},
  {I(7LL), ".2f", "7.00"},
  {I(7LL), "e", "7.000000e+00"},
  {I(7LL), "%", "700.000000%"},
  {I(42LL), ">>5", ">>>42"},
  {F(1.5), "=10", "       1.5"},
  {F(1.5), "z", "1.5"},
  {F(0.0), "e", "0.000000e+00"},
  {F(0.0), "g", "0"},
  {F(0.0), ".3", "0.0"},
  {F(1e-320), "", "1e-320"},
  {F(123456.0), ".3", "1.23e+05"},
  {F(0.5), "", "0.5"},
  {F(1000000000000000.0), "", "1000000000000000.0"},
  {F(12345.0), ",.2f", "12,345.00"},
  {F(1.0), "010.2f", "0000001.00"},
  {F(-1.0), "010.2f", "-000001.00"},
  {F(1000000.0), "_.1f", "1_000_000.0"},
  {F(0.1), ".17f", "0.10000000000000001"},
  {F(1e+20), "f", "100000000000000000000.000000"},
  {F(5e-324), ".3e", "4.941e-324"},
  {F(INFINITY), ",", "inf"},
  {F(-INFINITY), "010,", "-000000inf"},
  {F(NAN), "_.2f", "nan"},
  };
  for (const Case& c : cases) {
    std::string got;
    std::string err = errorOf([&] { got = formatWithSpec(c.v, c.spec); });
    EXPECT_EQ(err, "") << reprOf(c.v) << " '" << c.spec << "'";
    EXPECT_EQ(got, c.out) << reprOf(c.v) << " '" << c.spec << "'";
  }
}

TEST(HostPrint, FormatSpecErrorsMatchPython) {
  struct Case { Value v; const char* spec; const char* msg; };
  const Case cases[] = {
  {I(1LL), ".2d", "Precision not allowed in integer format specifier"},
  {S("s"), "=5", "'=' alignment not allowed in string format specifier"},
  {S("s"), "+", "Sign not allowed in string format specifier"},
  {S("s"), "#", "Alternate form (#) not allowed in string format specifier"},
  {I(1LL), ",s", "Cannot specify ',' with 's'."},
  {I(1LL), ",x", "Cannot specify ',' with 'x'."},
  {I(1LL), "ab", "Invalid format specifier 'ab' for object of type 'int'"},
  {F(1.5), "d", "Unknown format code 'd' for object of type 'float'"},
  {S("s"), "d", "Unknown format code 'd' for object of type 'str'"},
  {I(1LL), "1,_", "Cannot specify both ',' and '_'."},
  {I(1LL), "z", "Negative zero coercion (z) not allowed in integer format specifier"},
  {I(1LL), ".", "Format specifier missing precision"},
  {I(-1LL), "c", "%c arg not in range(0x110000)"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(errorOf([&] { formatWithSpec(c.v, c.spec); }), c.msg) << reprOf(c.v) << " '" << c.spec << "'";
}

TEST(HostPrint, FormatOfOtherValues) {
  EXPECT_EQ(formatWithSpec(Value::none(), ""), "None");
  EXPECT_EQ(formatWithSpec(Value::none(), ">6"), "  None");
  EXPECT_EQ(formatWithSpec(L({I(1), I(2)}), "*<8"), "[1, 2]**");
  EXPECT_EQ(errorOf([] { formatWithSpec(Value::none(), ".2f"); }),
            "unsupported format string passed to NoneType.__format__");
}

TEST(HostPrint, StrReprQuotingMatchesPython) {
  struct Case { const char* s; const char* repr; };
  const Case cases[] = {
  {"abc", "'abc'"},
  {"it's", "\"it's\""},
  {"say \"hi\"", "'say \"hi\"'"},
  {"both ' and \"", "'both \\' and \"'"},
  {"tab\there\nnl\\", "'tab\\there\\nnl\\\\'"},
  {"\x01""\x1f""\x7f""", "'\\x01\\x1f\\x7f'"},
  {"héllo 日本", "'héllo 日本'"},
  {" ­", "'\\x85\\xa0\\xad'"},
  {" ", "'\\u2028'"},
  {"emoji 😀", "'emoji 😀'"},
  {"󠀁", "'\\U000e0001'"},
  {"\r", "'\\r'"},
  {"", "''"},
  };
  for (const Case& c : cases) EXPECT_EQ(reprOf(S(c.s)), c.repr) << c.s;
  EXPECT_EQ(reprOf(makeStr(std::string("a\0b", 3))), "'a\\x00b'");
}

TEST(HostPrint, NestedContainers) {
  Value d = makeDict();
  d.as<DictObj>()->set(S("a"), L({I(1), T({I(2), I(3)})}));
  d.as<DictObj>()->set(S("b"), Value::none());
  Value v = L({I(1), F(2.0), S("a"), T({I(1)}), T({}), L({}), makeDict(), d, Value::boolean(true), F(-0.0), F(1e-05)});
  // Python: repr([1, 2.0, 'a', (1,), (), [], {}, {'a': [1, (2, 3)], 'b': None}, True, -0.0, 1e-05])
  const char* expected = "[1, 2.0, 'a', (1,), (), [], {}, {'a': [1, (2, 3)], 'b': None}, True, -0.0, 1e-05]";
  EXPECT_EQ(reprOf(v), expected);
  EXPECT_EQ(strOf(v), expected);
  EXPECT_EQ(strOf(T({I(1), S("x")})), "(1, 'x')");
  EXPECT_EQ(strOf(L({S("it's")})), "[\"it's\"]");
  EXPECT_EQ(strOf(S("raw 'text'")), "raw 'text'");
}

TEST(HostPrint, OtherValues) {
  EXPECT_EQ(strOf(Value::none()), "None");
  EXPECT_EQ(strOf(Value::boolean(false)), "False");
  EXPECT_EQ(strOf(I(-7)), "-7");
  EXPECT_EQ(strOf(Value::dtype(DType::F32)), "f32");
  EXPECT_EQ(reprOf(L({Value::dtype(DType::I64)})), "[i64]");
  EXPECT_EQ(strOf(makeRange(0, 3, 1)), "range(0, 3)");
  EXPECT_EQ(strOf(makeRange(10, 0, -2)), "range(10, 0, -2)");
  EXPECT_EQ(strOf(makeSlice(I(1), I(2), Value::none())), "slice(1, 2, None)");
  EXPECT_EQ(strOf(makeEllipsis()), "Ellipsis");
  EXPECT_EQ(strOf(Value::prim((int)Prim::Print)), "<built-in function print>");

  auto* cls = new ClassObj();
  cls->name = "Dense";
  cls->fields = {"w", "b"};
  Value c = Value::object(cls);
  EXPECT_EQ(strOf(c), "<class 'Dense'>");
  auto* rec = new RecordObj();
  rec->cls = c;
  rec->fields = {L({F(1.5)}), S("bias")};
  EXPECT_EQ(strOf(Value::object(rec)), "Dense(w=[1.5], b='bias')");

  auto* e = new ExceptionObj();
  e->type = "ValueError";
  e->message = "bad 'x'";
  Value ev = Value::object(e);
  EXPECT_EQ(reprOf(ev), "ValueError(\"bad 'x'\")");
  EXPECT_EQ(strOf(ev), "bad 'x'");
}

TEST(HostPrint, TensorsAtTopLevelAndInsideContainers) {
  Tensor t = Tensor::empty(DType::F32, {2});
  t.ptr<float>()[0] = 1.0f;
  t.ptr<float>()[1] = 2.5f;
  Value v = makeTensor(t);
  EXPECT_EQ(strOf(v), "[1.  2.5]");  // NumPy's print(array)
  EXPECT_EQ(strOf(L({v})), "[tensor([1. , 2.5])]");
  EXPECT_EQ(strOf(S("x")), "x");
  Value s = makeTensor(Tensor::scalar(DType::F32, 0.25));
  EXPECT_EQ(formatWithSpec(s, ".3f"), "0.250");
  EXPECT_EQ(formatWithSpec(s, ""), strOf(s));
  EXPECT_EQ(formatWithSpec(makeTensor(Tensor::scalarInt(DType::I64, 7)), "03d"), "007");
  EXPECT_EQ(formatWithSpec(v, ">12"), "   [1.  2.5]");
}

// Runs f(readEnd) with stdout and stderr both writing into one pipe; returns everything
// that arrived, in order.
template <class F>
std::string captureOutput(F&& f) {
  outFlush();
  int saved1 = dup(1), saved2 = dup(2);
  int p[2];
  EXPECT_EQ(pipe(p), 0);
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  dup2(p[1], 1);
  dup2(p[1], 2);
  f(p[0]);
  outFlush();
  dup2(saved1, 1);
  dup2(saved2, 2);
  close(saved1);
  close(saved2);
  close(p[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(p[0], buf, sizeof buf)) > 0;) out.append(buf, (size_t)n);
  close(p[0]);
  return out;
}

std::string drain(int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, (size_t)n);
  return out;
}

TEST(HostPrint, StdoutIsBufferedAndFlushedBeforeStderr) {
  std::string early;
  std::string all = captureOutput([&](int fd) {
    outWrite("abc");  // no newline: buffered whether or not stdout is a terminal
    early = drain(fd);
    errWrite("E\n");
    outWrite("x");
  });
  EXPECT_EQ(early, "");
  EXPECT_EQ(all, "abcE\nx");
}

TEST(HostPrint, PrintBuiltin) {
  PrimContext cx;
  std::string out = captureOutput([&](int) {
    callPrim(cx, Prim::Print, {I(1), S("a"), L({I(1), S("b")}), F(0.5)});
    callPrim(cx, Prim::Print, {S("x"), S("y")}, {{"sep", S("-")}, {"end", S("!")}});
    callPrim(cx, Prim::Print, {}, {{"file", S("<stderr>")}});
    callPrim(cx, Prim::Print, {S("z")}, {{"file", S("<stdout>")}, {"flush", Value::boolean(true)}});
  });
  EXPECT_EQ(out, "1 a [1, 'b'] 0.5\nx-y!\nz\n");
  EXPECT_EQ(errorOf([&] { callPrim(cx, Prim::Print, {}, {{"file", I(1)}}); }),
            "print() argument 'file' must be stdout or stderr, not 'int'");
}

}  // namespace
}  // namespace msl
