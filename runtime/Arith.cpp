// The Value-level operators (the "arithmetic" primitives): Python semantics on Python
// scalars, strings, lists and tuples; NumPy broadcasting and JAX promotion on tensors.
//
// Python ints are 64-bit: overflow raises IntOverflow. Division and modulo by zero of
// Python numbers raise ZeroDivision; tensors follow IEEE (floats) or give 0 (integer //
// and %, as JAX). A tensor operand consumed by its last use (the Value holds the only
// reference and its buffer is runtime-allocated) receives the result in place when the
// result has its dtype and shape, so `x = x * a + b` in a loop allocates nothing.
#include <cmath>
#include <type_traits>

#include "ir/Diagnostics.h"
#include "runtime/MathFns.h"
#include "runtime/PrimImpl.h"
#include "runtime/TensorValues.h"

namespace msl {

namespace {

bool isNumber(const Value& v) { return v.is(VKind::Int) || v.is(VKind::Float) || v.is(VKind::Bool); }
int64_t intOf(const Value& v) { return v.is(VKind::Bool) ? (int64_t)v.asBool() : v.asInt(); }
double floatOf(const Value& v) { return v.is(VKind::Float) ? v.asFloat() : (double)intOf(v); }

[[noreturn]] void badOperands(const char* sym, const Value& a, const Value& b) {
  raise(DiagId::BadOperandTypes, SourceLoc{}, {sym, typeNameOf(a), typeNameOf(b)});
}
[[noreturn]] void overflow(const char* sym) { raise(DiagId::IntOverflow, SourceLoc{}, {sym}); }
[[noreturn]] void zeroDivision(const char* what) { raise(DiagId::ZeroDivision, SourceLoc{}, {what}); }

// ------------------------------------------------------------------ Python numbers
// int / int, correctly rounded where both fit in a double's mantissa.
double intTrueDiv(int64_t a, int64_t b) {
  constexpr int64_t kExact = (int64_t)1 << 53;
  if (a >= -kExact && a <= kExact && b >= -kExact && b <= kExact) return (double)a / (double)b;
  return (double)((long double)a / (long double)b);
}

// Python's float ** float, with its errors for 0 ** negative, negative ** fraction and
// overflow (other special cases are C's pow, which agrees with Python).
double floatPow(double a, double b) {
  if (a == 0 && b < 0) raise(DiagId::ZeroToNegativePower, SourceLoc{});
  if (a < 0 && std::isfinite(a) && std::isfinite(b) && std::trunc(b) != b)
    raise(DiagId::ValueError, SourceLoc{}, {"negative number cannot be raised to a fractional power"});
  double r = fn::pow(a, b);
  if (std::isinf(r) && std::isfinite(a) && std::isfinite(b)) raise(DiagId::ValueError, SourceLoc{}, {"float overflow in **"});
  return r;
}

Value intPow(int64_t a, int64_t b) {
  if (b < 0) return Value::real(floatPow((double)a, (double)b));
  int64_t result = 1;
  while (true) {
    if ((b & 1) && __builtin_mul_overflow(result, a, &result)) overflow("**");
    b >>= 1;
    if (!b) break;
    if (__builtin_mul_overflow(a, a, &a)) overflow("**");
  }
  return Value::integer(result);
}

Value intArith(BinOp op, int64_t a, int64_t b) {
  int64_t r;
  switch (op) {
    case BinOp::Add: if (__builtin_add_overflow(a, b, &r)) overflow("+"); return Value::integer(r);
    case BinOp::Sub: if (__builtin_sub_overflow(a, b, &r)) overflow("-"); return Value::integer(r);
    case BinOp::Mul: if (__builtin_mul_overflow(a, b, &r)) overflow("*"); return Value::integer(r);
    case BinOp::Div:
      if (b == 0) zeroDivision("division");
      return Value::real(intTrueDiv(a, b));
    case BinOp::FloorDiv: {
      if (b == 0) zeroDivision("integer division or modulo");
      if (a == INT64_MIN && b == -1) overflow("//");
      int64_t q = a / b;
      if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
      return Value::integer(q);
    }
    case BinOp::Mod: {
      if (b == 0) zeroDivision("integer modulo");
      if (b == -1) return Value::integer(0);
      int64_t m = a % b;
      if (m != 0 && ((m < 0) != (b < 0))) m += b;
      return Value::integer(m);
    }
    case BinOp::Pow: return intPow(a, b);
    case BinOp::BitAnd: return Value::integer(a & b);
    case BinOp::BitOr: return Value::integer(a | b);
    case BinOp::BitXor: return Value::integer(a ^ b);
    default: internalError("intArith: not an arithmetic operator");
  }
}

Value floatArith(BinOp op, double a, double b) {
  switch (op) {
    case BinOp::Add: return Value::real(a + b);
    case BinOp::Sub: return Value::real(a - b);
    case BinOp::Mul: return Value::real(a * b);
    case BinOp::Div:
      if (b == 0) zeroDivision("float division");
      return Value::real(a / b);
    case BinOp::FloorDiv:
      if (b == 0) zeroDivision("float floor division");
      return Value::real(fn::floorDiv(a, b));
    case BinOp::Mod:
      if (b == 0) zeroDivision("float modulo");
      return Value::real(fn::mod(a, b));
    case BinOp::Pow: return Value::real(floatPow(a, b));
    default: internalError("floatArith: not an arithmetic operator");
  }
}

// a op b on two Python numbers (bool acts as int; bool op bool stays bool for & | ^).
Value numberArith(BinOp op, const Value& a, const Value& b) {
  bool bitwise = op == BinOp::BitAnd || op == BinOp::BitOr || op == BinOp::BitXor;
  if (a.is(VKind::Float) || b.is(VKind::Float)) {
    if (bitwise) badOperands(binOpSymbol(op), a, b);
    return floatArith(op, floatOf(a), floatOf(b));
  }
  if (bitwise && a.is(VKind::Bool) && b.is(VKind::Bool)) {
    bool x = a.asBool(), y = b.asBool();
    return Value::boolean(op == BinOp::BitAnd ? (x && y) : op == BinOp::BitOr ? (x || y) : (x != y));
  }
  return intArith(op, intOf(a), intOf(b));
}

// ------------------------------------------------------------------ tensors
Tensor& tensorOf(const Value& v) { return v.as<TensorObj>()->t; }

// Whether a kernel may write its result into the tensor of `v`: v holds the only
// reference, and the tensor is the only user of its runtime-allocated buffer.
bool consumable(const Value& v) { return v.is(VKind::Tensor) && v.unique() && reusable(tensorOf(v)); }

// An elementwise operation with at least one tensor operand. Returns false (leaving
// `out` alone) when the other operand is neither a tensor nor a Python number.
bool tensorBinary(BinOp op, Value* args, Value* out) {
  const Value &a = args[0], &b = args[1];
  Scalar sa, sb;
  if ((!a.is(VKind::Tensor) && !asScalar(a, &sa)) || (!b.is(VKind::Tensor) && !asScalar(b, &sb))) return false;
  Operand oa = a.is(VKind::Tensor) ? Operand(tensorOf(a)) : Operand(sa);
  Operand ob = b.is(VKind::Tensor) ? Operand(tensorOf(b)) : Operand(sb);
  for (int k = 0; k < 2; ++k)
    if (consumable(args[k]) && binaryInPlace(op, oa, ob, tensorOf(args[k]))) {
      *out = std::move(args[k]);
      return true;
    }
  *out = makeTensor(binary(op, oa, ob));
  return true;
}

// ------------------------------------------------------------------ sequences
// Repetition count of `seq * n` (negative gives 0); bounds the result's size.
size_t repeatCount(const Value& n, size_t itemLen) {
  int64_t k = intOf(n);
  if (k <= 0 || itemLen == 0) return k <= 0 ? 0 : (size_t)k;
  if ((uint64_t)k > ((uint64_t)1 << 32) / itemLen)
    raise(DiagId::ValueError, SourceLoc{}, {"repeated sequence would be too long"});
  return (size_t)k;
}

// a + b on lists or tuples. A consumed list (its Value held the only reference) is
// extended in place, so `l = l + [x]` in a loop does not copy l each time.
template <class Obj>
Value concatSeq(Value* args) {
  const Value &a = args[0], &b = args[1];
  const auto &x = a.as<Obj>()->items, &y = b.as<Obj>()->items;
  checkAllocation((uint64_t)(x.size() + y.size()) * sizeof(Value), "a sequence", x.size() + y.size(), "items");
  if constexpr (std::is_same_v<Obj, ListObj>) {
    if (a.unique()) {
      a.as<Obj>()->items.insert(a.as<Obj>()->items.end(), y.begin(), y.end());
      return std::move(args[0]);
    }
  }
  auto* o = new Obj();
  o->items.reserve(x.size() + y.size());
  o->items.insert(o->items.end(), x.begin(), x.end());
  o->items.insert(o->items.end(), y.begin(), y.end());
  return Value::object(o);
}

Value repeatSeq(const Value& seq, const Value& n) {
  if (seq.is(VKind::Str)) {
    const std::string& s = seq.as<StrObj>()->s;
    size_t k = repeatCount(n, s.size());
    checkAllocation((uint64_t)s.size() * k, "a string", (uint64_t)s.size() * k, "bytes");
    std::string r;
    r.reserve(s.size() * k);
    for (size_t i = 0; i < k; ++i) r += s;
    return makeStr(std::move(r));
  }
  const auto& items = seqItems(seq);
  size_t k = repeatCount(n, items.size());
  checkAllocation((uint64_t)items.size() * k * sizeof(Value), "a sequence", (uint64_t)items.size() * k, "items");
  std::vector<Value> r;
  r.reserve(items.size() * k);
  for (size_t i = 0; i < k; ++i) r.insert(r.end(), items.begin(), items.end());
  return seq.is(VKind::List) ? makeList(std::move(r)) : makeTuple(std::move(r));
}

bool isIntLike(const Value& v) { return v.is(VKind::Int) || v.is(VKind::Bool); }

// The generic binary operator: numbers, tensors, then sequences.
Value arith(BinOp op, Value* args) {
  const Value &a = args[0], &b = args[1];
  if (isNumber(a) && isNumber(b)) return numberArith(op, a, b);
  Value out;
  if ((a.is(VKind::Tensor) || b.is(VKind::Tensor)) && tensorBinary(op, args, &out)) return out;
  if (op == BinOp::Add && a.kind() == b.kind()) {
    if (a.is(VKind::Str)) {
      uint64_t n = (uint64_t)a.as<StrObj>()->s.size() + b.as<StrObj>()->s.size();
      checkAllocation(n, "a string", n, "bytes");
      if (!a.unique()) return makeStr(a.as<StrObj>()->s + b.as<StrObj>()->s);
      a.as<StrObj>()->s += b.as<StrObj>()->s;  // consumed: extend in place
      return std::move(args[0]);
    }
    if (a.is(VKind::List)) return concatSeq<ListObj>(args);
    if (a.is(VKind::Tuple)) return concatSeq<TupleObj>(args);
  }
  if (op == BinOp::Mul) {
    bool seqA = a.is(VKind::Str) || isSeq(a), seqB = b.is(VKind::Str) || isSeq(b);
    if (seqA && isIntLike(b)) return repeatSeq(a, b);
    if (seqB && isIntLike(a)) return repeatSeq(b, a);
  }
  badOperands(binOpSymbol(op), a, b);
}

// ------------------------------------------------------------------ comparisons
// Compares two Python numbers exactly: -1, 0, 1, or 2 when unordered (nan).
int compareNumbers(const Value& a, const Value& b) {
  auto sgn = [](auto x, auto y) { return x < y ? -1 : x > y ? 1 : 0; };
  if (!a.is(VKind::Float) && !b.is(VKind::Float)) return sgn(intOf(a), intOf(b));
  if (a.is(VKind::Float) && b.is(VKind::Float)) {
    double x = a.asFloat(), y = b.asFloat();
    return (x != x || y != y) ? 2 : sgn(x, y);
  }
  // int vs float without rounding the int.
  bool flip = a.is(VKind::Float);
  int64_t i = intOf(flip ? b : a);
  double f = (flip ? a : b).asFloat();
  int r;
  if (f != f) return 2;
  if (f >= 0x1p63) r = -1;
  else if (f < -0x1p63) r = 1;
  else {
    double fl = std::floor(f);
    int64_t fi = (int64_t)fl;
    r = i < fi ? -1 : i > fi ? 1 : (f > fl ? -1 : 0);
  }
  return flip ? -r : r;
}

bool orderHolds(BinOp op, int c) {
  if (c == 2) return op == BinOp::Ne;  // nan: only != holds
  switch (op) {
    case BinOp::Eq: return c == 0;
    case BinOp::Ne: return c != 0;
    case BinOp::Lt: return c < 0;
    case BinOp::Le: return c <= 0;
    case BinOp::Gt: return c > 0;
    default: return c >= 0;
  }
}

bool truthOfComparison(const Value& v) {
  if (v.is(VKind::Bool)) return v.asBool();
  const Tensor& t = tensorOf(v);
  if (t.numel() != 1) raise(DiagId::TruthOfTensor, SourceLoc{}, {std::to_string(t.numel())});
  return t.getI64(0) != 0;
}

Value compare(BinOp op, Value* args);

// An ordering comparison of two non-tensor values: numbers, strings, same-kind sequences.
bool orderValues(BinOp op, const Value& a, const Value& b) {
  if (isNumber(a) && isNumber(b)) return orderHolds(op, compareNumbers(a, b));
  if (a.is(VKind::Str) && b.is(VKind::Str)) {
    int c = a.as<StrObj>()->s.compare(b.as<StrObj>()->s);
    return orderHolds(op, c < 0 ? -1 : c > 0 ? 1 : 0);
  }
  if (isSeq(a) && a.kind() == b.kind()) {
    const auto &x = seqItems(a), &y = seqItems(b);
    size_t n = std::min(x.size(), y.size());
    for (size_t i = 0; i < n; ++i) {
      if (valueEquals(x[i], y[i])) continue;
      Value pair[2] = {x[i], y[i]};
      return truthOfComparison(compare(op, pair));
    }
    return orderHolds(op, x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0);
  }
  badOperands(binOpSymbol(op), a, b);
}

Value compare(BinOp op, Value* args) {
  const Value &a = args[0], &b = args[1];
  if (isNumber(a) && isNumber(b)) return Value::boolean(orderHolds(op, compareNumbers(a, b)));
  if (a.is(VKind::Tensor) || b.is(VKind::Tensor)) {
    Value out;
    if (tensorBinary(op, args, &out)) return out;
    // A tensor and a non-number (None, a string, a list): == and != compare identity,
    // as Python does for unrelated types; ordering is an error.
    if (op == BinOp::Eq) return Value::boolean(false);
    if (op == BinOp::Ne) return Value::boolean(true);
    badOperands(binOpSymbol(op), a, b);
  }
  if (op == BinOp::Eq) return Value::boolean(valueEquals(a, b));
  if (op == BinOp::Ne) return Value::boolean(!valueEquals(a, b));
  return Value::boolean(orderValues(op, a, b));
}

}  // namespace

// ================================================================== primitives
Value prim_Add(CallContext&, Value* args) {
  const Value &a = args[0], &b = args[1];
  if (a.is(VKind::Float) && b.is(VKind::Float)) return Value::real(a.asFloat() + b.asFloat());
  if (a.is(VKind::Int) && b.is(VKind::Int)) {
    int64_t r;
    if (__builtin_add_overflow(a.asInt(), b.asInt(), &r)) overflow("+");
    return Value::integer(r);
  }
  return arith(BinOp::Add, args);
}

Value prim_Sub(CallContext&, Value* args) {
  const Value &a = args[0], &b = args[1];
  if (a.is(VKind::Float) && b.is(VKind::Float)) return Value::real(a.asFloat() - b.asFloat());
  return arith(BinOp::Sub, args);
}

Value prim_Mul(CallContext&, Value* args) {
  const Value &a = args[0], &b = args[1];
  if (a.is(VKind::Float) && b.is(VKind::Float)) return Value::real(a.asFloat() * b.asFloat());
  return arith(BinOp::Mul, args);
}

Value prim_Div(CallContext&, Value* args) { return arith(BinOp::Div, args); }
Value prim_FloorDiv(CallContext&, Value* args) { return arith(BinOp::FloorDiv, args); }
Value prim_Mod(CallContext&, Value* args) { return arith(BinOp::Mod, args); }
Value prim_Pow(CallContext&, Value* args) { return arith(BinOp::Pow, args); }
Value prim_BitAnd(CallContext&, Value* args) { return arith(BinOp::BitAnd, args); }
Value prim_BitOr(CallContext&, Value* args) { return arith(BinOp::BitOr, args); }
Value prim_BitXor(CallContext&, Value* args) { return arith(BinOp::BitXor, args); }

Value prim_MatMul(CallContext&, Value* args) {
  for (int i = 0; i < 2; ++i)
    if (!args[i].is(VKind::Tensor) && !isSeq(args[i])) badOperands("@", args[0], args[1]);
  return makeTensor(matmul(argTensor(args[0], "matmul", "x"), argTensor(args[1], "matmul", "y")));
}

// ---- unary
static Value tensorUnary(UnOp op, Value* args) {
  if (consumable(args[0]) && unaryInPlace(op, tensorOf(args[0]))) return std::move(args[0]);
  return makeTensor(unary(op, tensorOf(args[0])));
}

Value prim_Neg(CallContext&, Value* args) {
  const Value& x = args[0];
  switch (x.kind()) {
    case VKind::Float: return Value::real(-x.asFloat());
    case VKind::Int: if (x.asInt() == INT64_MIN) overflow("unary -"); return Value::integer(-x.asInt());
    case VKind::Bool: return Value::integer(-(int64_t)x.asBool());
    case VKind::Tensor: return tensorUnary(UnOp::Neg, args);
    default: raise(DiagId::BadOperandType, SourceLoc{}, {"unary -", typeNameOf(x)});
  }
}

Value prim_Pos(CallContext&, Value* args) {
  const Value& x = args[0];
  switch (x.kind()) {
    case VKind::Float: case VKind::Int: case VKind::Tensor: return std::move(args[0]);
    case VKind::Bool: return Value::integer(x.asBool());
    default: raise(DiagId::BadOperandType, SourceLoc{}, {"unary +", typeNameOf(x)});
  }
}

Value prim_Invert(CallContext&, Value* args) {
  const Value& x = args[0];
  switch (x.kind()) {
    case VKind::Int: case VKind::Bool: return Value::integer(~intOf(x));
    case VKind::Tensor: return tensorUnary(UnOp::Invert, args);
    default: raise(DiagId::BadOperandType, SourceLoc{}, {"unary ~", typeNameOf(x)});
  }
}

// ---- comparisons
Value prim_Eq(CallContext&, Value* args) {
  if (args[0].is(VKind::Int) && args[1].is(VKind::Int)) return Value::boolean(args[0].asInt() == args[1].asInt());
  return compare(BinOp::Eq, args);
}
Value prim_Ne(CallContext&, Value* args) {
  if (args[0].is(VKind::Int) && args[1].is(VKind::Int)) return Value::boolean(args[0].asInt() != args[1].asInt());
  return compare(BinOp::Ne, args);
}
Value prim_Lt(CallContext&, Value* args) {
  if (args[0].is(VKind::Int) && args[1].is(VKind::Int)) return Value::boolean(args[0].asInt() < args[1].asInt());
  return compare(BinOp::Lt, args);
}
Value prim_Le(CallContext&, Value* args) { return compare(BinOp::Le, args); }
Value prim_Gt(CallContext&, Value* args) { return compare(BinOp::Gt, args); }
Value prim_Ge(CallContext&, Value* args) { return compare(BinOp::Ge, args); }

}  // namespace msl
