// Graph mode (runtime/GraphMode.h, codegen/HostGen.h): the lowering keeps control flow as
// control flow (a loop is an LLVM loop with a back-edge, `if` a conditional branch), and
// compiled code computes what the interpreter computes, with the same errors, tracebacks
// and in-place updates.
#include <gtest/gtest.h>
#include <pthread.h>

#include <llvm/Analysis/LoopInfo.h>
#include <llvm/IR/Dominators.h>
#include <llvm/IR/Instructions.h>
#include <llvm/Support/raw_ostream.h>

#include "codegen/Compiler.h"
#include "codegen/HostGen.h"
#include "ir/IR.h"
#include "runtime/Interpreter.h"
#include "runtime/Print.h"
#include "runtime/Tensor.h"
#include "tools/msl/Driver.h"
#include "graph_mode_test_util.h"

using namespace msl;
using msl::test::compiler;
using msl::test::load;

namespace {

const ir::Graph* graphNamed(const ir::Module* m, const std::string& name) {
  for (const auto& g : m->graphs())
    if (g->name == name && g->isFunction) return g.get();
  return nullptr;
}

int countCalls(const llvm::Function& f, const std::string& callee) {
  int n = 0;
  for (const llvm::BasicBlock& bb : f)
    for (const llvm::Instruction& in : bb)
      if (auto* c = llvm::dyn_cast<llvm::CallInst>(&in))
        if (c->getCalledFunction() && c->getCalledFunction()->getName() == callee) ++n;
  return n;
}

struct Lowered {
  std::unique_ptr<llvm::LLVMContext> ctx = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> m;
  llvm::Function* f = nullptr;
  int loops() {
    llvm::DominatorTree dt(*f);
    llvm::LoopInfo li(dt);
    return (int)std::distance(li.begin(), li.end());
  }
};

Lowered lower(const std::string& text, const std::string& fn) {
  Lowered l;
  const ir::Graph* g = graphNamed(load(text), fn);
  EXPECT_NE(g, nullptr);
  l.m = codegen::lowerHostGraph(g, "test_fn", *l.ctx);
  l.f = l.m->getFunction("test_fn");
  return l;
}

// The printed value of global `name` after running `text` in eager or graph mode, or the
// rendered error.
std::string run(const std::string& text, const std::string& name, bool graph) {
  compiler();
  Interpreter interp;
  interp.setGraphMode(graph);
  ir::Module* m = load(text);
  try {
    interp.runModule(m);
  } catch (Error& e) {
    return renderDiagnostic(e.diag);
  }
  return reprOf(interp.global(m->findGlobal(name)->id));
}

}  // namespace

TEST(HostGen, WhileLoopIsALoop) {
  Lowered l = lower(
      "def f(n):\n"
      "    s = 0\n"
      "    while s < n:\n"
      "        s = s + 1\n"
      "    return s\n",
      "f");
  ASSERT_NE(l.f, nullptr);
  EXPECT_EQ(l.loops(), 1);  // a back-edge, not unrolled code
  EXPECT_EQ(countCalls(*l.f, "msl_rt_loop_body"), 1);
  EXPECT_EQ(countCalls(*l.f, "msl_rt_loop_interrupt"), 1);  // checked at the back-edge
}

TEST(HostGen, ForLoopIsALoop) {
  Lowered l = lower(
      "def f(xs):\n"
      "    t = 0\n"
      "    for x in xs:\n"
      "        if x > 3:\n"
      "            break\n"
      "        t = t + x\n"
      "    return t\n",
      "f");
  ASSERT_NE(l.f, nullptr);
  EXPECT_EQ(l.loops(), 1);
  EXPECT_EQ(countCalls(*l.f, "msl_rt_loop_body"), 1);
}

TEST(HostGen, IfIsABranch) {
  Lowered l = lower(
      "def f(x):\n"
      "    if x > 0:\n"
      "        y = x * 2\n"
      "    else:\n"
      "        y = -x\n"
      "    return y\n",
      "f");
  ASSERT_NE(l.f, nullptr);
  EXPECT_EQ(countCalls(*l.f, "msl_rt_truth"), 1);
  EXPECT_EQ(countCalls(*l.f, "msl_rt_call_arm"), 2);  // one call per arm
  EXPECT_EQ(l.loops(), 0);
}

TEST(GraphMode, SameResultsAsTheInterpreter) {
  const char* programs[][2] = {
      {"def fib(n):\n"
       "    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
       "r = fib(15)\n", "r"},
      {"def mk(a):\n"
       "    def add(b, c=10, *rest, **kw):\n"
       "        return a + b + c + len(rest) + len(kw)\n"
       "    return add\n"
       "g = mk(1)\n"
       "r = (g(2), g(2, 3), g(2, 3, 4, 5, k=1), g(c=0, b=5))\n", "r"},
      {"def f(n):\n"
       "    l = []\n"
       "    i = 0\n"
       "    while True:\n"
       "        i += 1\n"
       "        if i % 2 == 0:\n"
       "            continue\n"
       "        if i > n:\n"
       "            break\n"
       "        l.append(i)\n"
       "    return l\n"
       "r = f(9)\n", "r"},
      {"def f(x):\n"
       "    d = {'a': x, 'b': [x, x * 2]}\n"
       "    d['c'] = d['b'][1] + 1\n"
       "    s = ''\n"
       "    for k in d:\n"
       "        s += k\n"
       "    return s, d, sum([v for v in range(5)])\n"
       "r = f(tensor([1.0, 2.0]))\n", "r"},
      {"def f(x):\n"
       "    return (x * x).sum()\n"
       "r = grad(f)(tensor([1.0, 2.0, 3.0]))\n", "r"},
  };
  for (auto& p : programs) {
    std::string eager = run(p[0], p[1], false);
    int before = compiler().compiledCount();
    EXPECT_EQ(run(p[0], p[1], true), eager) << p[0];
    EXPECT_GT(compiler().compiledCount(), before);  // it did run compiled code
  }
}

TEST(GraphMode, ErrorsAsInTheInterpreter) {
  const char* programs[] = {
      "def inner(l, i):\n"
      "    return l[i]\n"
      "def outer(n):\n"
      "    t = 0\n"
      "    for i in range(n):\n"
      "        t += inner([1, 2, 3], i)\n"
      "    return t\n"
      "r = outer(5)\n",
      "def f(n):\n"
      "    return f(n + 1)\n"
      "r = f(0)\n",
      "def f(x):\n"
      "    if x:\n"
      "        return 1\n"
      "    return 0\n"
      "r = f(tensor([1.0, 2.0]))\n",
      // An error in code inlined into the gradient graph: `if self.b is None` is decided
      // by the specialisation, so cleaning inlines the taken arm (autodiff/Clean.cpp).
      "class L:\n"
      "    w: Tensor\n"
      "    b: Tensor = None\n"
      "    def __call__(self, x):\n"
      "        y = x @ self.w\n"
      "        if self.b is None:\n"
      "            return y\n"
      "        return y + self.b[int(sum(x))]\n"
      "def loss(m, x):\n"
      "    return sum(m(x))\n"
      "r = grad(loss)(L(w=ones((3, 2)), b=ones((2,))), ones((4, 3)))\n",
  };
  // The recursion reaches the call-depth limit (1000 calls): run on a stack as large as
  // the msl tool's program thread (tools/msl/Driver.cpp), which sanitizer builds need.
  struct Job {
    const char* const* programs;
    size_t n;
  } job{programs, sizeof programs / sizeof programs[0]};
  auto body = [](void* arg) -> void* {
    auto* j = static_cast<Job*>(arg);
    for (size_t i = 0; i < j->n; ++i) {
      const char* p = j->programs[i];
      std::string eager = run(p, "r", false);
      EXPECT_NE(eager.find("error"), std::string::npos) << eager;
      EXPECT_EQ(run(p, "r", true), eager) << p;
    }
    return nullptr;
  };
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, size_t(1) << 30);
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, &attr, body, &job), 0);
  pthread_join(t, nullptr);
  pthread_attr_destroy(&attr);
}

TEST(GraphMode, LoopUpdatesInPlace) {
  const char* p =
      "def fill(n):\n"
      "    x = zeros((n,))\n"
      "    for i in range(n):\n"
      "        x[i] = 1.0\n"
      "    return x.sum()\n"
      "r = fill(20000)\n";
  uint64_t t0 = tensorCopyCount();
  std::string r = run(p, "r", true);
  EXPECT_EQ(tensorCopyCount() - t0, 0u);  // last uses move in compiled code too
  EXPECT_EQ(r, run(p, "r", false));
}
