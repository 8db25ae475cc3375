// A bound method or a callable record as the function to call and its receiver: how J,
// JVP and vmap call them (the function with the receiver first).
#pragma once
#include "ir/Diagnostics.h"
#include "runtime/PrimImpl.h"
#include "runtime/Value.h"

namespace msl {

inline void methodParts(const Value& fn, Value* func, Value* self) {
  if (fn.is(VKind::BoundMethod)) {
    *func = fn.as<BoundMethodObj>()->func;
    *self = fn.as<BoundMethodObj>()->self;
    return;
  }
  const Value* m = fn.as<RecordObj>()->classObj()->method("__call__");
  if (!m) raise(DiagId::NotCallable, SourceLoc{}, {typeNameOf(fn)});
  *func = *m;
  *self = fn;
}

}  // namespace msl
