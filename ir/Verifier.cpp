#include "ir/Verifier.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "ir/Diagnostics.h"
#include "ir/Manager.h"

namespace msl::ir {

namespace {

std::string graphName(const Graph* g) { return "'" + (g->qualname.empty() ? g->name : g->qualname) + "'"; }

std::string nodeName(const Node* n) {
  std::string s = "%" + std::to_string(n->id);
  Prim p;
  if (n->isApply() && !n->inputs.empty() && n->inputs[0] && n->callsPrim(&p) && (int)p < kNumPrims)
    s += std::string(" (") + primName(p) + ")";
  return s;
}

bool isConstKind(const Node* n, ConstKind k) { return n->isConst() && n->ckind == k; }

bool strictlyEncloses(const Graph* outer, const Graph* g) { return g->parent && isWithin(g->parent, outer); }

class Checker {
 public:
  explicit Checker(const Module& m) : m_(m) {
    for (const auto& gp : m.graphs()) graphs_.insert(gp.get());
  }

  std::vector<std::string> run() {
    for (const auto& gp : m_.graphs()) graph(gp.get());
    return std::move(out_);
  }

 private:
  void error(const Graph* g, const std::string& msg) { out_.push_back("graph " + graphName(g) + ": " + msg); }

  void graph(const Graph* g) {
    if (g->module != &m_) error(g, "belongs to another module");
    if (g->parent && !graphs_.count(g->parent)) error(g, "its parent graph is not in the module");
    params(g);
    std::unordered_set<const Node*> fvs;
    for (const Node* fv : g->freeVars) {
      if (!fv || fv->isConst()) { error(g, "a free variable is null or a constant"); continue; }
      if (!fvs.insert(fv).second) error(g, "free variable " + nodeName(fv) + " is listed twice");
      if (!strictlyEncloses(fv->graph, g))
        error(g, "free variable " + nodeName(fv) + " belongs to " + graphName(fv->graph) + ", which does not enclose it");
    }
    std::unordered_map<const Node*, size_t> position;
    for (size_t k = 0; k < g->nodes.size(); ++k) {
      const Node* n = g->nodes[k];
      if (!n) { error(g, "a null node"); continue; }
      if (!position.emplace(n, k).second) error(g, "node " + nodeName(n) + " is listed twice");
    }
    for (size_t k = 0; k < g->nodes.size(); ++k)
      if (g->nodes[k]) apply(g, g->nodes[k], k, position, fvs);
    if (!g->output) error(g, "has no output");
    else use(g, nullptr, g->output, g->nodes.size(), position, fvs);
  }

  void params(const Graph* g) {
    size_t n = g->params.size();
    if (g->paramKinds.size() != n) error(g, "has " + std::to_string(g->paramKinds.size()) + " parameter kinds for " + std::to_string(n) + " parameters");
    if (g->defaults.size() != n) error(g, "has " + std::to_string(g->defaults.size()) + " default slots for " + std::to_string(n) + " parameters");
    for (const Node* p : g->params)
      if (!p || !p->isParam() || p->graph != g) error(g, "a parameter is not a Parameter node of the graph");
    int varargs = 0, varkw = 0;
    for (size_t k = 0; k < g->paramKinds.size(); ++k) {
      if (g->paramKinds[k] == ParamKind::VarArgs) ++varargs;
      if (g->paramKinds[k] == ParamKind::VarKw) {
        ++varkw;
        if (k + 1 != g->paramKinds.size()) error(g, "**kw is not the last parameter");
      }
    }
    if (varargs > 1 || varkw > 1) error(g, "has more than one *args or **kw parameter");
    for (const Node* d : g->defaults)
      if (d && !d->isConst() && !strictlyEncloses(d->graph, g))
        error(g, "default " + nodeName(d) + " is not a node of an enclosing graph");
  }

  void apply(const Graph* g, const Node* n, size_t pos, const std::unordered_map<const Node*, size_t>& position,
             const std::unordered_set<const Node*>& fvs) {
    if (!n->isApply() || n->graph != g) {
      error(g, "node " + nodeName(n) + " is not an Apply node of the graph");
      return;
    }
    if (n->inputs.empty()) {
      error(g, "node " + nodeName(n) + " has no callee");
      return;
    }
    if (n->kwnames.size() > n->inputs.size() - 1)
      error(g, "node " + nodeName(n) + " has " + std::to_string(n->kwnames.size()) + " keyword names for " +
                   std::to_string(n->inputs.size() - 1) + " arguments");
    bool complete = true;
    for (const Node* in : n->inputs) {
      if (in) {
        use(g, n, in, pos, position, fvs);
        continue;
      }
      error(g, "node " + nodeName(n) + " has a null input");
      complete = false;
    }
    if (complete) corePrim(g, n);
  }

  // An input (or the output, with user == nullptr) of graph g.
  void use(const Graph* g, const Node* user, const Node* in, size_t pos,
           const std::unordered_map<const Node*, size_t>& position, const std::unordered_set<const Node*>& fvs) {
    std::string who = user ? "node " + nodeName(user) : std::string("the output");
    if (in->isConst()) {
      constant(g, in);
      if (in->isGraphConst() && in->g) closure(g, in->g, fvs);
      return;
    }
    if (in->graph == g) {
      if (in->isParam()) {
        if (std::find(g->params.begin(), g->params.end(), in) == g->params.end())
          error(g, who + " uses parameter " + nodeName(in) + " that is not in the parameter list");
        return;
      }
      auto it = position.find(in);
      if (it == position.end()) error(g, who + " uses " + nodeName(in) + ", which is not in the graph's node list");
      else if (it->second >= pos) error(g, who + " uses " + nodeName(in) + ", created after it");
      return;
    }
    if (!in->graph || !strictlyEncloses(in->graph, g)) {
      error(g, who + " uses " + nodeName(in) + " of " + (in->graph ? graphName(in->graph) : std::string("no graph")) +
                   ", which does not enclose it");
      return;
    }
    if (!fvs.count(in)) error(g, who + " uses " + nodeName(in) + " of an enclosing graph, not in its free variables");
  }

  // A closure of h made in g captures h's free variables and defaults that g does not own.
  void closure(const Graph* g, const Graph* h, const std::unordered_set<const Node*>& fvs) {
    auto captured = [&](const Node* x, const char* what) {
      if (!x || x->isConst() || isWithin(x->graph, g) || fvs.count(x)) return;
      error(g, std::string("makes a closure of ") + graphName(h) + " whose " + what + " " + nodeName(x) +
                   " is not among its free variables");
    };
    for (const Node* fv : h->freeVars) captured(fv, "free variable");
    for (const Node* d : h->defaults) captured(d, "default");
  }

  void constant(const Graph* g, const Node* c) {
    auto bad = [&](const char* what) { error(g, "constant " + nodeName(c) + " " + what); };
    if (c->graph) bad("belongs to a graph");
    if (!c->inputs.empty()) bad("has inputs");
    switch (c->ckind) {
      case ConstKind::Prim: if ((int)c->prim >= kNumPrims) bad("has an invalid primitive"); break;
      case ConstKind::Graph: if (!c->g) bad("names no graph"); break;
      case ConstKind::Global: if (!c->global) bad("names no module-level variable"); break;
      case ConstKind::Class: if (!c->cls) bad("holds no class"); break;
      case ConstKind::Module: if (!c->module) bad("names no module"); break;
      case ConstKind::DType: if ((int)c->dtype >= kNumDTypes) bad("has an invalid dtype"); break;
      default: break;
    }
  }

  void corePrim(const Graph* g, const Node* n) {
    Prim p;
    if (!n->callsPrim(&p) || (int)p >= kNumPrims || primInfo(p).group != PrimGroup::Core) return;
    const PrimInfo& info = primInfo(p);
    size_t nargs = n->inputs.size() - 1;
    auto bad = [&](const std::string& what) { error(g, "node " + nodeName(n) + ": " + what); };
    if (!info.variadicNode) {
      if (nargs != info.params.size() || !n->kwnames.empty())
        bad(std::string(info.name) + " takes " + std::to_string(info.params.size()) + " positional arguments, given " +
            std::to_string(nargs) + (n->kwnames.empty() ? "" : " with keywords"));
    }
    switch (p) {
      case Prim::MakeDict:
        if (nargs % 2 || !n->kwnames.empty()) bad("make_dict takes key/value pairs");
        break;
      case Prim::MethodCall:
      case Prim::MethodUpdate:
        if (n->numPositional() < 2 || !isConstKind(n->inputs[1], ConstKind::Str))
          bad(std::string(info.name) + " takes a constant method name and a receiver");
        break;
      case Prim::MakeClass: {
        if (nargs < 1 || !isConstKind(n->inputs[1], ConstKind::Class) || !n->inputs[1]->cls) {
          bad("make_class takes its class constant first");
          break;
        }
        const ClassInfo* ci = n->inputs[1]->cls;
        size_t want = 1 + std::count(ci->hasDefault.begin(), ci->hasDefault.end(), true) + ci->methods.size();
        if (nargs != want || ci->hasDefault.size() != ci->fields.size())
          bad("make_class of '" + ci->name + "' takes " + std::to_string(want) + " arguments, given " + std::to_string(nargs));
        break;
      }
      case Prim::MakeTuple:
      case Prim::MakeList:
      case Prim::StrConcat:
        if (!n->kwnames.empty()) bad(std::string(info.name) + " takes no keyword arguments");
        break;
      case Prim::TupleGetItem:
        if (nargs == 2 && !isConstKind(n->inputs[2], ConstKind::Int)) bad("tuple_getitem takes a constant index");
        break;
      case Prim::Unpack:
        if (nargs == 3 && (!isConstKind(n->inputs[2], ConstKind::Int) || !isConstKind(n->inputs[3], ConstKind::Int)))
          bad("unpack takes constant counts");
        break;
      default:
        break;
    }
  }

  const Module& m_;
  std::unordered_set<const Graph*> graphs_;
  std::vector<std::string> out_;
};

}  // namespace

std::vector<std::string> verifyModule(const Module& m) { return Checker(m).run(); }

void verifyOrThrow(const Module& m, const std::string& when) {
  std::vector<std::string> errors = verifyModule(m);
  if (errors.empty()) return;
  std::string msg = "invalid IR in module '" + m.name + "' " + when + ":";
  for (const std::string& e : errors) msg += "\n  " + e;
  internalError(msg);
}

}  // namespace msl::ir
