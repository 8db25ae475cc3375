// Tests of host values and built-ins: equality and hashing, dicts, iteration, list append
// without copies, string methods, and the Python built-ins. Expected values were produced
// by Python 3.11.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/Host.h"
#include "runtime/Iter.h"
#include "runtime_host_test_util.h"

namespace msl {
namespace {

using namespace msl::test;

Value call(Prim p, std::vector<Value> pos, Kwargs kw = {}) { return callPrim(p, std::move(pos), std::move(kw)); }
std::string R(const Value& v) { return reprOf(v); }
// Calls a method primitive with its receiver first.
Value method(Prim p, Value recv, std::vector<Value> rest = {}, Kwargs kw = {}) {
  rest.insert(rest.begin(), std::move(recv));
  return call(p, std::move(rest), std::move(kw));
}

// ------------------------------------------------------------------------ values
TEST(HostValues, EqualityFollowsPython) {
  EXPECT_TRUE(valueEquals(I(1), F(1.0)));
  EXPECT_TRUE(valueEquals(I(1), Value::boolean(true)));
  EXPECT_TRUE(valueEquals(F(0.0), Value::boolean(false)));
  EXPECT_FALSE(valueEquals(I(INT64_MAX), F(9223372036854775807.0)));  // the float is 2^63
  EXPECT_FALSE(valueEquals(F(NAN), F(NAN)));
  EXPECT_TRUE(valueEquals(T({I(1), S("a")}), T({F(1.0), S("a")})));
  EXPECT_FALSE(valueEquals(T({I(1)}), L({I(1)})));
  EXPECT_TRUE(valueEquals(makeRange(0, 3, 2), makeRange(0, 4, 2)));  // both are [0, 2]
  EXPECT_TRUE(valueEquals(makeRange(0, 0, 1), makeRange(5, 2, 1)));
  EXPECT_FALSE(valueEquals(S("a"), I(1)));
  Value t = makeTensor(Tensor::zeros(DType::F32, {2}));
  EXPECT_TRUE(valueEquals(t, t));
  EXPECT_FALSE(valueEquals(t, makeTensor(Tensor::zeros(DType::F32, {2}))));
}

TEST(HostValues, HashAgreesWithEquality) {
  EXPECT_EQ(valueHash(I(1)), valueHash(F(1.0)));
  EXPECT_EQ(valueHash(I(1)), valueHash(Value::boolean(true)));
  EXPECT_EQ(valueHash(T({I(2), S("x")})), valueHash(T({F(2.0), S("x")})));
  EXPECT_EQ(errorOf([] { valueHash(L({})); }), "unhashable type: 'list'");
  EXPECT_EQ(errorOf([] { valueHash(makeDict()); }), "unhashable type: 'dict'");
  EXPECT_EQ(errorOf([] { valueHash(T({I(1), L({})})); }), "unhashable type: 'list'");
  EXPECT_EQ(errorOf([] { valueHash(makeTensor(Tensor::zeros(DType::F32, {}))); }), "unhashable type: 'Tensor'");
}

TEST(HostValues, RangeLength) {
  EXPECT_EQ(makeRange(0, 10, 3).as<RangeObj>()->length(), 4);
  EXPECT_EQ(makeRange(10, 0, -3).as<RangeObj>()->length(), 4);
  EXPECT_EQ(makeRange(5, 0, 1).as<RangeObj>()->length(), 0);
  EXPECT_EQ(makeRange(INT64_MIN, INT64_MAX, INT64_MAX).as<RangeObj>()->length(), 3);
}

// ------------------------------------------------------------------------ dicts
TEST(HostDict, InsertionOrderAndNumericKeys) {
  Value d = makeDict();
  DictObj* o = d.as<DictObj>();
  o->set(S("b"), I(1));
  o->set(S("a"), I(2));
  o->set(I(1), S("one"));
  o->set(F(1.0), S("uno"));  // same key as 1: the value changes, the key and place stay
  o->set(S("b"), I(3));
  EXPECT_EQ(R(d), "{'b': 3, 'a': 2, 1: 'uno'}");
  ASSERT_NE(o->find(Value::boolean(true)), nullptr);
  EXPECT_EQ(R(*o->find(Value::boolean(true))), "'uno'");
  EXPECT_TRUE(o->erase(S("a")));
  EXPECT_FALSE(o->erase(S("a")));
  EXPECT_EQ(R(d), "{'b': 3, 1: 'uno'}");
  EXPECT_EQ(errorOf([&] { o->find(L({})); }), "unhashable type: 'list'");
}

TEST(HostDict, LargeDictUsesIndexAndStaysConsistent) {
  Value d = makeDict();
  DictObj* o = d.as<DictObj>();
  const int n = 5000;
  for (int i = 0; i < n; ++i) o->set(I(i), I(i * i));
  for (int i = 0; i < n; i += 2) o->set(F(i), I(-i));  // float keys equal to the ints
  ASSERT_EQ(o->entries.size(), (size_t)n);
  for (int i = 0; i < n; ++i) {
    const Value* v = o->find(I(i));
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->asInt(), i % 2 ? (int64_t)i * i : -i);
  }
  EXPECT_EQ(o->find(I(n)), nullptr);
  // Erase some, append directly to entries (allowed for new keys), look up again.
  for (int i = 0; i < n; i += 3) EXPECT_TRUE(o->erase(I(i)));
  o->entries.emplace_back(S("direct"), I(7));
  EXPECT_EQ(o->find(S("direct"))->asInt(), 7);
  for (int i = 0; i < n; ++i) EXPECT_EQ(o->find(I(i)) != nullptr, i % 3 != 0) << i;
  EXPECT_EQ(o->entries.front().first.asInt(), 1);  // order kept
  // A copy (as a functional update makes) has its own, consistent index.
  Value copy = Value::object(new DictObj(*o));
  EXPECT_EQ(copy.as<DictObj>()->refs, 1u);
  copy.as<DictObj>()->set(S("new"), I(1));
  EXPECT_EQ(o->find(S("new")), nullptr);
  EXPECT_NE(copy.as<DictObj>()->find(S("new")), nullptr);
  EXPECT_NE(copy.as<DictObj>()->find(I(1)), nullptr);
}

TEST(HostDict, Methods) {
  Value d = call(Prim::DictNew, {L({T({I(1), S("a")}), T({I(2), S("b")})})});
  EXPECT_EQ(R(d), "{1: 'a', 2: 'b'}");
  Value src = makeDict();
  src.as<DictObj>()->set(S("a"), I(1));
  Value d2 = call(Prim::DictNew, {src}, {{"b", I(2)}});
  EXPECT_EQ(R(d2), "{'a': 1, 'b': 2}");
  EXPECT_EQ(R(src), "{'a': 1}");  // unchanged
  EXPECT_EQ(R(call(Prim::DictNew, {}, {{"x", I(1)}})), "{'x': 1}");
  EXPECT_EQ(R(method(Prim::DictKeys, d2)), "['a', 'b']");
  EXPECT_EQ(R(method(Prim::DictValues, d2)), "[1, 2]");
  EXPECT_EQ(R(method(Prim::DictItems, d2)), "[('a', 1), ('b', 2)]");
  EXPECT_EQ(R(method(Prim::DictGet, d2, {S("b")})), "2");
  EXPECT_EQ(R(method(Prim::DictGet, d2, {S("z")})), "None");
  EXPECT_EQ(R(method(Prim::DictGet, d2, {S("z"), I(0)})), "0");
  Value other = makeDict();
  other.as<DictObj>()->set(S("a"), I(10));
  other.as<DictObj>()->set(S("c"), I(3));
  Value held = d2;
  Value up = method(Prim::DictUpdate, d2, {other});
  EXPECT_EQ(R(up), "{'a': 10, 'b': 2, 'c': 3}");
  EXPECT_EQ(R(held), "{'a': 1, 'b': 2}");  // value semantics
  EXPECT_EQ(errorOf([] { call(Prim::DictNew, {L({T({I(1)})})}); }),
            "dictionary update sequence element #0 has length 1; 2 is required");
}

// ------------------------------------------------------------------------ lists
TEST(HostList, AppendInPlaceWhenUnique) {
  uint64_t before = listCopyCount();
  PrimContext cx;
  Value l = makeList({});
  for (int i = 0; i < 100000; ++i) {
    Value args[2] = {std::move(l), I(i)};  // the lowering moves `l` at its last use
    l = primImpl(Prim::ListAppend)(cx, args);
  }
  EXPECT_EQ(listCopyCount(), before);
  EXPECT_EQ(l.as<ListObj>()->items.size(), 100000u);
  EXPECT_EQ(l.as<ListObj>()->items[99999].asInt(), 99999);
}

TEST(HostList, AppendCopiesWhenShared) {
  uint64_t before = listCopyCount();
  Value l = L({I(1)});
  Value alias = l;
  Value l2 = method(Prim::ListAppend, l, {I(2)});
  EXPECT_EQ(listCopyCount(), before + 1);
  EXPECT_EQ(R(alias), "[1]");
  EXPECT_EQ(R(l2), "[1, 2]");
}

TEST(HostList, Methods) {
  Value l = L({I(1), I(2), I(1)});
  EXPECT_EQ(R(method(Prim::ListExtend, l, {T({I(3), I(4)})})), "[1, 2, 1, 3, 4]");
  EXPECT_EQ(R(method(Prim::ListExtend, l, {l})), "[1, 2, 1, 1, 2, 1]");
  EXPECT_EQ(R(method(Prim::ListInsert, l, {I(-1), S("x")})), "[1, 2, 'x', 1]");
  EXPECT_EQ(R(method(Prim::ListInsert, l, {I(100), S("x")})), "[1, 2, 1, 'x']");
  EXPECT_EQ(R(method(Prim::ListInsert, l, {I(-100), S("x")})), "['x', 1, 2, 1]");
  EXPECT_EQ(R(method(Prim::SeqIndex, l, {F(2.0)})), "1");
  EXPECT_EQ(R(method(Prim::SeqCount, l, {I(1)})), "2");
  EXPECT_EQ(R(method(Prim::SeqCount, T({I(1), I(1)}), {Value::boolean(true)})), "2");
  EXPECT_EQ(errorOf([&] { method(Prim::SeqIndex, l, {I(5)}); }), "5 is not in list");
  EXPECT_EQ(errorOf([&] { method(Prim::SeqIndex, T({}), {I(5)}); }), "tuple.index(x): x not in tuple");
}

// ------------------------------------------------------------------------ iteration
TEST(HostIter, Iterables) {
  int64_t n;
  EXPECT_TRUE(iterLength(S("héllo"), &n));
  EXPECT_EQ(n, 5);
  EXPECT_EQ(R(makeList(iterToVector(S("hé日"), "t"))), "['h', 'é', '日']");
  EXPECT_EQ(R(iterItem(S("hé日"), 2)), "'日'");
  EXPECT_EQ(R(makeList(iterToVector(makeRange(10, 0, -3), "t"))), "[10, 7, 4, 1]");
  Value d = makeDict();
  d.as<DictObj>()->set(S("k"), I(1));
  d.as<DictObj>()->set(S("j"), I(2));
  EXPECT_EQ(R(makeList(iterToVector(d, "t"))), "['k', 'j']");
  EXPECT_FALSE(iterLength(I(3), &n));
  EXPECT_EQ(errorOf([] { iterToVector(I(3), "t"); }), "'int' object is not iterable");

  Tensor t = Tensor::empty(DType::I64, {3, 2});
  for (int i = 0; i < 6; ++i) t.ptr<int64_t>()[i] = i;
  Value tv = makeTensor(t);
  ASSERT_TRUE(iterLength(tv, &n));
  EXPECT_EQ(n, 3);
  Value row = iterItem(tv, 2);
  const Tensor& r = row.as<TensorObj>()->t;
  ASSERT_EQ(r.ndim(), 1);
  EXPECT_EQ(r.dim(0), 2);
  EXPECT_EQ(r.getI64(0), 4);
  EXPECT_EQ(r.getI64(1), 5);
  EXPECT_EQ(r.buffer().get(), t.buffer().get());  // a view
  EXPECT_FALSE(iterLength(makeTensor(Tensor::scalarInt(DType::I64, 1)), &n));
}

TEST(HostIter, ZipEnumerateReversed) {
  EXPECT_EQ(R(call(Prim::Zip, {L({I(1), I(2), I(3)}), S("ab")})), "[(1, 'a'), (2, 'b')]");
  EXPECT_EQ(R(call(Prim::Zip, {})), "[]");
  EXPECT_EQ(R(call(Prim::Enumerate, {S("xy"), I(5)})), "[(5, 'x'), (6, 'y')]");
  EXPECT_EQ(R(call(Prim::Reversed, {makeRange(0, 10, 3)})), "range(9, -3, -3)");
  EXPECT_EQ(R(makeList(iterToVector(call(Prim::Reversed, {makeRange(0, 10, 3)}), "t"))), "[9, 6, 3, 0]");
  EXPECT_EQ(R(call(Prim::Reversed, {L({I(1), S("a")})})), "['a', 1]");
  EXPECT_EQ(R(call(Prim::Range, {I(10), I(0), I(-3)})), "range(10, 0, -3)");
  EXPECT_EQ(R(call(Prim::Len, {makeRange(0, 10, 3)})), "4");
  EXPECT_EQ(R(call(Prim::Len, {S("日本")})), "2");
  EXPECT_EQ(errorOf([] { call(Prim::Range, {I(1), I(2), I(0)}); }), "range() arg 3 must not be zero");
  EXPECT_EQ(errorOf([] { call(Prim::Len, {I(1)}); }), "object of type 'int' has no len()");
}

// ------------------------------------------------------------------------ strings
TEST(HostStr, Split) {
  EXPECT_EQ(R(method(Prim::StrSplit, S("a"))), "['a']");
  EXPECT_EQ(R(method(Prim::StrSplit, S("  a  b c  "), {Value::none(), I(1)})), "['a', 'b c  ']");
  EXPECT_EQ(R(method(Prim::StrSplit, S("a,b,,c"), {S(","), I(2)})), "['a', 'b', ',c']");
  EXPECT_EQ(R(method(Prim::StrSplit, S(""), {S(",")})), "['']");
  EXPECT_EQ(R(method(Prim::StrSplit, S(""))), "[]");
  EXPECT_EQ(R(method(Prim::StrSplit, S("a b"), {S(" ")})), "['a', 'b']");
  EXPECT_EQ(R(method(Prim::StrSplit, S("  x  y "), {Value::none(), I(0)})), "['x  y ']");
  EXPECT_EQ(R(method(Prim::StrSplit, S(" \u3000a\u00a0b"))), "['a', 'b']");
  EXPECT_EQ(errorOf([] { method(Prim::StrSplit, S("a"), {S("")}); }), "empty separator");
}

TEST(HostStr, JoinStripAffixes) {
  EXPECT_EQ(R(method(Prim::StrJoin, S(", "), {L({S("a"), S("b")})})), "'a, b'");
  EXPECT_EQ(errorOf([] { method(Prim::StrJoin, S(""), {L({S("a"), I(1)})}); }),
            "sequence item 1: expected str instance, int found");
  EXPECT_EQ(R(method(Prim::StrStrip, S("xxhixx"), {S("x")})), "'hi'");
  EXPECT_EQ(R(method(Prim::StrRstrip, S("  hi \n"))), "'  hi'");
  EXPECT_EQ(R(method(Prim::StrLstrip, S("abcba"), {S("ab")})), "'cba'");
  EXPECT_EQ(R(method(Prim::StrStrip, S("éaé"), {S("é")})), "'a'");
  EXPECT_EQ(R(method(Prim::StrStartswith, S("hello"), {S("he")})), "True");
  EXPECT_EQ(R(method(Prim::StrStartswith, S("hello"), {T({S("x"), S("hel")})})), "True");
  EXPECT_EQ(R(method(Prim::StrEndswith, S("hello"), {S("lo")})), "True");
  EXPECT_EQ(R(method(Prim::StrEndswith, S("lo"), {S("hello")})), "False");
  EXPECT_EQ(errorOf([] { method(Prim::StrStartswith, S("a"), {I(1)}); }),
            "startswith first arg must be str or a tuple of str, not int");
}

TEST(HostStr, ReplaceFindCountCase) {
  EXPECT_EQ(R(method(Prim::StrReplace, S("ab"), {S(""), S("-")})), "'-a-b-'");
  EXPECT_EQ(R(method(Prim::StrReplace, S("ab"), {S(""), S("-"), I(2)})), "'-a-b'");
  EXPECT_EQ(R(method(Prim::StrReplace, S("aaaa"), {S("a"), S("b"), I(2)})), "'bbaa'");
  EXPECT_EQ(R(method(Prim::StrFind, S("héllo"), {S("l")})), "2");
  EXPECT_EQ(R(method(Prim::StrFind, S("héllo"), {S("z")})), "-1");
  EXPECT_EQ(R(method(Prim::StrCount, S("héllo"), {S("l")})), "2");
  EXPECT_EQ(R(method(Prim::StrCount, S("héllo"), {S("")})), "6");
  EXPECT_EQ(R(method(Prim::StrIndex, S("héllo"), {S("o")})), "4");
  EXPECT_EQ(errorOf([] { method(Prim::StrIndex, S("a"), {S("b")}); }), "substring not found");
  EXPECT_EQ(R(method(Prim::StrUpper, S("abC1é"))), "'ABC1é'");
  EXPECT_EQ(R(method(Prim::StrLower, S("ABc1"))), "'abc1'");
}

TEST(HostStr, Format) {
  auto fmt = [](const char* f, std::vector<Value> pos, Kwargs kw = {}) {
    return strOf(method(Prim::StrFormat, S(f), std::move(pos), std::move(kw)));
  };
  EXPECT_EQ(fmt("{} {}", {I(1), S("a")}), "1 a");
  EXPECT_EQ(fmt("{1}{0}", {S("a"), S("b")}), "ba");
  EXPECT_EQ(fmt("{x:>5}|{y!r}", {}, {{"x", I(3)}, {"y", S("q")}}), "    3|'q'");
  EXPECT_EQ(fmt("{:{w}.{p}f}", {F(3.14159)}, {{"w", I(8)}, {"p", I(2)}}), "    3.14");
  EXPECT_EQ(fmt("{{}} {0[1]} {0[0]}", {L({I(5), I(6)})}), "{} 6 5");
  EXPECT_EQ(fmt("{!a}", {S("é")}), "'\\xe9'");
  EXPECT_EQ(fmt("{0:,}", {I(1234567)}), "1,234,567");
  Value d = makeDict();
  d.as<DictObj>()->set(S("k"), I(1));
  EXPECT_EQ(fmt("{d[k]}", {}, {{"d", d}}), "1");
  EXPECT_EQ(errorOf([&] { fmt("{} {0}", {I(1)}); }),
            "cannot switch from automatic field numbering to manual field specification");
  EXPECT_EQ(errorOf([&] { fmt("{2}", {I(1)}); }), "Replacement index 2 out of range for positional args tuple");
  EXPECT_EQ(errorOf([&] { fmt("{name}", {}); }), "key 'name' not found");
  EXPECT_EQ(errorOf([&] { fmt("a}", {}); }), "Single '}' encountered in format string");
  EXPECT_EQ(errorOf([&] { fmt("{", {}); }), "Single '{' encountered in format string");
}

// ------------------------------------------------------------------------ built-ins
TEST(HostBuiltins, SortedMinMax) {
  EXPECT_EQ(R(call(Prim::Sorted, {L({I(3), I(1), I(2)})}, {{"reverse", Value::boolean(true)}})), "[3, 2, 1]");
  EXPECT_EQ(R(call(Prim::Sorted, {L({S("b"), S("a"), S("C")})})), "['C', 'a', 'b']");
  EXPECT_EQ(R(call(Prim::Sorted, {L({T({I(1), S("b")}), T({I(1), S("a")}), T({I(0), S("z")})})})),
            "[(0, 'z'), (1, 'a'), (1, 'b')]");
  EXPECT_EQ(R(call(Prim::Sorted, {L({I(1), I(-3), I(2)})}, {{"key", Value::prim((int)Prim::Abs)}})), "[1, 2, -3]");
  EXPECT_EQ(R(call(Prim::Sorted, {L({I(2), F(1.5), Value::boolean(true)})})), "[True, 1.5, 2]");
  // Stable, also in reverse: equal keys keep their order.
  EXPECT_EQ(R(call(Prim::Sorted, {L({S("bb"), S("a"), S("cc"), S("d")})},
                   {{"key", Value::prim((int)Prim::Len)}, {"reverse", Value::boolean(true)}})),
            "['bb', 'cc', 'a', 'd']");
  EXPECT_EQ(errorOf([] { call(Prim::Sorted, {L({I(1), S("a")})}); }),
            "'<' not supported between instances of 'str' and 'int'");
  EXPECT_EQ(R(call(Prim::Max, {I(3), I(1), I(2)})), "3");
  EXPECT_EQ(R(call(Prim::Min, {L({I(4), I(2), I(8)})})), "2");
  EXPECT_EQ(R(call(Prim::Max, {L({S("a"), S("bb"), S("c")})}, {{"key", Value::prim((int)Prim::Len)}})), "'bb'");
  EXPECT_EQ(R(call(Prim::Min, {L({L({I(1), I(2)}), L({I(1)})})})), "[1]");
  EXPECT_EQ(R(call(Prim::Max, {L({I(1), F(1.0)})})), "1");
  EXPECT_EQ(errorOf([] { call(Prim::Max, {L({})}); }), "max() arg is an empty sequence");
  Value a = makeTensor(Tensor::zeros(DType::F32, {2}));
  EXPECT_EQ(errorOf([&] { call(Prim::Max, {a, a}); }),
            "max() of two tensors reduces nothing; use maximum(a, b) for the elementwise maximum");
  EXPECT_EQ(errorOf([] { call(Prim::Max, {I(1), I(2)}, {{"axis", I(0)}}); }),
            "max() got an unexpected keyword argument 'axis'");
}

TEST(HostBuiltins, SumAllAny) {
  EXPECT_EQ(R(call(Prim::Sum, {L({I(1), I(2), I(3)})})), "6");
  std::vector<Value> tenths(10, F(0.1));
  EXPECT_EQ(R(call(Prim::Sum, {makeList(tenths)})), "0.9999999999999999");
  EXPECT_EQ(R(call(Prim::Sum, {L({I(1), F(2.5)})})), "3.5");
  EXPECT_EQ(R(call(Prim::Sum, {L({})}, {{"start", I(5)}})), "5");
  EXPECT_EQ(R(call(Prim::Sum, {makeRange(0, 101, 1)})), "5050");
  EXPECT_EQ(errorOf([] { call(Prim::Sum, {L({I(INT64_MAX), I(1)})}); }), "integer overflow in sum()");
  EXPECT_EQ(errorOf([] { call(Prim::Sum, {L({})}, {{"start", S("")}}); }),
            "sum() can't sum strings [use ''.join(seq) instead]");
  EXPECT_EQ(R(call(Prim::All, {L({})})), "True");
  EXPECT_EQ(R(call(Prim::Any, {L({})})), "False");
  EXPECT_EQ(R(call(Prim::All, {L({I(1), I(0)})})), "False");
  EXPECT_EQ(R(call(Prim::Any, {L({I(0), S(""), L({I(1)})})})), "True");
}

TEST(HostBuiltins, RoundAbs) {
  EXPECT_EQ(R(call(Prim::Round, {F(2.5)})), "2");
  EXPECT_EQ(R(call(Prim::Round, {F(3.5)})), "4");
  EXPECT_EQ(R(call(Prim::Round, {F(-0.5)})), "0");
  EXPECT_EQ(R(call(Prim::Round, {F(2.675), I(2)})), "2.67");
  EXPECT_EQ(R(call(Prim::Round, {F(0.125), I(2)})), "0.12");
  EXPECT_EQ(R(call(Prim::Round, {F(0.375), I(2)})), "0.38");
  EXPECT_EQ(R(call(Prim::Round, {F(1234.5), I(-1)})), "1230.0");
  EXPECT_EQ(R(call(Prim::Round, {I(1250), I(-2)})), "1200");
  EXPECT_EQ(R(call(Prim::Round, {I(1350), I(-2)})), "1400");
  EXPECT_EQ(R(call(Prim::Round, {I(-25), I(-1)})), "-20");
  EXPECT_EQ(R(call(Prim::Round, {F(-1250.0), I(-2)})), "-1200.0");
  EXPECT_EQ(R(call(Prim::Round, {F(1250.0001), I(-2)})), "1300.0");
  EXPECT_EQ(R(call(Prim::Round, {F(15.0), I(-1)})), "20.0");
  EXPECT_EQ(R(call(Prim::Round, {F(-123.0), I(-400)})), "-0.0");
  EXPECT_EQ(R(call(Prim::Round, {F(1e300), I(-299)})), "1e+300");
  EXPECT_EQ(R(call(Prim::Round, {F(0.5), I(0)})), "0.0");
  EXPECT_EQ(R(call(Prim::Round, {F(1e22), I(2)})), "1e+22");
  EXPECT_EQ(errorOf([] { call(Prim::Round, {F(NAN)}); }), "cannot convert float NaN to integer");
  EXPECT_EQ(errorOf([] { call(Prim::Round, {F(1.7976931348623157e308), I(-308)}); }),
            "rounded value too large to represent");
  EXPECT_EQ(R(call(Prim::Abs, {I(-3)})), "3");
  EXPECT_EQ(R(call(Prim::Abs, {F(-0.0)})), "0.0");
  EXPECT_EQ(R(call(Prim::Abs, {Value::boolean(true)})), "1");
  EXPECT_EQ(errorOf([] { call(Prim::Abs, {I(INT64_MIN)}); }), "integer overflow in abs()");
}

TEST(HostBuiltins, Conversions) {
  EXPECT_EQ(R(call(Prim::IntNew, {S("  -42 ")})), "-42");
  EXPECT_EQ(R(call(Prim::IntNew, {S("1_000")})), "1000");
  EXPECT_EQ(R(call(Prim::IntNew, {F(3.9)})), "3");
  EXPECT_EQ(R(call(Prim::IntNew, {F(-3.9)})), "-3");
  EXPECT_EQ(R(call(Prim::IntNew, {})), "0");
  EXPECT_EQ(R(call(Prim::IntNew, {makeTensor(Tensor::scalar(DType::F32, 2.5))})), "2");
  for (const char* bad : {"abc", "1__0", "_1", "1_", "4.5", "", "+"})
    EXPECT_EQ(errorOf([&] { call(Prim::IntNew, {S(bad)}); }),
              std::string("invalid literal for int() with base 10: '") + bad + "'");
  EXPECT_EQ(errorOf([] { call(Prim::IntNew, {S("99999999999999999999")}); }), "integer overflow in int()");
  EXPECT_EQ(errorOf([] { call(Prim::IntNew, {makeTensor(Tensor::zeros(DType::F32, {2}))}); }),
            "only a tensor with one element converts to a Python scalar; this one has shape (2,)");
  EXPECT_EQ(R(call(Prim::FloatNew, {S(" 1e3 ")})), "1000.0");
  EXPECT_EQ(R(call(Prim::FloatNew, {S("-inf")})), "-inf");
  EXPECT_EQ(R(call(Prim::FloatNew, {S("Infinity")})), "inf");
  EXPECT_EQ(R(call(Prim::FloatNew, {S("nan")})), "nan");
  EXPECT_EQ(R(call(Prim::FloatNew, {S("1_0.5")})), "10.5");
  EXPECT_EQ(R(call(Prim::FloatNew, {S(".5")})), "0.5");
  EXPECT_EQ(R(call(Prim::FloatNew, {S("5.")})), "5.0");
  EXPECT_EQ(R(call(Prim::FloatNew, {S("1e400")})), "inf");
  for (const char* bad : {"abc", "1e", ".", "1_.5", "0x10", "nan(1)"})
    EXPECT_EQ(errorOf([&] { call(Prim::FloatNew, {S(bad)}); }),
              std::string("could not convert string to float: '") + bad + "'");
  EXPECT_EQ(R(call(Prim::StrNew, {L({S("a")})})), "\"['a']\"");
  EXPECT_EQ(R(call(Prim::StrNew, {})), "''");
  EXPECT_EQ(R(call(Prim::Repr, {S("a")})), "\"'a'\"");
  EXPECT_EQ(R(call(Prim::BoolNew, {L({})})), "False");
  EXPECT_EQ(R(call(Prim::BoolNew, {F(NAN)})), "True");
  EXPECT_EQ(R(call(Prim::BoolNew, {makeTensor(Tensor::scalarInt(DType::I64, 0))})), "False");
  EXPECT_EQ(errorOf([] { call(Prim::BoolNew, {makeTensor(Tensor::zeros(DType::F32, {3}))}); }),
            "the truth value of a tensor with 3 elements is ambiguous; use any() or all()");
}

TEST(HostBuiltins, TypesAndCallables) {
  auto* cls = new ClassObj();
  cls->name = "P";
  cls->fields = {"x"};
  Value c = Value::object(cls);
  auto* rec = new RecordObj();
  rec->cls = c;
  rec->fields = {I(1)};
  Value r = Value::object(rec);
  EXPECT_EQ(R(call(Prim::Isinstance, {r, c})), "True");
  EXPECT_EQ(R(call(Prim::Isinstance, {I(1), c})), "False");
  EXPECT_EQ(R(call(Prim::Isinstance, {Value::boolean(true), Value::prim((int)Prim::IntNew)})), "True");
  EXPECT_EQ(R(call(Prim::Isinstance, {F(1), T({Value::prim((int)Prim::StrNew), Value::prim((int)Prim::FloatNew)})})), "True");
  Value e = call(Prim::ExcValueError, {S("bad")});
  EXPECT_EQ(R(e), "ValueError('bad')");
  EXPECT_EQ(R(call(Prim::Isinstance, {e, Value::prim((int)Prim::ExcException)})), "True");
  EXPECT_EQ(R(call(Prim::ExcKeyError, {})), "KeyError()");
  Value p = call(Prim::Partial, {Value::prim((int)Prim::Round), F(2.5)});
  Value pp = call(Prim::Partial, {p}, {{"ndigits", I(1)}});
  EXPECT_EQ(R(pp), "partial(<built-in function round>, 2.5, ndigits=1)");
  EXPECT_EQ(errorOf([] { call(Prim::Partial, {I(1)}); }), "partial() argument 'fn' must be callable, not 'int'");
  EXPECT_EQ(argDType(Value::prim((int)Prim::FloatNew), "astype", "dtype"), DType::F32);
  EXPECT_EQ(argDType(Value::prim((int)Prim::IntNew), "astype", "dtype"), DType::I64);
  EXPECT_EQ(errorOf([] { argInt(S("x"), "f", "n"); }), "f() argument 'n' must be int, not 'str'");
  EXPECT_EQ(errorOf([&] { argFloat(r, "f", "x"); }), "f() argument 'x' must be float, not 'P'");
}

TEST(HostBuiltins, Files) {
  std::string dir = ::testing::TempDir() + "msl_host_files/a/b";
  call(Prim::Makedirs, {makeStr(dir)});
  call(Prim::Makedirs, {makeStr(dir)});  // exists: fine
  EXPECT_EQ(R(call(Prim::Exists, {makeStr(dir)})), "True");
  std::string path = dir + "/t.txt";
  call(Prim::WriteText, {makeStr(path), S("héllo\n")});
  EXPECT_EQ(R(call(Prim::ReadText, {makeStr(path)})), "'héllo\\n'");
  EXPECT_EQ(errorOf([&] { call(Prim::ReadText, {makeStr(dir + "/missing")}); }),
            "read_text '" + dir + "/missing': No such file or directory");
  EXPECT_EQ(errorOf([&] { call(Prim::Makedirs, {makeStr(path + "/x")}); }),
            "makedirs '" + path + "/x': Not a directory");
  EXPECT_EQ(R(call(Prim::Exists, {makeStr(dir + "/missing")})), "False");
}

}  // namespace
}  // namespace msl
