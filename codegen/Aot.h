// Ahead-of-time output (DESIGN.md section 5): object files for x86-64 and executables that
// link the runtime library — never LLVM — so that they run without the compiler.
//
// Internal to codegen/: includes LLVM.
#pragma once
#include <string>
#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include "codegen/Jit.h"

namespace msl::codegen {

struct AotOptions {
  // The CPU executables are built for: x86-64-v3 (AVX2, FMA available but not formed:
  // no FP contraction) unless `--cpu=native` asks for this machine's.
  std::string cpu = "x86-64-v3";
  OptLevel opt = OptLevel::O2;
};

// Optimises `m` and writes it as an ELF object file at `path` (its triple and data layout
// are set here). Failures are InternalError.
void emitObject(llvm::Module& m, const std::string& path, const AotOptions& o);

// Writes at `path` an object file whose `main` runs a program image (ir/Serialize.h):
// the image is a constant of the object, and main(argc, argv) returns
// msl_aot_main(image, size, argc, argv) (runtime/AotMain.h). Linked with the runtime it
// makes an executable that needs neither the compiler nor the sources (docs/aot.md).
void emitImageMainObject(const std::string& image, const std::string& path, const AotOptions& o);

// The part of such a `main(argc, argv)` every executable shares: the image as a private
// constant of `m`, the function `main`, `b` placed at its entry, and the address of the
// image's first byte. The caller emits the call and the return.
struct ImageMain {
  llvm::Function* main;
  llvm::Value* image;
};
ImageMain beginImageMain(llvm::Module& m, const std::string& image, llvm::IRBuilder<>& b);

// Links `objects` with msl's runtime library (and its system libraries: oneDNN, OpenMP,
// zlib, threads) into the executable `out`, with the C++ compiler msl was built with.
// Returns an empty string on success, otherwise the linker's output.
std::string linkExecutable(const std::vector<std::string>& objects, const std::string& out);

}  // namespace msl::codegen
