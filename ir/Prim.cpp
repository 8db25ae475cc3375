#include "ir/Prim.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "ir/Diagnostics.h"

namespace msl {

static std::vector<PrimParam> parseSignature(const std::string& sig) {
  std::vector<PrimParam> out;
  bool kwOnly = false;
  size_t i = 0;
  auto skipWs = [&] { while (i < sig.size() && sig[i] == ' ') ++i; };
  while (true) {
    skipWs();
    if (i >= sig.size()) break;
    PrimParam p;
    if (sig.compare(i, 2, "**") == 0) { p.kind = PrimParam::VarKw; i += 2; }
    else if (sig[i] == '*') { p.kind = PrimParam::VarArgs; i += 1; kwOnly = true; }
    else p.kind = kwOnly ? PrimParam::KwOnly : PrimParam::Positional;
    while (i < sig.size() && (isalnum((unsigned char)sig[i]) || sig[i] == '_')) p.name += sig[i++];
    skipWs();
    if (i < sig.size() && sig[i] == ':') {  // an annotation: `x: Tensor`
      ++i;
      skipWs();
      while (i < sig.size() && (isalnum((unsigned char)sig[i]) || sig[i] == '_')) p.annotation += sig[i++];
      skipWs();
    }
    if (i < sig.size() && sig[i] == '=') {
      ++i;
      p.hasDefault = true;
      // A default runs to the next top-level comma (quotes may hold commas).
      char quote = 0;
      while (i < sig.size() && (quote || sig[i] != ',')) {
        if (quote) { if (sig[i] == quote) quote = 0; }
        else if (sig[i] == '\'') quote = '\'';
        if (sig[i] == '\\' && i + 1 < sig.size()) { p.defaultText += sig[i++]; }
        p.defaultText += sig[i++];
      }
      while (!p.defaultText.empty() && p.defaultText.back() == ' ') p.defaultText.pop_back();
    }
    // A bare `*` only makes the parameters after it keyword-only.
    if (!(p.kind == PrimParam::VarArgs && p.name.empty())) out.push_back(p);
    skipWs();
    if (i < sig.size() && sig[i] == ',') ++i;
  }
  return out;
}

static std::vector<PrimInfo> buildTable() {
  std::vector<PrimInfo> t;
#define PRIM(Id, Name, Sig, Group, Effect) \
  t.push_back(PrimInfo{Prim::Id, Name, Sig, PrimGroup::Group, PrimEffect::Effect, std::string(Sig) == "...", {}});
#include "ir/Primitives.def"
  for (PrimInfo& p : t) {
    if (!p.variadicNode) p.params = parseSignature(p.signature);
    p.tensorMethod = p.group == PrimGroup::Builtin && !p.params.empty() &&
                     p.params[0].kind == PrimParam::Positional && p.params[0].annotation == "Tensor";
  }
  return t;
}

const PrimInfo& primInfo(Prim p) {
  static const std::vector<PrimInfo> table = buildTable();
  return table[(size_t)p];
}

const char* primOperator(Prim p) {
  switch (p) {
    case Prim::Add: return "+";
    case Prim::Sub: return "-";
    case Prim::Mul: return "*";
    case Prim::Div: return "/";
    case Prim::FloorDiv: return "//";
    case Prim::Mod: return "%";
    case Prim::Pow: return "**";
    case Prim::MatMul: return "@";
    case Prim::BitAnd: return "&";
    case Prim::BitOr: return "|";
    case Prim::BitXor: return "^";
    case Prim::Eq: return "==";
    case Prim::Ne: return "!=";
    case Prim::Lt: return "<";
    case Prim::Le: return "<=";
    case Prim::Gt: return ">";
    case Prim::Ge: return ">=";
    default: return nullptr;
  }
}

bool builtinPrim(const std::string& name, Prim* out) {
  static const std::unordered_map<std::string, Prim> byName = [] {
    std::unordered_map<std::string, Prim> m;
    for (int i = 0; i < kNumPrims; ++i) {
      const PrimInfo& p = primInfo((Prim)i);
      if (p.group == PrimGroup::Builtin) m.emplace(p.name, p.id);
    }
    return m;
  }();
  auto it = byName.find(name);
  if (it == byName.end()) return false;
  *out = it->second;
  return true;
}

std::string methodHint(const std::string& name, const std::vector<std::string>& methods) {
  // Levenshtein distance, to suggest a method the user may have meant.
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diag = up;
      }
    }
    return row[b.size()];
  };
  std::string best;
  size_t bestD = SIZE_MAX;
  for (const std::string& m : methods) {
    size_t d = distance(name, m);
    if (d < bestD) { bestD = d; best = m; }
  }
  // At most a third of the name's letters wrong (at least one), as Python's suggestions.
  size_t limit = std::max<size_t>(1, (name.size() + 2) / 3);
  if (!best.empty() && bestD <= limit) return "; did you mean '" + best + "'?";
  Prim p;
  if (builtinPrim(name, &p)) return "; " + name + "() is a function: call " + name + "(...)";
  return "";
}

}  // namespace msl
