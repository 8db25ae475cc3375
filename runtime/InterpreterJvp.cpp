// Interpreter::jvpcall: the forward-mode call JVP(fn)(args; tangents) -> (out, tangent_out)
// (autodiff/Jvp.h), as Interpreter::jcall does for reverse mode:
//   - a closure of a JVP graph (made inside a transformed function: a local function, a
//     branch, a loop body) runs as it is: it already captured the values and the tangents
//     of its free variables;
//   - any other closure is specialised to its arguments, transformed (jvpGraph, cached on
//     the specialisation) and run with its captured values (their tangents are zero: they
//     come from outside the differentiated function);
//   - a bound method (and a callable record) calls its function with the receiver first;
//     t_fn is the receiver's tangent;
//   - a primitive called as a value runs the JVP of a graph that calls it;
//   - partial(f, *bound, **kw): t_fn, when not None, is ((t_bound...), {kw: t}) (made by
//     the transform for a partial built inside the differentiated function);
//   - a class builds a record: its tangent is a record of the arguments' tangents;
//   - a @custom_vjp function: forward mode differentiates its original body (the custom
//     rule is a reverse rule only).
// Arguments bind to parameters with Python's rules (the tangents follow their arguments);
// tangents left None, and the result's tangent, are filled with zeros of their primal's
// structure (runtime/JvpRuntime.h), so a JVP graph never sees None for a float.
//
// Interpreter::jcallJvp is Interpreter::jcall run under JVP (jvp of a gradient,
// docs/autodiff.md "Higher order"): J(g) of the callee is transformed by JVP (jvpOfJ) and
// run in the J expansion's world, with the tangents of g's captured values as the extra
// parameters of the JVP of a J graph; the closures that expansion made run as they are.
#include <algorithm>

#include "autodiff/J.h"
#include "autodiff/Jvp.h"
#include "ir/Diagnostics.h"
#include "ir/Manager.h"
#include "runtime/AbstractOf.h"
#include "runtime/Interpreter.h"
#include "runtime/MethodParts.h"
#include "runtime/JvpRuntime.h"

namespace msl {

using ir::Graph;
using ir::Node;

namespace {

struct JBind {
  enum Kind { One, Default, Tuple, Dict } kind = One;
  std::vector<size_t> srcs;
  std::vector<std::string> keys;
};

std::string plural(size_t n) { return n == 1 ? "" : "s"; }

// Python's binding of a call's arguments (npos positional, then keywords) to g's
// parameters; raises the same messages as an ordinary call.
std::vector<JBind> bindArgs(const Graph* g, size_t npos, const std::vector<std::string>* kwnames) {
  size_t n = g->params.size();
  std::vector<JBind> plan(n);
  std::vector<bool> set(n, false);
  std::vector<size_t> posParams;
  int varargs = -1, varkw = -1;
  for (size_t i = 0; i < n; ++i) {
    ir::ParamKind k = g->paramKinds[i];
    if (k == ir::ParamKind::Positional && varargs < 0) posParams.push_back(i);
    if (k == ir::ParamKind::VarArgs) varargs = (int)i;
    if (k == ir::ParamKind::VarKw) varkw = (int)i;
  }
  if (varargs >= 0) { plan[(size_t)varargs].kind = JBind::Tuple; set[(size_t)varargs] = true; }
  if (varkw >= 0) { plan[(size_t)varkw].kind = JBind::Dict; set[(size_t)varkw] = true; }
  for (size_t a = 0; a < npos; ++a) {
    if (a < posParams.size()) {
      plan[posParams[a]].srcs = {a};
      set[posParams[a]] = true;
    } else if (varargs >= 0) {
      plan[(size_t)varargs].srcs.push_back(a);
    } else {
      size_t required = 0;
      for (size_t i : posParams)
        if (!g->defaults[i]) ++required;
      size_t np = posParams.size();
      std::string takes = required == np ? std::to_string(np) : "from " + std::to_string(required) + " to " + std::to_string(np);
      raise(DiagId::Arity, SourceLoc{}, {g->name, takes, plural(np), std::to_string(npos), npos == 1 ? "was" : "were"});
    }
  }
  for (size_t k = 0; kwnames && k < kwnames->size(); ++k) {
    const std::string& kw = (*kwnames)[k];
    size_t found = n;
    for (size_t i = 0; i < n; ++i)
      if ((g->paramKinds[i] == ir::ParamKind::Positional || g->paramKinds[i] == ir::ParamKind::KwOnly) && g->params[i]->name == kw)
        found = i;
    if (found < n) {
      if (set[found]) raise(DiagId::MultipleValues, SourceLoc{}, {g->name, kw});
      plan[found].srcs = {npos + k};
      set[found] = true;
    } else if (varkw >= 0) {
      plan[(size_t)varkw].srcs.push_back(npos + k);
      plan[(size_t)varkw].keys.push_back(kw);
    } else {
      raise(DiagId::UnexpectedKeyword, SourceLoc{}, {g->name, kw});
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (set[i]) continue;
    if (g->defaults[i]) plan[i].kind = JBind::Default;
    else raise(DiagId::MissingArgument, SourceLoc{}, {g->name, g->params[i]->name});
  }
  return plan;
}

// Eager specialisations are keyed on types, not string values (as Interpreter.cpp).
const ir::Abstract* argAbstract(const Value& v) {
  if (v.is(VKind::Str)) return ir::Abstract::str();
  return abstractOf(v);
}

Value pairOut(const Value& r) {
  const Value& out = seqItems(r)[0];
  return makeTuple({out, jvpFill(seqItems(r)[1], out)});
}

// A binding plan as __jsite_bprop reads it (runtime/AutodiffPrims.cpp, as Interpreter::jcall
// makes it); None when parameter i is argument i for every i.
Value sitePlan(const std::vector<JBind>& plan, size_t nargs, const Graph* g) {
  bool trivial = plan.size() == nargs;
  for (size_t i = 0; trivial && i < plan.size(); ++i) trivial = plan[i].kind == JBind::One && plan[i].srcs[0] == i;
  if (trivial) return Value::none();
  std::vector<Value> out;
  for (size_t i = 0; i < plan.size(); ++i) {
    const JBind& b = plan[i];
    switch (b.kind) {
      case JBind::One: out.push_back(Value::integer((int64_t)b.srcs[0])); break;
      case JBind::Default: out.push_back(defaultSiteEntry(g, i)); break;
      case JBind::Tuple: {
        std::vector<Value> items;
        for (size_t a : b.srcs) items.push_back(Value::integer((int64_t)a));
        out.push_back(makeTuple(std::move(items)));
        break;
      }
      case JBind::Dict: {
        Value d = makeDict();
        for (size_t k = 0; k < b.srcs.size(); ++k) d.as<DictObj>()->set(makeStr(b.keys[k]), Value::integer((int64_t)b.srcs[k]));
        out.push_back(std::move(d));
        break;
      }
    }
  }
  out.push_back(Value::integer((int64_t)nargs));
  return makeTuple(std::move(out));
}

// ((out, bprop), t) with bprop given the call site's plan (per parameter -> per argument).
Value withSite(const Value& r, const Value& plan) {
  if (plan.isNone()) return r;
  const Value& pair = seqItems(r)[0];
  Value bp = partialOf(Prim::JSiteBprop, {seqItems(pair)[1], plan});
  return makeTuple({makeTuple({seqItems(pair)[0], bp}), seqItems(r)[1]});
}

// args and their tangents bound to src's parameters: `bound` gets the n values, then the n
// tangents (zeros where None).
void bindWithTangents(const Graph* src, const std::vector<Value>& defaults, Value* args, Value* targs, size_t npos,
                      const std::vector<std::string>* kwnames, std::vector<Value>& bound, std::vector<JBind>* planOut) {
  size_t n = src->params.size();
  std::vector<JBind> plan = bindArgs(src, npos, kwnames);
  bound.assign(2 * n, Value::none());
  for (size_t i = 0; i < n; ++i) {
    const JBind& b = plan[i];
    switch (b.kind) {
      case JBind::One:
        bound[i] = args[b.srcs[0]];
        bound[n + i] = targs[b.srcs[0]];
        break;
      case JBind::Default: bound[i] = i < defaults.size() ? defaults[i] : Value::undef(); break;
      case JBind::Tuple: {
        std::vector<Value> a, t;
        for (size_t s : b.srcs) {
          a.push_back(args[s]);
          t.push_back(targs[s]);
        }
        bound[i] = makeTuple(std::move(a));
        bound[n + i] = makeTuple(std::move(t));
        break;
      }
      case JBind::Dict: {
        Value a = makeDict(), t = makeDict();
        for (size_t k = 0; k < b.srcs.size(); ++k) {
          a.as<DictObj>()->set(makeStr(b.keys[k]), args[b.srcs[k]]);
          t.as<DictObj>()->set(makeStr(b.keys[k]), targs[b.srcs[k]]);
        }
        bound[i] = std::move(a);
        bound[n + i] = std::move(t);
        break;
      }
    }
    bound[n + i] = jvpFill(bound[n + i], bound[i]);
  }
  if (planOut) *planOut = std::move(plan);
}

[[noreturn]] void thirdOrder() { raise(DiagId::NotSupportedYet, SourceLoc{}, {"jvp of a second derivative (third-order derivatives)"}); }

}  // namespace

Value Interpreter::jvpcall(const Value& fn, const Value& tfn, Value* args, Value* targs, size_t npos,
                           const std::vector<std::string>* kwnames) {
  size_t nargs = npos + (kwnames ? kwnames->size() : 0);
  switch (fn.kind()) {
    case VKind::Closure: {
      const ClosureObj* cl = fn.as<ClosureObj>();
      const Graph* g = cl->graph;
      const Graph* src = autodiff::isJvpGraph(g) ? g->jvpSource : g;
      if (src->isFunction && ++callDepth_ > kMaxCallDepth) {
        --callDepth_;
        raise(DiagId::RecursionTooDeep, SourceLoc{}, {std::to_string(kMaxCallDepth)});
      }
      struct DepthGuard { Interpreter* it; bool on; ~DepthGuard() { if (on) --it->callDepth_; } } guard{this, src->isFunction};
      size_t n = src->params.size();
      std::vector<Value> bound;
      bindWithTangents(src, cl->defaults, args, targs, npos, kwnames, bound, nullptr);
      if (autodiff::isJvpGraph(g)) return pairOut(runGraph(g, cl, bound.data()));
      const Graph* s = g;
      if (g->isFunction) {
        std::vector<const ir::Abstract*> argAbs, capAbs;
        for (size_t i = 0; i < n; ++i) argAbs.push_back(argAbstract(bound[i]));
        for (const Value& v : cl->captured) capAbs.push_back(argAbstract(v));
        s = specializer_->get(g, argAbs, capAbs);
      }
      Graph* jg = autodiff::jvpGraph(const_cast<Graph*>(s));
      auto* jc = new ClosureObj();
      Value jv = Value::object(jc);
      jc->graph = jg;
      jc->defaults = cl->defaults;
      jc->defaults.resize(jg->params.size(), Value::undef());
      jc->jworld = cl->jworld;  // a closure of differentiated code stays in its expansion
      jc->jinner = cl->jinner;
      for (Node* fv : jg->freeVars) {
        auto at = std::find(s->freeVars.begin(), s->freeVars.end(), fv);
        jc->captured.push_back(at != s->freeVars.end() ? cl->captured[(size_t)(at - s->freeVars.begin())] : Value::undef());
      }
      // The JVP of a J graph takes the tangents of its captured values too: zeros here.
      for (size_t k = 2 * n; k < jg->params.size(); ++k)
        bound.push_back(k - 2 * n < cl->captured.size() ? jvpFill(Value::none(), cl->captured[k - 2 * n]) : Value::none());
      return pairOut(runGraph(jg, jc, bound.data()));
    }
    case VKind::BoundMethod:
    case VKind::Record: {
      // The method's function with the receiver first; the receiver's tangent is t_fn (or,
      // for a method read from a tangent record, that bound method's receiver).
      Value func, self = fn, tself = tfn;
      methodParts(fn, &func, &self);
      if (tself.is(VKind::BoundMethod)) tself = tself.as<BoundMethodObj>()->self;
      std::vector<Value> a{self}, t{tself};
      for (size_t i = 0; i < nargs; ++i) {
        a.push_back(args[i]);
        t.push_back(targs[i]);
      }
      return jvpcall(func, Value::none(), a.data(), t.data(), npos + 1, kwnames);
    }
    case VKind::Prim: {
      // A primitive called as a value: the JVP of a graph that calls it.
      Prim p = (Prim)fn.asInt();
      if (primInfo(p).group == PrimGroup::Core)
        raise(DiagId::NotSupportedYet, SourceLoc{}, {std::string("jvp of '") + primName(p) + "' called as a value"});
      std::string key = std::to_string((int)p) + "/" + std::to_string(npos);
      if (kwnames)
        for (const auto& k : *kwnames) key += "/" + k;
      auto found = jvpPrimWrappers_.find(key);
      // (grad_call, vjp_call and __jsite_bprop are written out as IR: jvp of a gradient.)
      if (found == jvpPrimWrappers_.end())
        found = jvpPrimWrappers_.emplace(key, autodiff::jvpGraph(primWrapper(p, nargs, kwnames))).first;
      std::vector<Value> bound(2 * nargs);
      for (size_t i = 0; i < nargs; ++i) {
        bound[i] = args[i];
        bound[nargs + i] = jvpFill(targs[i], args[i]);
      }
      auto* jc = new ClosureObj();
      Value jv = Value::object(jc);
      jc->graph = found->second;
      jc->defaults.assign(2 * nargs, Value::undef());
      return pairOut(runGraph(found->second, jc, bound.data()));
    }
    case VKind::Partial: {
      const auto* po = fn.as<PartialObj>();
      if (po->func.is(VKind::Prim)) {
        Prim p = (Prim)po->func.asInt();
        if (p == Prim::CustomVjpCall)  // forward mode differentiates the original function
          return jvpcall(po->args[0], Value::none(), args, targs, npos, kwnames);
      }
      // partial(f, *bound, **kw)(args, **kw2) is f(*bound, *args, **kw, **kw2).
      const Value* tb = isSeq(tfn) && seqItems(tfn).size() == 2 ? &seqItems(tfn)[0] : nullptr;
      const Value* tk = tb ? &seqItems(tfn)[1] : nullptr;
      std::vector<Value> all(po->args.begin(), po->args.end()), tall;
      for (size_t i = 0; i < po->args.size(); ++i)
        tall.push_back(tb && isSeq(*tb) && i < seqItems(*tb).size() ? seqItems(*tb)[i] : Value::none());
      for (size_t i = 0; i < npos; ++i) {
        all.push_back(args[i]);
        tall.push_back(targs[i]);
      }
      std::vector<std::string> names;
      for (const auto& [k, v] : po->kwargs) {
        names.push_back(k);
        all.push_back(v);
        const Value* t = tk && tk->is(VKind::Dict) ? tk->as<DictObj>()->find(makeStr(k)) : nullptr;
        tall.push_back(t ? *t : Value::none());
      }
      for (size_t k = 0; kwnames && k < kwnames->size(); ++k) {
        names.push_back((*kwnames)[k]);
        all.push_back(args[npos + k]);
        tall.push_back(targs[npos + k]);
      }
      return jvpcall(po->func, Value::none(), all.data(), tall.data(), po->args.size() + npos, &names);
    }
    case VKind::Class: {
      // A record built from keyword arguments: its tangent is a record of the same class
      // holding the arguments' tangents (zeros for fields left to their defaults).
      Value out = callValue(fn, args, npos, kwnames);
      const auto* o = out.as<RecordObj>();
      auto* r = new RecordObj();
      Value rv = Value::object(r);
      r->cls = o->cls;
      for (size_t i = 0; i < o->fields.size(); ++i) {
        Value t;
        for (size_t k = 0; kwnames && k < kwnames->size(); ++k)
          if ((*kwnames)[k] == o->classObj()->fields[i]) t = targs[npos + k];
        r->fields.push_back(jvpFill(t, o->fields[i]));
      }
      return makeTuple({out, rv});
    }
    default:
      raise(DiagId::NotSupportedYet, SourceLoc{}, {"jvp of a call of a " + typeNameOf(fn)});
  }
}

// JVP of J(g): g's J graph (specialised to the arguments) transformed by JVP, run as a
// closure of `world` over g's captured values `vals`, with their tangents `tans` (None:
// zero) as the extra parameters of the JVP of a J graph (autodiff/Jvp.h).
Value Interpreter::jvpOfJ(const Graph* g, const std::vector<Value>& vals, const std::vector<Value>& tans,
                          const std::vector<Value>& defaults, Value* args, Value* targs, size_t npos,
                          const std::vector<std::string>* kwnames, uint64_t skip, uint32_t world) {
  if (g->isFunction && ++callDepth_ > kMaxCallDepth) {
    --callDepth_;
    raise(DiagId::RecursionTooDeep, SourceLoc{}, {std::to_string(kMaxCallDepth)});
  }
  struct DepthGuard { Interpreter* it; bool on; ~DepthGuard() { if (on) --it->callDepth_; } } guard{this, g->isFunction};
  size_t n = g->params.size(), nargs = npos + (kwnames ? kwnames->size() : 0);
  std::vector<Value> bound;
  std::vector<JBind> plan;
  bindWithTangents(g, defaults, args, targs, npos, kwnames, bound, &plan);
  Value pv = sitePlan(plan, nargs, g);
  if (!pv.isNone()) skip = 0;  // (skipped arguments map to parameters only one to one)
  const Graph* s = g;
  if (g->isFunction && !g->madeByJ) {
    std::vector<const ir::Abstract*> argAbs, capAbs;
    for (size_t i = 0; i < n; ++i) argAbs.push_back(argAbstract(bound[i]));
    for (const Value& v : vals) capAbs.push_back(argAbstract(v));
    s = specializer_->get(g, argAbs, capAbs);
  }
  Graph* jg = autodiff::jGraph(const_cast<Graph*>(s), skip);
  Graph* tg = autodiff::jvpGraph(jg);
  auto* jc = new ClosureObj();
  Value jv = Value::object(jc);
  jc->graph = tg;
  jc->defaults = defaults;
  jc->defaults.resize(tg->params.size(), Value::undef());
  jc->jworld = world;
  // The entry of `from` (by s->freeVars) for free variable fv; `missing` when there is none.
  auto valueOf = [&](const Node* fv, const std::vector<Value>& from, const Value& missing) {
    size_t k = (size_t)(std::find(s->freeVars.begin(), s->freeVars.end(), fv) - s->freeVars.begin());
    return k < from.size() ? from[k] : missing;
  };
  for (Node* fv : tg->freeVars) jc->captured.push_back(valueOf(fv, vals, Value::undef()));
  for (size_t k = 2 * n; k < tg->params.size(); ++k) {
    const Node* fv = jg->freeVars[k - 2 * n];
    bound.push_back(jvpFill(valueOf(fv, tans, Value::none()), valueOf(fv, vals, Value::undef())));
  }
  return withSite(pairOut(runGraph(tg, jc, bound.data())), pv);
}

// Interpreter::jcall under JVP: ((out, bprop), (tangent_out, None)).
Value Interpreter::jcallJvp(const Value& fn, const Value& tfn, Value* args, Value* targs, size_t npos,
                            const std::vector<std::string>* kwnames, uint64_t skipArgs, uint32_t world) {
  if (world == 0) world = frameJWorld();
  if (world == 0 || world == kNewJWorld) world = ++lastJWorld_;
  size_t nargs = npos + (kwnames ? kwnames->size() : 0);
  switch (fn.kind()) {
    case VKind::Closure: {
      const ClosureObj* cl = fn.as<ClosureObj>();
      const Graph* g = cl->graph;
      if (cl->jworld == world) {
        // Made by the differentiated code of this expansion, transformed by JVP with it:
        // already differentiated both ways.
        const Graph* src = autodiff::isJvpGraph(g) ? g->jvpSource : g;
        Value pv = sitePlan(bindArgs(src, npos, kwnames), nargs, src);
        return withSite(jvpcall(fn, tfn, args, targs, npos, kwnames), pv);
      }
      if (cl->jworld != 0 || cl->jinner != 0 || g->madeByJ) thirdOrder();
      if (!autodiff::isJvpGraph(g))  // a function of the program: its captured values have no tangent
        return jvpOfJ(g, cl->captured, {}, cl->defaults, args, targs, npos, kwnames, skipArgs, world);
      // A local function of a function differentiated in forward mode: g's source with the
      // captured values and tangents its closure recorded (autodiff::jvpCaptures).
      const Node* caps = autodiff::jvpCaptures(g);
      if (!caps) raise(DiagId::NotSupportedYet, SourceLoc{}, {"jvp of a gradient of a " + typeNameOf(fn) + " made by jvp"});
      auto capturedOf = [&](const Node* v) {
        if (v->isConst()) return Value::none();
        auto at = std::find(g->freeVars.begin(), g->freeVars.end(), v);
        return at != g->freeVars.end() ? cl->captured[(size_t)(at - g->freeVars.begin())] : Value::undef();
      };
      std::vector<Value> vals, tans;
      for (size_t k = 1; k + 1 < caps->inputs.size(); k += 2) {
        vals.push_back(capturedOf(caps->inputs[k]));
        tans.push_back(capturedOf(caps->inputs[k + 1]));
      }
      return jvpOfJ(g->jvpSource, vals, tans, cl->defaults, args, targs, npos, kwnames, skipArgs, world);
    }
    case VKind::BoundMethod:
    case VKind::Record: {
      // The method's function with the receiver first; the receiver's cotangent is the callee's.
      Value func, self = fn, tself = tfn;
      methodParts(fn, &func, &self);
      if (tself.is(VKind::BoundMethod)) tself = tself.as<BoundMethodObj>()->self;
      std::vector<Value> a{self}, t{tself};
      for (size_t i = 0; i < nargs; ++i) {
        a.push_back(args[i]);
        t.push_back(targs[i]);
      }
      return withSite(jcallJvp(func, Value::none(), a.data(), t.data(), npos + 1, kwnames, 0, world), makeStr("method"));
    }
    case VKind::Prim: {
      // A primitive called as a value: the graph standing for it.
      Prim p = (Prim)fn.asInt();
      if (primInfo(p).group == PrimGroup::Core || p == Prim::JacobianCall || p == Prim::CustomVjpBprop)
        raise(DiagId::NotSupportedYet, SourceLoc{}, {std::string("jvp of a gradient through '") + primName(p) + "' called as a value"});
      // (J of the transforms that run when called is the runtime's, jcallVmap and
      // jcallJvpOf: not written under JVP)
      if (p == Prim::VmapCall || p == Prim::VmapFnCall || p == Prim::VmapLoop || p == Prim::Jvp || p == Prim::JvpCall)
        raise(DiagId::NotSupportedYet, SourceLoc{}, {std::string("jvp of a gradient through ") +
                                                     (p == Prim::Jvp || p == Prim::JvpCall ? "jvp" : "vmap")});
      Graph* w = primWrapper(p, nargs, kwnames);
      return jvpOfJ(w, {}, {}, std::vector<Value>(nargs, Value::undef()), args, targs, nargs, nullptr, 0, world);
    }
    case VKind::Partial: {
      const auto* po = fn.as<PartialObj>();
      if (po->func.is(VKind::Prim) && (Prim)po->func.asInt() == Prim::CustomVjpCall)
        raise(DiagId::NotSupportedYet, SourceLoc{}, {"jvp of the gradient of a custom_vjp function"});
      // partial(f, *bound, **kw)(args, **kw2) is f(*bound, *args, **kw, **kw2); the partial's
      // cotangent is (ct of f, cts of the bound arguments, dict of cts of bound keywords).
      const Value* tb = isSeq(tfn) && seqItems(tfn).size() == 2 ? &seqItems(tfn)[0] : nullptr;
      const Value* tk = tb ? &seqItems(tfn)[1] : nullptr;
      std::vector<Value> all(po->args.begin(), po->args.end()), tall;
      size_t nb = all.size(), nkw = kwnames ? kwnames->size() : 0;
      for (size_t i = 0; i < nb; ++i) tall.push_back(tb && isSeq(*tb) && i < seqItems(*tb).size() ? seqItems(*tb)[i] : Value::none());
      for (size_t i = 0; i < npos; ++i) {
        all.push_back(args[i]);
        tall.push_back(targs[i]);
      }
      std::vector<std::string> names;
      for (const auto& [k, v] : po->kwargs) {
        names.push_back(k);
        all.push_back(v);
        const Value* t = tk && tk->is(VKind::Dict) ? tk->as<DictObj>()->find(makeStr(k)) : nullptr;
        tall.push_back(t ? *t : Value::none());
      }
      for (size_t k = 0; k < nkw; ++k) {
        names.push_back((*kwnames)[k]);
        all.push_back(args[npos + k]);
        tall.push_back(targs[npos + k]);
      }
      Value r = jcallJvp(po->func, Value::none(), all.data(), tall.data(), nb + npos, &names, 0, world);
      std::vector<Value> bound;
      for (size_t i = 0; i < nb; ++i) bound.push_back(Value::integer((int64_t)(1 + i)));
      Value boundKw = makeDict();
      size_t j = 0;
      for (const auto& kv : po->kwargs) boundKw.as<DictObj>()->set(makeStr(kv.first), Value::integer((int64_t)(1 + nb + npos + j++)));
      std::vector<Value> pick{makeStr("pick"), makeTuple(std::move(bound)), boundKw};
      for (size_t i = 0; i < npos; ++i) pick.push_back(Value::integer((int64_t)(1 + nb + i)));
      for (size_t k = 0; k < nkw; ++k) pick.push_back(Value::integer((int64_t)(1 + nb + npos + po->kwargs.size() + k)));
      return withSite(r, makeTuple(std::move(pick)));
    }
    default:
      raise(DiagId::NotSupportedYet, SourceLoc{}, {"jvp of a gradient through a call of a " + typeNameOf(fn)});
  }
}

// ------------------------------------------------------------------ grad of jvp
//
// J of jvp(f, primals, tangents) (reverse over forward: Hessian-vector products as grad of
// a jvp) and of __jvpcall (calls of function values in a JVP graph being differentiated),
// for a closure f: the JVP graph of f's primal function (Interpreter::jPrimal) is
// differentiated like any graph; its bprop's cotangents (of the captured values, then one
// per parameter, then one per parameter's tangent) are arranged per argument by a small
// graph cached per call structure.
Value Interpreter::jcallJvpOf(Prim p, Value* args, size_t npos, const std::vector<std::string>* kwnames, uint32_t world,
                              uint32_t inner) {
  bool user = p == Prim::Jvp;
  bool second = inner != 0;  // (jcallOuter: J of the J call, world the outer expansion)
  if (npos != (user ? 3u : 6u) || (kwnames && !kwnames->empty()))
    raise(DiagId::NotSupportedYet, SourceLoc{}, {std::string("differentiating '") + primName(p) + "' called this way"});
  std::vector<Value> a, t;
  std::vector<std::string> names;
  if (user) {
    t = jvpCheckedTangents(args[1], args[2]);
    a.assign(seqItems(args[1]).begin(), seqItems(args[1]).end());
  } else {
    if (isSeq(args[2])) a.assign(seqItems(args[2]).begin(), seqItems(args[2]).end());
    for (size_t i = 0; i < a.size(); ++i)
      t.push_back(isSeq(args[3]) && i < seqItems(args[3]).size() ? seqItems(args[3])[i] : Value::none());
    if (args[4].is(VKind::Dict))
      for (const auto& [k, v] : args[4].as<DictObj>()->entries) {
        names.push_back(k.as<StrObj>()->s);
        a.push_back(v);
        const Value* tv = args[5].is(VKind::Dict) ? args[5].as<DictObj>()->find(k) : nullptr;
        t.push_back(tv ? *tv : Value::none());
      }
  }
  Value fn = jPrimal(args[0], world, inner);
  // A method (a bound method, a callable record): its function with the receiver first,
  // whose tangent is t_fn (jvp: zero); the receiver's cotangent is the method's.
  size_t off = 0;
  if (fn.is(VKind::BoundMethod) || fn.is(VKind::Record)) {
    Value func, self = fn;
    methodParts(fn, &func, &self);
    Value tself = user ? Value::none() : args[1];
    if (tself.is(VKind::BoundMethod)) tself = tself.as<BoundMethodObj>()->self;
    a.insert(a.begin(), self);
    t.insert(t.begin(), tself);
    fn = jPrimal(func, world, inner);
    off = 1;
  }
  size_t na = a.size() - names.size();
  if (!fn.is(VKind::Closure)) raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating jvp of a " + typeNameOf(fn)});
  const ClosureObj* cl = fn.as<ClosureObj>();
  const Graph* g = cl->graph;
  const Graph* src = autodiff::isJvpGraph(g) ? g->jvpSource : g;
  if (src->madeByJ) raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating jvp of a gradient (third-order derivatives)"});
  std::vector<Value> bound;
  std::vector<JBind> plan;
  bindWithTangents(src, cl->defaults, a.data(), t.data(), na, &names, bound, &plan);
  size_t n = src->params.size();
  std::vector<int> ctOf(a.size(), -1);  // argument k: parameter ctOf[k]
  for (size_t i = 0; i < n; ++i) {
    if (plan[i].kind == JBind::One) ctOf[plan[i].srcs[0]] = (int)i;
    else if (plan[i].kind != JBind::Default && !plan[i].srcs.empty())
      raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating jvp of a function called with *args or **kwargs"});
  }
  // The JVP graph and the closure that runs it.
  const Graph* tg = g;
  std::vector<std::pair<int64_t, int64_t>> envKeys;  // (key in s, key in g) of each captured value
  bool rekey = false;
  auto* tc = new ClosureObj();
  Value tv = Value::object(tc);
  if (autodiff::isJvpGraph(g)) {  // made inside a JVP graph: it captured its tangents
    tc->captured = cl->captured;
  } else {
    const Graph* s = g;
    if (g->isFunction) {
      std::vector<const ir::Abstract*> argAbs, capAbs;
      for (size_t i = 0; i < n; ++i) argAbs.push_back(argAbstract(bound[i]));
      for (const Value& v : cl->captured) capAbs.push_back(argAbstract(v));
      s = specializer_->get(g, argAbs, capAbs);
    }
    tg = autodiff::jvpGraph(const_cast<Graph*>(s));
    // f's cotangent is keyed by the ids of g's free variables (as J keys them), s's may differ
    auto key = [](const Node* x) {
      while (x->jorigin) x = x->jorigin;
      return (int64_t)x->id;
    };
    for (size_t i = 0; i < s->freeVars.size() && i < g->freeVars.size(); ++i) {
      envKeys.push_back({key(s->freeVars[i]), key(g->freeVars[i])});
      rekey = rekey || envKeys.back().first != envKeys.back().second;
    }
    for (Node* fv : tg->freeVars) {
      auto at = std::find(s->freeVars.begin(), s->freeVars.end(), fv);
      tc->captured.push_back(at != s->freeVars.end() ? cl->captured[(size_t)(at - s->freeVars.begin())] : Value::undef());
    }
  }
  tc->graph = tg;
  tc->defaults.assign(tg->params.size(), Value::undef());
  if (bound.size() != tg->params.size())
    raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating jvp of this function"});
  if (src->isFunction && ++callDepth_ > kMaxCallDepth) {
    --callDepth_;
    raise(DiagId::RecursionTooDeep, SourceLoc{}, {std::to_string(kMaxCallDepth)});
  }
  struct DepthGuard { Interpreter* it; bool on; ~DepthGuard() { if (on) --it->callDepth_; } } guard{this, src->isFunction};
  Graph* jg = autodiff::jGraph(const_cast<Graph*>(tg));
  Value r = second ? runJClosure(jjGraph(jg), tc, tg, bound.data(), world, inner) : runJClosure(jg, tc, tg, bound.data(), world, 0);
  Value bp2;  // second order: the bprop of J(J(tg)), taking the cotangent of r (below) to bp's items
  if (second) {
    bp2 = seqItems(r)[1];
    Value first = seqItems(r)[0];
    r = first;
  }
  const Value& pair = seqItems(r)[0];
  const Value& out = seqItems(pair)[0];
  Value fwd = makeTuple({out, user ? jvpTangentOut(seqItems(pair)[1], out) : jvpFill(seqItems(pair)[1], out)});
  // The bprop: cts = bp(ct) = (ct_env, ct per parameter, ct per tangent), arranged as
  // (None, ct of f, cts of the primals, cts of the tangents) for jvp and as (None, ct_fn,
  // None, ct_args, ct_t_args, ct_kwargs, ct_t_kwargs) for __jvpcall. Second order, the
  // same graph over bp2 takes ct = (ct of fwd, ct of bp) to those items: bp2 takes the
  // cotangents of (the JVP graph's pair, the bprop: bp's bound argument, whose cotangent
  // is (ct_fn, (ct of the bprop,), {})).
  bool listP = user && args[1].is(VKind::List), listT = user && args[2].is(VKind::List);
  auto wrapper = [&](bool twice) {
    std::string key = std::string("jjvp:") + (user ? "u" : "c") + std::to_string(n) + (listP ? "L" : "") + (listT ? "L" : "") +
                      (off ? "m" : "") + (twice ? "jj" : "") + ":";
    for (size_t k = 0; k < a.size(); ++k) key += std::to_string(ctOf[k]) + (k >= na ? "=" + names[k - na] : "") + ";";
    if (rekey)
      for (auto [from, to] : envKeys) key += "," + std::to_string(from) + ">" + std::to_string(to);
    auto found = primWrappers_.find(key);
    if (found == primWrappers_.end()) {
      ir::Module& m = adModule();
      Graph* w = m.newGraph("jvp.bprop", nullptr, SourceLoc{});
      w->qualname = "jvp.bprop";
      Node* bpn = m.newParam(w, "bprop", SourceLoc{});
      Node* ct = m.newParam(w, "ct", SourceLoc{});
      auto prim = [&](Prim q, std::vector<Node*> in) {
        in.insert(in.begin(), m.constPrim(q));
        return m.newApply(w, std::move(in), SourceLoc{});
      };
      Node* arg = ct;
      if (twice) {
        auto idx = [&](Node* v, int64_t k) { return prim(Prim::CtIndex, {v, m.constInt(k)}); };
        arg = prim(Prim::MakeTuple, {idx(ct, 0), idx(idx(idx(ct, 1), 1), 0)});
      }
      Node* cts = m.newApply(w, {bpn, arg}, SourceLoc{});
      auto at = [&](size_t k, bool tangent) {
        return ctOf[k] < 0 ? m.constNone() : prim(Prim::CtIndex, {cts, m.constInt((int64_t)(1 + (tangent ? n : 0) + (size_t)ctOf[k]))});
      };
      auto pos = [&](bool tangent, bool list) {
        std::vector<Node*> items;
        for (size_t k = off; k < na; ++k) items.push_back(at(k, tangent));
        return prim(list ? Prim::MakeList : Prim::MakeTuple, items);
      };
      auto kw = [&](bool tangent) {
        std::vector<Node*> kv;
        for (size_t k = na; k < a.size(); ++k) {
          kv.push_back(m.constStr(names[k - na]));
          kv.push_back(at(k, tangent));
        }
        return prim(Prim::MakeDict, kv);
      };
      Node* ctFn = off ? at(0, false) : prim(Prim::CtIndex, {cts, m.constInt(0)});
      Node* ctTFn = off && !user ? at(0, true) : m.constNone();
      if (rekey && !off) {
        std::vector<Node*> kv;
        for (auto [from, to] : envKeys) {
          kv.push_back(m.constInt(to));
          kv.push_back(prim(Prim::CtIndex, {ctFn, m.constInt(from)}));
        }
        ctFn = prim(Prim::MakeDict, kv);
      }
      if (user) w->output = prim(Prim::MakeTuple, {m.constNone(), ctFn, pos(false, listP), pos(true, listT)});
      else w->output = prim(Prim::MakeTuple, {m.constNone(), ctFn, ctTFn, pos(false, false), pos(true, false), kw(false), kw(true)});
      ir::computeFreeVars(std::vector<Graph*>{w});
      found = primWrappers_.emplace(key, w).first;
    }
    return found->second;
  };
  auto bprop = [&](bool twice, const Value& of) {
    auto* bc = new ClosureObj();
    Value bcv = Value::object(bc);
    bc->graph = wrapper(twice);
    bc->defaults.assign(2, Value::undef());
    auto* po = new PartialObj();
    Value bp = Value::object(po);
    po->func = bcv;
    po->args = {of};
    return bp;
  };
  Value res = makeTuple({fwd, bprop(false, seqItems(r)[1])});
  return second ? makeTuple({res, bprop(true, bp2)}) : res;
}

}  // namespace msl
