// Helpers for the host runtime tests: a CallContext that runs primitives, and a caller
// that binds arguments to a primitive's signature as the interpreter does.
#pragma once
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "ir/Prim.h"
#include "runtime/PrimImpl.h"
#include "runtime/Print.h"

namespace msl::test {

using Kwargs = std::vector<std::pair<std::string, Value>>;

// Binds positional and keyword arguments to `p`'s parameters (defaults filled in, *args
// packed as a tuple, **kw as a dict) and runs its implementation.
inline Value callPrim(CallContext& cx, Prim p, std::vector<Value> pos, Kwargs kw = {}) {
  const PrimInfo& info = primInfo(p);
  PrimFn fn = primImpl(p);
  if (!fn) throw std::runtime_error(std::string("no implementation of ") + info.name);
  std::vector<Value> args;
  size_t next = 0;
  for (size_t i = 0; i < info.params.size(); ++i) {
    const PrimParam& param = info.params[i];
    auto fromKw = [&]() -> const Value* {
      for (auto& [k, v] : kw)
        if (k == param.name) return &v;
      return nullptr;
    };
    switch (param.kind) {
      case PrimParam::Positional:
        if (next < pos.size()) args.push_back(pos[next++]);
        else if (const Value* v = fromKw()) args.push_back(*v);
        else args.push_back(primDefault(p, i));
        break;
      case PrimParam::VarArgs: {
        std::vector<Value> rest(pos.begin() + next, pos.end());
        next = pos.size();
        args.push_back(makeTuple(std::move(rest)));
        break;
      }
      case PrimParam::KwOnly:
        if (const Value* v = fromKw()) args.push_back(*v);
        else args.push_back(primDefault(p, i));
        break;
      case PrimParam::VarKw: {
        Value d = makeDict();
        for (auto& [k, v] : kw) {
          bool named = false;
          for (const PrimParam& q : info.params) named |= q.name == k;
          if (!named) d.as<DictObj>()->set(makeStr(k), v);
        }
        args.push_back(std::move(d));
        break;
      }
    }
  }
  return fn(cx, args.data());
}

// Calls primitives only (enough for key= functions in tests).
class PrimContext : public CallContext {
 public:
  Value call(const Value& fn, std::vector<Value> args, Kwargs kwargs) override {
    if (!fn.is(VKind::Prim)) throw std::runtime_error("PrimContext calls primitives only");
    return callPrim(*this, (Prim)fn.primId(), std::move(args), std::move(kwargs));
  }
  const std::vector<std::string>& argv() const override { return argv_; }

 private:
  std::vector<std::string> argv_;
};

// Calls primitive p through a PrimContext.
inline Value callPrim(Prim p, std::vector<Value> pos, Kwargs kw = {}) {
  static PrimContext cx;
  return callPrim(cx, p, std::move(pos), std::move(kw));
}

inline Value S(const char* s) { return makeStr(s); }
inline Value I(int64_t i) { return Value::integer(i); }
inline Value F(double f) { return Value::real(f); }
inline Value L(std::vector<Value> v) { return makeList(std::move(v)); }
inline Value T(std::vector<Value> v) { return makeTuple(std::move(v)); }

// The message of the msl::Error raised by `f`, or "" when none is raised.
template <class F>
std::string errorOf(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.diag.message;
  }
  return "";
}

}  // namespace msl::test
