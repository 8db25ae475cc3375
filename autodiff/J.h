// Reverse-mode differentiation as a transformation of the IR (DESIGN.md section 3).
//
// J(g) is a graph with g's parameters that returns (out, bprop): `out` is g's output and
// `bprop` a closure nested in J(g), over the forward values it needs, with one parameter
// (the cotangent of out) that returns (ct_env, ct_param_1, ..., ct_param_n). There is no
// tape: the backward pass is ordinary IR that the interpreter runs (and codegen compiles).
//
//   - A primitive call is copied, and its reverse rule (autodiff/Rules.cpp) emits the
//     cotangents of its arguments into bprop. Contributions to a value used several times
//     are summed (__ct_add).
//   - A call of any other function goes through __jcall(fn, args...), which returns
//     (out, bprop_of_the_call); the backward pass calls that bprop. Graph constants (local
//     functions, branches) become the constants of their own J graphs, nested in J(g).
//   - Branches of `switch`: their free variables are lifted to leading parameters
//     (autodiff/Lift.h), so a branch's cotangent is the tuple of its captured values'
//     cotangents, computed by the branch taken only.
//   - Local functions and lambdas: lifted too (autodiff/Lift.h): the closure is
//     partial(J(g'), fvs...), its cotangent the partial's (ct_fn, (ct of each fv), {});
//     a direct call is __jcall(J(g'), fvs..., args...).
//   - Other closures (loop bodies, closures that cannot be lifted): the cotangent is a
//     dict from the ids of its free variables to their cotangents (`ct_env`); the backward
//     pass of the graph that created it hands each entry to the free variable.
//   - None is the symbolic zero. Values without a derivative (ints, bools, strings) get
//     no cotangent.
//
// g should be a specialised clone (ir/Specialize.h): abstract values let J skip the
// cotangents of ints and strings; where they are missing the runtime helpers decide.
// Higher order (docs/autodiff.md): J of a J graph turns the calls the first J made
// (__jcall, grad's __jenter, the loop primitives) into their versions under J, which the
// runtime runs knowing both expansions' worlds.
#pragma once
#include <string>

#include "ir/IR.h"

namespace msl::autodiff {

// J(g), built in g's module and cached per graph. Raises NotSupportedYet at the first
// operation that cannot be differentiated yet. Bit i of `skipParams` set: bprop returns
// None for parameter i and computes nothing only it needed (grad with argnums).
ir::Graph* jGraph(ir::Graph* g, uint64_t skipParams = 0);
// Whether g was made by jGraph.
bool isJGraph(const ir::Graph* g);
// A variant of the backpropagator b (a graph returning a tuple of cotangents) whose item k
// is None unless bit k of `keep` is set, without the nodes only the others needed; same
// parent as b, free variables a subset of b's. Cached on b (among its jvariants). b itself
// where the others are None already; nullptr where b cannot be narrowed (its output is
// not a tuple made in b, or b owns nested graphs). The loop backward passes use it for
// cotangents nobody reads (__scan_bwd's `wanted`).
ir::Graph* narrowBprop(ir::Graph* b, uint64_t keep);

// The keyword of a __jcall the cleaner gives when the caller never reads the cotangents
// of some arguments: an int mask, bit k: argument k's cotangent is None, not computed
// (Interpreter::jcall's skipArgs). Not an identifier, so no program passes it; whatever
// runs a __jcall takes it out of the keywords (jcallWith and prim_JCallJ in
// runtime/AutodiffPrims.cpp, prim_JvpOfJ in runtime/JvpPrims.cpp).
inline constexpr const char* kJCallSkip = "<skip>";

// A call that leaves parameter i of a function value's graph g to its default hands the
// parameter's cotangent to the function value: in the closure's cotangent (a dict), under
// this key, where the default is computed (g->defaults[i] not a constant: a default of a
// local function, evaluated where the closure is made, may depend on differentiated
// values); "" otherwise (the cotangent is dropped). The key is the parameter's name (the
// captured values' keys are ints). J reads it where it made the closure; the runtime
// (__jsite_arrange's plan) puts it there.
std::string defaultCtKey(const ir::Graph* g, size_t i);

// The J graph of a local function (a def or lambda nested in the graph J differentiates)
// lists, as a make_tuple node of this name, the forward values of its source's free
// variables (the source's freeVars, in order). Cleaning keeps it. The runtime rebuilds
// from it the primal closure a differentiated one stands for, where a transform needs
// the primal function: grad of vmap(f) or jvp(f) (runtime/InterpreterVmap.cpp, jcallVmap).
inline constexpr const char* kJCapturesName = "__j_captures";
// That node of jg; nullptr for other graphs.
const ir::Node* jCaptures(const ir::Graph* jg);
// The primal graph J(g) images (through its parameters' jorigin); nullptr where unknown.
const ir::Graph* jSource(const ir::Graph* jg);

// How a primitive is differentiated.
enum class DiffKind : uint8_t {
  Rule,       // a reverse rule in autodiff/Rules.cpp
  Zero,       // its result has no derivative (ints, bools, strings, effects, shapes)
  Structural, // handled by J itself (calls, switch, J's own helpers)
  NotYet,     // reported as not supported yet
};
DiffKind diffKind(Prim p);

}  // namespace msl::autodiff
