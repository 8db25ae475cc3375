// Graph mode's branch folding (codegen/FoldBranches.h): a branch whose condition the
// specialisation decides runs as straight-line code in the enclosing graph, with the
// results, errors, places and tracebacks of eager mode. And the dropping of calls whose
// results are known and that can neither fail nor have effects (dropKnownCalls).
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
  int dropped = 0;    // calls dropped
};

Outcome run(const std::string& text, bool graph, bool fold = true, bool drop = true) {
  codegen::HostCompiler& c = compiler();
  c.setFoldBranches(fold);
  c.setDropKnownCalls(drop);
  int folded0 = c.foldedCount(), compiled0 = c.compiledCount(), dropped0 = c.droppedCount();
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
  o.dropped = c.droppedCount() - dropped0;
  c.setFoldBranches(true);
  c.setDropKnownCalls(true);
  return o;
}

// The program run in eager mode and in graph mode (folding and dropping on): graph mode
// gives eager mode's value or error.
struct Both {
  Outcome eager, graph;
};
Both runBoth(const std::string& text) {
  Both b{run(text, false), run(text, true)};
  EXPECT_EQ(b.graph.value, b.eager.value) << text;
  return b;
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
  // (calls of is_param kept: dropped, is_param would not run, so not be compiled at all)
  Outcome graph = run(kIsParam, true, true, false);
  EXPECT_EQ(graph.value, eager.value);
  EXPECT_NE(eager.value.find("tensor([0.5, 0.5, 0.5])"), std::string::npos) << eager.value;
  // is_param of an f32 tensor: `isinstance(...)` and `p.dtype == f32` are known True (two
  // branches); of an i32 tensor: `p.dtype == f32` and `== f64` are known False; and upd's
  // `if is_param(p)`, whose result the specialisation knows too, for both.
  EXPECT_GE(graph.folded, 5);
  // Without folding, the arms are graphs of their own, compiled when they run.
  Outcome unfolded = run(kIsParam, true, false, false);
  EXPECT_EQ(unfolded.value, eager.value);
  EXPECT_EQ(unfolded.folded, 0);
  EXPECT_GT(unfolded.compiled, graph.compiled);
}

TEST(FoldBranches, UndecidedBranchesStay) {
  const char* p =
      "def f(x, n):\n"
      "    return x * 2.0 if n > 1 else x\n"
      "r = [f(ones((2,)), 0), f(ones((2,)), 3)]\n";
  auto [eager, graph] = runBoth(p);
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
  auto [eager, graph] = runBoth(p);
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
    auto [eager, graph] = runBoth(p);
    EXPECT_NE(eager.value.find("error"), std::string::npos) << eager.value;
    EXPECT_GE(graph.folded, 1) << p;
  }
}

// upd's call of is_param (of an f32 and of an i32 tensor: known True and False) is
// dropped: the same results, with and without dropping.
TEST(DropKnownCalls, IsParamCallsGo) {
  auto [eager, graph] = runBoth(kIsParam);
  EXPECT_EQ(graph.dropped, 2);
  Outcome kept = run(kIsParam, true, true, false);
  EXPECT_EQ(kept.value, eager.value);
  EXPECT_EQ(kept.dropped, 0);
  // A module's function called as its attribute (optim's `common.is_param(p)`).
  const char* viaModule =
      "from optim import common\n"
      "def upd(p):\n"
      "    return p * 0.5 if common.is_param(p) else p\n"
      "r = (upd(ones((2,))), upd(arange(2)), upd(3))\n";
  Both m = runBoth(viaModule);
  EXPECT_NE(m.eager.value.find("tensor([0.5, 0.5])"), std::string::npos) << m.eager.value;
  // (not for the int: the check looks at both arms of `and`, and the one upd(3) does not
  // take reads .dtype of an int)
  EXPECT_EQ(m.graph.dropped, 2);
}

// Known results of other kinds: an int (a tensor's ndim), a dtype, None.
TEST(DropKnownCalls, IntsDTypesAndNone) {
  const char* p =
      "def rank(x):\n"
      "    return x.ndim\n"
      "def kind(x):\n"
      "    return x.dtype\n"
      "def nothing(x):\n"
      "    return None\n"
      "def f(x):\n"
      "    return (x.reshape((rank(x), -1)), kind(x), nothing(x))\n"
      "r = (f(ones((2, 3))), f(arange(4)))\n";
  auto [eager, graph] = runBoth(p);
  EXPECT_EQ(graph.dropped, 6);
}

// Calls that stay: the callee prints, may fail (an attribute of a value the check does
// not know to be a tensor; an item), calls a function, its result is not known, or it is
// defined twice. The results and errors are eager mode's.
TEST(DropKnownCalls, CallsThatMayFailOrHaveEffectsStay) {
  const char* programs[] = {
      "def f(p):\n"
      "    print('called')\n"
      "    return True\n"
      "def g(p):\n"
      "    return p * 2.0 if f(p) else p\n"
      "r = g(ones((2,)))\n",
      // isinstance decides the result, but the other arm reads .dtype of an int
      "def f(p):\n"
      "    return isinstance(p, int) or p.dtype == f32\n"
      "def g(p):\n"
      "    return 1 if f(p) else 2\n"
      "r = g(3)\n",
      "def f(p):\n"
      "    return p.dtype == f32\n"
      "def g(p):\n"
      "    return 1 if f(p) else 2\n"
      "r = g(3)\n",
      "def f(p):\n"
      "    return p.shape[5] == 2 or True\n"
      "def g(p):\n"
      "    return 1 if f(p) else 2\n"
      "r = g(ones((2,)))\n",
      "def h(p):\n"
      "    return isinstance(p, Tensor)\n"
      "def f(p):\n"
      "    return h(p)\n"
      "def g(p):\n"
      "    return 1 if f(p) else 2\n"
      "r = g(ones((2,)))\n",
      "def f(n):\n"
      "    return n == 3\n"
      "def g(n):\n"
      "    return 1 if f(n) else 2\n"
      "r = (g(3), g(4))\n",
      // f defined again: g calls the one current at the call (tests/lang/names)
      "def f(p):\n"
      "    return isinstance(p, Tensor)\n"
      "def g(p):\n"
      "    return f(p)\n"
      "a = g(ones((2,)))\n"
      "def f(p):\n"
      "    return False\n"
      "r = (a, g(ones((2,))))\n",
      // isinstance against something not a type fails
      "def f(x):\n"
      "    isinstance(x, print)\n"
      "    return True\n"
      "def g(x):\n"
      "    return 1 if f(x) else 2\n"
      "r = g(1)\n",
  };
  int expected[] = {0, 0, 0, 0, 1, 0, 0, 0};  // (f's call of h is dropped, not g's of f)
  for (size_t k = 0; k < std::size(programs); ++k) {
    Outcome graph = runBoth(programs[k]).graph;
    EXPECT_EQ(graph.dropped, expected[k]) << programs[k];
  }
}
