// Tree utilities of LANGUAGE.md section 6: tree_map, tree_leaves, tree_zeros_like,
// tree_size. A tree is nested tuples, lists, dicts and records (instances of classes);
// None is an empty subtree (no leaves), as in JAX; every other value is a leaf. Leaves come
// in JAX's order (depth first, sequences in order, records in field order) except that
// dict entries come in insertion order (JAX sorts the keys): see docs/language.md.
#include "runtime/PrimImpl.h"
#include "runtime/Print.h"
#include "runtime/Tensor.h"

namespace msl {

namespace {

bool isNode(const Value& v) {
  return v.is(VKind::Tuple) || v.is(VKind::List) || v.is(VKind::Dict) || v.is(VKind::Record);
}

void collectLeaves(const Value& t, std::vector<Value>& out) {
  switch (t.kind()) {
    case VKind::None: return;
    case VKind::Tuple:
    case VKind::List:
      for (const Value& x : seqItems(t)) collectLeaves(x, out);
      return;
    case VKind::Dict:
      for (const auto& [k, v] : t.as<DictObj>()->entries) collectLeaves(v, out);
      return;
    case VKind::Record:
      for (const Value& x : t.as<RecordObj>()->fields) collectLeaves(x, out);
      return;
    default: out.push_back(t);
  }
}

// A description of a tree node for messages: "a list of length 2", "a leaf of type float".
std::string nodeDesc(const Value& v) {
  switch (v.kind()) {
    case VKind::None: return "None";
    case VKind::Tuple: return "a tuple of length " + std::to_string(seqItems(v).size());
    case VKind::List: return "a list of length " + std::to_string(seqItems(v).size());
    case VKind::Dict: return "a dict with " + std::to_string(v.as<DictObj>()->entries.size()) + " keys";
    case VKind::Record: return "a record of class '" + v.as<RecordObj>()->classObj()->name + "'";
    default: return "a leaf (" + typeNameOf(v) + ")";
  }
}

std::string pathStr(const std::string& path) { return path.empty() ? "the root" : path; }

[[noreturn]] void mismatch(const std::string& path, size_t which, const std::string& what) {
  raise(DiagId::TreeMismatch, SourceLoc{}, {std::to_string(which + 1), pathStr(path), what});
}

// Checks that trees[1..] have the structure of trees[0] at `path` (JAX: the first tree's
// leaves may face whole subtrees in the others only for a leaf; msl asks for the same
// structure everywhere) and applies f to the leaves.
Value mapTrees(CallContext& cx, const Value& f, const std::vector<const Value*>& ts, const std::string& path) {
  const Value& t0 = *ts[0];
  for (size_t k = 1; k < ts.size(); ++k) {
    const Value& tk = *ts[k];
    bool sameKind = tk.kind() == t0.kind() || (!isNode(t0) && !t0.isNone() && !isNode(tk) && !tk.isNone());
    if (!sameKind) mismatch(path, k, nodeDesc(tk) + " where tree 1 has " + nodeDesc(t0));
    if (isSeq(t0) && seqItems(t0).size() != seqItems(tk).size())
      mismatch(path, k, nodeDesc(tk) + " where tree 1 has " + nodeDesc(t0));
    if (t0.is(VKind::Record) && t0.as<RecordObj>()->cls.obj() != tk.as<RecordObj>()->cls.obj())
      mismatch(path, k, nodeDesc(tk) + " where tree 1 has " + nodeDesc(t0));
  }
  switch (t0.kind()) {
    case VKind::None: return Value::none();
    case VKind::Tuple:
    case VKind::List: {
      size_t n = seqItems(t0).size();
      std::vector<Value> out;
      out.reserve(n);
      std::vector<const Value*> sub(ts.size());
      for (size_t i = 0; i < n; ++i) {
        for (size_t k = 0; k < ts.size(); ++k) sub[k] = &seqItems(*ts[k])[i];
        out.push_back(mapTrees(cx, f, sub, path + "[" + std::to_string(i) + "]"));
      }
      return t0.is(VKind::Tuple) ? makeTuple(std::move(out)) : makeList(std::move(out));
    }
    case VKind::Dict: {
      const DictObj* d0 = t0.as<DictObj>();
      // Matched by key, not position (LANGUAGE.md 4): same keys, any order.
      for (size_t k = 1; k < ts.size(); ++k) {
        const DictObj* dk = ts[k]->as<DictObj>();
        for (const auto& [key, v] : d0->entries)
          if (!dk->find(key)) mismatch(path, k, "no key " + reprOf(key) + " where tree 1 has one");
        for (const auto& [key, v] : dk->entries)
          if (!d0->find(key)) mismatch(path, k, "a key " + reprOf(key) + " that tree 1 lacks");
      }
      Value out = makeDict();
      std::vector<const Value*> sub(ts.size());
      for (const auto& [key, v] : d0->entries) {
        sub[0] = &v;
        for (size_t k = 1; k < ts.size(); ++k) sub[k] = ts[k]->as<DictObj>()->find(key);
        Value r = mapTrees(cx, f, sub, path + "[" + reprOf(key) + "]");
        out.as<DictObj>()->set(key, std::move(r));
      }
      return out;
    }
    case VKind::Record: {
      const RecordObj* r0 = t0.as<RecordObj>();
      const ClassObj* cls = r0->classObj();
      auto* r = new RecordObj();
      Value out = Value::object(r);
      r->cls = r0->cls;
      r->fields.reserve(r0->fields.size());
      std::vector<const Value*> sub(ts.size());
      for (size_t i = 0; i < r0->fields.size(); ++i) {
        for (size_t k = 0; k < ts.size(); ++k) sub[k] = &ts[k]->as<RecordObj>()->fields[i];
        r->fields.push_back(mapTrees(cx, f, sub, path + "." + cls->fields[i]));
      }
      return out;
    }
    default: {
      std::vector<Value> args;
      args.reserve(ts.size());
      for (const Value* t : ts) args.push_back(*t);
      return cx.call(f, std::move(args));
    }
  }
}

Value zerosLike(const Value& t) {
  switch (t.kind()) {
    case VKind::Tuple:
    case VKind::List: {
      std::vector<Value> out;
      out.reserve(seqItems(t).size());
      for (const Value& x : seqItems(t)) out.push_back(zerosLike(x));
      return t.is(VKind::Tuple) ? makeTuple(std::move(out)) : makeList(std::move(out));
    }
    case VKind::Dict: {
      Value out = makeDict();
      for (const auto& [k, v] : t.as<DictObj>()->entries) out.as<DictObj>()->set(k, zerosLike(v));
      return out;
    }
    case VKind::Record: {
      const RecordObj* r0 = t.as<RecordObj>();
      auto* r = new RecordObj();
      Value out = Value::object(r);
      r->cls = r0->cls;
      for (const Value& x : r0->fields) r->fields.push_back(zerosLike(x));
      return out;
    }
    case VKind::Tensor: {
      const Tensor& x = t.as<TensorObj>()->t;
      return makeTensor(Tensor::zeros(x.dtype(), x.shape()));
    }
    case VKind::Float: return Value::real(0.0);
    case VKind::Int: return Value::integer(0);
    case VKind::Bool: return Value::boolean(false);
    default: return t;  // None, strings, functions, dtypes: static, carried along
  }
}

int64_t sizeOf(const Value& t) {
  switch (t.kind()) {
    case VKind::Tuple:
    case VKind::List: {
      int64_t n = 0;
      for (const Value& x : seqItems(t)) n += sizeOf(x);
      return n;
    }
    case VKind::Dict: {
      int64_t n = 0;
      for (const auto& [k, v] : t.as<DictObj>()->entries) n += sizeOf(v);
      return n;
    }
    case VKind::Record: {
      int64_t n = 0;
      for (const Value& x : t.as<RecordObj>()->fields) n += sizeOf(x);
      return n;
    }
    case VKind::Tensor: return t.as<TensorObj>()->t.numel();
    case VKind::Float:
    case VKind::Int:
    case VKind::Bool: return 1;
    default: return 0;  // None and non-numeric leaves hold no scalars
  }
}

}  // namespace

Value prim_TreeMap(CallContext& cx, Value* args) {
  const Value& f = args[0];
  std::vector<const Value*> ts{&args[1]};
  for (const Value& t : args[2].as<TupleObj>()->items) ts.push_back(&t);
  return mapTrees(cx, f, ts, "");
}

Value prim_TreeLeaves(CallContext&, Value* args) {
  std::vector<Value> out;
  collectLeaves(args[0], out);
  return makeList(std::move(out));
}

Value prim_TreeZerosLike(CallContext&, Value* args) { return zerosLike(args[0]); }

Value prim_TreeSize(CallContext&, Value* args) { return Value::integer(sizeOf(args[0])); }

}  // namespace msl
