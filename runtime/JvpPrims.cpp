// The forward-mode primitives of ir/Primitives.def: the user API jvp(f, primals, tangents)
// and the helpers the JVP transform emits (autodiff/Jvp.h): __jvpcall, __scan_jvp,
// __while_jvp, and __jvp_of_j (reverse mode's calls and loops under JVP: jvp of a
// gradient). The transformed callee runs in the interpreter (runtime/InterpreterJvp.cpp).
//
// Tangents have the structure of their primal values: a float tensor's is a tensor of its
// dtype and shape, a Python float's a float; ints, bools, strings, integer tensors,
// functions and None are static and have no tangent (None).
#include "autodiff/J.h"
#include "ir/Diagnostics.h"
#include "runtime/Host.h"
#include "runtime/Iter.h"
#include "runtime/JvpRuntime.h"
#include "runtime/Kernels.h"
#include "runtime/KernelsNN.h"
#include "runtime/PrimImpl.h"
#include "runtime/Print.h"
#include "runtime/TensorValues.h"

namespace msl {

Value CallContext::jvpcall(const Value&, const Value&, Value*, Value*, size_t, const std::vector<std::string>*) {
  raise(DiagId::NotSupportedYet, SourceLoc{}, {"jvp here"});
}

Value CallContext::jcallJvp(const Value&, const Value&, Value*, Value*, size_t, const std::vector<std::string>*, uint64_t,
                            uint32_t) {
  raise(DiagId::NotSupportedYet, SourceLoc{}, {"jvp of a gradient here"});
}

namespace {

bool floatTensor(const Value& v) { return v.is(VKind::Tensor) && isFloat(v.as<TensorObj>()->t.dtype()); }
const Tensor& tensorOf(const Value& v) { return v.as<TensorObj>()->t; }

Value rebuildSeq(const Value& like, std::vector<Value> items) {
  return like.is(VKind::List) ? makeList(std::move(items)) : makeTuple(std::move(items));
}

// What a value is, for messages: "a f32 tensor of shape (3,)", "a tuple of 2 items".
std::string describe(const Value& v) {
  if (v.is(VKind::Tensor)) return std::string("a ") + dtypeName(tensorOf(v).dtype()) + " tensor of shape " + shapeStr(tensorOf(v).shape());
  if (isSeq(v)) {
    size_t n = seqItems(v).size();
    return std::string("a ") + (v.is(VKind::List) ? "list" : "tuple") + " of " + std::to_string(n) + (n == 1 ? " item" : " items");
  }
  if (v.is(VKind::Dict)) {
    std::string keys;
    for (const auto& kv : v.as<DictObj>()->entries) keys += (keys.empty() ? "" : ", ") + reprOf(kv.first);
    return "a dict with keys {" + keys + "}";
  }
  if (v.isNone()) return "None";
  std::string t = typeNameOf(v);
  return (std::string("aeiouAEIOU").find(t[0]) != std::string::npos ? "an " : "a ") + t;
}

// The user's tangent for `primal` checked against it (JAX's rules: same structure, same
// dtype and shape) and normalised: static leaves get None.
Value checkTangent(const Value& primal, const Value& t, const std::string& path) {
  switch (primal.kind()) {
    case VKind::Float:
      if (t.is(VKind::Float)) return t;
      if (floatTensor(t) && tensorOf(t).ndim() == 0) return Value::real(tensorOf(t).getF64(0));
      raise(DiagId::JvpTangentType, SourceLoc{}, {path, "a float", describe(t)});
    case VKind::Tensor:
      if (!floatTensor(primal)) return Value::none();
      if (!t.is(VKind::Tensor) || tensorOf(t).dtype() != tensorOf(primal).dtype() || tensorOf(t).shape() != tensorOf(primal).shape())
        raise(DiagId::JvpTangentType, SourceLoc{}, {path, describe(primal), describe(t)});
      return t;
    case VKind::Tuple:
    case VKind::List: {
      if (t.kind() != primal.kind() || seqItems(t).size() != seqItems(primal).size())
        raise(DiagId::JvpStructure, SourceLoc{}, {path, describe(primal), describe(t)});
      std::vector<Value> out;
      for (size_t i = 0; i < seqItems(primal).size(); ++i)
        out.push_back(checkTangent(seqItems(primal)[i], seqItems(t)[i], path + "[" + std::to_string(i) + "]"));
      return rebuildSeq(primal, std::move(out));
    }
    case VKind::Dict: {
      const auto* p = primal.as<DictObj>();
      bool same = t.is(VKind::Dict) && t.as<DictObj>()->entries.size() == p->entries.size();
      for (size_t i = 0; same && i < p->entries.size(); ++i) same = t.as<DictObj>()->find(p->entries[i].first) != nullptr;
      if (!same) raise(DiagId::JvpStructure, SourceLoc{}, {path, describe(primal), describe(t)});
      Value d = makeDict();
      for (const auto& [k, v] : p->entries)
        d.as<DictObj>()->set(k, checkTangent(v, *t.as<DictObj>()->find(k), path + "[" + reprOf(k) + "]"));
      return d;
    }
    case VKind::Record: {
      const auto* p = primal.as<RecordObj>();
      if (!t.is(VKind::Record) || t.as<RecordObj>()->cls.as<ClassObj>() != p->classObj())
        raise(DiagId::JvpStructure, SourceLoc{}, {path, describe(primal), describe(t)});
      auto* r = new RecordObj();
      Value rv = Value::object(r);
      r->cls = p->cls;
      for (size_t i = 0; i < p->fields.size(); ++i)
        r->fields.push_back(checkTangent(p->fields[i], t.as<RecordObj>()->fields[i], path + "." + p->classObj()->fields[i]));
      return rv;
    }
    default: return Value::none();  // ints, bools, strings, None, functions: static
  }
}

// The tangent handed to the user: out's structure, zeros where nothing depends on the
// inputs, None for static leaves.
Value tangentOut(const Value& t, const Value& out) {
  switch (out.kind()) {
    case VKind::Tensor: {
      if (!floatTensor(out)) return Value::none();
      const Tensor& o = tensorOf(out);
      if (t.isNone() || !(t.is(VKind::Tensor) || t.is(VKind::Float) || t.is(VKind::Int) || t.is(VKind::Bool)))
        return makeTensor(Tensor::zeros(o.dtype(), o.shape()));
      Tensor tt = argTensor(t, "jvp", "tangent");
      if (tt.shape() != o.shape()) tt = broadcastTo(tt, o.shape(), "jvp").contiguous();
      return makeTensor(tt.dtype() == o.dtype() ? tt : astype(tt, o.dtype()));
    }
    case VKind::Float:
      if (t.is(VKind::Float)) return t;
      if (t.is(VKind::Int) || t.is(VKind::Bool)) return Value::real((double)t.asInt());
      if (t.is(VKind::Tensor) && tensorOf(t).numel() == 1) return Value::real(astype(tensorOf(t), DType::F64).contiguous().getF64(0));
      return Value::real(0.0);
    case VKind::Tuple:
    case VKind::List: {
      std::vector<Value> items;
      for (size_t i = 0; i < seqItems(out).size(); ++i)
        items.push_back(tangentOut(isSeq(t) && i < seqItems(t).size() ? seqItems(t)[i] : Value::none(), seqItems(out)[i]));
      return rebuildSeq(out, std::move(items));
    }
    case VKind::Dict: {
      Value d = makeDict();
      for (const auto& [k, v] : out.as<DictObj>()->entries) {
        const Value* tv = t.is(VKind::Dict) ? t.as<DictObj>()->find(k) : nullptr;
        d.as<DictObj>()->set(k, tangentOut(tv ? *tv : Value::none(), v));
      }
      return d;
    }
    case VKind::Record: {
      const auto* o = out.as<RecordObj>();
      auto* r = new RecordObj();
      Value rv = Value::object(r);
      r->cls = o->cls;
      for (size_t i = 0; i < o->fields.size(); ++i) {
        bool has = t.is(VKind::Record) && i < t.as<RecordObj>()->fields.size();
        r->fields.push_back(tangentOut(has ? t.as<RecordObj>()->fields[i] : Value::none(), o->fields[i]));
      }
      return rv;
    }
    default: return Value::none();
  }
}

}  // namespace

Value jvpFill(const Value& t, const Value& primal) {
  switch (primal.kind()) {
    case VKind::Tensor:
      if (!t.isNone()) return t;
      return makeTensor(Tensor::zeros(tensorOf(primal).dtype(), tensorOf(primal).shape()));
    case VKind::Float: return t.isNone() ? Value::real(0.0) : t;
    case VKind::Int:
    case VKind::Bool: return t.isNone() ? Value::integer(0) : t;
    case VKind::Tuple:
    case VKind::List: {
      if (!t.isNone() && !isSeq(t)) return t;
      const auto& items = seqItems(primal);
      std::vector<Value> out;
      for (size_t i = 0; i < items.size(); ++i)
        out.push_back(jvpFill(!t.isNone() && i < seqItems(t).size() ? seqItems(t)[i] : Value::none(), items[i]));
      return rebuildSeq(primal, std::move(out));
    }
    case VKind::Dict: {
      if (!t.isNone() && !t.is(VKind::Dict)) return t;
      Value d = makeDict();
      for (const auto& [k, v] : primal.as<DictObj>()->entries) {
        const Value* tv = t.is(VKind::Dict) ? t.as<DictObj>()->find(k) : nullptr;
        d.as<DictObj>()->set(k, jvpFill(tv ? *tv : Value::none(), v));
      }
      return d;
    }
    case VKind::Record: {
      if (!t.isNone() && !t.is(VKind::Record)) return t;
      const auto* p = primal.as<RecordObj>();
      auto* r = new RecordObj();
      Value rv = Value::object(r);
      r->cls = p->cls;
      for (size_t i = 0; i < p->fields.size(); ++i) {
        bool has = t.is(VKind::Record) && i < t.as<RecordObj>()->fields.size();
        r->fields.push_back(jvpFill(has ? t.as<RecordObj>()->fields[i] : Value::none(), p->fields[i]));
      }
      return rv;
    }
    default: return t;
  }
}

std::vector<Value> jvpCheckedTangents(const Value& primals, const Value& tangents) {
  if (!isSeq(primals) || !isSeq(tangents) || seqItems(primals).size() != seqItems(tangents).size())
    raise(DiagId::JvpArity, SourceLoc{}, {describe(primals), describe(tangents)});
  std::vector<Value> ts;
  for (size_t i = 0; i < seqItems(primals).size(); ++i)
    ts.push_back(checkTangent(seqItems(primals)[i], seqItems(tangents)[i], "argument " + std::to_string(i)));
  return ts;
}

Value jvpTangentOut(const Value& t, const Value& out) { return tangentOut(t, out); }

// jvp(f, primals, tangents) -> (f(*primals), the derivative of f at primals along tangents).
Value prim_Jvp(CallContext& cx, Value* args) {
  const Value &primals = args[1], &tangents = args[2];
  std::vector<Value> ts = jvpCheckedTangents(primals, tangents);
  std::vector<Value> xs(seqItems(primals).begin(), seqItems(primals).end());
  Value r = cx.jvpcall(args[0], Value::none(), xs.data(), ts.data(), xs.size(), nullptr);
  const Value& out = seqItems(r)[0];
  return makeTuple({out, tangentOut(seqItems(r)[1], out)});
}

// __jvpcall(fn, t_fn, args, t_args, kwargs, t_kwargs) -> (out, tangent_out).
Value prim_JvpCall(CallContext& cx, Value* args) {
  std::vector<Value> flat(seqItems(args[2]).begin(), seqItems(args[2]).end()), tflat;
  size_t npos = flat.size();
  for (size_t i = 0; i < npos; ++i) tflat.push_back(isSeq(args[3]) && i < seqItems(args[3]).size() ? seqItems(args[3])[i] : Value::none());
  std::vector<std::string> names;
  for (const auto& [k, v] : args[4].as<DictObj>()->entries) {
    names.push_back(k.as<StrObj>()->s);
    flat.push_back(v);
    const Value* tv = args[5].is(VKind::Dict) ? args[5].as<DictObj>()->find(k) : nullptr;
    tflat.push_back(tv ? *tv : Value::none());
  }
  return cx.jvpcall(args[0], args[1], flat.data(), tflat.data(), npos, &names);
}

// scan(body, iterable, init) with a JVP body: the body returns ((go_on, carry), tangents).
Value prim_ScanJvp(CallContext& cx, Value* args) {
  Value iterable = args[1].is(VKind::Str) ? makeList(iterToVector(args[1], "for")) : args[1];
  const Value& titer = args[3];
  int64_t n;
  if (!iterLength(iterable, &n)) raise(DiagId::NotIterable, SourceLoc{}, {typeNameOf(iterable)});
  Value carry = args[2], tc = args[4];
  for (int64_t i = 0; i < n; ++i) {
    Value a[2] = {carry, iterItem(iterable, i)};
    Value ta[2] = {tc, titer.isNone() ? Value::none() : iterItem(titer, i)};
    Value r = cx.jvpcall(args[0], Value::none(), a, ta, 2, nullptr);
    const auto& out = seqItems(seqItems(r)[0]);
    const Value& tout = seqItems(r)[1];
    carry = out[1];
    tc = isSeq(tout) ? seqItems(tout)[1] : Value::none();
    if (!valueTruth(out[0])) break;
  }
  return makeTuple({carry, tc});
}

// while_loop(cond, body, init) with JVP cond and body.
Value prim_WhileJvp(CallContext& cx, Value* args) {
  Value carry = args[2], tc = args[3];
  while (true) {
    Value a[1] = {carry}, ta[1] = {tc};
    Value rc = cx.jvpcall(args[0], Value::none(), a, ta, 1, nullptr);
    if (!valueTruth(seqItems(rc)[0])) break;
    Value b[1] = {carry}, tb[1] = {tc};
    Value r = cx.jvpcall(args[1], Value::none(), b, tb, 1, nullptr);
    const auto& out = seqItems(seqItems(r)[0]);
    const Value& tout = seqItems(r)[1];
    carry = out[1];
    tc = isSeq(tout) ? seqItems(tout)[1] : Value::none();
    if (!valueTruth(out[0])) break;
  }
  return makeTuple({carry, tc});
}

// ------------------------------------------------------------------ jvp of a gradient
// __jvp_of_j(prim, args, t_args, kwargs, t_kwargs): the primitives reverse mode's graphs
// call (__jcall, __jenter, J's loops), run under JVP -> (out, tangent_out). Each runs as
// its primal does, with each J call run under JVP (CallContext::jcallJvp) and each
// backpropagator (a closure that captured tangents) called under JVP; what the primal
// does with the results (sums of cotangents, stacking) is linear, done again on the
// tangents.

namespace {

const Value& itemOr(const Value& v, size_t i) {
  static const Value none = Value::none();
  return isSeq(v) && i < seqItems(v).size() ? seqItems(v)[i] : none;
}

// ((go_on, carry), bprop) of one loop body under J and JVP: the new carry and its tangent.
bool jvpStep(CallContext& cx, const Value& body, Value* a, Value* ta, size_t n, Value& carry, Value& tc,
             std::vector<Value>& stack) {
  Value r = cx.jcallJvp(body, Value::none(), a, ta, n, nullptr, 0, 0);
  const Value& out = seqItems(r)[0];
  stack.push_back(seqItems(out)[1]);
  carry = seqItems(seqItems(out)[0])[1];
  tc = itemOr(itemOr(seqItems(r)[1], 0), 1);
  return valueTruth(seqItems(seqItems(out)[0])[0]);
}

// The values a lifted loop body takes first (a[i], a tuple, or None: autodiff/Lift.h)
// and their tangents, appended to x and tx.
void liftedArgs(const std::vector<Value>& a, const std::vector<Value>& t, size_t i, std::vector<Value>& x,
                std::vector<Value>& tx) {
  if (i >= a.size() || !isSeq(a[i])) return;
  for (size_t j = 0; j < seqItems(a[i]).size(); ++j) {
    x.push_back(seqItems(a[i])[j]);
    tx.push_back(i < t.size() ? itemOr(t[i], j) : Value::none());
  }
}

// One iteration's bprop called on (None, ct) under JVP: (cts, tangents of cts).
std::pair<Value, Value> bwdStep(CallContext& cx, const Value& bprop, const Value& ct, const Value& tct) {
  Value a[1] = {makeTuple({Value::none(), ct})}, ta[1] = {makeTuple({Value::none(), tct})};
  Value r = cx.jvpcall(bprop, Value::none(), a, ta, 1, nullptr);
  return {seqItems(r)[0], seqItems(r)[1]};
}

}  // namespace

Value prim_JvpOfJ(CallContext& cx, Value* args) {
  Prim p = (Prim)args[0].asInt();
  std::vector<Value> a(seqItems(args[1]).begin(), seqItems(args[1]).end()), t;
  for (size_t i = 0; i < a.size(); ++i) t.push_back(itemOr(args[2], i));
  switch (p) {
    case Prim::JCall: {  // __jcall(fn, *args, **kwargs)
      std::vector<std::string> names;
      for (const auto& [k, v] : args[3].as<DictObj>()->entries) {
        if (k.as<StrObj>()->s == autodiff::kJCallSkip) continue;  // the cleaner's mask (ignored here)
        names.push_back(k.as<StrObj>()->s);
        a.push_back(v);
        const Value* tv = args[4].is(VKind::Dict) ? args[4].as<DictObj>()->find(k) : nullptr;
        t.push_back(tv ? *tv : Value::none());
      }
      return cx.jcallJvp(a[0], t[0], a.data() + 1, t.data() + 1, seqItems(args[1]).size() - 1, &names, 0, 0);
    }
    case Prim::JEnter: {  // __jenter(f, argnums, kind, args, kwargs): J(f) in a new world
      const Value &xs = a[3], &kw = a[4], &txs = t[3], &tkw = t[4];
      std::vector<Value> flat(seqItems(xs).begin(), seqItems(xs).end()), tflat;
      for (size_t i = 0; i < flat.size(); ++i) tflat.push_back(itemOr(txs, i));
      std::vector<std::string> names;
      if (kw.is(VKind::Dict))
        for (const auto& [k, v] : kw.as<DictObj>()->entries) {
          names.push_back(k.as<StrObj>()->s);
          flat.push_back(v);
          const Value* tv = tkw.is(VKind::Dict) ? tkw.as<DictObj>()->find(k) : nullptr;
          tflat.push_back(tv ? *tv : Value::none());
        }
      uint64_t skip = jenterSkip(a[1], a[2], xs);
      return cx.jcallJvp(a[0], Value::none(), flat.data(), tflat.data(), seqItems(xs).size(), &names, skip,
                         CallContext::kNewJWorld);
    }
    case Prim::ScanJ: {  // (body, iterable, init[, lifted]) -> (carry, (bprops, iterable))
      Value iterable = a[1].is(VKind::Str) ? makeList(iterToVector(a[1], "for")) : a[1];
      const Value& titer = t[1];
      int64_t n;
      if (!iterLength(iterable, &n)) raise(DiagId::NotIterable, SourceLoc{}, {typeNameOf(iterable)});
      Value carry = a[2], tc = t[2];
      std::vector<Value> stack;
      for (int64_t i = 0; i < n; ++i) {
        std::vector<Value> x, tx;
        liftedArgs(a, t, 3, x, tx);
        x.insert(x.end(), {carry, iterItem(iterable, i)});
        tx.insert(tx.end(), {tc, titer.isNone() ? Value::none() : iterItem(titer, i)});
        if (!jvpStep(cx, a[0], x.data(), tx.data(), x.size(), carry, tc, stack)) break;
      }
      Value out = makeTuple({carry, makeTuple({makeList(std::move(stack)), iterable})});
      return makeTuple({out, makeTuple({tc, makeTuple({Value::none(), titer})})});
    }
    case Prim::WhileJ: {  // (cond, body, init[, lifted]) -> (carry, bprops)
      Value carry = a[2], tc = t[2];
      std::vector<Value> stack;
      while (true) {
        Value x[1] = {carry}, tx[1] = {tc};
        Value rc = cx.jcallJvp(a[0], Value::none(), x, tx, 1, nullptr, 0, 0);
        if (!valueTruth(seqItems(seqItems(rc)[0])[0])) break;
        std::vector<Value> y, ty;
        liftedArgs(a, t, 3, y, ty);
        y.push_back(carry);
        ty.push_back(tc);
        if (!jvpStep(cx, a[1], y.data(), ty.data(), y.size(), carry, tc, stack)) break;
      }
      return makeTuple({makeTuple({carry, makeList(std::move(stack))}), makeTuple({tc, Value::none()})});
    }
    case Prim::ScanBwd:    // (stack, ct[, wanted, nlifted]) -> (ct_body, ct_iterable, ct_init, cts of the lifted values)
    case Prim::WhileBwd: {  // (stack, ct[, wanted, nlifted]) -> (None, ct_body, ct_init, cts of the lifted values)
      bool scan = p == Prim::ScanBwd;
      const auto& stack = seqItems(scan ? seqItems(a[0])[0] : a[0]);
      Value iterable = scan ? seqItems(a[0])[1] : Value::none();
      size_t k = a.size() > 3 && a[3].is(VKind::Int) ? (size_t)std::max<int64_t>(a[3].asInt(), 0) : 0;
      Value ct = a[1], tct = t[1], env, tenv;
      std::vector<Value> items(stack.size()), titems(stack.size()), lifted(k), tlifted(k);
      for (size_t i = stack.size(); i-- > 0;) {
        auto [c, tcs] = bwdStep(cx, stack[i], ct, tct);
        env = ctAddValues(env, itemOr(c, 0));
        tenv = ctAddValues(tenv, itemOr(tcs, 0));
        for (size_t j = 0; j < k; ++j) {
          lifted[j] = ctAddValues(lifted[j], itemOr(c, 1 + j));
          tlifted[j] = ctAddValues(tlifted[j], itemOr(tcs, 1 + j));
        }
        ct = itemOr(c, k + 1);
        tct = itemOr(tcs, k + 1);
        items[i] = itemOr(c, k + 2);
        titems[i] = itemOr(tcs, k + 2);
      }
      std::vector<Value> out{env}, tout{tenv};
      if (!scan) {
        out = {Value::none(), env, ct};
        tout = {Value::none(), tenv, tct};
      } else {
        if (isSeq(iterable)) {
          items.resize(seqItems(iterable).size());
          titems.resize(seqItems(iterable).size());
        }
        out.insert(out.end(), {itemsBackOf(std::move(items), iterable), ct});
        tout.insert(tout.end(), {itemsBackOf(std::move(titems), iterable), tct});
      }
      out.insert(out.end(), lifted.begin(), lifted.end());
      tout.insert(tout.end(), tlifted.begin(), tlifted.end());
      return makeTuple({makeTuple(std::move(out)), makeTuple(std::move(tout))});
    }
    case Prim::TreeMapJ: {  // (f, tree, *rest) -> (out, (bprops, tree, rest, out))
      std::vector<Value> rest(a.begin() + 2, a.end()), trest(t.begin() + 2, t.end());
      return treeMapJJvp(cx, a[0], t[0], a[1], t[1], makeTuple(std::move(rest)), makeTuple(std::move(trest)));
    }
    case Prim::TreeMapBwd: return treeMapBwdJvp(cx, a[0], a[1], t[1]);  // (stack, ct) -> (ct_f, ct_tree, ct_rest...)
    default:
      raise(DiagId::NotSupportedYet, SourceLoc{}, {std::string("jvp of '") + primName(p) + "'"});
  }
}

// The tangent of max_pool2d(x, kernel, stride, padding) along t: t at the element each
// window takes (the first largest, as max_pool2d's backward pass chooses).
Value prim_MaxPoolJvp(CallContext&, Value* args) {
  if (args[0].isNone()) return Value::none();
  const char* fn = "max_pool2d";
  Tensor x = argTensor(args[1], fn, "x");
  auto pair = [&](const Value& v, const char* param, int64_t* a, int64_t* b) {
    if (isSeq(v) && seqItems(v).size() == 2) {
      *a = argInt(seqItems(v)[0], fn, param);
      *b = argInt(seqItems(v)[1], fn, param);
    } else {
      *a = *b = argInt(v, fn, param);
    }
  };
  Window2d win;
  pair(args[2], "kernel", &win.kh, &win.kw);
  if (args[3].isNone()) win.sh = win.kh, win.sw = win.kw;
  else pair(args[3], "stride", &win.sh, &win.sw);
  pair(args[4], "padding", &win.ph, &win.pw);
  int nd = x.ndim();
  if (nd < 3) valueError("max_pool2d: x must have rank 3 or more");
  int64_t H = x.dim(nd - 2), W = x.dim(nd - 1);
  int64_t OH = windowOutSize(H, win.kh, win.sh, win.ph), OW = windowOutSize(W, win.kw, win.sw, win.pw);
  if (OH < 0 || OW < 0) valueError("max_pool2d: the window is larger than the padded input");
  int64_t planes = numel(Shape(x.shape().begin(), x.shape().end() - 2));
  Tensor tin = argTensor(args[0], fn, "t");
  DType dt = isFloat(tin.dtype()) ? tin.dtype() : DType::F32;
  Tensor xc = astype(x, DType::F64).contiguous();
  Tensor tc = astype(broadcastTo(tin, x.shape(), fn), DType::F64).contiguous();
  Shape os = x.shape();
  os[nd - 2] = OH;
  os[nd - 1] = OW;
  Tensor out = Tensor::zeros(DType::F64, os);
  const double *px = xc.ptr<double>(), *pt = tc.ptr<double>();
  double* po = out.ptr<double>();
  forEachWindow(planes, H, W, OH, OW, win, [&](int64_t p, int64_t at, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    const double* plane = px + p * H * W;
    int64_t best = h0 * W + w0;
    for (int64_t i = h0; i < h1; ++i)
      for (int64_t j = w0; j < w1; ++j)
        if (plane[i * W + j] > plane[best] || plane[i * W + j] != plane[i * W + j]) best = i * W + j;
    po[at] = pt[p * H * W + best];
  });
  return makeTensor(astype(out, dt));
}

}  // namespace msl
