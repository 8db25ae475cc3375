// Python semantics of host values shared by the interpreter and the built-ins.
#include "runtime/Host.h"

#include <unistd.h>

#include <cmath>

#include "ir/Diagnostics.h"
#include "runtime/Print.h"

namespace msl {

static void flushAndExit(int code) {
  outFlush();
  _exit(code);
}
void (*exitHook)(int code) = flushAndExit;

bool fileAccessDisabled = false;

void checkFileAccess(const std::string& fn, const std::string& path) {
  if (fileAccessDisabled) raise(DiagId::IoError, SourceLoc{}, {fn, path, "file access is disabled"});
}

uint64_t& listCopyCount() {
  static uint64_t n = 0;
  return n;
}

ListObj* uniqueList(Value& v) {
  if (!v.unique()) {
    auto* copy = new ListObj();
    copy->items = v.as<ListObj>()->items;
    v = Value::object(copy);
    ++listCopyCount();
  }
  return v.as<ListObj>();
}

DictObj* uniqueDict(Value& v) {
  if (!v.unique()) v = Value::object(new DictObj(*v.as<DictObj>()));
  return v.as<DictObj>();
}

Value tensorElement(const Tensor& t, int64_t flatIndex) {
  if (isFloat(t.dtype())) return Value::real(t.getF64(flatIndex));
  if (t.dtype() == DType::Bool) return Value::boolean(t.getI64(flatIndex) != 0);
  return Value::integer(t.getI64(flatIndex));
}

// The one element of a tensor used as a scalar (in a truth test or comparison).
static Value tensorScalar(const Tensor& t) {
  if (t.numel() != 1) raise(DiagId::TruthOfTensor, SourceLoc{}, {std::to_string(t.numel())});
  return tensorElement(t, 0);
}

bool valueTruth(const Value& v) {
  switch (v.kind()) {
    case VKind::None: return false;
    case VKind::Bool: return v.asBool();
    case VKind::Int: return v.asInt() != 0;
    case VKind::Float: return v.asFloat() != 0.0;
    case VKind::Str: return !v.as<StrObj>()->s.empty();
    case VKind::Tuple: return !v.as<TupleObj>()->items.empty();
    case VKind::List: return !v.as<ListObj>()->items.empty();
    case VKind::Dict: return !v.as<DictObj>()->entries.empty();
    case VKind::Range: return v.as<RangeObj>()->length() != 0;
    case VKind::Tensor: return valueTruth(tensorScalar(v.as<TensorObj>()->t));
    default: return true;
  }
}

// Compares an int with a float exactly: -1, 0, 1, or 2 when f is nan.
static int compareIntFloat(int64_t i, double f) {
  if (std::isnan(f)) return 2;
  if (f >= 0x1p63) return -1;
  if (f < -0x1p63) return 1;
  double t = std::trunc(f);
  int64_t ti = (int64_t)t;
  if (i != ti) return i < ti ? -1 : 1;
  return f > t ? -1 : f < t ? 1 : 0;
}

static bool isNumber(const Value& v) {
  return v.is(VKind::Int) || v.is(VKind::Float) || v.is(VKind::Bool);
}

static bool lessItems(const std::vector<Value>& a, const std::vector<Value>& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    if (!valueEquals(a[i], b[i])) return valueLess(a[i], b[i]);
  return a.size() < b.size();
}

bool valueLess(const Value& a, const Value& b) {
  if (a.is(VKind::Tensor)) return valueLess(tensorScalar(a.as<TensorObj>()->t), b);
  if (b.is(VKind::Tensor)) return valueLess(a, tensorScalar(b.as<TensorObj>()->t));
  if (isNumber(a) && isNumber(b)) {
    auto asInt = [](const Value& v) { return v.is(VKind::Bool) ? (int64_t)v.asBool() : v.asInt(); };
    bool fa = a.is(VKind::Float), fb = b.is(VKind::Float);
    if (fa && fb) return a.asFloat() < b.asFloat();
    if (fb) return compareIntFloat(asInt(a), b.asFloat()) == -1;
    if (fa) return compareIntFloat(asInt(b), a.asFloat()) == 1;
    return asInt(a) < asInt(b);
  }
  if (a.kind() == b.kind()) {
    switch (a.kind()) {
      case VKind::Str: return a.as<StrObj>()->s < b.as<StrObj>()->s;  // UTF-8 keeps code point order
      case VKind::Tuple: return lessItems(a.as<TupleObj>()->items, b.as<TupleObj>()->items);
      case VKind::List: return lessItems(a.as<ListObj>()->items, b.as<ListObj>()->items);
      default: break;
    }
  }
  raise(DiagId::TypeError, SourceLoc{},
        {std::string("'<' not supported between instances of '") + a.typeName() + "' and '" + b.typeName() + "'"});
}

}  // namespace msl
