// The runtime's C entry points for generated code (DESIGN.md section 5).
//
// Generated code (JIT or AOT) calls only the symbols listed in runtime/RuntimeSymbols.def.
// msl's own entry points are declared here with C linkage. The runtime never depends on
// LLVM: codegen/ reads this table, not the other way round.
#pragma once
#include <cstddef>
#include <cstdint>

extern "C" {
// Bumped when an entry point's signature changes, so stale cached code is never run.
int32_t msl_rt_abi_version(void);
}

namespace msl {

struct RuntimeSymbol {
  const char* name;
  void* addr;
};
// Every symbol of runtime/RuntimeSymbols.def with its address in this process.
const RuntimeSymbol* runtimeSymbols(size_t* count);

}  // namespace msl
