// `msl build` (docs/aot.md, codegen/Build.h): host plans (ir/HostPlan.h) as the key of code
// compiled ahead of time, the table an executable looks graphs up in (runtime/AotCode.h),
// and whole executables: compiled code for every graph of the program (specialised
// clones included), the interpreter for graphs the table lacks, output and exit status
// identical to `msl run`, without sources or LLVM.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>

#include "codegen/Build.h"
#include "frontend/LowerToIR.h"
#include "ir/HostPlan.h"
#include "ir/IR.h"
#include "runtime/AotCode.h"
#include "tools/msl/Driver.h"
#include "process_test_util.h"

using namespace msl;
using namespace msl::test;

namespace {

const ir::Graph* graphNamed(const ir::Module& m, const std::string& name) {
  for (const auto& g : m.graphs())
    if (g->name == name) return g.get();
  return nullptr;
}

int32_t fakeCode(void*) { return 0; }

}  // namespace

// A plan names steps, branches and loops; straight-line code is one run of steps.
TEST(HostPlan, TextOfStepsBranchesAndLoops) {
  Program prog({});
  ir::Module* m = prog.loadText("<plan>",
                                "def straight(x):\n    y = x + 1\n    return y * 2\n"
                                "def branchy(x):\n    if x > 0:\n        return 1\n    return 2\n"
                                "def loopy(n):\n    s = 0\n    while s < n:\n        s = s + 1\n    return s\n");
  std::string s = ir::hostPlanText(ir::planHostGraph(graphNamed(*m, "straight")));
  EXPECT_EQ(s.find_first_not_of("s0123456789"), std::string::npos) << s;
  EXPECT_NE(ir::hostPlanText(ir::planHostGraph(graphNamed(*m, "branchy"))).find('i'), std::string::npos);
  EXPECT_NE(ir::hostPlanText(ir::planHostGraph(graphNamed(*m, "loopy"))).find('w'), std::string::npos);
}

// The table serves a graph the function of its plan, and nothing (the interpreter) for a
// plan it lacks; the report names the graph and its place.
TEST(AotCodeTable, LooksGraphsUpByPlan) {
  Program prog({});
  ir::Module* m = prog.loadText("<table>",
                                "def f(x):\n    return x + 1\n"
                                "def g(x):\n    while x < 3:\n        x = x + 1\n    return x\n");
  const ir::Graph* f = graphNamed(*m, "f");
  const ir::Graph* g = graphNamed(*m, "g");
  std::string planF = ir::hostPlanText(ir::planHostGraph(f));
  ASSERT_NE(planF, ir::hostPlanText(ir::planHostGraph(g)));
  MslAotFunction entries[] = {{planF.c_str(), fakeCode}};
  AotCodeTable table(entries, 1);
  EXPECT_EQ(table.compile(f), &fakeCode);
  EXPECT_EQ(table.compile(g), nullptr);
  EXPECT_EQ(table.hits(), 1);
  EXPECT_EQ(table.misses(), 1);
  std::string r = table.report();
  EXPECT_NE(r.find("1 graphs ran code compiled ahead of time (1 functions), 1 ran in the interpreter"),
            std::string::npos) << r;
  EXPECT_NE(r.find("<table>:3:5: g (plan "), std::string::npos) << r;  // the def's name
}

// The whole command: the executable prints what `msl run` prints (an error with its place,
// caret and traceback included) after the sources are gone; every graph it runs (functions
// specialised to two signatures, branches, loops, closures, stdlib code) ran compiled code;
// the graphs grad makes at run time are listed by the build.
TEST(AotBuild, ExecutableMatchesMslRunAndRunsCompiledCode) {
  std::string dir = tempDir();
  ASSERT_FALSE(dir.empty());
  writeFile(dir + "/helper.msl", "def twice(x):\n    return 2 * x\n");
  std::string file = dir + "/prog.msl";
  writeFile(file,
            "import helper\n"
            "import nn\n"
            "def f(x):\n"
            "    s = x\n"
            "    for i in range(3):\n"
            "        if i % 2 == 0:\n"
            "            s = s + helper.twice(x)\n"
            "    return s\n"
            "print(f(1), f(2.5), f(tensor([1.0, 2.0])))\n"
            "adder = lambda k: lambda v: v + k\n"
            "print(adder(3)(4), len(argv))\n"
            "print(grad(lambda w: sum(w * w))(tensor([1.0, 2.0])))\n"
            "def fail(n):\n"
            "    return 1 / (n - n)\n"
            "print(fail(len(argv)))\n");
  int status = 0;
  std::string wantOut = run(std::string(MSL_BINARY) + " run " + file + " a 2>" + dir + "/want.txt", &status);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 1);
  codegen::BuildReport report;
  {
    Program prog({});
    ir::Module* main = prog.loadMain(file);
    codegen::BuildOptions o;
    std::string err = codegen::buildExecutable(ir::ProgramImage{prog.modules(), main, &builtinsModule(), {}},
                                               dir + "/prog", o, &report);
    ASSERT_EQ(err, "");
  }
  EXPECT_GT(report.graphs, report.functions);  // graphs share plans
  EXPECT_GT(report.functions, 1);
  ASSERT_EQ(report.runtimeGraphs.size(), 1u);
  EXPECT_EQ(report.runtimeGraphs[0], file + ":12:7: grad(...)");
  std::remove(file.c_str());
  std::remove((dir + "/helper.msl").c_str());
  std::string out = run("MSL_AOT_REPORT=1 " + dir + "/prog a 2>" + dir + "/err.txt", &status);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_EQ(out, wantOut);
  std::string err = readFile(dir + "/err.txt");
  std::string want = readFile(dir + "/want.txt");
  // The error as msl run shows it, then the table's report.
  ASSERT_EQ(err.substr(0, want.size()), want) << err;
  EXPECT_NE(want.find("Traceback (most recent call last):"), std::string::npos) << want;
  std::string rep = err.substr(want.size());
  EXPECT_EQ(rep.rfind("msl: ", 0), 0u) << rep;
  // Only graphs grad made at run time may have run in the interpreter: those of the
  // lambda of line 12 (J's graphs keep their original's place).
  size_t line = rep.find('\n');
  while (line != std::string::npos && line + 1 < rep.size()) {
    size_t next = rep.find('\n', line + 1);
    std::string l = rep.substr(line + 1, next - line - 1);
    if (l.find(file + ":") != std::string::npos) {
      EXPECT_NE(l.find(file + ":12:"), std::string::npos) << "a graph of the program was interpreted: " << l;
    }
    line = next;
  }
  std::string libs = run("ldd " + dir + "/prog", &status);
  EXPECT_EQ(libs.find("LLVM"), std::string::npos) << libs;
  std::system(("rm -rf " + dir).c_str());
}
