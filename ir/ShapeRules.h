// Shape rules: the output abstract value of each primitive from its input abstracts.
//
// One rule per primitive of ir/Primitives.def, selected by a switch over the Prim enum
// without a default case (so -Wswitch names a primitive that lacks one, and
// tests/unit/test_ir_primitives checks that every primitive answers).
//
// Rules follow the run-time semantics of runtime/ (JAX promotion with weak Python
// scalars, NumPy broadcasting, reductions with axis/keepdims, matmul, reshape with -1,
// indexing with ints, slices, None, ..., int tensors and boolean masks). Where the run
// time would definitely raise (static dimensions that cannot broadcast, an index out of
// range, an unknown field...), the rule fails with the diagnostic the run time raises;
// the caller records it on the node (it surfaces when that node runs, and `msl check`
// reports it) and the node's value is Bottom. A rule never fails on what it cannot decide.
//
// Higher-order primitives (switch, while_loop, scan, call_ex, method calls, sorted with a
// key...) and module-level state go through the RuleHost that ir/Infer implements.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "ir/Abstract.h"
#include "ir/Diagnostics.h"

namespace msl::ir {

using KwArgs = std::vector<std::pair<std::string, const Abstract*>>;

// What a rule may ask of the inference engine running it. Calls made through the host
// are inferred in the engine's current context (errors land on the current node).
class RuleHost {
 public:
  virtual ~RuleHost() = default;
  // The result of calling `fn` (any abstract; non-callables fail the node) with arguments.
  virtual const Abstract* call(const Abstract* fn, const std::vector<const Abstract*>& args, const KwArgs& kwargs) = 0;
  // while cond(c): (go, c) = body(c), until go is false: the final carry.
  virtual const Abstract* whileLoop(const Abstract* cond, const Abstract* body, const Abstract* init) = 0;
  // for x in it: (go, c) = body(c, x), `item` abstracting every x: the final carry.
  virtual const Abstract* scan(const Abstract* body, const Abstract* item, const Abstract* init) = 0;
  // The current value of a module-level variable (Any when unknown).
  virtual const Abstract* globalValue(const GlobalVar* g) = 0;
  // A module-level variable is assigned `v`.
  virtual void globalAssigned(const GlobalVar* g, const Abstract* v) = 0;
  // Module `m`'s top level runs (once) before its value is used.
  virtual void moduleImported(const Module* m) = 0;
  // A symbol for a size known only at run time: the same one each time the current node
  // is inferred again in the same context.
  virtual Dim freshDim() = 0;
  // Symbols for joins made by the current node (switch).
  virtual SymbolSupply* joinSymbols() = 0;
};

struct RuleResult {
  const Abstract* value = nullptr;  // nullptr only when the primitive has no rule
  bool failed = false;              // the node definitely raises `error` (value is Bottom)
  Diagnostic error;                 // id and message; the caller sets the location

  static RuleResult ok(const Abstract* v) { RuleResult r; r.value = v; return r; }
  static RuleResult fail(DiagId id, const std::vector<std::string>& args);
};

// The result of primitive `p`. For primitives with a signature, `args` holds one abstract
// per parameter (bound by bindPrimArgs); for variadic ("...") ones, the node's arguments
// with `kwnames` naming the last kwnames.size() of them.
RuleResult inferPrim(Prim p, const std::vector<const Abstract*>& args, const std::vector<std::string>& kwnames,
                     RuleHost& host);

// A parameter as argument binding sees it: `deflt` is its default (nullptr: none).
struct BindParam {
  std::string name;
  PrimParam::Kind kind = PrimParam::Positional;
  const Abstract* deflt = nullptr;
};

// Binds positional and keyword arguments to `params` as Python does: one abstract per
// parameter, defaults filled in, extra positionals packed into the *args tuple and extra
// keywords into the **kw dict. On a mismatch returns false with the run time's message
// (Arity, MissingArgument, UnexpectedKeyword, MultipleValues) naming `fnName`.
bool bindArguments(const std::string& fnName, const std::vector<BindParam>& params,
                   const std::vector<const Abstract*>& positional, const KwArgs& kwargs,
                   std::vector<const Abstract*>* bound, RuleResult* error);

// bindArguments against primitive p's signature (its defaults are literals).
bool bindPrimArgs(Prim p, const std::vector<const Abstract*>& positional, const KwArgs& kwargs,
                  std::vector<const Abstract*>* bound, RuleResult* error);

// The primitive behind `recv.name` for a receiver of kind `recv` (METHOD/PROPERTY of
// ir/Primitives.def).
bool methodPrim(AKind recv, const std::string& name, Prim* prim, bool* property);

}  // namespace msl::ir
