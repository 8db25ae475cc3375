// Abstract values: what type and shape inference (ir/Infer) knows about the value of a node.
//
// Every abstract value is interned (hash-consed): two abstract values are equal exactly
// when their pointers are equal, so they can be compared, hashed and used as keys
// (specialisation signatures, ir/Specialize) by pointer. They live as long as the process.
//
// The lattice, from most to least precise:
//   Bottom        no value: the node raises, or is never reached
//   constants     Bool/Int/Float/Str/DType with a known value; an Int may instead hold a
//                 symbolic value (a dimension, as `n = x.shape[0]` gives)
//   types         Bool, Int, Float (Python scalars), Str, DType, None, Token, Tensor
//                 {dtype, shape}, containers with element abstracts, records, callables
//   Any           nothing is known
// A Tensor may leave its dtype or its rank unknown; each dimension is a `Dim`: a static
// size or a symbol. `join` is the least upper bound, except that where two static
// dimensions differ it introduces a symbol (from a SymbolSupply when the caller needs the
// same symbol on every run, as fixpoint iterations do). `Undef` (a variable not assigned on
// some path) joins into the other value: reads of such variables are guarded by
// check_bound, which raises on the marker itself.
//
// The text form (`toString`) is what --emit=ir shows after each node:
//   f32[2,3]  f32[?1,784]  f32[...] (rank unknown)  Tensor[2] (dtype unknown)
//   i64  i64=3  i64=?1  f64  bool=True  str='relu'  dtype=f32  None  state
//   (i64, str)  (f32[3], ...) (a tuple of unknown length)  [i64, ...]  {'w': f32[3]}
//   Dense{w: f32[784,256], b: f32[256]}  class Dense  function f  prim add  Any  Bottom
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ir/Prim.h"
#include "ir/Source.h"
#include "runtime/DType.h"

namespace msl::ir {

class Graph;
class Module;
struct GlobalVar;
struct ClassInfo;

// A tensor dimension: a static size (>= 0) or a symbol standing for a size known only at
// run time. Equal symbols denote equal sizes; different symbols may or may not be equal.
class Dim {
 public:
  constexpr Dim() = default;
  static constexpr Dim of(int64_t n) { Dim d; d.v_ = n; return d; }
  static Dim symbol(uint32_t id) { Dim d; d.v_ = -1 - (int64_t)id; return d; }
  // A new symbol, distinct from every other in the process.
  static Dim fresh();
  bool isStatic() const { return v_ >= 0; }
  bool isSymbol() const { return v_ < 0; }
  int64_t size() const { return v_; }                 // static dimensions only
  uint32_t symbolId() const { return (uint32_t)(-1 - v_); }  // symbols only
  bool operator==(const Dim& o) const { return v_ == o.v_; }
  bool operator!=(const Dim& o) const { return v_ != o.v_; }
  std::string str() const;  // "3" or "?7"
  int64_t raw() const { return v_; }  // for hashing

 private:
  int64_t v_ = 0;
};
using Dims = std::vector<Dim>;
// "(2, 3)", "(5,)", "()", "(?1, 3)": shapes as messages print them (runtime/Tensor.h shapeStr).
std::string dimsStr(const Dims& d);

// The symbols a sequence of joins introduces, kept so that repeating the same joins (the
// iterations of a fixpoint) yields the same symbols. restart() begins a new round.
class SymbolSupply {
 public:
  Dim next();
  void restart() { pos_ = 0; }

 private:
  std::vector<Dim> syms_;
  size_t pos_ = 0;
};

enum class AKind : uint8_t {
  Any, Bottom, Undef, None, Bool, Int, Float, Str, DType, Tensor, Tuple, List, Dict,
  Record, Class, Function, Prim, Partial, BoundMethod, Union, Module, Token, Slice,
  Ellipsis, Range, Exception, Global, ClassDecl,
};
const char* akindName(AKind k);

// One abstract value. Build them only with the factories below (they intern); the fields
// used depend on `kind`, as listed.
struct Abstract {
  AKind kind = AKind::Any;
  uint32_t serial = 0;  // creation order: a stable order for unions and printing
  // Derived when interned (not part of the identity): somewhere inside there is a
  // bool/int/float constant or symbolic int; a Function.
  bool hasScalarValues = false;
  bool hasFunctions = false;

  // Bool/Int/Float/Str/DType: `known` says the value is known (b, i, f, s, dtype).
  // Int: `symbolic` instead says the value is the run-time size `sym`.
  bool known = false;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;            // also: Class name, Exception type ("" = unknown)
  DType dtype = DType::F32;  // also: Tensor element type when dtypeKnown
  bool symbolic = false;
  Dim sym;

  // Tensor: element type and shape, each possibly unknown.
  bool dtypeKnown = false;
  bool rankKnown = false;
  Dims shape;

  // Tuple/List: `elems` are the items, or with `homogeneous` elems[0] is the abstract of
  // every item of a sequence of unknown length. Dict: string keys `names` with values
  // `elems`, or with `homogeneous` elems = {key, value}. Record: field values (names from
  // the class `ref`). Function: captured free-variable values. Partial: bound arguments,
  // the last names.size() of them by keyword. BoundMethod: {self}. Union: the members.
  // Slice: {lower, upper, step}. Range: {start, stop, step}. Class: field defaults
  // (nullptr where a field has none).
  bool homogeneous = false;
  std::vector<const Abstract*> elems;
  std::vector<std::string> names;  // Dict keys, Class fields, Partial keyword names
  const Abstract* ref = nullptr;   // Record: its Class; Partial, BoundMethod: the function

  // Function: the graph and the defaults captured at creation (per parameter, nullptr
  // where none). Class: its methods by name.
  const Graph* graph = nullptr;
  std::vector<const Abstract*> defaults;
  std::vector<std::string> methodNames;
  std::vector<const Abstract*> methods;

  msl::Prim prim = msl::Prim::MakeTuple;  // Prim
  const ir::Module* module = nullptr;     // Module
  const GlobalVar* global = nullptr;      // Global (a module-level variable slot constant)
  const ClassInfo* classInfo = nullptr;   // ClassDecl (the class constant of make_class)
  SourceLoc loc;                          // Class: where it is declared

  // ---- factories (interned)
  static const Abstract* any();
  static const Abstract* bottom();
  static const Abstract* undef();
  static const Abstract* none();
  static const Abstract* token();
  static const Abstract* ellipsis();
  static const Abstract* boolean();
  static const Abstract* boolConst(bool v);
  static const Abstract* integer();
  static const Abstract* intConst(int64_t v);
  // An int equal to dimension d: a constant when d is static, symbolic otherwise.
  static const Abstract* intDim(Dim d);
  static const Abstract* real();
  static const Abstract* floatConst(double v);
  static const Abstract* str();
  static const Abstract* strConst(const std::string& v);
  static const Abstract* dtypeAny();
  static const Abstract* dtypeConst(DType d);
  static const Abstract* tensor(DType dt, Dims shape);
  // A tensor with dtype and/or rank unknown (nullptr / false).
  static const Abstract* tensorOf(const DType* dt, const Dims* shape);
  static const Abstract* tuple(std::vector<const Abstract*> items);
  static const Abstract* tupleOf(const Abstract* item);  // unknown length
  static const Abstract* list(std::vector<const Abstract*> items);
  static const Abstract* listOf(const Abstract* item);   // unknown length
  static const Abstract* dict(std::vector<std::string> keys, std::vector<const Abstract*> values);
  static const Abstract* dictOf(const Abstract* key, const Abstract* value);
  static const Abstract* classType(const std::string& name, SourceLoc loc, std::vector<std::string> fields,
                                   std::vector<const Abstract*> fieldDefaults,
                                   std::vector<std::string> methodNames, std::vector<const Abstract*> methods);
  static const Abstract* record(const Abstract* cls, std::vector<const Abstract*> fields);
  static const Abstract* function(const Graph* g, std::vector<const Abstract*> captured,
                                  std::vector<const Abstract*> defaults);
  static const Abstract* primitive(msl::Prim p);
  static const Abstract* partial(const Abstract* fn, std::vector<const Abstract*> args,
                                 std::vector<std::string> kwnames);
  static const Abstract* boundMethod(const Abstract* self, const Abstract* fn);
  // The union of callables (flattened; one member per identity; Any beyond a bound).
  static const Abstract* unionOf(std::vector<const Abstract*> members);
  static const Abstract* moduleRef(const ir::Module* m);
  static const Abstract* slice(const Abstract* lower, const Abstract* upper, const Abstract* step);
  static const Abstract* range(const Abstract* start, const Abstract* stop, const Abstract* step);
  static const Abstract* exception(const std::string& type);
  static const Abstract* globalSlot(const GlobalVar* g);
  static const Abstract* classDecl(const ClassInfo* c);

  // ---- queries
  bool is(AKind k) const { return kind == k; }
  bool isAny() const { return kind == AKind::Any; }
  bool isBottom() const { return kind == AKind::Bottom; }
  bool isTensor() const { return kind == AKind::Tensor; }
  bool isSequence() const { return kind == AKind::Tuple || kind == AKind::List; }
  // Python numbers (bool, int, float), the weakly typed scalars of tensor arithmetic.
  bool isNumber() const { return kind == AKind::Bool || kind == AKind::Int || kind == AKind::Float; }
  bool isCallable() const;
  int rank() const { return (int)shape.size(); }  // tensors with rankKnown
  // Static number of elements of a tensor, or -1.
  int64_t staticNumel() const;
  // Python-style type name for messages: "int", "Tensor", "tuple", a class name.
  std::string typeName() const;
  // For Record: the index of field `name`, or -1.
  int fieldIndex(const std::string& name) const;
  // For Class: the method `name`, or nullptr.
  const Abstract* method(const std::string& name) const;
};

std::string toString(const Abstract* a);

// Least upper bound (see the header comment). `syms` supplies the symbols of widened
// dimensions; without it they are fresh.
const Abstract* join(const Abstract* a, const Abstract* b, SymbolSupply* syms = nullptr);

// The abstraction of a value at a function boundary and in specialisation signatures:
// Python bool/int/float are dynamic, so their constants (and symbolic int values) are
// dropped, everywhere inside containers, records and closures too. Strings, dtypes, None,
// functions and the shapes of tensors stay (LANGUAGE.md section 4).
const Abstract* dynamicScalars(const Abstract* a);

// `a` with every Function's graph replaced by map(graph) (e.g. clone <-> original).
const Abstract* mapGraphs(const Abstract* a, const std::function<const Graph*(const Graph*)>& map);

// The abstract of the item a `for` loop over `a` produces, or nullptr when `a` is
// definitely not iterable.
const Abstract* iterItem(const Abstract* a);

}  // namespace msl::ir
