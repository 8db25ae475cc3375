// Values: names, constructors, dictionaries, classes, equality and hashing.
#include "runtime/Value.h"

#include <cmath>
#include <cstring>
#include <functional>

#include "ir/Diagnostics.h"

namespace msl {

const char* vkindName(VKind k) {
  switch (k) {
#define X(K, N) case VKind::K: return N;
    MSL_VALUE_KINDS(X)
#undef X
  }
  return "?";
}

const char* Value::typeName() const {
  if (kind_ == VKind::Record) return as<RecordObj>()->classObj()->name.c_str();
  return vkindName(kind_);
}

// ------------------------------------------------------------------------ constructors
Value makeStr(std::string s) { return Value::object(new StrObj(std::move(s))); }
Value makeTensor(Tensor t) { return Value::object(new TensorObj(std::move(t))); }

Value makeTuple(std::vector<Value> items) {
  auto* t = new TupleObj();
  t->items = std::move(items);
  return Value::object(t);
}

Value makeList(std::vector<Value> items) {
  auto* l = new ListObj();
  l->items = std::move(items);
  return Value::object(l);
}

Value makeDict() { return Value::object(new DictObj()); }

Value makeSlice(Value lower, Value upper, Value step) {
  auto* s = new SliceObj();
  s->lower = std::move(lower);
  s->upper = std::move(upper);
  s->step = std::move(step);
  return Value::object(s);
}

Value makeEllipsis() { return Value::object(new EllipsisObj()); }

Value makeRange(int64_t start, int64_t stop, int64_t step) {
  auto* r = new RangeObj();
  r->start = start;
  r->stop = stop;
  r->step = step;
  return Value::object(r);
}

// The number of items; -1 when it does not fit in 63 bits (range() refuses such ranges).
int64_t RangeObj::length() const {
  __int128 span = (__int128)stop - start, n = 0;  // 128 bits: stop - start may overflow 64
  if (step > 0 && span > 0) n = (span + step - 1) / step;
  if (step < 0 && span < 0) n = (-span - step - 1) / -(__int128)step;
  return n > INT64_MAX ? -1 : (int64_t)n;
}

// ------------------------------------------------------------------------ classes
int ClassObj::fieldIndex(const std::string& f) const {
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i] == f) return (int)i;
  return -1;
}

const Value* ClassObj::method(const std::string& m) const {
  for (const auto& [name, fn] : methods)
    if (name == m) return &fn;
  return nullptr;
}

// ------------------------------------------------------------------------ equality
// Python's == between an int and a float: exact, without rounding the int.
static bool intEqualsFloat(int64_t i, double f) {
  if (!(f >= -0x1p63 && f < 0x1p63)) return false;  // also false for nan
  return std::trunc(f) == f && (int64_t)f == i;
}

static bool isNumber(const Value& v) {
  return v.is(VKind::Int) || v.is(VKind::Float) || v.is(VKind::Bool);
}

static bool sameItems(const std::vector<Value>& a, const std::vector<Value>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!valueEquals(a[i], b[i])) return false;
  return true;
}

bool valueEquals(const Value& a, const Value& b) {
  if (isNumber(a) && isNumber(b)) {
    if (a.is(VKind::Float) && b.is(VKind::Float)) return a.asFloat() == b.asFloat();
    auto asInt = [](const Value& v) { return v.is(VKind::Bool) ? (int64_t)v.asBool() : v.asInt(); };
    if (a.is(VKind::Float)) return intEqualsFloat(asInt(b), a.asFloat());
    if (b.is(VKind::Float)) return intEqualsFloat(asInt(a), b.asFloat());
    return asInt(a) == asInt(b);
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case VKind::None: case VKind::Token: case VKind::Undef: case VKind::Ellipsis: return true;
    case VKind::DTypeV: return a.asDType() == b.asDType();
    case VKind::Prim: return a.primId() == b.primId();
    case VKind::Str: return a.obj() == b.obj() || a.as<StrObj>()->s == b.as<StrObj>()->s;
    case VKind::Tuple: return a.obj() == b.obj() || sameItems(a.as<TupleObj>()->items, b.as<TupleObj>()->items);
    case VKind::List: return a.obj() == b.obj() || sameItems(a.as<ListObj>()->items, b.as<ListObj>()->items);
    case VKind::Dict: {
      if (a.obj() == b.obj()) return true;
      const auto& ea = a.as<DictObj>()->entries;
      const DictObj* db = b.as<DictObj>();
      if (ea.size() != db->entries.size()) return false;
      for (const auto& [k, v] : ea) {
        const Value* w = db->find(k);
        if (!w || !valueEquals(v, *w)) return false;
      }
      return true;
    }
    case VKind::Record: {
      const RecordObj* ra = a.as<RecordObj>();
      const RecordObj* rb = b.as<RecordObj>();
      return ra == rb || (ra->cls.obj() == rb->cls.obj() && sameItems(ra->fields, rb->fields));
    }
    case VKind::Range: {
      const RangeObj* ra = a.as<RangeObj>();
      const RangeObj* rb = b.as<RangeObj>();
      int64_t n = ra->length();
      if (n != rb->length()) return false;
      if (n == 0) return true;
      return ra->start == rb->start && (n == 1 || ra->step == rb->step);
    }
    case VKind::Slice: {
      const SliceObj* sa = a.as<SliceObj>();
      const SliceObj* sb = b.as<SliceObj>();
      return valueEquals(sa->lower, sb->lower) && valueEquals(sa->upper, sb->upper) &&
             valueEquals(sa->step, sb->step);
    }
    case VKind::BoundMethod: {
      const BoundMethodObj* ma = a.as<BoundMethodObj>();
      const BoundMethodObj* mb = b.as<BoundMethodObj>();
      return ma->self.obj() == mb->self.obj() && valueEquals(ma->func, mb->func);
    }
    default:  // tensors, classes, closures, partials, modules, exceptions: identity
      return a.obj() == b.obj();
  }
}

// ------------------------------------------------------------------------ hashing
static size_t mixHash(uint64_t x) {
  // splitmix64 finaliser
  x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27; x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return (size_t)x;
}

static size_t combineHash(size_t seed, size_t h) {
  return mixHash(seed ^ (h + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2)));
}

[[noreturn]] static void unhashable(const Value& v) {
  raise(DiagId::TypeError, SourceLoc{}, {std::string("unhashable type: '") + v.typeName() + "'"});
}

size_t valueHash(const Value& v) {
  switch (v.kind()) {
    case VKind::None: return 0x4e6f6e65;
    case VKind::Bool: return mixHash((uint64_t)v.asBool());
    case VKind::Int: return mixHash((uint64_t)v.asInt());
    case VKind::Float: {
      // Equal numbers hash alike: an integral float hashes as the int.
      double f = v.asFloat();
      if (f >= -0x1p63 && f < 0x1p63 && std::trunc(f) == f) return mixHash((uint64_t)(int64_t)f);
      uint64_t bits;
      std::memcpy(&bits, &f, sizeof bits);
      return mixHash(bits ^ 0x666c6f6174ULL);
    }
    case VKind::DTypeV: return mixHash(0x64740000ULL + (uint64_t)v.asDType());
    case VKind::Prim: return mixHash(0x70720000ULL + (uint64_t)v.primId());
    case VKind::Str: return std::hash<std::string>()(v.as<StrObj>()->s);
    case VKind::Tuple: {
      size_t h = 0x7475706c65;
      for (const Value& x : v.as<TupleObj>()->items) h = combineHash(h, valueHash(x));
      return h;
    }
    case VKind::Record: {
      const RecordObj* r = v.as<RecordObj>();
      size_t h = mixHash((uint64_t)(uintptr_t)r->cls.obj());
      for (const Value& x : r->fields) h = combineHash(h, valueHash(x));
      return h;
    }
    case VKind::Range: {
      const RangeObj* r = v.as<RangeObj>();
      int64_t n = r->length();
      size_t h = mixHash((uint64_t)n);
      if (n > 0) h = combineHash(h, mixHash((uint64_t)r->start));
      if (n > 1) h = combineHash(h, mixHash((uint64_t)r->step));
      return h;
    }
    case VKind::Slice: {
      const SliceObj* s = v.as<SliceObj>();
      return combineHash(combineHash(valueHash(s->lower), valueHash(s->upper)), valueHash(s->step));
    }
    case VKind::Ellipsis: case VKind::Token: case VKind::Undef: return (size_t)v.kind();
    case VKind::BoundMethod: {
      const BoundMethodObj* m = v.as<BoundMethodObj>();
      return combineHash(mixHash((uint64_t)(uintptr_t)m->self.obj()), valueHash(m->func));
    }
    case VKind::List: case VKind::Dict: case VKind::Tensor:
      unhashable(v);
    default:  // identity
      return mixHash((uint64_t)(uintptr_t)v.obj());
  }
}

// ------------------------------------------------------------------------ dictionaries
// Dicts up to this size are searched linearly; larger ones keep a hash index.
static constexpr size_t kDictLinearMax = 8;

// Raises the TypeError of valueHash for keys that cannot be hashed, without hashing.
static void checkHashable(const Value& k) {
  switch (k.kind()) {
    case VKind::List: case VKind::Dict: case VKind::Tensor: unhashable(k);
    case VKind::Tuple:
      for (const Value& x : k.as<TupleObj>()->items) checkHashable(x);
      return;
    case VKind::Record:
      for (const Value& x : k.as<RecordObj>()->fields) checkHashable(x);
      return;
    default: return;
  }
}

static uint64_t slotOf(size_t hash, size_t pos) { return ((uint64_t)(uint32_t)hash << 32) | (uint64_t)(pos + 1); }

// Brings the index up to date with `entries`: entries appended since the last use are
// added; a table that would become more than half full is rebuilt twice as large.
void DictObj::syncIndex() const {
  if (indexed_ > entries.size()) { index_.clear(); indexed_ = 0; }
  if (index_.empty() || 2 * entries.size() > index_.size()) {
    size_t cap = 16;
    while (cap < 4 * entries.size()) cap *= 2;
    index_.assign(cap, 0);
    indexed_ = 0;
  }
  size_t mask = index_.size() - 1;
  for (; indexed_ < entries.size(); ++indexed_) {
    size_t h = valueHash(entries[indexed_].first);
    size_t i = h & mask;
    while (index_[i] != 0) i = (i + 1) & mask;
    index_[i] = slotOf(h, indexed_);
  }
}

int64_t DictObj::position(const Value& key) const {
  if (entries.size() <= kDictLinearMax) {
    checkHashable(key);
    for (size_t i = 0; i < entries.size(); ++i)
      if (valueEquals(entries[i].first, key)) return (int64_t)i;
    return -1;
  }
  size_t h = valueHash(key);
  syncIndex();
  size_t mask = index_.size() - 1;
  uint32_t tag = (uint32_t)h;
  for (size_t i = h & mask; index_[i] != 0; i = (i + 1) & mask) {
    uint64_t slot = index_[i];
    size_t pos = (size_t)(uint32_t)slot - 1;
    if ((uint32_t)(slot >> 32) == tag && valueEquals(entries[pos].first, key)) return (int64_t)pos;
  }
  return -1;
}

const Value* DictObj::find(const Value& key) const {
  int64_t p = position(key);
  return p < 0 ? nullptr : &entries[(size_t)p].second;
}

void DictObj::set(const Value& key, Value v) {
  int64_t p = position(key);
  if (p >= 0) entries[(size_t)p].second = std::move(v);
  else entries.emplace_back(key, std::move(v));
}

bool DictObj::erase(const Value& key) {
  int64_t p = position(key);
  if (p < 0) return false;
  entries.erase(entries.begin() + p);
  index_.clear();  // positions after p moved: rebuilt on the next large lookup
  indexed_ = 0;
  return true;
}

}  // namespace msl
