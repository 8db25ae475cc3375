// `msl run --check-modes FILE` (docs/design.md, "Checking graph mode against eager mode"):
// the program runs in eager mode and in graph mode, in this process, each from a fresh
// Program and Interpreter with its output captured, and the first difference is reported.
#pragma once
#include <string>
#include <vector>

#include "ir/Source.h"

namespace msl {

// What one run of the program gave.
struct ModeOutput {
  int status = 0;   // the exit status `msl run` would give: 0, exit(n)'s n, 1 error, 2 internal
  std::string out;  // standard output
  std::string err;  // standard error: print(..., file=stderr), then the diagnostic if any
  // Each print to standard output: the offset in `out` where its text begins, and its place.
  std::vector<std::pair<size_t, SourceLoc>> prints;
};

// The lines of `s` ("a\nb\n" -> {"a", "b"}; a last line without '\n' counts).
std::vector<std::string> splitLines(const std::string& s);

// "" when b (graph mode) printed and ended as a (eager mode) did; otherwise the report of
// the first difference: the output line (or stderr line, or the ending) where they part,
// both versions of it, and the file:line:col of the print that wrote each version when
// known. `again` (nullable) is a second eager run: when it too differs from `a` at or
// before that line, the report says the program's output is not reproducible in eager
// mode alone.
std::string describeModeDifference(const ModeOutput& a, const ModeOutput& b, const ModeOutput* again);

}  // namespace msl
