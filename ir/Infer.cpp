#include "ir/Infer.h"

#include "ir/Literal.h"

#include <algorithm>
#include <climits>
#include <set>
#include <unordered_set>

namespace msl::ir {

size_t SpecKeyHash::operator()(const SpecKey& k) const {
  size_t h = std::hash<const void*>()(k.graph);
  auto mix = [&](const void* p) { h ^= std::hash<const void*>()(p) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  for (const Abstract* a : k.args) mix(a);
  mix(nullptr);
  for (const Abstract* a : k.captured) mix(a);
  return h;
}

namespace {

using A = const Abstract*;
using Vec = std::vector<A>;

// Item k of a tuple abstract (a body's (go, carry) result).
A tupleItem(A t, size_t k) {
  if (t->isBottom()) return t;
  if (!t->isSequence()) return Abstract::any();
  if (t->homogeneous) return t->elems[0];
  return k < t->elems.size() ? t->elems[k] : Abstract::any();
}

PrimParam::Kind paramKind(ParamKind k) {
  switch (k) {
    case ParamKind::Positional: return PrimParam::Positional;
    case ParamKind::VarArgs: return PrimParam::VarArgs;
    case ParamKind::KwOnly: return PrimParam::KwOnly;
    case ParamKind::VarKw: return PrimParam::VarKw;
  }
  return PrimParam::Positional;
}

}  // namespace

Inferencer::Inferencer(InferHooks hooks, InferLimits limits) : hooks_(std::move(hooks)), limits_(limits) {}
Inferencer::~Inferencer() = default;

InferContext* Inferencer::infer(const Graph* g, const std::vector<const Abstract*>& args,
                                const std::vector<const Abstract*>& captured) {
  if (args.size() != g->params.size())
    internalError("infer: " + std::to_string(args.size()) + " arguments for graph '" + g->qualname + "' with " +
                  std::to_string(g->params.size()) + " parameters");
  InferContext* saved = cur_;
  const Node* savedNode = curNode_;
  cur_ = nullptr;
  curNode_ = nullptr;
  InferContext* c = enter(g, args, captured);
  cur_ = saved;
  curNode_ = savedNode;
  return c;
}

std::vector<InferContext*> Inferencer::reachable(InferContext* root,
                                                 const std::function<bool(const Graph*)>& follow) const {
  std::vector<InferContext*> out{root};
  std::unordered_set<InferContext*> seen{root};
  for (size_t k = 0; k < out.size(); ++k) {
    // Visit call edges in program order, for a stable order of errors.
    std::vector<std::pair<uint32_t, InferContext*>> next;
    for (const auto& [node, targets] : out[k]->callees)
      for (InferContext* t : targets) next.push_back({node->id, t});
    std::sort(next.begin(), next.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [id, t] : next)
      if (follow(t->graph) && seen.insert(t).second) out.push_back(t);
  }
  return out;
}

// ------------------------------------------------------------------ contexts

InferContext* Inferencer::enter(const Graph* g, std::vector<const Abstract*> args,
                                std::vector<const Abstract*> captured) {
  captured.resize(g->freeVars.size(), Abstract::any());
  // A recursive call with other arguments than the active context: join them, so that a
  // recursion over shrinking or growing values reaches a fixpoint.
  for (auto it = stack_.rbegin(); it != stack_.rend(); ++it) {
    InferContext* active = *it;
    if (active->graph != g) continue;
    if (active->args != args || active->captured != captured) {
      SymbolSupply& syms = recursionSymbols_[g];
      syms.restart();
      for (size_t k = 0; k < args.size(); ++k) args[k] = join(active->args[k], args[k], &syms);
      for (size_t k = 0; k < captured.size(); ++k) captured[k] = join(active->captured[k], captured[k], &syms);
    }
    break;
  }
  SpecKey key{g, std::move(args), std::move(captured)};
  auto it = byKey_.find(key);
  if (it == byKey_.end() && perGraph_[g] >= limits_.maxContextsPerGraph) {
    std::fill(key.args.begin(), key.args.end(), Abstract::any());
    std::fill(key.captured.begin(), key.captured.end(), Abstract::any());
    it = byKey_.find(key);
  }
  InferContext* c;
  if (it != byKey_.end()) {
    c = it->second;
  } else {
    contexts_.push_back(std::make_unique<InferContext>());
    c = contexts_.back().get();
    c->graph = g;
    c->args = key.args;
    c->captured = key.captured;
    c->result = Abstract::bottom();
    c->definite = cur_ ? cur_->definite && indefinite_ == 0 : g->parent == nullptr;
    byKey_.emplace(std::move(key), c);
    ++perGraph_[g];
  }
  if (cur_ && curNode_) {
    auto& edges = cur_->callees[curNode_];
    if (std::find(edges.begin(), edges.end(), c) == edges.end()) edges.push_back(c);
  }
  switch (c->state) {
    case InferContext::State::Done: return c;
    case InferContext::State::Running: noteRecursion(c); return c;
    case InferContext::State::Fresh: break;
  }
  if ((int)stack_.size() >= limits_.maxDepth) {
    c->result = Abstract::any();
    c->state = InferContext::State::Done;
    return c;
  }
  evaluate(c);
  return c;
}

void Inferencer::noteRecursion(InferContext* r) {
  r->observed = true;
  if (!stack_.empty()) stack_.back()->lowestDep = std::min(stack_.back()->lowestDep, r->stackPos);
}

void Inferencer::reset(InferContext* c) {
  c->state = InferContext::State::Fresh;
  c->result = Abstract::bottom();
  c->values.clear();
  c->callees.clear();
  c->errors.clear();
  c->tentatives.clear();
}

void Inferencer::evaluate(InferContext* c) {
  InferContext* savedCur = cur_;
  const Node* savedNode = curNode_;
  size_t savedFresh = curFresh_;
  int pos = (int)stack_.size();
  c->state = InferContext::State::Running;
  c->stackPos = pos;
  c->lowestDep = INT_MAX;
  stack_.push_back(c);
  for (int round = 1;; ++round) {
    runBody(c);
    A out = valueOf(c, c->graph->output);
    if (!c->observed) {
      c->result = out;
      break;
    }
    if (c->result->isAny()) break;  // the round after widening
    c->resultSymbols.restart();
    A next = join(c->result, out, &c->resultSymbols);
    if (next == c->result) break;
    c->result = round >= limits_.maxIterations ? Abstract::any() : next;
    for (InferContext* t : c->tentatives) reset(t);
    c->tentatives.clear();
  }
  stack_.pop_back();
  c->state = InferContext::State::Done;
  c->stackPos = -1;
  if (c->lowestDep < pos) {
    // The result rests on the approximation of a context still running below: redo this
    // context (and those it made tentative) if that one iterates again.
    InferContext* owner = stack_[c->lowestDep];
    owner->tentatives.push_back(c);
    owner->tentatives.insert(owner->tentatives.end(), c->tentatives.begin(), c->tentatives.end());
    stack_.back()->lowestDep = std::min(stack_.back()->lowestDep, c->lowestDep);
  }
  c->tentatives.clear();
  cur_ = savedCur;
  curNode_ = savedNode;
  curFresh_ = savedFresh;
}

void Inferencer::runBody(InferContext* c) {
  c->values.clear();
  c->callees.clear();
  c->errors.clear();
  c->observed = false;
  const Graph* g = c->graph;
  for (size_t k = 0; k < g->params.size(); ++k) c->values[g->params[k]] = c->args[k];
  for (const Node* n : schedule(g)) evalNode(c, n);
}

void Inferencer::evalNode(InferContext* c, const Node* n) {
  Vec in;
  in.reserve(n->inputs.size());
  bool unreachable = false;
  for (const Node* x : n->inputs) {
    in.push_back(valueOf(c, x));
    unreachable |= in.back()->isBottom();
  }
  cur_ = c;
  curNode_ = n;
  curFresh_ = 0;
  c->joinSymbols[n].restart();
  A v = Abstract::bottom();
  if (!unreachable) {
    size_t npos = n->numPositional();
    Vec positional(in.begin() + 1, in.begin() + 1 + npos);
    KwArgs kwargs;
    for (size_t k = 0; k < n->kwnames.size(); ++k) kwargs.push_back({n->kwnames[k], in[1 + npos + k]});
    v = call(in[0], positional, kwargs);
  }
  c->values[n] = v;
}

const Abstract* Inferencer::valueOf(InferContext* c, const Node* n) {
  if (n->isConst()) {
    A v = constant(c, n);
    c->values[n] = v;
    return v;
  }
  if (n->graph == c->graph) {
    auto it = c->values.find(n);
    return it != c->values.end() ? it->second : Abstract::any();
  }
  int k = freeVarIndex(c->graph, n);
  return k >= 0 && k < (int)c->captured.size() ? c->captured[k] : Abstract::any();
}

const Abstract* Inferencer::constant(InferContext* c, const Node* n) {
  if (const Abstract* a = literalAbstract(n)) return a;
  switch (n->ckind) {
    case ConstKind::Graph: {
      // A closure: the values of the graph's free variables and defaults here and now.
      const Graph* g = n->g;
      Vec captured, defaults;
      for (const Node* fv : g->freeVars) captured.push_back(valueOf(c, fv));
      for (const Node* d : g->defaults) defaults.push_back(d ? valueOf(c, d) : nullptr);
      return Abstract::function(g, captured, defaults);
    }
    case ConstKind::Global: return Abstract::globalSlot(n->global);
    case ConstKind::Class: return Abstract::classDecl(n->cls);
    case ConstKind::Undef: return Abstract::undef();
    case ConstKind::Ellipsis: return Abstract::ellipsis();
    case ConstKind::Module: return Abstract::moduleRef(n->module);
    case ConstKind::Token: return Abstract::token();
    default: break;  // (literals: above)
  }
  return Abstract::any();
}

// Apply nodes of g in an order where each comes after the nodes it needs: its inputs and,
// for an input that is a graph constant (a closure made here), that graph's free
// variables and defaults owned by g. Only nodes the output depends on are evaluated.
const std::vector<const Node*>& Inferencer::schedule(const Graph* g) {
  auto found = schedules_.find(g);
  if (found != schedules_.end()) return found->second;
  std::vector<const Node*>& order = schedules_[g];
  std::unordered_set<const Node*> done;
  auto deps = [g](const Node* n) {
    std::vector<const Node*> out;
    auto add = [&](const Node* x) {
      if (x && x->isApply() && x->graph == g) out.push_back(x);
    };
    for (const Node* x : n->inputs) {
      add(x);
      if (x->isGraphConst()) {
        for (const Node* fv : x->g->freeVars) add(fv);
        for (const Node* d : x->g->defaults) add(d);
      }
    }
    std::reverse(out.begin(), out.end());  // popped from the back: inputs left to right
    return out;
  };
  std::vector<const Node*> roots;
  if (g->output && g->output->isGraphConst()) {
    for (const Node* fv : g->output->g->freeVars) roots.push_back(fv);
    for (const Node* d : g->output->g->defaults) roots.push_back(d);
  } else {
    roots.push_back(g->output);
  }
  // Iterative post-order depth-first search (graphs can be long chains).
  std::vector<std::pair<const Node*, std::vector<const Node*>>> stack;
  for (const Node* r : roots) {
    if (!r || !r->isApply() || r->graph != g || done.count(r)) continue;
    done.insert(r);
    stack.push_back({r, deps(r)});
    while (!stack.empty()) {
      auto& [node, pending] = stack.back();
      if (pending.empty()) {
        order.push_back(node);
        stack.pop_back();
        continue;
      }
      const Node* next = pending.back();
      pending.pop_back();
      if (done.insert(next).second) stack.push_back({next, deps(next)});
    }
  }
  return order;
}

int Inferencer::freeVarIndex(const Graph* g, const Node* n) {
  auto& index = freeVarIndex_[g];
  if (index.size() != g->freeVars.size())
    for (size_t k = 0; k < g->freeVars.size(); ++k) index[g->freeVars[k]] = (int)k;
  auto it = index.find(n);
  return it == index.end() ? -1 : it->second;
}

// ------------------------------------------------------------------ calls

void Inferencer::fail(const RuleResult& r) {
  if (!cur_ || !curNode_) return;
  Diagnostic d = r.error;
  d.loc = curNode_->loc;
  for (const auto& [node, e] : cur_->errors)
    if (node == curNode_ && e.message == d.message) return;
  cur_->errors.push_back({curNode_, std::move(d)});
}

const Abstract* Inferencer::call(const Abstract* fn, const std::vector<const Abstract*>& args, const KwArgs& kwargs) {
  for (A a : args)
    if (a->isBottom()) return a;
  for (const auto& kw : kwargs)
    if (kw.second->isBottom()) return kw.second;
  switch (fn->kind) {
    case AKind::Bottom:
    case AKind::Any: return fn;
    case AKind::Prim: return callPrim(fn->prim, args, kwargs);
    case AKind::Function: return callGraph(fn, args, kwargs);
    case AKind::Class: return construct(fn, args, kwargs);
    case AKind::BoundMethod: {
      Vec all{fn->elems[0]};
      all.insert(all.end(), args.begin(), args.end());
      return call(fn->ref, all, kwargs);
    }
    case AKind::Partial: {
      size_t nkw = fn->names.size();
      Vec all(fn->elems.begin(), fn->elems.end() - nkw);
      all.insert(all.end(), args.begin(), args.end());
      KwArgs kw;
      for (size_t k = 0; k < nkw; ++k) kw.push_back({fn->names[k], fn->elems[fn->elems.size() - nkw + k]});
      kw.insert(kw.end(), kwargs.begin(), kwargs.end());
      return call(fn->ref, all, kw);
    }
    case AKind::Union: {
      A r = Abstract::bottom();
      ++indefinite_;
      for (A member : fn->elems) r = join(r, call(member, args, kwargs), joinSymbols());
      --indefinite_;
      return r;
    }
    case AKind::Record:
      if (A m = fn->ref->method("__call__")) return call(Abstract::boundMethod(fn, m), args, kwargs);
      [[fallthrough]];
    default:
      fail(RuleResult::fail(DiagId::NotCallable, {fn->typeName()}));
      return Abstract::bottom();
  }
}

const Abstract* Inferencer::callPrim(Prim p, const std::vector<const Abstract*>& args, const KwArgs& kwargs) {
  RuleResult r;
  if (primInfo(p).variadicNode) {
    Vec all = args;
    std::vector<std::string> names;
    for (const auto& [name, v] : kwargs) {
      all.push_back(v);
      names.push_back(name);
    }
    r = inferPrim(p, all, names, *this);
  } else {
    Vec bound;
    if (bindPrimArgs(p, args, kwargs, &bound, &r)) r = inferPrim(p, bound, {}, *this);
  }
  if (r.failed) {
    fail(r);
    return Abstract::bottom();
  }
  return r.value;
}

const Abstract* Inferencer::callGraph(const Abstract* fn, const std::vector<const Abstract*>& args,
                                      const KwArgs& kwargs) {
  const Graph* g = fn->graph;
  std::vector<BindParam> params(g->params.size());
  for (size_t k = 0; k < params.size(); ++k) {
    params[k].name = g->params[k]->name;
    params[k].kind = k < g->paramKinds.size() ? paramKind(g->paramKinds[k]) : PrimParam::Positional;
    params[k].deflt = k < fn->defaults.size() ? fn->defaults[k] : nullptr;
  }
  Vec bound;
  RuleResult err;
  if (!bindArguments(g->name, params, args, kwargs, &bound, &err)) {
    fail(err);
    return Abstract::bottom();
  }
  if (g->isFunction)
    for (A& a : bound) a = dynamicScalars(a);
  return enter(g, std::move(bound), fn->elems)->result;
}

const Abstract* Inferencer::construct(const Abstract* cls, const std::vector<const Abstract*>& args,
                                      const KwArgs& kwargs) {
  // The generated constructor takes its fields by keyword only: Dense(w=..., b=...).
  std::vector<BindParam> params(cls->names.size());
  for (size_t k = 0; k < params.size(); ++k) {
    params[k].name = cls->names[k];
    params[k].kind = PrimParam::KwOnly;
    params[k].deflt = cls->elems[k];
  }
  Vec fields;
  RuleResult err;
  if (!bindArguments(cls->s, params, args, kwargs, &fields, &err)) {
    fail(err);
    return Abstract::bottom();
  }
  return Abstract::record(cls, fields);
}

// ------------------------------------------------------------------ loops

// The fixpoint of a loop's carry: `cond` is null for scan, `item` null for while_loop.
const Abstract* Inferencer::loop(const Abstract* body, const Abstract* cond, const Abstract* item,
                                 const Abstract* init) {
  InferContext* c = cur_;
  const Node* node = curNode_;
  SymbolSupply& syms = c->loopSymbols[node];
  A carry = init;
  for (int round = 1;; ++round) {
    c->callees[node].clear();  // only the last round's calls are the loop's
    ++indefinite_;
    if (cond) call(cond, {carry}, {});
    A out = call(body, item ? Vec{carry, item} : Vec{carry}, {});
    --indefinite_;
    syms.restart();
    A next = join(carry, tupleItem(out, 1), &syms);
    if (next == carry) return carry;
    carry = round >= limits_.maxIterations ? Abstract::any() : next;
  }
}

const Abstract* Inferencer::whileLoop(const Abstract* cond, const Abstract* body, const Abstract* init) {
  return loop(body, cond, nullptr, init);
}

const Abstract* Inferencer::scan(const Abstract* body, const Abstract* item, const Abstract* init) {
  return loop(body, nullptr, item, init);
}

// ------------------------------------------------------------------ environment

const Abstract* Inferencer::globalValue(const GlobalVar* g) {
  A v = hooks_.globalValue ? hooks_.globalValue(g) : nullptr;
  if (!v || (v->is(AKind::Undef) && !(cur_ && cur_->definite))) return Abstract::any();
  return v;
}

void Inferencer::globalAssigned(const GlobalVar* g, const Abstract* v) {
  if (hooks_.globalAssigned) hooks_.globalAssigned(g, v, cur_ && cur_->graph->parent == nullptr);
}

void Inferencer::moduleImported(const Module* m) {
  if (hooks_.moduleImported) hooks_.moduleImported(m);
}

Dim Inferencer::freshDim() {
  if (!cur_ || !curNode_) return Dim::fresh();
  std::vector<Dim>& dims = cur_->freshDims[curNode_];
  if (curFresh_ == dims.size()) dims.push_back(Dim::fresh());
  return dims[curFresh_++];
}

SymbolSupply* Inferencer::joinSymbols() {
  if (!cur_ || !curNode_) return nullptr;
  return &cur_->joinSymbols[curNode_];
}

// ------------------------------------------------------------------ msl check

std::vector<Diagnostic> checkModule(const Module& m) {
  std::unordered_map<const GlobalVar*, const Abstract*> globals;
  std::unordered_set<const Module*> started;
  std::vector<InferContext*> statements;
  Inferencer* engine = nullptr;
  // Runs a module's top level once; an import runs the imported module's where it is inferred.
  std::function<void(const Module*)> run = [&](const Module* mod) {
    if (!started.insert(mod).second) return;
    for (const Graph* s : mod->statements) statements.push_back(engine->infer(s, {}, {}));
  };
  InferHooks hooks;
  hooks.globalValue = [&](const GlobalVar* g) -> const Abstract* {
    auto it = globals.find(g);
    if (it != globals.end()) return it->second;
    return started.count(g->module) ? Abstract::undef() : nullptr;
  };
  hooks.globalAssigned = [&](const GlobalVar* g, const Abstract* v, bool definite) {
    auto [it, fresh] = globals.emplace(g, v);
    if (!fresh) it->second = definite ? v : join(it->second, v);
  };
  hooks.moduleImported = [&](const Module* mod) { run(mod); };
  Inferencer inf(hooks);
  engine = &inf;
  run(&m);
  std::vector<Diagnostic> out;
  std::set<std::pair<const Node*, std::string>> seen;
  for (InferContext* s : statements)
    for (InferContext* c : inf.reachable(s, [](const Graph*) { return true; }))
      for (const auto& [node, d] : c->errors)
        if (seen.insert({node, d.message}).second) out.push_back(d);
  return out;
}

}  // namespace msl::ir
