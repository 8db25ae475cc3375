// Tangents at run time, for forward mode (autodiff/Jvp.h): shared by the jvp primitives
// (runtime/JvpPrims.cpp) and the interpreter's jvpcall (runtime/InterpreterJvp.cpp).
#pragma once
#include "ir/Prim.h"
#include "runtime/Value.h"

namespace msl {
namespace ir {
class Graph;
}

class CallContext;

// t with the structure of its primal: None (the symbolic zero), and None items of a
// container, become zeros (tensors of the primal's dtype and shape, 0.0 for floats, 0 for
// ints and bools); other leaves (strings, functions, None) stay None.
Value jvpFill(const Value& t, const Value& primal);
// jvp(f, primals, tangents)'s checks (runtime/JvpPrims.cpp): the tangents checked against
// the primals and normalised (static leaves None); and the tangent it returns for out.
std::vector<Value> jvpCheckedTangents(const Value& primals, const Value& tangents);
Value jvpTangentOut(const Value& t, const Value& out);

// Reverse mode's helpers, for its primitives run under JVP (runtime/AutodiffPrims.cpp):
// the sum of two cotangents, per-item cotangents given back x's structure, and the
// arguments __jenter(f, argnums, kind, args, kwargs) skips (argnums None: none).
Value ctAddValues(const Value& a, const Value& b);
Value itemsBackOf(std::vector<Value> items, const Value& x);
uint64_t jenterSkip(const Value& argnums, const Value& kind, const Value& args);
// tree_map's J walk and backward walk run under JVP (runtime/AutodiffPrims.cpp):
// __tree_map_j(f, tree, *rest) and __tree_map_bwd(stack, ct) -> (result, its tangent).
Value treeMapJJvp(CallContext& cx, const Value& f, const Value& tf, const Value& tree, const Value& ttree,
                  const Value& rest, const Value& trest);
Value treeMapBwdJvp(CallContext& cx, const Value& stack, const Value& ct, const Value& tct);
// A bprop returning only the cotangents in `keep` (bit k: item k of its result, of those
// in `all`), the others None: the same closure over a narrowed graph
// (autodiff::narrowBprop) where it can be narrowed, bp itself otherwise. For the loops'
// iterations (runtime/AutodiffPrims.cpp) and the calls of closures already differentiated
// (Interpreter::jcall).
Value narrowedBprop(const Value& bp, uint64_t keep, uint64_t all);
// The entry of a __jsite_arrange plan (runtime/AutodiffPrims.cpp) for parameter i of a
// call of graph g left to its default: [key] (a list) where the parameter's cotangent goes
// to the callee's cotangent under key (autodiff::defaultCtKey), None where it is dropped.
Value defaultSiteEntry(const ir::Graph* g, size_t i);
// partial(prim p, *args): how the transforms' primitives return functions (grad(f),
// backpropagators, vmap(f)); defined in runtime/AutodiffPrims.cpp.
Value partialOf(Prim p, std::vector<Value> args);

}  // namespace msl
