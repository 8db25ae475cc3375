// `msl build` (docs/aot.md, codegen/Build.h): host plans (ir/HostPlan.h) as the key of code
// compiled ahead of time, the table an executable looks graphs up in (runtime/AotCode.h),
// and whole executables: compiled code for every graph of the program (specialised
// clones included), the interpreter for graphs the table lacks, output and exit status
// identical to `msl run`, without sources or LLVM.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>

#include "codegen/AotPasses.h"
#include "codegen/Build.h"
#include "codegen/FusedSpecIO.h"
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

// ------------------------------------------------------------------ profile-guided kernels

namespace {

// A spec with every field away from its default: three inputs (a tensor, an int, a
// float), constants (a NaN with a payload, -0.0, a negative int), every op kind, two
// outputs and two in-place variants; a name with characters the text escapes.
codegen::FusedSpec everyField() {
  using codegen::FusedOp;
  codegen::FusedSpec s;
  s.name = "fused_y 2%\n\xc3\xa9";
  s.inputs = {{FusedKernel::In::Tensor, DType::F32, 2}, {FusedKernel::In::Int, DType::I64, 0},
              {FusedKernel::In::Float, DType::F64, 0}};
  s.innerStride = {1, 0, 0};
  auto op = [&](FusedOp::Kind k, DType dt, int a = -1, int b = -1, int c = -1) {
    FusedOp o;
    o.kind = k;
    o.dt = dt;
    o.a = a;
    o.b = b;
    o.c = c;
    s.ops.push_back(o);
    return (int)s.ops.size() - 1;
  };
  int x = op(FusedOp::Kind::Input, DType::F32, 0);
  int n = op(FusedOp::Kind::Input, DType::I64, 1);
  int f = op(FusedOp::Kind::Input, DType::F64, 2);
  int nan = op(FusedOp::Kind::ConstF, DType::F64);
  uint64_t bits = 0x7ff8000000012345ull;
  std::memcpy(&s.ops[(size_t)nan].f, &bits, 8);
  int negz = op(FusedOp::Kind::ConstF, DType::F64);
  s.ops[(size_t)negz].f = -0.0;
  int ci = op(FusedOp::Kind::ConstI, DType::I64);
  s.ops[(size_t)ci].i = -1234567890123ll;
  int nf = op(FusedOp::Kind::Cast, DType::F32, n);
  int sum = op(FusedOp::Kind::Bin, DType::F32, x, nf);
  s.ops[(size_t)sum].bin = BinOp::Max;
  int th = op(FusedOp::Kind::Un, DType::F32, sum);
  s.ops[(size_t)th].un = UnOp::GeluTanh;
  int cmp = op(FusedOp::Kind::Bin, DType::Bool, th, x);
  s.ops[(size_t)cmp].bin = BinOp::Le;
  int ff = op(FusedOp::Kind::Cast, DType::F32, f);
  int w = op(FusedOp::Kind::Where, DType::F32, cmp, th, ff);
  (void)negz;
  (void)ci;
  s.outDType = DType::F32;
  s.outRank = 2;
  s.outputs = {th, w};
  s.inplace = {{0, -1}, {-1, 0}};
  return s;
}

void expectSameSpec(const codegen::FusedSpec& a, const codegen::FusedSpec& b) {
  EXPECT_EQ(a.name, b.name);
  ASSERT_EQ(a.inputs.size(), b.inputs.size());
  for (size_t k = 0; k < a.inputs.size(); ++k) {
    EXPECT_EQ(a.inputs[k].kind, b.inputs[k].kind);
    EXPECT_EQ(a.inputs[k].dtype, b.inputs[k].dtype);
    EXPECT_EQ(a.inputs[k].rank, b.inputs[k].rank);
  }
  EXPECT_EQ(a.innerStride, b.innerStride);
  ASSERT_EQ(a.ops.size(), b.ops.size());
  for (size_t k = 0; k < a.ops.size(); ++k) {
    const codegen::FusedOp &x = a.ops[k], &y = b.ops[k];
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.dt, y.dt);
    EXPECT_EQ(x.a, y.a);
    EXPECT_EQ(x.b, y.b);
    EXPECT_EQ(x.c, y.c);
    EXPECT_EQ(x.bin, y.bin);
    EXPECT_EQ(x.un, y.un);
    EXPECT_EQ(x.i, y.i);
    EXPECT_EQ(std::memcmp(&x.f, &y.f, 8), 0) << k;  // NaN payloads and -0.0 exactly
  }
  EXPECT_EQ(a.outDType, b.outDType);
  EXPECT_EQ(a.outRank, b.outRank);
  EXPECT_EQ(a.outputs, b.outputs);
  EXPECT_EQ(a.inplace, b.inplace);
  EXPECT_EQ(a.reduce.op, b.reduce.op);
  EXPECT_EQ(a.reduce.lastAxis, b.reduce.lastAxis);
  EXPECT_EQ(a.reduce.keepdims, b.reduce.keepdims);
}

MslFusedKernelFn fakeKernel() {
  return [](void* const*, void* const*, int64_t, int64_t) {};
}

}  // namespace

// Every field of a spec survives its text; the key leaves out the name and the in-place
// variants only.
TEST(FusedSpecIO, SpecTextRoundTripsEveryField) {
  codegen::FusedSpec s = everyField();
  std::string text = codegen::specToText(s);
  EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  codegen::FusedSpec back;
  std::string err;
  ASSERT_TRUE(codegen::specFromText(text, &back, &err)) << err << "\n" << text;
  expectSameSpec(s, back);
  EXPECT_EQ(codegen::specToText(back), text);
  codegen::KernelOptions plain, fast;
  fast.fastExp = true;
  codegen::FusedSpec renamed = s;
  renamed.name = "other";
  renamed.inplace.clear();
  EXPECT_EQ(codegen::kernelKey(s, plain), codegen::kernelKey(renamed, plain));
  EXPECT_NE(codegen::kernelKey(s, plain), codegen::kernelKey(s, fast));
  codegen::FusedSpec changed = s;
  changed.innerStride[0] = 0;
  EXPECT_NE(codegen::kernelKey(s, plain), codegen::kernelKey(changed, plain));
  changed = s;
  changed.ops[4].f = 0.0;  // -0.0 and 0.0 are different kernels
  EXPECT_NE(codegen::kernelKey(s, plain), codegen::kernelKey(changed, plain));
  // A reduction epilogue (one float output, never in place) survives too, and is a
  // kernel of its own; several outputs with a reduction are refused.
  codegen::FusedSpec red = s;
  red.outputs = {red.outputs[1]};
  red.inplace.clear();
  red.reduce.op = FusedReduce::Op::Mean;
  red.reduce.lastAxis = true;
  red.reduce.keepdims = true;
  codegen::FusedSpec redBack;
  ASSERT_TRUE(codegen::specFromText(codegen::specToText(red), &redBack, &err)) << err;
  expectSameSpec(red, redBack);
  codegen::FusedSpec unreduced = red;
  unreduced.reduce = FusedReduce{};
  EXPECT_NE(codegen::kernelKey(red, plain), codegen::kernelKey(unreduced, plain));
  red.reduce.keepdims = false;
  EXPECT_NE(codegen::kernelKey(red, plain), codegen::kernelKey(redBack, plain));
  red.outputs = s.outputs;
  EXPECT_FALSE(codegen::specFromText(codegen::specToText(red), &redBack, &err));
}

// A text that is not a valid spec is rejected with a reason, never read into one that
// KernelGen would trip on: every truncation at a token boundary, operands that are not
// earlier values, unknown names, counts beyond the text.
TEST(FusedSpecIO, RejectsSpecsThatAreNotOnes) {
  std::string text = codegen::specToText(everyField());
  codegen::FusedSpec out;
  std::string err;
  for (size_t k = 0; k < text.size(); ++k) {
    if (text[k] != ' ') continue;
    err.clear();
    EXPECT_FALSE(codegen::specFromText(text.substr(0, k), &out, &err)) << text.substr(0, k);
    EXPECT_FALSE(err.empty());
  }
  EXPECT_FALSE(codegen::specFromText(text + " 1", &out, &err));
  EXPECT_EQ(err, "text after the spec");
  auto bad = [&](codegen::FusedSpec s, const std::string& why) {
    std::string e;
    EXPECT_FALSE(codegen::specFromText(codegen::specToText(s), &out, &e)) << why;
    EXPECT_NE(e.find(why), std::string::npos) << e;
  };
  codegen::FusedSpec s = everyField();
  s.ops[7].b = 7;  // itself
  bad(s, "operation %7 is invalid");
  s = everyField();
  s.ops[0].a = 3;  // input 3 of 3
  bad(s, "operation %0 is invalid");
  s = everyField();
  s.outputs.push_back(99);
  bad(s, "an output is not a value");
  s = everyField();
  s.inplace[0] = {5, -1};
  bad(s, "in-place variant names no input");
  s = everyField();
  s.innerStride.pop_back();
  bad(s, "an inner stride per input");
  s = everyField();
  s.inputs[0].dtype = DType::F16;  // no code for it
  bad(s, "input 0 is invalid");
  std::string t = text;
  ASSERT_NE(t.find(" gelu_tanh "), std::string::npos) << t;  // both gelus have names of their own
  t.replace(t.find(" gelu_tanh "), 11, " nosuch ");
  EXPECT_FALSE(codegen::specFromText(t, &out, &err));
  t = text;
  t.replace(t.find(" 3 {"), 4, " 999999 {");  // inputs: a count beyond the text
  EXPECT_FALSE(codegen::specFromText(t, &out, &err));
  EXPECT_NE(err.find("beyond the spec's end"), std::string::npos) << err;
}

// The record of a run: kernels once per key, plans once, in order; every single-byte
// change and every truncation is an error with its line (the checksum), never a record.
TEST(FusedSpecIO, RecordRoundTripsAndRejectsAlteredFiles) {
  codegen::CompiledRecord r;
  codegen::FusedSpec s = everyField();
  codegen::KernelOptions plain;
  r.addKernel(s, plain);
  codegen::FusedSpec renamed = s;
  renamed.name = "again";
  r.addKernel(renamed, plain);  // the same kernel
  r.addPlan("s3is2");
  r.addPlan("s1");
  r.addPlan("s3is2");
  ASSERT_EQ(r.kernels.size(), 1u);
  ASSERT_EQ(r.plans, (std::vector<std::string>{"s3is2", "s1"}));
  std::string text = r.text();
  codegen::CompiledRecord back;
  std::string err;
  ASSERT_TRUE(codegen::CompiledRecord::parse(text, &back, &err)) << err;
  ASSERT_EQ(back.kernels.size(), 1u);
  expectSameSpec(back.kernels[0].spec, s);
  EXPECT_EQ(back.plans, r.plans);
  for (size_t k = 0; k < text.size(); ++k) {
    std::string t = text;
    t[k] = t[k] == 'x' ? 'y' : 'x';
    err.clear();
    EXPECT_FALSE(codegen::CompiledRecord::parse(t, &back, &err)) << "byte " << k;
    EXPECT_EQ(err.rfind("line ", 0), 0u) << err;
    err.clear();
    EXPECT_FALSE(codegen::CompiledRecord::parse(text.substr(0, k), &back, &err)) << "truncated at " << k;
  }
  EXPECT_FALSE(codegen::CompiledRecord::parse("", &back, &err));
  EXPECT_FALSE(codegen::CompiledRecord::parse("hello\n", &back, &err));
  EXPECT_NE(err.find("not a record"), std::string::npos) << err;
}

// Plans read back from their text exactly; texts hostPlanText does not make are rejected.
TEST(HostPlan, TextParsesBack) {
  Program prog({});
  ir::Module* m = prog.loadText("<plans>",
                                "def branchy(x):\n    if x > 0:\n        return 1\n    return 2\n"
                                "def loopy(n):\n    s = 0\n    while s < n:\n        s = s + 1\n    return s\n");
  for (const char* name : {"branchy", "loopy"}) {
    std::vector<ir::HostOp> plan = ir::planHostGraph(graphNamed(*m, name)), back;
    std::string text = ir::hostPlanText(plan);
    ASSERT_TRUE(ir::parseHostPlanText(text, &back)) << text;
    EXPECT_EQ(ir::hostPlanText(back), text);
    ASSERT_EQ(back.size(), plan.size());
    for (size_t k = 0; k < plan.size(); ++k) {
      EXPECT_EQ(back[k].kind, plan[k].kind);
      EXPECT_EQ(back[k].i, plan[k].i);
    }
  }
  std::vector<ir::HostOp> out;
  for (const char* bad : {"s0", "s", "x1", "s2@2s1", "@0s1", "s99999999999", "s16777216", "i@"})
    EXPECT_FALSE(ir::parseHostPlanText(bad, &out)) << bad;
}

// An executable's kernel table: a spec whose key it holds gets the table's function,
// lanes and stride; another is refused and listed with its place.
TEST(AotKernelTable, GivesKernelsByKeyAndListsMissingOnes) {
  codegen::FusedSpec s = everyField();
  std::string key = codegen::kernelKey(s, codegen::KernelOptions{});
  MslAotKernel entries[] = {{key.c_str(), fakeKernel(), 16, 1}};
  codegen::AotKernelTable table(entries, 1);
  EXPECT_TRUE(table.available(s, nullptr));
  codegen::FusedSpec other = s;
  other.outRank = 1;
  other.name = "fused_z";
  EXPECT_FALSE(table.available(other, nullptr));
  ASSERT_EQ(table.missing().size(), 1u);
  EXPECT_EQ(table.missing()[0], "<no location>: fused_z");
  int id = codegen::reserveFusedKernel(s);
  table.provide({{id, &s}}, codegen::KernelOptions{});
  FusedKernel* k = fusedKernel(id);
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->fn, entries[0].fn);
  EXPECT_EQ(k->lanes, 16);
  EXPECT_EQ(k->innerStride, s.innerStride);
  EXPECT_EQ(k->inplace, s.inplace);
  EXPECT_EQ(k->nonTemporalBytes, lastLevelCacheBytes());
  EXPECT_EQ(table.used(), 1);
}

