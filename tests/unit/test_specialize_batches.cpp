// One specialisation, and one compiled function, serves every batch size (ir/Specialize.h,
// DESIGN.md section 5): a training step called with batches of 128, 96, 1000, 96 and 1
// rows is specialised and compiled for the first two signatures only (the second on the
// join, with a symbolic batch dimension), and computes what a specialisation per shape
// computes, in eager and in graph mode. Static arguments of jit(f, static_argnums=...)
// specialise per value.
#include <gtest/gtest.h>

#include "codegen/Compiler.h"
#include "ir/IR.h"
#include "runtime/Interpreter.h"
#include "runtime/Print.h"
#include "tools/msl/Driver.h"
#include "graph_mode_test_util.h"

using namespace msl;
using msl::test::compiler;
using msl::test::load;

namespace {

const char* kTrain =
    "def step(w, x, y):\n"
    "    def loss(w):\n"
    "        return mean((tanh(x @ w + 0.1) - y) ** 2)\n"
    "    l, g = value_and_grad(loss)(w)\n"
    "    return l, w - 0.5 * g\n"
    "def train(sizes):\n"
    "    w = tensor([0.5, -1.0, 0.25])\n"
    "    out = []\n"
    "    for n in sizes:\n"
    "        x = arange(n * 3, dtype=f32).reshape(n, 3) / (n * 3.0)\n"
    "        y = arange(n, dtype=f32) % 2.0\n"
    "        l, w = step(w, x, y)\n"
    "        out.append(round(l, 5))\n"
    "    return out, round(w, 5)\n"
    "r = train(SIZES)\n";

struct Outcome {
  std::string value;  // repr of r
  int specs = 0;      // specialisations of `name`
  int compiled = 0;   // graphs compiled
};

Outcome run(const std::string& program, const std::string& sizes, bool graph, bool generalise,
        const std::string& name = "step") {
  compiler();
  std::string text = program;
  for (size_t at; (at = text.find("SIZES")) != std::string::npos;) text.replace(at, 5, sizes);
  Interpreter interp;
  interp.setGraphMode(graph);
  interp.specializer().setGeneralise(generalise);
  ir::Module* m = load(text);
  int before = compiler().compiledCount();
  interp.runModule(m);
  Outcome r;
  r.value = reprOf(interp.global(m->findGlobal("r")->id));
  for (const auto& g : m->graphs())  // the original (the first), not its clones
    if (g->name == name && g->isFunction) {
      r.specs = interp.specializer().count(g.get());
      break;
    }
  r.compiled = compiler().compiledCount() - before;
  return r;
}

TEST(SpecializeBatches, TwoSpecialisationsForFiveBatches) {
  const std::string sizes = "[128, 96, 1000, 96, 1]";
  Outcome perShape = run(kTrain, sizes, false, false);
  EXPECT_EQ(perShape.specs, 4);  // 128, 96, 1000, 1
  Outcome eager = run(kTrain, sizes, false, true);
  EXPECT_EQ(eager.specs, 2);  // 128, then [?, 3] for all the others
  EXPECT_EQ(eager.value, perShape.value);
  Outcome graph = run(kTrain, sizes, true, true);
  EXPECT_EQ(graph.specs, 2);
  EXPECT_EQ(graph.value, perShape.value);
}

TEST(SpecializeBatches, NoCompilesAfterTheSecondBatchSize) {
  Outcome one = run(kTrain, "[128]", true, true);
  Outcome two = run(kTrain, "[128, 96]", true, true);
  Outcome five = run(kTrain, "[128, 96, 1000, 96, 1]", true, true);
  EXPECT_GT(one.compiled, 0);
  EXPECT_GT(two.compiled, one.compiled);     // the generalised step (and what it calls)
  EXPECT_EQ(five.compiled, two.compiled);    // 1000, 96 and 1 run that code
  Outcome fivePerShape = run(kTrain, "[128, 96, 1000, 96, 1]", true, false);
  EXPECT_GT(fivePerShape.compiled, two.compiled);  // a compile per new shape
  EXPECT_EQ(five.value, fivePerShape.value);
}

TEST(SpecializeBatches, StaticArgumentsSpecialisePerValue) {
  const char* program =
      "def power_sum(x, n):\n"
      "    t = x\n"
      "    s = x\n"
      "    for i in range(n - 1):\n"
      "        t = t * x\n"
      "        s = s + t\n"
      "    return s.sum()\n"
      "p = jit(power_sum, static_argnums=1)\n"
      "q = jit(power_sum)\n"
      "x = tensor([1.0, 2.0])\n"
      "r = [float(p(x, n)) for n in SIZES] + [float(q(x, n)) for n in SIZES]\n";
  Outcome r = run(program, "[1, 3, 3, 4, 3]", false, true, "power_sum");
  EXPECT_EQ(r.value, "[3.0, 17.0, 17.0, 34.0, 17.0, 3.0, 17.0, 17.0, 34.0, 17.0]");
  EXPECT_EQ(r.specs, 4);  // n = 1, 3, 4 (static), and one for q (n dynamic)
}

}  // namespace
