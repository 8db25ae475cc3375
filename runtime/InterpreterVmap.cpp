// vmap at run time: the user API (vmap, vmap_call) and the primitives the batching
// transform emits (autodiff/Vmap.h): __vmapcall (Interpreter::vmapcall, which batches a
// function value when it is called, as Interpreter::jcall differentiates one),
// __vmap_loop (one call per example, results stacked), __vmap_bcast and __vmap_select.
//
// A batched value holds the examples along axis 0 of every tensor leaf; its other leaves
// (numbers, strings, None, functions) are the same for every example.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <unordered_map>

#include "autodiff/J.h"
#include "autodiff/Vmap.h"
#include "ir/Diagnostics.h"
#include "ir/Manager.h"
#include "runtime/AbstractOf.h"
#include "runtime/Host.h"
#include "runtime/Interpreter.h"
#include "runtime/JvpRuntime.h"
#include "runtime/MethodParts.h"
#include "runtime/Kernels.h"
#include "runtime/PrimImpl.h"
#include "runtime/TensorValues.h"

namespace msl {

using ir::Graph;
using ir::Node;

Value CallContext::vmapcall(const Value&, int64_t, const std::vector<bool>&, Value*, size_t, const std::vector<std::string>*) {
  raise(DiagId::NotSupportedYet, SourceLoc{}, {"vmap here"});
}

namespace {

const Tensor& tensorOf(const Value& v) { return v.as<TensorObj>()->t; }

Value rebuild(const Value& like, std::vector<Value> items) {
  return like.is(VKind::List) ? makeList(std::move(items)) : makeTuple(std::move(items));
}

Value recordLike(const Value& like, std::vector<Value> fields) {
  auto* r = new RecordObj();
  Value rv = Value::object(r);
  r->cls = like.as<RecordObj>()->cls;
  r->fields = std::move(fields);
  return rv;
}

// A partial like `like` (the same function) with other bound arguments: a batched
// partial holds its examples in its bound arguments (the function is the same for all).
Value partialLike(const Value& like, std::vector<Value> args, std::vector<Value> kwvals) {
  const auto* src = like.as<PartialObj>();
  auto* p = new PartialObj();
  Value pv = Value::object(p);
  p->func = src->func;
  p->args = std::move(args);
  for (size_t i = 0; i < src->kwargs.size(); ++i) p->kwargs.emplace_back(src->kwargs[i].first, std::move(kwvals[i]));
  return pv;
}

// A tensor of `size` copies of a number (floats f32, as under jax.vmap).
Tensor numberBatch(const Value& v, int64_t size) {
  DType dt = v.is(VKind::Float) ? DType::F32 : v.is(VKind::Bool) ? DType::Bool : DType::I64;
  Tensor s = v.is(VKind::Float) ? Tensor::scalar(dt, v.asFloat()) : Tensor::scalarInt(dt, v.is(VKind::Bool) ? v.asBool() : v.asInt());
  return broadcastTo(reshapeTo(s, Shape{1}), Shape{size}, "vmap").contiguous();
}

// v repeated along a new leading axis of every tensor leaf; `top`: a number becomes a
// tensor of the batch (inside containers numbers stay).
Value bcast(const Value& v, int64_t size, bool top) {
  switch (v.kind()) {
    case VKind::Tensor: {
      const Tensor& t = tensorOf(v);
      Shape one{1}, full{size};
      one.insert(one.end(), t.shape().begin(), t.shape().end());
      full.insert(full.end(), t.shape().begin(), t.shape().end());
      return makeTensor(broadcastTo(reshapeTo(t, one), full, "vmap").contiguous());
    }
    case VKind::Float: case VKind::Int: case VKind::Bool:
      return top ? makeTensor(numberBatch(v, size)) : v;
    case VKind::Tuple: case VKind::List: {
      std::vector<Value> out;
      for (const Value& x : seqItems(v)) out.push_back(bcast(x, size, false));
      return rebuild(v, std::move(out));
    }
    case VKind::Dict: {
      Value d = makeDict();
      for (const auto& [k, x] : v.as<DictObj>()->entries) d.as<DictObj>()->set(k, bcast(x, size, false));
      return d;
    }
    case VKind::Record: {
      std::vector<Value> out;
      for (const Value& x : v.as<RecordObj>()->fields) out.push_back(bcast(x, size, false));
      return recordLike(v, std::move(out));
    }
    case VKind::Partial: {
      const auto* po = v.as<PartialObj>();
      if (po->func.is(VKind::Prim) && (Prim)po->func.asInt() == Prim::VjpCall && po->args.size() == 2) {
        // an f_vjp the same for every example: its bprop batched when called (a batched
        // f_vjp's bprop takes the whole batch)
        Value bp = partialOf(Prim::VmapFnCall, {po->args[0], Value::integer(size), makeTuple({Value::boolean(false), Value::boolean(true)})});
        return partialLike(v, {bp, bcast(po->args[1], size, false)}, {});
      }
      std::vector<Value> a, kw;
      for (const Value& x : v.as<PartialObj>()->args) a.push_back(bcast(x, size, false));
      for (const auto& kv : v.as<PartialObj>()->kwargs) kw.push_back(bcast(kv.second, size, false));
      return partialLike(v, std::move(a), std::move(kw));
    }
    default: return v;
  }
}

// Example i of a batched value.
Value slice(const Value& v, int64_t i) {
  switch (v.kind()) {
    case VKind::Tensor: {
      const Tensor& t = tensorOf(v);
      if (t.ndim() == 0) return v;
      Shape s(t.shape().begin() + 1, t.shape().end()), st(t.strides().begin() + 1, t.strides().end());
      return makeTensor(t.view(s, st, t.offset() + i * t.strides()[0]));
    }
    case VKind::Tuple: case VKind::List: {
      std::vector<Value> out;
      for (const Value& x : seqItems(v)) out.push_back(slice(x, i));
      return rebuild(v, std::move(out));
    }
    case VKind::Dict: {
      Value d = makeDict();
      for (const auto& [k, x] : v.as<DictObj>()->entries) d.as<DictObj>()->set(k, slice(x, i));
      return d;
    }
    case VKind::Record: {
      std::vector<Value> out;
      for (const Value& x : v.as<RecordObj>()->fields) out.push_back(slice(x, i));
      return recordLike(v, std::move(out));
    }
    case VKind::Partial: {
      std::vector<Value> a, kw;
      for (const Value& x : v.as<PartialObj>()->args) a.push_back(slice(x, i));
      for (const auto& kv : v.as<PartialObj>()->kwargs) kw.push_back(slice(kv.second, i));
      return partialLike(v, std::move(a), std::move(kw));
    }
    default: return v;
  }
}

// The per-example results stacked along a new leading axis (numbers become tensors).
Value stack(const std::vector<Value>& rows) {
  const Value& r0 = rows[0];
  switch (r0.kind()) {
    case VKind::Tensor: case VKind::Float: case VKind::Int: case VKind::Bool: {
      std::vector<Tensor> ts;
      for (const Value& r : rows) {
        Tensor t = r.is(VKind::Tensor) ? tensorOf(r) : numberBatch(r, 1);
        Shape one{1};
        if (r.is(VKind::Tensor)) {
          one.insert(one.end(), t.shape().begin(), t.shape().end());
          t = reshapeTo(t.contiguous(), one);
        }
        ts.push_back(t);
      }
      return makeTensor(concatenate(ts, 0, "vmap"));
    }
    case VKind::Tuple: case VKind::List: {
      std::vector<Value> out;
      for (size_t k = 0; k < seqItems(r0).size(); ++k) {
        std::vector<Value> col;
        for (const Value& r : rows) {
          if (!isSeq(r) || seqItems(r).size() != seqItems(r0).size())
            raise(DiagId::NotSupportedYet, SourceLoc{}, {"vmap of a function whose results differ in structure between examples"});
          col.push_back(seqItems(r)[k]);
        }
        out.push_back(stack(col));
      }
      return rebuild(r0, std::move(out));
    }
    case VKind::Dict: {
      Value d = makeDict();
      for (const auto& [k, x] : r0.as<DictObj>()->entries) {
        std::vector<Value> col;
        for (const Value& r : rows) {
          const Value* f = r.is(VKind::Dict) ? r.as<DictObj>()->find(k) : nullptr;
          if (!f) raise(DiagId::NotSupportedYet, SourceLoc{}, {"vmap of a function whose results differ in structure between examples"});
          col.push_back(*f);
        }
        d.as<DictObj>()->set(k, stack(col));
      }
      return d;
    }
    case VKind::Record: {
      std::vector<Value> out;
      for (size_t k = 0; k < r0.as<RecordObj>()->fields.size(); ++k) {
        std::vector<Value> col;
        for (const Value& r : rows) col.push_back(r.as<RecordObj>()->fields[k]);
        out.push_back(stack(col));
      }
      return recordLike(r0, std::move(out));
    }
    case VKind::Partial: {
      // The bound arguments stacked where they are tensors, containers or numbers that
      // differ between examples; other host values (argnums, names, functions) are
      // example 0's.
      const auto* p0 = r0.as<PartialObj>();
      auto column = [&](auto get) {
        std::vector<Value> col;
        for (const Value& r : rows) {
          if (!r.is(VKind::Partial) || r.as<PartialObj>()->args.size() != p0->args.size() ||
              r.as<PartialObj>()->kwargs.size() != p0->kwargs.size())
            raise(DiagId::NotSupportedYet, SourceLoc{}, {"vmap of a function whose results differ in structure between examples"});
          col.push_back(get(r.as<PartialObj>()));
        }
        bool data = false;
        for (const Value& x : col) {
          data = data || x.is(VKind::Tensor) || isSeq(x) || x.is(VKind::Dict) || x.is(VKind::Record);
          bool number = x.is(VKind::Float) || x.is(VKind::Int) || x.is(VKind::Bool);
          data = data || (number && !valueEquals(x, col[0]));
        }
        return data ? stack(col) : col[0];
      };
      std::vector<Value> a, kw;
      for (size_t k = 0; k < p0->args.size(); ++k) a.push_back(column([&](const PartialObj* p) { return p->args[k]; }));
      for (size_t k = 0; k < p0->kwargs.size(); ++k) kw.push_back(column([&](const PartialObj* p) { return p->kwargs[k].second; }));
      return partialLike(r0, std::move(a), std::move(kw));
    }
    default: return r0;
  }
}

// fn called once per example (batched arguments sliced), the results stacked.
Value loopCall(CallContext& cx, const Value& fn, int64_t size, const std::vector<bool>& mask, Value* args, size_t npos,
               const std::vector<std::string>* kwnames) {
  if (size <= 0) raise(DiagId::NotSupportedYet, SourceLoc{}, {"vmap over an empty batch here"});
  // MSL_VMAP_STRICT=1: a per-example loop is an error, so that tests can check that a
  // vmap was batched by rules alone.
  static const bool strict = [] { const char* e = std::getenv("MSL_VMAP_STRICT"); return e && *e && *e != '0'; }();
  if (strict)
    raise(DiagId::NotSupportedYet, SourceLoc{}, {"a per-example loop inside vmap (MSL_VMAP_STRICT is set), calling a " + typeNameOf(fn)});
  size_t nkw = kwnames ? kwnames->size() : 0;
  std::vector<Value> rows;
  for (int64_t i = 0; i < size; ++i) {
    Value f = mask.size() > 0 && mask[0] ? slice(fn, i) : fn;
    std::vector<Value> pos;
    std::vector<std::pair<std::string, Value>> kw;
    for (size_t k = 0; k < npos + nkw; ++k) {
      Value a = k + 1 < mask.size() && mask[k + 1] ? slice(args[k], i) : args[k];
      if (k < npos) pos.push_back(std::move(a));
      else kw.push_back({(*kwnames)[k - npos], std::move(a)});
    }
    rows.push_back(cx.call(f, std::move(pos), std::move(kw)));
  }
  return stack(rows);
}

// The abstract of one example of a batched value: tensors lose their leading axis.
const ir::Abstract* exampleAbstract(const Value& v, bool batched) {
  if (!batched) return v.is(VKind::Str) ? ir::Abstract::str() : abstractOf(v);
  if (v.is(VKind::Tensor) || isSeq(v) || v.is(VKind::Dict) || v.is(VKind::Record)) return abstractOf(slice(v, 0));
  return abstractOf(v);
}

// The same for the arguments of a primitive called as a value, where ints (axes, shapes)
// are kept as constants: the rules read them.
const ir::Abstract* primArgAbstract(const Value& v, bool batched) {
  if (batched) return exampleAbstract(v, true);
  if (v.is(VKind::Int)) return ir::Abstract::intConst(v.asInt());
  if (v.is(VKind::Tuple)) {
    std::vector<const ir::Abstract*> items;
    for (const Value& x : seqItems(v)) items.push_back(primArgAbstract(x, false));
    return ir::Abstract::tuple(std::move(items));
  }
  return exampleAbstract(v, false);
}

// Which arguments each parameter of g takes: one index, several (*args, **kw), or none.
struct Bind {
  std::vector<std::vector<size_t>> srcs;
  std::vector<std::vector<std::string>> keys;  // **kw: the names
  bool ok = true;
};

Bind bindParams(const Graph* g, size_t npos, const std::vector<std::string>* kwnames) {
  Bind b;
  size_t n = g->params.size(), nkw = kwnames ? kwnames->size() : 0;
  b.srcs.resize(n);
  b.keys.resize(n);
  std::vector<bool> used(nkw, false);
  size_t next = 0;
  for (size_t i = 0; i < n; ++i) {
    ir::ParamKind k = g->paramKinds[i];
    if (k == ir::ParamKind::Positional && next < npos) {
      b.srcs[i].push_back(next++);
    } else if (k == ir::ParamKind::VarArgs) {
      while (next < npos) b.srcs[i].push_back(next++);
    }
    if (k == ir::ParamKind::Positional || k == ir::ParamKind::KwOnly)
      for (size_t j = 0; j < nkw; ++j)
        if ((*kwnames)[j] == g->params[i]->name) {
          if (!b.srcs[i].empty()) b.ok = false;
          b.srcs[i].push_back(npos + j);
          used[j] = true;
        }
  }
  if (next < npos) b.ok = false;
  for (size_t i = 0; i < n; ++i)
    if (g->paramKinds[i] == ir::ParamKind::VarKw)
      for (size_t j = 0; j < nkw; ++j)
        if (!used[j]) {
          b.srcs[i].push_back(npos + j);
          b.keys[i].push_back((*kwnames)[j]);
          used[j] = true;
        }
  for (bool u : used) b.ok = b.ok && u;
  for (size_t i = 0; i < n; ++i) {
    ir::ParamKind k = g->paramKinds[i];
    if ((k == ir::ParamKind::Positional || k == ir::ParamKind::KwOnly) && b.srcs[i].empty() && !g->defaults[i]) b.ok = false;
  }
  return b;
}

// Whether v has a Python float inside a container (a leaf vmap cannot give per-example
// values, so its per-example gradient cannot be taken in one batched pass).
bool innerFloat(const Value& v, bool top) {
  switch (v.kind()) {
    case VKind::Float: return !top;
    case VKind::Tuple: case VKind::List:
      for (const Value& x : seqItems(v))
        if (innerFloat(x, false)) return true;
      return false;
    case VKind::Dict:
      for (const auto& kv : v.as<DictObj>()->entries)
        if (innerFloat(kv.second, false)) return true;
      return false;
    case VKind::Record:
      for (const Value& x : v.as<RecordObj>()->fields)
        if (innerFloat(x, false)) return true;
      return false;
    default: return false;
  }
}

// Whether a batched graph (or one nested in it) still runs something once per example or
// batches a function value when called (__vmapcall, which J does not differentiate): then
// the batched gradient is not taken and vmap(grad(f)) runs per example.
bool callsPerExample(const Graph* g, std::vector<const Graph*>& seen) {
  if (std::find(seen.begin(), seen.end(), g) != seen.end()) return false;
  seen.push_back(g);
  for (const Node* n : g->nodes) {
    if (n->isPrimApply(Prim::VmapLoop) || n->isPrimApply(Prim::VmapFnCall)) return true;
    for (const Node* in : n->inputs)
      if (in->isGraphConst() && callsPerExample(in->g, seen)) return true;
  }
  return false;
}

// Functions from outside called in a batched graph are specialised as calls are.
autodiff::VmapSpecialise specialiser(Interpreter& it) {
  return [&it](const Graph* g, const std::vector<const ir::Abstract*>& args) {
    return it.specializer().get(g, args, {});
  };
}

// B(s) for a specialisation s: its calls of functions from outside specialised as calls
// are, and its free variables typed as the captured values s was made for (their nodes,
// in an enclosing graph that runs unspecialised, may have no abstract: without one the
// rules of a captured tensor's uses would fall back to __vmap_loop).
Graph* batchedGraph(Interpreter& it, const Graph* s, const std::vector<bool>& batched) {
  const ir::Specialisation* info = it.specializer().info(s);
  std::vector<const ir::Abstract*> captured;
  if (info && info->graph == s) captured = info->key.captured;
  return autodiff::vmapGraph(const_cast<Graph*>(s), batched, specialiser(it), captured);
}

bool scalarFloat(const ir::Abstract* a) {
  if (!a) return false;
  if (a->is(ir::AKind::Float)) return true;
  return a->isTensor() && a->rankKnown && a->rank() == 0 && a->dtypeKnown && isFloat(a->dtype);
}

// h(fb, size, *args) = (sum(loss), out) with out = fb(size, *args) and loss = out (or
// out[0] with has_aux): the graph whose gradient gives vmap(grad(f)).
Graph* batchedLossGraph(size_t nargs, bool hasAux) {
  static std::unique_ptr<ir::Module> mod;
  static std::unordered_map<size_t, Graph*> cache;
  size_t key = nargs * 2 + (hasAux ? 1 : 0);
  auto found = cache.find(key);
  if (found != cache.end()) return found->second;
  if (!mod) mod = std::make_unique<ir::Module>("<vmap of grad>", nullptr);
  ir::Module& m = *mod;
  Graph* h = m.newGraph("vmap_of_grad", nullptr, SourceLoc{});
  h->qualname = "vmap_of_grad";
  std::vector<Node*> call;
  for (size_t i = 0; i < nargs + 2; ++i) call.push_back(m.newParam(h, "a" + std::to_string(i), SourceLoc{}));
  Node* out = m.newApply(h, call, SourceLoc{});
  Node* loss = hasAux ? m.newApply(h, {m.constPrim(Prim::TupleGetItem), out, m.constInt(0)}, SourceLoc{}) : out;
  Node* total = m.newApply(h, {m.constPrim(Prim::TensorSum), loss}, SourceLoc{});
  h->output = m.newApply(h, {m.constPrim(Prim::MakeTuple), total, out}, SourceLoc{});
  ir::computeFreeVars(std::vector<Graph*>{h});
  cache[key] = h;
  return h;
}

// The batched closure of cl for its bound arguments (bound[1..n], batched[i]: parameter i
// carries the batch axis): a function is first specialised to one example's abstracts
// (*spec, the graph batched; g itself for other graphs), then its batched graph takes
// cl's captured values for the free variables they share.
Value batchedClosure(Interpreter& it, const ClosureObj* cl, const Value* bound, const std::vector<bool>& batched,
                     size_t n, const Graph** spec) {
  const Graph* g = cl->graph;
  const Graph* s = g;
  if (g->isFunction) {
    std::vector<const ir::Abstract*> argAbs, capAbs;
    for (size_t i = 0; i < n; ++i) argAbs.push_back(exampleAbstract(bound[i + 1], batched[i]));
    for (const Value& v : cl->captured) capAbs.push_back(v.is(VKind::Str) ? ir::Abstract::str() : abstractOf(v));
    s = it.specializer().get(g, argAbs, capAbs);
  }
  Graph* vg = batchedGraph(it, s, batched);
  auto* vc = new ClosureObj();
  Value vv = Value::object(vc);
  vc->graph = vg;
  vc->defaults.assign(n + 1, Value::undef());
  for (Node* fv : vg->freeVars) {
    auto at = std::find(s->freeVars.begin(), s->freeVars.end(), fv);
    vc->captured.push_back(at != s->freeVars.end() ? cl->captured[(size_t)(at - s->freeVars.begin())] : Value::undef());
  }
  *spec = s;
  return vv;
}

}  // namespace

// vmap(grad(f)) batched by the rules (docs/autodiff.md): the differentiated arguments
// are repeated along the batch where they are not batched, B(f) computes every
// example's loss from its own copy, and the gradient of the sum of the losses with
// respect to those copies is, slice by slice, each example's gradient (example i's
// loss depends on slice i only). Returns false (vmap then runs grad(f) once per
// example) where that cannot be done: keyword arguments, a function that is not a
// plain closure, a loss not known to be a scalar float, or a batched graph that would
// still loop per example.
static bool vmapGrad(Interpreter& it, const Value& fn, int64_t size, const std::vector<bool>& mask, Value* args, size_t npos,
                           const std::vector<std::string>* kwnames, Value* result) {
  const auto* po = fn.as<PartialObj>();
  if (po->args.size() != 4 || !po->kwargs.empty() || (kwnames && !kwnames->empty())) return false;
  if (!mask.empty() && mask[0]) {
    // grad(partial(f, *bound)) with batched bound arguments (grad called inside vmap on a
    // batched partial): grad(f) of (*bound, *args) with argnums shifted past the bound
    // ones, which are batched, its gradients then those of args alone.
    const Value& pf = po->args[0];
    if (!pf.is(VKind::Partial) || !pf.as<PartialObj>()->kwargs.empty() || !pf.as<PartialObj>()->func.is(VKind::Closure)) return false;
    const auto* bound = pf.as<PartialObj>();
    int64_t nb = (int64_t)bound->args.size();
    Value an = po->args[1];
    if (an.is(VKind::Int)) {
      an = Value::integer(an.asInt() < 0 ? an.asInt() : an.asInt() + nb);
    } else if (an.is(VKind::Tuple)) {
      std::vector<Value> sh;
      for (const Value& a : seqItems(an)) {
        if (!a.is(VKind::Int)) return false;
        sh.push_back(Value::integer(a.asInt() < 0 ? a.asInt() : a.asInt() + nb));
      }
      an = makeTuple(std::move(sh));
    } else {
      return false;
    }
    // negative argnums count from the end of the call's own arguments: the same after the shift
    Value inner = partialOf(Prim::GradCall, {bound->func, an, po->args[2], po->args[3]});
    std::vector<Value> all(bound->args.begin(), bound->args.end());
    std::vector<bool> m{false};
    for (size_t i = 0; i < bound->args.size(); ++i) m.push_back(true);
    for (size_t i = 0; i < npos; ++i) {
      all.push_back(args[i]);
      m.push_back(i + 1 < mask.size() && mask[i + 1]);
    }
    return vmapGrad(it, inner, size, m, all.data(), all.size(), nullptr, result);
  }
  const Value& f = po->args[0];
  if (!f.is(VKind::Closure) || !po->args[2].is(VKind::Bool) || !po->args[3].is(VKind::Str)) return false;
  bool hasAux = po->args[2].asBool(), valueToo = po->args[3].as<StrObj>()->s == "value_and_grad";
  const ClosureObj* cl = f.as<ClosureObj>();
  const Graph* g = cl->graph;
  if (!g->isFunction || g->params.size() != npos) return false;
  for (ir::ParamKind k : g->paramKinds)
    if (k != ir::ParamKind::Positional) return false;
  // argnums: an int or a tuple of ints in range (else the per-example path reports it)
  const Value& an = po->args[1];
  std::vector<int64_t> which;
  if (an.is(VKind::Int)) which.push_back(an.asInt());
  else if (an.is(VKind::Tuple)) {
    for (const Value& a : seqItems(an)) {
      if (!a.is(VKind::Int)) return false;
      which.push_back(a.asInt());
    }
  } else {
    return false;
  }
  std::vector<Value> shifted;
  std::vector<bool> diff(npos, false);
  for (int64_t& i : which) {
    if (i < -(int64_t)npos || i >= (int64_t)npos) return false;
    if (i < 0) i += (int64_t)npos;
    diff[(size_t)i] = true;
    shifted.push_back(Value::integer(i + 2));
  }
  std::vector<Value> hargs{Value::none(), Value::integer(size)};
  std::vector<bool> batched;
  for (size_t i = 0; i < npos; ++i) {
    bool b = i + 1 < mask.size() && mask[i + 1];
    if (diff[i] && innerFloat(args[i], true)) return false;
    hargs.push_back(diff[i] && !b ? bcast(args[i], size, true) : args[i]);
    batched.push_back(b || diff[i]);
  }
  std::vector<const ir::Abstract*> argAbs, capAbs;
  for (size_t i = 0; i < npos; ++i) argAbs.push_back(exampleAbstract(hargs[i + 2], batched[i]));
  for (const Value& v : cl->captured) capAbs.push_back(v.is(VKind::Str) ? ir::Abstract::str() : abstractOf(v));
  Graph* vg;
  try {
    const Graph* s = it.specializer().get(g, argAbs, capAbs);
    const ir::Specialisation* info = it.specializer().info(s);
    const ir::Abstract* res = info ? info->result : nullptr;
    if (hasAux) res = res && res->is(ir::AKind::Tuple) && !res->homogeneous && res->elems.size() == 2 ? res->elems[0] : nullptr;
    if (!scalarFloat(res)) return false;
    vg = batchedGraph(it, s, batched);
    std::vector<const Graph*> seen;
    if (callsPerExample(vg, seen)) return false;
    auto* vc = new ClosureObj();
    hargs[0] = Value::object(vc);
    vc->graph = vg;
    vc->defaults.assign(npos + 1, Value::undef());
    for (Node* fv : vg->freeVars) {
      auto at = std::find(s->freeVars.begin(), s->freeVars.end(), fv);
      vc->captured.push_back(at != s->freeVars.end() ? cl->captured[(size_t)(at - s->freeVars.begin())] : Value::undef());
    }
  } catch (const Error&) {
    return false;  // not batched here: the per-example path runs (and reports what fails)
  }
  auto* hc = new ClosureObj();
  Value hv = Value::object(hc);
  hc->graph = batchedLossGraph(npos, hasAux);
  hc->defaults.assign(npos + 2, Value::undef());
  Value gargs[6] = {hv, an.is(VKind::Int) ? shifted[0] : makeTuple(shifted), Value::boolean(true), makeStr("grad"),
                    makeTuple(std::move(hargs)), makeDict()};
  Value r;
  try {
    r = prim_GradCall(it, gargs);  // (grads, out)
  } catch (const Error&) {
    return false;  // e.g. what J cannot differentiate in B(f): the per-example path reports f's own errors
  }
  const Value &grads = seqItems(r)[0], &out = seqItems(r)[1];
  if (valueToo) *result = makeTuple({out, grads});
  else if (hasAux) *result = makeTuple({grads, seqItems(out)[1]});
  else *result = grads;
  return true;
}

// vjp(f, *primals) on batched primals, batched as vmapGrad batches grad: the primals
// repeated along the batch where they are not batched, and vjp of B(f) (bound to the
// batch size) taken once. Example i's output depends on example i's primals alone, so
// the f_vjp it returns maps batched cotangents to each example's cotangents: a batched
// value whose bound bprop takes the whole batch (Interpreter::vmapcall calls it
// directly). Returns false (vjp then runs once per example) as vmapGrad does.
static bool vmapVjp(Interpreter& it, int64_t size, const std::vector<bool>& mask, Value* args, size_t npos,
                    const std::vector<std::string>* kwnames, Value* result) {
  if ((kwnames && !kwnames->empty()) || npos < 2 || (mask.size() > 1 && mask[1]) || !args[0].is(VKind::Closure)) return false;
  const ClosureObj* cl = args[0].as<ClosureObj>();
  const Graph* g = cl->graph;
  size_t n = npos - 1;
  if (!g->isFunction || g->params.size() != n) return false;
  for (ir::ParamKind k : g->paramKinds)
    if (k != ir::ParamKind::Positional) return false;
  std::vector<Value> primals;
  std::vector<bool> batched(n, true);
  std::vector<const ir::Abstract*> argAbs, capAbs;
  for (size_t i = 0; i < n; ++i) {
    if (innerFloat(args[i + 1], true)) return false;
    primals.push_back(i + 2 < mask.size() && mask[i + 2] ? args[i + 1] : bcast(args[i + 1], size, true));
    argAbs.push_back(exampleAbstract(primals.back(), true));
  }
  for (const Value& v : cl->captured) capAbs.push_back(v.is(VKind::Str) ? ir::Abstract::str() : abstractOf(v));
  auto* vc = new ClosureObj();
  Value vv = Value::object(vc);
  try {
    const Graph* s = it.specializer().get(g, argAbs, capAbs);
    Graph* vg = batchedGraph(it, s, batched);
    std::vector<const Graph*> seen;
    if (callsPerExample(vg, seen)) return false;
    vc->graph = vg;
    vc->defaults.assign(n + 1, Value::undef());
    for (Node* fv : vg->freeVars) {
      auto at = std::find(s->freeVars.begin(), s->freeVars.end(), fv);
      vc->captured.push_back(at != s->freeVars.end() ? cl->captured[(size_t)(at - s->freeVars.begin())] : Value::undef());
    }
  } catch (const Error&) {
    return false;
  }
  auto* pb = new PartialObj();
  Value bf = Value::object(pb);
  pb->func = vv;
  pb->args.push_back(Value::integer(size));
  Value vargs[2] = {bf, makeTuple(std::move(primals))};
  try {
    *result = prim_Vjp(it, vargs);
  } catch (const Error&) {
    return false;
  }
  return true;
}

// A primitive run once per example that has a batched form at run time (vjp), or an
// f_vjp whose bprop takes the whole batch (of vmapVjp, or an unbatched f_vjp repeated
// along the batch by __vmap_bcast). Returns false where it does not apply.
static bool batchedAtRunTime(Interpreter& it, Prim p, int64_t size, const std::vector<bool>& mask, Value* args, size_t npos,
                             const std::vector<std::string>* kwnames, Value* result) {
  if (p == Prim::Vjp) return vmapVjp(it, size, mask, args, npos, kwnames, result);
  if (p != Prim::VjpCall || npos != 3 || (kwnames && !kwnames->empty())) return false;
  auto b = [&](size_t k) { return mask.size() > k + 1 && mask[k + 1]; };
  if (b(0)) {  // a batched f_vjp: its bprop takes the whole batch
    Value a[3] = {args[0], b(1) ? args[1] : bcast(args[1], size, true), b(2) ? args[2] : bcast(args[2], size, true)};
    *result = prim_VjpCall(it, a);
    return true;
  }
  if (!b(1) && b(2)) {  // vmap(f_vjp)(cts): the bprop batched over the cotangents
    Value bp = partialOf(Prim::VmapFnCall, {args[0], Value::integer(size), makeTuple({Value::boolean(false), Value::boolean(true)})});
    Value a[3] = {bp, bcast(args[1], size, true), args[2]};
    *result = prim_VjpCall(it, a);
    return true;
  }
  return false;
}

// An error about shapes raised inside a batched function names the batched shapes, whose
// first axis is the batch (JAX names one example's): a note says so.
static void noteBatchAxis(Error& e, int64_t size) {
  static const DiagId kShapeErrors[] = {DiagId::ShapeMismatch,  DiagId::MatmulShapes,  DiagId::ReshapeSize,
                                        DiagId::BadAxis,        DiagId::IndexOutOfRange, DiagId::TooManyIndices,
                                        DiagId::BoolMaskShape,  DiagId::ConcatShapes,  DiagId::ItemOfNonScalar};
  if (std::find(std::begin(kShapeErrors), std::end(kShapeErrors), e.diag.id) == std::end(kShapeErrors)) return;
  std::string note = "inside vmap: the shapes include the batch axis, axis 0 of size ";
  note += std::to_string(size);
  note += "; one example's shapes are without it";
  e.diag.notes.push_back({SourceLoc{}, std::move(note)});
}

Value Interpreter::vmapcall(const Value& fn, int64_t size, const std::vector<bool>& mask, Value* args, size_t npos,
                            const std::vector<std::string>* kwnames) {
  size_t nargs = npos + (kwnames ? kwnames->size() : 0);
  auto argBatched = [&](size_t k) { return k + 1 < mask.size() && mask[k + 1]; };
  switch (fn.kind()) {
    case VKind::Closure: {
      const ClosureObj* cl = fn.as<ClosureObj>();
      const Graph* g = cl->graph;
      if (!mask.empty() && mask[0])
        raise(DiagId::NotSupportedYet, SourceLoc{}, {"inside vmap, calling a function that captures batched values"});
      Bind b = bindParams(g, npos, kwnames);
      if (!b.ok) return callValue(fn, args, npos, kwnames);  // raises the binding's error
      size_t n = g->params.size();
      std::vector<Value> bound(n + 1);
      std::vector<bool> batched(n, false);
      bound[0] = Value::integer(size);
      for (size_t i = 0; i < n; ++i) {
        ir::ParamKind k = g->paramKinds[i];
        bool many = k == ir::ParamKind::VarArgs || k == ir::ParamKind::VarKw;
        for (size_t s : b.srcs[i]) batched[i] = batched[i] || argBatched(s);
        if (!many) {
          bound[i + 1] = b.srcs[i].empty() ? cl->defaults[i] : args[b.srcs[i][0]];
          continue;
        }
        // *args / **kw: unbatched items repeated when another one is batched.
        std::vector<Value> items;
        for (size_t s : b.srcs[i]) items.push_back(batched[i] && !argBatched(s) ? bcast(args[s], size, true) : args[s]);
        if (k == ir::ParamKind::VarArgs) {
          bound[i + 1] = makeTuple(std::move(items));
        } else {
          Value d = makeDict();
          for (size_t j = 0; j < items.size(); ++j) d.as<DictObj>()->set(makeStr(b.keys[i][j]), items[j]);
          bound[i + 1] = std::move(d);
        }
      }
      const Graph* s = nullptr;
      Value vv = batchedClosure(*this, cl, bound.data(), batched, n, &s);
      const ClosureObj* vc = vv.as<ClosureObj>();
      const Graph* vg = vc->graph;
      if (g->isFunction && ++callDepth_ > kMaxCallDepth) {
        --callDepth_;
        raise(DiagId::RecursionTooDeep, SourceLoc{}, {std::to_string(kMaxCallDepth)});
      }
      struct DepthGuard { Interpreter* it; bool on; ~DepthGuard() { if (on) --it->callDepth_; } } guard{this, g->isFunction};
      try {
        return runGraph(vg, vc, bound.data());
      } catch (Error& e) {
        noteBatchAxis(e, size);
        throw;
      }
    }
    case VKind::BoundMethod:
    case VKind::Record: {
      // A method called with its receiver first; the receiver is batched when fn is.
      Value func, self = fn;
      methodParts(fn, &func, &self);
      std::vector<Value> a{self};
      std::vector<bool> m{false, !mask.empty() && mask[0]};
      for (size_t i = 0; i < nargs; ++i) {
        a.push_back(args[i]);
        m.push_back(argBatched(i));
      }
      if (!m[1] && std::none_of(m.begin(), m.end(), [](bool x) { return x; })) return bcast(call(func, a), size, true);
      return vmapcall(func, size, m, a.data(), npos + 1, kwnames);
    }
    case VKind::Prim: {
      // A primitive called as a value: batch a graph that calls it, its parameters
      // carrying the abstracts of one example (what the rules read).
      Prim p = (Prim)fn.asInt();
      if (primInfo(p).group == PrimGroup::Core) return loopCall(*this, fn, size, mask, args, npos, kwnames);
      Value rt;
      if (batchedAtRunTime(*this, p, size, mask, args, npos, kwnames, &rt)) return rt;
      std::vector<const ir::Abstract*> argAbs;
      std::vector<bool> batched;
      std::string key = std::to_string((int)p) + "/" + std::to_string(npos);
      for (size_t i = 0; i < nargs; ++i) {
        batched.push_back(argBatched(i));
        argAbs.push_back(primArgAbstract(args[i], argBatched(i)));
        key += "/" + std::to_string((uintptr_t)argAbs.back());
      }
      if (kwnames)
        for (const auto& k : *kwnames) key += "/" + k;
      auto found = vmapWrappers_.find(key);
      if (found == vmapWrappers_.end()) {
        Graph* w = primCallGraph(p, nargs, kwnames);
        for (size_t i = 0; i < nargs; ++i) w->params[i]->abs = argAbs[i];
        found = vmapWrappers_.emplace(key, w).first;
      }
      Graph* vg = autodiff::vmapGraph(found->second, batched);
      auto* vc = new ClosureObj();
      Value vv = Value::object(vc);
      vc->graph = vg;
      vc->defaults.assign(nargs + 1, Value::undef());
      std::vector<Value> bound{Value::integer(size)};
      for (size_t i = 0; i < nargs; ++i) bound.push_back(args[i]);
      return runGraph(vg, vc, bound.data());
    }
    case VKind::Partial: {
      // partial(f, *bound, **kw)(args, **kw2) is f(*bound, *args, **kw, **kw2).
      const auto* po = fn.as<PartialObj>();
      Value gr;
      if (po->func.is(VKind::Prim) && (Prim)po->func.asInt() == Prim::GradCall &&
          vmapGrad(*this, fn, size, mask, args, npos, kwnames, &gr))
        return gr;
      bool fb = !mask.empty() && mask[0];
      std::vector<Value> all(po->args.begin(), po->args.end());
      std::vector<bool> m{false};
      for (size_t i = 0; i < po->args.size(); ++i) m.push_back(fb);
      for (size_t i = 0; i < npos; ++i) {
        all.push_back(args[i]);
        m.push_back(argBatched(i));
      }
      std::vector<std::string> names;
      for (const auto& [k, v] : po->kwargs) {
        names.push_back(k);
        all.push_back(v);
        m.push_back(fb);
      }
      for (size_t k = 0; kwnames && k < kwnames->size(); ++k) {
        names.push_back((*kwnames)[k]);
        all.push_back(args[npos + k]);
        m.push_back(argBatched(npos + k));
      }
      return vmapcall(po->func, size, m, all.data(), po->args.size() + npos, &names);
    }
    default:
      return loopCall(*this, fn, size, mask, args, npos, kwnames);
  }
}

// ------------------------------------------------------------------ the primitives

namespace {

std::vector<bool> maskOf(const Value& v) {
  std::vector<bool> m;
  for (const Value& b : seqItems(v)) m.push_back(b.asBool());
  return m;
}

// fn, size, mask, args (tuple), kwargs (dict) -> flat arguments and names.
struct FlatArgs {
  std::vector<Value> flat;
  size_t npos = 0;
  std::vector<std::string> names;
};
FlatArgs flatArgs(Value* args) {
  FlatArgs f;
  f.flat.assign(seqItems(args[3]).begin(), seqItems(args[3]).end());
  f.npos = f.flat.size();
  if (args[4].is(VKind::Dict))
    for (const auto& kv : args[4].as<DictObj>()->entries) {
      f.names.push_back(kv.first.as<StrObj>()->s);
      f.flat.push_back(kv.second);
    }
  return f;
}

// Walks one argument with its in_axes entry (an int, None, or a tree of them): checks the
// axes against the leaves and finds the batch size (first pass), or moves the batch axis
// to the front and repeats the unbatched tensors (second pass, size known).
struct InAxes {
  int64_t size = -1;
  std::string sizeWhere;
  bool pass2 = false;

  static std::string keys(const Value& d) {
    std::string s;
    for (const auto& kv : d.as<DictObj>()->entries)
      s += (s.empty() ? "" : ", ") + (kv.first.is(VKind::Str) ? "'" + kv.first.as<StrObj>()->s + "'" : std::string("?"));
    return s;
  }
  static std::string describe(const Value& v) {
    if (v.is(VKind::Tensor)) return "a tensor of shape " + shapeStr(tensorOf(v).shape());
    if (isSeq(v)) return "a " + typeNameOf(v) + " of " + std::to_string(seqItems(v).size()) + " items";
    if (v.is(VKind::Dict)) return "a dict with keys " + keys(v);
    return "a " + typeNameOf(v);
  }

  Value walk(const Value& v, const Value& spec, const std::string& where) {
    if (spec.isNone() || spec.is(VKind::Int) || spec.is(VKind::Bool)) return leaves(v, spec, where);
    auto mismatch = [&](const std::string& what) {
      raise(DiagId::VmapInAxes, SourceLoc{}, {"the entry for " + where + " is " + what + " but " + where + " is " + describe(v)});
    };
    if (isSeq(spec)) {
      if (!isSeq(v) || seqItems(v).size() != seqItems(spec).size())
        mismatch(describe(spec));
      std::vector<Value> out;
      for (size_t i = 0; i < seqItems(v).size(); ++i)
        out.push_back(walk(seqItems(v)[i], seqItems(spec)[i], where + "[" + std::to_string(i) + "]"));
      return rebuild(v, std::move(out));
    }
    if (spec.is(VKind::Dict)) {
      if (!v.is(VKind::Dict) || v.as<DictObj>()->entries.size() != spec.as<DictObj>()->entries.size()) mismatch(describe(spec));
      Value d = makeDict();
      for (const auto& [k, x] : v.as<DictObj>()->entries) {
        const Value* s = spec.as<DictObj>()->find(k);
        if (!s) mismatch(describe(spec));
        d.as<DictObj>()->set(k, walk(x, *s, where + "[" + (k.is(VKind::Str) ? "'" + k.as<StrObj>()->s + "'" : "?") + "]"));
      }
      return d;
    }
    if (spec.is(VKind::Record)) {
      if (!v.is(VKind::Record) || v.as<RecordObj>()->cls.obj() != spec.as<RecordObj>()->cls.obj()) mismatch("a " + typeNameOf(spec));
      std::vector<Value> out;
      const auto* cls = v.as<RecordObj>()->classObj();
      for (size_t i = 0; i < v.as<RecordObj>()->fields.size(); ++i)
        out.push_back(walk(v.as<RecordObj>()->fields[i], spec.as<RecordObj>()->fields[i], where + "." + cls->fields[i]));
      return recordLike(v, std::move(out));
    }
    raise(DiagId::VmapInAxes, SourceLoc{}, {"an entry must be an int, None, or a tree of them, got " + typeNameOf(spec)});
  }

  // Every leaf of v with the same axis (None: unbatched).
  Value leaves(const Value& v, const Value& spec, const std::string& where) {
    switch (v.kind()) {
      case VKind::Tuple: case VKind::List: {
        std::vector<Value> out;
        for (size_t i = 0; i < seqItems(v).size(); ++i) out.push_back(leaves(seqItems(v)[i], spec, where + "[" + std::to_string(i) + "]"));
        return rebuild(v, std::move(out));
      }
      case VKind::Dict: {
        Value d = makeDict();
        for (const auto& [k, x] : v.as<DictObj>()->entries)
          d.as<DictObj>()->set(k, leaves(x, spec, where + "[" + (k.is(VKind::Str) ? "'" + k.as<StrObj>()->s + "'" : "?") + "]"));
        return d;
      }
      case VKind::Record: {
        std::vector<Value> out;
        const auto* cls = v.as<RecordObj>()->classObj();
        for (size_t i = 0; i < v.as<RecordObj>()->fields.size(); ++i) out.push_back(leaves(v.as<RecordObj>()->fields[i], spec, where + "." + cls->fields[i]));
        return recordLike(v, std::move(out));
      }
      case VKind::Tensor: case VKind::Float: case VKind::Int: case VKind::Bool: {
        if (spec.isNone()) return pass2 && v.is(VKind::Tensor) ? bcast(v, size, true) : v;
        int64_t a = spec.asInt();
        Shape shape = v.is(VKind::Tensor) ? tensorOf(v).shape() : Shape{};
        int64_t nd = (int64_t)shape.size();
        if (a < -nd || a >= nd) raise(DiagId::VmapAxisRange, SourceLoc{}, {"in_axes", std::to_string(a), where, shapeStr(shape)});
        if (a < 0) a += nd;
        const Tensor& t = tensorOf(v);
        std::string here = where + " (axis " + std::to_string(a) + " of shape " + shapeStr(shape) + ")";
        if (!pass2) {
          if (size < 0) {
            size = shape[(size_t)a];
            sizeWhere = here;
          } else if (shape[(size_t)a] != size) {
            raise(DiagId::VmapSizeMismatch, SourceLoc{}, {sizeWhere, std::to_string(size), here, std::to_string(shape[(size_t)a])});
          }
          return v;
        }
        if (a == 0) return v;
        std::vector<int> perm{(int)a};
        for (int d = 0; d < (int)nd; ++d)
          if (d != a) perm.push_back(d);
        return makeTensor(permute(t, perm).contiguous());
      }
      default: return v;  // strings, None, functions: the same for every example
    }
  }
};

bool hasBatchedLeaf(const Value& v, const Value& spec) {
  if (spec.is(VKind::Int)) return true;
  if (spec.isNone()) return false;
  if (isSeq(spec)) {
    for (size_t i = 0; i < seqItems(spec).size(); ++i)
      if (hasBatchedLeaf(isSeq(v) ? seqItems(v)[i] : v, seqItems(spec)[i])) return true;
    return false;
  }
  if (spec.is(VKind::Dict)) {
    for (const auto& [k, s] : spec.as<DictObj>()->entries)
      if (hasBatchedLeaf(v, s)) return true;
    return false;
  }
  if (spec.is(VKind::Record)) {
    for (const Value& s : spec.as<RecordObj>()->fields)
      if (hasBatchedLeaf(v, s)) return true;
  }
  return false;
}

// Whether v has a leaf that can carry a batch axis.
bool hasArrayLeaf(const Value& v) {
  switch (v.kind()) {
    case VKind::Tensor: case VKind::Float: case VKind::Int: case VKind::Bool: return true;
    case VKind::Tuple: case VKind::List:
      for (const Value& x : seqItems(v))
        if (hasArrayLeaf(x)) return true;
      return false;
    case VKind::Dict:
      for (const auto& kv : v.as<DictObj>()->entries)
        if (hasArrayLeaf(kv.second)) return true;
      return false;
    case VKind::Record:
      for (const Value& x : v.as<RecordObj>()->fields)
        if (hasArrayLeaf(x)) return true;
      return false;
    default: return false;
  }
}

// The batched output (batch on axis 0) with the batch moved to out_axes.
Value outAxes(const Value& v, const Value& spec, int64_t size, const std::string& where) {
  if (spec.is(VKind::Int)) {
    switch (v.kind()) {
      case VKind::Tuple: case VKind::List: {
        std::vector<Value> out;
        for (size_t i = 0; i < seqItems(v).size(); ++i) out.push_back(outAxes(seqItems(v)[i], spec, size, where + "[" + std::to_string(i) + "]"));
        return rebuild(v, std::move(out));
      }
      case VKind::Dict: {
        Value d = makeDict();
        for (const auto& [k, x] : v.as<DictObj>()->entries)
          d.as<DictObj>()->set(k, outAxes(x, spec, size, where + "[" + (k.is(VKind::Str) ? "'" + k.as<StrObj>()->s + "'" : "?") + "]"));
        return d;
      }
      case VKind::Record: {
        std::vector<Value> out;
        const auto* cls = v.as<RecordObj>()->classObj();
        for (size_t i = 0; i < v.as<RecordObj>()->fields.size(); ++i) out.push_back(outAxes(v.as<RecordObj>()->fields[i], spec, size, where + "." + cls->fields[i]));
        return recordLike(v, std::move(out));
      }
      case VKind::Float: case VKind::Int: case VKind::Bool: return outAxes(makeTensor(numberBatch(v, size)), spec, size, where);
      case VKind::Tensor: {
        const Tensor& t = tensorOf(v);
        int64_t nd = t.ndim(), a = spec.asInt();
        if (a < -nd || a >= nd) {
          Shape ex(t.shape().begin() + 1, t.shape().end());
          raise(DiagId::VmapAxisRange, SourceLoc{}, {"out_axes", std::to_string(a), where, shapeStr(ex)});
        }
        if (a < 0) a += nd;
        if (a == 0) return v;
        std::vector<int> perm;
        for (int d = 1; d < (int)nd; ++d) perm.push_back(d);
        perm.insert(perm.begin() + a, 0);
        return makeTensor(permute(t, perm).contiguous());
      }
      default: return v;
    }
  }
  if (spec.isNone()) raise(DiagId::NotSupportedYet, SourceLoc{}, {"vmap with out_axes None"});
  auto mismatch = [&]() {
    raise(DiagId::VmapOutAxes, SourceLoc{}, {"the entry for " + where + " is " + InAxes::describe(spec) + " but " + where + " is " + InAxes::describe(v)});
  };
  if (isSeq(spec)) {
    if (!isSeq(v) || seqItems(v).size() != seqItems(spec).size()) mismatch();
    std::vector<Value> out;
    for (size_t i = 0; i < seqItems(v).size(); ++i) out.push_back(outAxes(seqItems(v)[i], seqItems(spec)[i], size, where + "[" + std::to_string(i) + "]"));
    return rebuild(v, std::move(out));
  }
  if (spec.is(VKind::Dict)) {
    if (!v.is(VKind::Dict)) mismatch();
    Value d = makeDict();
    for (const auto& [k, x] : v.as<DictObj>()->entries) {
      const Value* s = spec.as<DictObj>()->find(k);
      if (!s) mismatch();
      d.as<DictObj>()->set(k, outAxes(x, *s, size, where + "[" + (k.is(VKind::Str) ? "'" + k.as<StrObj>()->s + "'" : "?") + "]"));
    }
    return d;
  }
  raise(DiagId::VmapOutAxes, SourceLoc{}, {"an entry must be an int or a tree of ints, got " + typeNameOf(spec)});
}

}  // namespace

Value prim_Vmap(CallContext&, Value* args) { return partialOf(Prim::VmapCall, {args[0], args[1], args[2]}); }

namespace {

// vmap_call's arguments checked against in_axes and arranged for vmapcall: the batch
// size, the arguments with their batch axis in front (unbatched ones as they are), the
// mask (fn, then one per argument), the keywords' names and each argument's in_axes entry.
struct VmapPrep {
  int64_t size = -1;
  std::vector<Value> flat, specs;
  std::vector<bool> mask{false};
  std::vector<std::string> names;
};

VmapPrep prepareVmap(const Value& inAxes, const std::vector<Value>& xs, const std::vector<std::pair<std::string, Value>>& kws) {
  size_t npos = xs.size();
  std::vector<Value> specs;
  if (isSeq(inAxes)) {
    if (seqItems(inAxes).size() != npos)
      raise(DiagId::VmapInAxes, SourceLoc{},
            {"in_axes has " + std::to_string(seqItems(inAxes).size()) + " entries but the function was called with " +
             std::to_string(npos) + " positional argument" + (npos == 1 ? "" : "s")});
    specs = seqItems(inAxes);
  } else if (inAxes.isNone() || inAxes.is(VKind::Int)) {
    specs.assign(npos, inAxes);
  } else {
    raise(DiagId::VmapInAxes, SourceLoc{}, {"in_axes must be an int, None, or a tuple with one entry per argument, got " + typeNameOf(inAxes)});
  }
  InAxes walker;
  Value zero = Value::integer(0);
  for (size_t i = 0; i < npos; ++i) walker.walk(xs[i], specs[i], "argument " + std::to_string(i));
  for (auto& [k, v] : kws) walker.walk(v, zero, "argument '" + k + "'");
  if (walker.size < 0) raise(DiagId::VmapNoBatched, SourceLoc{}, {});
  walker.pass2 = true;
  VmapPrep r;
  r.size = walker.size;
  for (size_t i = 0; i < npos; ++i) {
    bool b = hasBatchedLeaf(xs[i], specs[i]) && hasArrayLeaf(xs[i]);
    r.flat.push_back(b ? walker.walk(xs[i], specs[i], "argument " + std::to_string(i)) : xs[i]);
    r.mask.push_back(b);
    r.specs.push_back(specs[i]);
  }
  for (auto& [k, v] : kws) {
    bool b = hasArrayLeaf(v);
    r.flat.push_back(b ? walker.walk(v, zero, "argument '" + k + "'") : v);
    r.names.push_back(k);
    r.mask.push_back(b);
    r.specs.push_back(zero);
  }
  return r;
}

}  // namespace

// vmap(f, in_axes, out_axes)(*args, **kwargs).
Value prim_VmapCall(CallContext& cx, Value* args) {
  const Value &f = args[0], &outSpec = args[2];
  std::vector<Value> xs(seqItems(args[3]).begin(), seqItems(args[3]).end());
  std::vector<std::pair<std::string, Value>> kws;
  if (args[4].is(VKind::Dict))
    for (const auto& [k, v] : args[4].as<DictObj>()->entries) kws.push_back({k.as<StrObj>()->s, v});
  VmapPrep r = prepareVmap(args[1], xs, kws);
  Value out = cx.vmapcall(f, r.size, r.mask, r.flat.data(), xs.size(), &r.names);
  return outAxes(out, outSpec, r.size, "the output");
}

Value prim_VmapFnCall(CallContext& cx, Value* args) {
  FlatArgs f = flatArgs(args);
  return cx.vmapcall(args[0], args[1].asInt(), maskOf(args[2]), f.flat.data(), f.npos, &f.names);
}

Value prim_VmapLoop(CallContext& cx, Value* args) {
  FlatArgs f = flatArgs(args);
  std::vector<bool> mask = maskOf(args[2]);
  Value r;
  if (auto* it = dynamic_cast<Interpreter*>(&cx); it && args[0].is(VKind::Prim) &&
      batchedAtRunTime(*it, (Prim)args[0].asInt(), args[1].asInt(), mask, f.flat.data(), f.npos, &f.names, &r))
    return r;
  return loopCall(cx, args[0], args[1].asInt(), mask, f.flat.data(), f.npos, &f.names);
}

Value prim_VmapBcast(CallContext&, Value* args) { return bcast(args[0], args[1].asInt(), true); }

namespace {
// Per example: a where cond else b, leaf by leaf (non-tensor leaves are the same for
// every example: a's, or the tensor one when only one side is a tensor).
Value select(const Tensor& cond, const Value& a, const Value& b) {
  if (a.is(VKind::Tensor) && b.is(VKind::Tensor)) {
    const Tensor &x = tensorOf(a), &y = tensorOf(b);
    Shape s{cond.dim(0)};
    for (int d = 1; d < std::max(x.ndim(), y.ndim()); ++d) s.push_back(1);
    return makeTensor(where(reshapeTo(cond, s), x, y));
  }
  if (isSeq(a) && isSeq(b) && seqItems(a).size() == seqItems(b).size()) {
    std::vector<Value> out;
    for (size_t i = 0; i < seqItems(a).size(); ++i) out.push_back(select(cond, seqItems(a)[i], seqItems(b)[i]));
    return rebuild(a, std::move(out));
  }
  if (a.is(VKind::Dict) && b.is(VKind::Dict)) {
    Value d = makeDict();
    for (const auto& [k, x] : a.as<DictObj>()->entries) {
      const Value* y = b.as<DictObj>()->find(k);
      d.as<DictObj>()->set(k, y ? select(cond, x, *y) : x);
    }
    return d;
  }
  if (a.is(VKind::Record) && b.is(VKind::Record)) {
    std::vector<Value> out;
    const auto &x = a.as<RecordObj>()->fields, &y = b.as<RecordObj>()->fields;
    for (size_t i = 0; i < x.size(); ++i) out.push_back(i < y.size() ? select(cond, x[i], y[i]) : x[i]);
    return recordLike(a, std::move(out));
  }
  // A number on one side: the same for every example.
  Scalar sa, sb;
  if (a.is(VKind::Tensor) && asScalar(b, &sb)) return select(cond, a, makeTensor(numberBatch(b, 1)));
  if (b.is(VKind::Tensor) && asScalar(a, &sa)) return select(cond, makeTensor(numberBatch(a, 1)), b);
  if (b.is(VKind::Tensor) && !a.is(VKind::Tensor)) return b;
  return a;
}
}  // namespace

Value prim_VmapSelect(CallContext&, Value* args) {
  Tensor c = argTensor(args[0], "if", "cond");
  if (c.ndim() != 1)
    raise(DiagId::NotSupportedYet, SourceLoc{}, {"inside vmap, a condition that is not one bool per example (shape " + shapeStr(c.shape()) + ")"});
  return select(astype(c, DType::Bool), args[1], args[2]);
}

// ------------------------------------------------------------------ grad of vmap
//
// J of vmap_call(f, in_axes, out_axes, *args) (and of __vmapcall / __vmap_loop in a batched
// graph) for a closure f: the batched graph B(f) of f's primal function (Interpreter::
// jPrimal) is differentiated like any graph (every primitive vmap emits has a reverse rule),
// run on the arguments arranged as vmap_call arranges them; its bprop's cotangents are
// arranged back by a small graph (cached per structure) that moves the batch axes back
// (__transpose_bwd) and sums repeated leaves (__unbroadcast). The cotangent of f is B(f)'s
// cotangent of its captured values, so gradients flow into what f captures.

namespace {

// Builds (g set) or only describes (key) the IR that takes a cotangent back through
// vmap's axis moves.
struct AxesT {
  ir::Module* m = nullptr;
  Graph* g = nullptr;
  std::string key;
  Node* prim(Prim p, std::vector<Node*> in) {
    if (!g) return nullptr;
    in.insert(in.begin(), m->constPrim(p));
    return m->newApply(g, std::move(in), SourceLoc{});
  }
  Node* num(int64_t i) { return g ? m->constInt(i) : nullptr; }
  Node* keyNode(const Value& k) {
    if (k.is(VKind::Str)) {
      key += "'" + k.as<StrObj>()->s + "'";
      return g ? m->constStr(k.as<StrObj>()->s) : nullptr;
    }
    if (k.is(VKind::Int)) {
      key += std::to_string(k.asInt());
      return num(k.asInt());
    }
    raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating vmap over a dict whose keys are not strings or ints"});
  }
  Node* perm(const std::vector<int>& p) {
    std::vector<Node*> in;
    key += "<";
    for (int x : p) {
      in.push_back(num(x));
      key += std::to_string(x) + ",";
    }
    key += ">";
    return prim(Prim::MakeTuple, in);
  }
};

int64_t normAxis(const Value& spec, int64_t nd) {
  int64_t a = spec.asInt();
  return a < 0 ? a + nd : a;
}

// The entry of a tree spec for item i (key k) of a container; a uniform spec applies to all.
Value specAt(const Value& spec, size_t i, const Value& k) {
  if (spec.isNone() || spec.is(VKind::Int) || spec.is(VKind::Bool)) return spec;
  if (isSeq(spec)) return i < seqItems(spec).size() ? seqItems(spec)[i] : Value::none();
  if (spec.is(VKind::Dict)) {
    const Value* s = spec.as<DictObj>()->find(k);
    return s ? *s : Value::none();
  }
  if (spec.is(VKind::Record)) return i < spec.as<RecordObj>()->fields.size() ? spec.as<RecordObj>()->fields[i] : Value::none();
  return Value::none();
}

// Whether a leaf of v moved (in_axes side: v an argument; out side: v the batched output).
bool moves(const Value& v, const Value& spec, bool out) {
  auto kids = [&](auto&& each) {
    switch (v.kind()) {
      case VKind::Tuple: case VKind::List:
        for (size_t i = 0; i < seqItems(v).size(); ++i)
          if (each(seqItems(v)[i], specAt(spec, i, Value::none()))) return true;
        return false;
      case VKind::Dict: {
        size_t i = 0;
        for (const auto& [k, x] : v.as<DictObj>()->entries)
          if (each(x, specAt(spec, i++, k))) return true;
        return false;
      }
      case VKind::Record:
        for (size_t i = 0; i < v.as<RecordObj>()->fields.size(); ++i)
          if (each(v.as<RecordObj>()->fields[i], specAt(spec, i, Value::none()))) return true;
        return false;
      default: return false;
    }
  };
  switch (v.kind()) {
    case VKind::Tuple: case VKind::List: case VKind::Dict: case VKind::Record:
      return kids([&](const Value& x, const Value& s) { return moves(x, s, out); });
    case VKind::Tensor:
      if (spec.isNone()) return !out;  // in: an unbatched leaf of a batched argument, repeated
      return spec.is(VKind::Int) && normAxis(spec, tensorOf(v).ndim()) != 0;
    case VKind::Float: case VKind::Int: case VKind::Bool: return out;  // out: a number made a tensor of the batch
    default: return false;
  }
}

// The cotangent of v (an argument, or the batched output) from the cotangent ct of what
// vmap made of it (its batched form, or the output with the batch moved to out_axes);
// x: v's node. Only where moves(v, spec, out).
Node* axesT(AxesT& b, Node* ct, Node* x, const Value& v, const Value& spec, bool out) {
  auto item = [&](Node* key, const Value& xv, const Value& s) {
    Node* c = b.prim(Prim::CtIndex, {ct, key});
    if (!moves(xv, s, out)) {
      b.key += "=";
      return c;
    }
    return axesT(b, c, b.prim(Prim::GetItem, {x, key}), xv, s, out);
  };
  switch (v.kind()) {
    case VKind::Tuple: case VKind::List: {
      b.key += v.is(VKind::List) ? "[" : "(";
      std::vector<Node*> items;
      for (size_t i = 0; i < seqItems(v).size(); ++i) items.push_back(item(b.num((int64_t)i), seqItems(v)[i], specAt(spec, i, Value::none())));
      b.key += ")";
      return b.prim(v.is(VKind::List) ? Prim::MakeList : Prim::MakeTuple, items);
    }
    case VKind::Dict: {
      b.key += "{";
      std::vector<Node*> kv;
      size_t i = 0;
      for (const auto& [k, xv] : v.as<DictObj>()->entries) {
        Node* kn = b.keyNode(k);
        kv.push_back(kn);
        kv.push_back(item(kn, xv, specAt(spec, i++, k)));
      }
      b.key += "}";
      return b.prim(Prim::MakeDict, kv);
    }
    case VKind::Record:
      raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating vmap with batch axes moved inside a record"});
    case VKind::Tensor: {
      int64_t nd = tensorOf(v).ndim();
      if (spec.isNone()) {  // repeated along the batch: the sum over it
        b.key += "u";
        return b.prim(Prim::Unbroadcast, {ct, x});
      }
      int64_t a = normAxis(spec, nd);
      std::vector<int> perm;
      if (!out) {  // the batch moved from axis a to the front
        perm.push_back((int)a);
        for (int d = 0; d < (int)nd; ++d)
          if (d != a) perm.push_back(d);
      } else {  // from the front to axis a
        for (int d = 1; d < (int)nd; ++d) perm.push_back(d);
        perm.insert(perm.begin() + a, 0);
      }
      b.key += "p";
      return b.prim(Prim::TransposeBwd, {ct, b.perm(perm)});
    }
    default:  // a number of the output made a tensor of the batch: the sum over it
      b.key += "n";
      return b.prim(Prim::Unbroadcast, {ct, x});
  }
}

// Example i of a cotangent of the batched value v (leaf by leaf: __ct_index of a tensor
// takes its row; None stays None).
Node* sliceT(AxesT& b, Node* ct, const Value& v, int64_t i) {
  switch (v.kind()) {
    case VKind::Tuple: case VKind::List: {
      b.key += v.is(VKind::List) ? "[" : "(";
      std::vector<Node*> items;
      for (size_t k = 0; k < seqItems(v).size(); ++k)
        items.push_back(sliceT(b, b.prim(Prim::CtIndex, {ct, b.num((int64_t)k)}), seqItems(v)[k], i));
      b.key += ")";
      return b.prim(v.is(VKind::List) ? Prim::MakeList : Prim::MakeTuple, items);
    }
    case VKind::Dict: {
      b.key += "{";
      std::vector<Node*> kv;
      for (const auto& [k, x] : v.as<DictObj>()->entries) {
        Node* kn = b.keyNode(k);
        kv.push_back(kn);
        kv.push_back(sliceT(b, b.prim(Prim::CtIndex, {ct, kn}), x, i));
      }
      b.key += "}";
      return b.prim(Prim::MakeDict, kv);
    }
    case VKind::Tensor:
      b.key += "t";
      return b.prim(Prim::CtIndex, {ct, b.num(i)});
    default:
      raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating vmap, run once per example, of a function returning a " + typeNameOf(v)});
  }
}

// The cotangent of a closure of `to` is keyed by the ids of the primal nodes its free
// variables stand for (autodiff/J.cpp). A specialisation `from` of it (the specialiser
// clones from the original graph) has its free variables in the same order but may key
// them differently: the pairs (key in from, key in to), empty where they agree.
std::vector<std::pair<int64_t, int64_t>> jEnvKeys(const Graph* from, const Graph* to) {
  auto key = [](const Node* n) {
    while (n->jorigin) n = n->jorigin;
    return (int64_t)n->id;
  };
  std::vector<std::pair<int64_t, int64_t>> out;
  bool differ = false;
  for (size_t i = 0; i < from->freeVars.size() && i < to->freeVars.size(); ++i) {
    out.push_back({key(from->freeVars[i]), key(to->freeVars[i])});
    differ = differ || out.back().first != out.back().second;
  }
  if (!differ) out.clear();
  return out;
}

Node* rekeyEnv(AxesT& b, Node* env, const std::vector<std::pair<int64_t, int64_t>>& keys) {
  if (keys.empty()) return env;
  std::vector<Node*> kv;
  b.key += "rekey";
  for (auto [from, to] : keys) {
    b.key += "," + std::to_string(from) + ">" + std::to_string(to);
    kv.push_back(b.num(to));
    kv.push_back(b.prim(Prim::CtIndex, {env, b.num(from)}));
  }
  return b.prim(Prim::MakeDict, kv);
}

Value closureOf(Graph* g) {
  auto* c = new ClosureObj();
  Value v = Value::object(c);
  c->graph = g;
  c->defaults.assign(g->params.size(), Value::undef());
  return v;
}

Value partialOfValue(const Value& fn, std::vector<Value> args) {
  auto* p = new PartialObj();
  Value v = Value::object(p);
  p->func = fn;
  p->args = std::move(args);
  return v;
}

}  // namespace

Value Interpreter::jcallVmap(Prim p, Value* args, size_t npos, const std::vector<std::string>* kwnames, uint32_t world,
                             uint32_t inner) {
  bool second = inner != 0;  // (jcallOuter: J of the J call, world the outer expansion)
  size_t nkw = kwnames ? kwnames->size() : 0;
  if (npos < 3) raise(DiagId::NotSupportedYet, SourceLoc{}, {std::string("differentiating '") + primName(p) + "' called this way"});
  size_t nx = npos - 3;  // the call's positional arguments
  VmapPrep prep;
  std::vector<std::string> names;
  if (p == Prim::VmapCall) {
    std::vector<Value> xs(args + 3, args + npos);
    std::vector<std::pair<std::string, Value>> kws;
    for (size_t k = 0; k < nkw; ++k) kws.push_back({(*kwnames)[k], args[npos + k]});
    prep = prepareVmap(args[1], xs, kws);
    names = prep.names;
  } else {
    prep.size = args[1].asInt();
    prep.mask = maskOf(args[2]);
    if (!prep.mask.empty() && prep.mask[0])
      raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating, inside vmap, a call of a function that captures batched values"});
    prep.flat.assign(args + 3, args + npos + nkw);
    if (kwnames) names = *kwnames;
  }
  size_t nflat = prep.flat.size();
  prep.mask.resize(nflat + 1, false);
  const std::vector<std::string>* kn = names.empty() ? nullptr : &names;
  Value fn = jPrimal(args[0], world, inner);
  // The differentiated core: outB (the batch in front) and bpV, whose result holds the
  // cotangent of fn at item 0 and that of argument k at item ctOf[k] (-1: none); or, run
  // once per example (loop), one bprop per example. Second order: bpV2, the bprop of the
  // J graph's J, taking the cotangent of (outB, bpV) to the same items.
  Value outB, bpV, bpV2;
  std::vector<int> ctOf(nflat, -1);
  std::vector<std::pair<int64_t, int64_t>> envKeys;  // fn's cotangent rekeyed (jEnvKeys)
  bool loop = !fn.is(VKind::Closure);
  if (loop) {
    // A function value that is not a closure (a partial, grad(f), a method): run under J
    // once per example, as __vmap_loop runs it; the bprop runs the examples' bprops.
    if (prep.size <= 0) raise(DiagId::NotSupportedYet, SourceLoc{}, {"vmap over an empty batch here"});
    for (size_t k = 0; k < nflat; ++k)
      if (prep.mask[k + 1] && !prep.flat[k].is(VKind::Tensor))
        raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating vmap of a " + typeNameOf(fn) + " over a batched " + typeNameOf(prep.flat[k])});
    std::vector<Value> rows, bps, bps2;
    for (int64_t i = 0; i < prep.size; ++i) {
      std::vector<Value> a;
      for (size_t k = 0; k < nflat; ++k) a.push_back(prep.mask[k + 1] ? slice(prep.flat[k], i) : prep.flat[k]);
      Value r = second ? jcallOuter(fn, a.data(), nx, kn, 0, inner) : jcall(fn, a.data(), nx, kn, 0, world);
      if (second) {
        bps2.push_back(seqItems(r)[1]);
        Value first = seqItems(r)[0];
        r = first;
      }
      rows.push_back(seqItems(r)[0]);
      bps.push_back(seqItems(r)[1]);
    }
    outB = stack(rows);
    bpV = makeTuple(std::move(bps));
    if (second) bpV2 = makeTuple(std::move(bps2));
    for (size_t k = 0; k < nflat; ++k) ctOf[k] = (int)(1 + k);
  } else {
    const ClosureObj* cl = fn.as<ClosureObj>();
    const Graph* g = cl->graph;
    Bind bd = bindParams(g, nx, kn);
    if (!bd.ok) return callValue(fn, prep.flat.data(), nx, kn);  // raises the binding's error
    size_t n = g->params.size();
    std::vector<Value> bound(n + 1);
    std::vector<bool> batched(n, false);
    bound[0] = Value::integer(prep.size);
    for (size_t i = 0; i < n; ++i) {
      ir::ParamKind k = g->paramKinds[i];
      if (k == ir::ParamKind::VarArgs || k == ir::ParamKind::VarKw) {
        if (!bd.srcs[i].empty())
          raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating vmap of a function called with *args or **kwargs"});
        bound[i + 1] = k == ir::ParamKind::VarArgs ? makeTuple({}) : makeDict();
        continue;
      }
      if (bd.srcs[i].empty()) {
        bound[i + 1] = cl->defaults[i];
        continue;
      }
      size_t a = bd.srcs[i][0];
      bound[i + 1] = prep.flat[a];
      batched[i] = prep.mask[a + 1];
      ctOf[a] = (int)(2 + i);  // (ct_env, ct_size, ct per parameter)
    }
    const Graph* s = nullptr;
    Value vv = batchedClosure(*this, cl, bound.data(), batched, n, &s);
    envKeys = jEnvKeys(s, g);
    const ClosureObj* vc = vv.as<ClosureObj>();
    Graph* vg = const_cast<Graph*>(vc->graph);
    if (g->isFunction && ++callDepth_ > kMaxCallDepth) {
      --callDepth_;
      raise(DiagId::RecursionTooDeep, SourceLoc{}, {std::to_string(kMaxCallDepth)});
    }
    struct DepthGuard { Interpreter* it; bool on; ~DepthGuard() { if (on) --it->callDepth_; } } guard{this, g->isFunction};
    Graph* jg = autodiff::jGraph(vg);
    Value r = second ? runJClosure(jjGraph(jg), vc, vg, bound.data(), world, inner) : runJClosure(jg, vc, vg, bound.data(), world, 0);
    if (second) {
      bpV2 = seqItems(r)[1];
      Value first = seqItems(r)[0];
      r = first;
    }
    outB = seqItems(r)[0];
    bpV = seqItems(r)[1];
  }
  bool vmapCall = p == Prim::VmapCall;
  Value out = vmapCall ? outAxes(outB, args[2], prep.size, "the output") : outB;
  // The bprop: bp(bpV, xs, flat, outB, ct) -> (None, ct of f, None, None, ct per argument).
  // Second order (outer: `twice`), bp' is the same graph over bpV2 and ct = (ct of out,
  // ct of bp): bpV2 takes (the cotangent of outB, that of bpV, the first bound argument of
  // the partial bp, whose cotangent is (ct_fn, (ct of each bound argument), {})); bp's
  // other bound arguments are used for their shapes only.
  std::vector<Value> xs(args + 3, args + npos + nkw);
  auto build = [&](AxesT& b, Node* bpn, Node* xsn, Node* flatn, Node* outn, Node* ct, bool twice) {
    b.key += vmapCall ? "jvmap:" : "jvmapfn:";
    if (twice) b.key += "jj:";
    Node* ctOut = twice ? b.prim(Prim::CtIndex, {ct, b.num(0)}) : ct;
    Node* ctB = ctOut;
    if (vmapCall && moves(outB, args[2], true)) ctB = axesT(b, ctOut, outn, outB, args[2], true);
    Node* ctBp = twice ? b.prim(Prim::CtIndex, {b.prim(Prim::CtIndex, {b.prim(Prim::CtIndex, {ct, b.num(1)}), b.num(1)}), b.num(0)})
                       : nullptr;  // (twice: the cotangent of bpV)
    b.key += "|";
    Node* none = b.g ? b.m->constNone() : nullptr;
    Node* ctFn = none;
    std::vector<Node*> ctFlat(nflat, none);
    if (!loop) {
      Node* arg = twice ? b.prim(Prim::MakeTuple, {ctB, ctBp}) : ctB;
      Node* cts = b.g ? b.m->newApply(b.g, {bpn, arg}, SourceLoc{}) : nullptr;
      ctFn = rekeyEnv(b, b.prim(Prim::CtIndex, {cts, b.num(0)}), envKeys);
      for (size_t k = 0; k < nflat; ++k)
        if (ctOf[k] >= 0) ctFlat[k] = b.prim(Prim::CtIndex, {cts, b.num(ctOf[k])});
    } else {
      // Example i: its bprop on the cotangent's slice i; batched arguments' cotangents
      // stacked (zeros where none), the others' and fn's summed.
      b.key += "loop" + std::to_string(prep.size) + ";";
      std::vector<std::vector<Node*>> rows(nflat);
      for (int64_t i = 0; i < prep.size; ++i) {
        Node* ci = sliceT(b, ctB, outB, i);
        if (twice) ci = b.prim(Prim::MakeTuple, {ci, b.prim(Prim::CtIndex, {ctBp, b.num(i)})});
        Node* bpi = b.prim(Prim::TupleGetItem, {bpn, b.num(i)});
        Node* cts = b.g ? b.m->newApply(b.g, {bpi, ci}, SourceLoc{}) : nullptr;
        Node* f0 = b.prim(Prim::CtIndex, {cts, b.num(0)});
        ctFn = i == 0 ? f0 : b.prim(Prim::CtAdd, {ctFn, f0});
        for (size_t k = 0; k < nflat; ++k) {
          Node* c = b.prim(Prim::CtIndex, {cts, b.num(ctOf[k])});
          if (prep.mask[k + 1]) {
            Node* like = b.prim(Prim::CtIndex, {b.prim(Prim::TupleGetItem, {flatn, b.num((int64_t)k)}), b.num(i)});
            rows[k].push_back(b.prim(Prim::CtFill, {c, like}));
          } else {
            ctFlat[k] = i == 0 ? c : b.prim(Prim::CtAdd, {ctFlat[k], c});
          }
        }
      }
      for (size_t k = 0; k < nflat; ++k)
        if (prep.mask[k + 1]) ctFlat[k] = b.prim(Prim::Stack, {b.prim(Prim::MakeList, rows[k]), b.num(0)});
    }
    std::vector<Node*> items{none, ctFn, none, none};
    for (size_t k = 0; k < nflat; ++k) {
      b.key += std::to_string(ctOf[k]) + (prep.mask[k + 1] ? "b" : "") + ";";
      Node* c = ctFlat[k];
      if (ctOf[k] >= 0 && vmapCall && prep.mask[k + 1] && moves(xs[k], prep.specs[k], false))
        c = axesT(b, c, b.prim(Prim::TupleGetItem, {xsn, b.num((int64_t)k)}), xs[k], prep.specs[k], false);
      items.push_back(c);
    }
    return b.prim(Prim::MakeTuple, items);
  };
  auto wrapper = [&](bool twice) {
    AxesT probe;
    build(probe, nullptr, nullptr, nullptr, nullptr, nullptr, twice);
    std::string key = probe.key + "/" + std::to_string(nflat);
    auto found = primWrappers_.find(key);
    if (found != primWrappers_.end()) return found->second;
    ir::Module& m = adModule();
    Graph* w = m.newGraph("vmap.bprop", nullptr, SourceLoc{});
    w->qualname = "vmap.bprop";
    Node* bpn = m.newParam(w, "bprop", SourceLoc{});
    Node* xsn = m.newParam(w, "args", SourceLoc{});
    Node* flatn = m.newParam(w, "batched_args", SourceLoc{});
    Node* outn = m.newParam(w, "out", SourceLoc{});
    Node* ct = m.newParam(w, "ct", SourceLoc{});
    AxesT b;
    b.m = &m;
    b.g = w;
    w->output = build(b, bpn, xsn, flatn, outn, ct, twice);
    ir::computeFreeVars(std::vector<Graph*>{w});
    return primWrappers_.emplace(key, w).first->second;
  };
  Graph* w = wrapper(false);
  Graph* w2 = second ? wrapper(true) : nullptr;
  Value flatT = loop ? makeTuple(prep.flat) : Value::none();
  Value xsT = makeTuple(std::move(xs));
  Value r = makeTuple({out, partialOfValue(closureOf(w), {bpV, xsT, flatT, outB})});
  if (!second) return r;
  return makeTuple({r, partialOfValue(closureOf(w2), {bpV2, xsT, flatT, outB})});
}

}  // namespace msl
