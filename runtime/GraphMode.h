// Graph mode (DESIGN.md section 5, LANGUAGE.md section 4): the interpreter runs graphs as
// compiled code instead of walking them, under `msl run --mode=graph` and inside calls
// of a `jit(f)` closure.
//
// runtime/ never depends on LLVM: it asks the GraphCompiler installed here (dependency
// inversion). codegen/Compiler.h implements it with the LLVM JIT and tools/msl installs
// it; an AOT executable installs none.
//
// The contract of compiled code. A graph compiles to `int32_t fn(void* frame)`: the frame
// is the interpreter's frame of that graph (its slots hold the bound parameters), and the
// code performs the graph's nodes in order (g->nodes, node i being the interpreter's
// instruction i) by calling the runtime's C entry points of runtime/RuntimeAbi.h, with
// `switch(c, a, b)()` as a conditional branch and while_loop / scan as loops. It returns
// 0 when the graph's output was stored in the frame (msl_rt_return), or non-zero after an
// entry point failed: the error (an msl::Error with its place and traceback, or an
// interrupt) is kept by the runtime and raised again by the interpreter when the compiled
// function returns, so no C++ exception crosses generated code.
#pragma once
#include <cstdint>

namespace msl {

namespace ir {
class Graph;
struct Specialisation;
}  // namespace ir

using CompiledGraph = int32_t (*)(void* frame);

class GraphCompiler {
 public:
  virtual ~GraphCompiler() = default;
  // Graph passes on a (specialised) graph before the interpreter builds its code and the
  // compiler lowers it: the place of graph-level rewrites such as fusion. `spec`: the
  // specialisation g belongs to (ir/Specialize.h; its `captured` types the values g reads
  // from its closure), or nullptr (a graph not made by the specializer).
  virtual void prepare(ir::Graph* g, const ir::Specialisation* spec) = 0;
  // The compiled code of `g`. A construct that cannot be compiled raises msl::Error with
  // its location. nullptr: no code for g (an AOT executable whose table lacks it,
  // runtime/AotCode.h); g then runs in the interpreter.
  virtual CompiledGraph compile(const ir::Graph* g) = 0;
};

// The compiler graph mode and jit(f) use (nullptr: none; then they raise NotSupportedYet).
void setGraphCompiler(GraphCompiler* c);
GraphCompiler* graphCompiler();

}  // namespace msl
