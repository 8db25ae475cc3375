// Helpers for tests that run programs in graph mode: a module loaded from source text
// (its Program kept for the rest of the test binary, since the IR outlives the values
// made from it) and the one HostCompiler, installed as the graph compiler.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "codegen/Compiler.h"
#include "runtime/GraphMode.h"
#include "tools/msl/Driver.h"

namespace msl::test {

inline ir::Module* load(const std::string& text) {
  static std::vector<std::unique_ptr<Program>> keep;  // IR outlives the values
  keep.push_back(std::make_unique<Program>(std::vector<std::string>{}));
  return keep.back()->loadText("<test>", text);
}

inline codegen::HostCompiler& compiler() {
  static codegen::HostCompiler& c = *new codegen::HostCompiler();  // never destroyed, as the JIT
  setGraphCompiler(&c);
  return c;
}

}  // namespace msl::test
