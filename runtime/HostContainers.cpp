// Methods of list, tuple and dict. Lists and dicts are values: append, extend, insert and
// update return the updated container, which the lowering binds back to the variable
// (`l = l.append(v)`). They update in place when the argument holds the only reference,
// so a loop of appends makes no copy, and copy otherwise.
#include "runtime/Host.h"
#include "runtime/Iter.h"
#include "runtime/PrimImpl.h"
#include "runtime/Print.h"

namespace msl {


Value prim_ListAppend(CallContext& cx, Value* args) {
  Value l = std::move(args[0]);
  uniqueList(l)->items.push_back(std::move(args[1]));
  return l;
}

Value prim_ListExtend(CallContext& cx, Value* args) {
  std::vector<Value> items = iterToVector(args[1], "extend");
  Value l = std::move(args[0]);
  auto& dst = uniqueList(l)->items;
  dst.insert(dst.end(), std::make_move_iterator(items.begin()), std::make_move_iterator(items.end()));
  return l;
}

// insert(i, v): i counts from the end when negative and is clamped to [0, len].
Value prim_ListInsert(CallContext& cx, Value* args) {
  int64_t i = argInt(args[1], "insert", "index");
  Value l = std::move(args[0]);
  auto& items = uniqueList(l)->items;
  int64_t n = (int64_t)items.size();
  if (i < 0) i = std::max<int64_t>(0, i + n);
  i = std::min(i, n);
  items.insert(items.begin() + i, std::move(args[2]));
  return l;
}

Value prim_SeqIndex(CallContext& cx, Value* args) {
  const auto& items = seqItems(args[0]);
  for (size_t i = 0; i < items.size(); ++i)
    if (valueEquals(items[i], args[1])) return Value::integer((int64_t)i);
  raise(DiagId::ValueError, SourceLoc{},
        {args[0].is(VKind::List) ? reprOf(args[1]) + " is not in list" : "tuple.index(x): x not in tuple"});
}

Value prim_SeqCount(CallContext& cx, Value* args) {
  int64_t n = 0;
  for (const Value& x : seqItems(args[0])) n += valueEquals(x, args[1]);
  return Value::integer(n);
}

Value prim_DictKeys(CallContext& cx, Value* args) {
  std::vector<Value> out;
  for (const auto& [k, v] : args[0].as<DictObj>()->entries) out.push_back(k);
  return makeList(std::move(out));
}

Value prim_DictValues(CallContext& cx, Value* args) {
  std::vector<Value> out;
  for (const auto& [k, v] : args[0].as<DictObj>()->entries) out.push_back(v);
  return makeList(std::move(out));
}

Value prim_DictItems(CallContext& cx, Value* args) {
  std::vector<Value> out;
  for (const auto& [k, v] : args[0].as<DictObj>()->entries) out.push_back(makeTuple({k, v}));
  return makeList(std::move(out));
}

Value prim_DictGet(CallContext& cx, Value* args) {
  const Value* v = args[0].as<DictObj>()->find(args[1]);
  return v ? *v : std::move(args[2]);
}

Value prim_DictUpdate(CallContext& cx, Value* args) {
  Value d = std::move(args[0]);
  if (args[1].is(VKind::Dict) && args[1].as<DictObj>()->entries.empty()) return d;
  dictAddAll(uniqueDict(d), args[1]);
  return d;
}

}  // namespace msl
