// The kernel table, generated from ir/Primitives.def: primitive -> implementation,
// methods and properties by receiver kind, and parsed signature defaults.
#include <cstdlib>
#include <mutex>
#include <string>

#include "runtime/PrimImpl.h"

namespace msl {

PrimFn primImpl(Prim p) {
#define MSL_PRIM_FN_Core(Id) nullptr
#define MSL_PRIM_FN_Builtin(Id) &prim_##Id
#define MSL_PRIM_FN_Hidden(Id) &prim_##Id
  static const PrimFn table[] = {
#define PRIM(Id, Name, Sig, Group, Effect) MSL_PRIM_FN_##Group(Id),
#include "ir/Primitives.def"
  };
  return table[(size_t)p];
}

const std::vector<MethodEntry>& methodTable() {
  static const std::vector<MethodEntry> t = [] {
    std::vector<MethodEntry> rows = {
#define METHOD(Recv, Name, Id) {VKind::Recv, Name, Prim::Id, false},
#define PROPERTY(Recv, Name, Id) {VKind::Recv, Name, Prim::Id, true},
#include "ir/Primitives.def"
    };
    // Builtins whose first parameter is `x: Tensor` are tensor methods too; a METHOD row
    // of the same name wins.
    size_t explicitRows = rows.size();
    for (int k = 0; k < kNumPrims; ++k) {
      const PrimInfo& info = primInfo((Prim)k);
      if (!info.tensorMethod) continue;
      bool shadowed = false;
      for (size_t r = 0; r < explicitRows; ++r)
        if (rows[r].recv == VKind::Tensor && std::string(rows[r].name) == info.name) shadowed = true;
      if (!shadowed) rows.push_back({VKind::Tensor, info.name, info.id, false});
    }
    return rows;
  }();
  return t;
}

bool lookupMethod(VKind recv, const std::string& name, Prim* prim, bool* property) {
  for (const MethodEntry& e : methodTable())
    if (e.recv == recv && name == e.name) {
      *prim = e.prim;
      *property = e.property;
      return true;
    }
  return false;
}

std::string methodHintFor(VKind recv, const std::string& name) {
  std::vector<std::string> names;
  for (const MethodEntry& e : methodTable())
    if (e.recv == recv) names.push_back(e.name);
  return methodHint(name, names);
}

// Signature defaults are literals: None True False numbers 'strings' dtype names ().
static Value parseDefault(const std::string& t) {
  if (t == "None") return Value::none();
  if (t == "True") return Value::boolean(true);
  if (t == "False") return Value::boolean(false);
  if (t == "()") return makeTuple({});
  if (!t.empty() && t[0] == '\'') {
    std::string s;
    for (size_t i = 1; i + 1 < t.size(); ++i) {
      if (t[i] == '\\' && i + 2 < t.size()) {
        char c = t[++i];
        s += c == 'n' ? '\n' : c == 't' ? '\t' : c;
      } else {
        s += t[i];
      }
    }
    return makeStr(s);
  }
  DType dt;
  if (dtypeFromName(t, &dt)) return Value::dtype(dt);
  if (t.find_first_of(".eE") != std::string::npos) return Value::real(std::strtod(t.c_str(), nullptr));
  char* end = nullptr;
  long long v = std::strtoll(t.c_str(), &end, 10);
  if (end && *end == 0 && !t.empty()) return Value::integer(v);
  internalError("bad default '" + t + "' in ir/Primitives.def");
}

const Value& primDefault(Prim p, size_t paramIndex) {
  static std::vector<std::vector<Value>> cache(kNumPrims);
  std::vector<Value>& d = cache[(size_t)p];
  if (d.empty()) {
    const PrimInfo& info = primInfo(p);
    d.resize(info.params.size() + 1);
    for (size_t i = 0; i < info.params.size(); ++i)
      if (info.params[i].hasDefault) d[i] = parseDefault(info.params[i].defaultText);
  }
  return d[paramIndex];
}

}  // namespace msl
