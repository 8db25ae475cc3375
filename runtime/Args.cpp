// Argument checking helpers of primitives (runtime/PrimImpl.h): scalars, strings, dtypes.
#include "ir/Diagnostics.h"
#include "runtime/PrimImpl.h"

namespace msl {

std::string typeNameOf(const Value& v) { return v.typeName(); }

[[noreturn]] static void argMismatch(const Value& v, const char* fn, const char* param, const char* want) {
  raise(DiagId::TypeError, SourceLoc{},
        {std::string(fn) + "() argument '" + param + "' must be " + want + ", not '" + typeNameOf(v) + "'"});
}

int64_t argInt(const Value& v, const char* fn, const char* param) {
  if (v.is(VKind::Int)) return v.asInt();
  if (v.is(VKind::Bool)) return v.asBool();
  argMismatch(v, fn, param, "int");
}

double argFloat(const Value& v, const char* fn, const char* param) {
  if (v.is(VKind::Float)) return v.asFloat();
  if (v.is(VKind::Int)) return (double)v.asInt();
  if (v.is(VKind::Bool)) return v.asBool();
  argMismatch(v, fn, param, "float");
}

bool argBool(const Value& v, const char* fn, const char* param) {
  if (v.is(VKind::Bool)) return v.asBool();
  if (v.is(VKind::Int)) return v.asInt() != 0;  // keepdims=1, as NumPy accepts
  argMismatch(v, fn, param, "bool");
}

const std::string& argStr(const Value& v, const char* fn, const char* param) {
  if (v.is(VKind::Str)) return v.as<StrObj>()->s;
  argMismatch(v, fn, param, "str");
}

DType argDType(const Value& v, const char* fn, const char* param) {
  if (v.is(VKind::DTypeV)) return v.asDType();
  // The built-in type functions stand for the default dtype of their kind: astype(int).
  if (v.is(VKind::Prim)) {
    switch ((Prim)v.primId()) {
      case Prim::BoolNew: return DType::Bool;
      case Prim::IntNew: return kDefaultInt;
      case Prim::FloatNew: return kDefaultFloat;
      default: break;
    }
  }
  argMismatch(v, fn, param, "a dtype");
}

}  // namespace msl
