// Batching (vmap) as a transformation of the IR (DESIGN.md section 3).
//
// vmapGraph(g, batched) builds from a specialised graph g a graph B(g) that computes g on a
// batch of examples at once. B(g) has one more leading parameter than g, the batch size
// (an int); its other parameters are g's, where a batched parameter holds the examples
// stacked along a new leading axis of every tensor leaf. Its output is always batched.
//
// The transform knows statically, per value, whether it is batched (BInfo):
//   - No:    the same value for every example (host values, captured constants);
//   - Yes:   every tensor leaf has the batch as its leading axis (axis 0); other leaves
//            (numbers, strings, None, functions) are the same for every example;
//   - Items: a tuple or list made in the graph whose items have their own BInfo.
// A primitive with a batched argument goes through its batching rule
// (autodiff/BatchRules.cpp: one table, one rule per primitive, each emitting IR); a
// primitive without a rule of its own is run once per example (`__vmap_loop`) and the
// results stacked. Calls of function values go through `__vmapcall`, which batches the
// callee when it is called (runtime/InterpreterVmap.cpp). Local functions and branches
// become nested batched graphs; `if` on a batched condition runs both branches and
// selects per example (pure branches only); loops batch their bodies.
#pragma once
#include <functional>
#include <vector>

#include "ir/IR.h"

namespace msl::autodiff {

// Specialises a function from outside (one with no captured values) to the abstracts of
// one example's arguments, so that its calls are batched inline rather than through
// __vmapcall; may raise. Empty: such calls go through __vmapcall.
using VmapSpecialise = std::function<ir::Graph*(const ir::Graph*, const std::vector<const ir::Abstract*>&)>;

// B(g) for parameters batched as `batched` says (one flag per parameter of g), built in
// g's module and cached per (graph, flags). Raises (with the place) what cannot be batched.
// `captured` (one per free variable of g, as Specializer::get takes them): the abstracts
// of the values g captures, for free variables whose nodes (in an enclosing graph that
// was not specialised) have none; the batching rules read the kind, rank and dtype of
// these unbatched inputs, and without them fall back to a per-example loop.
ir::Graph* vmapGraph(ir::Graph* g, const std::vector<bool>& batched, const VmapSpecialise& specialise = {},
                     const std::vector<const ir::Abstract*>& captured = {});

// For tracebacks (runtime/Interpreter.cpp): whether a batched graph made by vmapGraph
// stands for a function of the program (a function, or J of one), and its name. The
// table keeps names, not graphs, so graphs freed since (a later run in the same process)
// leave no dangling pointer behind.
bool vmapFunctionName(const ir::Graph* batched, std::string* name);

// How a primitive is batched.
enum class BatchKind : uint8_t {
  Rule,        // a rule of its own in autodiff/BatchRules.cpp
  Loop,        // run once per example, results stacked (`__vmap_loop`)
  Structural,  // handled by the transform itself (tuples, calls, switch, loops)
  Unbatched,   // its result never depends on the batch (printing, shapes of host values)
  Error,       // a batched argument is an error (reported with its place)
};
BatchKind batchKind(Prim p);

}  // namespace msl::autodiff
