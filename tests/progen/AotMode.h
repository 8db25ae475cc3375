// The "aot" mode of msl_progen (docs/progen.md, docs/aot.md): a program built by
// `msl build`'s code (codegen/Build.h) into a native executable, which is then run as a
// process of its own; what it printed on stdout, its stderr and exit status make the
// RunResult. Registered in Harness.cpp's table of modes.
#pragma once
#include <string>

#include "tests/progen/Harness.h"

namespace msl::progen {

RunResult runAot(const std::string& name, const std::string& text);

}  // namespace msl::progen
