// `msl build FILE -o OUT`: a program made into a native executable (docs/aot.md,
// codegen/Build.h). Called by the driver (tools/msl/Driver.cpp) with the arguments after
// `build`; returns the exit status (0, 1 for an error of the program or the command line,
// 2 for an internal error). Errors of the program are thrown as msl::Error, as `msl run`'s.
#pragma once
#include <string>
#include <vector>

namespace msl {

extern const char* const kBuildHelp;
int buildCommand(const std::vector<std::string>& args);

}  // namespace msl
