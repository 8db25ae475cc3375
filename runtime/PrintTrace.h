// Where the program's printed output comes from (`msl run --check-modes`, which names the
// print statement behind the first output line on which eager and graph mode differ).
#pragma once
#include <functional>
#include <string>

#include "ir/Source.h"

namespace msl {

class CallContext;

// When set, print() calls it with the text it is about to write to standard output (not
// stderr), before writing it; `cx` runs the print.
extern std::function<void(CallContext& cx, const std::string& text)> printObserver;

// The place of the instruction `cx` is running (cx an Interpreter: its innermost frame
// that is program code, not autodiff's glue); an invalid SourceLoc otherwise.
SourceLoc currentLoc(CallContext& cx);

}  // namespace msl
