// The finite-difference checker (autodiff/GradCheck.h): programs are generated as msl
// source and run by the interpreter, so the gradient is the one `grad` computes.
#include "autodiff/GradCheck.h"

#include <cmath>
#include <random>
#include <sstream>

#include "ir/Diagnostics.h"
#include "runtime/Host.h"
#include "runtime/Interpreter.h"
#include "runtime/Kernels.h"
#include "runtime/PrimImpl.h"
#include "runtime/Tensor.h"
#include "tools/msl/Driver.h"

namespace msl::gradcheck {

namespace {

bool isFloatTensor(const Value& v) { return v.is(VKind::Tensor) && isFloat(v.as<TensorObj>()->t.dtype()); }
bool checkable(const Value& v) { return v.is(VKind::Float) || isFloatTensor(v); }

// The float leaves of a result, as msl access paths ("[0]", "['k']").
void floatLeaves(const Value& v, const std::string& path, std::vector<std::pair<std::string, Value>>& out) {
  switch (v.kind()) {
    case VKind::Tuple:
    case VKind::List:
      for (size_t i = 0; i < seqItems(v).size(); ++i) floatLeaves(seqItems(v)[i], path + "[" + std::to_string(i) + "]", out);
      return;
    case VKind::Dict:
      for (const auto& [k, x] : v.as<DictObj>()->entries)
        if (k.is(VKind::Str)) floatLeaves(x, path + "['" + k.as<StrObj>()->s + "']", out);
      return;
    default:
      if (checkable(v)) out.push_back({path, v});
  }
}

// A random value shaped like v (a float64 tensor or a float).
Value randomLike(const Value& v, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  if (v.is(VKind::Float)) return Value::real(normal(rng));
  const Tensor& t = v.as<TensorObj>()->t;
  Tensor w = Tensor::empty(DType::F64, t.shape());
  for (int64_t i = 0; i < w.numel(); ++i) w.ptr<double>()[i] = normal(rng);
  return makeTensor(w);
}

// sum(a * b) for a tensor, a * b for a float (msl source).
std::string dotExpr(const std::string& a, const std::string& b, bool isFloat) {
  return isFloat ? "(" + a + " * " + b + ")" : "sum(" + a + " * " + b + ")";
}

std::string names(const char* prefix, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (i ? ", " : "") + std::string(prefix) + std::to_string(i);
  return s;
}

double elementOf(const Value& v, int64_t e) {
  if (v.is(VKind::Float)) return v.asFloat();
  if (v.is(VKind::Int)) return (double)v.asInt();
  return v.as<TensorObj>()->t.contiguous().getF64(e);
}

int64_t sizeOf(const Value& v) { return v.is(VKind::Float) ? 1 : v.as<TensorObj>()->t.numel(); }

// v with element e moved by delta (a copy; float64).
Value perturbed(const Value& v, int64_t e, double delta) {
  if (v.is(VKind::Float)) return Value::real(v.asFloat() + delta);
  const Tensor& t = v.as<TensorObj>()->t;
  Tensor c = astype(t, DType::F64).contiguous().clone();
  c.ptr<double>()[e] += delta;
  return makeTensor(t.dtype() == DType::F64 ? c : astype(c, t.dtype()));
}

double scalarOf(const Value& v) {
  if (v.is(VKind::Float)) return v.asFloat();
  if (v.is(VKind::Int)) return (double)v.asInt();
  if (v.is(VKind::Tensor) && v.as<TensorObj>()->t.numel() == 1) return v.as<TensorObj>()->t.getF64(0);
  throw std::runtime_error("the loss is not a scalar");
}

}  // namespace

Checker::Checker() : interp_(std::make_unique<Interpreter>()) {}
Checker::~Checker() = default;

// Runs `text` as a module and returns its global `name`.
Value Checker::load(const std::string& text, const std::string& name) {
  programs_.push_back(std::make_unique<Program>(std::vector<std::string>{}));
  ir::Module* m = programs_.back()->loadText("<gradcheck" + std::to_string(counter_++) + ">", text);
  interp_->runModule(m);
  return interp_->global(m->findGlobal(name)->id);
}

Result Checker::check(const std::string& fnSource, const std::vector<Value>& args, const Options& opt,
                      const std::string& prelude) {
  Result res;
  try {
    Value f = load(prelude + "\n__f = " + fnSource + "\n", "__f");
    std::vector<size_t> which;
    for (size_t i = 0; i < args.size(); ++i)
      if (checkable(args[i])) which.push_back(i);
    if (which.empty()) {
      res.message = "no float argument to check";
      return res;
    }
    // L(args, w) = sum over the float leaves of f(args) of sum(leaf * w_leaf).
    Value y = interp_->call(f, args);
    std::vector<std::pair<std::string, Value>> leaves;
    floatLeaves(y, "", leaves);
    if (leaves.empty()) {
      res.message = "the function has no float result";
      return res;
    }
    std::mt19937_64 rng(opt.seed);
    std::vector<Value> all = args;
    std::string a = names("a", args.size()), w = names("w", leaves.size());
    std::string sumText = "0.0";
    for (size_t k = 0; k < leaves.size(); ++k) {
      all.push_back(randomLike(leaves[k].second, rng));
      sumText += " + " + dotExpr("__y" + leaves[k].first, "w" + std::to_string(k), leaves[k].second.is(VKind::Float));
    }
    std::ostringstream src;
    src << "def __make(__f):\n"
        << "    def __loss(" << a << ", " << w << "):\n"
        << "        __y = __f(" << a << ")\n"
        << "        return " << sumText << "\n"
        << "    return __loss\n";
    Value lossFn = interp_->call(load(src.str(), "__make"), {f});
    if (!opt.secondOrder) return compare(lossFn, all, which, opt);

    // L2(args, w, v) = sum over the checked arguments of sum(grad(L)(args, w)[k] * v_k).
    std::string argnums = "(";
    for (size_t i : which) argnums += std::to_string(i) + ", ";
    argnums += ")";
    std::string v = names("v", which.size()), terms = "0.0";
    for (size_t k = 0; k < which.size(); ++k) {
      all.push_back(randomLike(args[which[k]], rng));
      terms += " + " + dotExpr("__gs[" + std::to_string(k) + "]", "v" + std::to_string(k), args[which[k]].is(VKind::Float));
    }
    std::ostringstream src2;
    src2 << "def __make2(__loss):\n"
         << "    __g = grad(__loss, argnums=" << argnums << ")\n"
         << "    def __loss2(" << a << ", " << w << ", " << v << "):\n"
         << "        __gs = __g(" << a << ", " << w << ")\n"
         << "        return " << terms << "\n"
         << "    return __loss2\n";
    Value loss2 = interp_->call(load(src2.str(), "__make2"), {lossFn});
    return compare(loss2, all, which, opt);
  } catch (const Error& e) {
    res.message = std::string("error: ") + e.what();
  } catch (const std::exception& e) {
    res.message = std::string("error: ") + e.what();
  }
  res.ok = false;
  return res;
}

// grad(lossFn, argnums=which)(*args) against central differences of lossFn.
Result Checker::compare(const Value& lossFn, const std::vector<Value>& args, const std::vector<size_t>& which,
                        const Options& opt) {
  Result res;
  std::vector<Value> nums;
  for (size_t i : which) nums.push_back(Value::integer((int64_t)i));
  Value g = interp_->call(Value::prim((int)Prim::Grad), {lossFn, makeTuple(nums)});
  Value grads = interp_->call(g, args);
  std::ostringstream bad;
  int nbad = 0;
  res.ok = true;
  for (size_t k = 0; k < which.size(); ++k) {
    size_t i = which[k];
    const Value& gi = seqItems(grads)[k];
    for (int64_t e = 0; e < sizeOf(args[i]); ++e) {
      std::vector<Value> plus = args, minus = args;
      plus[i] = perturbed(args[i], e, opt.eps);
      minus[i] = perturbed(args[i], e, -opt.eps);
      double numeric = (scalarOf(interp_->call(lossFn, plus)) - scalarOf(interp_->call(lossFn, minus))) / (2 * opt.eps);
      double analytic = elementOf(gi, e);
      double ratio = std::abs(analytic - numeric) / (opt.atol + opt.rtol * std::abs(numeric));
      if (!(ratio <= 1.0)) {
        res.ok = false;
        if (nbad++ < 4) bad << " [argument " << i << ", element " << e << ": grad " << analytic << ", numeric " << numeric << "]";
      }
      if (ratio > res.worst || ratio != ratio) res.worst = ratio;
      ++res.checked;
    }
  }
  if (!res.ok) res.message = std::to_string(nbad) + " of " + std::to_string(res.checked) + " elements differ:" + bad.str();
  return res;
}

}  // namespace msl::gradcheck
