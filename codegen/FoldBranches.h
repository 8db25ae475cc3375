// Graph mode's branch folding (docs/graph_mode.md, "Branches the specialisation decided").
//
// In a specialised graph every node carries its abstract (ir/Specialize.h). Where the
// condition of `s = switch(c, then_graph, else_graph); r = s()` is a bool the abstracts
// know, the taken arm's nodes are moved into the graph in place of the two nodes, and
// uses of r read the arm's output. The condition is still computed (its node stays: a
// call that computes it keeps its effects, its errors and its call depth); what goes is
// the branch: the truth test and the call of the arm's closure (binding, a frame, its
// compiled code's entry). Arms are never functions, so tracebacks are unchanged: an error
// in the arm's nodes names the same place in the same function (a branch's frame only
// moves its function's place, runtime/Interpreter.cpp `fail`). Results are the same
// operations in the same order.
//
// Example: `common.is_param(p)` of optim/, specialised to an f32 tensor p, is
// `isinstance(p, Tensor) and (p.dtype == f32 or ...)`, two switches on known bools; after
// folding it is straight-line code, and `r[k] if is_param(p) else old` of Adam's
// callbacks loses its branch too when is_param's result is known.
//
// Only graph mode's JIT runs this (HostCompiler::prepare, before fusion): AOT executables
// find their code by the plan of the unfolded graph (runtime/AotCode.h). Graphs made by J
// are left alone (the cleaner folds them, autodiff/Clean.cpp), and so are graphs without
// abstracts (not specialised).
#pragma once

namespace msl::ir {
class Graph;
}

namespace msl::codegen {

// Folds the decided branches of g and of the graphs nested in it (arms moved in can hold
// further decided branches); returns how many were folded.
int foldKnownBranches(ir::Graph* g);

}  // namespace msl::codegen
