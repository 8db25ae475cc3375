#include "ir/Abstract.h"
#include "ir/Literal.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <charconv>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "ir/IR.h"
#include "ir/InternTable.h"
#include "ir/ShapeRules.h"
#include "ir/Printer.h"

namespace msl::ir {

// ------------------------------------------------------------------ dimensions

Dim Dim::fresh() {
  static std::atomic<uint32_t> next{1};
  return symbol(next++);
}

std::string Dim::str() const { return isStatic() ? std::to_string(v_) : "?" + std::to_string(symbolId()); }

std::string dimsStr(const Dims& d) {
  std::string s = "(";
  for (size_t k = 0; k < d.size(); ++k) {
    if (k) s += ", ";
    s += d[k].str();
  }
  if (d.size() == 1) s += ",";
  return s + ")";
}

Dim SymbolSupply::next() {
  if (pos_ == syms_.size()) syms_.push_back(Dim::fresh());
  return syms_[pos_++];
}

const char* akindName(AKind k) {
  static const char* const names[] = {
      "Any", "Bottom", "Undef", "None", "Bool", "Int", "Float", "Str", "DType", "Tensor",
      "Tuple", "List", "Dict", "Record", "Class", "Function", "Prim", "Partial", "BoundMethod",
      "Union", "Module", "Token", "Slice", "Ellipsis", "Range", "Exception", "Global", "ClassDecl"};
  return names[(int)k];
}

// ------------------------------------------------------------------ interning

namespace {

size_t mix(size_t h, size_t v) { return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)); }

// Hashes the fields that the kind uses (the others keep their defaults).
struct AbsHash {
  size_t operator()(const Abstract* a) const {
    size_t h = (size_t)a->kind;
    h = mix(h, a->known | (a->b << 1) | (a->symbolic << 2) | (a->dtypeKnown << 3) | (a->rankKnown << 4) |
                   (a->homogeneous << 5));
    switch (a->kind) {
      case AKind::Int: return mix(mix(h, (size_t)a->i), (size_t)a->sym.raw());
      case AKind::Float: return mix(h, std::bit_cast<uint64_t>(a->f));
      case AKind::DType: return mix(h, (size_t)a->dtype);
      case AKind::Tensor:
        h = mix(h, (size_t)a->dtype);
        for (Dim d : a->shape) h = mix(h, (size_t)d.raw());
        return h;
      case AKind::Prim: return mix(h, (size_t)a->prim);
      case AKind::Module: return mix(h, (size_t)a->module);
      case AKind::Global: return mix(h, (size_t)a->global);
      case AKind::ClassDecl: return mix(h, (size_t)a->classInfo);
      default: break;
    }
    if (!a->s.empty()) h = mix(h, std::hash<std::string>()(a->s));
    for (const Abstract* e : a->elems) h = mix(h, (size_t)e);
    for (const std::string& n : a->names) h = mix(h, std::hash<std::string>()(n));
    h = mix(h, (size_t)a->ref);
    h = mix(h, (size_t)a->graph);
    for (const Abstract* e : a->defaults) h = mix(h, (size_t)e);
    for (const Abstract* e : a->methods) h = mix(h, (size_t)e);
    return mix(h, ((size_t)a->loc.line << 20) ^ a->loc.col);
  }
};

struct AbsEq {
  bool operator()(const Abstract* x, const Abstract* y) const {
    return x->kind == y->kind && x->known == y->known && x->b == y->b && x->i == y->i &&
           std::bit_cast<uint64_t>(x->f) == std::bit_cast<uint64_t>(y->f) && x->s == y->s &&
           x->dtype == y->dtype && x->symbolic == y->symbolic && x->sym == y->sym &&
           x->dtypeKnown == y->dtypeKnown && x->rankKnown == y->rankKnown && x->shape == y->shape &&
           x->homogeneous == y->homogeneous && x->elems == y->elems && x->names == y->names &&
           x->ref == y->ref && x->graph == y->graph && x->defaults == y->defaults &&
           x->methodNames == y->methodNames && x->methods == y->methods && x->prim == y->prim &&
           x->module == y->module && x->global == y->global && x->classInfo == y->classInfo &&
           x->loc.file == y->loc.file && x->loc.line == y->loc.line && x->loc.col == y->loc.col;
  }
};

// The derived flags of a new abstract, from its own fields and its children's flags.
void derive(Abstract& a) {
  bool scalar = a.kind == AKind::Bool || a.kind == AKind::Int || a.kind == AKind::Float;
  a.hasScalarValues = scalar && (a.known || a.symbolic);
  a.hasFunctions = a.kind == AKind::Function;
  auto from = [&](const Abstract* c) {
    if (!c) return;
    a.hasScalarValues |= c->hasScalarValues;
    a.hasFunctions |= c->hasFunctions;
  };
  for (const Abstract* c : a.elems) from(c);
  for (const Abstract* c : a.defaults) from(c);
  for (const Abstract* c : a.methods) from(c);
  from(a.ref);
}

class InternTable {
 public:
  const Abstract* intern(const Abstract& candidate) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = set_.find(&candidate);
    if (it != set_.end()) return *it;
    auto owned = std::make_unique<Abstract>(candidate);
    owned->serial = (uint32_t)store_.size() + 1;
    derive(*owned);
    const Abstract* p = owned.get();
    store_.push_back(std::move(owned));
    set_.insert(p);
    return p;
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return store_.size();
  }
  void truncate(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = n; i < store_.size(); ++i) set_.erase(store_[i].get());
    if (n < store_.size()) store_.resize(n);
  }

 private:
  std::mutex mu_;
  std::unordered_set<const Abstract*, AbsHash, AbsEq> set_;
  std::vector<std::unique_ptr<Abstract>> store_;
};

InternTable& table() {
  static InternTable* t = new InternTable;  // never destroyed: abstracts outlive everything
  return *t;
}

const Abstract* intern(const Abstract& a) { return table().intern(a); }

const Abstract* simple(AKind k) {
  Abstract a;
  a.kind = k;
  return intern(a);
}

// Installs toString as the IR printer's way of showing types.
[[maybe_unused]] const bool kPrinterHook = [] {
  abstractToString = &toString;
  return true;
}();

}  // namespace

// ------------------------------------------------------------------ factories

const Abstract* Abstract::any() { static const Abstract* a = simple(AKind::Any); return a; }
const Abstract* Abstract::bottom() { static const Abstract* a = simple(AKind::Bottom); return a; }
const Abstract* Abstract::undef() { static const Abstract* a = simple(AKind::Undef); return a; }
const Abstract* Abstract::none() { static const Abstract* a = simple(AKind::None); return a; }
const Abstract* Abstract::token() { static const Abstract* a = simple(AKind::Token); return a; }
const Abstract* Abstract::ellipsis() { static const Abstract* a = simple(AKind::Ellipsis); return a; }
const Abstract* Abstract::boolean() { static const Abstract* a = simple(AKind::Bool); return a; }
const Abstract* Abstract::integer() { static const Abstract* a = simple(AKind::Int); return a; }
const Abstract* Abstract::real() { static const Abstract* a = simple(AKind::Float); return a; }
const Abstract* Abstract::str() { static const Abstract* a = simple(AKind::Str); return a; }
const Abstract* Abstract::dtypeAny() { static const Abstract* a = simple(AKind::DType); return a; }

size_t internedCount() {
  for (auto make : {Abstract::any, Abstract::bottom, Abstract::undef, Abstract::none, Abstract::token,
                    Abstract::ellipsis, Abstract::boolean, Abstract::integer, Abstract::real, Abstract::str,
                    Abstract::dtypeAny})
    (void)make();
  // The argument binder's table of default values (ir/ShapeRules.cpp) is another.
  std::vector<const Abstract*> bound;
  RuleResult unused;
  (void)bindPrimArgs((Prim)0, {}, {}, &bound, &unused);
  return table().size();
}

void dropInternedAfter(size_t n) { table().truncate(n); }

const Abstract* Abstract::boolConst(bool v) {
  Abstract a;
  a.kind = AKind::Bool;
  a.known = true;
  a.b = v;
  return intern(a);
}

const Abstract* Abstract::intConst(int64_t v) {
  Abstract a;
  a.kind = AKind::Int;
  a.known = true;
  a.i = v;
  return intern(a);
}

const Abstract* Abstract::intDim(Dim d) {
  if (d.isStatic()) return intConst(d.size());
  Abstract a;
  a.kind = AKind::Int;
  a.symbolic = true;
  a.sym = d;
  return intern(a);
}

const Abstract* Abstract::floatConst(double v) {
  Abstract a;
  a.kind = AKind::Float;
  a.known = true;
  a.f = v;
  return intern(a);
}

const Abstract* Abstract::strConst(const std::string& v) {
  Abstract a;
  a.kind = AKind::Str;
  a.known = true;
  a.s = v;
  return intern(a);
}

const Abstract* Abstract::dtypeConst(DType d) {
  Abstract a;
  a.kind = AKind::DType;
  a.known = true;
  a.dtype = d;
  return intern(a);
}

const Abstract* Abstract::tensorOf(const DType* dt, const Dims* shape) {
  Abstract a;
  a.kind = AKind::Tensor;
  if (dt) { a.dtypeKnown = true; a.dtype = *dt; }
  if (shape) { a.rankKnown = true; a.shape = *shape; }
  return intern(a);
}

const Abstract* Abstract::tensor(DType dt, Dims shape) {
  Abstract a;
  a.kind = AKind::Tensor;
  a.dtypeKnown = true;
  a.dtype = dt;
  a.rankKnown = true;
  a.shape = std::move(shape);
  return intern(a);
}

static const Abstract* sequence(AKind k, std::vector<const Abstract*> items, bool homogeneous) {
  Abstract a;
  a.kind = k;
  a.homogeneous = homogeneous;
  a.elems = std::move(items);
  return intern(a);
}

const Abstract* Abstract::tuple(std::vector<const Abstract*> items) { return sequence(AKind::Tuple, std::move(items), false); }
const Abstract* Abstract::tupleOf(const Abstract* item) { return sequence(AKind::Tuple, {item}, true); }
const Abstract* Abstract::list(std::vector<const Abstract*> items) { return sequence(AKind::List, std::move(items), false); }
const Abstract* Abstract::listOf(const Abstract* item) { return sequence(AKind::List, {item}, true); }

const Abstract* Abstract::dict(std::vector<std::string> keys, std::vector<const Abstract*> values) {
  Abstract a;
  a.kind = AKind::Dict;
  a.names = std::move(keys);
  a.elems = std::move(values);
  return intern(a);
}

const Abstract* Abstract::dictOf(const Abstract* key, const Abstract* value) {
  Abstract a;
  a.kind = AKind::Dict;
  a.homogeneous = true;
  a.elems = {key, value};
  return intern(a);
}

const Abstract* Abstract::classType(const std::string& name, SourceLoc loc, std::vector<std::string> fields,
                                    std::vector<const Abstract*> fieldDefaults, std::vector<std::string> methodNames,
                                    std::vector<const Abstract*> methods) {
  Abstract a;
  a.kind = AKind::Class;
  a.s = name;
  a.loc = loc;
  a.names = std::move(fields);
  a.elems = std::move(fieldDefaults);
  a.methodNames = std::move(methodNames);
  a.methods = std::move(methods);
  return intern(a);
}

const Abstract* Abstract::record(const Abstract* cls, std::vector<const Abstract*> fields) {
  Abstract a;
  a.kind = AKind::Record;
  a.ref = cls;
  a.elems = std::move(fields);
  return intern(a);
}

const Abstract* Abstract::function(const Graph* g, std::vector<const Abstract*> captured,
                                   std::vector<const Abstract*> defaults) {
  Abstract a;
  a.kind = AKind::Function;
  a.graph = g;
  a.elems = std::move(captured);
  a.defaults = std::move(defaults);
  return intern(a);
}

const Abstract* Abstract::primitive(msl::Prim p) {
  Abstract a;
  a.kind = AKind::Prim;
  a.prim = p;
  return intern(a);
}

const Abstract* Abstract::partial(const Abstract* fn, std::vector<const Abstract*> args, std::vector<std::string> kwnames) {
  Abstract a;
  a.kind = AKind::Partial;
  a.ref = fn;
  a.elems = std::move(args);
  a.names = std::move(kwnames);
  return intern(a);
}

const Abstract* Abstract::boundMethod(const Abstract* self, const Abstract* fn) {
  Abstract a;
  a.kind = AKind::BoundMethod;
  a.ref = fn;
  a.elems = {self};
  return intern(a);
}

const Abstract* Abstract::moduleRef(const ir::Module* m) {
  Abstract a;
  a.kind = AKind::Module;
  a.module = m;
  return intern(a);
}

const Abstract* Abstract::slice(const Abstract* lower, const Abstract* upper, const Abstract* step) {
  Abstract a;
  a.kind = AKind::Slice;
  a.elems = {lower, upper, step};
  return intern(a);
}

const Abstract* Abstract::range(const Abstract* start, const Abstract* stop, const Abstract* step) {
  Abstract a;
  a.kind = AKind::Range;
  a.elems = {start, stop, step};
  return intern(a);
}

const Abstract* Abstract::exception(const std::string& type) {
  Abstract a;
  a.kind = AKind::Exception;
  a.s = type;
  return intern(a);
}

const Abstract* Abstract::globalSlot(const GlobalVar* g) {
  Abstract a;
  a.kind = AKind::Global;
  a.global = g;
  return intern(a);
}

const Abstract* Abstract::classDecl(const ClassInfo* c) {
  Abstract a;
  a.kind = AKind::ClassDecl;
  a.classInfo = c;
  return intern(a);
}

// ------------------------------------------------------------------ unions of callables

namespace {

constexpr size_t kMaxUnion = 8;

// Two callables with the same identity (same graph, primitive, class...) join into one.
bool sameCallable(const Abstract* a, const Abstract* b) {
  if (a->kind != b->kind) return false;
  switch (a->kind) {
    case AKind::Function: return a->graph == b->graph;
    case AKind::Prim: return a->prim == b->prim;
    case AKind::Class: return a->s == b->s && a->loc.file == b->loc.file && a->loc.line == b->loc.line &&
                              a->loc.col == b->loc.col && a->names == b->names && a->methodNames == b->methodNames;
    case AKind::Partial: return a->elems.size() == b->elems.size() && a->names == b->names && sameCallable(a->ref, b->ref);
    case AKind::BoundMethod: return sameCallable(a->ref, b->ref);
    default: return a == b;
  }
}

}  // namespace

bool Abstract::isCallable() const {
  switch (kind) {
    case AKind::Function: case AKind::Prim: case AKind::Class: case AKind::Partial:
    case AKind::BoundMethod: case AKind::Union:
      return true;
    default:
      return false;
  }
}

const Abstract* Abstract::unionOf(std::vector<const Abstract*> members) {
  std::vector<const Abstract*> flat;
  for (const Abstract* m : members) {
    if (m->isBottom()) continue;
    if (!m->isCallable()) return any();
    if (m->kind == AKind::Union) flat.insert(flat.end(), m->elems.begin(), m->elems.end());
    else flat.push_back(m);
  }
  std::vector<const Abstract*> out;
  for (const Abstract* m : flat) {
    auto it = std::find_if(out.begin(), out.end(), [&](const Abstract* o) { return sameCallable(o, m); });
    if (it == out.end()) out.push_back(m);
    else *it = join(*it, m);
  }
  if (out.empty()) return bottom();
  if (out.size() == 1) return out[0];
  if (out.size() > kMaxUnion) return any();
  std::sort(out.begin(), out.end(), [](const Abstract* x, const Abstract* y) { return x->serial < y->serial; });
  Abstract a;
  a.kind = AKind::Union;
  a.elems = std::move(out);
  return intern(a);
}

// ------------------------------------------------------------------ queries

int64_t Abstract::staticNumel() const {
  if (kind != AKind::Tensor || !rankKnown) return -1;
  int64_t n = 1;
  for (Dim d : shape) {
    if (!d.isStatic()) return -1;
    n *= d.size();
  }
  return n;
}

std::string Abstract::typeName() const {
  switch (kind) {
    case AKind::None: return "NoneType";
    case AKind::Bool: return "bool";
    case AKind::Int: return "int";
    case AKind::Float: return "float";
    case AKind::Str: return "str";
    case AKind::DType: return "dtype";
    case AKind::Tensor: return "Tensor";
    case AKind::Tuple: return "tuple";
    case AKind::List: return "list";
    case AKind::Dict: return "dict";
    case AKind::Record: return ref->s;
    case AKind::Class: return "type";
    case AKind::Function: case AKind::Partial: return "function";
    case AKind::Prim: return "builtin_function";
    case AKind::BoundMethod: return "method";
    case AKind::Module: return "module";
    case AKind::Token: return "state";
    case AKind::Slice: return "slice";
    case AKind::Ellipsis: return "ellipsis";
    case AKind::Range: return "range";
    case AKind::Exception: return "exception";
    case AKind::Undef: return "undefined";
    default: return akindName(kind);
  }
}

int Abstract::fieldIndex(const std::string& name) const {
  if (kind != AKind::Record) return -1;
  const auto& f = ref->names;
  auto it = std::find(f.begin(), f.end(), name);
  return it == f.end() ? -1 : (int)(it - f.begin());
}

const Abstract* Abstract::method(const std::string& name) const {
  for (size_t k = 0; k < methodNames.size(); ++k)
    if (methodNames[k] == name) return methods[k];
  return nullptr;
}

// ------------------------------------------------------------------ text form

namespace {

std::string joinStrs(const std::vector<const Abstract*>& xs, const char* sep = ", ") {
  std::string s;
  for (size_t k = 0; k < xs.size(); ++k) {
    if (k) s += sep;
    s += toString(xs[k]);
  }
  return s;
}

std::string graphName(const Graph* g) { return g->qualname.empty() ? g->name : g->qualname; }

}  // namespace

std::string toString(const Abstract* a) {
  if (!a) return "<none>";
  switch (a->kind) {
    case AKind::Any: return "Any";
    case AKind::Bottom: return "Bottom";
    case AKind::Undef: return "undefined";
    case AKind::None: return "None";
    case AKind::Token: return "state";
    case AKind::Ellipsis: return "...";
    case AKind::Bool: return a->known ? std::string("bool=") + (a->b ? "True" : "False") : "bool";
    case AKind::Int:
      if (a->known) return "i64=" + std::to_string(a->i);
      if (a->symbolic) return "i64=" + a->sym.str();
      return "i64";
    case AKind::Float: return a->known ? "f64=" + floatLiteral(a->f) : "f64";
    case AKind::Str: return a->known ? "str=" + quoteLiteral(a->s) : "str";
    case AKind::DType: return a->known ? std::string("dtype=") + dtypeName(a->dtype) : "dtype";
    case AKind::Tensor: {
      std::string s = a->dtypeKnown ? dtypeName(a->dtype) : "Tensor";
      if (!a->rankKnown) return s + "[...]";
      s += "[";
      for (size_t k = 0; k < a->shape.size(); ++k) {
        if (k) s += ",";
        s += a->shape[k].str();
      }
      return s + "]";
    }
    case AKind::Tuple:
      if (a->homogeneous) return "(" + toString(a->elems[0]) + ", ...)";
      return "(" + joinStrs(a->elems) + (a->elems.size() == 1 ? ",)" : ")");
    case AKind::List:
      if (a->homogeneous) return "[" + toString(a->elems[0]) + ", ...]";
      return "[" + joinStrs(a->elems) + "]";
    case AKind::Dict: {
      if (a->homogeneous) return "dict[" + toString(a->elems[0]) + ", " + toString(a->elems[1]) + "]";
      std::string s = "{";
      for (size_t k = 0; k < a->names.size(); ++k) {
        if (k) s += ", ";
        s += quoteLiteral(a->names[k]) + ": " + toString(a->elems[k]);
      }
      return s + "}";
    }
    case AKind::Record: {
      std::string s = a->ref->s + "{";
      for (size_t k = 0; k < a->elems.size(); ++k) {
        if (k) s += ", ";
        s += a->ref->names[k] + ": " + toString(a->elems[k]);
      }
      return s + "}";
    }
    case AKind::Class: return "class " + a->s;
    case AKind::Function: return "function " + graphName(a->graph);
    case AKind::Prim: return std::string("prim ") + primName(a->prim);
    case AKind::Partial: return "partial(" + toString(a->ref) + (a->elems.empty() ? "" : ", ") + joinStrs(a->elems) + ")";
    case AKind::BoundMethod: return "method(" + toString(a->elems[0]) + ", " + toString(a->ref) + ")";
    case AKind::Union: return joinStrs(a->elems, " | ");
    case AKind::Module: return "module " + a->module->name;
    case AKind::Slice: return "slice(" + joinStrs(a->elems) + ")";
    case AKind::Range: return "range(" + joinStrs(a->elems) + ")";
    case AKind::Exception: return a->s.empty() ? "exception" : a->s;
    case AKind::Global: return "$" + a->global->name;
    case AKind::ClassDecl: return "classdecl " + a->classInfo->name;
  }
  return "?";
}

// ------------------------------------------------------------------ join

namespace {

Dim joinDim(Dim a, Dim b, SymbolSupply* syms) {
  if (a == b) return a;
  return syms ? syms->next() : Dim::fresh();
}

const Abstract* joinAll(const std::vector<const Abstract*>& xs, SymbolSupply* syms) {
  const Abstract* r = Abstract::bottom();
  for (const Abstract* x : xs) r = join(r, x, syms);
  return r;
}

// Joins two vectors of equal length element by element (nullptr entries must match).
std::vector<const Abstract*> joinEach(const std::vector<const Abstract*>& a, const std::vector<const Abstract*>& b,
                                      SymbolSupply* syms) {
  std::vector<const Abstract*> out(a.size());
  for (size_t k = 0; k < a.size(); ++k)
    out[k] = a[k] && b[k] ? join(a[k], b[k], syms) : nullptr;
  return out;
}

bool sameNulls(const std::vector<const Abstract*>& a, const std::vector<const Abstract*>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k)
    if (!a[k] != !b[k]) return false;
  return true;
}

const Abstract* joinTensors(const Abstract* a, const Abstract* b, SymbolSupply* syms) {
  DType dt = a->dtype;
  bool dtKnown = a->dtypeKnown && b->dtypeKnown && a->dtype == b->dtype;
  if (a->rankKnown && b->rankKnown && a->rank() == b->rank()) {
    Dims d(a->shape.size());
    for (size_t k = 0; k < d.size(); ++k) d[k] = joinDim(a->shape[k], b->shape[k], syms);
    return Abstract::tensorOf(dtKnown ? &dt : nullptr, &d);
  }
  return Abstract::tensorOf(dtKnown ? &dt : nullptr, nullptr);
}

const Abstract* joinSequences(const Abstract* a, const Abstract* b, SymbolSupply* syms) {
  bool list = a->kind == AKind::List;
  if (!a->homogeneous && !b->homogeneous && a->elems.size() == b->elems.size()) {
    auto e = joinEach(a->elems, b->elems, syms);
    return list ? Abstract::list(std::move(e)) : Abstract::tuple(std::move(e));
  }
  const Abstract* item = join(joinAll(a->elems, syms), joinAll(b->elems, syms), syms);
  return list ? Abstract::listOf(item) : Abstract::tupleOf(item);
}

const Abstract* dictKey(const Abstract* d) {
  if (d->homogeneous) return d->elems[0];
  return d->names.empty() ? Abstract::bottom() : Abstract::str();
}

const Abstract* dictValue(const Abstract* d, SymbolSupply* syms) {
  return d->homogeneous ? d->elems[1] : joinAll(d->elems, syms);
}

const Abstract* joinDicts(const Abstract* a, const Abstract* b, SymbolSupply* syms) {
  if (!a->homogeneous && !b->homogeneous && a->names == b->names)
    return Abstract::dict(a->names, joinEach(a->elems, b->elems, syms));
  return Abstract::dictOf(join(dictKey(a), dictKey(b), syms), join(dictValue(a, syms), dictValue(b, syms), syms));
}

const Abstract* joinSameKind(const Abstract* a, const Abstract* b, SymbolSupply* syms) {
  switch (a->kind) {
    case AKind::Bool: return Abstract::boolean();
    case AKind::Int: return Abstract::integer();
    case AKind::Float: return Abstract::real();
    case AKind::Str: return Abstract::str();
    case AKind::DType: return Abstract::dtypeAny();
    case AKind::Tensor: return joinTensors(a, b, syms);
    case AKind::Tuple:
    case AKind::List: return joinSequences(a, b, syms);
    case AKind::Dict: return joinDicts(a, b, syms);
    case AKind::Record: {
      const Abstract* cls = join(a->ref, b->ref, syms);
      if (cls->kind != AKind::Class) return Abstract::any();
      return Abstract::record(cls, joinEach(a->elems, b->elems, syms));
    }
    case AKind::Class:
      if (!sameCallable(a, b) || !sameNulls(a->elems, b->elems)) return Abstract::unionOf({a, b});
      return Abstract::classType(a->s, a->loc, a->names, joinEach(a->elems, b->elems, syms), a->methodNames,
                                 joinEach(a->methods, b->methods, syms));
    case AKind::Function:
      if (a->graph != b->graph || a->elems.size() != b->elems.size() || !sameNulls(a->defaults, b->defaults))
        return Abstract::unionOf({a, b});
      return Abstract::function(a->graph, joinEach(a->elems, b->elems, syms), joinEach(a->defaults, b->defaults, syms));
    case AKind::Partial:
      if (!sameCallable(a, b)) return Abstract::unionOf({a, b});
      return Abstract::partial(join(a->ref, b->ref, syms), joinEach(a->elems, b->elems, syms), a->names);
    case AKind::BoundMethod:
      if (!sameCallable(a, b)) return Abstract::unionOf({a, b});
      return Abstract::boundMethod(join(a->elems[0], b->elems[0], syms), join(a->ref, b->ref, syms));
    case AKind::Prim:
    case AKind::Union: return Abstract::unionOf({a, b});
    case AKind::Slice: {
      auto e = joinEach(a->elems, b->elems, syms);
      return Abstract::slice(e[0], e[1], e[2]);
    }
    case AKind::Range: {
      auto e = joinEach(a->elems, b->elems, syms);
      return Abstract::range(e[0], e[1], e[2]);
    }
    case AKind::Exception: return Abstract::exception("");
    default: return Abstract::any();  // distinct modules, slots, class declarations
  }
}

}  // namespace

const Abstract* join(const Abstract* a, const Abstract* b, SymbolSupply* syms) {
  if (a == b) return a;
  if (a->isBottom() || a->is(AKind::Undef)) return b;
  if (b->isBottom() || b->is(AKind::Undef)) return a;
  if (a->isAny() || b->isAny()) return Abstract::any();
  if (a->kind != b->kind) {
    if (a->isCallable() && b->isCallable()) return Abstract::unionOf({a, b});
    return Abstract::any();
  }
  return joinSameKind(a, b, syms);
}

// ------------------------------------------------------------------ transformations

namespace {

// `a` with f applied to every child abstract; `a` itself when nothing changes.
const Abstract* mapChildren(const Abstract* a, const std::function<const Abstract*(const Abstract*)>& f) {
  bool changed = false;
  auto mapVec = [&](const std::vector<const Abstract*>& v) {
    std::vector<const Abstract*> out(v.size());
    for (size_t k = 0; k < v.size(); ++k) {
      out[k] = v[k] ? f(v[k]) : nullptr;
      changed |= out[k] != v[k];
    }
    return out;
  };
  std::vector<const Abstract*> elems = mapVec(a->elems), defaults = mapVec(a->defaults), methods = mapVec(a->methods);
  const Abstract* ref = a->ref ? f(a->ref) : nullptr;
  changed |= ref != a->ref;
  if (!changed) return a;
  if (a->kind == AKind::Union) return Abstract::unionOf(elems);
  Abstract c = *a;
  c.elems = std::move(elems);
  c.defaults = std::move(defaults);
  c.methods = std::move(methods);
  c.ref = ref;
  return intern(c);
}

}  // namespace

const Abstract* dynamicScalars(const Abstract* a) {
  if (!a->hasScalarValues) return a;
  switch (a->kind) {
    case AKind::Bool: return Abstract::boolean();
    case AKind::Int: return Abstract::integer();
    case AKind::Float: return Abstract::real();
    default: return mapChildren(a, dynamicScalars);
  }
}

const Abstract* mapGraphs(const Abstract* a, const std::function<const Graph*(const Graph*)>& map) {
  std::function<const Abstract*(const Abstract*)> rec = [&](const Abstract* x) -> const Abstract* {
    if (!x->hasFunctions) return x;
    const Abstract* y = mapChildren(x, rec);
    if (y->kind != AKind::Function) return y;
    const Graph* g = map(y->graph);
    if (g == y->graph) return y;
    return Abstract::function(g, y->elems, y->defaults);
  };
  return rec(a);
}

const Abstract* iterItem(const Abstract* a) {
  switch (a->kind) {
    case AKind::Any: case AKind::Bottom: return a;
    case AKind::Tuple:
    case AKind::List: return a->homogeneous ? a->elems[0] : joinAll(a->elems, nullptr);
    case AKind::Str: return Abstract::str();
    case AKind::Range: return Abstract::integer();
    case AKind::Dict: return dictKey(a);
    case AKind::Tensor: {
      DType dt = a->dtype;
      const DType* pdt = a->dtypeKnown ? &dt : nullptr;
      if (!a->rankKnown) return Abstract::tensorOf(pdt, nullptr);
      if (a->shape.empty()) return nullptr;
      Dims rest(a->shape.begin() + 1, a->shape.end());
      return Abstract::tensorOf(pdt, &rest);
    }
    default: return nullptr;
  }
}

const Abstract* literalAbstract(const Node* n) {
  if (!n->isConst()) return nullptr;
  switch (n->ckind) {
    case ConstKind::None: return Abstract::none();
    case ConstKind::Bool: return Abstract::boolConst(n->b);
    case ConstKind::Int: return Abstract::intConst(n->i);
    case ConstKind::Float: return Abstract::floatConst(n->f);
    case ConstKind::Str: return Abstract::strConst(n->s);
    case ConstKind::DType: return Abstract::dtypeConst(n->dtype);
    case ConstKind::Prim: return Abstract::primitive(n->prim);
    default: return nullptr;
  }
}

}  // namespace msl::ir
