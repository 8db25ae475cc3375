// Helpers for the IR unit tests: abstract values in short, a rule host, and a builder of
// graphs through ir::Module's factory functions.
#pragma once
#include <initializer_list>
#include <string>
#include <vector>

#include "ir/Abstract.h"
#include "ir/IR.h"
#include "ir/Manager.h"
#include "ir/ShapeRules.h"

namespace msl::ir::test {

using A = const Abstract*;

inline Dims dims(std::initializer_list<int64_t> ds) {
  Dims d;
  for (int64_t x : ds) d.push_back(Dim::of(x));
  return d;
}
inline A tensor(DType dt, std::initializer_list<int64_t> ds) { return Abstract::tensor(dt, dims(ds)); }
inline A f32(std::initializer_list<int64_t> ds) { return tensor(DType::F32, ds); }
inline A i64(std::initializer_list<int64_t> ds) { return tensor(DType::I64, ds); }
inline A str(const std::string& s) { return Abstract::strConst(s); }
inline A ic(int64_t v) { return Abstract::intConst(v); }

// Answers calls, loops and globals with Any; symbols are fresh.
class AnyHost : public RuleHost {
 public:
  A call(A, const std::vector<A>&, const KwArgs&) override { return Abstract::any(); }
  A whileLoop(A, A, A) override { return Abstract::any(); }
  A scan(A, A, A) override { return Abstract::any(); }
  A globalValue(const GlobalVar*) override { return Abstract::any(); }
  void globalAssigned(const GlobalVar*, A) override {}
  void moduleImported(const Module*) override {}
  Dim freshDim() override { return Dim::fresh(); }
  SymbolSupply* joinSymbols() override { return nullptr; }
};

// Binds positional and keyword arguments to primitive p and runs its shape rule.
inline RuleResult rule(Prim p, const std::vector<A>& positional, const KwArgs& kwargs = {}) {
  static AnyHost host;
  std::vector<A> bound;
  RuleResult r;
  if (!bindPrimArgs(p, positional, kwargs, &bound, &r)) return r;
  return inferPrim(p, bound, {}, host);
}
// The text form of the rule's result ("error: message" when it fails).
inline std::string ty(Prim p, const std::vector<A>& positional, const KwArgs& kwargs = {}) {
  RuleResult r = rule(p, positional, kwargs);
  return r.failed ? "error: " + r.error.message : toString(r.value);
}

// Builds graphs by hand.
class Builder {
 public:
  Module m{"test", nullptr};

  Graph* function(const std::string& name, std::initializer_list<const char*> params, Graph* parent = nullptr) {
    Graph* g = graph(name, params, parent);
    g->isFunction = true;
    return g;
  }
  // A branch or loop body (not a function).
  Graph* graph(const std::string& name, std::initializer_list<const char*> params, Graph* parent = nullptr) {
    Graph* g = m.newGraph(name, parent, loc());
    if (parent) g->qualname = parent->qualname + "." + name;
    for (const char* p : params) m.newParam(g, p, loc());
    return g;
  }
  Node* param(Graph* g, size_t k) { return g->params[k]; }
  Node* prim(Graph* g, Prim p, std::vector<Node*> args, std::vector<std::string> kwnames = {}) {
    args.insert(args.begin(), m.constPrim(p));
    Node* n = m.newApply(g, std::move(args), loc());
    n->kwnames = std::move(kwnames);
    return n;
  }
  Node* call(Graph* g, Node* callee, std::vector<Node*> args, std::vector<std::string> kwnames = {}) {
    args.insert(args.begin(), callee);
    Node* n = m.newApply(g, std::move(args), loc());
    n->kwnames = std::move(kwnames);
    return n;
  }
  Node* closure(Graph* g) { return m.constGraph(g); }
  Node* tupleItem(Graph* g, Node* t, int64_t k) { return prim(g, Prim::TupleGetItem, {t, m.constInt(k)}); }
  // switch(c, a, b)() : an if/else whose branches are graphs without parameters.
  Node* ifElse(Graph* g, Node* cond, Graph* a, Graph* b) {
    return call(g, prim(g, Prim::Switch, {cond, closure(a), closure(b)}), {});
  }
  // The constant naming module-level variable gv (global_get / global_set's operand).
  Node* globalSlot(GlobalVar* gv) {
    Node* s = m.newConst(ConstKind::Global);
    s->global = gv;
    return s;
  }
  // A read of gv in g (after `state`, a fresh token by default).
  Node* globalGet(Graph* g, GlobalVar* gv, Node* state = nullptr) {
    return prim(g, Prim::GlobalGet, {globalSlot(gv), state ? state : m.newConst(ConstKind::Token)});
  }
  // Distinct locations (line = creation order) so that diagnostics can be told apart.
  SourceLoc loc() { return SourceLoc{&file_, ++line_, 1}; }
  // Computes free variables; call after building.
  void finish() { computeFreeVars(m); }

 private:
  SourceFile file_{"test.msl", "", {}};
  uint32_t line_ = 0;
};

}  // namespace msl::ir::test
