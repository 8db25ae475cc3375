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
// Graph mode runs this before fusion (codegen/GraphPasses.h), and so do executables made
// by `msl build --profile` (codegen/AotPasses.h: their table holds the plans of the folded
// clones the profile run compiled); executables built without a profile keep the unfolded
// plan (runtime/AotCode.h). Graphs made by J are left alone (the cleaner folds them, autodiff/Clean.cpp), and so are graphs without
// abstracts (not specialised).
#pragma once

namespace msl::ir {
class Graph;
}

namespace msl::codegen {

// Folds the decided branches of g and of the graphs nested in it (arms moved in can hold
// further decided branches); returns how many were folded.
int foldKnownBranches(ir::Graph* g);

// Calls whose results the abstracts know and that can neither fail nor have effects are
// dropped: their readers read the result as a constant. The callee is a module-level
// function defined once in top-level code (`f(x)`, or `m.f(x)` for a module m), and the
// check is over its body: only primitives that cannot fail on the kinds of values they
// are given there (isinstance against a built-in type, `is`, `==` / `!=` / `not` on
// Python scalars, a tensor's dtype, ndim or shape, tuples), and branches on bools whose
// arms (both) are such code. `common.is_param(p)` of optim/ is one (its result follows
// from p's dtype): Adam's callbacks call it once per leaf, each a specialisation look-up,
// a frame and its code. The read of the callee (a global, a module) stays. Not kept: the
// call's depth, so a program at the recursion limit raises RecursionTooDeep at its next
// call instead. The callee's abstract comes from the interpreter preparing g
// (runtime/GlobalAbstract.h); graphs made by J and graphs without abstracts are left
// alone. Returns how many calls were dropped.
int dropKnownCalls(ir::Graph* g);

}  // namespace msl::codegen
