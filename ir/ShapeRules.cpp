#include "ir/ShapeRules.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "ir/IR.h"

namespace msl::ir {

RuleResult RuleResult::fail(DiagId id, const std::vector<std::string>& args) {
  RuleResult r;
  r.value = Abstract::bottom();
  r.failed = true;
  r.error.id = id;
  r.error.message = diagText(id, args);
  return r;
}

namespace {

using A = const Abstract*;
using Vec = std::vector<A>;
using OptDims = std::optional<Dims>;
using OptDType = std::optional<DType>;

// A definite error found inside a rule; inferPrim turns it into a failed RuleResult.
struct Failure {
  DiagId id;
  std::vector<std::string> args;
};
[[noreturn]] void fail(DiagId id, std::vector<std::string> args) { throw Failure{id, std::move(args)}; }

A any() { return Abstract::any(); }
A bottom() { return Abstract::bottom(); }
std::string plural(int64_t n) { return n == 1 ? "" : "s"; }

// ------------------------------------------------------------------ scalar helpers

bool constInt(A a, int64_t* v) {
  if (a->is(AKind::Int) && a->known) { *v = a->i; return true; }
  if (a->is(AKind::Bool) && a->known) { *v = a->b; return true; }
  return false;
}

bool constNumber(A a, double* v) {
  int64_t i;
  if (constInt(a, &i)) { *v = (double)i; return true; }
  if (a->is(AKind::Float) && a->known) { *v = a->f; return true; }
  return false;
}

bool constStr(A a, std::string* s) {
  if (!a->is(AKind::Str) || !a->known) return false;
  *s = a->s;
  return true;
}

// The dimension an int argument stands for (a constant, a symbolic int, or a new symbol).
Dim dimOfInt(A a, RuleHost& h) {
  int64_t v;
  if (constInt(a, &v) && v >= 0) return Dim::of(v);
  if (a->is(AKind::Int) && a->symbolic) return a->sym;
  return h.freshDim();
}

std::optional<WeakKind> weakKind(A a) {
  switch (a->kind) {
    case AKind::Bool: return WeakKind::Bool;
    case AKind::Int: return WeakKind::Int;
    case AKind::Float: return WeakKind::Float;
    default: return std::nullopt;
  }
}

DType defaultDType(WeakKind k) {
  switch (k) {
    case WeakKind::Bool: return DType::Bool;
    case WeakKind::Int: return kDefaultInt;
    case WeakKind::Float: return kDefaultFloat;
  }
  return kDefaultFloat;
}

// A dtype argument: a dtype value, or int/float/bool standing for their default dtype.
OptDType dtypeArg(A a) {
  if (a->is(AKind::DType) && a->known) return a->dtype;
  if (a->is(AKind::Prim)) {
    if (a->prim == Prim::BoolNew) return DType::Bool;
    if (a->prim == Prim::IntNew) return kDefaultInt;
    if (a->prim == Prim::FloatNew) return kDefaultFloat;
  }
  return std::nullopt;
}

// ------------------------------------------------------------------ tensor helpers

OptDType dtypeOf(A t) { return t->dtypeKnown ? OptDType(t->dtype) : std::nullopt; }
OptDims dimsOf(A t) { return t->rankKnown ? OptDims(t->shape) : std::nullopt; }
A tensorOpt(OptDType dt, OptDims d) { return Abstract::tensorOf(dt ? &*dt : nullptr, d ? &*d : nullptr); }
A anyTensor() { return tensorOpt(std::nullopt, std::nullopt); }

int normAxis(int64_t axis, int ndim) {
  if (axis < -ndim || axis >= ndim) fail(DiagId::BadAxis, {std::to_string(axis), std::to_string(ndim), plural(ndim)});
  return (int)(axis < 0 ? axis + ndim : axis);
}

// The tensor that nested data (numbers, lists, tuples, tensors) becomes; nullptr when it
// cannot become one.
A dataTensor(A a, int depth, RuleHost& h) {
  if (auto k = weakKind(a)) return Abstract::tensor(defaultDType(*k), {});
  switch (a->kind) {
    case AKind::Tensor: return a;
    case AKind::Any: return anyTensor();
    case AKind::Tuple:
    case AKind::List: break;
    default: return nullptr;
  }
  if (a->homogeneous) {
    A item = dataTensor(a->elems[0], depth + 1, h);
    if (!item) return nullptr;
    OptDims d = dimsOf(item);
    if (d) d->insert(d->begin(), h.freshDim());
    return tensorOpt(dtypeOf(item), d);
  }
  if (a->elems.empty()) return Abstract::tensor(kDefaultFloat, {Dim::of(0)});
  OptDType dt;
  OptDims inner;
  bool dtUnknown = false, rankUnknown = false;
  for (size_t k = 0; k < a->elems.size(); ++k) {
    A item = dataTensor(a->elems[k], depth + 1, h);
    if (!item) return nullptr;
    if (!item->dtypeKnown) dtUnknown = true;
    else dt = dt ? promote(*dt, item->dtype) : item->dtype;
    if (!item->rankKnown) { rankUnknown = true; continue; }
    if (!inner) { inner = item->shape; continue; }
    if (inner->size() != item->shape.size()) fail(DiagId::RaggedData, {std::to_string(depth + 1)});
    for (size_t j = 0; j < inner->size(); ++j) {
      Dim x = (*inner)[j], y = item->shape[j];
      if (x == y) continue;
      if (x.isStatic() && y.isStatic()) fail(DiagId::RaggedData, {std::to_string(depth + 1)});
      (*inner)[j] = h.freshDim();
    }
  }
  OptDims d;
  if (!rankUnknown && inner) {
    d = Dims{Dim::of((int64_t)a->elems.size())};
    d->insert(d->end(), inner->begin(), inner->end());
  }
  return tensorOpt(dtUnknown ? std::nullopt : dt, d);
}

// What a tensor argument becomes (runtime argTensor); nullptr when it cannot.
A asTensor(A a, RuleHost& h) { return dataTensor(a, 0, h); }

// NumPy broadcasting of two shapes. A symbol against 1 stays; against a static size it
// becomes that size (the run time checks); two different symbols give a new one.
OptDims broadcast(const OptDims& a, const OptDims& b, const std::string& op, RuleHost& h) {
  if (!a || !b) return std::nullopt;
  size_t n = std::max(a->size(), b->size());
  Dims out(n);
  for (size_t k = 0; k < n; ++k) {
    Dim x = k < n - a->size() ? Dim::of(1) : (*a)[k - (n - a->size())];
    Dim y = k < n - b->size() ? Dim::of(1) : (*b)[k - (n - b->size())];
    if (x == y) out[k] = x;
    else if (x == Dim::of(1)) out[k] = y;
    else if (y == Dim::of(1)) out[k] = x;
    else if (x.isStatic() && y.isStatic()) fail(DiagId::ShapeMismatch, {dimsStr(*a), dimsStr(*b), op});
    else if (x.isStatic()) out[k] = x;
    else if (y.isStatic()) out[k] = y;
    else out[k] = h.freshDim();
  }
  return out;
}

// ------------------------------------------------------------------ elementwise

const char* opSymbol(Prim p) {
  const char* op = primOperator(p);
  return op ? op : primName(p);
}

bool isComparison(Prim p) {
  return p == Prim::Eq || p == Prim::Ne || p == Prim::Lt || p == Prim::Le || p == Prim::Gt || p == Prim::Ge;
}

// An operand of a tensor operation: a tensor, or a weakly typed Python scalar (0-d).
struct Operand {
  A t = nullptr;
  std::optional<WeakKind> weak;
};

bool operandOf(A a, Operand* o, RuleHost& h) {
  o->weak = weakKind(a);
  o->t = asTensor(a, h);
  return o->t != nullptr;
}

// Result dtype of `a op b` (runtime binaryResultType).
OptDType binaryDType(Prim op, const Operand& a, const Operand& b) {
  if (isComparison(op)) return DType::Bool;
  OptDType d;
  if (a.weak && b.weak) d = defaultDType(std::max(*a.weak, *b.weak));
  else if (a.weak) d = b.t->dtypeKnown ? OptDType(promoteWeak(b.t->dtype, *a.weak)) : std::nullopt;
  else if (b.weak) d = a.t->dtypeKnown ? OptDType(promoteWeak(a.t->dtype, *b.weak)) : std::nullopt;
  else if (a.t->dtypeKnown && b.t->dtypeKnown) d = promote(a.t->dtype, b.t->dtype);
  if (op == Prim::Div && d && !isFloat(*d)) d = kDefaultFloat;
  return d;
}

A elementwise(Prim op, const std::string& name, A x, A y, RuleHost& h) {
  Operand a, b;
  if (!operandOf(x, &a, h) || !operandOf(y, &b, h)) return any();
  return tensorOpt(binaryDType(op, a, b), broadcast(dimsOf(a.t), dimsOf(b.t), name, h));
}

A matmul(A x, A y, RuleHost& h) {
  A a = asTensor(x, h), b = asTensor(y, h);
  if (!a || !b) return any();
  OptDType dt = a->dtypeKnown && b->dtypeKnown ? OptDType(promote(a->dtype, b->dtype)) : std::nullopt;
  if (!a->rankKnown || !b->rankKnown || a->rank() == 0 || b->rank() == 0) return tensorOpt(dt, std::nullopt);
  Dims da = a->shape, db = b->shape;
  bool aVec = da.size() == 1, bVec = db.size() == 1;
  if (aVec) da.insert(da.begin(), Dim::of(1));
  if (bVec) db.push_back(Dim::of(1));
  Dim k1 = da.back(), k2 = db[db.size() - 2];
  if (k1 != k2 && k1.isStatic() && k2.isStatic())
    fail(DiagId::MatmulShapes, {dimsStr(a->shape), dimsStr(b->shape), k1.str(), k2.str()});
  Dims ba(da.begin(), da.end() - 2), bb(db.begin(), db.end() - 2);
  Dims out = *broadcast(ba, bb, "matmul", h);
  if (!aVec) out.push_back(da[da.size() - 2]);
  if (!bVec) out.push_back(db.back());
  return tensorOpt(dt, out);
}

// Elementwise unary functions on a tensor (or anything tensor() accepts).
enum class UnaryDType { Keep, Float, Bool };
A unary(A x, UnaryDType kind, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  OptDType dt = dtypeOf(t);
  if (kind == UnaryDType::Bool) dt = DType::Bool;
  else if (kind == UnaryDType::Float && dt && !isFloat(*dt)) dt = kDefaultFloat;
  return tensorOpt(dt, dimsOf(t));
}

// ------------------------------------------------------------------ Python-level arithmetic

int numberRank(A a) { return a->is(AKind::Bool) ? 0 : a->is(AKind::Int) ? 1 : 2; }

bool plainHostValue(A a) {
  switch (a->kind) {
    case AKind::None: case AKind::Bool: case AKind::Int: case AKind::Float: case AKind::Str:
    case AKind::Tuple: case AKind::List: case AKind::Dict:
      return true;
    default:
      return false;
  }
}

A foldInt(Prim op, int64_t x, int64_t y) {
  int64_t r;
  switch (op) {
    case Prim::Add: if (__builtin_add_overflow(x, y, &r)) return Abstract::integer(); return Abstract::intConst(r);
    case Prim::Sub: if (__builtin_sub_overflow(x, y, &r)) return Abstract::integer(); return Abstract::intConst(r);
    case Prim::Mul: if (__builtin_mul_overflow(x, y, &r)) return Abstract::integer(); return Abstract::intConst(r);
    case Prim::FloorDiv:
      if (y == 0 || (x == INT64_MIN && y == -1)) return Abstract::integer();
      r = x / y;
      if ((x % y != 0) && ((x < 0) != (y < 0))) --r;
      return Abstract::intConst(r);
    case Prim::Mod:
      if (y == 0 || (x == INT64_MIN && y == -1)) return Abstract::integer();
      r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) r += y;
      return Abstract::intConst(r);
    case Prim::Eq: return Abstract::boolConst(x == y);
    case Prim::Ne: return Abstract::boolConst(x != y);
    case Prim::Lt: return Abstract::boolConst(x < y);
    case Prim::Le: return Abstract::boolConst(x <= y);
    case Prim::Gt: return Abstract::boolConst(x > y);
    case Prim::Ge: return Abstract::boolConst(x >= y);
    default: return Abstract::integer();
  }
}

A numberArith(Prim op, A x, A y) {
  int rank = std::max(numberRank(x), numberRank(y));
  int64_t a, b;
  bool folds = constInt(x, &a) && constInt(y, &b);
  if (isComparison(op)) return folds ? foldInt(op, a, b) : Abstract::boolean();
  switch (op) {
    case Prim::Add: case Prim::Sub: case Prim::Mul: case Prim::FloorDiv: case Prim::Mod:
      if (rank == 2) return Abstract::real();
      return folds ? foldInt(op, a, b) : Abstract::integer();
    case Prim::Div: return Abstract::real();
    case Prim::Pow:
      if (rank == 2) return Abstract::real();
      return constInt(y, &b) && b >= 0 ? Abstract::integer() : any();
    case Prim::BitAnd: case Prim::BitOr: case Prim::BitXor:
      if (rank == 2) fail(DiagId::BadOperandTypes, {opSymbol(op), x->typeName(), y->typeName()});
      return rank == 0 ? Abstract::boolean() : Abstract::integer();
    default: return any();
  }
}

A concatSequences(A x, A y) {
  bool list = x->is(AKind::List);
  if (!x->homogeneous && !y->homogeneous) {
    Vec e = x->elems;
    e.insert(e.end(), y->elems.begin(), y->elems.end());
    return list ? Abstract::list(e) : Abstract::tuple(e);
  }
  A item = join(iterItem(x), iterItem(y));
  return list ? Abstract::listOf(item) : Abstract::tupleOf(item);
}

A repeatSequence(A seq, A count) {
  int64_t n;
  bool list = seq->is(AKind::List);
  if (!seq->homogeneous && constInt(count, &n) && n >= 0 && (int64_t)seq->elems.size() * n <= 64) {
    Vec e;
    for (int64_t k = 0; k < n; ++k) e.insert(e.end(), seq->elems.begin(), seq->elems.end());
    return list ? Abstract::list(e) : Abstract::tuple(e);
  }
  A item = iterItem(seq);
  return list ? Abstract::listOf(item) : Abstract::tupleOf(item);
}

A hostEquality(Prim op, A x, A y) {
  bool eq;
  if (x->is(AKind::None) || y->is(AKind::None)) {
    if (!plainHostValue(x) || !plainHostValue(y)) return Abstract::boolean();
    eq = x->kind == y->kind;
  } else if (x->is(AKind::Str) && y->is(AKind::Str) && x->known && y->known) {
    eq = x->s == y->s;
  } else if (x->is(AKind::DType) && y->is(AKind::DType) && x->known && y->known) {
    eq = x->dtype == y->dtype;  // (`p.dtype == f32` of optim's is_param)
  } else {
    return Abstract::boolean();
  }
  return Abstract::boolConst(op == Prim::Eq ? eq : !eq);
}

// isinstance(x, cls) for the built-in types (runtime/HostPrims.cpp instanceOf) where x's
// kind is known: e.g. `isinstance(p, Tensor)` of a tensor is True.
A isinstanceRule(A x, A cls) {
  if (!cls->is(AKind::Prim)) return Abstract::boolean();
  AKind k = x->kind;
  switch (k) {
    case AKind::None: case AKind::Bool: case AKind::Int: case AKind::Float: case AKind::Str: case AKind::DType:
    case AKind::Tensor: case AKind::Tuple: case AKind::List: case AKind::Dict: case AKind::Record: break;
    default: return Abstract::boolean();
  }
  switch (cls->prim) {
    case Prim::IntNew: return Abstract::boolConst(k == AKind::Int || k == AKind::Bool);  // bool is an int
    case Prim::FloatNew: return Abstract::boolConst(k == AKind::Float);
    case Prim::StrNew: return Abstract::boolConst(k == AKind::Str);
    case Prim::BoolNew: return Abstract::boolConst(k == AKind::Bool);
    case Prim::ListNew: return Abstract::boolConst(k == AKind::List);
    case Prim::TupleNew: return Abstract::boolConst(k == AKind::Tuple);
    case Prim::DictNew: return Abstract::boolConst(k == AKind::Dict);
    case Prim::TensorNew: return Abstract::boolConst(k == AKind::Tensor);
    default: return Abstract::boolean();
  }
}

// Values a tensor operator accepts besides tensors: Python numbers (runtime/Arith.cpp).
bool tensorOperand(A a) { return a->isTensor() || a->isNumber(); }

[[noreturn]] void badOperands(Prim op, A x, A y) {
  fail(DiagId::BadOperandTypes, {opSymbol(op), x->typeName(), y->typeName()});
}

// + - * / // % ** @ & | ^ and comparisons on any values.
A binary(Prim op, A x, A y, RuleHost& h) {
  if (x->isAny() || y->isAny()) return any();
  bool plain = (plainHostValue(x) || x->isTensor()) && (plainHostValue(y) || y->isTensor());
  if (op == Prim::MatMul) {
    auto operand = [](A a) { return a->isTensor() || a->isSequence(); };
    if (operand(x) && operand(y)) return matmul(x, y, h);
    if (plain) badOperands(op, x, y);
    return any();
  }
  if (x->isNumber() && y->isNumber()) {
    if (x->is(AKind::Float) && y->is(AKind::Float) && x->known && y->known) {
      switch (op) {
        case Prim::Add: return Abstract::floatConst(x->f + y->f);
        case Prim::Sub: return Abstract::floatConst(x->f - y->f);
        case Prim::Mul: return Abstract::floatConst(x->f * y->f);
        default: break;
      }
    }
    return numberArith(op, x, y);
  }
  if (x->isTensor() || y->isTensor()) {
    if (tensorOperand(x) && tensorOperand(y)) return elementwise(op, opSymbol(op), x, y, h);
    // A tensor and another value: == and != compare identity; the rest is an error.
    if (op == Prim::Eq || op == Prim::Ne) return Abstract::boolConst(op == Prim::Ne);
    if (plain) badOperands(op, x, y);
    return any();
  }
  if (op == Prim::Eq || op == Prim::Ne) return hostEquality(op, x, y);
  if (isComparison(op)) {
    if ((x->is(AKind::Str) && y->is(AKind::Str)) || (x->isSequence() && x->kind == y->kind)) return Abstract::boolean();
    if (plain) badOperands(op, x, y);
    return any();
  }
  auto intLike = [](A a) { return a->is(AKind::Int) || a->is(AKind::Bool); };
  switch (op) {
    case Prim::Add:
      if (x->is(AKind::Str) && y->is(AKind::Str))
        return x->known && y->known ? Abstract::strConst(x->s + y->s) : Abstract::str();
      if (x->isSequence() && x->kind == y->kind) return concatSequences(x, y);
      break;
    case Prim::Mul:
      if (x->is(AKind::Str) && intLike(y)) return Abstract::str();
      if (intLike(x) && y->is(AKind::Str)) return Abstract::str();
      if (x->isSequence() && intLike(y)) return repeatSequence(x, y);
      if (intLike(x) && y->isSequence()) return repeatSequence(y, x);
      break;
    default:
      break;
  }
  if (plain) badOperands(op, x, y);
  return any();
}

A unaryOperator(Prim op, A x) {
  if (x->isTensor()) return x;
  int64_t v;
  switch (x->kind) {
    case AKind::Bool:
    case AKind::Int:
      if (op == Prim::Pos && x->is(AKind::Int)) return x;
      if (constInt(x, &v) && v != INT64_MIN)
        return Abstract::intConst(op == Prim::Neg ? -v : op == Prim::Invert ? ~v : v);
      return Abstract::integer();
    case AKind::Float:
      if (op == Prim::Invert) fail(DiagId::BadOperandType, {"unary ~", "float"});
      return x->known && op == Prim::Neg ? Abstract::floatConst(-x->f) : Abstract::real();
    case AKind::Any: return any();
    default:
      if (plainHostValue(x))
        fail(DiagId::BadOperandType, {op == Prim::Neg ? "unary -" : op == Prim::Pos ? "unary +" : "unary ~", x->typeName()});
      return any();
  }
}

// ------------------------------------------------------------------ reductions

// The axes `axis` selects (None: all; an int; a tuple of ints), normalised; nullopt when
// not constant.
std::optional<std::vector<int>> axesOf(A axis, int ndim) {
  std::vector<int> out;
  int64_t v;
  if (axis->is(AKind::None)) {
    for (int k = 0; k < ndim; ++k) out.push_back(k);
    return out;
  }
  if (constInt(axis, &v)) return std::vector<int>{normAxis(v, ndim)};
  if (axis->isSequence() && !axis->homogeneous) {
    for (A e : axis->elems) {
      if (!constInt(e, &v)) return std::nullopt;
      out.push_back(normAxis(v, ndim));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }
  return std::nullopt;
}

enum class RedDType { Keep, Sum, Float, Bool, Index };

OptDType reducedDType(OptDType dt, RedDType kind) {
  switch (kind) {
    case RedDType::Keep: return dt;
    case RedDType::Sum: return dt && !isFloat(*dt) ? OptDType(DType::I64) : dt;
    case RedDType::Float: return dt && !isFloat(*dt) ? OptDType(kDefaultFloat) : dt;
    case RedDType::Bool: return DType::Bool;
    case RedDType::Index: return DType::I64;
  }
  return dt;
}

A reduce(A x, A axis, A keepdims, RedDType kind, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  OptDType dt = reducedDType(dtypeOf(t), kind);
  if (!t->rankKnown || !keepdims->is(AKind::Bool) || !keepdims->known) return tensorOpt(dt, std::nullopt);
  auto axes = axesOf(axis, t->rank());
  if (!axes) return tensorOpt(dt, std::nullopt);
  Dims out;
  for (int k = 0; k < t->rank(); ++k) {
    bool reduced = std::find(axes->begin(), axes->end(), k) != axes->end();
    if (!reduced) out.push_back(t->shape[k]);
    else if (keepdims->b) out.push_back(Dim::of(1));
  }
  return tensorOpt(dt, out);
}

// argmax/argmin: axis None reduces the flattened tensor.
A argReduce(A x, A axis, A keepdims, RuleHost& h) {
  if (!axis->is(AKind::None) && !axis->is(AKind::Int) && !axis->isAny()) return any();
  return reduce(x, axis, keepdims, RedDType::Index, h);
}

A cumsum(A x, A axis, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  OptDType dt = reducedDType(dtypeOf(t), RedDType::Sum);
  if (!t->rankKnown) return tensorOpt(dt, std::nullopt);
  int64_t a;
  if (axis->is(AKind::None)) {
    int64_t n = t->staticNumel();
    return tensorOpt(dt, Dims{n >= 0 ? Dim::of(n) : t->rank() == 1 ? t->shape[0] : h.freshDim()});
  }
  if (constInt(axis, &a)) normAxis(a, t->rank());
  return tensorOpt(dt, t->shape);
}

A softmax(A x, A axis, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  int64_t a;
  if (t->rankKnown && constInt(axis, &a)) normAxis(a, t->rank());
  return tensorOpt(reducedDType(dtypeOf(t), RedDType::Float), dimsOf(t));
}

// ------------------------------------------------------------------ shapes

// The entries of a shape argument: an int, or a tuple/list of ints.
std::optional<std::vector<A>> shapeItems(A shape) {
  if (shape->is(AKind::Int) || shape->is(AKind::Bool)) return std::vector<A>{shape};
  if (shape->isSequence() && !shape->homogeneous) {
    for (A e : shape->elems)
      if (!e->is(AKind::Int) && !e->is(AKind::Bool) && !e->isAny()) return std::nullopt;
    return shape->elems;
  }
  return std::nullopt;
}

OptDims shapeArg(A shape, RuleHost& h) {
  auto items = shapeItems(shape);
  if (!items) return std::nullopt;
  Dims d;
  for (A e : *items) d.push_back(dimOfInt(e, h));
  return d;
}

// The product of the static dimensions and the symbols (sorted), for matching sizes.
void factor(const Dims& d, int64_t* prod, std::vector<int64_t>* syms) {
  *prod = 1;
  for (Dim x : d) {
    if (x.isStatic()) *prod *= x.size();
    else syms->push_back(x.raw());
  }
  std::sort(syms->begin(), syms->end());
}

std::string requestedShape(const std::vector<A>& items) {
  std::string s = "(";
  for (size_t k = 0; k < items.size(); ++k) {
    if (k) s += ", ";
    int64_t v;
    if (constInt(items[k], &v)) s += std::to_string(v);
    else if (items[k]->is(AKind::Int) && items[k]->symbolic) s += items[k]->sym.str();
    else s += "?";
  }
  if (items.size() == 1) s += ",";
  return s + ")";
}

A reshape(A x, A shapeTuple, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  A shape = shapeTuple;
  if (shapeTuple->is(AKind::Tuple) && !shapeTuple->homogeneous && shapeTuple->elems.size() == 1 &&
      shapeTuple->elems[0]->isSequence())
    shape = shapeTuple->elems[0];
  auto items = shapeItems(shape);
  if (!items) return tensorOpt(dtypeOf(t), std::nullopt);
  Dims out;
  int minusOne = -1;
  for (size_t k = 0; k < items->size(); ++k) {
    int64_t v;
    if (constInt((*items)[k], &v) && v == -1 && minusOne < 0) {
      minusOne = (int)k;
      out.push_back(Dim::of(0));
    } else {
      out.push_back(dimOfInt((*items)[k], h));
    }
  }
  if (!t->rankKnown) {
    if (minusOne >= 0) out[minusOne] = h.freshDim();
    return tensorOpt(dtypeOf(t), out);
  }
  Dims known = out;
  if (minusOne >= 0) known.erase(known.begin() + minusOne);
  int64_t inProd, outProd;
  std::vector<int64_t> inSyms, outSyms;
  factor(t->shape, &inProd, &inSyms);
  factor(known, &outProd, &outSyms);
  auto sizeError = [&] {
    fail(DiagId::ReshapeSize, {dimsStr(t->shape), std::to_string(inProd), requestedShape(*items)});
  };
  if (minusOne < 0) {
    if (inSyms.empty() && outSyms.empty() && inProd != outProd) sizeError();
    return tensorOpt(dtypeOf(t), out);
  }
  // What remains of the input's size once the known output dimensions are divided out.
  std::vector<int64_t> rest;
  std::set_difference(inSyms.begin(), inSyms.end(), outSyms.begin(), outSyms.end(), std::back_inserter(rest));
  bool outSymsCovered = std::includes(inSyms.begin(), inSyms.end(), outSyms.begin(), outSyms.end());
  if (outSymsCovered && outProd != 0 && inProd % outProd == 0 && rest.empty()) {
    out[minusOne] = Dim::of(inProd / outProd);
  } else if (outSymsCovered && rest.size() == 1 && inProd == outProd) {
    out[minusOne] = Dim::symbol((uint32_t)(-1 - rest[0]));
  } else {
    if (inSyms.empty() && outSyms.empty() && (outProd == 0 || inProd % outProd != 0)) sizeError();
    out[minusOne] = h.freshDim();
  }
  return tensorOpt(dtypeOf(t), out);
}

A transpose(A x, A axesTuple, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  if (!t->rankKnown) return t;
  int n = t->rank();
  A axes = axesTuple;
  if (axesTuple->is(AKind::Tuple) && !axesTuple->homogeneous && axesTuple->elems.size() == 1 &&
      axesTuple->elems[0]->isSequence())
    axes = axesTuple->elems[0];
  if (axes->isSequence() && !axes->homogeneous && axes->elems.empty()) {
    Dims out(t->shape.rbegin(), t->shape.rend());
    return tensorOpt(dtypeOf(t), out);
  }
  if (!axes->isSequence() || axes->homogeneous) return tensorOpt(dtypeOf(t), std::nullopt);
  if ((int)axes->elems.size() != n)
    fail(DiagId::ValueError, {"transpose: axes do not match a tensor with " + std::to_string(n) + " dimension" + plural(n)});
  Dims out;
  std::vector<bool> seen(n, false);
  for (A e : axes->elems) {
    int64_t v;
    if (!constInt(e, &v)) {
      Dims fresh;
      for (int k = 0; k < n; ++k) fresh.push_back(h.freshDim());
      return tensorOpt(dtypeOf(t), fresh);
    }
    int a = normAxis(v, n);
    if (seen[a]) fail(DiagId::ValueError, {"transpose: repeated axis in axes"});
    seen[a] = true;
    out.push_back(t->shape[a]);
  }
  return tensorOpt(dtypeOf(t), out);
}

A swapaxes(A x, A a, A b, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  int64_t i, j;
  if (!t->rankKnown || !constInt(a, &i) || !constInt(b, &j)) return tensorOpt(dtypeOf(t), std::nullopt);
  Dims out = t->shape;
  std::swap(out[normAxis(i, t->rank())], out[normAxis(j, t->rank())]);
  return tensorOpt(dtypeOf(t), out);
}

A expandDims(A x, A axis, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  if (!t->rankKnown) return t;
  std::vector<int64_t> axes;
  int64_t v;
  if (constInt(axis, &v)) axes.push_back(v);
  else if (axis->isSequence() && !axis->homogeneous) {
    for (A e : axis->elems) {
      if (!constInt(e, &v)) return tensorOpt(dtypeOf(t), std::nullopt);
      axes.push_back(v);
    }
  } else {
    return tensorOpt(dtypeOf(t), std::nullopt);
  }
  int n = t->rank() + (int)axes.size();
  std::vector<bool> isNew(n, false);
  for (int64_t a : axes) isNew[normAxis(a, n)] = true;
  Dims out;
  size_t src = 0;
  for (int k = 0; k < n; ++k) out.push_back(isNew[k] ? Dim::of(1) : t->shape[src++]);
  return tensorOpt(dtypeOf(t), out);
}

A squeeze(A x, A axis, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  if (!t->rankKnown) return t;
  Dims out;
  if (axis->is(AKind::None)) {
    for (Dim d : t->shape) {
      if (d.isSymbol()) return tensorOpt(dtypeOf(t), std::nullopt);  // might be 1
      if (d != Dim::of(1)) out.push_back(d);
    }
    return tensorOpt(dtypeOf(t), out);
  }
  auto axes = axesOf(axis, t->rank());
  if (!axes) return tensorOpt(dtypeOf(t), std::nullopt);
  for (int k = 0; k < t->rank(); ++k) {
    if (std::find(axes->begin(), axes->end(), k) == axes->end()) {
      out.push_back(t->shape[k]);
    } else if (t->shape[k].isStatic() && t->shape[k] != Dim::of(1)) {
      fail(DiagId::ValueError, {"squeeze: axis " + std::to_string(k) + " has size " + t->shape[k].str() +
                                    ", not 1"});
    }
  }
  return tensorOpt(dtypeOf(t), out);
}

A broadcastTo(A x, A shape, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  OptDims target = shapeArg(shape, h);
  if (!target) return tensorOpt(dtypeOf(t), std::nullopt);
  if (t->rankKnown) {
    if (t->rank() > (int)target->size())
      fail(DiagId::ShapeMismatch, {dimsStr(t->shape), dimsStr(*target), "broadcast_to"});
    size_t off = target->size() - t->shape.size();
    for (size_t k = 0; k < t->shape.size(); ++k) {
      Dim s = t->shape[k], d = (*target)[off + k];
      if (s.isStatic() && d.isStatic() && s != d && s != Dim::of(1))
        fail(DiagId::ShapeMismatch, {dimsStr(t->shape), dimsStr(*target), "broadcast_to"});
    }
  }
  return tensorOpt(dtypeOf(t), target);
}

// The tensors of a concat/stack argument (a tuple or list of tensors).
bool tensorList(A xs, Vec* out, RuleHost& h) {
  if (!xs->isSequence()) return false;
  for (A e : xs->elems) {
    A t = asTensor(e, h);
    if (!t) return false;
    out->push_back(t);
  }
  return true;
}

OptDType promoteAll(const Vec& ts) {
  OptDType dt;
  for (A t : ts) {
    if (!t->dtypeKnown) return std::nullopt;
    dt = dt ? promote(*dt, t->dtype) : t->dtype;
  }
  return dt;
}

A concat(A xs, A axis, bool stack, RuleHost& h) {
  const char* fn = stack ? "stack" : "concat";
  Vec ts;
  if (!tensorList(xs, &ts, h) || ts.empty()) return any();
  OptDType dt = promoteAll(ts);
  int64_t a;
  if (!constInt(axis, &a)) return tensorOpt(dt, std::nullopt);
  for (A t : ts)
    if (!t->rankKnown) return tensorOpt(dt, std::nullopt);
  int n = ts[0]->rank();
  int ax = normAxis(a, stack ? n + 1 : n);
  Dims base = ts[0]->shape;
  for (size_t k = 1; k < ts.size(); ++k) {
    const Dims& d = ts[k]->shape;
    if ((int)d.size() != n) fail(DiagId::ConcatShapes, {fn, dimsStr(base), dimsStr(d), std::to_string(ax)});
    for (int j = 0; j < n; ++j) {
      if (!stack && j == ax) continue;
      if (base[j] == d[j]) continue;
      if (base[j].isStatic() && d[j].isStatic())
        fail(DiagId::ConcatShapes, {fn, dimsStr(ts[0]->shape), dimsStr(d), std::to_string(ax)});
      base[j] = base[j].isStatic() ? base[j] : d[j].isStatic() ? d[j] : h.freshDim();
    }
  }
  if (stack) {
    base.insert(base.begin() + ax, xs->homogeneous ? h.freshDim() : Dim::of((int64_t)ts.size()));
    return tensorOpt(dt, base);
  }
  if (xs->homogeneous) {
    base[ax] = h.freshDim();
    return tensorOpt(dt, base);
  }
  int64_t total = 0;
  bool allStatic = true;
  for (A t : ts) {
    if (t->shape[ax].isStatic()) total += t->shape[ax].size();
    else allStatic = false;
  }
  base[ax] = allStatic ? Dim::of(total) : ts.size() == 1 ? ts[0]->shape[ax] : h.freshDim();
  return tensorOpt(dt, base);
}

A flatten(A x, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  if (!t->rankKnown) return tensorOpt(dtypeOf(t), Dims{h.freshDim()});
  int64_t n = t->staticNumel();
  Dim d = n >= 0 ? Dim::of(n) : t->rank() == 1 ? t->shape[0] : h.freshDim();
  return tensorOpt(dtypeOf(t), Dims{d});
}

A scalarOf(OptDType dt) {
  if (!dt) return any();
  if (isFloat(*dt)) return Abstract::real();
  if (*dt == DType::Bool) return Abstract::boolean();
  return Abstract::integer();
}

A item(A x, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  int64_t n = t->staticNumel();
  if (n >= 0 && n != 1) fail(DiagId::ItemOfNonScalar, {dimsStr(t->shape)});
  return scalarOf(dtypeOf(t));
}

A toList(A x, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  if (!t->rankKnown) return any();
  A r = scalarOf(dtypeOf(t));
  for (int k = 0; k < t->rank(); ++k) r = Abstract::listOf(r);
  return r;
}

A dot(A x, A y, RuleHost& h) {
  A a = asTensor(x, h), b = asTensor(y, h);
  if (!a || !b) return any();
  if ((a->rankKnown && a->rank() == 0) || (b->rankKnown && b->rank() == 0)) return elementwise(Prim::Mul, "dot", x, y, h);
  if (a->rankKnown && b->rankKnown && a->rank() <= 2 && b->rank() <= 2) return matmul(a, b, h);
  OptDType dt = a->dtypeKnown && b->dtypeKnown ? OptDType(promote(a->dtype, b->dtype)) : std::nullopt;
  return tensorOpt(dt, std::nullopt);
}

// ------------------------------------------------------------------ construction

OptDType dtypeOr(A dtypeArgument, OptDType fallback) {
  if (dtypeArgument->is(AKind::None)) return fallback;
  return dtypeArg(dtypeArgument);
}

A tensorNew(A data, A dtype, RuleHost& h) {
  A t = asTensor(data, h);
  if (!t) return any();
  return tensorOpt(dtypeOr(dtype, dtypeOf(t)), dimsOf(t));
}

A filled(A shape, OptDType dt, RuleHost& h) { return tensorOpt(dt, shapeArg(shape, h)); }

OptDType valueDType(A v) {
  if (auto k = weakKind(v)) return defaultDType(*k);
  if (v->isTensor()) return dtypeOf(v);
  return std::nullopt;
}

// Length of range(start, stop, step) when all three are constant.
std::optional<int64_t> rangeLength(int64_t start, int64_t stop, int64_t step) {
  if (step == 0) return std::nullopt;
  if (step > 0) return stop > start ? (stop - start + step - 1) / step : 0;
  return start > stop ? (start - stop - step - 1) / (-step) : 0;
}

A arange(A start, A stop, A step, A dtype, RuleHost& h) {
  A lo = stop->is(AKind::None) ? Abstract::intConst(0) : start;
  A hi = stop->is(AKind::None) ? start : stop;
  A st = step->is(AKind::None) ? Abstract::intConst(1) : step;
  bool isFloatRange = lo->is(AKind::Float) || hi->is(AKind::Float) || st->is(AKind::Float);
  OptDType dt = dtypeOr(dtype, isFloatRange ? kDefaultFloat : kDefaultInt);
  int64_t a, c;
  double x, y, z;
  std::optional<int64_t> len;
  if (constNumber(lo, &x) && constNumber(hi, &y) && constNumber(st, &z) && z != 0)
    len = std::max<int64_t>(0, (int64_t)std::ceil((y - x) / z));
  bool countsTo = constInt(lo, &a) && a == 0 && constInt(st, &c) && c == 1 && hi->is(AKind::Int) && hi->symbolic;
  Dim n = len ? Dim::of(*len) : countsTo ? hi->sym : h.freshDim();
  return tensorOpt(dt, Dims{n});
}

A likeTensor(A x, A dtype, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  return tensorOpt(dtypeOr(dtype, dtypeOf(t)), dimsOf(t));
}

// ------------------------------------------------------------------ indexing

Dim sliceLength(Dim n, A slice, RuleHost& h) {
  A lo = slice->elems[0], hi = slice->elems[1], st = slice->elems[2];
  int64_t step = 1;
  if (!st->is(AKind::None) && !constInt(st, &step)) return h.freshDim();
  if (step == 0) fail(DiagId::ValueError, {"slice step cannot be zero"});
  if (lo->is(AKind::None) && hi->is(AKind::None)) {
    if (step == 1 || step == -1) return n;
    if (!n.isStatic()) return h.freshDim();
  }
  if (!n.isStatic()) return h.freshDim();
  int64_t len = n.size();
  int64_t lower = step > 0 ? 0 : -1, upper = step > 0 ? len : len - 1;
  auto bound = [&](A v, int64_t dflt, int64_t* out) {
    int64_t x;
    if (v->is(AKind::None)) { *out = dflt; return true; }
    if (!constInt(v, &x)) return false;
    if (x < 0) *out = std::max(x + len, lower);
    else *out = std::min(x, upper);
    return true;
  };
  int64_t start, stop;
  if (!bound(lo, step > 0 ? lower : upper, &start) || !bound(hi, step > 0 ? upper : lower, &stop)) return h.freshDim();
  int64_t count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                           : (start > stop ? (start - stop - step - 1) / (-step) : 0);
  return Dim::of(count);
}

// The shape of x[index] for a tensor x of known rank; nullopt when it cannot be told.
OptDims indexedShape(A t, A index, RuleHost& h) {
  Vec items = index->is(AKind::Tuple) && !index->homogeneous ? index->elems : Vec{index};
  if (index->is(AKind::Tuple) && index->homogeneous) return std::nullopt;
  // Classify; count the axes consumed.
  int consumed = 0, ellipses = 0;
  Vec norm;
  for (A it : items) {
    switch (it->kind) {
      case AKind::Int: case AKind::Slice: consumed += 1; norm.push_back(it); break;
      case AKind::None: norm.push_back(it); break;
      case AKind::Ellipsis: ++ellipses; norm.push_back(it); break;
      case AKind::Tuple: case AKind::List: case AKind::Tensor: {
        A ix = asTensor(it, h);
        if (!ix || !ix->dtypeKnown || !ix->rankKnown) return std::nullopt;
        if (ix->dtype == DType::Bool) consumed += ix->rank();
        else if (isInteger(ix->dtype)) consumed += 1;
        else fail(DiagId::BadIndexType, {"tensor", "integers, slices, None, ..., integer or boolean tensors",
                                         std::string("Tensor of ") + dtypeName(ix->dtype)});
        norm.push_back(ix);
        break;
      }
      default:
        return std::nullopt;
    }
  }
  if (ellipses > 1) fail(DiagId::ValueError, {"an index can only have a single ellipsis ('...')"});
  int rank = t->rank();
  if (consumed > rank) fail(DiagId::TooManyIndices, {std::to_string(rank), plural(rank), std::to_string(consumed)});
  // Output pieces: basic dimensions, and one slot where the advanced indices' shape goes.
  Dims out;
  int ax = 0;
  bool sawAdvanced = false, advancedSplit = false, basicAfterAdvanced = false;
  int advancedPos = -1;
  OptDims advanced;
  auto addAdvanced = [&](const Dims& d) {
    if (!sawAdvanced) { advancedPos = (int)out.size(); advanced = d; }
    else {
      if (basicAfterAdvanced) advancedSplit = true;
      advanced = broadcast(advanced, d, "indexing", h);
    }
    sawAdvanced = true;
  };
  auto basic = [&] { if (sawAdvanced) basicAfterAdvanced = true; };
  for (A it : norm) {
    switch (it->kind) {
      case AKind::None: basic(); out.push_back(Dim::of(1)); break;
      case AKind::Ellipsis:
        basic();
        for (int k = 0; k < rank - consumed; ++k) out.push_back(t->shape[ax++]);
        break;
      case AKind::Int: {
        basic();
        int64_t i;
        Dim d = t->shape[ax];
        if (constInt(it, &i) && d.isStatic() && (i < -d.size() || i >= d.size()))
          fail(DiagId::IndexOutOfRange, {std::to_string(i), std::to_string(ax), d.str()});
        ++ax;
        break;
      }
      case AKind::Slice: basic(); out.push_back(sliceLength(t->shape[ax++], it, h)); break;
      case AKind::Tensor:
        if (it->dtype == DType::Bool) {
          Dims region(t->shape.begin() + ax, t->shape.begin() + ax + it->rank());
          for (int k = 0; k < it->rank(); ++k)
            if (it->shape[k] != region[k] && it->shape[k].isStatic() && region[k].isStatic())
              fail(DiagId::BoolMaskShape, {dimsStr(it->shape), dimsStr(region)});
          ax += it->rank();
          addAdvanced(Dims{h.freshDim()});
        } else {
          ++ax;
          addAdvanced(it->shape);
        }
        break;
      default: break;
    }
  }
  while (ax < rank) out.push_back(t->shape[ax++]);
  if (sawAdvanced) {
    if (!advanced) return std::nullopt;
    int pos = advancedSplit ? 0 : advancedPos;
    out.insert(out.begin() + pos, advanced->begin(), advanced->end());
  }
  return out;
}

A tensorGetItem(A x, A index, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  if (!t->rankKnown) return tensorOpt(dtypeOf(t), std::nullopt);
  return tensorOpt(dtypeOf(t), indexedShape(t, index, h));
}

A tensorSetItem(A x, A index, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  if (t->rankKnown) indexedShape(t, index, h);
  return t;
}

// ------------------------------------------------------------------ containers

// The item of an iterable, or a NotIterable failure.
A itemOf(A it) {
  A item = iterItem(it);
  if (!item) fail(DiagId::NotIterable, {it->typeName()});
  return item;
}

A sequenceIndex(A seq, A index, const char* what) {
  int64_t i;
  if (index->is(AKind::Slice)) {
    if (seq->homogeneous) return seq;
    int64_t lo, hi;
    A a = index->elems[0], b = index->elems[1], c = index->elems[2];
    int64_t n = (int64_t)seq->elems.size();
    if (c->is(AKind::None) && (a->is(AKind::None) || constInt(a, &lo)) && (b->is(AKind::None) || constInt(b, &hi))) {
      lo = a->is(AKind::None) ? 0 : lo < 0 ? std::max<int64_t>(lo + n, 0) : std::min(lo, n);
      hi = b->is(AKind::None) ? n : hi < 0 ? std::max<int64_t>(hi + n, 0) : std::min(hi, n);
      Vec e;
      for (int64_t k = lo; k < hi; ++k) e.push_back(seq->elems[k]);
      return seq->is(AKind::List) ? Abstract::list(e) : Abstract::tuple(e);
    }
    A item = iterItem(seq);
    return seq->is(AKind::List) ? Abstract::listOf(item) : Abstract::tupleOf(item);
  }
  if (!index->is(AKind::Int) && !index->is(AKind::Bool)) {
    if (index->isAny()) return any();
    fail(DiagId::BadIndexType, {what, "integers or slices", index->typeName()});
  }
  if (seq->homogeneous) return seq->elems[0];
  int64_t n = (int64_t)seq->elems.size();
  if (constInt(index, &i)) {
    if (i < -n || i >= n) fail(DiagId::ListIndexOutOfRange, {what, std::to_string(i), std::to_string(n)});
    return seq->elems[i < 0 ? i + n : i];
  }
  return n == 0 ? bottom() : iterItem(seq);
}

std::string keyRepr(const std::string& k) {
  std::string out = "'";
  for (char c : k) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

A dictGet(A d, A key, A dflt, bool raiseMissing) {
  std::string k;
  if (d->homogeneous) return dflt ? join(d->elems[1], dflt) : d->elems[1];
  if (constStr(key, &k)) {
    auto it = std::find(d->names.begin(), d->names.end(), k);
    if (it != d->names.end()) return d->elems[it - d->names.begin()];
    if (raiseMissing) fail(DiagId::KeyError, {keyRepr(k)});
    return dflt;
  }
  if (key->is(AKind::Str) || key->isAny()) {
    A v = bottom();
    for (A e : d->elems) v = join(v, e);
    return dflt ? join(v, dflt) : v;
  }
  if (raiseMissing && !d->names.empty() && plainHostValue(key)) fail(DiagId::KeyError, {toString(key)});
  return dflt ? dflt : any();
}

A getItem(A obj, A index, RuleHost& h) {
  switch (obj->kind) {
    case AKind::Tensor: return tensorGetItem(obj, index, h);
    case AKind::Tuple: return sequenceIndex(obj, index, "tuple");
    case AKind::List: return sequenceIndex(obj, index, "list");
    case AKind::Str:
      if (!index->is(AKind::Int) && !index->is(AKind::Slice) && !index->isAny())
        fail(DiagId::BadIndexType, {"string", "integers or slices", index->typeName()});
      return Abstract::str();
    case AKind::Dict: return dictGet(obj, index, nullptr, true);
    case AKind::Range:
      return index->is(AKind::Slice) ? Abstract::range(Abstract::integer(), Abstract::integer(), Abstract::integer())
                                     : Abstract::integer();
    case AKind::Any: return any();
    default: fail(DiagId::TypeError, {"'" + obj->typeName() + "' object is not subscriptable"});
  }
}

A dictSet(A d, A key, A value) {
  std::string k;
  if (!d->homogeneous && constStr(key, &k)) {
    std::vector<std::string> names = d->names;
    Vec vals = d->elems;
    auto it = std::find(names.begin(), names.end(), k);
    if (it != names.end()) vals[it - names.begin()] = value;
    else { names.push_back(k); vals.push_back(value); }
    return Abstract::dict(names, vals);
  }
  A keys = d->homogeneous ? d->elems[0] : d->names.empty() ? bottom() : Abstract::str();
  A vals = d->homogeneous ? d->elems[1] : bottom();
  if (!d->homogeneous)
    for (A e : d->elems) vals = join(vals, e);
  return Abstract::dictOf(join(keys, dynamicScalars(key)), join(vals, value));
}

A setItem(A obj, A index, A value, RuleHost& h) {
  int64_t i;
  switch (obj->kind) {
    case AKind::Tensor: return tensorSetItem(obj, index, h);
    case AKind::List: {
      if (!obj->homogeneous && constInt(index, &i)) {
        int64_t n = (int64_t)obj->elems.size();
        if (i < -n || i >= n) fail(DiagId::ListIndexOutOfRange, {"list assignment", std::to_string(i), std::to_string(n)});
        Vec e = obj->elems;
        e[i < 0 ? i + n : i] = value;
        return Abstract::list(e);
      }
      if (index->is(AKind::Slice)) return Abstract::listOf(join(iterItem(obj), itemOf(value)));
      return Abstract::listOf(join(iterItem(obj), value));
    }
    case AKind::Dict: return dictSet(obj, index, value);
    case AKind::Any: return any();
    default: fail(DiagId::TypeError, {"'" + obj->typeName() + "' object does not support item assignment"});
  }
}

A append(A l, A v) {
  if (!l->is(AKind::List)) return any();
  if (!l->homogeneous) {
    Vec e = l->elems;
    e.push_back(v);
    return Abstract::list(e);
  }
  return Abstract::listOf(join(l->elems[0], v));
}

A extend(A l, A it) {
  if (!l->is(AKind::List)) return any();
  if (!l->homogeneous && it->isSequence() && !it->homogeneous) {
    Vec e = l->elems;
    e.insert(e.end(), it->elems.begin(), it->elems.end());
    return Abstract::list(e);
  }
  return Abstract::listOf(join(iterItem(l), itemOf(it)));
}

A insert(A l, A index, A v) {
  if (!l->is(AKind::List)) return any();
  int64_t i;
  if (!l->homogeneous && constInt(index, &i)) {
    Vec e = l->elems;
    int64_t n = (int64_t)e.size();
    int64_t at = i < 0 ? std::max<int64_t>(i + n, 0) : std::min(i, n);
    e.insert(e.begin() + at, v);
    return Abstract::list(e);
  }
  return Abstract::listOf(join(iterItem(l), v));
}

A dictUpdate(A d, A other) {
  if (!d->is(AKind::Dict)) return any();
  if (!other->is(AKind::Dict)) return any();
  if (!d->homogeneous && !other->homogeneous) {
    A r = d;
    for (size_t k = 0; k < other->names.size(); ++k) r = dictSet(r, Abstract::strConst(other->names[k]), other->elems[k]);
    return r;
  }
  return join(d, other);
}

A unpack(A x, A nArg, A starArg) {
  int64_t n, star;
  if (!constInt(nArg, &n) || !constInt(starArg, &star)) return any();
  Vec out;
  if (x->isAny()) return Abstract::tuple(Vec(n, any()));
  bool fixed = x->isSequence() && !x->homogeneous;
  if (x->is(AKind::Dict) && !x->homogeneous) {
    Vec keys;
    for (const std::string& k : x->names) keys.push_back(Abstract::strConst(k));
    x = Abstract::list(keys);
    fixed = true;
  }
  if (!fixed) {
    A item = itemOf(x);
    if (x->isTensor() && x->rankKnown && x->shape[0].isStatic() && star < 0 && x->shape[0].size() != n)
      fail(DiagId::UnpackCount, {x->shape[0].str(), std::to_string(n)});
    for (int64_t k = 0; k < n; ++k) out.push_back(k == star ? Abstract::listOf(item) : item);
    return Abstract::tuple(out);
  }
  int64_t m = (int64_t)x->elems.size();
  if (star < 0 ? m != n : m < n - 1) fail(DiagId::UnpackCount, {std::to_string(m), std::to_string(n)});
  if (star < 0) return Abstract::tuple(x->elems);
  for (int64_t k = 0; k < star; ++k) out.push_back(x->elems[k]);
  int64_t after = n - star - 1;
  out.push_back(Abstract::list(Vec(x->elems.begin() + star, x->elems.end() - after)));
  for (int64_t k = m - after; k < m; ++k) out.push_back(x->elems[k]);
  return Abstract::tuple(out);
}

A truth(A x) {
  switch (x->kind) {
    case AKind::Bool: return x;
    case AKind::None: return Abstract::boolConst(false);
    case AKind::Int: return x->known ? Abstract::boolConst(x->i != 0) : Abstract::boolean();
    case AKind::Float: return x->known ? Abstract::boolConst(x->f != 0) : Abstract::boolean();
    case AKind::Str: return x->known ? Abstract::boolConst(!x->s.empty()) : Abstract::boolean();
    case AKind::Tuple: case AKind::List: case AKind::Dict:
      return x->homogeneous ? Abstract::boolean() : Abstract::boolConst(!x->elems.empty());
    case AKind::Tensor: {
      int64_t n = x->staticNumel();
      if (n >= 0 && n != 1) fail(DiagId::TruthOfTensor, {std::to_string(n)});
      return Abstract::boolean();
    }
    case AKind::Record: case AKind::Class: case AKind::Function: case AKind::Prim: case AKind::Partial:
    case AKind::BoundMethod: case AKind::Union: case AKind::Module: case AKind::DType:
      return Abstract::boolConst(true);
    default: return Abstract::boolean();
  }
}

A isRule(A a, A b) {
  auto neverNone = [](A x) { return !x->isAny() && !x->is(AKind::None) && !x->is(AKind::Undef) && !x->isBottom(); };
  if (a->is(AKind::None) && b->is(AKind::None)) return Abstract::boolConst(true);
  if ((a->is(AKind::None) && neverNone(b)) || (b->is(AKind::None) && neverNone(a))) return Abstract::boolConst(false);
  return Abstract::boolean();
}

A contains(A container, A item) {
  std::string k;
  if (container->is(AKind::Dict) && !container->homogeneous && constStr(item, &k))
    return Abstract::boolConst(std::find(container->names.begin(), container->names.end(), k) != container->names.end());
  return Abstract::boolean();
}

int64_t codePoints(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

A len(A x) {
  int64_t a, b, c;
  switch (x->kind) {
    case AKind::Tuple: case AKind::List:
      return x->homogeneous ? Abstract::integer() : Abstract::intConst((int64_t)x->elems.size());
    case AKind::Dict: return x->homogeneous ? Abstract::integer() : Abstract::intConst((int64_t)x->names.size());
    case AKind::Str: return x->known ? Abstract::intConst(codePoints(x->s)) : Abstract::integer();
    case AKind::Range:
      if (constInt(x->elems[0], &a) && constInt(x->elems[1], &b) && constInt(x->elems[2], &c))
        if (auto n = rangeLength(a, b, c)) return Abstract::intConst(*n);
      return Abstract::integer();
    case AKind::Tensor:
      return x->rankKnown && x->rank() > 0 ? Abstract::intDim(x->shape[0]) : Abstract::integer();
    case AKind::None: case AKind::Bool: case AKind::Int: case AKind::Float: case AKind::DType:
      fail(DiagId::TypeError, {"object of type '" + x->typeName() + "' has no len()"});
    default: return Abstract::integer();
  }
}

A rangeRule(A start, A stop, A step) {
  if (stop->is(AKind::None)) return Abstract::range(Abstract::intConst(0), start, Abstract::intConst(1));
  return Abstract::range(start, stop, step->is(AKind::None) ? Abstract::intConst(1) : step);
}

// A tuple/list argument's items, when its length is known.
bool fixedItems(A a, Vec* out) {
  if (!a->isSequence() || a->homogeneous) return false;
  *out = a->elems;
  return true;
}

A minMax(bool isMax, A args, A axis, A keepdims, A key, RuleHost& h) {
  Vec xs;
  if (!fixedItems(args, &xs)) return any();
  if (xs.size() == 1 && xs[0]->isTensor()) return reduce(xs[0], axis, keepdims, RedDType::Keep, h);
  int tensors = 0;
  for (A x : xs) tensors += x->isTensor();
  if (tensors >= 2) fail(isMax ? DiagId::MaxOfTwoTensors : DiagId::MinOfTwoTensors, {});
  A item = bottom();
  if (xs.size() == 1) item = itemOf(xs[0]);
  else for (A x : xs) item = join(item, x);
  if (key->isCallable()) h.call(key, {item}, {});
  return item;
}

A sum(A x, A axis, A keepdims, A start, RuleHost& h) {
  if (x->isTensor()) return reduce(x, axis, keepdims, RedDType::Sum, h);
  A item = itemOf(x);
  Vec xs;
  if (fixedItems(x, &xs)) {
    A acc = start;
    for (A e : xs) acc = binary(Prim::Add, acc, e, h);
    return acc;
  }
  return join(start, binary(Prim::Add, dynamicScalars(start), item, h));
}

A allAny(A x, A axis, A keepdims, RuleHost& h) {
  if (x->isTensor()) return reduce(x, axis, keepdims, RedDType::Bool, h);
  itemOf(x);
  return Abstract::boolean();
}

A absRule(A x) {
  if (x->isTensor()) return x;
  int64_t v;
  if (x->is(AKind::Bool) || x->is(AKind::Int))
    return constInt(x, &v) && v != INT64_MIN ? Abstract::intConst(v < 0 ? -v : v) : Abstract::integer();
  if (x->is(AKind::Float)) return x->known ? Abstract::floatConst(x->f < 0 ? -x->f : x->f) : Abstract::real();
  if (plainHostValue(x)) fail(DiagId::BadOperandType, {"abs()", x->typeName()});
  return any();
}

A roundRule(A x, A ndigits) {
  if (x->isTensor()) return x;
  if (x->is(AKind::Int) || x->is(AKind::Bool)) return Abstract::integer();
  if (x->is(AKind::Float)) return ndigits->is(AKind::None) ? Abstract::integer() : Abstract::real();
  return any();
}

// int(t), float(t), bool(t) of a tensor take its one element.
void scalarConversion(A x, bool truth) {
  int64_t n = x->isTensor() ? x->staticNumel() : -1;
  if (n < 0 || n == 1) return;
  if (truth) fail(DiagId::TruthOfTensor, {std::to_string(n)});
  fail(DiagId::ItemOfNonScalar, {dimsStr(x->shape)});
}

A intNew(A x) {
  scalarConversion(x, false);
  int64_t v;
  if (constInt(x, &v)) return Abstract::intConst(v);
  if (x->is(AKind::Float) && x->known && x->f > -9.2e18 && x->f < 9.2e18) return Abstract::intConst((int64_t)x->f);
  if (x->is(AKind::Int) && x->symbolic) return x;
  return Abstract::integer();
}

A floatNew(A x) {
  scalarConversion(x, false);
  int64_t v;
  if (constInt(x, &v)) return Abstract::floatConst((double)v);
  if (x->is(AKind::Float)) return x;
  return Abstract::real();
}

A strNew(A x) {
  int64_t v;
  if (x->is(AKind::Str)) return x;
  if (x->is(AKind::Int) && constInt(x, &v)) return Abstract::strConst(std::to_string(v));
  if (x->is(AKind::None)) return Abstract::strConst("None");
  if (x->is(AKind::Bool) && x->known) return Abstract::strConst(x->b ? "True" : "False");
  return Abstract::str();
}

A zipRule(A iterables) {
  Vec xs;
  if (!fixedItems(iterables, &xs)) return Abstract::listOf(any());
  Vec items;
  for (A x : xs) items.push_back(itemOf(x));
  return Abstract::listOf(Abstract::tuple(items));
}

A listFrom(A it, bool tuple) {
  if (it->isSequence()) {
    if (it->homogeneous) return tuple ? Abstract::tupleOf(it->elems[0]) : Abstract::listOf(it->elems[0]);
    return tuple ? Abstract::tuple(it->elems) : Abstract::list(it->elems);
  }
  if (it->is(AKind::Dict) && !it->homogeneous) {
    Vec keys;
    for (const std::string& k : it->names) keys.push_back(Abstract::strConst(k));
    return tuple ? Abstract::tuple(keys) : Abstract::list(keys);
  }
  A item = itemOf(it);
  return tuple ? Abstract::tupleOf(item) : Abstract::listOf(item);
}

A reversedRule(A seq) {
  if (seq->isSequence() && !seq->homogeneous) return Abstract::list(Vec(seq->elems.rbegin(), seq->elems.rend()));
  return Abstract::listOf(itemOf(seq));
}

// dict(*args, **kwargs)
A dictNew(A args, A kwargs) {
  Vec xs;
  if (!fixedItems(args, &xs) || xs.size() > 1) return any();
  if (xs.empty()) return kwargs;
  A first = xs[0];
  if (first->is(AKind::Dict)) return dictUpdate(first, kwargs);
  A pair = itemOf(first);
  if (pair->isBottom()) return kwargs;
  if (pair->isSequence() && !pair->homogeneous && pair->elems.size() == 2)
    return dictUpdate(Abstract::dictOf(dynamicScalars(pair->elems[0]), pair->elems[1]), kwargs);
  return any();
}

A dictItems(A d) {
  if (d->homogeneous) return Abstract::listOf(Abstract::tuple({d->elems[0], d->elems[1]}));
  Vec items;
  for (size_t k = 0; k < d->names.size(); ++k) items.push_back(Abstract::tuple({Abstract::strConst(d->names[k]), d->elems[k]}));
  return Abstract::list(items);
}

A dictKeys(A d) {
  if (d->homogeneous) return Abstract::listOf(d->elems[0]);
  Vec keys;
  for (const std::string& k : d->names) keys.push_back(Abstract::strConst(k));
  return Abstract::list(keys);
}

A dictValues(A d) { return d->homogeneous ? Abstract::listOf(d->elems[1]) : Abstract::list(d->elems); }

A makeDict(const Vec& kv) {
  std::vector<std::string> keys;
  Vec vals;
  bool keyed = true;
  for (size_t k = 0; k + 1 < kv.size(); k += 2) {
    std::string s;
    if (!constStr(kv[k], &s)) { keyed = false; break; }
    auto it = std::find(keys.begin(), keys.end(), s);
    if (it != keys.end()) vals[it - keys.begin()] = kv[k + 1];
    else { keys.push_back(s); vals.push_back(kv[k + 1]); }
  }
  if (keyed) return Abstract::dict(keys, vals);
  A key = bottom(), val = bottom();
  for (size_t k = 0; k + 1 < kv.size(); k += 2) {
    key = join(key, dynamicScalars(kv[k]));
    val = join(val, kv[k + 1]);
  }
  return Abstract::dictOf(key, val);
}

A tupleGetItem(A t, A index) {
  int64_t i;
  if (!t->isSequence() || !constInt(index, &i)) return any();
  if (t->homogeneous) return t->elems[0];
  if (i < 0 || i >= (int64_t)t->elems.size()) return any();
  return t->elems[i];
}

// ------------------------------------------------------------------ attributes and methods

struct MethodRow { AKind recv; const char* name; Prim prim; bool property; };

const std::vector<MethodRow>& methodRows() {
  static const std::vector<MethodRow> rows = [] {
    std::vector<MethodRow> t = {
#define METHOD(Recv, Name, Id) {AKind::Recv, Name, Prim::Id, false},
#define PROPERTY(Recv, Name, Id) {AKind::Recv, Name, Prim::Id, true},
#include "ir/Primitives.def"
    };
    // Builtins whose first parameter is `x: Tensor` are tensor methods too (a METHOD row
    // of the same name wins); runtime/PrimTable.cpp builds the same table.
    size_t explicitRows = t.size();
    for (int k = 0; k < kNumPrims; ++k) {
      const PrimInfo& info = primInfo((Prim)k);
      if (!info.tensorMethod) continue;
      bool shadowed = false;
      for (size_t r = 0; r < explicitRows; ++r)
        if (t[r].recv == AKind::Tensor && std::string(t[r].name) == info.name) shadowed = true;
      if (!shadowed) t.push_back({AKind::Tensor, info.name, info.id, false});
    }
    return t;
  }();
  return rows;
}

std::string methodHintFor(AKind recv, const std::string& name) {
  std::vector<std::string> names;
  for (const MethodRow& r : methodRows())
    if (r.recv == recv) names.push_back(r.name);
  return methodHint(name, names);
}

A moduleMember(A mod, const std::string& name, RuleHost& h) {
  const GlobalVar* g = mod->module->findGlobal(name);
  if (!g) fail(DiagId::NoSuchModuleMember, {mod->module->name, name});
  A v = h.globalValue(g);
  if (v->is(AKind::Undef)) fail(DiagId::UndefinedGlobal, {mod->module->name + "." + name});
  return v;
}

A getAttr(A obj, A nameArg, RuleHost& h) {
  std::string name;
  if (!constStr(nameArg, &name)) return any();
  Prim p;
  bool property;
  switch (obj->kind) {
    case AKind::Any: return any();
    case AKind::Record: {
      int f = obj->fieldIndex(name);
      if (f >= 0) return obj->elems[f];
      if (A m = obj->ref->method(name)) return Abstract::boundMethod(obj, m);
      fail(DiagId::NoAttribute, {obj->typeName(), name});
    }
    case AKind::Module: return moduleMember(obj, name, h);
    case AKind::Class:
      if (A m = obj->method(name)) return m;
      fail(DiagId::NoAttribute, {"type", name});
    case AKind::Function: case AKind::Prim: case AKind::BoundMethod:
      if (name == "__name__" || name == "__qualname__") return Abstract::str();  // runtime/Interpreter.cpp
      [[fallthrough]];
    default:
      if (methodPrim(obj->kind, name, &p, &property))
        return property ? h.call(Abstract::primitive(p), {obj}, {}) : Abstract::boundMethod(obj, Abstract::primitive(p));
      if (plainHostValue(obj) || obj->isTensor()) fail(DiagId::NoAttribute, {obj->typeName(), name});
      return any();
  }
}

A setAttr(A obj, A nameArg, A value) {
  std::string name;
  if (!constStr(nameArg, &name) || obj->isAny()) return any();
  if (!obj->is(AKind::Record)) {
    if (plainHostValue(obj) || obj->isTensor())
      fail(DiagId::TypeError, {"cannot set attribute '" + name + "' of a value of type '" + obj->typeName() + "'"});
    return any();
  }
  int f = obj->fieldIndex(name);
  if (f < 0) fail(DiagId::NoField, {obj->typeName(), name});
  Vec fields = obj->elems;
  fields[f] = value;
  return Abstract::record(obj->ref, fields);
}

// list.append/extend/insert and dict.update return the updated receiver, which the
// lowering rebinds: they are statements (method_update), not expressions.
bool updatesReceiver(A recv, const std::string& name) {
  return (recv->is(AKind::List) || recv->is(AKind::Dict)) &&
         (name == "append" || name == "extend" || name == "insert" || name == "update");
}

// method_call(name, recv, args..., kw...) and method_update (the receiver afterwards).
A methodCall(const Vec& in, const std::vector<std::string>& kwnames, bool update, RuleHost& h) {
  if (in.size() < 2) return any();
  std::string name;
  if (!constStr(in[0], &name)) return any();
  A recv = in[1];
  size_t nkw = kwnames.size();
  Vec args(in.begin() + 2, in.end() - nkw);
  KwArgs kw;
  for (size_t k = 0; k < nkw; ++k) kw.push_back({kwnames[k], in[in.size() - nkw + k]});
  Prim p;
  bool property;
  switch (recv->kind) {
    case AKind::Any: return any();
    case AKind::Record: {
      A r;
      if (A m = recv->ref->method(name)) {
        args.insert(args.begin(), recv);
        r = h.call(m, args, kw);
      } else {
        int f = recv->fieldIndex(name);
        if (f < 0) fail(DiagId::NoAttribute, {recv->typeName(), name});
        r = h.call(recv->elems[f], args, kw);
      }
      return update ? (r->isBottom() ? r : recv) : r;
    }
    case AKind::Module: {
      A r = h.call(moduleMember(recv, name, h), args, kw);
      return update ? (r->isBottom() ? r : recv) : r;
    }
    case AKind::Class: {
      A m = recv->method(name);
      if (!m) fail(DiagId::NoAttribute, {"type", name});
      A r = h.call(m, args, kw);
      return update ? (r->isBottom() ? r : recv) : r;
    }
    default: {
      bool updates = updatesReceiver(recv, name);
      if (updates && !update) fail(DiagId::UpdateInExpression, {recv->typeName(), name, recv->typeName(), name});
      if (!methodPrim(recv->kind, name, &p, &property)) {
        if (plainHostValue(recv) || recv->isTensor())
          fail(DiagId::NoMethod, {recv->typeName(), name, methodHintFor(recv->kind, name)});
        return any();
      }
      if (property) {
        A v = h.call(Abstract::primitive(p), {recv}, {});
        if (!v->isAny() && !v->isBottom()) fail(DiagId::NotCallable, {v->typeName()});
        return v->isBottom() ? v : any();
      }
      args.insert(args.begin(), recv);
      A r = h.call(Abstract::primitive(p), args, kw);
      return !update || updates || r->isBottom() ? r : recv;
    }
  }
}

A callEx(A fn, A args, A kwargs, RuleHost& h) {
  Vec pos;
  if (!fixedItems(args, &pos)) return any();
  if (!kwargs->is(AKind::Dict) || kwargs->homogeneous) return any();
  KwArgs kw;
  for (size_t k = 0; k < kwargs->names.size(); ++k) kw.push_back({kwargs->names[k], kwargs->elems[k]});
  return h.call(fn, pos, kw);
}

A partialRule(A fn, A args, A kwargs) {
  Vec pos;
  if (!fixedItems(args, &pos) || !kwargs->is(AKind::Dict) || kwargs->homogeneous) return any();
  pos.insert(pos.end(), kwargs->elems.begin(), kwargs->elems.end());
  return Abstract::partial(fn, pos, kwargs->names);
}

// ------------------------------------------------------------------ trees
// (runtime/Trees.cpp). The rules follow the structure where it is fully known and give up
// (Any) elsewhere; structure mismatches are reported by the run time.

bool isTreeNode(A t) {
  return t->is(AKind::Tuple) || t->is(AKind::List) || t->is(AKind::Dict) || t->is(AKind::Record);
}
bool unknownTree(A t) {
  return t->isAny() || t->is(AKind::Union) || t->is(AKind::Undef) || t->isBottom() ||
         (isTreeNode(t) && t->homogeneous);
}

bool treeLeaves(A t, Vec& out) {
  if (unknownTree(t)) return false;
  if (t->is(AKind::None)) return true;
  if (isTreeNode(t)) {
    for (A e : t->elems)
      if (!treeLeaves(e, out)) return false;
    return true;
  }
  out.push_back(t);
  return true;
}

A rebuildTree(A t0, Vec elems) {
  switch (t0->kind) {
    case AKind::Tuple: return Abstract::tuple(std::move(elems));
    case AKind::List: return Abstract::list(std::move(elems));
    case AKind::Dict: return Abstract::dict(t0->names, std::move(elems));
    default: return Abstract::record(t0->ref, std::move(elems));
  }
}

A treeMapAbstract(A f, const Vec& ts, RuleHost& h) {
  A t0 = ts[0];
  for (A t : ts)
    if (unknownTree(t)) return any();
  if (t0->is(AKind::None)) {
    for (A t : ts)
      if (!t->is(AKind::None)) return any();
    return t0;
  }
  if (isTreeNode(t0)) {
    for (A t : ts)
      if (t->kind != t0->kind || t->elems.size() != t0->elems.size() || t->ref != t0->ref) return any();
    Vec out;
    for (size_t i = 0; i < t0->elems.size(); ++i) {
      Vec sub;
      for (A t : ts) {
        if (t0->is(AKind::Dict)) {  // matched by key
          auto it = std::find(t->names.begin(), t->names.end(), t0->names[i]);
          if (it == t->names.end()) return any();
          sub.push_back(t->elems[it - t->names.begin()]);
        } else {
          sub.push_back(t->elems[i]);
        }
      }
      A r = treeMapAbstract(f, sub, h);
      if (r->isBottom()) return r;
      out.push_back(r);
    }
    return rebuildTree(t0, std::move(out));
  }
  for (A t : ts)
    if (isTreeNode(t) || t->is(AKind::None)) return any();
  return h.call(f, ts, {});
}

A treeMapRule(A f, A tree, A rest, RuleHost& h) {
  Vec ts{tree};
  Vec others;
  if (!fixedItems(rest, &others)) return any();
  ts.insert(ts.end(), others.begin(), others.end());
  return treeMapAbstract(f, ts, h);
}

A treeLeavesRule(A tree) {
  Vec leaves;
  if (!treeLeaves(tree, leaves)) return Abstract::listOf(any());
  return Abstract::list(leaves);
}

A treeZerosLikeRule(A t) {
  if (unknownTree(t)) return any();
  if (isTreeNode(t)) {
    Vec out;
    for (A e : t->elems) out.push_back(treeZerosLikeRule(e));
    return rebuildTree(t, std::move(out));
  }
  switch (t->kind) {
    case AKind::Float: return Abstract::real();
    case AKind::Int: return Abstract::integer();
    case AKind::Bool: return Abstract::boolean();
    default: return t;  // tensors keep dtype and shape; static leaves are carried along
  }
}

// load_checkpoint(path, like=t): t's structure, tensors of t's dtypes and shapes, numbers
// and strings of t's types (their values come from the file).
A loadCheckpointRule(A t) {
  if (unknownTree(t)) return any();
  if (isTreeNode(t)) {
    Vec out;
    for (A e : t->elems) out.push_back(loadCheckpointRule(e));
    return rebuildTree(t, std::move(out));
  }
  if (t->is(AKind::Str)) return Abstract::str();
  return treeZerosLikeRule(t);
}

A makeClass(const Vec& in) {
  if (in.empty() || !in[0]->is(AKind::ClassDecl)) return any();
  const ClassInfo* ci = in[0]->classInfo;
  size_t ndef = std::count(ci->hasDefault.begin(), ci->hasDefault.end(), true);
  if (in.size() != 1 + ndef + ci->methods.size()) return any();
  Vec defaults;
  size_t next = 1;
  for (size_t k = 0; k < ci->fields.size(); ++k) defaults.push_back(ci->hasDefault[k] ? in[next++] : nullptr);
  Vec methods(in.begin() + 1 + ndef, in.end());
  return Abstract::classType(ci->name, ci->loc, ci->fields, defaults, ci->methods, methods);
}

A strConcat(const Vec& parts) {
  std::string s;
  for (A p : parts) {
    std::string piece;
    if (!constStr(p, &piece)) return Abstract::str();
    s += piece;
  }
  return Abstract::strConst(s);
}

// ------------------------------------------------------------------ neural networks
// (runtime/NNPrims.cpp). Rules fail only where every dimension involved is static, so
// their messages are the run time's.

bool allStatic(const Dims& d) {
  for (Dim x : d)
    if (!x.isStatic()) return false;
  return true;
}

OptDType floatOf(OptDType dt) { return reducedDType(dt, RedDType::Float); }

// The promoted dtype of tensors (nullptr entries skipped); nullopt when one is unknown.
OptDType promoteKnown(std::initializer_list<A> ts) {
  OptDType dt;
  for (A t : ts) {
    if (!t) continue;
    if (!t->dtypeKnown) return std::nullopt;
    dt = dt ? promote(*dt, t->dtype) : t->dtype;
  }
  return dt;
}

// An int-or-pair argument (kernel, stride, padding): its two values, when constant.
bool constPair(A a, int64_t* h, int64_t* w) {
  if (constInt(a, h)) { *w = *h; return true; }
  if (a->isSequence() && !a->homogeneous && a->elems.size() == 2) return constInt(a->elems[0], h) && constInt(a->elems[1], w);
  return false;
}

// One output size of a window: floor((in + 2p - k) / s) + 1 when everything is known.
Dim windowDim(Dim in, int64_t k, int64_t s, int64_t p, bool known, RuleHost& h) {
  if (!known || !in.isStatic() || s < 1) return h.freshDim();
  int64_t span = in.size() + 2 * p - k;
  return span < 0 ? h.freshDim() : Dim::of(span / s + 1);
}

A conv2dRule(A x, A w, A b, A stride, A padding, RuleHost& h) {
  A tx = asTensor(x, h), tw = asTensor(w, h), tb = b->is(AKind::None) ? nullptr : asTensor(b, h);
  if (!tx || !tw || (!b->is(AKind::None) && !tb)) return any();
  OptDType dt = floatOf(promoteKnown({tx, tw, tb}));
  if (!tx->rankKnown || !tw->rankKnown) return tensorOpt(dt, std::nullopt);
  std::string shapes = dimsStr(tx->shape) + " and weights " + dimsStr(tw->shape);
  bool stat = allStatic(tx->shape) && allStatic(tw->shape);
  if (tx->rank() != 4 || tw->rank() != 4) {
    if (stat) fail(DiagId::ValueError, {"conv2d: expects input (N, C, H, W) and weights (O, C, KH, KW); got input " + shapes});
    return tensorOpt(dt, std::nullopt);
  }
  if (stat && tx->shape[1] != tw->shape[1])
    fail(DiagId::ValueError, {"conv2d: input " + shapes + " have different channel counts (" + tx->shape[1].str() +
                                  " != " + tw->shape[1].str() + ")"});
  int64_t sh = 1, sw = 1, ph = 0, pw = 0;
  bool known = constPair(stride, &sh, &sw) && constPair(padding, &ph, &pw);
  Dims out = {tx->shape[0], tw->shape[0]};
  Dim kh = tw->shape[2], kw = tw->shape[3];
  out.push_back(windowDim(tx->shape[2], kh.isStatic() ? kh.size() : 0, sh, ph, known && kh.isStatic(), h));
  out.push_back(windowDim(tx->shape[3], kw.isStatic() ? kw.size() : 0, sw, pw, known && kw.isStatic(), h));
  return tensorOpt(dt, out);
}

A poolRule(A x, A kernel, A stride, A padding, bool isMax, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  OptDType dt = isMax ? dtypeOf(t) : floatOf(dtypeOf(t));
  if (!t->rankKnown) return tensorOpt(dt, std::nullopt);
  if (t->rank() < 3) {
    if (allStatic(t->shape))
      fail(DiagId::ValueError, {std::string(isMax ? "max_pool2d" : "avg_pool2d") +
                                    ": expects a tensor (..., H, W) of rank 3 or more, got shape " + dimsStr(t->shape)});
    return tensorOpt(dt, std::nullopt);
  }
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
  bool known = constPair(kernel, &kh, &kw) && constPair(padding, &ph, &pw);
  if (stride->is(AKind::None)) sh = kh, sw = kw;
  else known = known && constPair(stride, &sh, &sw);
  int n = t->rank();
  Dims out(t->shape.begin(), t->shape.end() - 2);
  out.push_back(windowDim(t->shape[n - 2], kh, sh, ph, known, h));
  out.push_back(windowDim(t->shape[n - 1], kw, sw, pw, known, h));
  return tensorOpt(dt, out);
}

A crossEntropyRule(A logits, A labels, RuleHost& h) {
  A t = asTensor(logits, h), l = asTensor(labels, h);
  if (!t || !l) return any();
  OptDType dt = floatOf(dtypeOf(t));
  if (!t->rankKnown || t->rank() < 1) return tensorOpt(dt, std::nullopt);
  return tensorOpt(dt, Dims(t->shape.begin(), t->shape.end() - 1));
}

A mseRule(A a, A b, RuleHost& h) {
  A ta = asTensor(a, h), tb = asTensor(b, h);
  if (!ta || !tb) return any();
  broadcast(dimsOf(ta), dimsOf(tb), "mse", h);
  return tensorOpt(floatOf(promoteKnown({ta, tb})), Dims{});
}

A layerNormRule(A x, A gamma, A beta, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  OptDims d = dimsOf(t);
  OptDType dt = floatOf(dtypeOf(t));
  for (A p : {gamma, beta}) {
    if (p->is(AKind::None)) continue;
    A tp = asTensor(p, h);
    if (!tp) return any();
    d = broadcast(d, dimsOf(tp), "layer_norm", h);
    dt = dt && tp->dtypeKnown ? OptDType(promote(*dt, tp->dtype)) : std::nullopt;
  }
  return tensorOpt(dt, d);
}

A batchNormRule(A x, A mean, A var, A gamma, A beta, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  A ps[4] = {mean, var, gamma, beta};
  A ts[4] = {nullptr, nullptr, nullptr, nullptr};
  for (int k = 0; k < 4; ++k) {
    if (ps[k]->is(AKind::None)) continue;
    ts[k] = asTensor(ps[k], h);
    if (!ts[k]) return any();
  }
  return tensorOpt(floatOf(promoteKnown({t, ts[0], ts[1], ts[2], ts[3]})), dimsOf(t));
}

A embeddingRule(A table, A ids, RuleHost& h) {
  A t = asTensor(table, h), i = asTensor(ids, h);
  if (!t || !i) return any();
  if (!t->rankKnown || !i->rankKnown || t->rank() < 1) return tensorOpt(dtypeOf(t), std::nullopt);
  Dims out = i->shape;
  out.insert(out.end(), t->shape.begin() + 1, t->shape.end());
  return tensorOpt(dtypeOf(t), out);
}

A oneHotRule(A ids, A n, A dtype, RuleHost& h) {
  A i = asTensor(ids, h);
  if (!i) return any();
  OptDType dt = dtypeArg(dtype);
  if (!i->rankKnown) return tensorOpt(dt, std::nullopt);
  Dims out = i->shape;
  out.push_back(dimOfInt(n, h));
  return tensorOpt(dt, out);
}

// ------------------------------------------------------------------ selection and layout
// (runtime/ShapeOpsPrims.cpp)

// A new dimension the product of d and a constant factor.
Dim scaledDim(Dim d, int64_t f, RuleHost& h) {
  if (f == 1) return d;
  if (f == 0) return Dim::of(0);
  return d.isStatic() ? Dim::of(d.size() * f) : h.freshDim();
}

// An int-or-sequence argument of constants.
bool constInts(A a, std::vector<int64_t>* out) {
  int64_t v;
  if (constInt(a, &v)) { out->push_back(v); return true; }
  if (!a->isSequence() || a->homogeneous) return false;
  for (A e : a->elems) {
    if (!constInt(e, &v)) return false;
    out->push_back(v);
  }
  return true;
}

A takeRule(A x, A indices, A axis, RuleHost& h) {
  A t = asTensor(x, h), i = asTensor(indices, h);
  if (!t || !i) return any();
  if (!t->rankKnown || !i->rankKnown) return tensorOpt(dtypeOf(t), std::nullopt);
  if (axis->is(AKind::None)) return tensorOpt(dtypeOf(t), i->shape);
  int64_t a;
  if (!constInt(axis, &a)) return tensorOpt(dtypeOf(t), std::nullopt);
  int ax = normAxis(a, t->rank());
  Dims out(t->shape.begin(), t->shape.begin() + ax);
  out.insert(out.end(), i->shape.begin(), i->shape.end());
  out.insert(out.end(), t->shape.begin() + ax + 1, t->shape.end());
  return tensorOpt(dtypeOf(t), out);
}

A tileRule(A x, A reps, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  std::vector<int64_t> r;
  if (!t->rankKnown || !constInts(reps, &r)) return tensorOpt(dtypeOf(t), std::nullopt);
  Dims xs = t->shape;
  size_t nd = std::max(r.size(), xs.size());
  r.insert(r.begin(), nd - r.size(), 1);
  xs.insert(xs.begin(), nd - xs.size(), Dim::of(1));
  Dims out;
  for (size_t d = 0; d < nd; ++d) {
    if (r[d] < 0) return tensorOpt(dtypeOf(t), std::nullopt);
    out.push_back(scaledDim(xs[d], r[d], h));
  }
  return tensorOpt(dtypeOf(t), out);
}

// ------------------------------------------------------------------ random numbers
// (runtime/RandomPrims.cpp): a key is a u32 tensor of shape (2,).

bool isKey(A t) {
  return t->is(AKind::Tensor) && t->dtypeKnown && t->dtype == DType::U32 && t->rankKnown && t->rank() == 1 &&
         t->shape[0].isStatic() && t->shape[0].size() == 2;
}
A keyAbstract() { return tensorOpt(DType::U32, Dims{Dim::of(2)}); }
// A draw's shape argument: None is ().
OptDims drawShape(A shape, RuleHost& h) { return shape->is(AKind::None) ? OptDims(Dims{}) : shapeArg(shape, h); }

A permutationRule(A x, RuleHost& h) {
  if (x->is(AKind::Int) || x->is(AKind::Bool)) return tensorOpt(DType::I64, Dims{dimOfInt(x, h)});
  A t = asTensor(x, h);
  return t ? tensorOpt(dtypeOf(t), dimsOf(t)) : any();
}

A bernoulliRule(A p, A shape, RuleHost& h) {
  if (!shape->is(AKind::None)) return tensorOpt(DType::Bool, drawShape(shape, h));
  if (weakKind(p)) return tensorOpt(DType::Bool, Dims{});
  A t = asTensor(p, h);
  return tensorOpt(DType::Bool, t ? dimsOf(t) : std::nullopt);
}

A categoricalRule(A logits, A axis, A shape, RuleHost& h) {
  if (!shape->is(AKind::None)) return tensorOpt(DType::I64, drawShape(shape, h));
  A t = asTensor(logits, h);
  int64_t a;
  if (!t || !t->rankKnown || t->rank() == 0 || !constInt(axis, &a)) return tensorOpt(DType::I64, std::nullopt);
  Dims out = t->shape;
  out.erase(out.begin() + normAxis(a, t->rank()));
  return tensorOpt(DType::I64, out);
}

A dropoutRule(A x, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  OptDType dt = dtypeOf(t);
  if (dt && !isFloat(*dt)) dt = kDefaultFloat;  // x / (1 - p)
  return tensorOpt(dt, dimsOf(t));
}

A splitRule(A x, A sections, A axis, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  if (isKey(t)) return tensorOpt(DType::U32, Dims{sections->is(AKind::None) ? Dim::of(2) : dimOfInt(sections, h), Dim::of(2)});
  if (!t->dtypeKnown || t->dtype == DType::U32) return any();  // perhaps a key
  int64_t a, n;
  if (!t->rankKnown || !constInt(axis, &a) || t->rank() == 0) return Abstract::listOf(tensorOpt(dtypeOf(t), std::nullopt));
  int ax = normAxis(a, t->rank());
  Dims part = t->shape;
  Dim d = t->shape[ax];
  if (constInt(sections, &n) && n > 0 && d.isStatic() && d.size() % n == 0) {
    part[ax] = Dim::of(d.size() / n);
    return Abstract::list(Vec((size_t)n, tensorOpt(dtypeOf(t), part)));
  }
  part[ax] = h.freshDim();
  return Abstract::listOf(tensorOpt(dtypeOf(t), part));
}

A padRule(A x, A widths, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  if (!t->rankKnown) return tensorOpt(dtypeOf(t), std::nullopt);
  int nd = t->rank();
  std::vector<std::pair<int64_t, int64_t>> w;
  std::vector<int64_t> flat;
  if (constInts(widths, &flat)) {
    if (flat.size() == 1) w.assign(nd, {flat[0], flat[0]});
    else if (flat.size() == 2) w.assign(nd, {flat[0], flat[1]});
  } else if (widths->isSequence() && !widths->homogeneous && (int)widths->elems.size() == nd) {
    for (A e : widths->elems) {
      std::vector<int64_t> v;
      if (!constInts(e, &v) || v.empty() || v.size() > 2) break;
      w.push_back({v[0], v.back()});
    }
  }
  Dims out;
  for (int d = 0; d < nd; ++d) {
    Dim s = t->shape[d];
    bool known = (int)w.size() == nd && s.isStatic() && w[d].first >= 0 && w[d].second >= 0;
    out.push_back(known ? Dim::of(s.size() + w[d].first + w[d].second) : h.freshDim());
  }
  return tensorOpt(dtypeOf(t), out);
}

A sortRule(A x, A axis, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  int64_t a;
  if (!t->rankKnown) return tensorOpt(dtypeOf(t), std::nullopt);
  if (axis->is(AKind::None) || t->rank() == 0) {
    int64_t n = t->staticNumel();
    return tensorOpt(dtypeOf(t), Dims{n >= 0 ? Dim::of(n) : t->rank() == 1 ? t->shape[0] : h.freshDim()});
  }
  if (constInt(axis, &a)) normAxis(a, t->rank());
  return t;
}

A topkRule(A x, A k, RuleHost& h) {
  A t = asTensor(x, h);
  if (!t) return any();
  OptDims d = dimsOf(t);
  if (d && !d->empty()) d->back() = dimOfInt(k, h);
  DType i64 = DType::I64;
  return Abstract::tuple({tensorOpt(dtypeOf(t), d), tensorOpt(i64, d)});
}

A einsumRule(A spec, A operands, RuleHost& h) {
  Vec ops;
  std::string s;
  if (!fixedItems(operands, &ops)) return anyTensor();
  Vec ts;
  for (A o : ops) {
    A t = asTensor(o, h);
    if (!t) return any();
    ts.push_back(t);
  }
  OptDType dt = promoteAll(ts);
  if (!constStr(spec, &s)) return tensorOpt(dt, std::nullopt);
  // Only the plain form "ab,bc->ac" with known ranks is followed; the run time checks.
  size_t arrow = s.find("->");
  std::string lhs = arrow == std::string::npos ? s : s.substr(0, arrow), out;
  std::vector<std::string> ins(1);
  for (char c : lhs) {
    if (c == ',') ins.emplace_back();
    else if (c != ' ') ins.back() += c;
  }
  if (ins.size() != ts.size()) return tensorOpt(dt, std::nullopt);
  std::map<char, Dim> sizes;
  std::map<char, int> count;
  for (size_t k = 0; k < ts.size(); ++k) {
    if (!ts[k]->rankKnown || (int)ins[k].size() != ts[k]->rank()) return tensorOpt(dt, std::nullopt);
    for (size_t p = 0; p < ins[k].size(); ++p) {
      sizes.emplace(ins[k][p], ts[k]->shape[p]);
      count[ins[k][p]]++;
    }
  }
  if (arrow != std::string::npos) {
    for (char c : s.substr(arrow + 2))
      if (c != ' ') out += c;
  } else {
    for (auto& [c, n] : count)
      if (n == 1) out += c;
  }
  Dims d;
  for (char c : out) {
    auto it = sizes.find(c);
    if (it == sizes.end()) return tensorOpt(dt, std::nullopt);
    d.push_back(it->second);
  }
  return tensorOpt(dt, d);
}

// ------------------------------------------------------------------ the rule table

// The bound arguments of a primitive: the first by position (a[0]), the others by the
// name of their parameter in ir/Primitives.def, so a reordered signature cannot shift them.
class Args {
 public:
  Args(Prim p, const Vec& v) : p_(p), v_(v) {}
  A operator[](size_t k) const { return v_.at(k); }
  A operator()(const char* name) const {
    const auto& params = primInfo(p_).params;
    for (size_t k = 0; k < params.size() && k < v_.size(); ++k)
      if (params[k].name == name) return v_[k];
    internalError(std::string("shape rule of ") + primName(p_) + ": no parameter '" + name + "'");
  }
  const Vec& all() const { return v_; }

 private:
  Prim p_;
  const Vec& v_;
};

A rule(Prim p, const Args& a, const std::vector<std::string>& kwnames, RuleHost& h) {
  switch (p) {
    // ---- core
    case Prim::MakeTuple: return Abstract::tuple(a.all());
    case Prim::MakeList: return Abstract::list(a.all());
    case Prim::MakeDict: return makeDict(a.all());
    case Prim::TupleGetItem: return tupleGetItem(a[0], a("i"));
    case Prim::Unpack: return unpack(a[0], a("n"), a("star"));
    case Prim::GetAttr: return getAttr(a[0], a("name"), h);
    case Prim::SetAttr: return setAttr(a[0], a("name"), a("value"));
    case Prim::GetItem: return getItem(a[0], a("index"), h);
    case Prim::SetItem: return setItem(a[0], a("index"), a("value"), h);
    case Prim::MakeSlice: return Abstract::slice(a[0], a("upper"), a("step"));
    case Prim::Truth: return truth(a[0]);
    case Prim::Not: {
      A t = truth(a[0]);
      return t->known ? Abstract::boolConst(!t->b) : Abstract::boolean();
    }
    case Prim::Switch: {
      A c = a[0];
      if (c->is(AKind::Bool) && c->known) return c->b ? a("a") : a("b");
      return join(a("a"), a("b"), h.joinSymbols());
    }
    case Prim::WhileLoop: return h.whileLoop(a[0], a("body_fn"), a("init"));
    case Prim::Scan: return h.scan(a[0], itemOf(a("iterable")), a("init"));
    case Prim::CallEx: return callEx(a[0], a("args"), a("kwargs"), h);
    case Prim::MethodCall: return methodCall(a.all(), kwnames, false, h);
    case Prim::MethodUpdate: return methodCall(a.all(), kwnames, true, h);
    case Prim::Depend: return a[0];
    case Prim::UpdateState: return Abstract::token();
    case Prim::GlobalGet: {
      if (!a[0]->is(AKind::Global)) return any();
      A v = h.globalValue(a[0]->global);
      if (v->is(AKind::Undef)) fail(DiagId::UnknownName, {a[0]->global->name});
      return v;
    }
    case Prim::GlobalSet: {
      A slot = a("slot");
      if (slot->is(AKind::Global)) h.globalAssigned(slot->global, a("value"));
      return Abstract::token();
    }
    case Prim::MakeClass: return makeClass(a.all());
    case Prim::Raise: return bottom();
    case Prim::Assert: {
      A c = a("cond");
      return c->is(AKind::Bool) && c->known && !c->b ? bottom() : Abstract::token();
    }
    case Prim::FormatValue: return Abstract::str();
    case Prim::StrConcat: return strConcat(a.all());
    case Prim::Contains: return contains(a[0], a("item"));
    case Prim::Is: return isRule(a[0], a("b"));
    case Prim::ListAppendLocal: return append(a[0], a("v"));
    case Prim::CheckBound: {
      std::string name;
      if (a[0]->is(AKind::Undef)) fail(DiagId::MaybeUnbound, {constStr(a("name"), &name) ? name : "?"});
      return a[0];
    }
    case Prim::ImportModule: {
      A m = a("module");
      if (!m->is(AKind::Module)) return any();
      h.moduleImported(m->module);
      return m;
    }

    // ---- arithmetic
    case Prim::Add: case Prim::Sub: case Prim::Mul: case Prim::Div: case Prim::FloorDiv: case Prim::Mod:
    case Prim::Pow: case Prim::MatMul: case Prim::BitAnd: case Prim::BitOr: case Prim::BitXor:
    case Prim::Eq: case Prim::Ne: case Prim::Lt: case Prim::Le: case Prim::Gt: case Prim::Ge:
      return binary(p, a[0], a("y"), h);
    case Prim::Neg: case Prim::Pos: case Prim::Invert: return unaryOperator(p, a[0]);

    // ---- tensor construction
    case Prim::TensorNew: return tensorNew(a[0], a("dtype"), h);
    case Prim::Zeros:
    case Prim::Ones: return filled(a[0], dtypeArg(a("dtype")), h);
    case Prim::Full: return filled(a[0], dtypeOr(a("dtype"), valueDType(a("value"))), h);
    case Prim::Arange: return arange(a[0], a("stop"), a("step"), a("dtype"), h);
    case Prim::Linspace: return tensorOpt(dtypeArg(a("dtype")), Dims{dimOfInt(a("num"), h)});
    case Prim::Eye: {
      Dim n = dimOfInt(a[0], h);
      A m = a("m");
      return tensorOpt(dtypeArg(a("dtype")), Dims{n, m->is(AKind::None) ? n : dimOfInt(m, h)});
    }
    case Prim::ZerosLike:
    case Prim::OnesLike: return likeTensor(a[0], a("dtype"), h);

    // ---- elementwise
    case Prim::Exp: case Prim::Log: case Prim::Log1p: case Prim::Sqrt: case Prim::Rsqrt: case Prim::Sin:
    case Prim::Cos: case Prim::Tanh: case Prim::Sigmoid: case Prim::Gelu: case Prim::Softplus:
      return unary(a[0], UnaryDType::Float, h);
    case Prim::Sign: case Prim::Floor: case Prim::Ceil: case Prim::Relu: case Prim::TensorAbs:
    case Prim::TensorRound:
      return unary(a[0], UnaryDType::Keep, h);
    case Prim::IsNan:
    case Prim::IsFinite: return unary(a[0], UnaryDType::Bool, h);
    case Prim::Maximum: return elementwise(Prim::Add, "maximum", a[0], a("y"), h);
    case Prim::Minimum: return elementwise(Prim::Add, "minimum", a[0], a("y"), h);
    case Prim::Clip: {
      A t = asTensor(a[0], h);
      if (!t) return any();
      OptDims d = dimsOf(t);
      for (A bound : {a("lo"), a("hi")}) {
        if (bound->is(AKind::None)) continue;
        A b = asTensor(bound, h);
        if (!b) return any();
        d = broadcast(d, dimsOf(b), "clip", h);
      }
      return tensorOpt(dtypeOf(t), d);
    }
    case Prim::Where: {
      A c = asTensor(a[0], h);
      A xy = elementwise(Prim::Add, "where", a("x"), a("y"), h);
      if (!c || !xy->isTensor()) return any();
      return tensorOpt(dtypeOf(xy), broadcast(dimsOf(c), dimsOf(xy), "where", h));
    }
    case Prim::AsType: {
      A t = asTensor(a[0], h);
      return t ? tensorOpt(dtypeArg(a("dtype")), dimsOf(t)) : any();
    }

    // ---- reductions
    case Prim::TensorSum:
    case Prim::Prod: return reduce(a[0], a("axis"), a("keepdims"), RedDType::Sum, h);
    case Prim::Mean: case Prim::Logsumexp: case Prim::Var: case Prim::Std:
      return reduce(a[0], a("axis"), a("keepdims"), RedDType::Float, h);
    case Prim::TensorMax:
    case Prim::TensorMin: return reduce(a[0], a("axis"), a("keepdims"), RedDType::Keep, h);
    case Prim::Argmax:
    case Prim::Argmin: return argReduce(a[0], a("axis"), a("keepdims"), h);
    case Prim::TensorAll:
    case Prim::TensorAny: return reduce(a[0], a("axis"), a("keepdims"), RedDType::Bool, h);
    case Prim::Cumsum: return cumsum(a[0], a("axis"), h);

    // ---- shapes
    case Prim::Shape: {
      A t = asTensor(a[0], h);
      if (!t || !t->rankKnown) return t ? Abstract::tupleOf(Abstract::integer()) : any();
      Vec dims;
      for (Dim d : t->shape) dims.push_back(Abstract::intDim(d));
      return Abstract::tuple(dims);
    }
    case Prim::DTypeOf: {
      A t = asTensor(a[0], h);
      return t && t->dtypeKnown ? Abstract::dtypeConst(t->dtype) : Abstract::dtypeAny();
    }
    case Prim::NDim: {
      A t = asTensor(a[0], h);
      return t && t->rankKnown ? Abstract::intConst(t->rank()) : Abstract::integer();
    }
    case Prim::Size: {
      A t = asTensor(a[0], h);
      if (!t || !t->rankKnown) return Abstract::integer();
      int64_t n = t->staticNumel();
      if (n >= 0) return Abstract::intConst(n);
      return t->rank() == 1 ? Abstract::intDim(t->shape[0]) : Abstract::integer();
    }
    case Prim::Reshape: return reshape(a[0], a("shape"), h);
    case Prim::Transpose: return transpose(a[0], a("axes"), h);
    case Prim::TransposeT: return transpose(a[0], Abstract::tuple({}), h);
    case Prim::Swapaxes: return swapaxes(a[0], a("a"), a("b"), h);
    case Prim::ExpandDims: return expandDims(a[0], a("axis"), h);
    case Prim::Squeeze: return squeeze(a[0], a("axis"), h);
    case Prim::BroadcastTo: return broadcastTo(a[0], a("shape"), h);
    case Prim::Concat: return concat(a[0], a("axis"), false, h);
    case Prim::Stack: return concat(a[0], a("axis"), true, h);
    case Prim::Flatten: return flatten(a[0], h);
    case Prim::Item: return item(a[0], h);
    case Prim::ToList: return toList(a[0], h);
    case Prim::Dot: return dot(a[0], a("y"), h);
    case Prim::Softmax:
    case Prim::LogSoftmax: return softmax(a[0], a("axis"), h);
    case Prim::Conv2d: return conv2dRule(a[0], a("w"), a("b"), a("stride"), a("padding"), h);
    case Prim::MaxPool2d: return poolRule(a[0], a("kernel"), a("stride"), a("padding"), true, h);
    case Prim::AvgPool2d: return poolRule(a[0], a("kernel"), a("stride"), a("padding"), false, h);
    case Prim::CrossEntropy: return crossEntropyRule(a[0], a("labels"), h);
    case Prim::Mse: return mseRule(a[0], a("b"), h);
    case Prim::LayerNorm: return layerNormRule(a[0], a("gamma"), a("beta"), h);
    case Prim::BatchNorm: return batchNormRule(a[0], a("mean"), a("var"), a("gamma"), a("beta"), h);
    case Prim::Embedding: return embeddingRule(a[0], a("ids"), h);
    case Prim::OneHot: return oneHotRule(a[0], a("n"), a("dtype"), h);
    case Prim::Take: return takeRule(a[0], a("indices"), a("axis"), h);
    case Prim::Tile: return tileRule(a[0], a("reps"), h);
    case Prim::Split: return splitRule(a[0], a("sections"), a("axis"), h);
    case Prim::Pad: return padRule(a[0], a("widths"), h);
    case Prim::Sort: return sortRule(a[0], a("axis"), h);
    case Prim::Topk: return topkRule(a[0], a("k"), h);
    case Prim::Einsum: return einsumRule(a[0], a("operands"), h);
    case Prim::Prng:
    case Prim::FoldIn: return keyAbstract();
    case Prim::Bits: return tensorOpt(DType::U32, drawShape(a("shape"), h));
    case Prim::Uniform: return tensorOpt(dtypeArg(a("dtype")), drawShape(a("shape"), h));
    case Prim::Normal: return tensorOpt(DType::F32, drawShape(a("shape"), h));
    case Prim::Permutation: return permutationRule(a("x"), h);
    case Prim::Bernoulli: return bernoulliRule(a("p"), a("shape"), h);
    case Prim::Categorical: return categoricalRule(a("logits"), a("axis"), a("shape"), h);
    case Prim::Dropout: return dropoutRule(a("x"), h);
    case Prim::AdamStep: {  // stack([p, m, v]): (3,) + p's shape, p's dtype
      A t = asTensor(a[0], h);
      if (!t) return any();
      OptDims d = dimsOf(t);
      if (d) d->insert(d->begin(), Dim::of(3));
      return tensorOpt(dtypeOf(t), d);
    }
    // ---- differentiation: grad(f) is a function; the helpers of J keep their primal's
    // structure, which J does not need inferred
    case Prim::Grad: case Prim::ValueAndGrad: case Prim::Vjp: case Prim::GradCall: case Prim::VjpCall:
    case Prim::JCall: case Prim::JSiteBprop: case Prim::CtAdd: case Prim::CtFill: case Prim::CtIndex:
    case Prim::Unbroadcast: case Prim::SumBwd: case Prim::MinMaxBwd: case Prim::MatMulBwd:
    case Prim::GetItemBwd: case Prim::GetAttrBwd: case Prim::TransposeBwd: case Prim::ConcatBwd:
    case Prim::UnpackBwd: case Prim::TensorNewBwd: case Prim::ScanJ: case Prim::ScanBwd: case Prim::WhileJ:
    case Prim::WhileBwd: case Prim::SeqBwd: case Prim::NNBwd: case Prim::JSiteArrange:
    case Prim::JSiteArrangeBwd: case Prim::JEnter: case Prim::JEnterJ: case Prim::JCallJ: case Prim::GradSeed:
    case Prim::GradPack: case Prim::GradPackBwd: case Prim::VjpPack: case Prim::VjpPackBwd: case Prim::VjpMake:
    case Prim::ScanJJ: case Prim::ScanBwdJ: case Prim::WhileJJ: case Prim::WhileBwdJ: case Prim::LoopJBprop:
    case Prim::Jvp: case Prim::JvpCall: case Prim::ScanJvp: case Prim::WhileJvp: case Prim::MaxPoolJvp:
    case Prim::JvpOfJ:
    case Prim::TakeBwd: case Prim::TileBwd: case Prim::PadBwd: case Prim::SortBwd: case Prim::TopkBwd: case Prim::SplitBwd:
    case Prim::TreeMapJ: case Prim::TreeMapBwd: case Prim::TreeMapJJ: case Prim::TreeMapBwdJ:
      return any();
    case Prim::StopGradient: return a[0];
    case Prim::CustomVjp: case Prim::CustomVjpWrap: case Prim::CustomVjpCall: case Prim::CustomVjpBprop:
    case Prim::Jit:
    case Prim::Jacobian: case Prim::JacobianCall:
      return any();
    case Prim::Vmap: case Prim::VmapCall: case Prim::VmapFnCall: case Prim::VmapLoop: case Prim::VmapBcast:
    case Prim::VmapSelect:
      return any();
    case Prim::Fused:  // made by codegen/Fusion with the chain's abstract already set
      return any();
    case Prim::TensorGetItem: return tensorGetItem(a[0], a("index"), h);
    case Prim::TensorSetItem: return tensorSetItem(a[0], a("index"), h);

    // ---- host built-ins
    case Prim::Print: return Abstract::none();
    case Prim::Len: return len(a[0]);
    case Prim::Range: return rangeRule(a[0], a("stop"), a("step"));
    case Prim::Zip: return zipRule(a[0]);
    case Prim::Enumerate: return Abstract::listOf(Abstract::tuple({Abstract::integer(), itemOf(a[0])}));
    case Prim::Sorted: {
      A item = itemOf(a[0]);
      if (a("key")->isCallable()) h.call(a("key"), {item}, {});
      return Abstract::listOf(item);
    }
    case Prim::Reversed: return reversedRule(a[0]);
    case Prim::ListNew: return listFrom(a[0], false);
    case Prim::TupleNew: return listFrom(a[0], true);
    case Prim::DictNew: return dictNew(a[0], a("kwargs"));
    case Prim::Min: return minMax(false, a[0], a("axis"), a("keepdims"), a("key"), h);
    case Prim::Max: return minMax(true, a[0], a("axis"), a("keepdims"), a("key"), h);
    case Prim::Sum: return sum(a[0], a("axis"), a("keepdims"), a("start"), h);
    case Prim::All:
    case Prim::Any: return allAny(a[0], a("axis"), a("keepdims"), h);
    case Prim::Abs: return absRule(a[0]);
    case Prim::Round: return roundRule(a[0], a("ndigits"));
    case Prim::IntNew: return intNew(a[0]);
    case Prim::FloatNew: return floatNew(a[0]);
    case Prim::StrNew: return strNew(a[0]);
    case Prim::BoolNew: return truth(a[0]);
    case Prim::Repr: return Abstract::str();
    case Prim::Isinstance: return isinstanceRule(a[0], a[1]);
    case Prim::Time: return Abstract::real();
    case Prim::Exit: return bottom();
    case Prim::ReadText: return Abstract::str();
    case Prim::WriteText: return Abstract::none();
    case Prim::Exists: return Abstract::boolean();
    case Prim::Isatty: return Abstract::boolean();
    case Prim::Makedirs: return Abstract::none();
    case Prim::LoadIdx:
    case Prim::LoadNpy: return anyTensor();
    case Prim::LoadNpz: return Abstract::dictOf(Abstract::str(), anyTensor());
    case Prim::SaveNpy:
    case Prim::SaveNpz: return Abstract::none();
    case Prim::LoadCsv: return tensorOpt(dtypeArg(a("dtype")), Dims{h.freshDim(), h.freshDim()});
    case Prim::TakeInto: {  // take(x, indices, axis=0) (indices None: x) as dtype (None: x's)
      A t = a("indices")->is(AKind::None) ? asTensor(a("x"), h) : takeRule(a("x"), a("indices"), Abstract::intConst(0), h);
      if (!t || !t->isTensor()) return anyTensor();
      return tensorOpt(a("dtype")->is(AKind::None) ? dtypeOf(t) : dtypeArg(a("dtype")), dimsOf(t));
    }
    case Prim::StorageId: return Abstract::integer();
    case Prim::SaveCheckpoint: return Abstract::none();
    case Prim::LoadCheckpoint: return a("like")->is(AKind::None) ? any() : loadCheckpointRule(a("like"));
    case Prim::Partial: return partialRule(a[0], a("args"), a("kwargs"));
    case Prim::TreeMap: return treeMapRule(a[0], a("tree"), a("rest"), h);
    case Prim::TreeLeaves: return treeLeavesRule(a[0]);
    case Prim::TreeZerosLike: return treeZerosLikeRule(a[0]);
    case Prim::TreeSize: return Abstract::integer();
    case Prim::ExcValueError: case Prim::ExcTypeError: case Prim::ExcRuntimeError: case Prim::ExcKeyError:
    case Prim::ExcIndexError: case Prim::ExcException: case Prim::ExcAssertionError:
    case Prim::ExcNotImplementedError:
      return Abstract::exception(primName(p));
    // str methods
    case Prim::StrSplit: return Abstract::listOf(Abstract::str());
    case Prim::StrJoin: itemOf(a("iterable")); return Abstract::str();
    case Prim::StrStrip: case Prim::StrLstrip: case Prim::StrRstrip: case Prim::StrReplace:
    case Prim::StrFormat: case Prim::StrUpper: case Prim::StrLower:
      return Abstract::str();
    case Prim::StrStartswith:
    case Prim::StrEndswith: return Abstract::boolean();
    case Prim::StrFind: case Prim::StrCount: case Prim::StrIndex: return Abstract::integer();
    // list / tuple methods
    case Prim::ListAppend: return append(a[0], a("v"));
    case Prim::ListExtend: return extend(a[0], a("iterable"));
    case Prim::ListInsert: return insert(a[0], a("i"), a("v"));
    case Prim::SeqIndex:
    case Prim::SeqCount: return Abstract::integer();
    // dict methods
    case Prim::DictKeys: return a[0]->is(AKind::Dict) ? dictKeys(a[0]) : any();
    case Prim::DictValues: return a[0]->is(AKind::Dict) ? dictValues(a[0]) : any();
    case Prim::DictItems: return a[0]->is(AKind::Dict) ? dictItems(a[0]) : any();
    case Prim::DictGet: return a[0]->is(AKind::Dict) ? dictGet(a[0], a("key"), a("default"), false) : any();
    case Prim::DictUpdate: return dictUpdate(a[0], a("other"));
    case Prim::NumPrims: break;
  }
  return nullptr;
}

}  // namespace

RuleResult inferPrim(Prim p, const std::vector<const Abstract*>& args, const std::vector<std::string>& kwnames,
                     RuleHost& host) {
  const PrimInfo& info = primInfo(p);
  if (!info.variadicNode && args.size() != info.params.size())
    internalError(std::string("shape rule of ") + info.name + ": " + std::to_string(args.size()) +
                  " arguments for " + std::to_string(info.params.size()) + " parameters");
  try {
    RuleResult r;
    r.value = rule(p, Args(p, args), kwnames, host);
    return r;
  } catch (const Failure& f) {
    return RuleResult::fail(f.id, f.args);
  }
}

// ------------------------------------------------------------------ argument binding

bool bindArguments(const std::string& fnName, const std::vector<BindParam>& params,
                   const std::vector<const Abstract*>& positional, const KwArgs& kwargs,
                   std::vector<const Abstract*>* bound, RuleResult* error) {
  bound->assign(params.size(), nullptr);
  int varargs = -1, varkw = -1;
  std::vector<size_t> positionalSlots;
  for (size_t k = 0; k < params.size(); ++k) {
    switch (params[k].kind) {
      case PrimParam::Positional: positionalSlots.push_back(k); break;
      case PrimParam::VarArgs: varargs = (int)k; break;
      case PrimParam::VarKw: varkw = (int)k; break;
      case PrimParam::KwOnly: break;
    }
  }
  if (positional.size() > positionalSlots.size() && varargs < 0) {
    size_t n = positionalSlots.size(), given = positional.size();
    size_t required = std::count_if(positionalSlots.begin(), positionalSlots.end(), [&](size_t k) { return !params[k].deflt; });
    std::string takes = required == n ? std::to_string(n) : "from " + std::to_string(required) + " to " + std::to_string(n);
    *error = RuleResult::fail(DiagId::Arity, {fnName, takes, plural((int64_t)n), std::to_string(given),
                                              given == 1 ? "was" : "were"});
    return false;
  }
  Vec extra;
  for (size_t k = 0; k < positional.size(); ++k) {
    if (k < positionalSlots.size()) (*bound)[positionalSlots[k]] = positional[k];
    else extra.push_back(positional[k]);
  }
  std::vector<std::string> extraNames;
  Vec extraValues;
  for (const auto& [name, value] : kwargs) {
    auto it = std::find_if(params.begin(), params.end(), [&name = name](const BindParam& p) {
      return p.name == name && (p.kind == PrimParam::Positional || p.kind == PrimParam::KwOnly);
    });
    if (it == params.end()) {
      if (varkw < 0) {
        *error = RuleResult::fail(DiagId::UnexpectedKeyword, {fnName, name});
        return false;
      }
      extraNames.push_back(name);
      extraValues.push_back(value);
      continue;
    }
    size_t slot = it - params.begin();
    if ((*bound)[slot]) {
      *error = RuleResult::fail(DiagId::MultipleValues, {fnName, name});
      return false;
    }
    (*bound)[slot] = value;
  }
  for (size_t k = 0; k < params.size(); ++k) {
    if ((*bound)[k]) continue;
    if ((int)k == varargs) (*bound)[k] = Abstract::tuple(extra);
    else if ((int)k == varkw) (*bound)[k] = Abstract::dict(extraNames, extraValues);
    else if (params[k].deflt) (*bound)[k] = params[k].deflt;
    else {
      *error = RuleResult::fail(DiagId::MissingArgument, {fnName, params[k].name});
      return false;
    }
  }
  return true;
}

namespace {

// A default of ir/Primitives.def: None True False numbers 'strings' dtype names ().
const Abstract* literal(const std::string& text) {
  if (text == "None") return Abstract::none();
  if (text == "True") return Abstract::boolConst(true);
  if (text == "False") return Abstract::boolConst(false);
  if (text == "()") return Abstract::tuple({});
  DType dt;
  if (dtypeFromName(text, &dt)) return Abstract::dtypeConst(dt);
  if (!text.empty() && text[0] == '\'') {
    std::string s;
    for (size_t k = 1; k + 1 < text.size(); ++k) {
      if (text[k] == '\\' && k + 2 < text.size()) {
        char c = text[++k];
        s += c == 'n' ? '\n' : c == 't' ? '\t' : c;
      } else {
        s += text[k];
      }
    }
    return Abstract::strConst(s);
  }
  if (text.find_first_of(".eE") != std::string::npos) return Abstract::floatConst(std::stod(text));
  return Abstract::intConst(std::stoll(text));
}

const std::vector<BindParam>& primParams(Prim p) {
  static const std::vector<std::vector<BindParam>> table = [] {
    std::vector<std::vector<BindParam>> t(kNumPrims);
    for (int k = 0; k < kNumPrims; ++k)
      for (const PrimParam& pp : primInfo((Prim)k).params)
        t[k].push_back(BindParam{pp.name, pp.kind, pp.hasDefault ? literal(pp.defaultText) : nullptr});
    return t;
  }();
  return table[(size_t)p];
}

}  // namespace

bool bindPrimArgs(Prim p, const std::vector<const Abstract*>& positional, const KwArgs& kwargs,
                  std::vector<const Abstract*>* bound, RuleResult* error) {
  return bindArguments(primName(p), primParams(p), positional, kwargs, bound, error);
}

bool methodPrim(AKind recv, const std::string& name, Prim* prim, bool* property) {
  for (const MethodRow& r : methodRows())
    if (r.recv == recv && name == r.name) {
      *prim = r.prim;
      *property = r.property;
      return true;
    }
  return false;
}

}  // namespace msl::ir
