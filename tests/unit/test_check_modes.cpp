// msl run --check-modes's report (tools/msl/CheckModes.h): the first differing output
// line with both versions and the print behind each, a different ending, and the note
// when eager mode alone does not reproduce its output. The runs are made up here, so a
// difference that only graph mode makes can be shown (graph mode has none on purpose);
// tests/lit/driver/check_modes*.msl run the real thing.
#include <gtest/gtest.h>

#include "tools/msl/CheckModes.h"

using namespace msl;

namespace {

SourceFile file() {
  SourceFile f;
  f.name = "p.msl";
  return f;
}

SourceLoc at(const SourceFile& f, uint32_t line, uint32_t col) { return SourceLoc{&f, line, col}; }

TEST(CheckModes, IdenticalRunsAgree) {
  ModeOutput a{0, "1\n2\n", "", {}};
  EXPECT_EQ(describeModeDifference(a, a, nullptr), "");
  ModeOutput e{1, "x\n", "p.msl:3:7: error: boom\n", {}};
  EXPECT_EQ(describeModeDifference(e, e, nullptr), "");
}

TEST(CheckModes, FirstDifferingLineAndItsPrint) {
  SourceFile f = file();
  // Three prints; the second one (line 5) prints 2.0 in eager and 2.5 in graph mode.
  ModeOutput a{0, "x\n2.0\ny\n", "", {{0, at(f, 4, 1)}, {2, at(f, 5, 1)}, {6, at(f, 6, 1)}}};
  ModeOutput b{0, "x\n2.5\ny\n", "", {{0, at(f, 4, 1)}, {2, at(f, 5, 1)}, {6, at(f, 6, 1)}}};
  EXPECT_EQ(describeModeDifference(a, b, nullptr),
            "msl: eager and graph mode differ at output line 2, printed at p.msl:5:1\n"
            "  eager: 2.0\n"
            "  graph: 2.5\n");
  // A second eager run that agrees with the first: no note.
  EXPECT_EQ(describeModeDifference(a, b, &a), describeModeDifference(a, b, nullptr));
}

TEST(CheckModes, DifferentPrintsAndMissingLines) {
  SourceFile f = file();
  // Graph mode took the other branch: line 2 comes from another print; then it stops.
  ModeOutput a{0, "x\nthen\nz\n", "", {{0, at(f, 1, 1)}, {2, at(f, 3, 5)}, {7, at(f, 6, 1)}}};
  ModeOutput b{0, "x\nelse\n", "", {{0, at(f, 1, 1)}, {2, at(f, 5, 5)}}};
  EXPECT_EQ(describeModeDifference(a, b, nullptr),
            "msl: eager and graph mode differ at output line 2\n"
            "  eager: then    (printed at p.msl:3:5)\n"
            "  graph: else    (printed at p.msl:5:5)\n");
  ModeOutput c{0, "x\nthen\n", "", {{0, at(f, 1, 1)}, {2, at(f, 3, 5)}}};
  EXPECT_EQ(describeModeDifference(a, c, nullptr),
            "msl: eager and graph mode differ at output line 3\n"
            "  eager: z    (printed at p.msl:6:1)\n"
            "  graph: <end of output>\n");
}

TEST(CheckModes, DifferentEnding) {
  ModeOutput a{0, "x\n", "", {}};
  ModeOutput b{1, "x\n", "warn\np.msl:2:3: error: boom\n  more\n", {}};
  EXPECT_EQ(describeModeDifference(a, b, nullptr),
            "msl: eager and graph mode print the same output but end differently\n"
            "  eager: exit status 0\n"
            "  graph: exit status 1: p.msl:2:3: error: boom\n");
  // Same ending, different stderr prints.
  ModeOutput c{0, "x\n", "a\nb\n", {}}, d{0, "x\n", "a\nc\n", {}};
  EXPECT_EQ(describeModeDifference(c, d, nullptr),
            "msl: eager and graph mode differ at standard error line 2\n  eager: b\n  graph: c\n");
}

TEST(CheckModes, NotReproducibleInEagerMode) {
  ModeOutput a{0, "t\n1.5\n", "", {}}, b{0, "t\n1.7\n", "", {}}, again{0, "t\n1.6\n", "", {}};
  std::string r = describeModeDifference(a, b, &again);
  EXPECT_NE(r.find("note: a second run in eager mode differs from the first too (at output line 2)"),
            std::string::npos)
      << r;
}

}  // namespace
