// Graph mode's branch folding (codegen/FoldBranches.h): a branch whose condition the
// specialisation decides runs as straight-line code in the enclosing graph, with the
// results, errors, places and tracebacks of eager mode.
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

struct Outcome {
  std::string value;  // repr of global `r`, or the rendered error
  int folded = 0;     // branches folded while running (graph mode)
  int compiled = 0;   // graphs compiled
};

Outcome run(const std::string& text, bool graph, bool fold = true) {
  codegen::HostCompiler& c = compiler();
  c.setFoldBranches(fold);
  int folded0 = c.foldedCount(), compiled0 = c.compiledCount();
  Interpreter interp;
  interp.setGraphMode(graph);
  ir::Module* m = load(text);
  Outcome o;
  try {
    interp.runModule(m);
    o.value = reprOf(interp.global(m->findGlobal("r")->id));
  } catch (Error& e) {
    o.value = renderDiagnostic(e.diag);
  }
  o.folded = c.foldedCount() - folded0;
  o.compiled = c.compiledCount() - compiled0;
  c.setFoldBranches(true);
  return o;
}

// optim/common.msl's test, and a caller like Adam's tree_map callbacks.
const char* kIsParam =
    "def is_param(p):\n"
    "    return isinstance(p, Tensor) and (p.dtype == f32 or p.dtype == f64)\n"
    "def upd(p, g):\n"
    "    return p - 0.5 * g if is_param(p) else p\n"
    "def step(ps, gs):\n"
    "    return [upd(p, g) for p, g in zip(ps, gs)]\n"
    "r = step([ones((3,)), arange(3, dtype=i32)], [ones((3,)), ones((3,))])\n";

}  // namespace

TEST(FoldBranches, DecidedBranchesAreStraightLine) {
  Outcome eager = run(kIsParam, false);
  Outcome graph = run(kIsParam, true);
  EXPECT_EQ(graph.value, eager.value);
  EXPECT_NE(eager.value.find("tensor([0.5, 0.5, 0.5])"), std::string::npos) << eager.value;
  // is_param of an f32 tensor: `isinstance(...)` and `p.dtype == f32` are known True (two
  // branches); of an i32 tensor: `p.dtype == f32` and `== f64` are known False; and upd's
  // `if is_param(p)`, whose result the specialisation knows too, for both.
  EXPECT_GE(graph.folded, 5);
  // Without folding, the arms are graphs of their own, compiled when they run.
  Outcome unfolded = run(kIsParam, true, false);
  EXPECT_EQ(unfolded.value, eager.value);
  EXPECT_EQ(unfolded.folded, 0);
  EXPECT_GT(unfolded.compiled, graph.compiled);
}

TEST(FoldBranches, UndecidedBranchesStay) {
  const char* p =
      "def f(x, n):\n"
      "    return x * 2.0 if n > 1 else x\n"
      "r = [f(ones((2,)), 0), f(ones((2,)), 3)]\n";
  Outcome eager = run(p, false);
  Outcome graph = run(p, true);
  EXPECT_EQ(graph.value, eager.value);
  EXPECT_EQ(graph.folded, 0);
}

// The arm moved into its function keeps what it holds: a local function capturing the
// arm's values, an undecided branch, a loop; the else arm is taken where the abstracts
// say False.
TEST(FoldBranches, ArmsWithClosuresBranchesAndLoops) {
  const char* p =
      "def f(x):\n"
      "    if isinstance(x, Tensor):\n"
      "        s = x * 2.0\n"
      "        def k(t):\n"
      "            return t + s\n"
      "        for i in range(3):\n"
      "            s = s + 1.0\n"
      "        return k(x) + (1.0 if float(x.sum()) > 0 else 2.0)\n"
      "    return x\n"
      "def g(x):\n"
      "    if isinstance(x, int):\n"
      "        return x + 1\n"
      "    else:\n"
      "        y = x * 3.0\n"
      "        return y\n"
      "def h(x):\n"
      "    y = 1.0 if isinstance(x, Tensor) else 2.0\n"
      "    def k():\n"
      "        return y * x\n"
      "    return k()\n"
      "r = (f(ones((3,))), f(5), g(ones((2,))), g(4), h(ones((2,))))\n";
  Outcome eager = run(p, false);
  Outcome graph = run(p, true);
  EXPECT_EQ(graph.value, eager.value);
  EXPECT_NE(eager.value.find("tensor([4., 4., 4.])"), std::string::npos) << eager.value;
  EXPECT_GE(graph.folded, 4);
}

// Errors raised by a folded arm's nodes, and by calls made from them: the message, the
// place and the traceback of eager mode.
TEST(FoldBranches, ErrorsAsInTheInterpreter) {
  const char* programs[] = {
      "def f(x):\n"
      "    if isinstance(x, Tensor):\n"
      "        y = x * 2.0\n"
      "        return y[5]\n"
      "    return x\n"
      "r = f(ones((3,)))\n",
      "def g(v):\n"
      "    return v[7]\n"
      "def f(x):\n"
      "    if x.dtype == f32:\n"
      "        return g(x) + 1.0\n"
      "    return x\n"
      "def h(x):\n"
      "    return f(x)\n"
      "r = h(ones((3,)))\n",
      "def f(x):\n"
      "    z = x if isinstance(x, Tensor) and x.dtype == f32 else None\n"
      "    return z @ ones((4, 4))\n"
      "r = f(ones((3,)))\n",
  };
  for (const char* p : programs) {
    Outcome eager = run(p, false);
    EXPECT_NE(eager.value.find("error"), std::string::npos) << eager.value;
    Outcome graph = run(p, true);
    EXPECT_EQ(graph.value, eager.value) << p;
    EXPECT_GE(graph.folded, 1) << p;
  }
}
