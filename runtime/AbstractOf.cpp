#include "runtime/AbstractOf.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "ir/IR.h"
#include "ir/InternTable.h"
#include "ir/Source.h"

namespace msl {

using ir::Abstract;

namespace {

// The join of the abstracts of `items`, stopping once it is Any.
const Abstract* joinOf(const std::vector<Value>& items) {
  const Abstract* r = Abstract::bottom();
  for (const Value& v : items) {
    r = ir::join(r, abstractOf(v));
    if (r->isAny()) break;
  }
  return r;
}

const Abstract* sequenceOf(const std::vector<Value>& items, bool list) {
  if (items.size() > kMaxStructural) {
    const Abstract* item = joinOf(items);
    return list ? Abstract::listOf(item) : Abstract::tupleOf(item);
  }
  std::vector<const Abstract*> elems;
  elems.reserve(items.size());
  for (const Value& v : items) elems.push_back(abstractOf(v));
  return list ? Abstract::list(std::move(elems)) : Abstract::tuple(std::move(elems));
}

const Abstract* dictOf(const DictObj* d) {
  bool keyed = d->entries.size() <= kMaxStructural;
  for (const auto& [k, v] : d->entries) keyed &= k.is(VKind::Str);
  if (keyed) {
    std::vector<std::string> keys;
    std::vector<const Abstract*> values;
    for (const auto& [k, v] : d->entries) {
      keys.push_back(k.as<StrObj>()->s);
      values.push_back(abstractOf(v));
    }
    return Abstract::dict(std::move(keys), std::move(values));
  }
  const Abstract* key = Abstract::bottom();
  const Abstract* value = Abstract::bottom();
  for (const auto& [k, v] : d->entries) {
    key = ir::join(key, ir::dynamicScalars(abstractOf(k)));
    value = ir::join(value, abstractOf(v));
    if (key->isAny() && value->isAny()) break;
  }
  return Abstract::dictOf(key, value);
}

const Abstract* computeClass(const ClassObj* c) {
  std::vector<const Abstract*> defaults;
  for (size_t k = 0; k < c->fields.size(); ++k)
    defaults.push_back(k < c->hasDefault.size() && c->hasDefault[k] ? abstractOf(c->defaults[k]) : nullptr);
  std::vector<std::string> names;
  std::vector<const Abstract*> methods;
  for (const auto& [name, fn] : c->methods) {
    names.push_back(name);
    methods.push_back(abstractOf(fn));
  }
  return Abstract::classType(c->name, c->loc, c->fields, std::move(defaults), std::move(names), std::move(methods));
}

// Class objects are immutable, so their abstracts are computed once. The cache holds a
// reference to each class, so that no other class can reuse its address.
struct ClassCache {
  std::mutex mu;
  std::unordered_map<const Object*, std::pair<Value, const Abstract*>> map;
};
ClassCache& classCache() {
  static ClassCache* c = new ClassCache;  // never destroyed: values may outlive statics
  return *c;
}

const Abstract* classOf(const Value& cls) {
  auto& [mu, cache] = classCache();
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(cls.obj());
    if (it != cache.end()) return it->second.second;
  }
  const Abstract* a = computeClass(cls.as<ClassObj>());
  std::lock_guard<std::mutex> lock(mu);
  cache.emplace(cls.obj(), std::make_pair(cls, a));
  return a;
}

const Abstract* closureOf(const ClosureObj* c) {
  std::vector<const Abstract*> captured, defaults;
  for (const Value& v : c->captured) captured.push_back(abstractOf(v));
  for (const Value& v : c->defaults) defaults.push_back(v.is(VKind::Undef) ? nullptr : abstractOf(v));
  return Abstract::function(c->graph, std::move(captured), std::move(defaults));
}

}  // namespace

void clearClassAbstractCache() {
  ClassCache& c = classCache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.map.clear();
}

RunMark::RunMark(bool sources)
    : sources_(sources), abstractMark_(ir::internedCount()), idMark_(ir::peekGlobalId()) {
  if (sources_) fileMark_ = SourceManager::get().count();
}

void RunMark::restore() {
  if (done_) return;
  done_ = true;
  clearClassAbstractCache();
  ir::resetGlobalIds(idMark_);
  ir::dropInternedAfter(abstractMark_);
  if (sources_) SourceManager::get().truncate(fileMark_);
}

const ir::Abstract* abstractOf(const Value& v) {
  switch (v.kind()) {
    case VKind::None: return Abstract::none();
    case VKind::Bool: return Abstract::boolean();
    case VKind::Int: return Abstract::integer();
    case VKind::Float: return Abstract::real();
    case VKind::DTypeV: return Abstract::dtypeConst(v.asDType());
    case VKind::Prim: return Abstract::primitive((Prim)v.primId());
    case VKind::Undef: return Abstract::undef();
    case VKind::Token: return Abstract::token();
    case VKind::Str: {
      const std::string& s = v.as<StrObj>()->s;
      return s.size() <= kMaxStaticStr ? Abstract::strConst(s) : Abstract::str();
    }
    case VKind::Tensor: {
      const Tensor& t = v.as<TensorObj>()->t;
      ir::Dims dims;
      for (int64_t d : t.shape()) dims.push_back(ir::Dim::of(d));
      return Abstract::tensor(t.dtype(), std::move(dims));
    }
    case VKind::Tuple: return sequenceOf(v.as<TupleObj>()->items, false);
    case VKind::List: return sequenceOf(v.as<ListObj>()->items, true);
    case VKind::Dict: return dictOf(v.as<DictObj>());
    case VKind::Record: {
      const RecordObj* r = v.as<RecordObj>();
      std::vector<const Abstract*> fields;
      for (const Value& f : r->fields) fields.push_back(abstractOf(f));
      return Abstract::record(classOf(r->cls), std::move(fields));
    }
    case VKind::Class: return classOf(v);
    case VKind::Closure: return closureOf(v.as<ClosureObj>());
    case VKind::BoundMethod: {
      const BoundMethodObj* b = v.as<BoundMethodObj>();
      return Abstract::boundMethod(abstractOf(b->self), abstractOf(b->func));
    }
    case VKind::Partial: {
      const PartialObj* p = v.as<PartialObj>();
      std::vector<const Abstract*> args;
      std::vector<std::string> names;
      for (const Value& a : p->args) args.push_back(abstractOf(a));
      for (const auto& [name, a] : p->kwargs) {
        names.push_back(name);
        args.push_back(abstractOf(a));
      }
      return Abstract::partial(abstractOf(p->func), std::move(args), std::move(names));
    }
    case VKind::Module: return Abstract::moduleRef(static_cast<const ir::Module*>(v.as<ModuleObj>()->irModule));
    case VKind::Slice: {
      const SliceObj* s = v.as<SliceObj>();
      return Abstract::slice(abstractOf(s->lower), abstractOf(s->upper), abstractOf(s->step));
    }
    case VKind::Ellipsis: return Abstract::ellipsis();
    case VKind::Range: return Abstract::range(Abstract::integer(), Abstract::integer(), Abstract::integer());
    case VKind::Exception: return Abstract::exception(v.as<ExceptionObj>()->type);
  }
  return Abstract::any();
}

namespace {

// A signature's word for a kind, with data that fits in 56 bits.
inline uint64_t word(VKind k, uint64_t data = 0) { return (uint64_t)k | (data << 8); }
constexpr uint64_t kUnknownStr = 0xfe, kLongStr = 0xfd;  // (not kinds)

void appendBytes(const std::string& s, std::vector<uint64_t>& out) {
  out.push_back(word(VKind::Str, s.size()));
  for (size_t i = 0; i < s.size(); i += 8) {
    uint64_t w = 0;
    std::memcpy(&w, s.data() + i, std::min<size_t>(8, s.size() - i));
    out.push_back(w);
  }
}

// Mirrors abstractOf, case by case.
bool signature(const Value& v, std::vector<uint64_t>& out, std::vector<Value>* keep) {
  if (out.size() > kMaxSignatureWords) return false;
  VKind k = v.kind();
  switch (k) {
    case VKind::None: case VKind::Bool: case VKind::Int: case VKind::Float: case VKind::Undef:
    case VKind::Token: case VKind::Ellipsis: case VKind::Range:
      out.push_back(word(k));
      return true;
    case VKind::DTypeV: out.push_back(word(k, (uint64_t)v.asDType())); return true;
    case VKind::Prim: out.push_back(word(k, (uint32_t)v.primId())); return true;
    case VKind::Str: {
      const std::string& s = v.as<StrObj>()->s;
      if (s.size() > kMaxStaticStr) out.push_back(kLongStr);
      else appendBytes(s, out);
      return true;
    }
    case VKind::Tensor: {
      const Tensor& t = v.as<TensorObj>()->t;
      out.push_back(word(k, (uint64_t)t.dtype() | ((uint64_t)t.shape().size() << 8)));
      for (int64_t d : t.shape()) out.push_back((uint64_t)d);
      return true;
    }
    case VKind::Tuple:
    case VKind::List: {
      const std::vector<Value>& items = k == VKind::List ? v.as<ListObj>()->items : v.as<TupleObj>()->items;
      if (items.size() > kMaxStructural) return false;
      out.push_back(word(k, items.size()));
      for (const Value& x : items)
        if (!signature(x, out, keep)) return false;
      return true;
    }
    case VKind::Dict: {
      const DictObj* d = v.as<DictObj>();
      if (d->entries.size() > kMaxStructural) return false;
      out.push_back(word(k, d->entries.size()));
      for (const auto& [key, x] : d->entries) {
        if (!key.is(VKind::Str)) return false;
        appendBytes(key.as<StrObj>()->s, out);
        if (!signature(x, out, keep)) return false;
      }
      return true;
    }
    case VKind::Record: {
      const RecordObj* r = v.as<RecordObj>();
      out.push_back(word(k, r->fields.size()));
      out.push_back((uint64_t)(uintptr_t)r->cls.obj());
      if (keep) keep->push_back(r->cls);
      for (const Value& f : r->fields)
        if (!signature(f, out, keep)) return false;
      return true;
    }
    case VKind::Class:
      out.push_back(word(k));
      out.push_back((uint64_t)(uintptr_t)v.obj());
      if (keep) keep->push_back(v);
      return true;
    case VKind::Closure: {
      const ClosureObj* c = v.as<ClosureObj>();
      out.push_back(word(k, c->captured.size()));
      out.push_back((uint64_t)(uintptr_t)c->graph);
      for (const Value& x : c->captured)
        if (!signature(x, out, keep)) return false;
      out.push_back(c->defaults.size());
      for (const Value& x : c->defaults)
        if (!signature(x, out, keep)) return false;
      return true;
    }
    case VKind::BoundMethod: {
      const BoundMethodObj* b = v.as<BoundMethodObj>();
      out.push_back(word(k));
      return signature(b->self, out, keep) && signature(b->func, out, keep);
    }
    case VKind::Partial: {
      const PartialObj* p = v.as<PartialObj>();
      out.push_back(word(k, p->args.size()));
      out.push_back(p->kwargs.size());
      if (!signature(p->func, out, keep)) return false;
      for (const Value& a : p->args)
        if (!signature(a, out, keep)) return false;
      for (const auto& [name, a] : p->kwargs) {
        appendBytes(name, out);
        if (!signature(a, out, keep)) return false;
      }
      return true;
    }
    case VKind::Module:
      out.push_back(word(k));
      out.push_back((uint64_t)(uintptr_t)v.as<ModuleObj>()->irModule);
      return true;
    case VKind::Slice: {
      const SliceObj* s = v.as<SliceObj>();
      out.push_back(word(k));
      return signature(s->lower, out, keep) && signature(s->upper, out, keep) && signature(s->step, out, keep);
    }
    case VKind::Exception:
      out.push_back(word(k));
      appendBytes(v.as<ExceptionObj>()->type, out);
      return true;
  }
  return false;
}

}  // namespace

bool appendSignature(const Value& v, bool eager, std::vector<uint64_t>& out, std::vector<Value>* keep) {
  if (eager && v.is(VKind::Str)) {
    out.push_back(kUnknownStr);
    return true;
  }
  return signature(v, out, keep) && out.size() <= kMaxSignatureWords;
}

const ir::Abstract* staticAbstractOf(const Value& v) {
  switch (v.kind()) {
    case VKind::Bool: return Abstract::boolConst(v.asBool());
    case VKind::Int: return Abstract::intConst(v.asInt());
    case VKind::Float: {
      double f = v.asFloat();
      return f == f ? Abstract::floatConst(f) : Abstract::real();
    }
    case VKind::Tuple:
    case VKind::List: {
      bool list = v.is(VKind::List);
      const std::vector<Value>& items = list ? v.as<ListObj>()->items : v.as<TupleObj>()->items;
      if (items.size() > kMaxStructural) return abstractOf(v);
      std::vector<const Abstract*> elems;
      for (const Value& x : items) elems.push_back(staticAbstractOf(x));
      return list ? Abstract::list(std::move(elems)) : Abstract::tuple(std::move(elems));
    }
    default: return abstractOf(v);
  }
}

}  // namespace msl
