// The differentiation primitives of ir/Primitives.def: the user API (grad, value_and_grad,
// vjp, stop_gradient) and the cotangent helpers the J transform emits (autodiff/J.h).
//
// Cotangents have the structure of their primal values: a tensor's is a tensor of its
// shape and dtype, a Python float's a float, a tuple's a tuple, a record's a record of
// the same class. None is the zero of any structure; values without a derivative (ints,
// bools, strings, integer tensors) only ever get None.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <type_traits>

#include "autodiff/J.h"
#include "ir/Diagnostics.h"
#include "runtime/Host.h"
#include "runtime/Iter.h"
#include "runtime/JvpRuntime.h"
#include "runtime/Kernels.h"
#include "runtime/KernelsNN.h"
#include "runtime/Parallel.h"
#include "runtime/PrimImpl.h"
#include "runtime/TensorValues.h"

namespace msl {

Value CallContext::jcall(const Value&, Value*, size_t, const std::vector<std::string>*, uint64_t, uint32_t) {
  raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiation here"});
}
Value CallContext::jcallOuter(const Value&, Value*, size_t, const std::vector<std::string>*, uint64_t, uint32_t) {
  raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiation here"});
}

namespace {

bool floatTensor(const Value& v) { return v.is(VKind::Tensor) && isFloat(v.as<TensorObj>()->t.dtype()); }
const Tensor& tensorOf(const Value& v) { return v.as<TensorObj>()->t; }

// t summed over broadcast axes down to `shape` (numpy broadcasting in reverse).
Tensor sumToShape(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  int lead = t.ndim() - (int)shape.size();
  std::vector<int> axes;
  for (int d = 0; d < t.ndim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && t.dim(d) != 1)) axes.push_back(d);
  Tensor s = axes.empty() ? t : reduce(RedOp::Sum, t, axes, true, "grad");
  return reshapeTo(s, shape);
}

Value zerosLike(const Value& like);

// ct for a value shaped like `like` (None: no cotangent).
Value unbroadcast(const Value& ct, const Value& like) {
  if (ct.isNone()) return ct;
  if (isSeq(like)) {  // structures item by item (second-order rules sum such cotangents)
    if (!isSeq(ct)) return Value::none();
    const auto &c = seqItems(ct), &l = seqItems(like);
    std::vector<Value> out;
    for (size_t i = 0; i < l.size(); ++i) out.push_back(i < c.size() ? unbroadcast(c[i], l[i]) : Value::none());
    return like.is(VKind::List) ? makeList(std::move(out)) : makeTuple(std::move(out));
  }
  if (like.is(VKind::Dict)) {
    if (!ct.is(VKind::Dict)) return Value::none();
    Value d = makeDict();
    for (const auto& [k, v] : ct.as<DictObj>()->entries) {
      const Value* l = like.as<DictObj>()->find(k);
      if (l) d.as<DictObj>()->set(k, unbroadcast(v, *l));
    }
    return d;
  }
  if (like.is(VKind::Record)) return ct.is(VKind::Record) ? ct : Value::none();
  if (like.is(VKind::Float)) {
    if (ct.is(VKind::Tensor)) {
      const Tensor& c = tensorOf(ct);
      std::vector<int> all(c.ndim());
      std::iota(all.begin(), all.end(), 0);
      return Value::real(reduce(RedOp::Sum, astype(c, DType::F64), all, false, "grad").getF64(0));
    }
    if (ct.is(VKind::Float)) return ct;
    if (ct.is(VKind::Int) || ct.is(VKind::Bool)) return Value::real((double)ct.asInt());
    return Value::none();
  }
  if (!floatTensor(like)) return Value::none();
  const Tensor& l = tensorOf(like);
  if (ct.is(VKind::Tensor)) {
    Tensor s = sumToShape(tensorOf(ct), l.shape());
    return makeTensor(s.dtype() == l.dtype() ? s : astype(s, l.dtype()));
  }
  Scalar sc;
  if (asScalar(ct, &sc)) return makeTensor(binary(BinOp::Add, Tensor::zeros(l.dtype(), l.shape()), sc));
  return Value::none();
}

Value ctAdd(const Value& a, const Value& b) {
  if (a.isNone()) return b;
  if (b.isNone()) return a;
  if (a.is(VKind::Tensor) || b.is(VKind::Tensor)) {
    Scalar sa, sb;
    if (a.is(VKind::Tensor) && b.is(VKind::Tensor)) return makeTensor(binary(BinOp::Add, tensorOf(a), tensorOf(b)));
    if (a.is(VKind::Tensor) && asScalar(b, &sb)) return makeTensor(binary(BinOp::Add, tensorOf(a), sb));
    if (b.is(VKind::Tensor) && asScalar(a, &sa)) return makeTensor(binary(BinOp::Add, sa, tensorOf(b)));
  }
  if ((a.is(VKind::Float) || a.is(VKind::Int)) && (b.is(VKind::Float) || b.is(VKind::Int))) {
    double x = a.is(VKind::Float) ? a.asFloat() : (double)a.asInt();
    double y = b.is(VKind::Float) ? b.asFloat() : (double)b.asInt();
    return Value::real(x + y);
  }
  if (isSeq(a) && isSeq(b)) {
    const auto &x = seqItems(a), &y = seqItems(b);
    std::vector<Value> out;
    for (size_t i = 0; i < std::max(x.size(), y.size()); ++i)
      out.push_back(ctAdd(i < x.size() ? x[i] : Value::none(), i < y.size() ? y[i] : Value::none()));
    return a.is(VKind::List) ? makeList(std::move(out)) : makeTuple(std::move(out));
  }
  if (a.is(VKind::Dict) && b.is(VKind::Dict)) {
    Value d = makeDict();
    auto* o = d.as<DictObj>();
    for (const auto& [k, v] : a.as<DictObj>()->entries) o->set(k, v);
    for (const auto& [k, v] : b.as<DictObj>()->entries) {
      const Value* old = o->find(k);
      o->set(k, old ? ctAdd(*old, v) : v);
    }
    return d;
  }
  if (a.is(VKind::Record) && b.is(VKind::Record)) {
    auto* r = new RecordObj();
    Value rv = Value::object(r);
    r->cls = a.as<RecordObj>()->cls;
    const auto &x = a.as<RecordObj>()->fields, &y = b.as<RecordObj>()->fields;
    for (size_t i = 0; i < x.size(); ++i) r->fields.push_back(ctAdd(x[i], i < y.size() ? y[i] : Value::none()));
    return rv;
  }
  raise(DiagId::TypeError, SourceLoc{},
        {"internal: cannot add cotangents of types " + typeNameOf(a) + " and " + typeNameOf(b)});
}

// Zeros with the structure of `like` (for the cotangent a rule receives).
Value zerosLike(const Value& like) {
  switch (like.kind()) {
    case VKind::Tensor: return makeTensor(Tensor::zeros(tensorOf(like).dtype(), tensorOf(like).shape()));
    case VKind::Float: return Value::real(0.0);
    case VKind::Int:
    case VKind::Bool: return Value::integer(0);
    case VKind::Tuple:
    case VKind::List: {
      std::vector<Value> items;
      for (const Value& v : seqItems(like)) items.push_back(zerosLike(v));
      return like.is(VKind::List) ? makeList(std::move(items)) : makeTuple(std::move(items));
    }
    case VKind::Record: {  // a record of None fields (so that the rule of setattr can clear one of them)
      auto* r = new RecordObj();
      Value rv = Value::object(r);
      r->cls = like.as<RecordObj>()->cls;
      r->fields.assign(like.as<RecordObj>()->fields.size(), Value::none());
      return rv;
    }
    default: return Value::none();
  }
}

// ct walked along like's structure (tuples and lists by position, dicts by key, records
// by field; a missing part is None), with leaf(c, l) at each leaf of like. keepNone: a
// None cotangent (or a non-record one for a record) stays None instead of being walked.
template <class Leaf>
Value alongLike(const Value& ct, const Value& like, bool keepNone, const Leaf& leaf) {
  if (keepNone && ct.isNone()) return ct;
  switch (like.kind()) {
    case VKind::Tuple:
    case VKind::List: {
      const auto& items = seqItems(like);
      std::vector<Value> out;
      for (size_t i = 0; i < items.size(); ++i) {
        Value c = isSeq(ct) && i < seqItems(ct).size() ? seqItems(ct)[i] : Value::none();
        out.push_back(alongLike(c, items[i], keepNone, leaf));
      }
      return like.is(VKind::List) ? makeList(std::move(out)) : makeTuple(std::move(out));
    }
    case VKind::Dict: {
      Value d = makeDict();
      for (const auto& [k, v] : like.as<DictObj>()->entries) {
        const Value* c = ct.is(VKind::Dict) ? ct.as<DictObj>()->find(k) : nullptr;
        d.as<DictObj>()->set(k, alongLike(c ? *c : Value::none(), v, keepNone, leaf));
      }
      return d;
    }
    case VKind::Record: {
      if (keepNone && !ct.is(VKind::Record)) return Value::none();
      auto* r = new RecordObj();
      Value rv = Value::object(r);
      const auto* l = like.as<RecordObj>();
      r->cls = l->cls;
      for (size_t i = 0; i < l->fields.size(); ++i) {
        Value c = ct.is(VKind::Record) && i < ct.as<RecordObj>()->fields.size() ? ct.as<RecordObj>()->fields[i] : Value::none();
        r->fields.push_back(alongLike(c, l->fields[i], keepNone, leaf));
      }
      return rv;
    }
    default: return leaf(ct, like);
  }
}

// The gradient handed to the user: ct with like's structure, zeros where ct is None, and
// static leaves (ints, strings, functions, integer tensors) carried along as they are.
Value materialize(const Value& ct, const Value& like) {
  return alongLike(ct, like, false, [](const Value& c, const Value& l) -> Value {
    if (l.is(VKind::Float)) return c.isNone() ? Value::real(0.0) : unbroadcast(c, l);
    if (!floatTensor(l)) return l;
    if (c.isNone()) return makeTensor(Tensor::zeros(tensorOf(l).dtype(), tensorOf(l).shape()));
    return unbroadcast(c, l);
  });
}

// Whether a tree has a float leaf (something to differentiate with respect to).
bool hasFloatLeaf(const Value& v) {
  switch (v.kind()) {
    case VKind::Float: return true;
    case VKind::Tensor: return floatTensor(v);
    case VKind::Tuple:
    case VKind::List:
      for (const Value& x : seqItems(v))
        if (hasFloatLeaf(x)) return true;
      return false;
    case VKind::Dict:
      for (const auto& kv : v.as<DictObj>()->entries)
        if (hasFloatLeaf(kv.second)) return true;
      return false;
    case VKind::Record:
      for (const Value& x : v.as<RecordObj>()->fields)
        if (hasFloatLeaf(x)) return true;
      return false;
    default: return false;
  }
}

std::string describe(const Value& v) {
  if (v.is(VKind::Tensor)) return std::string("a ") + dtypeName(tensorOf(v).dtype()) + " tensor of shape " + shapeStr(tensorOf(v).shape());
  return typeNameOf(v);
}

// Calls J(fn) with a tuple of positional arguments and a dict of keyword arguments.
Value jcallWith(CallContext& cx, const Value& fn, const Value& args, const Value& kwargs, uint64_t skipArgs = 0,
                uint32_t world = 0, bool outer = false) {
  std::vector<Value> flat(seqItems(args).begin(), seqItems(args).end());
  size_t npos = flat.size();
  std::vector<std::string> names;
  if (kwargs.is(VKind::Dict))
    for (const auto& [k, v] : kwargs.as<DictObj>()->entries) {
      if (k.as<StrObj>()->s == autodiff::kJCallSkip) {  // the cleaner's mask, not an argument
        if (v.is(VKind::Int)) skipArgs |= (uint64_t)v.asInt();
        continue;
      }
      names.push_back(k.as<StrObj>()->s);
      flat.push_back(v);
    }
  if (outer) return cx.jcallOuter(fn, flat.data(), npos, &names, skipArgs, world);
  return cx.jcall(fn, flat.data(), npos, &names, skipArgs, world);
}

}  // namespace

Value partialOf(Prim p, std::vector<Value> args) {
  auto* po = new PartialObj();
  Value v = Value::object(po);
  po->func = Value::prim((int)p);
  po->args = std::move(args);
  return v;
}

namespace {
// enumerate/zip/list/tuple/reversed(x): the cotangent (a list or tuple of per-item
// cotangents) given back the structure of x (a sequence, or a tensor's rows).
Value itemsBack(std::vector<Value> items, const Value& x) {
  if (floatTensor(x)) {
    const Tensor& t = tensorOf(x);
    Shape row(t.shape().begin() + 1, t.shape().end()), one{1};
    one.insert(one.end(), row.begin(), row.end());
    std::vector<Tensor> rows;
    for (int64_t i = 0; i < t.dim(0); ++i) {
      Value c = (size_t)i < items.size() ? items[(size_t)i] : Value::none();
      Tensor r = c.isNone() ? Tensor::zeros(t.dtype(), row) : astype(argTensor(c, "for", "ct"), t.dtype());
      rows.push_back(reshapeTo(r.contiguous(), one));
    }
    return rows.empty() ? makeTensor(Tensor::zeros(t.dtype(), t.shape())) : makeTensor(concatenate(rows, 0, "grad"));
  }
  if (x.is(VKind::List)) return makeList(std::move(items));
  if (x.is(VKind::Tuple)) return makeTuple(std::move(items));
  return Value::none();
}

}  // namespace

// ------------------------------------------------------------------ the API

Value prim_Grad(CallContext&, Value* args) {
  return partialOf(Prim::GradCall, {args[0], args[1], args[2], makeStr("grad")});
}
Value prim_ValueAndGrad(CallContext&, Value* args) {
  return partialOf(Prim::GradCall, {args[0], args[1], args[2], makeStr("value_and_grad")});
}
Value prim_StopGradient(CallContext&, Value* args) { return std::move(args[0]); }

// @custom_vjp(fwd, bwd): calling the function runs it as written; differentiating a call
// runs fwd(*args) = (out, residuals), and the backward pass bwd(residuals, ct), which
// returns one cotangent per argument (runtime/Interpreter.cpp, jcall).
Value prim_CustomVjp(CallContext&, Value* args) { return partialOf(Prim::CustomVjpWrap, {args[0], args[1]}); }
Value prim_CustomVjpWrap(CallContext&, Value* args) { return partialOf(Prim::CustomVjpCall, {args[2], args[0], args[1]}); }
Value prim_CustomVjpCall(CallContext& cx, Value* args) {
  std::vector<Value> flat(seqItems(args[3]).begin(), seqItems(args[3]).end());
  std::vector<std::pair<std::string, Value>> kw;
  for (const auto& [k, v] : args[4].as<DictObj>()->entries) kw.push_back({k.as<StrObj>()->s, v});
  return cx.call(args[0], std::move(flat), std::move(kw));
}
Value prim_CustomVjpBprop(CallContext& cx, Value* args) {
  Value cts = cx.call(args[0], {args[1], args[2]});
  if (!isSeq(cts))
    raise(DiagId::TypeError, SourceLoc{}, {"custom_vjp: bwd must return a tuple with one cotangent per argument, got " + typeNameOf(cts)});
  std::vector<Value> out{Value::none()};
  for (const Value& c : seqItems(cts)) out.push_back(c);
  return makeTuple(std::move(out));
}

namespace {
struct GradSpec {
  bool hasAux, valueToo, many;
  const char* fn;
  std::vector<int64_t> which;  // the positional arguments differentiated, normalised
  uint64_t skip;               // the others (bit i: argument i)
};

// grad/value_and_grad's options, checked against the arguments.
GradSpec gradSpec(const Value& argnums, const Value& hasAux, const Value& kind, const Value& primals, bool check) {
  GradSpec g;
  g.hasAux = argBool(hasAux, "grad", "has_aux");
  g.valueToo = kind.is(VKind::Str) && kind.as<StrObj>()->s == "value_and_grad";
  bool jac = kind.is(VKind::Str) && kind.as<StrObj>()->s == "jacobian";
  g.fn = g.valueToo ? "value_and_grad" : jac ? "jacobian" : "grad";
  const auto& xs = seqItems(primals);
  // argnums: an int or a tuple of ints, each naming a positional argument.
  g.many = isSeq(argnums);
  if (g.many) {
    for (const Value& a : seqItems(argnums)) g.which.push_back(argInt(a, g.fn, "argnums"));
  } else {
    g.which.push_back(argInt(argnums, g.fn, "argnums"));
  }
  g.skip = ~uint64_t{0};  // only the cotangents of argnums are computed
  for (int64_t& i : g.which) {
    int64_t n = (int64_t)xs.size();
    if (i < -n || i >= n)
      raise(DiagId::GradArgnums, SourceLoc{}, {g.fn, std::to_string(i), std::to_string(n), n == 1 ? "" : "s"});
    if (i < 0) i += n;
    if (check && !hasFloatLeaf(xs[(size_t)i]))
      raise(DiagId::GradNoFloat, SourceLoc{}, {g.fn, std::to_string(i), describe(xs[(size_t)i])});
    if (i < 64) g.skip &= ~(uint64_t{1} << i);
  }
  return g;
}

// The cotangent structure `c` (of a value like `like`) without the cotangents of static
// leaves: the transpose of materialize for the float leaves.
Value floatPart(const Value& c, const Value& like) {
  return alongLike(c, like, true, [](const Value& ci, const Value& l) -> Value {
    return l.is(VKind::Float) || floatTensor(l) ? ci : Value::none();
  });
}

Value item(const Value& v, size_t i) { return isSeq(v) && i < seqItems(v).size() ? seqItems(v)[i] : Value::none(); }

// ---- jacobian: kind "jacobian" of __grad_seed, __grad_pack and __grad_pack_bwd. The seeds
// are one-hot cotangents of the output, one per element of each float leaf; the
// cotangents bprop gives for them come as a chain ((((), ct_0), ct_1), ...) (what the loop
// of jacobian's graph builds, runtime/Interpreter.cpp jacobianGraph); the jacobian has the
// output's structure with, at each leaf o, the gradient's structure (args[argnums], a tuple
// for a tuple argnums) whose float leaves x are of shape o.shape + x.shape (jax.jacrev).
// __grad_pack(chain, None, (args, out), argnums, False, "jacobian") and its transpose take
// the output with the arguments, where no cotangent flows (their out slot is grad's value,
// which a jacobian does not hold), so that each one's rule passes it on as it is.

bool isKind(const Value& kind, const char* k) { return kind.is(VKind::Str) && kind.as<StrObj>()->s == k; }

// The leaves of v walked along like's structure, in alongLike's order.
std::vector<Value> leavesAlong(const Value& v, const Value& like) {
  std::vector<Value> out;
  alongLike(v, like, false, [&](const Value& c, const Value&) {
    out.push_back(c);
    return Value::none();
  });
  return out;
}

struct OutLeaf {
  bool none = false, pyFloat = false;  // a None leaf (no jacobian); a Python float
  Shape shape;
  DType dt = DType::F64;
  int64_t n = 0;  // elements
};

// The output's leaves: floats and float tensors (None: nothing to differentiate).
std::vector<OutLeaf> jacOutLeaves(const Value& out) {
  std::vector<OutLeaf> ls;
  for (const Value& l : leavesAlong(out, out)) {
    OutLeaf L;
    if (l.isNone()) {
      L.none = true;
    } else if (l.is(VKind::Float)) {
      L.pyFloat = true;
      L.n = 1;
    } else if (floatTensor(l)) {
      L.shape = tensorOf(l).shape();
      L.dt = tensorOf(l).dtype();
      L.n = numel(L.shape);
    } else {
      std::string got = describe(out);
      bool tree = isSeq(out) || out.is(VKind::Dict) || out.is(VKind::Record);
      if (tree) got += " holding " + describe(l);
      raise(DiagId::TypeError, SourceLoc{},
            {"jacobian: the function must return floats or float tensors (or a tuple, list, dict or record of them), got " + got});
    }
    ls.push_back(std::move(L));
  }
  return ls;
}

// The gradient's structure at each output leaf: args[i], or a tuple of them.
Value jacArgLike(const GradSpec& g, const Value& primals) {
  const auto& xs = seqItems(primals);
  if (!g.many) return xs[(size_t)g.which[0]];
  std::vector<Value> v;
  for (int64_t i : g.which) v.push_back(xs[(size_t)i]);
  return makeTuple(std::move(v));
}

// __grad_seed(out, False, "jacobian"): the list of one-hot cotangents of out.
Value jacSeeds(const Value& out) {
  std::vector<OutLeaf> ls = jacOutLeaves(out);
  std::vector<Value> seeds;
  for (size_t j = 0; j < ls.size(); ++j)
    for (int64_t e = 0; e < ls[j].n; ++e) {
      size_t k = 0;
      seeds.push_back(alongLike(Value::none(), out, false, [&](const Value&, const Value&) -> Value {
        if (k++ != j) return Value::none();
        const OutLeaf& L = ls[j];
        if (L.pyFloat) return Value::real(1.0);
        Tensor c = Tensor::zeros(L.dt, Shape{L.n});
        assignInto(c.view(Shape{1}, Shape{1}, e), Tensor::scalar(L.dt, 1.0));
        return makeTensor(reshapeTo(c, L.shape));
      }));
    }
  return makeList(std::move(seeds));
}

// The chain's n cotangents (None where the chain has none: a zero tangent or cotangent).
std::vector<Value> unchain(Value v, size_t n) {
  std::vector<Value> out(n);
  for (size_t e = n; e-- > 0 && v.is(VKind::Tuple) && seqItems(v).size() == 2;) {
    out[e] = seqItems(v)[1];
    Value prev = seqItems(v)[0];
    v = std::move(prev);
  }
  return out;
}

// Row e of t (contiguous, viewed as (n, k)), of shape `shape`.
Tensor rowOf(const Tensor& t, int64_t k, int64_t e, const Shape& shape) {
  Tensor c = t.contiguous();
  return reshapeTo(c.view(Shape{k}, Shape{1}, c.offset() + e * k), shape);
}

// __grad_pack(chain, None, (args, out), argnums, False, "jacobian"): the jacobian.
Value jacPack(const Value& chain, const Value& out, const Value& primals, const GradSpec& g) {
  std::vector<OutLeaf> ls = jacOutLeaves(out);
  size_t total = 0;
  for (const OutLeaf& L : ls) total += (size_t)L.n;
  std::vector<Value> cts = unchain(chain, total);
  const auto& xs = seqItems(primals);
  Value like = jacArgLike(g, primals);
  std::vector<std::vector<Value>> grads(total);  // per seed: the gradient's leaves along like
  for (size_t e = 0; e < total; ++e) {
    std::vector<Value> gs;
    for (int64_t i : g.which) gs.push_back(materialize(item(cts[e], (size_t)i + 1), xs[(size_t)i]));
    grads[e] = leavesAlong(g.many ? makeTuple(std::move(gs)) : std::move(gs[0]), like);
  }
  size_t j = 0, base = 0;
  return alongLike(Value::none(), out, false, [&](const Value&, const Value&) -> Value {
    const OutLeaf& L = ls[j++];
    if (L.none) return Value::none();
    size_t b = base, k = 0;
    base += (size_t)L.n;
    return alongLike(Value::none(), like, false, [&](const Value&, const Value& l) -> Value {
      size_t kk = k++;
      if (!l.is(VKind::Float) && !floatTensor(l)) return l;  // static leaves are carried along
      if (L.pyFloat && l.is(VKind::Float)) return grads[b][kk];
      Shape xShape = l.is(VKind::Tensor) ? tensorOf(l).shape() : Shape{};
      DType dt = l.is(VKind::Tensor) ? tensorOf(l).dtype() : L.dt;
      int64_t kn = numel(xShape);
      Tensor jac = Tensor::zeros(dt, Shape{L.n, kn});
      for (int64_t e = 0; e < L.n; ++e) {
        const Value& gv = grads[b + (size_t)e][kk];
        Tensor gt = gv.is(VKind::Tensor) ? tensorOf(gv) : Tensor::scalar(dt, gv.asFloat());
        assignInto(jac.view(Shape{1, kn}, Shape{kn, 1}, e * kn), reshapeTo(astype(gt, dt).contiguous(), Shape{1, kn}));
      }
      Shape full = L.shape;
      full.insert(full.end(), xShape.begin(), xShape.end());
      return makeTensor(reshapeTo(jac, full));
    });
  });
}

// __grad_pack_bwd(c, None, (args, out), argnums, False, "jacobian"): the transpose of
// jacPack, the jacobian's cotangent back to a chain of cotangents of bprop's results, one
// per seed.
Value jacPackBwd(const Value& c, const Value& out, const Value& primals, const GradSpec& g) {
  std::vector<OutLeaf> ls = jacOutLeaves(out);
  const auto& xs = seqItems(primals);
  Value like = jacArgLike(g, primals);
  std::vector<Value> parts = leavesAlong(c, out);  // per output leaf: a cotangent shaped like the gradient
  Value chain = Value::none();
  for (size_t j = 0; j < ls.size(); ++j) {
    const OutLeaf& L = ls[j];
    if (L.none) continue;
    std::vector<Value> ps = leavesAlong(parts[j], like);
    for (int64_t e = 0; e < L.n; ++e) {
      size_t k = 0;
      Value ge = alongLike(Value::none(), like, false, [&](const Value&, const Value& l) -> Value {
        const Value& p = ps[k++];
        if (!l.is(VKind::Float) && !floatTensor(l)) return Value::none();
        if (p.is(VKind::Float)) return p;  // (a float output and a float argument)
        if (!p.is(VKind::Tensor)) return Value::none();
        Shape xShape = l.is(VKind::Tensor) ? tensorOf(l).shape() : Shape{};
        Tensor r = rowOf(tensorOf(p), numel(xShape), e, xShape);
        return l.is(VKind::Float) ? Value::real(r.getF64(0)) : makeTensor(r);
      });
      std::vector<Value> cts(xs.size() + 1);
      for (size_t w = 0; w < g.which.size(); ++w) {
        size_t i = (size_t)g.which[w];
        cts[i + 1] = ctAdd(cts[i + 1], floatPart(g.many ? item(ge, w) : ge, xs[i]));
      }
      chain = makeTuple({chain, makeTuple(std::move(cts))});
    }
  }
  return chain;
}
}  // namespace



// __jenter(f, argnums, kind, args, kwargs): J(f)(*args, **kwargs) in a new world, computing
// only the cotangents of argnums.
Value prim_JEnter(CallContext& cx, Value* args) {
  GradSpec g = gradSpec(args[1], Value::boolean(false), args[2], args[3], true);
  return jcallWith(cx, args[0], args[3], args[4], g.skip, CallContext::kNewJWorld);
}

// __jenter under J: ((out, bprop), bprop') where bprop' gives the cotangents of
// (f, argnums, kind, args, kwargs).
Value prim_JEnterJ(CallContext& cx, Value* args) {
  uint64_t skip = args[1].isNone() ? 0 : gradSpec(args[1], Value::boolean(false), args[2], args[3], true).skip;
  Value r = jcallWith(cx, args[0], args[3], args[4], skip, CallContext::kNewJWorld, true);
  std::vector<Value> plan{makeStr("ex"), Value::integer((int64_t)seqItems(args[3]).size())};
  if (args[4].is(VKind::Dict))
    for (const auto& [k, v] : args[4].as<DictObj>()->entries) plan.push_back(k);
  return makeTuple({seqItems(r)[0], partialOf(Prim::JSiteBprop, {seqItems(r)[1], makeTuple(std::move(plan))})});
}

// __jcall under J (in J of a J graph): ((out, bprop), bprop').
Value prim_JCallJ(CallContext& cx, Value* args) {
  std::vector<Value> flat(seqItems(args[1]).begin(), seqItems(args[1]).end());
  size_t npos = flat.size();
  std::vector<std::string> names;
  if (args[2].is(VKind::Dict))
    for (const auto& [k, v] : args[2].as<DictObj>()->entries) {
      if (k.as<StrObj>()->s == autodiff::kJCallSkip) continue;  // the cleaner's mask (ignored here)
      names.push_back(k.as<StrObj>()->s);
      flat.push_back(v);
    }
  return cx.jcallOuter(args[0], flat.data(), npos, &names, 0, cx.jinnerWorld());
}

// The cotangent grad feeds its bprop: 1 (a float, or a 0-d tensor of the loss's dtype).
Value prim_GradSeed(CallContext&, Value* args) {
  const Value& out = args[0];
  if (isKind(args[2], "jacobian")) return jacSeeds(out);
  bool hasAux = argBool(args[1], "grad", "has_aux");
  const char* fn = args[2].is(VKind::Str) && args[2].as<StrObj>()->s == "value_and_grad" ? "value_and_grad" : "grad";
  Value loss = out;
  if (hasAux) {
    if (!out.is(VKind::Tuple) || seqItems(out).size() != 2) raise(DiagId::GradHasAux, SourceLoc{}, {fn, describe(out)});
    loss = seqItems(out)[0];
  }
  Value ct;
  if (loss.is(VKind::Float)) {
    ct = Value::real(1.0);
  } else if (floatTensor(loss) && tensorOf(loss).ndim() == 0) {
    ct = makeTensor(Tensor::scalar(tensorOf(loss).dtype(), 1.0));
  } else {
    raise(DiagId::GradNotScalar, SourceLoc{}, {fn, describe(loss)});
  }
  return hasAux ? makeTuple({ct, Value::none()}) : ct;
}

// grad's result: the gradients of argnums (materialised with their argument's structure),
// with the value (value_and_grad) and the aux (has_aux) as JAX arranges them.
Value prim_GradPack(CallContext&, Value* args) {
  const Value &cts = args[0], &out = args[1];
  if (isKind(args[5], "jacobian")) {  // args: (the arguments, the output); out: unused
    GradSpec g = gradSpec(args[3], args[4], args[5], item(args[2], 0), false);
    return jacPack(cts, item(args[2], 1), item(args[2], 0), g);
  }
  GradSpec g = gradSpec(args[3], args[4], args[5], args[2], false);
  const auto& xs = seqItems(args[2]);
  std::vector<Value> grads;
  for (int64_t i : g.which) grads.push_back(materialize(item(cts, (size_t)i + 1), xs[(size_t)i]));
  Value gv = g.many ? makeTuple(std::move(grads)) : std::move(grads[0]);
  if (g.valueToo) return makeTuple({out, gv});
  return g.hasAux ? makeTuple({gv, seqItems(out)[1]}) : gv;
}

// The transpose of __grad_pack: (ct of cts, ct of out).
Value prim_GradPackBwd(CallContext&, Value* args) {
  const Value& c = args[0];
  if (isKind(args[5], "jacobian")) {
    GradSpec g = gradSpec(args[3], args[4], args[5], item(args[2], 0), false);
    return makeTuple({jacPackBwd(c, item(args[2], 1), item(args[2], 0), g), Value::none()});
  }
  GradSpec g = gradSpec(args[3], args[4], args[5], args[2], false);
  const auto& xs = seqItems(args[2]);
  Value cg = c, cout;
  if (g.valueToo) {
    cout = item(c, 0);
    cg = item(c, 1);
  } else if (g.hasAux) {
    cg = item(c, 0);
    cout = makeTuple({Value::none(), item(c, 1)});
  }
  std::vector<Value> cts(xs.size() + 1);
  for (size_t j = 0; j < g.which.size(); ++j) {
    size_t i = (size_t)g.which[j];
    cts[i + 1] = ctAdd(cts[i + 1], floatPart(g.many ? item(cg, j) : cg, xs[i]));
  }
  return makeTuple({makeTuple(std::move(cts)), cout});
}

Value prim_GradCall(CallContext& cx, Value* args) {
  // args: f, argnums, has_aux, kind, args, kwargs; the same steps as the graph that
  // stands for it under J (runtime/Interpreter.cpp, primWrapper).
  Value enter[5] = {args[0], args[1], args[3], args[4], args[5]};
  Value r = prim_JEnter(cx, enter);
  Value seed[3] = {seqItems(r)[0], args[2], args[3]};
  Value cts = cx.call(seqItems(r)[1], {prim_GradSeed(cx, seed)});
  Value pack[6] = {cts, seqItems(r)[0], args[4], args[1], args[2], args[3]};
  return prim_GradPack(cx, pack);
}

// jacobian(f, argnums)(*args): d out / d args[argnums], by one backward pass per element of
// the output (the forward pass runs once): the steps of the graph that stands for it in
// differentiated code (runtime/Interpreter.cpp, primWrapper), with kind "jacobian".
Value prim_Jacobian(CallContext&, Value* args) { return partialOf(Prim::JacobianCall, {args[0], args[1]}); }

Value prim_JacobianCall(CallContext& cx, Value* args) {
  Value kind = makeStr("jacobian");
  Value enter[5] = {args[0], args[1], kind, args[2], args[3]};
  Value r = prim_JEnter(cx, enter);
  Value out = seqItems(r)[0], bprop = seqItems(r)[1];
  Value seed[3] = {out, Value::boolean(false), kind};
  Value seeds = prim_GradSeed(cx, seed);
  Value chain = makeTuple({});
  for (const Value& s : seqItems(seeds)) chain = makeTuple({chain, cx.call(bprop, {s})});
  Value pack[6] = {chain, Value::none(), makeTuple({args[2], out}), args[1], Value::boolean(false), kind};
  return prim_GradPack(cx, pack);
}

// vjp(f, *primals) -> (out, f_vjp); f_vjp(ct) is a tuple of one cotangent per primal.
Value prim_Vjp(CallContext& cx, Value* args) {
  Value r = jcallWith(cx, args[0], args[1], Value::none(), 0, CallContext::kNewJWorld);
  return makeTuple({seqItems(r)[0], partialOf(Prim::VjpCall, {seqItems(r)[1], args[1]})});
}

Value prim_VjpPack(CallContext&, Value* args) {
  const auto& xs = seqItems(args[1]);
  std::vector<Value> out;
  for (size_t i = 0; i < xs.size(); ++i) out.push_back(materialize(item(args[0], i + 1), xs[i]));
  return makeTuple(std::move(out));
}

Value prim_VjpPackBwd(CallContext&, Value* args) {
  const auto& xs = seqItems(args[1]);
  std::vector<Value> out{Value::none()};
  for (size_t i = 0; i < xs.size(); ++i) out.push_back(floatPart(item(args[0], i), xs[i]));
  return makeTuple(std::move(out));
}

Value prim_VjpMake(CallContext&, Value* args) { return partialOf(Prim::VjpCall, {args[0], args[1]}); }

Value prim_VjpCall(CallContext& cx, Value* args) {
  Value pack[2] = {cx.call(args[0], {args[2]}), args[1]};
  return prim_VjpPack(cx, pack);
}

Value prim_JCall(CallContext& cx, Value* args) { return jcallWith(cx, args[0], args[1], args[2]); }

Value defaultSiteEntry(const ir::Graph* g, size_t i) {
  std::string k = autodiff::defaultCtKey(g, i);
  return k.empty() ? Value::none() : makeList({makeStr(k)});
}

// bprop's per-parameter cotangents (ct_env, ct_p...) turned into per-argument ones
// (ct_fn, ct_a...). plan: one entry per parameter: an int (the argument it came from),
// a tuple of ints (*args), a dict keyword -> argument (**kw), None (a default: dropped),
// a list [key] (a computed default: its cotangent goes into ct_fn, a dict, under key;
// autodiff::defaultCtKey); then the number of arguments. A plan "method" drops the first
// entry (a bound method's receiver is its cotangent); a plan ("pick", bound, kw, i...)
// keeps entries i (a partial's own arguments) and makes the partial's cotangent (ct_fn, cts of bound, dict of cts of kw);
// a plan ("ex", npos, keyword...) packs the arguments' cotangents as
// (ct_fn, None, None, ct of the args tuple, ct of the kwargs dict) (__jenter_j).
Value prim_JSiteArrange(CallContext&, Value* args) {
  const Value& cts = args[0];
  auto c = [&](size_t i) { return item(cts, i); };
  if (args[1].is(VKind::Str)) {  // "method"
    std::vector<Value> out;
    for (size_t i = 1; i < (isSeq(cts) ? seqItems(cts).size() : 0); ++i) out.push_back(c(i));
    return makeTuple(std::move(out));
  }
  const auto& plan = seqItems(args[1]);
  if (plan[0].is(VKind::Str) && plan[0].as<StrObj>()->s == "pick") {
    std::vector<Value> boundCts;
    for (const Value& b : seqItems(plan[1])) boundCts.push_back(c((size_t)b.asInt()));
    Value kwCts = makeDict();
    for (const auto& [k, i] : plan[2].as<DictObj>()->entries) kwCts.as<DictObj>()->set(k, c((size_t)i.asInt()));
    std::vector<Value> out{makeTuple({c(0), makeTuple(std::move(boundCts)), kwCts})};  // the partial's cotangent
    for (size_t i = 3; i < plan.size(); ++i) out.push_back(c((size_t)plan[i].asInt()));
    return makeTuple(std::move(out));
  }
  if (plan[0].is(VKind::Str)) {  // "ex"
    size_t npos = (size_t)plan[1].asInt();
    std::vector<Value> pos;
    for (size_t i = 0; i < npos; ++i) pos.push_back(c(i + 1));
    Value kw = makeDict();
    for (size_t k = 2; k < plan.size(); ++k) kw.as<DictObj>()->set(plan[k], c(npos + k - 1));
    return makeTuple({c(0), Value::none(), Value::none(), makeTuple(std::move(pos)), kw});
  }
  size_t nargs = (size_t)plan.back().asInt();
  std::vector<Value> out(nargs + 1);
  out[0] = c(0);
  for (size_t i = 0; i + 1 < plan.size(); ++i) {
    const Value& e = plan[i];
    Value ci = c(i + 1);
    if (e.is(VKind::Int)) {
      out[(size_t)e.asInt() + 1] = ci;
    } else if (e.is(VKind::Tuple)) {
      const auto& srcs = seqItems(e);
      for (size_t k = 0; k < srcs.size(); ++k) out[(size_t)srcs[k].asInt() + 1] = item(ci, k);
    } else if (e.is(VKind::Dict)) {
      for (const auto& [kw, src] : e.as<DictObj>()->entries) {
        const Value* v = ci.is(VKind::Dict) ? ci.as<DictObj>()->find(kw) : nullptr;
        out[(size_t)src.asInt() + 1] = v ? *v : Value::none();
      }
    } else if (e.is(VKind::List) && !ci.isNone()) {
      Value d = makeDict();
      d.as<DictObj>()->set(seqItems(e)[0], ci);
      out[0] = ctAdd(out[0], d);
    }
  }
  return makeTuple(std::move(out));
}

// The transpose of __jsite_arrange(cts, plan): ct (per argument) back to per parameter,
// shaped like cts.
Value prim_JSiteArrangeBwd(CallContext&, Value* args) {
  const Value &ct = args[0], &cts = args[2];
  size_t n = isSeq(cts) ? seqItems(cts).size() : 0;
  std::vector<Value> out(n);
  auto d = [&](size_t i) { return item(ct, i); };
  if (args[1].is(VKind::Str)) {
    for (size_t i = 1; i < n; ++i) out[i] = d(i - 1);
    return makeTuple(std::move(out));
  }
  const auto& plan = seqItems(args[1]);
  if (plan[0].is(VKind::Str) && plan[0].as<StrObj>()->s == "pick") {
    auto put = [&](size_t at, const Value& v) {
      if (at < n) out[at] = ctAdd(out[at], v);
    };
    const Value& pct = d(0);  // (ct_fn, cts of bound, dict of cts of kw)
    put(0, item(pct, 0));
    const auto& bound = seqItems(plan[1]);
    for (size_t j = 0; j < bound.size(); ++j) put((size_t)bound[j].asInt(), item(item(pct, 1), j));
    const Value& kwc = item(pct, 2);
    for (const auto& [k, i] : plan[2].as<DictObj>()->entries) {
      const Value* v = kwc.is(VKind::Dict) ? kwc.as<DictObj>()->find(k) : nullptr;
      if (v) put((size_t)i.asInt(), *v);
    }
    for (size_t i = 3; i < plan.size(); ++i) put((size_t)plan[i].asInt(), d(i - 2));
    return makeTuple(std::move(out));
  }
  if (plan[0].is(VKind::Str)) raise(DiagId::NotSupportedYetPlural, SourceLoc{}, {"third-order derivatives"});
  if (n) out[0] = d(0);
  for (size_t i = 0; i + 1 < plan.size() && i + 1 < n; ++i) {
    const Value& e = plan[i];
    if (e.is(VKind::Int)) {
      out[i + 1] = d((size_t)e.asInt() + 1);
    } else if (e.is(VKind::Tuple)) {
      std::vector<Value> items;
      for (const Value& src : seqItems(e)) items.push_back(d((size_t)src.asInt() + 1));
      out[i + 1] = makeTuple(std::move(items));
    } else if (e.is(VKind::Dict)) {
      Value kw = makeDict();
      for (const auto& [k, src] : e.as<DictObj>()->entries) kw.as<DictObj>()->set(k, d((size_t)src.asInt() + 1));
      out[i + 1] = kw;
    } else if (e.is(VKind::List) && d(0).is(VKind::Dict)) {  // (a computed default's, from ct_fn)
      const Value* v = d(0).as<DictObj>()->find(seqItems(e)[0]);
      if (v) out[i + 1] = *v;
    }
  }
  return makeTuple(std::move(out));
}

Value prim_JSiteBprop(CallContext& cx, Value* args) {
  Value arrange[2] = {cx.call(args[0], {args[2]}), args[1]};
  return prim_JSiteArrange(cx, arrange);
}

// ------------------------------------------------------------------ cotangent helpers

namespace {
// A tensor argument the caller gave up and nobody else sees: kernels may write into it.
bool consumable(const Value& v) { return v.is(VKind::Tensor) && v.unique() && reusable(tensorOf(v)); }
}  // namespace

// Two tensor cotangents: accumulated into one of them when it is given up (the sum of a
// value's uses, added one use at a time, then allocates nothing).
Value prim_CtAdd(CallContext&, Value* args) {
  if (args[0].is(VKind::Tensor) && args[1].is(VKind::Tensor)) {
    const Tensor &a = tensorOf(args[0]), &b = tensorOf(args[1]);
    for (int k = 0; k < 2; ++k)
      if (consumable(args[k]) && binaryInPlace(BinOp::Add, a, b, args[k].as<TensorObj>()->t)) return std::move(args[k]);
  }
  return ctAdd(args[0], args[1]);
}

Value prim_CtFill(CallContext&, Value* args) { return args[0].isNone() ? zerosLike(args[1]) : std::move(args[0]); }

Value prim_CtIndex(CallContext& cx, Value* args) {
  const Value &ct = args[0], &i = args[1];
  if (ct.is(VKind::Tensor) && !i.is(VKind::Str)) return prim_TensorGetItem(cx, args);  // (the transpose of __getitem_bwd)
  if (isSeq(ct) && i.is(VKind::Int)) {
    const auto& items = seqItems(ct);
    int64_t k = i.asInt() < 0 ? i.asInt() + (int64_t)items.size() : i.asInt();
    return k >= 0 && k < (int64_t)items.size() ? items[(size_t)k] : Value::none();
  }
  if (ct.is(VKind::Dict)) {
    const Value* v = ct.as<DictObj>()->find(i);
    return v ? *v : Value::none();
  }
  if (ct.is(VKind::Tensor) && i.is(VKind::Str)) {  // a tensor attribute's (see __getattr_bwd)
    const std::string& name = i.as<StrObj>()->s;
    if (name == "T") {
      const Tensor& c = tensorOf(ct);
      std::vector<int> perm(c.ndim());
      std::iota(perm.rbegin(), perm.rend(), 0);
      return makeTensor(permute(c, perm));
    }
    if (name == "shape" || name == "dtype" || name == "ndim" || name == "size") return Value::none();
    return ct;  // a method: the receiver's cotangent
  }
  if (ct.is(VKind::Record) && i.is(VKind::Str)) {
    auto* r = ct.as<RecordObj>();
    int f = r->classObj()->fieldIndex(i.as<StrObj>()->s);
    return f >= 0 ? r->fields[(size_t)f] : Value::none();
  }
  return Value::none();
}

Value prim_Unbroadcast(CallContext&, Value* args) {
  // The common case: ct already has the shape and dtype of the value (no broadcast).
  if (args[0].is(VKind::Tensor) && floatTensor(args[1])) {
    const Tensor &c = tensorOf(args[0]), &l = tensorOf(args[1]);
    if (c.dtype() == l.dtype() && c.shape() == l.shape()) return std::move(args[0]);
  }
  return unbroadcast(args[0], args[1]);
}

// sum(x, axis, keepdims): c broadcast back to x's shape; for a sequence (Python's sum of
// items), each item's share.
Value prim_SumBwd(CallContext&, Value* args) {
  const Value &ct = args[0], &x = args[1];
  if (ct.isNone()) return ct;
  if (isSeq(x)) {
    std::vector<Value> out;
    for (const Value& item : seqItems(x)) out.push_back(unbroadcast(ct, item));
    return x.is(VKind::List) ? makeList(std::move(out)) : makeTuple(std::move(out));
  }
  if (!floatTensor(x)) return Value::none();
  const Tensor& xt = tensorOf(x);
  Tensor c = ct.is(VKind::Tensor) ? tensorOf(ct) : argTensor(ct, "grad", "ct");
  if (!argBool(args[3], "sum", "keepdims")) {
    Shape kept = xt.shape();
    for (int a : argAxes(args[2], xt.ndim(), "sum")) kept[a] = 1;
    c = reshapeTo(c.contiguous(), kept);
  }
  // A broadcast view (no copy): the ops that consume it read it through its strides.
  Tensor b = broadcastTo(c, xt.shape(), "grad");
  return makeTensor(b.dtype() == xt.dtype() ? b : astype(b, xt.dtype()));
}

// max/min: the cotangent goes to the elements equal to the result, shared among ties. For
// the builtin max(*args): one tensor reduces; several values (or one sequence) compare,
// and the first largest takes it.
Value prim_MinMaxBwd(CallContext& cx, Value* args) {
  const Value &ct = args[0], &x = args[1], &out = args[2];
  if (ct.isNone()) return ct;
  if (x.is(VKind::Tuple) && seqItems(x).size() == 1 && seqItems(x)[0].is(VKind::Tensor)) {
    Value inner[5] = {ct, seqItems(x)[0], out, args[3], args[4]};
    return makeTuple({prim_MinMaxBwd(cx, inner)});
  }
  if (x.is(VKind::Tensor)) {
    if (!floatTensor(x)) return Value::none();
    const Tensor& xt = tensorOf(x);
    Value keep[4] = {out, x, args[3], args[4]};
    Tensor ob = tensorOf(prim_SumBwd(cx, keep));  // the result broadcast back
    Tensor mask = binary(BinOp::Eq, xt, ob);
    std::vector<int> axes = argAxes(args[3], xt.ndim(), "max");
    Tensor count = reduce(RedOp::Sum, mask, axes, true, "max");
    Value cb[4] = {ct, x, args[3], args[4]};
    Tensor share = binary(BinOp::Div, tensorOf(prim_SumBwd(cx, cb)), broadcastTo(count, xt.shape(), "max"));
    return makeTensor(astype(binary(BinOp::Mul, share, mask), xt.dtype()));
  }
  // Python's max over items.
  const Value& items = isSeq(x) && seqItems(x).size() == 1 && isSeq(seqItems(x)[0]) ? seqItems(x)[0] : x;
  if (!isSeq(items)) return Value::none();
  std::vector<Value> cts(seqItems(items).size());
  for (size_t i = 0; i < cts.size(); ++i)
    if (valueEquals(seqItems(items)[i], out)) {
      cts[i] = unbroadcast(ct, seqItems(items)[i]);
      break;
    }
  Value res = items.is(VKind::List) ? makeList(std::move(cts)) : makeTuple(std::move(cts));
  return &items == &x ? res : makeTuple({res});
}

// x @ y: ct_x = ct @ y^T, ct_y = x^T @ ct, vectors taken as rows (x) or columns (y), batch
// axes summed back to each operand's shape.
Value prim_MatMulBwd(CallContext&, Value* args) {
  const Value& ctv = args[0];
  int64_t which = args[3].asInt();
  const Value& self = which == 0 ? args[1] : args[2];
  if (ctv.isNone() || !floatTensor(self)) return Value::none();
  Tensor x = argTensor(args[1], "matmul", "x"), y = argTensor(args[2], "matmul", "y");
  Tensor c = argTensor(ctv, "matmul", "ct");
  Tensor X = x.ndim() == 1 ? reshapeTo(x, Shape{1, x.dim(0)}) : x;
  Tensor Y = y.ndim() == 1 ? reshapeTo(y, Shape{y.dim(0), 1}) : y;
  Shape cs = c.shape();
  if (x.ndim() == 1) cs.insert(cs.end() - (y.ndim() == 1 ? 0 : 1), 1);
  if (y.ndim() == 1) cs.push_back(1);
  Tensor C = reshapeTo(c.contiguous(), cs);
  auto swapLast = [](const Tensor& t) {
    std::vector<int> perm(t.ndim());
    std::iota(perm.begin(), perm.end(), 0);
    std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
    return permute(t, perm);
  };
  Tensor g = which == 0 ? matmul(C, swapLast(Y)) : matmul(swapLast(X), C);
  const Tensor& target = which == 0 ? x : y;
  Shape ts = which == 0 ? X.shape() : Y.shape();
  Tensor s = reshapeTo(sumToShape(g, ts).contiguous(), target.shape());
  return makeTensor(s.dtype() == target.dtype() ? s : astype(s, target.dtype()));
}

// The cotangent of obj[index]: zeros of obj's structure with ct at index.
Value prim_GetAttrBwd(CallContext&, Value* args);

Value prim_GetItemBwd(CallContext& cx, Value* args) {
  const Value &ct = args[0], &obj = args[1], &index = args[2];
  if (ct.isNone()) return ct;
  // The transpose of __ct_index by an attribute name (x.T, a record's field): __getattr_bwd.
  if (index.is(VKind::Str) && (obj.is(VKind::Tensor) || obj.is(VKind::Record))) return prim_GetAttrBwd(cx, args);
  if (obj.is(VKind::Tensor)) {
    if (!floatTensor(obj)) return Value::none();
    const Tensor& x = tensorOf(obj);
    DType dt = x.dtype() == DType::F64 ? DType::F64 : DType::F32;
    Tensor g = indexBackward(x, index, astype(argTensor(ct, "getitem", "ct"), dt), dt);
    return makeTensor(g.dtype() == x.dtype() ? g : astype(g, x.dtype()));
  }
  if (isSeq(obj)) {
    const auto& items = seqItems(obj);
    std::vector<Value> out(items.size());
    int64_t n = (int64_t)items.size();
    if (index.is(VKind::Int) || index.is(VKind::Bool)) {
      int64_t k = index.asInt() < 0 ? index.asInt() + n : index.asInt();
      if (k >= 0 && k < n) out[(size_t)k] = ct;
    } else if (index.is(VKind::Slice) && isSeq(ct)) {
      auto* s = index.as<SliceObj>();
      int64_t step = s->step.isNone() ? 1 : s->step.asInt();
      int64_t start = s->lower.isNone() ? (step > 0 ? 0 : n - 1) : s->lower.asInt();
      int64_t stop = s->upper.isNone() ? (step > 0 ? n : -n - 1) : s->upper.asInt();
      if (start < 0) start = std::max<int64_t>(start + n, step > 0 ? 0 : -1);
      if (stop < 0) stop = std::max<int64_t>(stop + n, step > 0 ? 0 : -1);
      start = std::min(start, step > 0 ? n : n - 1);
      stop = std::min(stop, n);
      size_t j = 0;
      for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step)
        if (j < seqItems(ct).size()) out[(size_t)k] = seqItems(ct)[j++];
    }
    return obj.is(VKind::List) ? makeList(std::move(out)) : makeTuple(std::move(out));
  }
  if (obj.is(VKind::Dict)) {
    Value d = makeDict();
    d.as<DictObj>()->set(index, ct);
    return d;
  }
  if (obj.is(VKind::Record) && index.is(VKind::Str)) {  // (the transpose of __ct_index of a record's field)
    Value a[3] = {ct, obj, index};
    return prim_GetAttrBwd(cx, a);
  }
  return Value::none();
}

// The cotangent of obj.name: a record of obj's class with only that field (a method's
// cotangent is already its receiver's).
Value prim_GetAttrBwd(CallContext&, Value* args) {
  const Value &ct = args[0], &obj = args[1];
  if (ct.isNone()) return ct;
  if (obj.is(VKind::Tensor)) {  // x.T, or a method (its cotangent is x's); other properties are ints
    const std::string& name = args[2].as<StrObj>()->s;
    if (name == "T") {
      Tensor c = argTensor(ct, "T", "ct");
      std::vector<int> perm(c.ndim());
      std::iota(perm.rbegin(), perm.rend(), 0);
      return makeTensor(permute(c, perm));
    }
    if (name == "shape" || name == "dtype" || name == "ndim" || name == "size") return Value::none();
    return ct;
  }
  if (!obj.is(VKind::Record)) return ct;
  auto* src = obj.as<RecordObj>();
  int f = src->classObj()->fieldIndex(args[2].as<StrObj>()->s);
  if (f < 0) return ct;
  auto* r = new RecordObj();
  Value rv = Value::object(r);
  r->cls = src->cls;
  r->fields.assign(src->fields.size(), Value::none());
  r->fields[(size_t)f] = ct;
  return rv;
}

Value prim_TransposeBwd(CallContext&, Value* args) {
  if (args[0].isNone()) return args[0];
  Tensor c = argTensor(args[0], "transpose", "ct");
  const Value* axes = &args[1];
  if (isSeq(*axes) && seqItems(*axes).size() == 1 && isSeq(seqItems(*axes)[0])) axes = &seqItems(*axes)[0];
  if (!isSeq(*axes) || seqItems(*axes).empty()) {
    std::vector<int> perm(c.ndim());
    std::iota(perm.rbegin(), perm.rend(), 0);
    return makeTensor(permute(c, perm));
  }
  std::vector<int> inv(c.ndim());
  const auto& a = seqItems(*axes);
  for (size_t i = 0; i < a.size(); ++i) inv[(size_t)normAxis(a[i].asInt(), c.ndim())] = (int)i;
  return makeTensor(permute(c, inv));
}

// concat/stack: the piece of ct that came from each input.
Value prim_ConcatBwd(CallContext&, Value* args) {
  const Value &ct = args[0], &xs = args[1];
  bool stacked = argBool(args[3], "stack", "stacked");
  const auto& items = seqItems(xs);
  std::vector<Value> out(items.size());
  if (!ct.isNone()) {
    Tensor c = argTensor(ct, "concat", "ct");
    int axis = normAxis(args[2].asInt(), c.ndim());
    int64_t at = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      Tensor xi = argTensor(items[i], "concat", "xs");
      int64_t len = stacked ? 1 : xi.dim(axis);
      Shape shape = c.shape();
      shape[axis] = len;
      int64_t offset = c.offset() + at * c.strides()[axis];
      Tensor piece = c.view(shape, c.strides(), offset).contiguous();
      if (stacked) piece = reshapeTo(piece, xi.shape());
      out[i] = unbroadcast(makeTensor(piece), items[i]);
      at += len;
    }
  }
  return xs.is(VKind::List) ? makeList(std::move(out)) : makeTuple(std::move(out));
}

// unpack(x, n, star): c holds one cotangent per target (the starred one a list).
static Value unpackBwd(const Value& ct, const Value& x, const Value& starArg) {
  if (ct.isNone() || !isSeq(ct)) return Value::none();
  std::vector<Value> flat;
  int64_t star = starArg.is(VKind::Int) ? starArg.asInt() : -1;
  const auto& c = seqItems(ct);
  for (size_t i = 0; i < c.size(); ++i) {
    if ((int64_t)i == star && isSeq(c[i])) {
      for (const Value& v : seqItems(c[i])) flat.push_back(v);
    } else {
      flat.push_back(c[i]);
    }
  }
  return itemsBack(std::move(flat), x);  // a tuple, a list or a tensor's rows
}

Value prim_UnpackBwd(CallContext&, Value* args) { return unpackBwd(args[0], args[1], args[2]); }

// tensor(data): the cotangent split back into data's nested items (tensors and floats).
static Value tensorNewBwd(const Value& ct, const Value& data) {
  if (ct.isNone()) return ct;
  if (isSeq(data)) {
    Tensor c = argTensor(ct, "tensor", "ct");
    std::vector<Value> out;
    const auto& items = seqItems(data);
    for (size_t i = 0; i < items.size() && c.ndim() > 0; ++i) {
      Shape rest(c.shape().begin() + 1, c.shape().end()), strides(c.strides().begin() + 1, c.strides().end());
      Value row = makeTensor(c.view(rest, strides, c.offset() + (int64_t)i * c.strides()[0]));
      out.push_back(tensorNewBwd(row, items[i]));
    }
    return data.is(VKind::List) ? makeList(std::move(out)) : makeTuple(std::move(out));
  }
  return unbroadcast(ct, data);
}

Value prim_TensorNewBwd(CallContext&, Value* args) { return tensorNewBwd(args[0], args[1]); }

namespace {
// Whether a and b are the same value (objects by identity, scalars by value): how the
// items of sorted's result are traced back to their places in the input.
bool sameValue(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case VKind::Float: case VKind::Int: case VKind::Bool: case VKind::Str: case VKind::None: return valueEquals(a, b);
    default: return a.obj() == b.obj();
  }
}

// A tree of shape's structure holding parts[i] at its i-th leaf position.
Value fromParts(const Value& shape, const std::vector<Value>& parts, size_t& i) {
  switch (shape.kind()) {
    case VKind::None: return Value::none();
    case VKind::Tuple:
    case VKind::List: {
      std::vector<Value> out;
      for (const Value& x : seqItems(shape)) out.push_back(fromParts(x, parts, i));
      return shape.is(VKind::List) ? makeList(std::move(out)) : makeTuple(std::move(out));
    }
    case VKind::Dict: {
      Value d = makeDict();
      for (const auto& [key, x] : shape.as<DictObj>()->entries) d.as<DictObj>()->set(key, fromParts(x, parts, i));
      return d;
    }
    case VKind::Record: {
      auto* o = new RecordObj();
      Value ov = Value::object(o);
      o->cls = shape.as<RecordObj>()->cls;
      for (const Value& x : shape.as<RecordObj>()->fields) o->fields.push_back(fromParts(x, parts, i));
      return ov;
    }
    default: return i < parts.size() ? parts[i++] : Value::none();
  }
}

Value fromParts(const Value& shape, const std::vector<Value>& parts) {
  size_t i = 0;
  return fromParts(shape, parts, i);
}

// The items of a cotangent of a sequence or a tensor (its rows), for the transposes.
std::vector<Value> ctItems(const Value& c) {
  if (isSeq(c)) return std::vector<Value>(seqItems(c).begin(), seqItems(c).end());
  std::vector<Value> rows;
  if (c.is(VKind::Tensor) && tensorOf(c).ndim() > 0) {
    const Tensor& t = tensorOf(c);
    Shape rest(t.shape().begin() + 1, t.shape().end()), strides(t.strides().begin() + 1, t.strides().end());
    for (int64_t i = 0; i < t.dim(0); ++i) rows.push_back(makeTensor(t.view(rest, strides, t.offset() + i * t.strides()[0])));
  }
  return rows;
}

// kind^T: the transposes of __seq_bwd's kinds, which run the sequence operation forward
// on c (the cotangent of x); x here is (the cotangent __seq_bwd received, its x).
Value seqBwdTranspose(const Value& c, const Value& x, const std::string& kind) {
  const Value &like = seqItems(x)[0], &orig = seqItems(x)[1];
  if (kind == "zip") {  // c: one cotangent per iterable -> one tuple per position
    std::vector<std::vector<Value>> cols;
    for (const Value& ck : ctItems(c)) cols.push_back(ctItems(ck));
    size_t n = isSeq(like) ? seqItems(like).size() : 0;
    std::vector<Value> out;
    for (size_t j = 0; j < n; ++j) {
      std::vector<Value> t;
      for (const auto& col : cols) t.push_back(j < col.size() ? col[j] : Value::none());
      out.push_back(makeTuple(std::move(t)));
    }
    return makeList(std::move(out));
  }
  if (kind == "tree_leaves") {
    std::vector<Value> leaves;
    std::function<void(const Value&, const Value&)> walk = [&](const Value& t, const Value& cv) {
      switch (t.kind()) {
        case VKind::None: return;
        case VKind::Tuple: case VKind::List:
          for (size_t i = 0; i < seqItems(t).size(); ++i)
            walk(seqItems(t)[i], isSeq(cv) && i < seqItems(cv).size() ? seqItems(cv)[i] : Value::none());
          return;
        case VKind::Dict:
          for (const auto& [k, v] : t.as<DictObj>()->entries) {
            const Value* f = cv.is(VKind::Dict) ? cv.as<DictObj>()->find(k) : nullptr;
            walk(v, f ? *f : Value::none());
          }
          return;
        case VKind::Record:
          for (size_t i = 0; i < t.as<RecordObj>()->fields.size(); ++i)
            walk(t.as<RecordObj>()->fields[i], cv.is(VKind::Record) ? cv.as<RecordObj>()->fields[i] : Value::none());
          return;
        default: leaves.push_back(cv);
      }
    };
    walk(orig, c);
    return makeList(std::move(leaves));
  }
  if (kind == "dict") return Value::none();  // (not needed: dict's own rule hands c on)
  if (kind == "repeat@0" || kind == "repeat@1") {  // c: the sequence's ct -> c repeated to like's length
    std::vector<Value> items = ctItems(c), out;
    size_t n = isSeq(like) ? seqItems(like).size() : 0;
    for (size_t i = 0; i < n && !items.empty(); ++i) out.push_back(items[i % items.size()]);
    return like.is(VKind::Tuple) ? makeTuple(std::move(out)) : makeList(std::move(out));
  }
  if (kind == "concat@0" || kind == "concat@1") {
    // orig: (a, b); c: operand i's ct -> the ct of a + b: c's items placed after a's (@1)
    // or before b's (@0) when the operands were sequences; otherwise the transpose of
    // unbroadcast, c broadcast back to like's shape.
    const Value& a = seqItems(orig)[0];
    const Value& opnd = seqItems(orig)[kind == "concat@1" ? 1 : 0];
    if (isSeq(opnd)) {
      std::vector<Value> out;
      if (kind == "concat@1") out.assign(isSeq(a) ? seqItems(a).size() : 0, Value::none());
      for (const Value& v : ctItems(c)) out.push_back(v);
      if (kind == "concat@0" && isSeq(seqItems(orig)[1])) out.resize(out.size() + seqItems(seqItems(orig)[1]).size());
      return like.is(VKind::Tuple) ? makeTuple(std::move(out)) : makeList(std::move(out));
    }
    return unbroadcast(ctAdd(c, zerosLike(like)), like);
  }
  if (kind == "unpack") {  // orig: (x, star); like: one ct per target -> c's items regrouped so
    std::vector<Value> items = ctItems(c);
    int64_t n = isSeq(like) ? (int64_t)seqItems(like).size() : (int64_t)items.size();
    int64_t star = seqItems(orig)[1].is(VKind::Int) ? seqItems(orig)[1].asInt() : -1;
    if (star >= 0 && star < n) {
      int64_t rest = (int64_t)items.size() - (n - 1);
      std::vector<Value> mid(items.begin() + star, items.begin() + star + rest);
      items.erase(items.begin() + star, items.begin() + star + rest);
      items.insert(items.begin() + star, makeList(std::move(mid)));
    }
    return makeTuple(std::move(items));
  }
  std::vector<Value> items = ctItems(c);
  if (kind == "sorted") {  // c in the input's order -> the result's order
    const Value& y = seqItems(orig)[1];
    std::vector<Value> xs = iterToVector(seqItems(orig)[0], "sorted");
    std::vector<bool> used(xs.size(), false);
    std::vector<Value> out;
    for (const Value& v : seqItems(y)) {
      Value got;
      for (size_t i = 0; i < xs.size(); ++i)
        if (!used[i] && sameValue(xs[i], v)) {
          used[i] = true;
          got = i < items.size() ? items[i] : Value::none();
          break;
        }
      out.push_back(got);
    }
    return makeList(std::move(out));
  }
  if (kind == "enumerate")
    for (Value& v : items) v = makeTuple({Value::none(), v});
  if (kind == "reversed") std::reverse(items.begin(), items.end());
  return like.is(VKind::Tuple) ? makeTuple(std::move(items)) : makeList(std::move(items));
}
}  // namespace

Value prim_SeqBwd(CallContext&, Value* args) {
  const Value &ct = args[0], &x = args[1];
  const std::string& kind = args[2].as<StrObj>()->s;
  if (ct.isNone()) return Value::none();
  if (kind.size() > 2 && kind.compare(kind.size() - 2, 2, "^T") == 0)
    return seqBwdTranspose(ct, x, kind.substr(0, kind.size() - 2));
  if (kind == "unpack") return unpackBwd(ct, seqItems(x)[0], seqItems(x)[1]);  // x: (x, star)
  if (kind == "concat@0" || kind == "concat@1") {
    // x: (a, b); ct of a + b, known only here to be a sequence's (split at len(a)) or a
    // tensor's or number's (summed to the operand's shape).
    const Value& a = seqItems(x)[0];
    const Value& opnd = seqItems(x)[kind == "concat@1" ? 1 : 0];
    if (isSeq(opnd) && isSeq(ct) && kind == "concat@1") {
      size_t n = isSeq(a) ? seqItems(a).size() : 0;
      const auto& c = seqItems(ct);
      std::vector<Value> rest(c.begin() + (std::ptrdiff_t)std::min(n, c.size()), c.end());
      return unbroadcast(makeList(std::move(rest)), opnd);
    }
    return unbroadcast(ct, opnd);
  }
  if (kind == "repeat@0" || kind == "repeat@1") {
    // x: (a, b), one of them a sequence s repeated n times: the ct of item i of s is the
    // sum of the cts of items i, i + len(s), i + 2 len(s), ...
    const Value& s = seqItems(x)[kind == "repeat@1" ? 1 : 0];
    if (!isSeq(ct) || !isSeq(s)) return Value::none();
    const auto& c = seqItems(ct);
    size_t len = seqItems(s).size();
    std::vector<Value> out(len);
    for (size_t i = 0; i < c.size() && len > 0; ++i) out[i % len] = ctAdd(out[i % len], c[i]);
    return itemsBack(std::move(out), s);
  }
  if (kind == "tree_leaves") {  // x: the tree; ct: its leaves' cotangents, in order
    if (!isSeq(ct)) return Value::none();
    return fromParts(x, seqItems(ct));
  }
  if (kind == "dict") {  // x: (positional args, kwargs); ct: the dict's cotangent
    const auto& pos = seqItems(seqItems(x)[0]);
    if (pos.empty() || !ct.is(VKind::Dict)) return makeTuple(std::vector<Value>(pos.size()));
    if (pos[0].is(VKind::Dict)) return makeTuple({ct});
    std::vector<Value> pairs;  // dict of (key, value) pairs: each value's ct
    for (const Value& kv : iterToVector(pos[0], "dict")) {
      const Value* v = ct.as<DictObj>()->find(iterItem(kv, 0));
      pairs.push_back(makeTuple({Value::none(), v ? *v : Value::none()}));
    }
    return makeTuple({pos[0].is(VKind::Tuple) ? makeTuple(std::move(pairs)) : makeList(std::move(pairs))});
  }
  if (kind == "sorted") {  // x: (iterable, result); ct in the result's order
    if (!isSeq(ct)) return Value::none();
    const Value& y = seqItems(x)[1];
    std::vector<Value> xs = iterToVector(seqItems(x)[0], "sorted");
    std::vector<bool> used(xs.size(), false);
    std::vector<Value> out(xs.size());
    for (size_t j = 0; j < seqItems(y).size() && j < seqItems(ct).size(); ++j)
      for (size_t i = 0; i < xs.size(); ++i)
        if (!used[i] && sameValue(xs[i], seqItems(y)[j])) {
          used[i] = true;
          out[i] = seqItems(ct)[j];
          break;
        }
    return itemsBack(std::move(out), seqItems(x)[0]);
  }
  if (!isSeq(ct)) return Value::none();
  std::vector<Value> c(seqItems(ct).begin(), seqItems(ct).end());
  if (kind == "enumerate") {
    for (Value& v : c) v = isSeq(v) && seqItems(v).size() == 2 ? seqItems(v)[1] : Value::none();
    return itemsBack(std::move(c), x);
  }
  if (kind == "reversed") {
    std::reverse(c.begin(), c.end());
    return itemsBack(std::move(c), x);
  }
  if (kind == "zip") {  // x: the tuple of iterables; c: one tuple per position
    const auto& its = seqItems(x);
    std::vector<Value> out;
    for (size_t k = 0; k < its.size(); ++k) {
      std::vector<Value> col;
      for (const Value& v : c) col.push_back(isSeq(v) && k < seqItems(v).size() ? seqItems(v)[k] : Value::none());
      out.push_back(itemsBack(std::move(col), its[k]));
    }
    return makeTuple(std::move(out));
  }
  return itemsBack(std::move(c), x);
}

// ------------------------------------------------------------------ neural-network operations

namespace {
Value tensorOrNone(const Value& like, Tensor t) {
  if (!floatTensor(like)) return Value::none();
  return unbroadcast(makeTensor(std::move(t)), like);
}
// A per-channel vector (C,) shaped to broadcast along axis 1 of a rank-nd tensor.
Tensor channels(const Tensor& v, int nd) {
  Shape s(nd, 1);
  s[1] = v.numel();
  return reshapeTo(v.contiguous(), s);
}
// Sum over every axis but 1 (the channels), as a (C,) vector.
Tensor perChannel(const Tensor& t) {
  std::vector<int> axes;
  for (int d = 0; d < t.ndim(); ++d)
    if (d != 1) axes.push_back(d);
  return reduce(RedOp::Sum, t, axes, false, "batch_norm");
}
}  // namespace

// c [x > 0] as the product c * 1 or c * 0 (so -0, nan and inf come out as multiply's).
// x > 0 is read off x's bits (0 < bits <= those of +inf; nan, +-0 and negatives are not), so
// that the loop vectorises: a float compare in it would not. Not inlined: __restrict, which
// the vectorisation needs, would be lost.
template <class T>
__attribute__((noinline)) static void reluBackwardRange(T* __restrict o, const T* __restrict c,
                                                        const T* __restrict x, int64_t b0, int64_t b1) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  constexpr U kInf = sizeof(T) == 4 ? U(0x7F800000u) : U(0x7FF0000000000000ull);
  constexpr U kOne = sizeof(T) == 4 ? U(0x3F800000u) : U(0x3FF0000000000000ull);  // 1.0
  for (int64_t i = b0; i < b1; ++i) {
    U b, w;
    std::memcpy(&b, x + i, sizeof b);
    w = b - 1 < kInf ? kOne : U(0);
    T f;
    std::memcpy(&f, &w, sizeof f);
    o[i] = c[i] * f;
  }
}

template <class T>
static void reluBackwardLoop(T* o, const T* c, const T* x, int64_t n) {
  parallelFor(n, 4096, [=](int64_t b0, int64_t b1) { reluBackwardRange(o, c, x, b0, b1); });
}

// relu's cotangent: multiply(ct, greater(x, 0)), the products of relu's rule, in one pass
// over same-shape contiguous f32/f64 tensors (no mask tensor), else by those two primitives.
static Value reluBackward(CallContext& cx, const Value& ctv, const Value& xv) {
  if (ctv.is(VKind::Tensor) && xv.is(VKind::Tensor)) {
    const Tensor &ct = tensorOf(ctv), &x = tensorOf(xv);
    DType dt = x.dtype();
    if ((dt == DType::F32 || dt == DType::F64) && ct.dtype() == dt && ct.shape() == x.shape() && ct.isContiguous() &&
        x.isContiguous()) {
      Tensor out = Tensor::empty(dt, x.shape());
      if (dt == DType::F32) reluBackwardLoop(out.ptr<float>(), ct.ptr<float>(), x.ptr<float>(), x.numel());
      else reluBackwardLoop(out.ptr<double>(), ct.ptr<double>(), x.ptr<double>(), x.numel());
      return makeTensor(std::move(out));
    }
  }
  Value gt[2] = {xv, Value::integer(0)};
  Value mul[2] = {ctv, prim_Gt(cx, gt)};
  return prim_Mul(cx, mul);
}

// __nn_bwd(ct, name, args): the cotangents of name(*args), one per parameter (for "relu",
// the cotangent of its one argument).
Value prim_NNBwd(CallContext& cx, Value* args) {
  std::string kind = args[1].as<StrObj>()->s;
  // "name@i": only the cotangent of argument i is wanted (the others stay None).
  int only = -1;
  if (size_t at = kind.find('@'); at != std::string::npos) {
    only = std::stoi(kind.substr(at + 1));
    kind.resize(at);
  }
  auto wanted = [&](int i) { return only < 0 || only == i; };
  const auto& a = seqItems(args[2]);
  std::vector<Value> out(a.size());
  // "relu" (x): x's cotangent itself, not a tuple of one, so that relu's rule is one node.
  if (kind == "relu") {
    if (a.size() != 1) raise(DiagId::ValueError, SourceLoc{}, {"__nn_bwd: relu takes one argument (x)"});
    return args[0].isNone() ? Value::none() : reluBackward(cx, args[0], a[0]);
  }
  if (args[0].isNone()) return makeTuple(std::move(out));
  Tensor ct = argTensor(args[0], kind.c_str(), "ct");
  if (kind == "conv2d") {  // x, w, b, stride, padding
    Tensor x = argTensor(a[0], "conv2d", "x"), w = argTensor(a[1], "conv2d", "w");
    int64_t sh, sw, ph, pw;
    pairArg(a[3], "conv2d", "stride", &sh, &sw);
    pairArg(a[4], "conv2d", "padding", &ph, &pw);
    if (wanted(0) && floatTensor(a[0])) out[0] = tensorOrNone(a[0], conv2dBackward(ct, x, w, sh, sw, ph, pw, true));
    if (wanted(1) && floatTensor(a[1])) out[1] = tensorOrNone(a[1], conv2dBackward(ct, x, w, sh, sw, ph, pw, false));
    if (wanted(2) && !a[2].isNone()) out[2] = tensorOrNone(a[2], reduce(RedOp::Sum, ct, {0, 2, 3}, false, "conv2d"));
  } else if (kind == "max_pool2d" || kind == "avg_pool2d") {  // x, kernel, stride, padding
    Window2d win;
    windowArg(a[1], a[2], a[3], kind.c_str(), &win);
    out[0] = tensorOrNone(a[0], pool2dBackward(ct, argTensor(a[0], kind.c_str(), "x"), kind == "max_pool2d", win));
  } else if (kind == "layer_norm") {  // x, gamma, beta, eps
    Tensor x = argTensor(a[0], "layer_norm", "x"), g, dx, dg, db;
    if (!a[1].isNone()) g = argTensor(a[1], "layer_norm", "gamma");
    layerNormBackward(ct, x, a[1].isNone() ? nullptr : &g, argFloat(a[3], "layer_norm", "eps"), &dx, &dg, &db);
    out[0] = tensorOrNone(a[0], dx);
    if (!a[1].isNone()) out[1] = tensorOrNone(a[1], dg);
    if (!a[2].isNone()) out[2] = tensorOrNone(a[2], db);
  } else if (kind == "batch_norm") {  // x, mean, var, gamma, beta, eps: y = (x - m) s g + b, s = rsqrt(var + eps)
    Tensor x = argTensor(a[0], "batch_norm", "x");
    int nd = x.ndim();
    Tensor m = channels(argTensor(a[1], "batch_norm", "mean"), nd), v = channels(argTensor(a[2], "batch_norm", "var"), nd);
    Tensor s = unary(UnOp::Rsqrt, binary(BinOp::Add, v, Scalar::real(argFloat(a[5], "batch_norm", "eps"))));
    Tensor g = a[3].isNone() ? Tensor::scalar(s.dtype(), 1.0) : channels(argTensor(a[3], "batch_norm", "gamma"), nd);
    Tensor xm = binary(BinOp::Sub, x, m), sg = binary(BinOp::Mul, s, g);
    out[0] = tensorOrNone(a[0], binary(BinOp::Mul, ct, sg));
    Tensor sumct = perChannel(ct), sumctxm = perChannel(binary(BinOp::Mul, ct, xm));
    Tensor sv = reshapeTo(s.contiguous(), Shape{s.numel()});
    Tensor gv = a[3].isNone() ? Tensor::scalar(s.dtype(), 1.0) : argTensor(a[3], "batch_norm", "gamma");
    out[1] = tensorOrNone(a[1], unary(UnOp::Neg, binary(BinOp::Mul, sumct, binary(BinOp::Mul, sv, gv))));
    Tensor s3 = binary(BinOp::Mul, binary(BinOp::Mul, sv, sv), sv);
    out[2] = tensorOrNone(a[2], binary(BinOp::Mul, binary(BinOp::Mul, sumctxm, gv), binary(BinOp::Mul, s3, Scalar::real(-0.5))));
    if (!a[3].isNone()) out[3] = tensorOrNone(a[3], binary(BinOp::Mul, sumctxm, sv));
    if (!a[4].isNone()) out[4] = tensorOrNone(a[4], sumct);
  } else if (kind == "max_pool2d^T") {  // the transpose of max_pool2d's: ct (x's shape) read at the maxima
    Window2d win;
    windowArg(a[1], a[2], a[3], kind.c_str(), &win);
    out[0] = makeTensor(pool2dGatherMax(ct, argTensor(a[0], "max_pool2d", "x"), win));
  } else if (kind == "gelu_grad") {  // x, approximate: ct gelu''(x) (gelu's second-order rule)
    Tensor x = argTensor(a[0], "gelu", "x");
    DType dt = x.dtype() == DType::F64 ? DType::F64 : DType::F32;
    Tensor xc = astype(x, DType::F64).contiguous(), cc = astype(broadcastTo(ct, x.shape(), "gelu"), DType::F64).contiguous();
    Tensor d = Tensor::empty(DType::F64, x.shape());
    bool approx = argBool(a[1], "gelu", "approximate");
    for (int64_t i = 0; i < x.numel(); ++i) {
      double v = xc.ptr<double>()[i], g2;
      if (approx) {  // g' = s + 2 v q z', s = sigmoid(2z), q = s(1-s): g'' = 4 z' q + 4 v z'^2 q (1 - 2s) + 2 v q z''
        double k = std::sqrt(2.0 / M_PI), z = k * (v + 0.044715 * v * v * v), s = 1.0 / (1.0 + std::exp(-2.0 * z));
        double q = s * (1.0 - s), z1 = k * (1.0 + 3.0 * 0.044715 * v * v), z2 = k * 6.0 * 0.044715 * v;
        g2 = 4.0 * z1 * q + 4.0 * v * z1 * z1 * q * (1.0 - 2.0 * s) + 2.0 * v * q * z2;
      } else {  // (Phi(x) + x phi(x))' = phi(x) (2 - x^2)
        g2 = std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI) * (2.0 - v * v);
      }
      d.ptr<double>()[i] = g2 * cc.ptr<double>()[i];
    }
    out[0] = tensorOrNone(a[0], astype(d, dt));
  } else if (kind == "gelu") {  // x, approximate
    Tensor x = argTensor(a[0], "gelu", "x");
    DType dt = x.dtype() == DType::F64 ? DType::F64 : DType::F32;
    Tensor xc = astype(x, DType::F64).contiguous(), cc = astype(broadcastTo(ct, x.shape(), "gelu"), DType::F64).contiguous();
    Tensor d = Tensor::empty(DType::F64, x.shape());
    bool approx = argBool(a[1], "gelu", "approximate");
    for (int64_t i = 0; i < x.numel(); ++i) {
      double v = xc.ptr<double>()[i], g;
      if (approx) {  // x sigmoid(2z), z = sqrt(2/pi) (x + 0.044715 x^3)
        double k = std::sqrt(2.0 / M_PI), z = k * (v + 0.044715 * v * v * v), s = 1.0 / (1.0 + std::exp(-2.0 * z));
        g = s + v * s * (1.0 - s) * 2.0 * k * (1.0 + 3.0 * 0.044715 * v * v);
      } else {  // Phi(x) + x phi(x)
        g = 0.5 * std::erfc(-v / std::sqrt(2.0)) + v * std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI);
      }
      d.ptr<double>()[i] = g * cc.ptr<double>()[i];
    }
    out[0] = tensorOrNone(a[0], astype(d, dt));
  } else if (kind == "clip") {  // x, lo, hi: as minimum(maximum(x, lo), hi), ties share
    const Value &x = a[0], &lo = a[1], &hi = a[2];
    auto share = [&](BinOp strict, const Value& u, const Value& v) {  // 1 where u strict v, 1/2 where equal
      Scalar su, sv;
      auto cmp = [&](BinOp op) {
        if (asScalar(u, &su) && asScalar(v, &sv)) return Tensor::scalar(DType::F32, 0.0);  // unused: x is a tensor
        if (asScalar(v, &sv)) return binary(op, argTensor(u, "clip", "x"), sv);
        if (asScalar(u, &su)) return binary(op, su, argTensor(v, "clip", "x"));
        return binary(op, argTensor(u, "clip", "x"), argTensor(v, "clip", "x"));
      };
      return binary(BinOp::Add, cmp(strict), binary(BinOp::Mul, cmp(BinOp::Eq), Scalar::real(0.5)));
    };
    Tensor wx = Tensor::scalar(DType::F32, 1.0);
    if (!lo.isNone()) wx = binary(BinOp::Mul, wx, share(BinOp::Gt, x, lo));
    if (!hi.isNone()) wx = binary(BinOp::Mul, wx, share(BinOp::Lt, x, hi));
    out[0] = unbroadcast(makeTensor(binary(BinOp::Mul, ct, wx)), x);
    if (!lo.isNone()) {
      Tensor wl = share(BinOp::Gt, lo, x);
      if (!hi.isNone()) wl = binary(BinOp::Mul, wl, share(BinOp::Lt, x, hi));
      out[1] = unbroadcast(makeTensor(binary(BinOp::Mul, ct, wl)), lo);
    }
    if (!hi.isNone()) out[2] = unbroadcast(makeTensor(binary(BinOp::Mul, ct, share(BinOp::Gt, x, hi))), hi);
  }
  return makeTuple(std::move(out));
}

// ------------------------------------------------------------------ loops
// A loop body returns (go_on, carry). Under J it returns ((go_on, carry), bprop); the
// bprops of all iterations form the stack (a list) the backward pass walks in reverse.

namespace {
// One J call of a loop body: the new carry, whether to go on; pushes its bprop.
bool jstep(CallContext& cx, const Value& body, Value* args, size_t nargs, Value& carry, std::vector<Value>& stack) {
  Value r = cx.jcall(body, args, nargs, nullptr);
  const auto& out = seqItems(seqItems(r)[0]);
  stack.push_back(seqItems(r)[1]);
  carry = out[1];
  return valueTruth(out[0]);
}

// The arguments of one call of a loop body: the values a lifted body takes first
// (`lifted`, a tuple, None for a body that was not lifted: autodiff/Lift.h), then the
// carry and, for scan, the item.
// (On the stack where there are few: a while loop's iterations are cheap.)
class BodyArgs {
 public:
  BodyArgs(const Value& lifted, std::initializer_list<Value> rest) {
    size_t k = lifted.isNone() ? 0 : seqItems(lifted).size();
    n_ = k + rest.size();
    if (n_ > kSmall) big_.resize(n_);
    Value* d = data();
    for (size_t j = 0; j < k; ++j) d[j] = seqItems(lifted)[j];
    std::copy(rest.begin(), rest.end(), d + k);
  }
  Value* data() { return n_ > kSmall ? big_.data() : small_; }
  size_t size() const { return n_; }

 private:
  static constexpr size_t kSmall = 4;
  Value small_[kSmall];
  std::vector<Value> big_;
  size_t n_;
};
size_t liftedCount(const Value& lifted) { return lifted.isNone() ? 0 : seqItems(lifted).size(); }
// __loop_j_bprop's kind: "scan", ..., with "#k" where the body takes k lifted values first.
Value loopKind(const char* kind, size_t k) { return makeStr(k ? std::string(kind) + "#" + std::to_string(k) : std::string(kind)); }
}  // namespace

// scan(body, iterable, init, lifted) under J: (carry, (bprops, iterable)).
Value prim_ScanJ(CallContext& cx, Value* args) {
  Value iterable = args[1].is(VKind::Str) ? makeList(iterToVector(args[1], "for")) : args[1];
  int64_t n;
  if (!iterLength(iterable, &n)) raise(DiagId::NotIterable, SourceLoc{}, {typeNameOf(iterable)});
  Value carry = args[2];
  std::vector<Value> stack;
  for (int64_t i = 0; i < n; ++i) {
    BodyArgs a(args[3], {carry, iterItem(iterable, i)});
    if (!jstep(cx, args[0], a.data(), a.size(), carry, stack)) break;
  }
  return makeTuple({carry, makeTuple({makeList(std::move(stack)), iterable})});
}

Value narrowedBprop(const Value& bp, uint64_t keep, uint64_t all) {
  if ((keep & all) == all || !bp.is(VKind::Closure)) return bp;
  const ClosureObj* cl = bp.as<ClosureObj>();
  ir::Graph* b = const_cast<ir::Graph*>(cl->graph);
  ir::Graph* v = autodiff::narrowBprop(b, keep & all);
  if (!v || v == b) return bp;
  auto* nc = new ClosureObj();
  Value out = Value::object(nc);
  nc->graph = v;
  nc->defaults = cl->defaults;
  nc->jworld = cl->jworld;
  nc->jinner = cl->jinner;
  nc->captured.reserve(v->freeVars.size());
  for (ir::Node* fv : v->freeVars) {
    auto at = std::find(b->freeVars.begin(), b->freeVars.end(), fv);
    nc->captured.push_back(at != b->freeVars.end() ? cl->captured[(size_t)(at - b->freeVars.begin())] : Value::undef());
  }
  return out;
}

namespace {
// The number of lifted values (`nlifted`, at most 56: autodiff/LiftLoops.cpp) and the
// mask of wanted results (bits 0-2, then one per lifted value).
size_t nliftedArg(const Value& k) { return k.is(VKind::Int) ? (size_t)std::clamp<int64_t>(k.asInt(), 0, 56) : 0; }
uint64_t wantedArg(const Value& w, size_t k) {
  uint64_t all = (uint64_t(1) << (3 + k)) - 1;
  return w.is(VKind::Int) ? (uint64_t)w.asInt() & all : all;
}
// The bits of an iteration's bprop result (ct of the body, of each lifted value, of the
// carry, [of the item]) wanted results need: bit 0 the body's, 1..k the lifted values'.
uint64_t keepLifted(uint64_t wanted, size_t k) { return (wanted & 1) | ((wanted >> 3) & ((uint64_t(1) << k) - 1)) << 1; }
}  // namespace

// -> (ct of the body closure, ct of the iterable, ct of init, ct of each of the nlifted
// lifted values); those whose bit in `wanted` is clear are None and not computed: each
// body bprop returns (ct of the body, ct of each lifted value, ct of the carry, ct of the
// item), and the carry's at iteration 0 is init's; the lifted values' are summed.
Value prim_ScanBwd(CallContext& cx, Value* args) {
  const auto& stack = seqItems(seqItems(args[0])[0]);
  const Value& iterable = seqItems(args[0])[1];
  Value ct = args[1], env;
  size_t k = nliftedArg(args[3]);
  uint64_t wanted = wantedArg(args[2], k), carryBit = uint64_t(1) << (k + 1);
  std::vector<Value> items(stack.size()), lifted(k);
  for (size_t i = stack.size(); i-- > 0;) {
    uint64_t keep = keepLifted(wanted, k) | carryBit | (wanted >> 1 & 1) << (k + 2);
    if (i == 0 && !(wanted & 4)) keep &= ~carryBit;
    Value cts = cx.call(narrowedBprop(stack[i], keep, (carryBit << 2) - 1), {makeTuple({Value::none(), ct})});
    env = ctAdd(env, item(cts, 0));
    for (size_t j = 0; j < k; ++j) lifted[j] = ctAdd(lifted[j], item(cts, 1 + j));
    ct = item(cts, k + 1);
    items[i] = item(cts, k + 2);
  }
  if (!(wanted & 1)) env = Value::none();
  if (!(wanted & 4)) ct = Value::none();
  Value its = Value::none();
  if (wanted & 2) {  // the iterable's cotangent: one per item (zeros past a break)
    if (isSeq(iterable)) items.resize(seqItems(iterable).size());
    its = itemsBack(std::move(items), iterable);
  }
  std::vector<Value> out{env, its, ct};
  for (size_t j = 0; j < k; ++j) out.push_back(wanted >> (3 + j) & 1 ? lifted[j] : Value::none());
  return makeTuple(std::move(out));
}

// while_loop(cond, body, init) under J: cond runs (its result is a bool), body under J
// (a lifted body takes the values of `lifted` first).
Value prim_WhileJ(CallContext& cx, Value* args) {
  Value carry = args[2];
  std::vector<Value> stack;
  while (true) {
    Value c = carry;
    Value r = cx.jcall(args[0], &c, 1, nullptr);
    if (!valueTruth(seqItems(r)[0])) break;
    BodyArgs b(args[3], {carry});
    if (!jstep(cx, args[1], b.data(), b.size(), carry, stack)) break;
  }
  return makeTuple({carry, makeList(std::move(stack))});
}

// -> (None, ct of the body closure, ct of init, ct of each lifted value), `wanted` as for
// __scan_bwd; each body bprop returns (ct of the body, ct of each lifted value, ct of the
// carry).
Value prim_WhileBwd(CallContext& cx, Value* args) {
  const auto& stack = seqItems(args[0]);
  Value ct = args[1], env;
  size_t k = nliftedArg(args[3]);
  uint64_t wanted = wantedArg(args[2], k), carryBit = uint64_t(1) << (k + 1);
  std::vector<Value> lifted(k);
  for (size_t i = stack.size(); i-- > 0;) {
    // (bit 1 of wanted, the body's, is bit 0 of the bprop's result)
    uint64_t keep = keepLifted((wanted & ~uint64_t(1)) | (wanted >> 1 & 1), k) | carryBit;
    if (i == 0 && !(wanted & 4)) keep &= ~carryBit;
    Value cts = cx.call(narrowedBprop(stack[i], keep, (carryBit << 1) - 1), {makeTuple({Value::none(), ct})});
    env = ctAdd(env, item(cts, 0));
    for (size_t j = 0; j < k; ++j) lifted[j] = ctAdd(lifted[j], item(cts, 1 + j));
    ct = item(cts, k + 1);
  }
  if (!(wanted & 2)) env = Value::none();
  if (!(wanted & 4)) ct = Value::none();
  std::vector<Value> out{Value::none(), env, ct};
  for (size_t j = 0; j < k; ++j) out.push_back(wanted >> (3 + j) & 1 ? lifted[j] : Value::none());
  return makeTuple(std::move(out));
}

// ------------------------------------------------------------------ loops, second order
// The four loop primitives above, run by differentiated code, differentiated once more:
// each runs as its primal does, calling the J (outer) of what the primal calls, keeps the
// bprop of every such call, and returns (its primal's result, bprop over its inputs),
// the bprop being __loop_j_bprop(kind, bprops, iterable).

Value prim_ScanJJ(CallContext& cx, Value* args) {
  Value iterable = args[1].is(VKind::Str) ? makeList(iterToVector(args[1], "for")) : args[1];
  int64_t n;
  if (!iterLength(iterable, &n)) raise(DiagId::NotIterable, SourceLoc{}, {typeNameOf(iterable)});
  Value carry = args[2];
  std::vector<Value> stack, bprops;
  for (int64_t i = 0; i < n; ++i) {
    BodyArgs a(args[3], {carry, iterItem(iterable, i)});
    Value r = cx.jcallOuter(args[0], a.data(), a.size(), nullptr, 0, cx.jinnerWorld());
    const Value& primal = seqItems(r)[0];  // ((go_on, carry), bprop of the body)
    stack.push_back(seqItems(primal)[1]);
    bprops.push_back(seqItems(r)[1]);
    carry = seqItems(seqItems(primal)[0])[1];
    if (!valueTruth(seqItems(seqItems(primal)[0])[0])) break;
  }
  Value out = makeTuple({carry, makeTuple({makeList(std::move(stack)), iterable})});
  return makeTuple({out, partialOf(Prim::LoopJBprop, {loopKind("scan", liftedCount(args[3])), makeList(std::move(bprops)), iterable})});
}

Value prim_WhileJJ(CallContext& cx, Value* args) {
  Value carry = args[2];
  std::vector<Value> stack, bprops;
  while (true) {
    Value c = carry;
    Value r = cx.jcallOuter(args[0], &c, 1, nullptr, 0, cx.jinnerWorld());
    if (!valueTruth(seqItems(seqItems(r)[0])[0])) break;
    BodyArgs b(args[3], {carry});
    r = cx.jcallOuter(args[1], b.data(), b.size(), nullptr, 0, cx.jinnerWorld());
    const Value& primal = seqItems(r)[0];
    stack.push_back(seqItems(primal)[1]);
    bprops.push_back(seqItems(r)[1]);
    carry = seqItems(seqItems(primal)[0])[1];
    if (!valueTruth(seqItems(seqItems(primal)[0])[0])) break;
  }
  Value out = makeTuple({carry, makeList(std::move(stack))});
  return makeTuple({out, partialOf(Prim::LoopJBprop, {loopKind("while", liftedCount(args[3])), makeList(std::move(bprops)), Value::none()})});
}

// The backward loops: each iteration's bprop (a closure of the outer world) called
// under J, newest first.
Value prim_ScanBwdJ(CallContext& cx, Value* args) {
  const auto& stack = seqItems(item(args[0], 0));
  Value iterable = item(args[0], 1), ct = args[1], env;
  size_t k = nliftedArg(args[3]);
  std::vector<Value> items(stack.size()), bprops(stack.size()), lifted(k);
  for (size_t i = stack.size(); i-- > 0;) {
    Value a = makeTuple({Value::none(), ct});
    Value r = cx.jcall(stack[i], &a, 1, nullptr);
    const Value& c = seqItems(r)[0];
    bprops[i] = seqItems(r)[1];
    env = ctAdd(env, item(c, 0));
    for (size_t j = 0; j < k; ++j) lifted[j] = ctAdd(lifted[j], item(c, 1 + j));
    ct = item(c, k + 1);
    items[i] = item(c, k + 2);
  }
  if (isSeq(iterable)) items.resize(seqItems(iterable).size());
  std::vector<Value> out{env, itemsBack(std::move(items), iterable), ct};
  out.insert(out.end(), lifted.begin(), lifted.end());
  return makeTuple({makeTuple(std::move(out)),
                    partialOf(Prim::LoopJBprop, {loopKind("scan_bwd", k), makeList(std::move(bprops)), iterable})});
}

Value prim_WhileBwdJ(CallContext& cx, Value* args) {
  const auto& stack = seqItems(args[0]);
  Value ct = args[1], env;
  size_t k = nliftedArg(args[3]);
  std::vector<Value> bprops(stack.size()), lifted(k);
  for (size_t i = stack.size(); i-- > 0;) {
    Value a = makeTuple({Value::none(), ct});
    Value r = cx.jcall(stack[i], &a, 1, nullptr);
    bprops[i] = seqItems(r)[1];
    const Value& c = seqItems(r)[0];
    env = ctAdd(env, item(c, 0));
    for (size_t j = 0; j < k; ++j) lifted[j] = ctAdd(lifted[j], item(c, 1 + j));
    ct = item(c, k + 1);
  }
  std::vector<Value> out{Value::none(), env, ct};
  out.insert(out.end(), lifted.begin(), lifted.end());
  return makeTuple({makeTuple(std::move(out)),
                    partialOf(Prim::LoopJBprop, {loopKind("while_bwd", k), makeList(std::move(bprops)), Value::none()})});
}

// The tree_map kinds of __loop_j_bprop (below, with __tree_map_jj).
Value treeMapJBprop(CallContext& cx, const std::string& kind, const std::vector<Value>& bprops, const Value& info,
                    const Value& ct);

// __loop_j_bprop(kind, bprops, iterable, ct): the cotangents of the loop primitive's
// inputs, running the iterations' bprops in the reverse of the order they ran.
Value prim_LoopJBprop(CallContext& cx, Value* args) {
  std::string kind = args[0].as<StrObj>()->s;
  const auto& bprops = seqItems(args[1]);
  if (kind == "tree_map" || kind == "tree_map_bwd") return treeMapJBprop(cx, kind, bprops, args[2], args[3]);
  size_t k = 0;  // "kind#k": a lifted body taking k values first (loopKind)
  if (size_t at = kind.find('#'); at != std::string::npos) {
    k = (size_t)std::stoul(kind.substr(at + 1));
    kind.resize(at);
  }
  const Value &iterable = args[2], &ct = args[3];
  size_t n = bprops.size();
  if (kind == "scan" || kind == "while") {
    // ct of (carry, stack...): each iteration's bprop gets ((None, ct of its carry), ct of
    // its bprop) and gives (ct of the body, of each lifted value, of the carry[, of the item]).
    Value carry = item(ct, 0), stackCt = kind == "scan" ? item(item(ct, 1), 0) : item(ct, 1), env;
    std::vector<Value> items(n), lifted(k);
    for (size_t i = n; i-- > 0;) {
      Value cts = cx.call(bprops[i], {makeTuple({makeTuple({Value::none(), carry}), item(stackCt, i)})});
      env = ctAdd(env, item(cts, 0));
      for (size_t j = 0; j < k; ++j) lifted[j] = ctAdd(lifted[j], item(cts, 1 + j));
      carry = item(cts, k + 1);
      if (kind == "scan") items[i] = item(cts, k + 2);
    }
    // (the cotangent of `lifted`, the tuple of the lifted values, where there is one)
    std::vector<Value> out;
    if (kind == "while") {
      out = {Value::none(), env, carry};
    } else {
      if (isSeq(iterable)) items.resize(seqItems(iterable).size());
      out = {env, itemsBack(std::move(items), iterable), carry};
    }
    if (k) out.push_back(makeTuple(std::move(lifted)));
    return makeTuple(std::move(out));
  }
  // scan_bwd / while_bwd: ct of (env, [items,] ct, lifted values' cts...); the backward
  // loop ran newest first, so its transpose runs oldest first.
  bool scan = kind == "scan_bwd";
  Value dEnv = item(ct, scan ? 0 : 1), dItems = scan ? item(ct, 1) : Value::none(), dCur = item(ct, 2);
  std::vector<Value> stackCt(n);
  for (size_t i = 0; i < n; ++i) {
    std::vector<Value> d{dEnv};
    for (size_t j = 0; j < k; ++j) d.push_back(item(ct, 3 + j));  // (summed: each iteration's is the sum's)
    d.push_back(dCur);
    if (scan) d.push_back(dItems.isNone() ? Value::none() : iterItem(dItems, (int64_t)i));
    Value cts = cx.call(bprops[i], {makeTuple(std::move(d))});
    stackCt[i] = item(cts, 0);
    dCur = item(item(cts, 1), 1);
  }
  Value stack = makeList(std::move(stackCt));
  return makeTuple({scan ? makeTuple({stack, Value::none()}) : stack, dCur});
}

// For reverse mode's primitives run under JVP (runtime/JvpRuntime.h).
Value ctAddValues(const Value& a, const Value& b) { return ctAdd(a, b); }
Value itemsBackOf(std::vector<Value> items, const Value& x) { return itemsBack(std::move(items), x); }
uint64_t jenterSkip(const Value& argnums, const Value& kind, const Value& args) {
  return argnums.isNone() ? 0 : gradSpec(argnums, Value::boolean(false), kind, args, true).skip;
}

// ------------------------------------------------------------------ tree_map
// tree_map(f, tree, *rest) under J: the walk of prim_TreeMap (same checks, same order of
// leaves), with f called under J at each leaf; the stack holds the bprops in that order.

namespace {
// Calls f under J and keeps its bprop (the forward walk).
class JLeafCalls : public CallContext {
 public:
  explicit JLeafCalls(CallContext& base) : base_(base) {}
  Value call(const Value& fn, std::vector<Value> args, std::vector<std::pair<std::string, Value>>) override {
    Value r = base_.jcall(fn, args.data(), args.size(), nullptr);
    bprops.push_back(seqItems(r)[1]);
    return seqItems(r)[0];
  }
  const std::vector<std::string>& argv() const override { return base_.argv(); }
  std::vector<Value> bprops;

 private:
  CallContext& base_;
};

// The parts of v (a cotangent, None for zero) at the leaf positions of `shape`, in the
// order of the walk; a part may be a whole subtree (f's result at that leaf).
void leafParts(const Value& shape, const Value& v, std::vector<Value>& out) {
  switch (shape.kind()) {
    case VKind::None: return;
    case VKind::Tuple:
    case VKind::List:
      for (size_t i = 0; i < seqItems(shape).size(); ++i) leafParts(seqItems(shape)[i], item(v, i), out);
      return;
    case VKind::Dict:
      for (const auto& [key, x] : shape.as<DictObj>()->entries) {
        const Value* p = v.is(VKind::Dict) ? v.as<DictObj>()->find(key) : nullptr;
        leafParts(x, p ? *p : Value::none(), out);
      }
      return;
    case VKind::Record:
      for (size_t i = 0; i < shape.as<RecordObj>()->fields.size(); ++i) {
        bool rec = v.is(VKind::Record) && i < v.as<RecordObj>()->fields.size();
        leafParts(shape.as<RecordObj>()->fields[i], rec ? v.as<RecordObj>()->fields[i] : Value::none(), out);
      }
      return;
    default: out.push_back(v);
  }
}


// The backward walk of tree_map (first and second order): leaf i's bprop gets the part of
// ct at leaf i (zeros where None, shaped as f's result there, which may be a subtree):
// call(i, bprop, c) gives (ct_f, ct per argument). -> (ct_f, ct_tree, ct_rest...).
template <class Call>
Value treeMapBackward(const Value& stack, const Value& ct, Call call) {
  const auto& st = seqItems(stack);
  const Value &tree = st[1], &rest = st[2], &out = st[3];
  size_t nrest = seqItems(rest).size();
  if (ct.isNone()) return makeTuple(std::vector<Value>(nrest + 2));
  const auto& bprops = seqItems(st[0]);
  std::vector<Value> cts, outs;
  leafParts(tree, ct, cts);
  leafParts(tree, out, outs);
  Value env;
  std::vector<std::vector<Value>> argCts(nrest + 1, std::vector<Value>(bprops.size()));
  for (size_t i = 0; i < bprops.size() && i < outs.size(); ++i) {
    Value c = materialize(i < cts.size() ? cts[i] : Value::none(), outs[i]);
    if (!hasFloatLeaf(c)) continue;
    Value r = call(i, bprops[i], c);
    env = ctAdd(env, item(r, 0));
    for (size_t k = 0; k <= nrest; ++k) argCts[k][i] = item(r, k + 1);
  }
  std::vector<Value> res{env};
  for (size_t k = 0; k <= nrest; ++k) res.push_back(fromParts(tree, argCts[k]));
  return makeTuple(std::move(res));
}
}  // namespace

// -> (out, (bprops, tree, rest, out)).
Value prim_TreeMapJ(CallContext& cx, Value* args) {
  JLeafCalls calls(cx);
  Value out = prim_TreeMap(calls, args);
  return makeTuple({out, makeTuple({makeList(std::move(calls.bprops)), args[1], args[2], out})});
}

// -> (ct_f, ct_tree, ct_rest...).
Value prim_TreeMapBwd(CallContext& cx, Value* args) {
  return treeMapBackward(args[0], args[1], [&](size_t, const Value& bprop, const Value& c) { return cx.call(bprop, {c}); });
}

// ------------------------------------------------------------------ tree_map under JVP
// __tree_map_j and __tree_map_bwd run by the JVP of a gradient graph (jvp of a gradient,
// runtime/JvpPrims.cpp's __jvp_of_j): the same walks, each leaf's J call run under JVP
// and each leaf's bprop called under JVP; the tangents of the leaves' arguments (and of
// the cotangents) are the parts of the tangent trees at the leaves of `tree`, and the
// results' tangents are put back together as their values are. -> (out, tangent of out).

namespace {
class JvpLeafCalls : public CallContext {
 public:
  JvpLeafCalls(CallContext& base, const Value& tf, std::vector<std::vector<Value>> tparts)
      : base_(base), tf_(tf), tparts_(std::move(tparts)) {}
  Value call(const Value& fn, std::vector<Value> args, std::vector<std::pair<std::string, Value>>) override {
    size_t i = touts.size();
    std::vector<Value> ta(args.size());
    for (size_t k = 0; k < ta.size() && k < tparts_.size(); ++k)
      if (i < tparts_[k].size()) ta[k] = tparts_[k][i];
    Value r = base_.jcallJvp(fn, tf_, args.data(), ta.data(), args.size(), nullptr, 0, 0);  // ((out, bprop), (t_out, None))
    const Value& out = seqItems(r)[0];
    bprops.push_back(seqItems(out)[1]);
    touts.push_back(item(seqItems(r)[1], 0));
    return seqItems(out)[0];
  }
  const std::vector<std::string>& argv() const override { return base_.argv(); }
  std::vector<Value> bprops, touts;

 private:
  CallContext& base_;
  Value tf_;
  std::vector<std::vector<Value>> tparts_;
};
}  // namespace

Value treeMapJJvp(CallContext& cx, const Value& f, const Value& tf, const Value& tree, const Value& ttree,
                  const Value& rest, const Value& trest) {
  std::vector<std::vector<Value>> tparts(1 + seqItems(rest).size());
  leafParts(tree, ttree, tparts[0]);
  for (size_t k = 1; k < tparts.size(); ++k) leafParts(tree, item(trest, k - 1), tparts[k]);
  JvpLeafCalls calls(cx, tf, std::move(tparts));
  Value args[3] = {f, tree, rest};
  Value out = prim_TreeMap(calls, args);
  Value tout = fromParts(tree, calls.touts);
  Value primal = makeTuple({out, makeTuple({makeList(std::move(calls.bprops)), tree, rest, out})});
  return makeTuple({primal, makeTuple({tout, makeTuple({Value::none(), ttree, trest, tout})})});
}

Value treeMapBwdJvp(CallContext& cx, const Value& stack, const Value& ct, const Value& tct) {
  const auto& st = seqItems(stack);
  const Value &tree = st[1], &rest = st[2], &out = st[3];
  size_t nrest = seqItems(rest).size();
  if (ct.isNone()) return makeTuple({makeTuple(std::vector<Value>(nrest + 2)), makeTuple(std::vector<Value>(nrest + 2))});
  const auto& bprops = seqItems(st[0]);
  std::vector<Value> cts, tcts, outs;
  leafParts(tree, ct, cts);
  leafParts(tree, tct, tcts);
  leafParts(tree, out, outs);
  Value env, tenv;
  std::vector<std::vector<Value>> argCts(nrest + 1, std::vector<Value>(bprops.size())), targCts = argCts;
  for (size_t i = 0; i < bprops.size() && i < outs.size(); ++i) {
    Value c[1] = {materialize(i < cts.size() ? cts[i] : Value::none(), outs[i])};
    if (!hasFloatLeaf(c[0])) continue;
    Value tc[1] = {i < tcts.size() ? tcts[i] : Value::none()};
    Value r = cx.jvpcall(bprops[i], Value::none(), c, tc, 1, nullptr);  // (cts, tangents of cts)
    const Value &cr = seqItems(r)[0], &tr = seqItems(r)[1];
    env = ctAdd(env, item(cr, 0));
    tenv = ctAdd(tenv, item(tr, 0));
    for (size_t k = 0; k <= nrest; ++k) {
      argCts[k][i] = item(cr, k + 1);
      targCts[k][i] = item(tr, k + 1);
    }
  }
  std::vector<Value> res{env}, tres{tenv};
  for (size_t k = 0; k <= nrest; ++k) {
    res.push_back(fromParts(tree, argCts[k]));
    tres.push_back(fromParts(tree, targCts[k]));
  }
  return makeTuple({makeTuple(std::move(res)), makeTuple(std::move(tres))});
}

// ------------------------------------------------------------------ tree_map, second order
// __tree_map_j and __tree_map_bwd, run by differentiated code, differentiated once more
// (as the loops above): the same walk, each leaf's call made under J (outer), its bprop
// kept; the result comes with __loop_j_bprop("tree_map" / "tree_map_bwd", bprops, info).

namespace {
// The forward walk of __tree_map_jj: f's J (inner) called under J (outer) at each leaf.
class JJLeafCalls : public CallContext {
 public:
  explicit JJLeafCalls(CallContext& base) : base_(base) {}
  Value call(const Value& fn, std::vector<Value> args, std::vector<std::pair<std::string, Value>>) override {
    Value r = base_.jcallOuter(fn, args.data(), args.size(), nullptr, 0, base_.jinnerWorld());
    const Value& primal = seqItems(r)[0];  // (out, bprop of f at this leaf)
    stack.push_back(seqItems(primal)[1]);
    bprops.push_back(seqItems(r)[1]);
    return seqItems(primal)[0];
  }
  const std::vector<std::string>& argv() const override { return base_.argv(); }
  std::vector<Value> stack, bprops;

 private:
  CallContext& base_;
};

}  // namespace

Value prim_TreeMapJJ(CallContext& cx, Value* args) {
  JJLeafCalls calls(cx);
  Value out = prim_TreeMap(calls, args);
  Value primal = makeTuple({out, makeTuple({makeList(std::move(calls.stack)), args[1], args[2], out})});
  Value info = makeTuple({args[1], args[2]});
  return makeTuple({primal, partialOf(Prim::LoopJBprop, {makeStr("tree_map"), makeList(std::move(calls.bprops)), info})});
}

Value prim_TreeMapBwdJ(CallContext& cx, Value* args) {
  // Each leaf's bprop called under J; None where no call is made (a zero cotangent).
  std::vector<Value> bprops(seqItems(item(args[0], 0)).size());
  Value out = treeMapBackward(args[0], args[1], [&](size_t i, const Value& bprop, const Value& c) {
    Value a = c;
    Value r = cx.jcall(bprop, &a, 1, nullptr);
    bprops[i] = seqItems(r)[1];
    return seqItems(r)[0];
  });
  Value info = makeTuple({item(args[0], 1), item(args[0], 2)});
  return makeTuple({out, partialOf(Prim::LoopJBprop, {makeStr("tree_map_bwd"), makeList(std::move(bprops)), info})});
}

// __loop_j_bprop's tree_map kinds; info = (tree, rest trees). Leaves are independent
// calls, so the order of the bprops does not matter.
Value treeMapJBprop(CallContext& cx, const std::string& kind, const std::vector<Value>& bprops, const Value& info,
                    const Value& ct) {
  const Value &tree = item(info, 0), &rest = item(info, 1);
  size_t nrest = seqItems(rest).size(), n = bprops.size();
  if (kind == "tree_map") {
    // ct of (out, (stack, tree, rest, out)): leaf i's bprop gets (ct of its out, ct of its bprop).
    std::vector<Value> ctOut;
    leafParts(tree, item(ct, 0), ctOut);
    Value ctStack = item(item(ct, 1), 0), env;
    std::vector<std::vector<Value>> argCts(nrest + 1, std::vector<Value>(n));
    for (size_t i = 0; i < n; ++i) {
      Value co = i < ctOut.size() ? ctOut[i] : Value::none(), cb = item(ctStack, i);
      if (co.isNone() && cb.isNone()) continue;
      Value cts = cx.call(bprops[i], {makeTuple({co, cb})});
      env = ctAdd(env, item(cts, 0));
      for (size_t k = 0; k <= nrest; ++k) argCts[k][i] = item(cts, k + 1);
    }
    std::vector<Value> res{env};
    for (size_t k = 0; k <= nrest; ++k) res.push_back(fromParts(tree, argCts[k]));
    return makeTuple(std::move(res));
  }
  // tree_map_bwd: ct of (ct_f, ct_tree, ct_rest...); leaf i's bprop gets (ct of ct_f, the
  // parts of the others at leaf i) and gives (ct of its stack entry, ct of its ct).
  std::vector<std::vector<Value>> parts(nrest + 1);
  for (size_t k = 0; k <= nrest; ++k) leafParts(tree, item(ct, k + 1), parts[k]);
  std::vector<Value> stackCt(n), ctCt(n);
  for (size_t i = 0; i < n; ++i) {
    if (bprops[i].isNone()) continue;
    std::vector<Value> d{item(ct, 0)};
    for (size_t k = 0; k <= nrest; ++k) d.push_back(i < parts[k].size() ? parts[k][i] : Value::none());
    Value cts = cx.call(bprops[i], {makeTuple(std::move(d))});
    stackCt[i] = item(cts, 0);
    ctCt[i] = item(cts, 1);
  }
  return makeTuple({makeTuple({makeList(std::move(stackCt)), Value::none(), Value::none(), Value::none()}),
                    fromParts(tree, ctCt)});
}
}  // namespace msl
