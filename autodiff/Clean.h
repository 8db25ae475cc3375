// Cleaning of the graphs J builds (autodiff/J.h): the rewrites that turn J's systematic
// output (tuples built to be indexed, symbolic zeros, closures called where they are
// made) into the straight-line code a person would write. Run to a fixed point over a
// graph and every graph nested in it:
//
//   inline     a call whose callee is a graph constant (not recursive, not large, every
//              parameter positional and given positionally) becomes the callee's body;
//              graphs nested in the callee are cloned with it.
//   tuples     tuple_getitem / getitem / __ct_index of make_tuple with a constant index,
//              __ct_index of make_dict with constant keys: the item (None where
//              __ct_index finds none).
//   partial    partial(f, a...)(b...) -> f(a..., b...) when the partial node is visible;
//              __jcall(G, a...) -> G(a...) for a graph G made by J whose positional
//              parameters take the arguments one to one (what Interpreter::jcall does).
//   zeros      None is the symbolic zero: __ct_add(None, x) -> x, helpers that return
//              None for a None cotangent (runtime/AutodiffPrims.cpp) fold to None,
//              __ct_fill(c, like) -> c when c cannot be None or when zeros like `like`
//              are None (a state, a string), __ct_fill(c, like) -> __ct_fill(c, 0.0)
//              for a Python float like (0 for an int), switch(c, a, a) -> a.
//   tuple cts  cotangents of tuples (a loop's carry) item by item, each exact:
//              __ct_fill(__ct_index(__ct_fill(c, t), k), t[k]) -> __ct_fill(__ct_index(c, k), t[k]);
//              __ct_index(__ct_fill(c, t), k) -> __ct_index(c, k) when zeros like t[k]
//              are None; __getitem_bwd(c, t, k) of a tuple t, c never None -> make_tuple
//              with c at k and None elsewhere; __ct_add of two make_tuple, or of
//              __getitem_bwd(c, t, k) and a make_tuple of t's length -> one make_tuple.
//   identities __unbroadcast(c, like) -> c when the abstracts of c and like have the same
//              static shape and float dtype; x*1, 1*x, x+0, 0+x, x-0, --x where the
//              abstract of x shows that promotion cannot change dtype or shape;
//              switch(True, a, b) -> a, switch(False, a, b) -> b (a branch the
//              specialisation decided; the taken arm's call is then inlined).
//   DCE        nodes nothing uses and that have no effect (ir/Primitives.def Effect; a
//              call of a function value counts as effectful unless its graph is pure);
//              graphs no longer referenced are emptied.
//   CSE        identical pure primitive applications with identical inputs in one graph.
//   masks      after the fixed point: loop backward passes and __jcall get the masks of
//              the cotangents nobody reads (`wanted`, kJCallSkip); a lifted branch
//              (autodiff/Lift.h) called through __jcall(switch(c, A, B), ...) gets them in
//              its bprops directly, and __jcall(switch(True/False, A, B), ...) calls the
//              branch the constant picks; then the fixed point runs again.
//
// Abstracts come from the nodes themselves (specialised graphs) and from a local
// propagation: the root's parameters take those of `primal` (the specialised graph J
// was built from), the parameters of nested graphs (loop bodies, branches) those of the
// primal parameters they image (Node::jorigin; the specialiser's join over the calls
// made), primitives go through their shape rules, and the cotangent helpers
// follow the convention of runtime/AutodiffPrims.cpp (a cotangent has its primal's shape
// and dtype). Where nothing is known, nothing is rewritten.
#pragma once
#include "ir/IR.h"

namespace msl::autodiff {

struct CleanStats {
  int inlined = 0, jcalls = 0, tuples = 0, partials = 0, zeros = 0, identities = 0, algebra = 0, cse = 0, dce = 0;
  int rounds = 0;
  int total() const { return inlined + jcalls + tuples + partials + zeros + identities + algebra + cse + dce; }
};

// Cleans `root` and the graphs nested in it (in place), then recomputes their free
// variables. Graphs outside `root` are never modified (a callee from outside is cloned).
// `primal`, when given, is the graph whose parameters' abstracts seed the propagation
// (J(primal) = root, same parameters in the same order).
CleanStats cleanGraphs(ir::Graph* root, const ir::Graph* primal = nullptr);

// What jGraph calls on each J graph it builds: cleanGraphs, unless cleaning is switched
// off (tests compare cleaned and uncleaned gradients); debug builds then run the IR
// verifier on the module.
void cleanJGraph(ir::Graph* jg, const ir::Graph* primal);
void setCleaningEnabled(bool on);
bool cleaningEnabled();

}  // namespace msl::autodiff
