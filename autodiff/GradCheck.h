// autodiff/GradCheck: a finite-difference checker of msl's reverse-mode gradients
// (DESIGN.md section 3), in float64 with central differences and PyTorch gradcheck's
// tolerances. It lives in its own library (msl_gradcheck), since it runs programs: the
// autodiff library itself does not depend on the runtime.
//
// A check takes msl source for a function f and argument values. With random weights w
// (seeded) for the float leaves of f's result, the loss L(args) = sum(f(args) * w) is
// differentiated by `grad` (J, as programs do) with respect to every float argument and
// compared, element by element, with (L(x + eps) - L(x - eps)) / (2 eps): so every
// cotangent the rule receives is a random one, not just ones.
//
// Second order: with Options::secondOrder the same comparison is made for
// L2(args) = sum(grad(L)(args) * v), v random: the gradient of the gradient against
// finite differences of the gradient (it needs grad of grad).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/Value.h"

namespace msl {
class Interpreter;
class Program;
}

namespace msl::gradcheck {

struct Options {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-5;  // |analytic - numeric| <= atol + rtol |numeric|
  double rtol = 1e-3;
  bool secondOrder = false;
  uint64_t seed = 0;   // the weights w (and v)
};

struct Result {
  bool ok = false;
  int64_t checked = 0;  // elements compared
  double worst = 0;     // largest |analytic - numeric| / (atol + rtol |numeric|)
  std::string message;  // what failed: an error, or the first mismatching elements
};

class Checker {
 public:
  Checker();
  ~Checker();
  // fnSource: an msl expression that evaluates to a function of args.size() positional
  // arguments (e.g. "lambda x, y: prod(x, axis=1) * y"); its result is a tree (tuples,
  // lists, dicts) of tensors and numbers. Arguments that are float64 tensors or Python
  // floats are checked; the others (integer indices, keys, strings) are passed along.
  // `prelude` is msl source run first (helper definitions the expression may use).
  Result check(const std::string& fnSource, const std::vector<Value>& args, const Options& opt = {},
               const std::string& prelude = "");
  // The value of an msl expression (arguments that are easiest written in msl).
  Value evaluate(const std::string& expr) { return load("__v = " + expr + "\n", "__v"); }

 private:
  Value load(const std::string& text, const std::string& name);
  Value loss(const Value& f, const std::vector<Value>& args, uint64_t seed, size_t* nw, std::vector<Value>* ws);
  Result compare(const Value& lossFn, const std::vector<Value>& args, const std::vector<size_t>& which, const Options& opt);
  std::vector<std::unique_ptr<Program>> programs_;
  std::unique_ptr<Interpreter> interp_;
  int counter_ = 0;
};

}  // namespace msl::gradcheck
