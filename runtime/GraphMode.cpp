#include "runtime/GraphMode.h"

#include "ir/IR.h"
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
// The parameters static_argnums names, as a bit set (bit k: parameter k). Argument
// numbers count the positional parameters of f (negative ones from the end, as in JAX).
uint64_t staticMask(const Value& v, const ClosureObj* f) {
  std::vector<int64_t> nums;
  if (v.is(VKind::Int)) nums.push_back(v.asInt());
  else if (v.is(VKind::Tuple))
    for (const Value& x : v.as<TupleObj>()->items) nums.push_back(x.asInt());
  const ir::Graph* g = f->graph;
  int64_t npos = 0;
  while (npos < (int64_t)g->params.size() && g->paramKinds[(size_t)npos] == ir::ParamKind::Positional) ++npos;
  uint64_t mask = 0;
  for (int64_t k : nums) {
    int64_t i = k < 0 ? k + npos : k;
    if (i < 0 || i >= npos || i >= 64)
      raise(DiagId::ValueError, SourceLoc{},
            {"jit: static_argnums " + std::to_string(k) + " is out of range for '" + g->name + "', which takes " +
             std::to_string(npos) + " positional argument" + (npos == 1 ? "" : "s")});
    mask |= uint64_t(1) << i;
  }
  return mask;
}
}  // namespace

void setGraphCompiler(GraphCompiler* c) { gCompiler = c; }
GraphCompiler* graphCompiler() { return gCompiler; }

// jit(f, static_argnums=None, donate_argnums=None): f as a closure whose calls run
// compiled code (runtime/Interpreter.cpp, callClosure). Code is specialised to the
// structure, dtypes and shapes of the arguments as every call is, and to the values of
// the static arguments (ClosureObj::staticArgs; ir/Specialize.h folds them as constants).
// Donation is what last-use moves already do (a donated argument's buffer is updated in
// place when the caller no longer holds it). Anything else callable (a primitive, a
// partial) is returned as it is.
Value prim_Jit(CallContext&, Value* args) {
  checkArgnums(args[1], "static_argnums");
  checkArgnums(args[2], "donate_argnums");
  if (!args[0].is(VKind::Closure)) {
    if (!args[0].is(VKind::Prim) && !args[0].is(VKind::Partial) && !args[0].is(VKind::BoundMethod))
      raise(DiagId::TypeError, SourceLoc{}, {"jit: expected a function, got " + typeNameOf(args[0])});
    return std::move(args[0]);
  }
  const ClosureObj* src = args[0].as<ClosureObj>();
  uint64_t statics = staticMask(args[1], src) | (src->jit ? src->staticArgs : 0);
  if (src->jit && src->staticArgs == statics) return std::move(args[0]);
  auto* cl = new ClosureObj();
  Value v = Value::object(cl);
  cl->graph = src->graph;
  cl->captured = src->captured;
  cl->defaults = src->defaults;
  cl->jworld = src->jworld;
  cl->jinner = src->jinner;
  cl->jit = true;
  cl->staticArgs = statics;
  return v;
}

}  // namespace msl
