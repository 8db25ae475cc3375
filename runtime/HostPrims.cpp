// Host built-ins of LANGUAGE.md section 6 "Program": print, len, range, zip, enumerate,
// sorted, reversed, the container and scalar constructors, min/max/sum/all/any, abs,
// round, isinstance, partial and the exception constructors. Tensor arguments of the
// reductions go to the tensor primitives.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <numeric>

#include "runtime/Host.h"
#include "runtime/Iter.h"
#include "runtime/PrimImpl.h"
#include "runtime/Print.h"
#include "runtime/PrintTrace.h"
#include "runtime/Utf8.h"

namespace msl {

namespace {

[[noreturn]] void typeError(const std::string& msg) { raise(DiagId::TypeError, SourceLoc{}, {msg}); }

const std::vector<Value>& tupleItems(const Value& v) { return v.as<TupleObj>()->items; }

bool isNumber(const Value& v) { return v.is(VKind::Int) || v.is(VKind::Float) || v.is(VKind::Bool); }
int64_t intOf(const Value& v) { return v.is(VKind::Bool) ? (int64_t)v.asBool() : v.asInt(); }

// A tensor reduction called with (x, axis, keepdims).
Value reduce(PrimFn fn, CallContext& cx, const Value& x, const Value& axis, const Value& keepdims) {
  Value a[3] = {x, axis, keepdims};
  return fn(cx, a);
}

// Keyword arguments that only tensors accept: an error for other values, as Python's.
void rejectTensorKeywords(const char* fn, const Value& axis, const Value& keepdims) {
  if (!axis.isNone()) raise(DiagId::UnexpectedKeyword, SourceLoc{}, {fn, "axis"});
  if (!keepdims.is(VKind::Bool) || keepdims.asBool())
    raise(DiagId::UnexpectedKeyword, SourceLoc{}, {fn, "keepdims"});
}

// The one element of a tensor converted by int()/float(), or ItemOfNonScalar.
Value tensorItem(const Value& v) {
  const Tensor& t = v.as<TensorObj>()->t;
  if (t.numel() != 1) raise(DiagId::ItemOfNonScalar, SourceLoc{}, {shapeStr(t.shape())});
  return tensorElement(t, 0);
}

}  // namespace

// ------------------------------------------------------------------------ print
std::function<void(CallContext&, const std::string&)> printObserver;

Value prim_Print(CallContext& cx, Value* args) {
  std::string sep = args[1].isNone() ? " " : argStr(args[1], "print", "sep");
  std::string end = args[2].isNone() ? "\n" : argStr(args[2], "print", "end");
  bool toStderr = false;
  if (!args[3].isNone()) {
    // The frontend binds `stdout` and `stderr` to these names.
    bool known = args[3].is(VKind::Str) &&
                 (args[3].as<StrObj>()->s == "<stdout>" || args[3].as<StrObj>()->s == "<stderr>");
    if (!known) typeError(std::string("print() argument 'file' must be stdout or stderr, not '") + args[3].typeName() + "'");
    toStderr = args[3].as<StrObj>()->s == "<stderr>";
  }
  std::string out;
  const auto& values = tupleItems(args[0]);
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += sep;
    out += strOf(values[i]);
  }
  out += end;
  if (toStderr) {
    errWrite(out);
  } else {
    if (printObserver) printObserver(cx, out);
    outWrite(out);
    if (argBool(args[4], "print", "flush")) outFlush();
  }
  return Value::none();
}

// ------------------------------------------------------------------------ sequences
Value prim_Len(CallContext& cx, Value* args) {
  const Value& x = args[0];
  if (x.is(VKind::Tensor) && x.as<TensorObj>()->t.ndim() == 0) typeError("len() of a 0-d tensor");
  int64_t n;
  if (!iterLength(x, &n))
    typeError(std::string("object of type '") + x.typeName() + "' has no len()");
  return Value::integer(n);
}

Value prim_Range(CallContext& cx, Value* args) {
  int64_t start = 0, stop, step = 1;
  if (args[1].isNone()) {
    stop = argInt(args[0], "range", "stop");
  } else {
    start = argInt(args[0], "range", "start");
    stop = argInt(args[1], "range", "stop");
  }
  if (!args[2].isNone()) step = argInt(args[2], "range", "step");
  if (step == 0) valueError("range() arg 3 must not be zero");
  Value r = makeRange(start, stop, step);
  if (r.as<RangeObj>()->length() < 0) raise(DiagId::IntOverflow, SourceLoc{}, {"range()"});
  return r;
}

Value prim_Zip(CallContext& cx, Value* args) {
  const auto& its = tupleItems(args[0]);
  int64_t n = its.empty() ? 0 : INT64_MAX;
  for (const Value& it : its) {
    int64_t len;
    if (!iterLength(it, &len)) raise(DiagId::NotIterable, SourceLoc{}, {it.typeName()});
    n = std::min(n, len);
  }
  std::vector<std::vector<Value>> columns;
  for (const Value& it : its) columns.push_back(iterPrefix(it, n));
  std::vector<Value> out;
  out.reserve((size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<Value> row;
    row.reserve(columns.size());
    for (auto& c : columns) row.push_back(std::move(c[(size_t)i]));
    out.push_back(makeTuple(std::move(row)));
  }
  return makeList(std::move(out));
}

Value prim_Enumerate(CallContext& cx, Value* args) {
  std::vector<Value> items = iterToVector(args[0], "enumerate");
  int64_t start = argInt(args[1], "enumerate", "start");
  std::vector<Value> out;
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i)
    out.push_back(makeTuple({Value::integer(start + (int64_t)i), std::move(items[i])}));
  return makeList(std::move(out));
}

Value prim_Sorted(CallContext& cx, Value* args) {
  std::vector<Value> items = iterToVector(args[0], "sorted");
  bool reverse = argBool(args[2], "sorted", "reverse");
  std::vector<Value> keys;
  if (!args[1].isNone()) {
    keys.reserve(items.size());
    for (const Value& x : items) keys.push_back(cx.call(args[1], {x}));
  }
  const std::vector<Value>& k = args[1].isNone() ? items : keys;
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  // Stable either way: with reverse, equal keys keep their order, as in Python.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reverse ? valueLess(k[b], k[a]) : valueLess(k[a], k[b]);
  });
  std::vector<Value> out;
  out.reserve(items.size());
  for (size_t i : order) out.push_back(items[i]);
  return makeList(std::move(out));
}

Value prim_Reversed(CallContext& cx, Value* args) {
  const Value& x = args[0];
  if (x.is(VKind::Range)) {
    const RangeObj* r = x.as<RangeObj>();
    int64_t n = r->length(), last, stop;
    if (n == 0) return makeRange(0, 0, 1);
    // range(last, start - step, -step), when that is representable.
    if (r->step != INT64_MIN && !__builtin_sub_overflow(r->start, r->step, &stop)) {
      last = r->start + (n - 1) * r->step;
      return makeRange(last, stop, -r->step);
    }
  }
  std::vector<Value> items = iterToVector(x, "reversed");
  std::reverse(items.begin(), items.end());
  return makeList(std::move(items));
}

// ------------------------------------------------------------------------ containers
// Values are immutable, so list(l) and tuple(t) may share their argument.
Value prim_ListNew(CallContext& cx, Value* args) {
  if (args[0].is(VKind::List)) return std::move(args[0]);
  return makeList(iterToVector(args[0], "list"));
}

Value prim_TupleNew(CallContext& cx, Value* args) {
  if (args[0].is(VKind::Tuple)) return std::move(args[0]);
  return makeTuple(iterToVector(args[0], "tuple"));
}

void dictAddAll(DictObj* d, const Value& src) {
  if (src.is(VKind::Dict)) {
    for (const auto& [k, v] : src.as<DictObj>()->entries) d->set(k, v);
    return;
  }
  std::vector<Value> items = iterToVector(src, "dict");
  for (size_t i = 0; i < items.size(); ++i) {
    int64_t n;
    if (!iterLength(items[i], &n))
      typeError("cannot convert dictionary update sequence element #" + std::to_string(i) + " to a sequence");
    if (n != 2)
      valueError("dictionary update sequence element #" + std::to_string(i) + " has length " +
                 std::to_string(n) + "; 2 is required");
    d->set(iterItem(items[i], 0), iterItem(items[i], 1));
  }
}

Value prim_DictNew(CallContext& cx, Value* args) {
  const auto& pos = tupleItems(args[0]);
  if (pos.size() > 1) typeError("dict expected at most 1 argument, got " + std::to_string(pos.size()));
  if (pos.empty()) return std::move(args[1]);
  Value out = pos[0].is(VKind::Dict) ? pos[0] : makeDict();
  if (!pos[0].is(VKind::Dict)) dictAddAll(out.as<DictObj>(), pos[0]);
  if (!args[1].as<DictObj>()->entries.empty()) dictAddAll(uniqueDict(out), args[1]);
  return out;
}

// ------------------------------------------------------------------------ reductions
static Value minMax(CallContext& cx, Value* args, bool isMax) {
  const char* fn = isMax ? "max" : "min";
  const auto& xs = tupleItems(args[0]);
  const Value& key = args[3];
  if (xs.size() == 1 && xs[0].is(VKind::Tensor) && key.isNone())
    return reduce(isMax ? prim_TensorMax : prim_TensorMin, cx, xs[0], args[1], args[2]);
  rejectTensorKeywords(fn, args[1], args[2]);
  if (xs.size() == 2 && xs[0].is(VKind::Tensor) && xs[1].is(VKind::Tensor))
    raise(isMax ? DiagId::MaxOfTwoTensors : DiagId::MinOfTwoTensors, SourceLoc{});
  if (xs.empty()) typeError(std::string(fn) + " expected at least 1 argument, got 0");
  std::vector<Value> items = xs.size() == 1 ? iterToVector(xs[0], fn) : xs;
  if (items.empty()) valueError(std::string(fn) + "() arg is an empty sequence");
  auto keyOf = [&](const Value& x) { return key.isNone() ? x : cx.call(key, {x}); };
  size_t best = 0;
  Value bestKey = keyOf(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = keyOf(items[i]);
    // The first of equal items wins, as in Python.
    if (isMax ? valueLess(bestKey, k) : valueLess(k, bestKey)) {
      best = i;
      bestKey = std::move(k);
    }
  }
  return items[best];
}

Value prim_Max(CallContext& cx, Value* args) { return minMax(cx, args, true); }
Value prim_Min(CallContext& cx, Value* args) { return minMax(cx, args, false); }

// sum(): Python 3.11's left-to-right sum, with exact ints (overflow is an error) and
// plain float addition; other values are added with the `+` primitive.
Value prim_Sum(CallContext& cx, Value* args) {
  const Value& x = args[0];  // x, start, *, axis, keepdims
  Value acc = args[1];
  bool defaultStart = acc.is(VKind::Int) && acc.asInt() == 0;
  if (x.is(VKind::Tensor)) {
    Value s = reduce(prim_TensorSum, cx, x, args[2], args[3]);
    if (defaultStart) return s;
    Value a[2] = {acc, std::move(s)};
    return prim_Add(cx, a);
  }
  rejectTensorKeywords("sum", args[2], args[3]);
  if (acc.is(VKind::Str)) typeError("sum() can't sum strings [use ''.join(seq) instead]");
  for (Value& item : iterToVector(x, "sum")) {
    if ((acc.is(VKind::Int) || acc.is(VKind::Bool)) && (item.is(VKind::Int) || item.is(VKind::Bool))) {
      int64_t r;
      if (__builtin_add_overflow(intOf(acc), intOf(item), &r)) raise(DiagId::IntOverflow, SourceLoc{}, {"sum()"});
      acc = Value::integer(r);
    } else if (isNumber(acc) && isNumber(item) && (acc.is(VKind::Float) || item.is(VKind::Float))) {
      double a = acc.is(VKind::Float) ? acc.asFloat() : (double)intOf(acc);
      double b = item.is(VKind::Float) ? item.asFloat() : (double)intOf(item);
      acc = Value::real(a + b);
    } else {
      Value a[2] = {std::move(acc), std::move(item)};
      acc = prim_Add(cx, a);
    }
  }
  return acc;
}

static Value allAny(CallContext& cx, Value* args, bool isAll) {
  if (args[0].is(VKind::Tensor))
    return reduce(isAll ? prim_TensorAll : prim_TensorAny, cx, args[0], args[1], args[2]);
  rejectTensorKeywords(isAll ? "all" : "any", args[1], args[2]);
  for (const Value& item : iterToVector(args[0], isAll ? "all" : "any"))
    if (valueTruth(item) != isAll) return Value::boolean(!isAll);
  return Value::boolean(isAll);
}

Value prim_All(CallContext& cx, Value* args) { return allAny(cx, args, true); }
Value prim_Any(CallContext& cx, Value* args) { return allAny(cx, args, false); }

// ------------------------------------------------------------------------ numbers
Value prim_Abs(CallContext& cx, Value* args) {
  const Value& x = args[0];
  switch (x.kind()) {
    case VKind::Bool: return Value::integer(x.asBool());
    case VKind::Int:
      if (x.asInt() == INT64_MIN) raise(DiagId::IntOverflow, SourceLoc{}, {"abs()"});
      return Value::integer(std::llabs(x.asInt()));
    case VKind::Float: return Value::real(std::fabs(x.asFloat()));
    case VKind::Tensor: return prim_TensorAbs(cx, args);
    default: raise(DiagId::BadOperandType, SourceLoc{}, {"abs()", x.typeName()});
  }
}

namespace {

// Rounds the decimal digit string `digits` (an integer, no sign) to a multiple of 10^m,
// half to even; `inexact` says the true value is a little above `digits` (a dropped
// fraction), which breaks a tie upwards. Returns the digits of the result.
std::string roundDigits(std::string digits, size_t m, bool inexact) {
  if (m == 0) return digits;
  if (digits.size() < m) digits.insert(0, m - digits.size(), '0');
  size_t keep = digits.size() - m;
  std::string low = digits.substr(keep);
  std::string half = "5" + std::string(m - 1, '0');
  int cmp = low.compare(half);
  bool odd = keep > 0 && (digits[keep - 1] - '0') % 2 == 1;
  bool up = cmp > 0 || (cmp == 0 && (inexact || odd));
  std::string q = digits.substr(0, keep);
  if (up) {
    int i = (int)q.size() - 1;
    while (i >= 0 && q[i] == '9') q[i--] = '0';
    if (i < 0) q.insert(0, "1");
    else ++q[i];
  }
  if (q.empty()) q = "0";
  return q + std::string(m, '0');
}

// round(x, ndigits) for a float: correctly rounded, half to even on the exact binary
// value, as CPython does.
double roundFloat(double x, int64_t ndigits) {
  if (!std::isfinite(x) || x == 0.0) return x;
  if (ndigits > 323) return x;
  if (ndigits < -308) return 0.0 * x;
  double ax = std::fabs(x);
  std::string text;
  if (ndigits >= 0) {
    std::string buf(330 + ndigits, '\0');
    auto r = std::to_chars(buf.data(), buf.data() + buf.size(), ax, std::chars_format::fixed, (int)ndigits);
    text.assign(buf.data(), r.ptr);
  } else {
    double whole = std::trunc(ax);
    char buf[400];
    auto r = std::to_chars(buf, buf + sizeof buf, whole, std::chars_format::fixed, 0);
    text = roundDigits(std::string(buf, r.ptr), (size_t)-ndigits, whole != ax);
  }
  double y = std::strtod(text.c_str(), nullptr);
  if (std::isinf(y)) valueError("rounded value too large to represent");
  return std::copysign(y, x);
}

// round(i, ndigits) for an int with ndigits < 0: half to even.
int64_t roundInt(int64_t i, int64_t ndigits) {
  if (ndigits >= 0) return i;
  if (ndigits < -38) return 0;  // |i| < 10^19 is below half of 10^m
  __int128 p = 1;
  for (int64_t k = 0; k < -ndigits; ++k) p *= 10;
  __int128 v = i < 0 ? -(__int128)i : (__int128)i;
  __int128 q = v / p, r = v % p;
  if (2 * r > p || (2 * r == p && q % 2 == 1)) ++q;
  __int128 out = q * p;
  if (i < 0) out = -out;
  if (out > INT64_MAX || out < INT64_MIN) raise(DiagId::IntOverflow, SourceLoc{}, {"round()"});
  return (int64_t)out;
}

// A float converted to int by truncation (int()) or rounding (round()).
int64_t floatToInt(double f, const char* fn) {
  if (std::isnan(f)) valueError("cannot convert float NaN to integer");
  if (std::isinf(f)) valueError("cannot convert float infinity to integer");
  if (!(f >= -0x1p63 && f < 0x1p63)) raise(DiagId::IntOverflow, SourceLoc{}, {fn});
  return (int64_t)f;
}

}  // namespace

Value prim_Round(CallContext& cx, Value* args) {
  const Value& x = args[0];
  const Value& nd = args[1];
  if (x.is(VKind::Tensor)) {
    Value a[2] = {x, nd.isNone() ? Value::integer(0) : Value::integer(argInt(nd, "round", "ndigits"))};
    return prim_TensorRound(cx, a);
  }
  switch (x.kind()) {
    case VKind::Bool: case VKind::Int:
      return Value::integer(nd.isNone() ? intOf(x) : roundInt(intOf(x), argInt(nd, "round", "ndigits")));
    case VKind::Float:
      if (nd.isNone()) return Value::integer(floatToInt(std::nearbyint(x.asFloat()), "round()"));
      return Value::real(roundFloat(x.asFloat(), argInt(nd, "round", "ndigits")));
    default:
      typeError(std::string("type ") + x.typeName() + " doesn't define __round__ method");
  }
}

// ------------------------------------------------------------------------ conversions
namespace {

// Python's str.strip() of whitespace.
std::string_view stripSpace(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e) {
    size_t i = b;
    if (!isPySpace(utf8Next(s, &i))) break;
    b = i;
  }
  while (e > b) {
    size_t i = e - 1;
    while (i > b && ((unsigned char)s[i] & 0xC0) == 0x80) --i;
    size_t j = i;
    if (!isPySpace(utf8Next(s, &j))) break;
    e = i;
  }
  return s.substr(b, e - b);
}

// Removes underscores that sit between two digits; false if one sits elsewhere.
bool dropUnderscores(std::string_view s, std::string* out) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '_') { *out += s[i]; continue; }
    if (i == 0 || i + 1 >= s.size() || !isdigit((unsigned char)s[i - 1]) || !isdigit((unsigned char)s[i + 1]))
      return false;
  }
  return true;
}

int64_t parseInt(const std::string& text) {
  std::string_view s = stripSpace(text);
  std::string digits;
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) { neg = s[0] == '-'; s.remove_prefix(1); }
  bool ok = !s.empty() && isdigit((unsigned char)s[0]) && dropUnderscores(s, &digits) &&
            digits.find_first_not_of("0123456789") == std::string::npos;
  if (!ok) valueError("invalid literal for int() with base 10: " + strRepr(text));
  if (neg) digits.insert(0, "-");
  int64_t v = 0;
  auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (r.ec == std::errc::result_out_of_range) raise(DiagId::IntOverflow, SourceLoc{}, {"int()"});
  return v;
}

double parseFloat(const std::string& text) {
  std::string_view s = stripSpace(text);
  std::string body;
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) { neg = s[0] == '-'; s.remove_prefix(1); }
  std::string lower;
  for (char c : s) lower += (char)tolower((unsigned char)c);
  double v;
  if (lower == "inf" || lower == "infinity") {
    v = INFINITY;
  } else if (lower == "nan") {
    v = NAN;
  } else {
    // digits [. digits] [e [sign] digits], at least one digit before the exponent.
    bool ok = dropUnderscores(s, &body);
    size_t i = 0, mantissaDigits = 0;
    while (i < body.size() && isdigit((unsigned char)body[i])) { ++i; ++mantissaDigits; }
    if (i < body.size() && body[i] == '.') {
      ++i;
      while (i < body.size() && isdigit((unsigned char)body[i])) { ++i; ++mantissaDigits; }
    }
    if (mantissaDigits == 0) ok = false;
    if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
      ++i;
      if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
      size_t expStart = i;
      while (i < body.size() && isdigit((unsigned char)body[i])) ++i;
      if (i == expStart) ok = false;
    }
    if (!ok || i != body.size()) valueError("could not convert string to float: " + strRepr(text));
    v = std::strtod(body.c_str(), nullptr);
  }
  return neg ? -v : v;
}

}  // namespace

Value prim_IntNew(CallContext& cx, Value* args) {
  const Value& x = args[0];
  switch (x.kind()) {
    case VKind::Int: return x;
    case VKind::Bool: return Value::integer(x.asBool());
    case VKind::Float: return Value::integer(floatToInt(std::trunc(x.asFloat()), "int()"));
    case VKind::Str: return Value::integer(parseInt(x.as<StrObj>()->s));
    case VKind::Tensor: {
      Value item = tensorItem(x);
      return prim_IntNew(cx, &item);
    }
    default:
      typeError(std::string("int() argument must be a string, a number or a tensor, not '") + x.typeName() + "'");
  }
}

Value prim_FloatNew(CallContext& cx, Value* args) {
  const Value& x = args[0];
  switch (x.kind()) {
    case VKind::Float: return x;
    case VKind::Int: return Value::real((double)x.asInt());
    case VKind::Bool: return Value::real(x.asBool());
    case VKind::Str: return Value::real(parseFloat(x.as<StrObj>()->s));
    case VKind::Tensor: {
      Value item = tensorItem(x);
      return prim_FloatNew(cx, &item);
    }
    default:
      typeError(std::string("float() argument must be a string, a number or a tensor, not '") + x.typeName() + "'");
  }
}

Value prim_StrNew(CallContext& cx, Value* args) {
  if (args[0].is(VKind::Str)) return std::move(args[0]);
  return makeStr(strOf(args[0]));
}

Value prim_BoolNew(CallContext& cx, Value* args) { return Value::boolean(valueTruth(args[0])); }

Value prim_Repr(CallContext& cx, Value* args) { return makeStr(reprOf(args[0])); }

// ------------------------------------------------------------------------ types
namespace {

const char* exceptionName(Prim p) {
  switch (p) {
    case Prim::ExcValueError: case Prim::ExcTypeError: case Prim::ExcRuntimeError:
    case Prim::ExcKeyError: case Prim::ExcIndexError: case Prim::ExcException:
    case Prim::ExcAssertionError: case Prim::ExcNotImplementedError:
      return primName(p);
    default:
      return nullptr;
  }
}

// isinstance(x, cls) for one class: a user class, a built-in type function (int, float,
// str, bool, list, tuple, dict, tensor) or an exception constructor.
bool instanceOf(const Value& x, const Value& cls) {
  if (cls.is(VKind::Class)) return x.is(VKind::Record) && x.as<RecordObj>()->cls.obj() == cls.obj();
  if (cls.is(VKind::Prim)) {
    Prim p = (Prim)cls.primId();
    switch (p) {
      case Prim::IntNew: return x.is(VKind::Int) || x.is(VKind::Bool);  // bool is an int, as in Python
      case Prim::FloatNew: return x.is(VKind::Float);
      case Prim::StrNew: return x.is(VKind::Str);
      case Prim::BoolNew: return x.is(VKind::Bool);
      case Prim::ListNew: return x.is(VKind::List);
      case Prim::TupleNew: return x.is(VKind::Tuple);
      case Prim::DictNew: return x.is(VKind::Dict);
      case Prim::TensorNew: return x.is(VKind::Tensor);
      default:
        if (const char* name = exceptionName(p))
          return x.is(VKind::Exception) && (p == Prim::ExcException || x.as<ExceptionObj>()->type == name);
        break;
    }
  }
  if (cls.is(VKind::Tuple)) {
    for (const Value& c : cls.as<TupleObj>()->items)
      if (instanceOf(x, c)) return true;
    return false;
  }
  typeError("isinstance() arg 2 must be a type or tuple of types");
}

bool isCallable(const Value& f) {
  switch (f.kind()) {
    case VKind::Prim: case VKind::Class: case VKind::Closure: case VKind::BoundMethod: case VKind::Partial:
      return true;
    case VKind::Record: return f.as<RecordObj>()->classObj()->method("__call__") != nullptr;
    default: return false;
  }
}

Value makeException(Prim p, const Value& msg) {
  auto* e = new ExceptionObj();
  e->type = primName(p);
  e->message = strOf(msg);
  return Value::object(e);
}

}  // namespace

Value prim_Isinstance(CallContext& cx, Value* args) { return Value::boolean(instanceOf(args[0], args[1])); }

Value prim_Partial(CallContext& cx, Value* args) {
  if (!isCallable(args[0])) typeError("partial() argument 'fn' must be callable, not '" + typeNameOf(args[0]) + "'");
  auto* p = new PartialObj();
  Value out = Value::object(p);
  // partial(partial(f, a), b) is partial(f, a, b), as in Python.
  if (args[0].is(VKind::Partial)) {
    const PartialObj* inner = args[0].as<PartialObj>();
    p->func = inner->func;
    p->args = inner->args;
    p->kwargs = inner->kwargs;
  } else {
    p->func = args[0];
  }
  for (const Value& a : tupleItems(args[1])) p->args.push_back(a);
  for (const auto& [k, v] : args[2].as<DictObj>()->entries) {
    const std::string& name = k.as<StrObj>()->s;
    auto it = std::find_if(p->kwargs.begin(), p->kwargs.end(), [&](const auto& kv) { return kv.first == name; });
    if (it != p->kwargs.end()) it->second = v;
    else p->kwargs.emplace_back(name, v);
  }
  return out;
}

#define MSL_EXCEPTION_PRIM(Id) \
  Value prim_##Id(CallContext& cx, Value* args) { return makeException(Prim::Id, args[0]); }
MSL_EXCEPTION_PRIM(ExcValueError)
MSL_EXCEPTION_PRIM(ExcTypeError)
MSL_EXCEPTION_PRIM(ExcRuntimeError)
MSL_EXCEPTION_PRIM(ExcKeyError)
MSL_EXCEPTION_PRIM(ExcIndexError)
MSL_EXCEPTION_PRIM(ExcException)
MSL_EXCEPTION_PRIM(ExcAssertionError)
MSL_EXCEPTION_PRIM(ExcNotImplementedError)
#undef MSL_EXCEPTION_PRIM

}  // namespace msl
