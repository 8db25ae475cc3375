// Program images (ir/Serialize.h): a loaded program serialises to bytes and back to the
// same IR; corrupt images are errors naming the failed check, never crashes; and an
// executable made of an image and the runtime library (runtime/AotMain.h, codegen/Aot.h)
// runs the program without the compiler, the sources or LLVM.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>

#include "codegen/Aot.h"
#include "frontend/LowerToIR.h"
#include "ir/Printer.h"
#include "ir/Serialize.h"
#include "tools/msl/Driver.h"
#include "process_test_util.h"

using namespace msl;
using namespace msl::test;

namespace {

// A program using every kind of constant the frontend makes: module-level variables,
// closures, defaults, keyword arguments, classes, records, loops, branches, an import of
// a module of its own folder and one of the standard library, dtypes, strings, floats.
const char* kHelper =
    "SCALE = 3\n"
    "def scaled(x, k=SCALE):\n"
    "    return x * k\n";

const char* kMain =
    "import helper\n"
    "from optim import sgd\n"
    "class Point:\n"
    "    x: float\n"
    "    y: float = 2.5\n"
    "    def norm1(self):\n"
    "        return abs(self.x) + abs(self.y)\n"
    "def outer(a, *rest, scale=1.0, **kw):\n"
    "    def inner(b):\n"
    "        return a + b * scale\n"
    "    total = 0\n"
    "    for i in range(3):\n"
    "        if i == 1:\n"
    "            continue\n"
    "        total = total + inner(i)\n"
    "    while total > 100:\n"
    "        total = total - 1\n"
    "    return total, len(rest), sorted(kw)\n"
    "p = Point(x=-1.5)\n"
    "t = tensor([1.0, -0.0, 1e300], dtype=f64)\n"
    "s = 'héllo ✓ \\n'\n"
    "xs = [helper.scaled(2), outer(1, 2, 3, scale=0.5, z=1), p.norm1(), -9223372036854775807 - 1]\n"
    "f = lambda v: v[...]\n"
    "print(xs, s, t.dtype, f(t), None, True, argv[0])\n";

struct Loaded {
  std::unique_ptr<Program> prog;
  ir::Module* main = nullptr;
  ir::ProgramImage image() { return ir::ProgramImage{prog->modules(), main, &builtinsModule(), {}}; }
};

Loaded loadProgram(const std::string& dir) {
  writeFile(dir + "/helper.msl", kHelper);
  writeFile(dir + "/main.msl", kMain);
  Loaded l;
  l.prog = std::make_unique<Program>(std::vector<std::string>{});
  l.main = l.prog->loadMain(dir + "/main.msl");
  return l;
}

std::string printAll(const std::vector<ir::Module*>& ms) {
  std::string out;
  for (const ir::Module* m : ms) out += "; module " + m->name + "\n" + ir::printModule(*m);
  return out;
}

std::string describeLocs(const std::vector<ir::Module*>& ms) {
  std::string out;
  auto loc = [&](SourceLoc l) {
    if (!l.file) return std::string("-");
    return l.file->name + ":" + std::to_string(l.line) + ":" + std::to_string(l.col) + " |" + std::string(l.file->line(l.line)) + "|";
  };
  for (const ir::Module* m : ms) {
    out += m->name + " " + (m->file ? m->file->name + " " + std::to_string(m->file->text.size()) : "-") + "\n";
    for (const ir::GlobalVar* g : m->globals) out += "  global " + g->name + " " + loc(g->firstDef) + "\n";
    for (auto& gp : m->graphs()) {
      const ir::Graph* g = gp.get();
      out += " graph " + g->qualname + " " + loc(g->loc) + (g->isFunction ? " fn" : "") + (g->isMethod ? " method" : "") +
             " fv=" + std::to_string(g->freeVars.size()) + "\n";
      for (const ir::Node* n : g->params) out += "  param " + n->name + " " + loc(n->loc) + "\n";
      for (const ir::Node* n : g->nodes) out += "  %" + std::to_string(n->id) + " " + loc(n->loc) + "\n";
    }
  }
  return out;
}

}  // namespace

TEST(Serialize, RoundTripGivesTheSameProgramAndTheSameBytes) {
  std::string dir = tempDir();
  ASSERT_FALSE(dir.empty());
  Loaded l = loadProgram(dir);
  ir::ProgramImage orig = l.image();
  std::string bytes = ir::serialize(orig);
  std::string text = printAll(orig.modules), locs = describeLocs(orig.modules);
  ASSERT_GE(orig.modules.size(), 3u);  // helper, optim.sgd (and its imports), main
  ir::ProgramImage copy = ir::deserialize(bytes);
  ASSERT_EQ(copy.modules.size(), orig.modules.size());
  EXPECT_EQ(copy.main, copy.modules.back());
  EXPECT_EQ(copy.main->name, "__main__");
  ASSERT_NE(copy.builtins, nullptr);
  EXPECT_NE(copy.builtins->findGlobal("argv"), nullptr);
  // The same graphs, node ids, constants, names, locations (and their source lines).
  EXPECT_EQ(printAll(copy.modules), text);
  EXPECT_EQ(describeLocs(copy.modules), locs);
  // Nothing was lost or added: the copy serialises to the same bytes.
  EXPECT_EQ(ir::serialize(copy), bytes);
  // The copy stands alone: the original program can go.
  l.prog.reset();
  EXPECT_EQ(printAll(copy.modules), text);
  std::system(("rm -rf " + dir).c_str());
}

TEST(Serialize, ConstantsKeepTheirExactValues) {
  std::string dir = tempDir();
  Loaded l = loadProgram(dir);
  ir::ProgramImage copy = ir::deserialize(ir::serialize(l.image()));
  bool minInt = false, negZero = false, big = false, unicode = false, dtype = false;
  for (auto& gp : copy.main->graphs())
    for (ir::Node* n : gp->nodes)
      for (ir::Node* in : n->inputs) {
        if (!in->isConst()) continue;
        if (in->ckind == ir::ConstKind::Int && (in->i == 9223372036854775807LL || in->i == -9223372036854775807LL)) minInt = true;
        if (in->ckind == ir::ConstKind::Float && in->f == 0.0 && std::signbit(in->f)) negZero = true;
        if (in->ckind == ir::ConstKind::Float && in->f == 1e300) big = true;
        if (in->ckind == ir::ConstKind::Str && in->s == "héllo ✓ \n") unicode = true;
        if (in->ckind == ir::ConstKind::DType && in->dtype == DType::F64) dtype = true;
      }
  EXPECT_TRUE(minInt);
  EXPECT_TRUE(negZero || big);  // -0.0 may be folded by the lowering into a negation
  EXPECT_TRUE(big);
  EXPECT_TRUE(unicode);
  EXPECT_TRUE(dtype);
  std::system(("rm -rf " + dir).c_str());
}

// A diagnostic placed at a deserialised node renders exactly as at the original node:
// file name, line, column, source line and caret come from the image.
TEST(Serialize, DiagnosticsRenderTheSameFromTheImage) {
  std::string dir = tempDir();
  Loaded l = loadProgram(dir);
  ir::ProgramImage orig = l.image();
  ir::ProgramImage copy = ir::deserialize(ir::serialize(orig));
  int compared = 0;
  for (size_t mi = 0; mi < orig.modules.size(); ++mi) {
    auto& og = orig.modules[mi]->graphs();
    auto& cg = copy.modules[mi]->graphs();
    ASSERT_EQ(og.size(), cg.size());
    for (size_t gi = 0; gi < og.size(); ++gi) {
      ASSERT_EQ(og[gi]->nodes.size(), cg[gi]->nodes.size());
      for (size_t k = 0; k < og[gi]->nodes.size(); ++k) {
        Diagnostic a, b;
        a.message = b.message = "boom";
        a.loc = og[gi]->nodes[k]->loc;
        b.loc = cg[gi]->nodes[k]->loc;
        a.traceback = {{a.loc, og[gi]->qualname}};
        b.traceback = {{b.loc, cg[gi]->qualname}};
        EXPECT_EQ(renderDiagnostic(a), renderDiagnostic(b));
        if (a.loc.file) {
          EXPECT_NE(a.loc.file, b.loc.file);  // the image's own copy of the text
        }
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 100);
  std::system(("rm -rf " + dir).c_str());
}

TEST(Serialize, HeaderChecksNameWhatFailed) {
  std::string dir = tempDir();
  Loaded l = loadProgram(dir);
  std::string bytes = ir::serialize(l.image());
  auto failure = [](const std::string& b) -> std::string {
    try {
      ir::deserialize(b);
    } catch (ir::ImageError& e) {
      return e.msg;
    }
    return "(no error)";
  };
  EXPECT_EQ(failure(""), "corrupt program image: shorter than its header (0 bytes)");
  std::string bad = bytes;
  bad[0] = 'X';
  EXPECT_EQ(failure(bad), "corrupt program image: bad magic (not an msl program image)");
  bad = bytes;
  bad[8] = 99;
  EXPECT_EQ(failure(bad), "corrupt program image: format version 99, this msl reads version 1");
  EXPECT_NE(failure(bytes.substr(0, bytes.size() - 1)).find("the header says"), std::string::npos);
  bad = bytes;
  bad[bytes.size() / 2] ^= 0x10;
  EXPECT_EQ(failure(bad), "corrupt program image: checksum mismatch");
  // Past the checksum (resealed), the payload's own checks answer.
  bad = bytes + "x";
  EXPECT_EQ(failure(ir::resealImage(bad)), "corrupt program image: bytes follow the program");
  std::system(("rm -rf " + dir).c_str());
}

// Truncated payloads and flipped bits (with the checksum recomputed, so the payload's
// checks are what stops them): every one is either a valid program or an ImageError.
TEST(Serialize, CorruptPayloadsAreErrorsNotCrashes) {
  std::string dir = tempDir();
  Loaded l = loadProgram(dir);
  std::string bytes = ir::serialize(l.image());
  size_t payload = bytes.size() - ir::kImageHeaderSize;
  int errors = 0, loaded = 0;
  auto attempt = [&](const std::string& b) {
    try {
      ir::ProgramImage p = ir::deserialize(ir::resealImage(b));
      ++loaded;
    } catch (ir::ImageError& e) {
      EXPECT_EQ(e.msg.rfind("corrupt program image: ", 0), 0u);
      ++errors;
    } catch (std::exception& e) {
      ADD_FAILURE() << "not an ImageError: " << e.what();
    }
  };
  size_t step = std::max<size_t>(1, payload / 400);
  for (size_t len = 0; len < payload; len += step) {
    size_t before = errors;
    attempt(bytes.substr(0, ir::kImageHeaderSize + len));
    EXPECT_EQ(size_t(errors), before + 1) << "a payload truncated to " << len << " bytes loaded";
  }
  std::mt19937 rng(20261122);
  for (int k = 0; k < 600; ++k) {
    std::string b = bytes;
    int flips = 1 + int(rng() % 3);
    for (int f = 0; f < flips; ++f) {
      size_t at = ir::kImageHeaderSize + rng() % payload;
      b[at] = char(b[at] ^ (1 << (rng() % 8)));
    }
    attempt(b);
  }
  EXPECT_GT(errors, 400);
  std::system(("rm -rf " + dir).c_str());
}

// The executable side (docs/aot.md): an object file holding the image and a main that
// calls msl_aot_main, linked with the runtime's archives, runs the program after its
// sources are gone, with argv bound and errors rendered as `msl run` renders them.
TEST(AotImage, ExecutableRunsTheProgramWithoutSourcesOrLlvm) {
  std::string dir = tempDir();
  ASSERT_FALSE(dir.empty());
  writeFile(dir + "/helper.msl", "def twice(x):\n    return 2 * x\n");
  writeFile(dir + "/prog.msl",
            "import helper\n"
            "from optim import sgd\n"
            "def check(n):\n"
            "    if n > 2:\n"
            "        return 1 / (n - n)\n"
            "    return helper.twice(n)\n"
            "print(argv[1:], check(len(argv)), sum(tensor([1.0, 2.0]) * 3.0))\n"
            "print(check(len(argv) + 5))\n");
  std::string image;
  {
    Program prog({});
    ir::Module* main = prog.loadMain(dir + "/prog.msl");
    image = ir::serialize(ir::ProgramImage{prog.modules(), main, &builtinsModule(), {}});
  }
  // What `msl run` shows, before the sources go.
  int status = 0;
  std::string file = dir + "/prog.msl";
  std::string wantOut = run(std::string(MSL_BINARY) + " run " + file + " a 2>" + dir + "/want.txt", &status);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  codegen::emitImageMainObject(image, dir + "/prog.o", codegen::AotOptions{});
  std::string log = codegen::linkExecutable({dir + "/prog.o"}, dir + "/prog");
  ASSERT_EQ(log, "");
  std::remove(file.c_str());
  std::remove((dir + "/helper.msl").c_str());
  std::string out = run(dir + "/prog a 2>" + dir + "/err.txt", &status);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_EQ(out, "['a'] 4 9.0\n");
  EXPECT_EQ(out, wantOut);
  std::string err = readFile(dir + "/err.txt");
  // The error with its place, source line, caret and traceback, as `msl run` shows it.
  EXPECT_EQ(err, readFile(dir + "/want.txt"));
  EXPECT_EQ(err.rfind(file + ":5:", 0), 0u) << err;
  EXPECT_NE(err.find("            return 1 / (n - n)\n"), std::string::npos) << err;
  EXPECT_NE(err.find("Traceback (most recent call last):\n  " + file + ":8:7 in <module>\n"), std::string::npos) << err;
  // The runtime alone: no LLVM among the executable's libraries.
  std::string libs = run("ldd " + dir + "/prog", &status);
  EXPECT_EQ(libs.find("LLVM"), std::string::npos) << libs;
  std::system(("rm -rf " + dir).c_str());
}
