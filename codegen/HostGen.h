// Lowering of a graph's host code to LLVM IR (DESIGN.md section 5, runtime/GraphMode.h).
//
// One graph becomes one function `i32 NAME(i8* frame)` of its own module. Node i of
// g->nodes (the interpreter's instruction i) becomes a call of a runtime entry point
// (runtime/RuntimeAbi.h) on the boxed values of the frame: msl_rt_step for primitive calls,
// calls of function values, closure creation and the container, attribute and item
// operations, so every instruction keeps the eager semantics (argument binding, last-use
// moves, effects in node order, call depth, errors). Control flow is compiled:
//   - `s = switch(c, then_graph, else_graph); s()` is a conditional branch whose arms call
//     the branch graphs (which run compiled);
//   - while_loop and scan are LLVM loops (a back-edge per iteration, an interrupt check on
//     it) calling the compiled body per iteration; nothing is unrolled;
//   - recursion and other calls go through the runtime's call, which runs the callee's
//     compiled code.
// After every entry point the status is tested: a failure returns 1 at once, the error
// waiting in the runtime. Nodes are lowered in order, so effects keep their order.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "ir/HostPlan.h"

namespace msl::ir {
class Graph;
}

namespace msl::codegen {

// The module holding `fnName`, the lowering of g.
std::unique_ptr<llvm::Module> lowerHostGraph(const ir::Graph* g, const std::string& fnName, llvm::LLVMContext& ctx);

// The lowering in two halves: the plan (what each node becomes) decides everything about
// the module but its function's name, so the compile cache keys host code on the plan's
// text instead of building and hashing the module (codegen/Compiler.cpp).
// (The plan itself is ir/HostPlan.h, shared with AOT executables, which have no LLVM.)
using ir::HostOp;
using ir::hostPlanText;
using ir::planHostGraph;
std::unique_ptr<llvm::Module> lowerHostPlan(const std::vector<HostOp>& plan, const std::string& fnName,
                                            llvm::LLVMContext& ctx);

}  // namespace msl::codegen
