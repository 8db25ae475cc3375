// Specialisation: one typed clone of a function per signature (DESIGN.md section 2,
// LANGUAGE.md section 4).
//
// The signature of a call is the canonical form of its argument and captured abstracts
// (SpecKey): the structure of containers and records, the dtypes and shapes of tensors,
// and static data — strings, dtypes, None, functions (by graph, with their captured
// values). Python bool/int/float are dynamic (dynamicScalars), so a changing step count or
// learning rate does not re-specialise. A clone of a clone keys on the original graph.
//
// get() infers the graph under the signature (ir/Infer) and clones it together with the
// graphs nested in it. In the clone every node carries its abstract value in Node::abs:
//   - nodes of the function itself: their value in the signature's context;
//   - nodes of nested graphs (branches, loop bodies, local functions): the join over the
//     contexts this specialisation reached (a local function called with two signatures
//     gets the join of both); nodes never reached carry Any;
//   - Function abstracts name the cloned graphs.
// Cloning keeps every field of ir/IR.h: parameters, kinds, defaults, kwnames, names,
// locations, and the free-variable lists, with nodes of cloned graphs replaced by their
// clones (nodes of graphs enclosing the function stay as they are). Definite errors found
// by inference are kept per clone node (`errorAt`); the node raises the same message
// when it runs.
//
// Generalisation (DESIGN.md section 5: one compiled function serves every batch size that
// shares a signature). When a call's signature differs from an existing specialisation of
// the same function only in the dimensions of tensors (same structure, dtypes, ranks and
// static data), get() specialises once on the join of the two signatures — a symbol where
// the dimensions differ, the static size where they agree — and later calls that fit a
// generalised signature (their dimensions equal where it has static ones) run that clone
// instead of making another. So a training step called with batch 128, then with the last
// partial batch of 96, then an eval batch of 1000 is specialised twice (f32[128,784], then
// f32[?,784]), not three times. A call whose signature has a specialisation of its own
// still runs that one (the cache is looked up first). The policy holds in eager and in
// graph mode (one Specializer); results do not depend on it, since every consumer of the
// abstracts (shape rules, the cleaner, J, vmap, fusion) works with symbolic dimensions
// and the run time checks what inference leaves open. It is on by default
// (setGeneralise(false) turns it off).
//
// Static arguments (jit(f, static_argnums=...)): get()'s `staticArgs` names parameters
// (bit k: parameter k) whose abstracts keep their values — Python bool/int/float
// constants, strings — so that the value is part of the signature (a new value, a new
// specialisation) and inference sees it. In the clone, uses of such a parameter whose
// value is a known bool, int, float, string or None are replaced by a constant node: an
// int used as a loop bound or a shape is a constant of the specialised graph.
//
// Use (the interpreter): when calling a closure, bind the arguments to the graph's
// parameters (*args a tuple, **kw a dict), then
//   Graph* code = specializer.get(closure->graph, abstracts of the bound arguments,
//                                 abstracts of closure->captured);
// and run `code` with the same arguments and captured values (same order). Abstracts of
// run-time values come from runtime/AbstractOf.h. A function specialised more than
// `maxPerFunction` times raises TooManySpecialisations (the caller supplies the place).
// Specialisations depend on the abstracts of module-level values at the time they were
// made (InferHooks::globalValue: a function called, a constant, a module's member, read by
// the function or by anything inference followed from it). Each specialisation records
// the module-level variables its inference read, with the abstracts it saw; when one of
// them now has another abstract (a function defined again, a global rebound to a value
// of another type or value), get() forgets that specialisation and makes a new one, so
// neither its clone nor the code compiled from it (graph mode folds branches on known
// results) runs again. Rebinding to a value of the same abstract (a counter, parameters
// of the same shapes) keeps it. clear() forgets them all.
#pragma once
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "ir/Infer.h"

namespace msl::ir {

struct Specialisation {
  SpecKey key;                          // canonical signature, on the original graph
  bool symbolic = false;                // the key has symbolic dimensions (e.g. generalised)
  Graph* graph = nullptr;               // the clone to run
  const Abstract* result = nullptr;     // abstract of its output
  std::vector<Diagnostic> errors;       // definite errors, in program order
  std::unordered_map<const Node*, Diagnostic> errorAt;  // clone node -> its error
  // The abstract of each free variable of `graph` (a node of a graph enclosing the
  // function, read from the closure at run time: it carries no abstract of this
  // specialisation) as the key guarantees it: key.captured, so Python numbers without
  // their values. Graph passes (fusion) read a captured value's type here. The free
  // variables of the graphs nested in the clone that come from outside it are among them.
  std::unordered_map<const Node*, const Abstract*> captured;
  // The module-level variables inference read, with the abstracts it saw (see above) and
  // their InferHooks::globalVersion when last found unchanged.
  struct GlobalRead {
    const GlobalVar* var;
    const Abstract* value;
    uint64_t version;
  };
  std::vector<GlobalRead> globals;
};

class Specializer {
 public:
  static constexpr int kDefaultMaxPerFunction = 64;

  explicit Specializer(InferHooks hooks = {}, int maxPerFunction = kDefaultMaxPerFunction, bool generalise = true);
  Specializer(const Specializer&) = delete;
  Specializer& operator=(const Specializer&) = delete;

  // The clone of `g` specialised to `args` (one per parameter) and `captured` (one per
  // free variable; missing ones are Any). Cached per signature; generalised on a second
  // signature that differs only in dimensions (see above). Bit k of `staticArgs`: args[k]
  // is a static argument (its value is part of the signature and folded).
  Graph* get(const Graph* g, const std::vector<const Abstract*>& args,
             const std::vector<const Abstract*>& captured = {}, uint64_t staticArgs = 0);

  // The signature get() looks up.
  SpecKey keyOf(const Graph* g, const std::vector<const Abstract*>& args,
                const std::vector<const Abstract*>& captured, uint64_t staticArgs = 0) const;
  // The specialisation a cloned graph (or a graph nested in one) belongs to; nullptr for
  // graphs not made here.
  const Specialisation* info(const Graph* clone) const;
  // The graph a clone was made from; `g` itself when it is not a clone.
  const Graph* original(const Graph* g) const;
  // Number of specialisations of an original graph.
  int count(const Graph* original) const;
  // Number of specialisations made since the start (`msl run --stats`).
  int made() const { return (int)specs_.size(); }
  void setGeneralise(bool on) { generalise_ = on; }
  // Forgets every specialisation (clones stay owned by their modules).
  void clear();

  // For callers that remember what get() returned for a signature (the interpreter's
  // call cache, runtime/Interpreter.cpp): get() with a signature it has seen returns the
  // same specialisation as long as generation() is the same (it changes when a
  // specialisation is forgotten, and on clear()) and stillCurrent(spec) holds (the
  // module-level variables its inference read still have the abstracts it saw; get()
  // checks the same on every call and forgets spec when they have not).
  uint64_t generation() const { return generation_; }
  bool stillCurrent(const Specialisation* spec) const { return current(const_cast<Specialisation*>(spec)); }

 private:
  Specialisation* make(const SpecKey& key, uint64_t staticArgs);
  // Whether the module-level variables spec's inference read still have its abstracts.
  bool current(Specialisation* spec) const;
  // Drops a specialisation that is no longer current from the cache.
  void forget(Specialisation* spec);
  Specialisation* build(Inferencer& inf, InferContext* root, const SpecKey& key, uint64_t staticArgs);

  InferHooks hooks_;
  int maxPerFunction_;
  bool generalise_;
  uint64_t generation_ = 0;
  std::vector<std::unique_ptr<Specialisation>> specs_;
  std::unordered_map<SpecKey, Specialisation*, SpecKeyHash> cache_;
  std::unordered_map<const Graph*, const Graph*> original_;
  std::unordered_map<const Graph*, const Specialisation*> owner_;
  std::unordered_map<const Graph*, int> counts_;
  // The specialisations of each original graph since the last clear(), oldest first.
  std::unordered_map<const Graph*, std::vector<Specialisation*>> byGraph_;
};

}  // namespace msl::ir
