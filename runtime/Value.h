// Run-time values of msl programs.
//
// A Value is 16 bytes: a kind tag and either an inline scalar (bool, int, float, dtype,
// primitive id) or a pointer to a reference-counted heap Object. Every value is immutable
// from the program's point of view; the runtime may update an Object in place only when
// its reference count says it is the sole owner (see `unique()`), which is how
// `l.append(v)` and `x[i] = v` in a loop avoid copies.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ir/Source.h"
#include "runtime/DType.h"
#include "runtime/Tensor.h"

namespace msl {

namespace ir { class Graph; struct ClassInfo; }

#define MSL_VALUE_KINDS(X)                                                   \
  X(None, "NoneType") X(Bool, "bool") X(Int, "int") X(Float, "float")         \
  X(DTypeV, "dtype") X(Prim, "builtin_function") X(Undef, "undefined")       \
  X(Token, "state")            \
  X(Str, "str") X(Tensor, "Tensor") X(Tuple, "tuple") X(List, "list")          \
  X(Dict, "dict") X(Record, "record") X(Class, "type") X(Closure, "function")  \
  X(BoundMethod, "method") X(Partial, "function") X(Module, "module")         \
  X(Slice, "slice") X(Ellipsis, "ellipsis") X(Range, "range")        \
  X(Exception, "exception")

enum class VKind : uint8_t {
#define X(K, N) K,
  MSL_VALUE_KINDS(X)
#undef X
};
const char* vkindName(VKind k);  // Python-style type name: "int", "list", "Tensor"
inline bool isInline(VKind k) { return k <= VKind::Token; }

struct Object {
  uint32_t refs = 0;
  VKind kind;
  explicit Object(VKind k) : kind(k) {}
  // A copy (`new ListObj(*l)`) is a new object: it starts with no references.
  Object(const Object& o) : kind(o.kind) {}
  Object& operator=(const Object&) { return *this; }
  virtual ~Object() = default;
};

class Value {
 public:
  Value() : kind_(VKind::None) { u_.i = 0; }
  static Value none() { return Value(); }
  static Value boolean(bool b) { Value v(VKind::Bool); v.u_.b = b; return v; }
  static Value integer(int64_t i) { Value v(VKind::Int); v.u_.i = i; return v; }
  static Value real(double f) { Value v(VKind::Float); v.u_.f = f; return v; }
  static Value dtype(DType d) { Value v(VKind::DTypeV); v.u_.i = (int64_t)d; return v; }
  static Value prim(int primId) { Value v(VKind::Prim); v.u_.i = primId; return v; }
  static Value token() { return Value(VKind::Token); }
  // The value of a variable on a path that never assigned it (read => error).
  static Value undef() { return Value(VKind::Undef); }
  // Takes a new reference to `o` (whose kind becomes the value's kind).
  static Value object(Object* o) { Value v(o->kind); v.u_.o = o; ++o->refs; return v; }

  Value(const Value& o) : kind_(o.kind_), u_(o.u_) { if (!isInline(kind_)) ++u_.o->refs; }
  Value(Value&& o) noexcept : kind_(o.kind_), u_(o.u_) { o.kind_ = VKind::None; }
  Value& operator=(const Value& o) { Value t(o); swap(t); return *this; }
  Value& operator=(Value&& o) noexcept { Value t(std::move(o)); swap(t); return *this; }
  ~Value() { if (!isInline(kind_) && --u_.o->refs == 0) delete u_.o; }
  void swap(Value& o) noexcept { std::swap(kind_, o.kind_); std::swap(u_, o.u_); }

  VKind kind() const { return kind_; }
  bool is(VKind k) const { return kind_ == k; }
  bool isNone() const { return kind_ == VKind::None; }
  bool asBool() const { return u_.b; }
  int64_t asInt() const { return u_.i; }
  double asFloat() const { return u_.f; }
  DType asDType() const { return (DType)u_.i; }
  int primId() const { return (int)u_.i; }
  Object* obj() const { return u_.o; }
  template <class T> T* as() const { return static_cast<T*>(u_.o); }
  // True when this Value holds the only reference to its object.
  bool unique() const { return !isInline(kind_) && u_.o->refs == 1; }
  const char* typeName() const;  // vkindName, or the class name for records

 private:
  explicit Value(VKind k) : kind_(k) { u_.i = 0; }
  VKind kind_;
  union { bool b; int64_t i; double f; Object* o; } u_;
};

// ------------------------------------------------------------------------ heap objects
struct StrObj : Object { std::string s; explicit StrObj(std::string v) : Object(VKind::Str), s(std::move(v)) {} };
struct TensorObj : Object { Tensor t; explicit TensorObj(Tensor v) : Object(VKind::Tensor), t(std::move(v)) {} };
struct TupleObj : Object { std::vector<Value> items; TupleObj() : Object(VKind::Tuple) {} };
struct ListObj : Object { std::vector<Value> items; ListObj() : Object(VKind::List) {} };
// Insertion-ordered dictionary. Keys: None, bool, int, float, str, dtype, tuples of these.
// `entries` is the source of truth: read it freely and append to it (with keys not yet
// present); make other changes through set/erase. Large dicts keep a hash index over
// `entries`, brought up to date on demand (runtime/Value.cpp).
struct DictObj : Object {
  std::vector<std::pair<Value, Value>> entries;
  DictObj() : Object(VKind::Dict) {}
  const Value* find(const Value& key) const;  // nullptr when absent
  void set(const Value& key, Value v);        // in place: caller checks uniqueness
  bool erase(const Value& key);

 private:
  int64_t position(const Value& key) const;  // index into entries, or -1
  void syncIndex() const;
  // Open addressing: each slot is (hash << 32) | (entry position + 1), 0 when empty. It
  // covers entries [0, indexed_); empty while the dict is small.
  mutable std::vector<uint64_t> index_;
  mutable size_t indexed_ = 0;
};

// A class: an immutable record type with a keyword constructor and methods.
struct ClassObj : Object {
  std::string name;
  SourceLoc loc;
  std::vector<std::string> fields;
  std::vector<Value> defaults;       // per field (None where hasDefault is false)
  std::vector<bool> hasDefault;
  std::vector<std::pair<std::string, Value>> methods;  // closures taking self first
  ClassObj() : Object(VKind::Class) {}
  int fieldIndex(const std::string& f) const;   // -1 if absent
  const Value* method(const std::string& m) const;
};
struct RecordObj : Object {
  Value cls;  // a ClassObj
  std::vector<Value> fields;
  RecordObj() : Object(VKind::Record) {}
  ClassObj* classObj() const { return cls.as<ClassObj>(); }
};

// A closure: a graph and the values of its free variables, captured when it was created.
struct ClosureObj : Object {
  const ir::Graph* graph = nullptr;
  std::vector<Value> captured;  // in the order of the graph's free-variable list
  std::vector<Value> defaults;  // per parameter (Undef where it has none)
  // Autodiff (docs/autodiff.md, higher order): the J expansion whose differentiated code
  // made this closure (0: none), and for a closure of J(J(g)) the inner expansion.
  uint32_t jworld = 0, jinner = 0;
  // Made by jit(f): calls run compiled code even in eager mode (runtime/GraphMode.h).
  bool jit = false;
  // jit(f, static_argnums=...): bit k = parameter k is static (its value is part of the
  // specialisation key, ir/Specialize.h).
  uint64_t staticArgs = 0;
  ClosureObj() : Object(VKind::Closure) {}
};
struct BoundMethodObj : Object { Value self, func; std::string name; BoundMethodObj() : Object(VKind::BoundMethod) {} };
// partial(f, *args, **kw)
struct PartialObj : Object {
  Value func;
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
  PartialObj() : Object(VKind::Partial) {}
};
struct SliceObj : Object { Value lower, upper, step; SliceObj() : Object(VKind::Slice) {} };
struct EllipsisObj : Object { EllipsisObj() : Object(VKind::Ellipsis) {} };
// range(start, stop, step): lazy, indexable.
struct RangeObj : Object {
  int64_t start = 0, stop = 0, step = 1;
  RangeObj() : Object(VKind::Range) {}
  int64_t length() const;
};
// An exception value made by ValueError("...") etc., for `raise`.
struct ExceptionObj : Object { std::string type, message; ExceptionObj() : Object(VKind::Exception) {} };
// A loaded module: its IR and the global ids of its names.
struct ModuleObj : Object {
  const void* irModule = nullptr;  // ir::Module*
  std::string name;
  ModuleObj() : Object(VKind::Module) {}
};

// Constructors.
Value makeStr(std::string s);
Value makeTensor(Tensor t);
Value makeTuple(std::vector<Value> items);
Value makeList(std::vector<Value> items);
Value makeDict();
Value makeSlice(Value lower, Value upper, Value step);
Value makeEllipsis();
Value makeRange(int64_t start, int64_t stop, int64_t step);

// Python semantics helpers shared by the interpreter and builtins.
bool valueEquals(const Value& a, const Value& b);  // ==, structural; tensors: identity
size_t valueHash(const Value& v);                  // for hashable keys; else TypeError

}  // namespace msl
