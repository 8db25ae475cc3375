#include "frontend/LowerToIR.h"

#include <algorithm>
#include <map>
#include <set>

#include "ir/Diagnostics.h"

namespace msl {

using ir::Graph;
using ir::Node;
using namespace ast;

ir::Module& builtinsModule() {
  static ir::Module* m = [] {
    auto* mod = new ir::Module("builtins", nullptr);
    mod->global("argv");
    return mod;
  }();
  return *m;
}

namespace {

// Names of the language that later issues implement: using one is reported as
// "<name> is not supported yet" instead of an unknown name (LANGUAGE.md preamble).
const std::set<std::string> kNotYet = {
    "shard"};

// Statement-level methods that update their receiver (the lowering rebinds it).
bool isStmtUpdateCall(const Expr* e) {
  auto* c = as<Call>(e);
  return c && as<Attribute>(c->func.get());
}

// ---------------------------------------------------------------- syntactic analyses

// The variable an assignment target finally rebinds: x for x, x.a.b, x[i][j], x.a[i].
const Name* rootName(const Expr* t) {
  while (true) {
    if (auto* n = as<Name>(t)) return n;
    if (auto* a = as<Attribute>(t)) { t = a->value.get(); continue; }
    if (auto* s = as<Subscript>(t)) { t = s->value.get(); continue; }
    return nullptr;
  }
}

void targetNames(const Expr* t, std::set<std::string>& out) {
  if (!t) return;
  if (auto* tu = as<Tuple>(t)) { for (auto& e : tu->elts) targetNames(e.get(), out); return; }
  if (auto* l = as<List>(t)) { for (auto& e : l->elts) targetNames(e.get(), out); return; }
  if (auto* s = as<Starred>(t)) { targetNames(s->value.get(), out); return; }
  if (const Name* n = rootName(t)) out.insert(n->id);
}

// Names a block assigns (not looking into nested functions, classes or comprehensions).
void assignedNames(const Body& body, std::set<std::string>& out) {
  for (const StmtP& sp : body) {
    const Stmt* s = sp.get();
    switch (s->kind) {
      case StmtKind::Assign: for (auto& t : as<Assign>(s)->targets) targetNames(t.get(), out); break;
      case StmtKind::AugAssign: targetNames(as<AugAssign>(s)->target.get(), out); break;
      case StmtKind::AnnAssign: targetNames(as<AnnAssign>(s)->target.get(), out); break;
      case StmtKind::For: targetNames(as<For>(s)->target.get(), out); assignedNames(as<For>(s)->body, out); break;
      case StmtKind::While: assignedNames(as<While>(s)->body, out); break;
      case StmtKind::If: assignedNames(as<If>(s)->body, out); assignedNames(as<If>(s)->orelse, out); break;
      case StmtKind::FunctionDef: out.insert(as<FunctionDef>(s)->name); break;
      case StmtKind::ClassDef: out.insert(as<ClassDef>(s)->name); break;
      case StmtKind::Import:
        for (auto& a : as<Import>(s)->names) out.insert(a.asname.empty() ? a.name : a.asname);
        break;
      case StmtKind::ImportFrom:
        for (auto& a : as<ImportFrom>(s)->names) out.insert(a.asname.empty() ? a.name : a.asname);
        break;
      case StmtKind::ExprStmt:
        if (isStmtUpdateCall(as<ExprStmt>(s)->value.get()))
          targetNames(as<Attribute>(as<Call>(as<ExprStmt>(s)->value.get())->func.get())->value.get(), out);
        break;
      default: break;
    }
  }
}

bool containsReturn(const Body& body) {
  for (const StmtP& sp : body) {
    const Stmt* s = sp.get();
    if (s->kind == StmtKind::Return) return true;
    if (auto* i = as<If>(s)) { if (containsReturn(i->body) || containsReturn(i->orelse)) return true; }
    if (auto* w = as<While>(s)) { if (containsReturn(w->body)) return true; }
    if (auto* f = as<For>(s)) { if (containsReturn(f->body)) return true; }
  }
  return false;
}

// break/continue belonging to the loop whose body this is.
bool containsLoopExit(const Body& body) {
  for (const StmtP& sp : body) {
    const Stmt* s = sp.get();
    if (s->kind == StmtKind::Break || s->kind == StmtKind::Continue) return true;
    if (auto* i = as<If>(s)) { if (containsLoopExit(i->body) || containsLoopExit(i->orelse)) return true; }
  }
  return false;
}

// ---------------------------------------------------------------- the lowerer

struct FuncScope {
  FuncScope* parent = nullptr;
  bool isModule = false;
  std::set<std::string> locals;
};

using Env = std::map<std::string, Node*>;

// An enclosing function's state at the point a nested function was created.
struct Outer {
  FuncScope* scope;
  Env env;
};

const char* kState = "$state";
const char* kRet = "$ret";
const char* kRv = "$rv";
const char* kBrk = "$brk";
const char* kCont = "$cont";

class Lowerer {
 public:
  Lowerer(ir::Module& m, const ImportResolver& resolve) : m_(m), resolve_(resolve) {}

  void run(const ast::Module& mod) {
    std::set<std::string> names;
    assignedNames(mod.body, names);
    for (const std::string& n : names) m_.global(n);
    moduleScope_.isModule = true;
    scope_ = &moduleScope_;
    for (const StmtP& s : mod.body) {
      Graph* sg = m_.newGraph("<module>", nullptr, s->loc());
      g_ = sg;
      env_.clear();
      env_[kState] = token();
      Node* value = nullptr;
      if (auto* es = as<ExprStmt>(s.get()); es && !isStmtUpdateCall(es->value.get())) {
        value = expr(es->value.get());
      } else {
        stmt(s.get());
      }
      sg->output = withState(value ? value : m_.constNone(), s->loc());
      m_.statements.push_back(sg);
    }
  }

 private:
  ir::Module& m_;
  const ImportResolver& resolve_;
  FuncScope moduleScope_;
  FuncScope* scope_ = nullptr;
  Graph* g_ = nullptr;
  Env env_;
  std::vector<Outer> outers_;  // innermost last
  std::set<Node*> maybeUndef_;
  int fstringDepth_ = 0;

  // ---- node helpers
  Node* token() { return m_.newConst(ir::ConstKind::Token); }
  Node* apply(Prim p, std::vector<Node*> args, SourceLoc loc) {
    args.insert(args.begin(), m_.constPrim(p, loc));
    return m_.newApply(g_, std::move(args), loc);
  }
  Node* getItemConst(Node* tuple, int64_t i, SourceLoc loc) {
    return apply(Prim::TupleGetItem, {tuple, m_.constInt(i)}, loc);
  }
  static bool isConstFalse(Node* n) { return n->isConst() && n->ckind == ir::ConstKind::Bool && !n->b; }
  Node* state() { return env_[kState]; }
  // A graph's result, after its effects: depend(value, state) unless it had none.
  Node* withState(Node* value, SourceLoc loc) {
    Node* st = state();
    if (st->isConst() && st->ckind == ir::ConstKind::Token) return value;
    return apply(Prim::Depend, {value, st}, loc);
  }
  void setState(Node* s) { env_[kState] = s; }

  // A call with effects unknown at lowering time: ordered after the current state, and
  // the state after it depends on it.
  Node* effectfulCall(Node* callee, std::vector<Node*> args, std::vector<std::string> kwnames, SourceLoc loc) {
    Prim p;
    bool pure = callee->isConst() && callee->ckind == ir::ConstKind::Prim && (p = callee->prim, true) &&
                primInfo(p).effect == PrimEffect::Pure;
    if (callee->isConst() && callee->ckind == ir::ConstKind::Class) pure = true;
    if (!pure) callee = apply(Prim::Depend, {callee, state()}, loc);
    args.insert(args.begin(), callee);
    Node* r = m_.newApply(g_, std::move(args), loc);
    r->kwnames = std::move(kwnames);
    if (!pure) setState(apply(Prim::UpdateState, {state(), r}, loc));
    return r;
  }

  // ---- names
  Node* readName(const std::string& id, SourceLoc loc) {
    auto it = env_.find(id);
    if (it != env_.end()) return checked(it->second, id, loc);
    if (!scope_->isModule && scope_->locals.count(id)) raise(DiagId::UnboundLocal, loc, {id});
    for (auto o = outers_.rbegin(); o != outers_.rend(); ++o) {
      auto jt = o->env.find(id);
      if (jt != o->env.end()) return checked(jt->second, id, loc);
      if (!o->scope->isModule && o->scope->locals.count(id)) raise(DiagId::UnboundLocal, loc, {id});
    }
    if (ir::GlobalVar* gv = m_.findGlobal(id)) return globalGet(gv, loc);
    return builtin(id, loc);
  }

  Node* checked(Node* n, const std::string& id, SourceLoc loc) {
    if (n->isConst() && n->ckind == ir::ConstKind::Undef) raise(DiagId::UnboundLocal, loc, {id});
    if (maybeUndef_.count(n)) return apply(Prim::CheckBound, {n, m_.constStr(id)}, loc);
    return n;
  }

  Node* globalGet(ir::GlobalVar* gv, SourceLoc loc) {
    Node* c = m_.newConst(ir::ConstKind::Global, loc);
    c->global = gv;
    Node* r = apply(Prim::GlobalGet, {c, state()}, loc);
    r->name = gv->name;
    return r;
  }

  Node* builtin(const std::string& id, SourceLoc loc) {
    Prim p;
    if (builtinPrim(id, &p)) return m_.constPrim(p, loc);
    DType dt;
    if (id != "bool" && dtypeFromName(id, &dt)) return m_.constDType(dt);
    if (id == "Tensor") return m_.constPrim(Prim::TensorNew, loc);  // for isinstance(x, Tensor)
    if (id == "stdout" || id == "stderr") return m_.constStr("<" + id + ">", loc);
    if (id == "argv") return globalGet(builtinsModule().findGlobal("argv"), loc);
    if (kNotYet.count(id)) raise(DiagId::NotSupportedYet, loc, {"'" + id + "'"});
    raise(DiagId::UnknownName, loc, {id});
  }

  void bindName(const std::string& id, Node* v, SourceLoc loc) {
    if (scope_->isModule && !isComprehensionVar(id)) {
      Node* c = m_.newConst(ir::ConstKind::Global, loc);
      c->global = m_.global(id);
      setState(apply(Prim::GlobalSet, {state(), c, v}, loc));
      return;
    }
    if (v->isApply() && v->name.empty()) v->name = id;
    env_[id] = v;
  }
  std::set<std::string> compVars_;  // comprehension targets visible at module level
  bool isComprehensionVar(const std::string& id) const { return compVars_.count(id) > 0; }

  // ---- assignment
  void assignTo(const Expr* t, Node* v) {
    switch (t->kind) {
      case ExprKind::Name: bindName(as<Name>(t)->id, v, t->loc()); return;
      case ExprKind::Tuple:
      case ExprKind::List: {
        const auto& elts = t->kind == ExprKind::Tuple ? as<Tuple>(t)->elts : as<List>(t)->elts;
        int star = -1;
        for (size_t i = 0; i < elts.size(); ++i)
          if (elts[i]->kind == ExprKind::Starred) {
            if (star >= 0) raise(DiagId::SyntaxError, elts[i]->loc(), {"multiple starred expressions in assignment"});
            star = (int)i;
          }
        Node* u = apply(Prim::Unpack, {v, m_.constInt((int64_t)elts.size()), m_.constInt(star)}, t->loc());
        for (size_t i = 0; i < elts.size(); ++i) {
          const Expr* e = elts[i].get();
          if (auto* s = as<Starred>(e)) e = s->value.get();
          assignTo(e, getItemConst(u, (int64_t)i, e->loc()));
        }
        return;
      }
      case ExprKind::Attribute: {
        auto* a = as<Attribute>(t);
        Node* base = expr(a->value.get());
        assignTo(a->value.get(), apply(Prim::SetAttr, {base, m_.constStr(a->attr), v}, a->attrLoc));
        return;
      }
      case ExprKind::Subscript: {
        auto* s = as<Subscript>(t);
        Node* base = expr(s->value.get());
        Node* idx = index(s->index.get());
        assignTo(s->value.get(), apply(Prim::SetItem, {base, idx, v}, s->bracketLoc));
        return;
      }
      case ExprKind::Starred:
        raise(DiagId::SyntaxError, t->loc(), {"starred assignment target must be in a list or tuple"});
      default:
        raise(DiagId::BadAssignTarget, t->loc(), {std::string("an expression of kind ") + exprKindName(t->kind)});
    }
  }

  // x op= v: the target's parts are evaluated once.
  void augAssign(const AugAssign* s) {
    Prim p = binPrim(s->op);
    const Expr* t = s->target.get();
    if (auto* n = as<Name>(t)) {
      Node* cur = readName(n->id, n->loc());
      Node* v = expr(s->value.get());
      bindName(n->id, apply(p, {cur, v}, s->opLoc), n->loc());
    } else if (auto* a = as<Attribute>(t)) {
      Node* base = expr(a->value.get());
      Node* cur = apply(Prim::GetAttr, {base, m_.constStr(a->attr)}, a->attrLoc);
      Node* v = expr(s->value.get());
      Node* r = apply(p, {cur, v}, s->opLoc);
      assignTo(a->value.get(), apply(Prim::SetAttr, {base, m_.constStr(a->attr), r}, a->attrLoc));
    } else if (auto* sb = as<Subscript>(t)) {
      Node* base = expr(sb->value.get());
      Node* idx = index(sb->index.get());
      Node* cur = apply(Prim::GetItem, {base, idx}, sb->bracketLoc);
      Node* v = expr(s->value.get());
      Node* r = apply(p, {cur, v}, s->opLoc);
      assignTo(sb->value.get(), apply(Prim::SetItem, {base, idx, r}, sb->bracketLoc));
    } else {
      raise(DiagId::BadAssignTarget, t->loc(), {"this expression with an augmented assignment"});
    }
  }

  // ---- control flow helpers
  // if cond: thenFn() else: elseFn(), each lowered into its own graph; variables they
  // change are joined through the tuple both branches return.
  void ifThenElse(Node* cond, const std::function<void()>& thenFn, const std::function<void()>& elseFn,
                  SourceLoc loc, const char* tag = "if") {
    Graph* outer = g_;
    Env before = env_;
    auto branch = [&](const std::function<void()>& fn, const char* suffix, Env& out) {
      Graph* bg = m_.newGraph(std::string(tag) + suffix, outer, loc);
      bg->qualname = outer->qualname + "." + tag + suffix;
      g_ = bg;
      env_ = before;
      if (fn) fn();
      out = env_;
      g_ = outer;
      return bg;
    };
    Env thenEnv, elseEnv;
    Graph* tg = branch(thenFn, "_true", thenEnv);
    Graph* eg = branch(elseFn, "_false", elseEnv);
    std::set<std::string> keys;
    for (auto& [k, v] : thenEnv) keys.insert(k);
    for (auto& [k, v] : elseEnv) keys.insert(k);
    std::vector<std::string> vars;
    auto valueIn = [&](Env& e, const std::string& k) -> Node* {
      auto it = e.find(k);
      if (it != e.end()) return it->second;
      auto jt = before.find(k);
      return jt != before.end() ? jt->second : m_.constUndef(k);
    };
    for (const std::string& k : keys) {
      Node* o = before.count(k) ? before[k] : nullptr;
      if (valueIn(thenEnv, k) != o || valueIn(elseEnv, k) != o) vars.push_back(k);
    }
    auto finish = [&](Graph* bg, Env& e) {
      g_ = bg;
      std::vector<Node*> vals;
      for (const std::string& k : vars) vals.push_back(valueIn(e, k));
      bg->output = apply(Prim::MakeTuple, vals, loc);
      g_ = outer;
    };
    finish(tg, thenEnv);
    finish(eg, elseEnv);
    env_ = before;
    Node* sel = apply(Prim::Switch, {cond, m_.constGraph(tg), m_.constGraph(eg)}, loc);
    Node* r = m_.newApply(g_, {sel}, loc);
    for (size_t i = 0; i < vars.size(); ++i) {
      Node* v = getItemConst(r, (int64_t)i, loc);
      Node* a = valueIn(thenEnv, vars[i]), *b = valueIn(elseEnv, vars[i]);
      auto undefish = [&](Node* n) { return (n->isConst() && n->ckind == ir::ConstKind::Undef) || maybeUndef_.count(n); };
      if (undefish(a) || undefish(b)) maybeUndef_.insert(v);
      v->name = vars[i];
      env_[vars[i]] = v;
    }
  }

  Node* truth(Node* v, SourceLoc loc) { return apply(Prim::Truth, {v}, loc); }

  // The flags that end the current block early, or-ed; nullptr when none can be set.
  Node* exitFlag(SourceLoc loc) {
    Node* acc = nullptr;
    for (const char* f : {kRet, kBrk, kCont}) {
      auto it = env_.find(f);
      if (it == env_.end() || isConstFalse(it->second)) continue;
      acc = acc ? apply(Prim::BitOr, {acc, it->second}, loc) : it->second;
    }
    return acc;
  }

  // Lowers body[from..]; returns true when the block definitely left (return, break, ...).
  bool block(const Body& body, size_t from = 0) {
    for (size_t i = from; i < body.size(); ++i) {
      const Stmt* s = body[i].get();
      if (stmt(s)) return true;
      if (i + 1 < body.size()) {
        if (Node* flag = exitFlag(s->loc())) {
          // Statements after one that may have returned / broken run only if it did not.
          // Paths where the flag is set have left the block already, so the block
          // definitely leaves when the rest of it does.
          bool restLeaves = false;
          ifThenElse(flag, nullptr, [&, i] {
            // In here no flag is set: the rest of the block runs unguarded again.
            for (const char* f : {kRet, kBrk, kCont})
              if (env_.count(f)) env_[f] = m_.constBool(false);
            restLeaves = block(body, i + 1);
          }, body[i + 1]->loc(), "rest");
          return restLeaves;
        }
      }
    }
    return false;
  }

  // while / for: the loop carries the variables the body assigns, the state and the
  // return flag; the body returns (go_on, carry).
  void loop(const Stmt* s, const Expr* test, const Expr* target, const Expr* iter, const Body& body) {
    SourceLoc loc = s->loc();
    Node* iterable = iter ? expr(iter) : nullptr;
    std::set<std::string> names;
    if (!scope_->isModule) {
      assignedNames(body, names);
      if (target) targetNames(target, names);
    }
    std::vector<std::string> carried(names.begin(), names.end());
    carried.push_back(kState);
    bool hasReturn = !scope_->isModule && containsReturn(body);
    if (hasReturn) { carried.push_back(kRet); carried.push_back(kRv); }
    bool hasExit = containsLoopExit(body);

    Env before = env_;
    std::vector<Node*> init;
    for (const std::string& k : carried) init.push_back(before.count(k) ? before[k] : m_.constUndef(k));
    Node* initTuple = apply(Prim::MakeTuple, init, loc);
    Graph* outer = g_;

    auto unpackCarry = [&](Graph* lg, Node* c) {
      g_ = lg;
      env_ = before;
      for (size_t k = 0; k < carried.size(); ++k) {
        Node* v = getItemConst(c, (int64_t)k, loc);
        v->name = carried[k];
        if (init[k]->isConst() && init[k]->ckind == ir::ConstKind::Undef) maybeUndef_.insert(v);
        env_[carried[k]] = v;
      }
    };

    Graph* cg = nullptr;
    if (test) {
      cg = m_.newGraph("while_cond", outer, loc);
      cg->qualname = outer->qualname + ".while_cond";
      Node* c = m_.newParam(cg, "carry", loc);
      unpackCarry(cg, c);
      Node* t = truth(expr(test), test->loc());
      cg->output = apply(Prim::Depend, {t, state()}, loc);
    }
    const char* tag = test ? "while_body" : "for_body";
    Graph* bg = m_.newGraph(tag, outer, loc);
    bg->qualname = outer->qualname + "." + tag;
    Node* c = m_.newParam(bg, "carry", loc);
    Node* item = target ? m_.newParam(bg, "item", loc) : nullptr;
    unpackCarry(bg, c);
    if (hasExit) { env_[kBrk] = m_.constBool(false); env_[kCont] = m_.constBool(false); }
    if (target) assignTo(target, item);
    block(body);
    Node* stop = nullptr;
    for (const char* f : {kBrk, kRet}) {
      auto it = env_.find(f);
      if (it == env_.end() || isConstFalse(it->second)) continue;
      stop = stop ? apply(Prim::BitOr, {stop, it->second}, loc) : it->second;
    }
    Node* go = stop ? apply(Prim::Not, {stop}, loc) : m_.constBool(true);
    std::vector<Node*> outVals;
    for (const std::string& k : carried) outVals.push_back(env_.count(k) ? env_[k] : m_.constUndef(k));
    bg->output = apply(Prim::MakeTuple, {go, apply(Prim::MakeTuple, outVals, loc)}, loc);

    g_ = outer;
    env_ = before;
    Node* r = test ? apply(Prim::WhileLoop, {m_.constGraph(cg), m_.constGraph(bg), initTuple}, loc)
                   : apply(Prim::Scan, {m_.constGraph(bg), iterable, initTuple}, iter->loc());
    for (size_t k = 0; k < carried.size(); ++k) {
      Node* v = getItemConst(r, (int64_t)k, loc);
      v->name = carried[k];
      if (init[k]->isConst() && init[k]->ckind == ir::ConstKind::Undef) maybeUndef_.insert(v);
      env_[carried[k]] = v;
    }
  }

  // ---- functions
  Graph* function(const std::string& name, SourceLoc loc, const std::vector<Param>& params,
                  const std::function<Node*()>& bodyFn, const std::set<std::string>& locals,
                  const std::string& selfName = "") {
    // Defaults are evaluated here, where the function is created.
    std::vector<Node*> defaults;
    std::set<std::string> seen;
    for (const Param& p : params) {
      if (!seen.insert(p.name).second) raise(DiagId::DuplicateParam, p.range.begin, {p.name});
      defaults.push_back(p.defaultValue ? expr(p.defaultValue.get()) : nullptr);
    }
    Graph* fg = m_.newGraph(name, g_, loc);
    fg->isFunction = true;
    for (size_t i = 0; i < params.size(); ++i) {
      Node* pn = m_.newParam(fg, params[i].name, params[i].range.begin);
      (void)pn;
      fg->paramKinds[i] = (ir::ParamKind)params[i].kind;
      fg->defaults[i] = defaults[i];
    }
    FuncScope fs;
    fs.parent = scope_;
    fs.locals = locals;
    for (const Param& p : params) fs.locals.insert(p.name);
    outers_.push_back(Outer{scope_, env_});
    if (!selfName.empty() && !scope_->isModule) outers_.back().env[selfName] = m_.constGraph(fg, loc);
    Graph* savedG = g_;
    FuncScope* savedScope = scope_;
    std::set<std::string> savedComp = compVars_;
    compVars_.clear();
    Env savedEnv = std::move(env_);
    env_.clear();
    g_ = fg;
    scope_ = &fs;
    for (size_t i = 0; i < params.size(); ++i) env_[params[i].name] = fg->params[i];
    env_[kState] = token();
    env_[kRet] = m_.constBool(false);
    // The return value is undefined until a `return`; a path that falls off the end
    // returns None (so inference sees `int`, not `int or None`, when every path returns).
    env_[kRv] = m_.constUndef("<return value>");
    Node* out = bodyFn();
    fg->output = withState(out, loc);
    g_ = savedG;
    scope_ = savedScope;
    env_ = std::move(savedEnv);
    compVars_ = savedComp;
    outers_.pop_back();
    return fg;
  }

  Node* functionDef(const FunctionDef* d) {
    std::set<std::string> locals;
    assignedNames(d->body, locals);
    Graph* fg = function(d->name, d->nameLoc, d->params, [&]() -> Node* {
      if (block(d->body)) return env_[kRv];
      Node* ret = env_[kRet];
      if (isConstFalse(ret)) return m_.constNone();
      return conditional(ret, [&] { return env_[kRv]; }, [&] { return m_.constNone(); }, d->loc(), "returned");
    }, locals, d->name);
    fg->qualname = (g_->isFunction ? g_->qualname + "." : std::string()) + d->name;
    Node* f = m_.constGraph(fg, d->loc());
    // Decorators apply bottom-up: @a @b def f  ==  f = a(b(f)).
    for (auto it = d->decorators.rbegin(); it != d->decorators.rend(); ++it) {
      Node* dec = expr(it->get());
      f = effectfulCall(dec, {f}, {}, (*it)->loc());
    }
    return f;
  }

  Node* lambda(const Lambda* l) {
    Graph* fg = function("<lambda>", l->loc(), l->params, [&]() -> Node* { return expr(l->body.get()); }, {});
    fg->qualname = "<lambda>";
    return m_.constGraph(fg, l->loc());
  }

  Node* classDef(const ClassDef* c) {
    ir::ClassInfo* ci = m_.newClass();
    ci->name = c->name;
    ci->loc = c->nameLoc;
    std::vector<Node*> inputs;
    Node* cc = m_.newConst(ir::ConstKind::Class, c->loc());
    cc->cls = ci;
    inputs.push_back(cc);
    std::vector<Node*> methods;
    for (const StmtP& sp : c->body) {
      const Stmt* s = sp.get();
      if (auto* f = as<AnnAssign>(s)) {
        auto* n = as<Name>(f->target.get());
        if (!n) raise(DiagId::BadClassBody, s->loc(), {"a field that is not a plain name"});
        if (std::find(ci->fields.begin(), ci->fields.end(), n->id) != ci->fields.end())
          raise(DiagId::DuplicateField, s->loc(), {n->id, c->name});
        ci->fields.push_back(n->id);
        ci->hasDefault.push_back(f->value != nullptr);
        if (f->value) inputs.push_back(expr(f->value.get()));
      } else if (auto* fd = as<FunctionDef>(s)) {
        if (fd->name == "__init__")
          raise(DiagId::NotInLanguage, fd->nameLoc,
                {"'__init__'", "a class gets a keyword constructor from its fields (" + c->name + "(field=...))"});
        Node* m = functionDef(fd);
        m->g->qualname = c->name + "." + fd->name;
        m->g->isMethod = true;
        ci->methods.push_back(fd->name);
        methods.push_back(m);
      } else if (s->kind == StmtKind::Pass) {
      } else {
        raise(DiagId::BadClassBody, s->loc(), {std::string("a statement of kind ") + stmtKindName(s->kind)});
      }
    }
    inputs.insert(inputs.end(), methods.begin(), methods.end());
    return apply(Prim::MakeClass, inputs, c->nameLoc);
  }

  // ---- statements: returns true when control definitely leaves the block
  bool stmt(const Stmt* s) {
    switch (s->kind) {
      case StmtKind::ExprStmt: {
        const Expr* e = as<ExprStmt>(s)->value.get();
        if (isStmtUpdateCall(e)) { methodUpdate(as<Call>(e)); return false; }
        Node* v = expr(e);
        (void)v;
        return false;
      }
      case StmtKind::Assign: {
        auto* a = as<Assign>(s);
        Node* v = expr(a->value.get());
        for (auto& t : a->targets) assignTo(t.get(), v);
        return false;
      }
      case StmtKind::AugAssign: augAssign(as<AugAssign>(s)); return false;
      case StmtKind::AnnAssign: {
        auto* a = as<AnnAssign>(s);
        if (a->value) assignTo(a->target.get(), expr(a->value.get()));
        return false;
      }
      case StmtKind::If: {
        auto* i = as<If>(s);
        Node* c = truth(expr(i->test.get()), i->test->loc());
        bool thenLeaves = false, elseLeaves = false;
        ifThenElse(c, [&] { thenLeaves = block(i->body); }, [&] { elseLeaves = block(i->orelse); }, s->loc());
        return thenLeaves && elseLeaves;
      }
      case StmtKind::While: {
        auto* w = as<While>(s);
        loop(s, w->test.get(), nullptr, nullptr, w->body);
        return false;
      }
      case StmtKind::For: {
        auto* f = as<For>(s);
        loop(s, nullptr, f->target.get(), f->iter.get(), f->body);
        return false;
      }
      case StmtKind::Break:
      case StmtKind::Continue: {
        const char* flag = s->kind == StmtKind::Break ? kBrk : kCont;
        if (!env_.count(flag))
          raise(DiagId::BreakOutsideLoop, s->loc(), {s->kind == StmtKind::Break ? "break" : "continue"});
        env_[flag] = m_.constBool(true);
        return true;
      }
      case StmtKind::Return: {
        if (scope_->isModule) raise(DiagId::ReturnOutsideFunction, s->loc());
        auto* r = as<Return>(s);
        env_[kRv] = r->value ? expr(r->value.get()) : m_.constNone();
        env_[kRet] = m_.constBool(true);
        return true;
      }
      case StmtKind::Pass: return false;
      case StmtKind::Assert: {
        auto* a = as<Assert>(s);
        Node* c = truth(expr(a->test.get()), a->test->loc());
        ifThenElse(c, nullptr, [&] {
          Node* msg = a->msg ? expr(a->msg.get()) : m_.constNone();
          setState(apply(Prim::Assert, {state(), m_.constBool(false), msg}, s->loc()));
        }, s->loc(), "assert");
        return false;
      }
      case StmtKind::Raise: {
        auto* r = as<Raise>(s);
        Node* e = r->exc ? expr(r->exc.get()) : m_.constNone();
        setState(apply(Prim::Raise, {state(), e}, s->loc()));
        return true;
      }
      case StmtKind::FunctionDef: {
        auto* d = as<FunctionDef>(s);
        bindName(d->name, functionDef(d), d->nameLoc);
        return false;
      }
      case StmtKind::ClassDef: {
        auto* c = as<ClassDef>(s);
        for (auto& dec : c->decorators) raise(DiagId::NotSupportedYet, dec->loc(), {"a class decorator"});
        bindName(c->name, classDef(c), c->nameLoc);
        return false;
      }
      case StmtKind::Import: {
        for (const ImportAlias& a : as<Import>(s)->names) {
          if (a.name.find('.') != std::string::npos && a.asname.empty())
            raise(DiagId::NotSupportedYet, a.range.begin,
                  {"'import " + a.name + "' without 'as' (write 'from " + a.name.substr(0, a.name.rfind('.')) +
                   " import " + a.name.substr(a.name.rfind('.') + 1) + "')"});
          ir::Module* mod = resolve_(a.name, a.range.begin, true);
          bindName(a.asname.empty() ? a.name : a.asname, importModule(mod, a.range.begin), a.range.begin);
        }
        return false;
      }
      case StmtKind::ImportFrom: {
        auto* f = as<ImportFrom>(s);
        ir::Module* mod = nullptr;
        for (const ImportAlias& a : f->names) {
          if (a.name == "*") raise(DiagId::NotSupportedYet, a.range.begin, {"'from ... import *'"});
          Node* v;
          if (ir::Module* sub = resolve_(f->module + "." + a.name, a.range.begin, false)) {
            v = importModule(sub, a.range.begin);
          } else {
            if (!mod) mod = resolve_(f->module, f->moduleRange.begin, false);
            // Neither a submodule nor a module to take a member from: name the submodule
            // when `module` is a package folder (the driver decides which name to report).
            if (!mod) resolve_(f->module + "." + a.name, a.range.begin, true);
            if (!mod->findGlobal(a.name)) raise(DiagId::NoSuchModuleMember, a.range.begin, {f->module, a.name});
            v = apply(Prim::GetAttr, {importModule(mod, a.range.begin), m_.constStr(a.name)}, a.range.begin);
          }
          bindName(a.asname.empty() ? a.name : a.asname, v, a.range.begin);
        }
        return false;
      }
    }
    internalError("unknown statement kind");
  }

  Node* importModule(ir::Module* mod, SourceLoc loc) {
    Node* c = m_.newConst(ir::ConstKind::Module, loc);
    c->module = mod;
    Node* v = apply(Prim::ImportModule, {state(), c}, loc);
    setState(apply(Prim::UpdateState, {state(), v}, loc));
    return v;
  }

  // `recv.m(args)` as a statement: the receiver is rebound to what method_update returns.
  void methodUpdate(const Call* c) {
    auto* a = as<Attribute>(c->func.get());
    const Name* root = rootName(a->value.get());
    Node* r = methodCall(c, Prim::MethodUpdate);
    if (root && isAssignable(a->value.get())) assignTo(a->value.get(), r);
  }
  // Only plain variables (and their fields/items) are rebound, not module members.
  bool isAssignable(const Expr* e) {
    const Name* root = rootName(e);
    if (!root) return false;
    if (env_.count(root->id)) return true;
    if (!scope_->isModule) return scope_->locals.count(root->id) > 0;
    return m_.findGlobal(root->id) != nullptr;
  }

  // ---- expressions
  static Prim binPrim(BinOpKind k) {
    switch (k) {
      case BinOpKind::Add: return Prim::Add;
      case BinOpKind::Sub: return Prim::Sub;
      case BinOpKind::Mul: return Prim::Mul;
      case BinOpKind::Div: return Prim::Div;
      case BinOpKind::FloorDiv: return Prim::FloorDiv;
      case BinOpKind::Mod: return Prim::Mod;
      case BinOpKind::Pow: return Prim::Pow;
      case BinOpKind::MatMul: return Prim::MatMul;
      case BinOpKind::BitAnd: return Prim::BitAnd;
      case BinOpKind::BitOr: return Prim::BitOr;
      case BinOpKind::BitXor: return Prim::BitXor;
    }
    return Prim::Add;
  }
  static Prim cmpPrim(CmpOpKind k) {
    switch (k) {
      case CmpOpKind::Lt: return Prim::Lt;
      case CmpOpKind::Gt: return Prim::Gt;
      case CmpOpKind::Le: return Prim::Le;
      case CmpOpKind::Ge: return Prim::Ge;
      case CmpOpKind::Eq: return Prim::Eq;
      case CmpOpKind::Ne: return Prim::Ne;
      default: return Prim::Eq;
    }
  }

  Node* compareOne(CmpOpKind op, Node* a, Node* b, SourceLoc loc) {
    switch (op) {
      case CmpOpKind::Is: return apply(Prim::Is, {a, b}, loc);
      case CmpOpKind::IsNot: return apply(Prim::Not, {apply(Prim::Is, {a, b}, loc)}, loc);
      case CmpOpKind::In: return apply(Prim::Contains, {b, a}, loc);
      case CmpOpKind::NotIn: return apply(Prim::Not, {apply(Prim::Contains, {b, a}, loc)}, loc);
      default: return apply(cmpPrim(op), {a, b}, loc);
    }
  }

  // Value-producing conditional: the result flows through the pseudo-variable "$v".
  Node* conditional(Node* cond, const std::function<Node*()>& a, const std::function<Node*()>& b, SourceLoc loc,
                    const char* tag) {
    const char* kV = "$v";
    Node* saved = env_.count(kV) ? env_[kV] : nullptr;
    ifThenElse(cond, [&] { env_[kV] = a(); }, [&] { env_[kV] = b(); }, loc, tag);
    Node* r = env_[kV];
    if (saved) env_[kV] = saved; else env_.erase(kV);
    return r;
  }

  Node* index(const Expr* e) {
    if (auto* s = as<Slice>(e)) {
      auto part = [&](const ExprP& p) { return p ? expr(p.get()) : m_.constNone(); };
      return apply(Prim::MakeSlice, {part(s->lower), part(s->upper), part(s->step)}, e->loc());
    }
    if (auto* t = as<Tuple>(e)) {
      std::vector<Node*> parts;
      for (auto& x : t->elts) parts.push_back(index(x.get()));
      return apply(Prim::MakeTuple, parts, e->loc());
    }
    return expr(e);
  }

  // A display with possible *starred items: concatenation of pieces.
  Node* sequence(const std::vector<ExprP>& elts, Prim make, SourceLoc loc) {
    std::vector<Node*> cur;
    Node* acc = nullptr;
    auto flush = [&] {
      if (cur.empty() && acc) return;
      Node* piece = apply(make, cur, loc);
      acc = acc ? apply(Prim::Add, {acc, piece}, loc) : piece;
      cur.clear();
    };
    for (auto& e : elts) {
      if (auto* st = as<Starred>(e.get())) {
        flush();
        Node* conv = apply(make == Prim::MakeTuple ? Prim::TupleNew : Prim::ListNew, {expr(st->value.get())}, e->loc());
        acc = apply(Prim::Add, {acc, conv}, e->loc());
      } else {
        cur.push_back(expr(e.get()));
      }
    }
    if (!acc || !cur.empty()) flush();
    return acc;
  }

  Node* call(const Call* c) {
    bool simple = std::all_of(c->args.begin(), c->args.end(), [](const Arg& a) {
      return a.kind == ArgKind::Positional || a.kind == ArgKind::Keyword;
    });
    if (auto* a = as<Attribute>(c->func.get()); a && simple) return methodCall(c, Prim::MethodCall);
    Node* callee = expr(c->func.get());
    SourceLoc loc = c->func->loc();
    if (simple) {
      std::vector<Node*> args;
      std::vector<std::string> kw;
      checkArgOrder(c);
      for (const Arg& a : c->args)
        if (a.kind == ArgKind::Positional) args.push_back(expr(a.value.get()));
      for (const Arg& a : c->args)
        if (a.kind == ArgKind::Keyword) { args.push_back(expr(a.value.get())); kw.push_back(a.name); }
      return effectfulCall(callee, args, kw, loc);
    }
    // f(*xs, **d): call_ex(f, args_tuple, kwargs_dict)
    Node* tuple = nullptr;
    std::vector<Node*> cur;
    auto flush = [&] {
      if (cur.empty()) return;
      Node* piece = apply(Prim::MakeTuple, cur, loc);
      tuple = tuple ? apply(Prim::Add, {tuple, piece}, loc) : piece;
      cur.clear();
    };
    Node* dict = apply(Prim::MakeDict, {}, loc);
    std::vector<Node*> kvs;
    for (const Arg& a : c->args) {
      switch (a.kind) {
        case ArgKind::Positional: cur.push_back(expr(a.value.get())); break;
        case ArgKind::Star: {
          flush();
          Node* t = apply(Prim::TupleNew, {expr(a.value.get())}, a.range.begin);
          tuple = tuple ? apply(Prim::Add, {tuple, t}, loc) : t;
          break;
        }
        case ArgKind::Keyword:
          dict = apply(Prim::SetItem, {dict, m_.constStr(a.name), expr(a.value.get())}, a.range.begin);
          break;
        case ArgKind::DoubleStar:
          dict = apply(Prim::DictUpdate, {dict, expr(a.value.get())}, a.range.begin);
          break;
      }
    }
    flush();
    if (!tuple) tuple = apply(Prim::MakeTuple, {}, loc);
    return effectfulCall(m_.constPrim(Prim::CallEx, loc), {callee, tuple, dict}, {}, loc);
  }

  void checkArgOrder(const Call* c) {
    bool kw = false;
    std::set<std::string> names;
    for (const Arg& a : c->args) {
      if (a.kind == ArgKind::Keyword) {
        kw = true;
        if (!names.insert(a.name).second) raise(DiagId::DuplicateKeywordArg, a.range.begin, {a.name});
      } else if (kw && a.kind == ArgKind::Positional) {
        raise(DiagId::PositionalAfterKeyword, a.range.begin);
      }
    }
  }

  // recv.name(args): method_call(name, recv, args..., kw...) — dispatched at run time on
  // the receiver (records, modules, tensors, strings, lists, dicts).
  Node* methodCall(const Call* c, Prim p) {
    auto* a = as<Attribute>(c->func.get());
    checkArgOrder(c);
    Node* recv = expr(a->value.get());
    std::vector<Node*> args{m_.constStr(a->attr), recv};
    std::vector<std::string> kw;
    for (const Arg& x : c->args)
      if (x.kind == ArgKind::Positional) args.push_back(expr(x.value.get()));
      else if (x.kind != ArgKind::Keyword) raise(DiagId::NotSupportedYet, x.range.begin, {"*args in a method-update statement"});
    for (const Arg& x : c->args)
      if (x.kind == ArgKind::Keyword) { args.push_back(expr(x.value.get())); kw.push_back(x.name); }
    return effectfulCall(m_.constPrim(p, a->attrLoc), args, kw, a->attrLoc);
  }

  // [elt for t in it if c ...] / {k: v for ...}: nested scans accumulating into the carry.
  Node* comprehension(const std::vector<Comprehension>& gens, const std::function<Node*(Node*)>& add, Node* init,
                      SourceLoc loc) {
    const char* kAcc = "$acc";
    Node* savedAcc = env_.count(kAcc) ? env_[kAcc] : nullptr;
    env_[kAcc] = init;
    std::set<std::string> savedComp = compVars_;
    std::function<void(size_t)> level = [&](size_t gi) {
      const Comprehension& gen = gens[gi];
      Node* iterable = expr(gen.iter.get());
      std::vector<std::string> carried{kAcc, kState};
      Env before = env_;
      std::vector<Node*> init2;
      for (auto& k : carried) init2.push_back(before[k]);
      Node* initTuple = apply(Prim::MakeTuple, init2, loc);
      Graph* outer = g_;
      Graph* bg = m_.newGraph("comprehension", outer, loc);
      bg->qualname = outer->qualname + ".comprehension";
      Node* cparam = m_.newParam(bg, "carry", loc);
      Node* item = m_.newParam(bg, "item", loc);
      g_ = bg;
      for (size_t k = 0; k < carried.size(); ++k) env_[carried[k]] = getItemConst(cparam, (int64_t)k, loc);
      std::set<std::string> tnames;
      targetNames(gen.target.get(), tnames);
      if (scope_->isModule) compVars_.insert(tnames.begin(), tnames.end());
      assignTo(gen.target.get(), item);
      std::function<void(size_t)> conds = [&](size_t ci) {
        if (ci == gen.ifs.size()) {
          if (gi + 1 < gens.size()) level(gi + 1);
          else env_[kAcc] = add(env_[kAcc]);
          return;
        }
        Node* t = truth(expr(gen.ifs[ci].get()), gen.ifs[ci]->loc());
        ifThenElse(t, [&] { conds(ci + 1); }, nullptr, gen.ifs[ci]->loc(), "comp_if");
      };
      conds(0);
      std::vector<Node*> outs;
      for (auto& k : carried) outs.push_back(env_[k]);
      bg->output = apply(Prim::MakeTuple, {m_.constBool(true), apply(Prim::MakeTuple, outs, loc)}, loc);
      g_ = outer;
      env_ = before;
      Node* r = apply(Prim::Scan, {m_.constGraph(bg), iterable, initTuple}, gen.iter->loc());
      for (size_t k = 0; k < carried.size(); ++k) env_[carried[k]] = getItemConst(r, (int64_t)k, loc);
    };
    level(0);
    Node* result = env_[kAcc];
    if (savedAcc) env_[kAcc] = savedAcc; else env_.erase(kAcc);
    compVars_ = savedComp;
    return result;
  }

  Node* fstringParts(const std::vector<FStringPart>& parts, SourceLoc loc) {
    std::vector<Node*> pieces;
    for (const FStringPart& p : parts) {
      if (!p.expr) { if (!p.literal.empty()) pieces.push_back(m_.constStr(p.literal)); continue; }
      if (!p.literal.empty()) pieces.push_back(m_.constStr(p.literal));
      Node* v = expr(p.expr.get());
      Node* spec = p.spec.empty() ? m_.constStr("") : fstringParts(p.spec, loc);
      char conv = p.conversion ? p.conversion : (p.selfDocumenting && p.spec.empty() ? 'r' : 0);
      pieces.push_back(apply(Prim::FormatValue, {v, m_.constStr(conv ? std::string(1, conv) : ""), spec}, p.expr->loc()));
    }
    if (pieces.size() == 1 && pieces[0]->isConst()) return pieces[0];
    return apply(Prim::StrConcat, pieces, loc);
  }

  Node* expr(const Expr* e) {
    SourceLoc loc = e->loc();
    switch (e->kind) {
      case ExprKind::Name: return readName(as<Name>(e)->id, loc);
      case ExprKind::Int: return m_.constInt(as<Int>(e)->value, loc);
      case ExprKind::Float: return m_.constFloat(as<Float>(e)->value, loc);
      case ExprKind::Bool: return m_.constBool(as<Bool>(e)->value);
      case ExprKind::NoneLit: return m_.constNone();
      case ExprKind::Str: return m_.constStr(as<Str>(e)->value, loc);
      case ExprKind::EllipsisLit: return m_.newConst(ir::ConstKind::Ellipsis, loc);
      case ExprKind::FString: return fstringParts(as<FString>(e)->parts, loc);
      case ExprKind::Tuple: return sequence(as<Tuple>(e)->elts, Prim::MakeTuple, loc);
      case ExprKind::List: return sequence(as<List>(e)->elts, Prim::MakeList, loc);
      case ExprKind::Dict: {
        auto* d = as<Dict>(e);
        std::vector<Node*> kv;
        Node* acc = nullptr;
        for (size_t i = 0; i < d->keys.size(); ++i) {
          if (!d->keys[i]) {
            Node* piece = apply(Prim::MakeDict, kv, loc);
            kv.clear();
            acc = acc ? apply(Prim::DictUpdate, {acc, piece}, loc) : piece;
            acc = apply(Prim::DictUpdate, {acc, expr(d->values[i].get())}, d->values[i]->loc());
            continue;
          }
          kv.push_back(expr(d->keys[i].get()));
          kv.push_back(expr(d->values[i].get()));
        }
        Node* piece = apply(Prim::MakeDict, kv, loc);
        return acc ? apply(Prim::DictUpdate, {acc, piece}, loc) : piece;
      }
      case ExprKind::BinOp: {
        auto* b = as<BinOp>(e);
        Node* l = expr(b->lhs.get());
        Node* r = expr(b->rhs.get());
        return apply(binPrim(b->op), {l, r}, b->opLoc);
      }
      case ExprKind::UnaryOp: {
        auto* u = as<UnaryOp>(e);
        // A negative number literal (`-1`, `axis=-1`, `x[-1]`, `-0.5`) is a constant, not a
        // call of negative at run time: -x of an int or float literal is exact (-0.0
        // included), so the value is the same.
        if (u->op == UnaryOpKind::Neg && u->operand->kind == ExprKind::Int &&
            as<Int>(u->operand.get())->value != INT64_MIN)
          return m_.constInt(-as<Int>(u->operand.get())->value, e->loc());
        if (u->op == UnaryOpKind::Neg && u->operand->kind == ExprKind::Float)
          return m_.constFloat(-as<Float>(u->operand.get())->value, e->loc());
        Node* v = expr(u->operand.get());
        switch (u->op) {
          case UnaryOpKind::Neg: return apply(Prim::Neg, {v}, u->opLoc);
          case UnaryOpKind::Pos: return apply(Prim::Pos, {v}, u->opLoc);
          case UnaryOpKind::Not: return apply(Prim::Not, {v}, u->opLoc);
          case UnaryOpKind::Invert: return apply(Prim::Invert, {v}, u->opLoc);
        }
        break;
      }
      case ExprKind::BoolOp: {
        // a and b: a if not a else b ; a or b: a if a else b (values, short-circuit)
        auto* b = as<BoolOp>(e);
        std::function<Node*(size_t)> chain = [&](size_t i) -> Node* {
          Node* v = expr(b->values[i].get());
          if (i + 1 == b->values.size()) return v;
          Node* t = truth(v, b->opLocs[i]);
          auto rest = [&, i] { return chain(i + 1); };
          auto self = [v] { return v; };
          return b->op == BoolOpKind::And ? conditional(t, rest, self, b->opLocs[i], "and")
                                          : conditional(t, self, rest, b->opLocs[i], "or");
        };
        return chain(0);
      }
      case ExprKind::Compare: {
        auto* c = as<Compare>(e);
        Node* left = expr(c->left.get());
        std::function<Node*(Node*, size_t)> chain = [&](Node* l, size_t i) -> Node* {
          Node* r = expr(c->comparators[i].get());
          Node* res = compareOne(c->ops[i], l, r, c->opLocs[i]);
          if (i + 1 == c->ops.size()) return res;
          Node* t = truth(res, c->opLocs[i]);
          return conditional(t, [&, r, i] { return chain(r, i + 1); }, [res] { return res; }, c->opLocs[i], "cmp");
        };
        return chain(left, 0);
      }
      case ExprKind::IfExp: {
        auto* i = as<IfExp>(e);
        Node* t = truth(expr(i->test.get()), i->test->loc());
        return conditional(t, [&] { return expr(i->body.get()); }, [&] { return expr(i->orelse.get()); }, loc, "ifexp");
      }
      case ExprKind::Lambda: return lambda(as<Lambda>(e));
      case ExprKind::Call: return call(as<Call>(e));
      case ExprKind::Attribute: {
        auto* a = as<Attribute>(e);
        Node* v = expr(a->value.get());
        return apply(Prim::GetAttr, {v, m_.constStr(a->attr)}, a->attrLoc);
      }
      case ExprKind::Subscript: {
        auto* s = as<Subscript>(e);
        Node* v = expr(s->value.get());
        Node* i = index(s->index.get());
        return apply(Prim::GetItem, {v, i}, s->bracketLoc);
      }
      case ExprKind::Slice: raise(DiagId::SyntaxError, loc, {"a slice is only allowed inside []"});
      case ExprKind::ListComp: {
        auto* l = as<ListComp>(e);
        return comprehension(l->generators, [&](Node* acc) {
          return apply(Prim::ListAppendLocal, {acc, expr(l->elt.get())}, l->elt->loc());
        }, apply(Prim::MakeList, {}, loc), loc);
      }
      case ExprKind::GeneratorExp: {
        auto* l = as<GeneratorExp>(e);
        return comprehension(l->generators, [&](Node* acc) {
          return apply(Prim::ListAppendLocal, {acc, expr(l->elt.get())}, l->elt->loc());
        }, apply(Prim::MakeList, {}, loc), loc);
      }
      case ExprKind::DictComp: {
        auto* d = as<DictComp>(e);
        return comprehension(d->generators, [&](Node* acc) {
          Node* k = expr(d->key.get());
          Node* v = expr(d->value.get());
          return apply(Prim::SetItem, {acc, k, v}, d->key->loc());
        }, apply(Prim::MakeDict, {}, loc), loc);
      }
      case ExprKind::Starred: raise(DiagId::SyntaxError, loc, {"can't use starred expression here"});
    }
    internalError("unknown expression kind");
  }
};

}  // namespace

void lowerModule(const ast::Module& ast, ir::Module& m, const ImportResolver& resolve) {
  Lowerer l(m, resolve);
  l.run(ast);
}

}  // namespace msl
