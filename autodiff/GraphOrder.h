// What the three transforms (J, JVP, vmap) share about walking a graph.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "ir/IR.h"

namespace msl::autodiff {

// Whether n calls a primitive, directly or through depend(prim, state) (the lowering's
// ordering of calls whose callee it does not know); the primitive in *p.
bool primCall(const ir::Node* n, Prim* p);

// The apply nodes of g in an order where each comes after its inputs and after the free
// variables (in g) of the closures it uses and their computed defaults; `nested(h)` says whether graph constant h is
// transformed along with g (its free variables and defaults are then dependencies). Only what the
// output needs, unless allNodes (then also effects reachable only through the state).
std::vector<ir::Node*> transformOrder(ir::Graph* g, const std::function<bool(const ir::Graph*)>& nested,
                                      bool allNodes = false);

// The function of the program graph g is part of, as a traceback names it (a transformed
// graph stands for its source's function): for errors a transform finds in a callee
// before any frame runs it (Diagnostic::callee).
std::string functionOf(const ir::Graph* g);

}  // namespace msl::autodiff
