// Forward-mode differentiation as a transformation of the IR (DESIGN.md section 3).
//
// jvpGraph(g) is a graph whose parameters are g's parameters followed by one tangent per
// parameter, and which returns (out, tangent_out). Each node of g is copied and followed by
// the IR that computes its tangent:
//   - A primitive call: its forward rule (autodiff/ForwardRules.cpp, one table, each rule
//     written as IR). None (nullptr while building) is the symbolic zero: nothing is
//     computed for a value that does not depend on the inputs; a rule that needs the
//     tangent of such an argument uses zeros of its structure (tree_zeros_like).
//   - A call of any other function value: __jvpcall(fn, t_fn, args, t_args, kwargs,
//     t_kwargs) returns (out, tangent_out); the runtime specialises and transforms the
//     callee on its first call with that signature (recursion works this way).
//   - Graph constants (local functions, branches of `if`, loop bodies) become constants of
//     their own JVP graphs, nested in the JVP graph, so a closure captures both the values
//     and the tangents of its free variables: no tangent travels with a function value.
//     A value captured from outside the differentiated function has a zero tangent.
//   - switch picks the transformed branch (and the tangent of the values it picks);
//     scan and while_loop run their JVP bodies through __scan_jvp / __while_jvp, which
//     carry (value, tangent).
//   - A bound method's tangent is its receiver's (passed as t_fn); a partial made inside
//     the differentiated function carries the tangents of its bound arguments.
//   - Reverse mode's calls and loops (in a gradient graph: jvp of a gradient) become
//     __jvp_of_j(prim, args, t_args, kwargs, t_kwargs), run under JVP by the runtime.
// At run time a tangent that is not None has its primal's structure, floats and float
// tensors of the same dtype and shape (the runtime fills in zeros at call boundaries).
#pragma once
#include "ir/IR.h"

namespace msl::autodiff {

// The JVP graph of g, built in g's module and cached on g. Raises NotSupportedYet at the
// first operation that cannot be differentiated in forward mode yet.
ir::Graph* jvpGraph(ir::Graph* g);
// For the JVP graph of a local function (nested in another JVP graph): the node that
// lists, for each free variable of its source (jvpSource->freeVars, in order), the node
// standing for its value and the one for its tangent (None: zero), as its closure
// captures them; nullptr for other graphs. The runtime differentiates such a closure in
// reverse mode under JVP (jvp of a gradient) from these.
const ir::Node* jvpCaptures(const ir::Graph* jg);
// A JVP graph of a J graph (madeByJ) takes, after the tangents of its parameters, one
// tangent per free variable of its source (jvpSource->freeVars, in order).
// Whether g was made by jvpGraph (g->jvpSource is then the graph it transforms).
inline bool isJvpGraph(const ir::Graph* g) { return g->jvpSource != nullptr; }

}  // namespace msl::autodiff
