// The "aot" mode of msl_progen (docs/progen.md, docs/aot.md): a program built by
// `msl build`'s code (codegen/Build.h) into a native executable, which is then run as a
// process of its own; what it printed on stdout, its stderr and exit status make the
// RunResult. Registered in Harness.cpp's table of modes.
#pragma once
#include <string>

#include "codegen/FusedSpecIO.h"
#include "tests/progen/Harness.h"

namespace msl::progen {

RunResult runAot(const std::string& name, const std::string& text);
// The same, built with a profile: the program first runs in graph mode (output
// discarded), recording its fused kernels and plans, which the build compiles in
// (`msl build --profile`); the executable runs graph mode's passes.
RunResult runAotProfiled(const std::string& name, const std::string& text);

// One run in a fresh Program and Interpreter (Harness.cpp); in graph mode with `record`
// set, what graph mode compiles is recorded there.
RunResult runFresh(const std::string& name, const std::string& text, bool graph, codegen::CompiledRecord* record);

}  // namespace msl::progen
