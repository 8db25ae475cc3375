// The harness of msl_progen (Harness.h): a run's output is captured and its errors
// classified, each run starts from a fresh state, a registered mode is compared with the
// reference (a mode that prints something else is a mismatch), numbers compare within a
// mode's tolerance, and reduction keeps the finding while removing what it does not need.
#include <gtest/gtest.h>

#include "tests/progen/Harness.h"

using namespace msl::progen;

namespace {

const Mode& eager() { return *findMode("eager"); }

TEST(ProgenHarness, CapturesOutputAndErrors) {
  RunResult r = runIn(eager(), "a.msl", "print(1, 2.5)\nprint(tensor([1.0, 2.0]))\n", 20000);
  EXPECT_EQ(r.status, RunResult::Ok);
  EXPECT_EQ(r.out, "1 2.5\n[1. 2.]\n");
  r = runIn(eager(), "b.msl", "print(\"before\")\nx = 1 + \"s\"\n", 20000);
  EXPECT_EQ(r.status, RunResult::UserError);
  EXPECT_EQ(r.out, "before\n");
  EXPECT_EQ(r.err.rfind("b.msl:2:7: error: unsupported operand types for +", 0), 0u) << r.err;
}

TEST(ProgenHarness, FreshStateEachRun) {
  // A class and a global of the same names, defined differently by two programs.
  RunResult a = runIn(eager(), "a.msl", "class P:\n    x: int\nprint(P(x=1))\n", 20000);
  RunResult b = runIn(eager(), "a.msl", "class P:\n    y: float\nprint(P(y=2.0))\n", 20000);
  EXPECT_EQ(a.out, "P(x=1)\n");
  EXPECT_EQ(b.out, "P(y=2.0)\n");
}

TEST(ProgenHarness, TimeoutInterrupts) {
  RunResult r = runIn(eager(), "t.msl", "i = 0\nwhile True:\n    i += 1\n", 300);
  EXPECT_EQ(r.status, RunResult::Timeout);
}

TEST(ProgenHarness, RegisteredModeIsCompared) {
  // A mode that runs the interpreter and then prints one more line: always a mismatch.
  registerMode({"eager+extra", 0, 0, [](const std::string& n, const std::string& t) {
                  RunResult r = findMode("eager")->run(n, t);
                  printf("extra\n");
                  return r;
                }});
  const Mode* extra = findMode("eager+extra");
  ASSERT_NE(extra, nullptr);
  std::vector<const Mode*> ms{&eager(), extra};
  std::string text = "print(3)\n";
  std::vector<RunResult> rs{runIn(eager(), "p.msl", text, 20000), runIn(*extra, "p.msl", text, 20000)};
  std::string f = finding(ms, rs, true);
  EXPECT_EQ(findingKind(f), "mismatch between eager and eager+extra") << f;
  ms = {&eager(), &eager()};
  rs = {runIn(eager(), "p.msl", text, 20000), runIn(eager(), "p.msl", text, 20000)};
  EXPECT_EQ(finding(ms, rs, true), "");
}

TEST(ProgenHarness, GraphModeAgreesWithEager) {
  // Graph mode is registered; functions, branches, loops and errors run compiled and give
  // what eager mode gives, message and place included.
  const Mode* graph = findMode("graph");
  ASSERT_NE(graph, nullptr);
  std::string text =
      "def f(x, n):\n    s = 0.0\n    for i in range(n):\n        if i % 2 == 0:\n            s += float(x.sum())\n"
      "    return s\nprint(f(tensor([1.0, 2.0]), 5))\nprint(f(tensor([1.0, 2.0]), 'a'))\n";
  RunResult e = runIn(eager(), "g.msl", text, 20000), g = runIn(*graph, "g.msl", text, 20000);
  EXPECT_EQ(e.status, RunResult::UserError);
  EXPECT_EQ(g.status, RunResult::UserError);
  EXPECT_EQ(g.out, "9.0\n");
  EXPECT_EQ(g.err, e.err);
  EXPECT_EQ(finding({&eager(), graph}, {e, g}, false), "");
  // A compiled loop stops at its interrupt check when the time is up.
  EXPECT_EQ(runIn(*graph, "t.msl", "i = 0\nwhile True:\n    i += 1\n", 300).status, RunResult::Timeout);
}

TEST(ProgenHarness, StrictFindings) {
  std::vector<const Mode*> ms{&eager(), &eager()};
  auto run2 = [&](const std::string& t) {
    return std::vector<RunResult>{runIn(eager(), "s.msl", t, 20000), runIn(eager(), "s.msl", t, 20000)};
  };
  EXPECT_EQ(findingKind(finding(ms, run2("print(tensor([1.0]) / 0.0)\n"), true)), "non-finite output");
  EXPECT_EQ(finding(ms, run2("print(tensor([1.0]) / 0.0)\n"), false), "");
  EXPECT_EQ(findingKind(finding(ms, run2("x = undefined_name\n"), true)), "user error");
  EXPECT_EQ(finding(ms, run2("print(\"inference\", 1)\n"), true), "");  // 'inf' inside a word is not inf
}

TEST(ProgenHarness, ComparesWithinTolerance) {
  Mode loose{"loose", 1e-5, 1e-6, nullptr}, exact{"exact", 0, 0, nullptr};
  RunResult a, b;
  a.out = "v1 [1.0000001 2.5      ]\nv2 3\n";
  b.out = "v1 [1.0000002 2.5      ]\nv2 3\n";
  EXPECT_EQ(compare(a, b, loose), "");
  EXPECT_NE(compare(a, b, exact), "");
  b.out = "v1 [1.1 2.5      ]\nv2 3\n";
  EXPECT_NE(compare(a, b, loose), "");
  b.out = "v1 [1.0000001 2.5      ]\nv3 3\n";  // names are not numbers
  EXPECT_NE(compare(a, b, loose), "");
}

TEST(ProgenHarness, ReduceKeepsTheFinding) {
  std::string text =
      "a = 1\n"
      "b = 2\n"
      "if a < b:\n"
      "    c = a + b\n"
      "    print(c)\n"
      "d = max(a, b)\n"
      "print(\"bad\", d)\n"
      "e = 5\n";
  int calls = 0;
  std::string r = reduce(text, [&](const std::string& t) {
    ++calls;
    return t.find("print(\"bad\"") != std::string::npos && t.find("d = ") != std::string::npos;
  });
  EXPECT_EQ(r, "d = a\nprint(\"bad\", d)\n");
  EXPECT_GT(calls, 0);
}

}  // namespace
