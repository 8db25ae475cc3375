// Type and shape inference: abstract interpretation of IR graphs (DESIGN.md section 2).
//
// A context is one graph inferred under one list of argument abstracts (one per
// parameter, after binding) and captured abstracts (one per free variable). Inside a
// context every Apply node is evaluated once, in dependency order: primitives through
// their shape rules (ir/ShapeRules), calls of closures by entering the callee's context
// (memoised by graph, arguments and captured values). At the boundary of a function
// (a def or lambda graph) Python bool/int/float constants are widened to their types, so
// a loop counter or a step number does not make a context per value.
//
// Fixpoints
//   recursion   a call of a context that is still being inferred returns its current
//               approximation (first Bottom); the context is evaluated again until its
//               result is stable, contexts that used the approximation being redone. A
//               recursive call with other arguments than the active one is joined with
//               them (dimensions that differ become symbols), so f(x[1:]) terminates.
//   loops       while_loop and scan iterate the body from the initial carry, joining each
//               body output into the carry until it is stable: an int counter loses its
//               value, a growing list becomes a list of unknown length, a dimension that
//               changes becomes a symbol (the same one on every round).
//   bounds      after InferLimits::maxIterations rounds the value is widened to Any; a
//               graph with more than maxContextsPerGraph contexts is inferred once more
//               with Any arguments; nesting deeper than maxDepth gives Any.
// switch joins the two branch closures into a union, and calling a union joins the
// results of calling each member.
//
// Definite errors (ShapeRules) are recorded per context on the node that raises them,
// with its location; that node's value is Bottom.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "ir/Abstract.h"
#include "ir/Diagnostics.h"
#include "ir/IR.h"
#include "ir/ShapeRules.h"

namespace msl::ir {

struct InferLimits {
  int maxContextsPerGraph = 64;
  int maxIterations = 16;
  int maxDepth = 200;
};

// What the environment tells inference about module-level state.
struct InferHooks {
  // The abstract of a module-level variable's current value; nullptr (or no hook): Any.
  // Undef: the variable is certainly not assigned yet; a read that certainly runs (in a
  // top-level statement, or a function it calls unconditionally) then fails.
  std::function<const Abstract*(const GlobalVar*)> globalValue;
  // Optional: a number that changes whenever the module-level variable may have been
  // rebound (ir/Specialize reads a variable a specialisation depends on again only then).
  std::function<uint64_t(const GlobalVar*)> globalVersion;
  // A global_set was inferred; `definite` when it runs exactly once where it is (directly
  // in a top-level statement graph, not in a loop or branch body).
  std::function<void(const GlobalVar*, const Abstract*, bool definite)> globalAssigned;
  // An import_module was inferred.
  std::function<void(const Module*)> moduleImported;
};

class Inferencer;

// A graph and the abstracts of its arguments (one per parameter) and captured free
// variables (one per graph->freeVars entry): the key of inference contexts and of
// specialisations (ir/Specialize). Abstracts are interned, so keys compare by pointer.
struct SpecKey {
  const Graph* graph = nullptr;
  std::vector<const Abstract*> args;
  std::vector<const Abstract*> captured;
  bool operator==(const SpecKey& o) const = default;
};
struct SpecKeyHash {
  size_t operator()(const SpecKey& k) const;
};

// One graph under one list of argument and captured abstracts.
struct InferContext {
  const Graph* graph = nullptr;
  std::vector<const Abstract*> args;      // one per parameter
  std::vector<const Abstract*> captured;  // one per graph->freeVars entry
  const Abstract* result = nullptr;       // abstract of the graph's output
  // Abstracts of the graph's parameters and Apply nodes, and of the constants they use.
  std::unordered_map<const Node*, const Abstract*> values;
  // For each Apply node that called graphs: the contexts it entered (final ones only).
  std::unordered_map<const Node*, std::vector<InferContext*>> callees;
  // Definite errors, in evaluation order; each Diagnostic carries the node's location.
  std::vector<std::pair<const Node*, Diagnostic>> errors;

 private:
  friend class Inferencer;
  enum class State : uint8_t { Fresh, Running, Done };
  State state = State::Fresh;
  int stackPos = -1;
  int lowestDep = 0;       // lowest stack position of a running context whose approximation was used
  bool observed = false;   // a recursive call read `result` during this round
  bool definite = false;   // runs whenever the top-level statement it comes from runs
  std::vector<InferContext*> tentatives;  // contexts to redo when this one iterates again
  SymbolSupply resultSymbols;
  std::unordered_map<const Node*, SymbolSupply> joinSymbols;
  std::unordered_map<const Node*, SymbolSupply> loopSymbols;
  std::unordered_map<const Node*, std::vector<Dim>> freshDims;
};

class Inferencer : private RuleHost {
 public:
  explicit Inferencer(InferHooks hooks = {}, InferLimits limits = {});
  ~Inferencer() override;
  Inferencer(const Inferencer&) = delete;
  Inferencer& operator=(const Inferencer&) = delete;

  // Infers `g` with `args` (one per parameter, already bound: *args a tuple, **kw a dict)
  // and `captured` (one per free variable). The context stays owned by the Inferencer.
  InferContext* infer(const Graph* g, const std::vector<const Abstract*>& args,
                      const std::vector<const Abstract*>& captured);

  // `root` and the contexts reachable from it through call edges into graphs for which
  // `follow` holds, each once, in discovery order.
  std::vector<InferContext*> reachable(InferContext* root, const std::function<bool(const Graph*)>& follow) const;

 private:
  // RuleHost
  const Abstract* call(const Abstract* fn, const std::vector<const Abstract*>& args, const KwArgs& kwargs) override;
  const Abstract* whileLoop(const Abstract* cond, const Abstract* body, const Abstract* init) override;
  const Abstract* scan(const Abstract* body, const Abstract* item, const Abstract* init) override;
  const Abstract* globalValue(const GlobalVar* g) override;
  void globalAssigned(const GlobalVar* g, const Abstract* v) override;
  void moduleImported(const Module* m) override;
  Dim freshDim() override;
  SymbolSupply* joinSymbols() override;

  InferContext* enter(const Graph* g, std::vector<const Abstract*> args, std::vector<const Abstract*> captured);
  void evaluate(InferContext* c);
  void runBody(InferContext* c);
  void evalNode(InferContext* c, const Node* n);
  const Abstract* valueOf(InferContext* c, const Node* n);
  const Abstract* constant(InferContext* c, const Node* n);
  const Abstract* callPrim(Prim p, const std::vector<const Abstract*>& args, const KwArgs& kwargs);
  const Abstract* callGraph(const Abstract* fn, const std::vector<const Abstract*>& args, const KwArgs& kwargs);
  const Abstract* construct(const Abstract* cls, const std::vector<const Abstract*>& args, const KwArgs& kwargs);
  const Abstract* loop(const Abstract* body, const Abstract* cond, const Abstract* item, const Abstract* init);
  void fail(const RuleResult& r);
  void noteRecursion(InferContext* r);
  void reset(InferContext* c);
  const std::vector<const Node*>& schedule(const Graph* g);
  int freeVarIndex(const Graph* g, const Node* n);

  InferHooks hooks_;
  InferLimits limits_;
  std::vector<std::unique_ptr<InferContext>> contexts_;
  std::unordered_map<SpecKey, InferContext*, SpecKeyHash> byKey_;
  std::unordered_map<const Graph*, int> perGraph_;
  std::unordered_map<const Graph*, SymbolSupply> recursionSymbols_;
  std::unordered_map<const Graph*, std::vector<const Node*>> schedules_;
  std::unordered_map<const Graph*, std::unordered_map<const Node*, int>> freeVarIndex_;
  std::vector<InferContext*> stack_;
  // The node being evaluated: calls record their contexts and errors there.
  InferContext* cur_ = nullptr;
  const Node* curNode_ = nullptr;
  size_t curFresh_ = 0;
  int indefinite_ = 0;  // > 0 inside calls that may not run (loop bodies, union members)
};

// `msl check`: infers the top-level statements of `m` in order (running the top level of
// the modules it imports first, as the program would), tracking the abstracts assigned
// to module-level names, and returns the definite errors found in everything reached.
std::vector<Diagnostic> checkModule(const Module& m);

}  // namespace msl::ir
