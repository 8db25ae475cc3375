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

// Graph mode's host code (runtime/GraphMode.h; defined in runtime/Interpreter.cpp). `frame`
// is the frame a compiled graph receives, `i` the index of an instruction (= node) of its
// graph. Each returns -1 after a failure (the error is kept for the interpreter to raise)
// and otherwise 0, or the boolean it computes (1 true, 0 false).
// Instruction i, as the interpreter performs it (primitive calls, calls of function
// values, closure creation, tuple/list/dict/attribute/item operations, effects).
int32_t msl_rt_step(void* frame, uint32_t i);
// switch instruction i: the truth of its condition.
int32_t msl_rt_truth(void* frame, uint32_t i);
// The call instruction `call` of the branch `arm` (1: then, 2: else) of switch `sw`.
int32_t msl_rt_call_arm(void* frame, uint32_t sw, uint32_t call, uint32_t arm);
// while_loop / scan instruction i: start (*n: a scan's trip count), check for an
// interrupt at a back-edge, a while_loop's condition, one step (k: a scan's index; 1 if
// the loop goes on), and the end (the carry becomes the result).
int32_t msl_rt_loop_begin(void* frame, uint32_t i, int64_t* n);
int32_t msl_rt_loop_interrupt(void* frame, uint32_t i);
int32_t msl_rt_while_cond(void* frame, uint32_t i);
int32_t msl_rt_loop_body(void* frame, uint32_t i, int64_t k);
int32_t msl_rt_loop_end(void* frame, uint32_t i);
// Stores the graph's output as the frame's result.
int32_t msl_rt_return(void* frame);
}

namespace msl {

struct RuntimeSymbol {
  const char* name;
  void* addr;
};
// Every symbol of runtime/RuntimeSymbols.def with its address in this process.
const RuntimeSymbol* runtimeSymbols(size_t* count);

}  // namespace msl
