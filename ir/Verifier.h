// The IR verifier: checks the invariants of ir/IR.h on a whole Module. A violation is a
// bug in msl (the lowering or a pass), reported as an internal error.
//
// Checked, for every graph of the module:
//   - the graph belongs to the module; its parent, if any, too;
//   - parameters are Parameter nodes of the graph, with one kind and one default slot
//     each; at most one *args and one **kw; a default is a constant or a node of an
//     enclosing graph;
//   - the output is set, and is a constant, a node of the graph or one of its free variables;
//   - nodes are Apply nodes of the graph, listed once, with a callee; kwnames are no more
//     than the arguments; every input is a constant, a parameter of the graph, a node of the
//     graph created earlier (creation order is a topological order), or a node of an
//     enclosing graph listed in the graph's free variables;
//   - free variables are nodes of strictly enclosing graphs; a graph constant used here
//     names a graph whose free variables and defaults not owned here are free variables
//     here too (closures capture through every level);
//   - constants carry the payload their kind needs;
//   - Core primitives have the arity of their signature in ir/Primitives.def (the variadic
//     ones: make_dict key/value pairs; method_call/method_update a constant name and a
//     receiver; make_class its class constant, defaults and methods; tuple_getitem and
//     unpack constant integers).
#pragma once
#include <string>
#include <vector>

#include "ir/IR.h"

namespace msl::ir {

// The violated invariants of `m`, one message each; empty when `m` is well formed.
std::vector<std::string> verifyModule(const Module& m);

// Raises an InternalError listing the violations, if any; `when` says at which point
// (e.g. "after specialise").
void verifyOrThrow(const Module& m, const std::string& when);

}  // namespace msl::ir
