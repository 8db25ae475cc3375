#include "runtime/GraphMode.h"

#include "runtime/PrimImpl.h"

namespace msl {

namespace {
GraphCompiler* gCompiler = nullptr;

// static_argnums / donate_argnums: None, an int or a tuple of ints.
void checkArgnums(const Value& v, const char* what) {
  if (v.isNone() || v.is(VKind::Int)) return;
  if (v.is(VKind::Tuple)) {
    bool ints = true;
    for (const Value& x : v.as<TupleObj>()->items) ints &= x.is(VKind::Int);
    if (ints) return;
  }
  raise(DiagId::TypeError, SourceLoc{}, {std::string("jit: ") + what + " must be an int or a tuple of ints, not " + typeNameOf(v)});
}
}  // namespace

void setGraphCompiler(GraphCompiler* c) { gCompiler = c; }
GraphCompiler* graphCompiler() { return gCompiler; }

// jit(f, static_argnums=None, donate_argnums=None): f as a closure whose calls run
// compiled code (runtime/Interpreter.cpp, callClosure). Code is specialised to the
// structure, dtypes and shapes of the arguments as every call is; values are boxed, so
// static arguments need no separate key, and donation is what last-use moves already do
// (a donated argument's buffer is updated in place when the caller no longer holds it).
// Anything else callable (a primitive, a partial) is returned as it is.
Value prim_Jit(CallContext&, Value* args) {
  checkArgnums(args[1], "static_argnums");
  checkArgnums(args[2], "donate_argnums");
  if (!args[0].is(VKind::Closure)) {
    if (!args[0].is(VKind::Prim) && !args[0].is(VKind::Partial) && !args[0].is(VKind::BoundMethod))
      raise(DiagId::TypeError, SourceLoc{}, {"jit: expected a function, got " + typeNameOf(args[0])});
    return std::move(args[0]);
  }
  const ClosureObj* src = args[0].as<ClosureObj>();
  if (src->jit) return std::move(args[0]);
  auto* cl = new ClosureObj();
  Value v = Value::object(cl);
  cl->graph = src->graph;
  cl->captured = src->captured;
  cl->defaults = src->defaults;
  cl->jworld = src->jworld;
  cl->jinner = src->jinner;
  cl->jit = true;
  return v;
}

}  // namespace msl
