// How primitives are implemented in the runtime.
//
// Each primitive `X` of ir/Primitives.def whose group is Builtin or Hidden has an
// implementation `Value prim_X(CallContext& cx, Value* args)` defined in one runtime/*.cpp
// file. `args` holds exactly one Value per declared parameter, in order, with defaults
// filled in, `*args` packed as a tuple and `**kw` as a dict; the implementation may move
// out of `args` (the caller does not use them afterwards), which is how functional updates
// of uniquely-owned values avoid copies. The kernel table (runtime/PrimTable.cpp) is
// generated from the .def; a missing implementation is reported by a unit test.
//
// Errors: call msl::raise(DiagId, SourceLoc{}, {...}); the interpreter fills in the place
// (the operator or callee of the failing node) and the traceback.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "ir/Diagnostics.h"
#include "ir/Prim.h"
#include "runtime/Value.h"

namespace msl {

// What a primitive may ask of whoever runs it (the interpreter, or compiled code).
class CallContext {
 public:
  virtual ~CallContext() = default;
  // Calls any callable value (closure, primitive, class, bound method, partial).
  virtual Value call(const Value& fn, std::vector<Value> args,
                     std::vector<std::pair<std::string, Value>> kwargs = {}) = 0;
  // The differentiated call J(fn)(args) (autodiff/J.h): returns (out, bprop) where
  // bprop(ct) returns (ct_fn, one cotangent per argument). Bit i of skipArgs: argument i's
  // cotangent is not wanted (it may come back as None, and is not computed).
  // `world`: the J expansion the call belongs to (0: the one running the current code, or
  // a new one when none is; kNewJWorld: a new one, as grad and vjp start).
  static constexpr uint32_t kNewJWorld = ~uint32_t{0};
  virtual Value jcall(const Value& fn, Value* args, size_t npos, const std::vector<std::string>* kwnames,
                      uint64_t skipArgs = 0, uint32_t world = 0);
  // J of a call made by differentiated code (a __jcall or grad's __jenter), in J of that
  // code: `inner` is the world of the call (kNewJWorld for __jenter), the outer one that
  // of the current code. Returns ((out, bprop of the inner call), bprop).
  virtual Value jcallOuter(const Value& fn, Value* args, size_t npos, const std::vector<std::string>* kwnames,
                           uint64_t skipArgs, uint32_t inner);
  // The inner world of the code running now (in J of a J graph), else 0.
  virtual uint32_t jinnerWorld() const { return 0; }
  // The forward-mode call JVP(fn)(args; tangents) (autodiff/Jvp.h): returns (out,
  // tangent_out). `targs` holds one tangent per argument (None: zero); tfn is the tangent
  // of a bound method's receiver or of a partial's bound arguments (None: zero).
  virtual Value jvpcall(const Value& fn, const Value& tfn, Value* args, Value* targs, size_t npos,
                        const std::vector<std::string>* kwnames);
  // jcall run under JVP (jvp of a gradient, runtime/InterpreterJvp.cpp): returns ((out,
  // bprop), (tangent_out, None)); the bprop carries the tangents of what it closes over.
  virtual Value jcallJvp(const Value& fn, const Value& tfn, Value* args, Value* targs, size_t npos,
                         const std::vector<std::string>* kwnames, uint64_t skipArgs, uint32_t world);
  // The batched call vmap(fn)(args) over `size` examples (autodiff/Vmap.h): mask[0] says
  // whether fn itself is batched (a bound method of a batched receiver), mask[1 + i]
  // whether argument i is (its tensor leaves hold the examples along axis 0). The result
  // is batched along axis 0 (runtime/InterpreterVmap.cpp).
  virtual Value vmapcall(const Value& fn, int64_t size, const std::vector<bool>& mask, Value* args, size_t npos,
                         const std::vector<std::string>* kwnames);
  // argv of the program.
  virtual const std::vector<std::string>& argv() const = 0;
};

using PrimFn = Value (*)(CallContext& cx, Value* args);

// Declarations of the implementation of every Builtin and Hidden primitive. The kernel
// table refers to each of them, so a primitive without one is a link error naming it.
#define MSL_PRIM_DECL_Core(Id)
#define MSL_PRIM_DECL_Builtin(Id) Value prim_##Id(CallContext& cx, Value* args);
#define MSL_PRIM_DECL_Hidden(Id) Value prim_##Id(CallContext& cx, Value* args);
#define PRIM(Id, Name, Sig, Group, Effect) MSL_PRIM_DECL_##Group(Id)
#include "ir/Primitives.def"

// The implementation of `p`, or nullptr (Core primitives are executed by the interpreter).
PrimFn primImpl(Prim p);

struct MethodEntry { VKind recv; const char* name; Prim prim; bool property; };
// All METHOD/PROPERTY entries of ir/Primitives.def.
const std::vector<MethodEntry>& methodTable();
// The primitive behind `recv.name`, or false.
bool lookupMethod(VKind recv, const std::string& name, Prim* prim, bool* property);
// The end of the NoMethod message for `recv.name(...)`: a did-you-mean or "" (ir/Prim.h).
std::string methodHintFor(VKind recv, const std::string& name);

// The default value of a parameter of a primitive (parsed once and cached).
const Value& primDefault(Prim p, size_t paramIndex);

// ---- argument helpers: raise a TypeError naming the function and parameter on mismatch
int64_t argInt(const Value& v, const char* fn, const char* param);
double argFloat(const Value& v, const char* fn, const char* param);  // int or float
bool argBool(const Value& v, const char* fn, const char* param);
const std::string& argStr(const Value& v, const char* fn, const char* param);
DType argDType(const Value& v, const char* fn, const char* param);
// A tensor argument: tensors as they are; Python scalars/lists/tuples converted like
// tensor(data) (floats give f32, ints i64, bools bool).
Tensor argTensor(const Value& v, const char* fn, const char* param);
// A shape: an int or a tuple/list of ints.
Shape argShape(const Value& v, const char* fn, const char* param);
// Axes of a reduction: None gives all axes; an int or tuple of ints, negative counts
// from the end; each checked against ndim (raises BadAxis).
std::vector<int> argAxes(const Value& v, int ndim, const char* fn);
// Normalises one axis against ndim (raises BadAxis).
int normAxis(int64_t axis, int ndim);

// Python-style type name of a value for messages: "int", "Tensor", or a class name.
std::string typeNameOf(const Value& v);

// Small helpers shared by the implementation files.
[[noreturn]] inline void valueError(const std::string& msg) { raise(DiagId::ValueError, SourceLoc{}, {msg}); }
inline bool isSeq(const Value& v) { return v.is(VKind::List) || v.is(VKind::Tuple); }
// The items of a list or tuple (isSeq(v) must hold).
inline const std::vector<Value>& seqItems(const Value& v) {
  return v.is(VKind::List) ? v.as<ListObj>()->items : v.as<TupleObj>()->items;
}

}  // namespace msl
