// Lifting of free variables before J (DESIGN.md section 3, docs/autodiff.md).
//
// A branch of `if` is a graph nested in the function, called where the switch picks it:
// `switch(c, then_g, else_g)(args...)`. Its free variables (the values it captures) are
// lifted to leading parameters: J differentiates the call as
// `__jcall(switch(c, J(then_g'), J(else_g')), fv_1, ..., fv_k, args...)`, where then_g'
// and else_g' take the values both branches capture (the union, in order) before their
// own parameters. That is `partial(lifted, fv_1, ..., fv_k)(args...)` with the partial
// eliminated. So the closure's cotangent is the tuple of its captured values'
// cotangents, positions of the call like any argument's, and the masks of cotangents
// nobody reads (kJCallSkip, autodiff/Clean.cpp) reach captured values: a branch computes
// no cotangent for a value it captures whose cotangent is not wanted.
//
// The lifting is a plan J follows as it builds the J graphs (autodiff/J.cpp): the primal
// (specialised) graph is not rewritten, so running it and the keys of the other closures'
// cotangents are unchanged.
//
// Local functions and lambdas (autodiff/LiftFunctions.cpp): a closure made from a nested
// graph g with free variables fv_1..fv_k is, under J, `partial(J(g'), fv_1, ..., fv_k)`,
// g' taking them as leading parameters, so its cotangent is the partial's `(ct_fn, (ct of
// each fv), {})`; a direct call `g(args...)` is `__jcall(J(g'), fv..., args...)` (the
// partial eliminated), which cleaning inlines, so the cotangents of captured values nobody
// reads are not computed. Those that cannot be lifted (recursive ones, ...) keep the dict
// from the ids of their free variables (J.h).
//
// Loop bodies (autodiff/LiftLoops.cpp): the body of `scan(body, it, init)` (a `for`) or
// `while_loop(cond, body, init)` takes the values it captures as leading parameters too;
// J runs the loop as `__scan_j(J(body'), it, init, (fv_1, ..., fv_k))` (`__while_j`
// likewise), which passes them unchanged to every iteration, and `__scan_bwd` /
// `__while_bwd` (nlifted=k) return their cotangents, summed over the iterations, after
// those of (body, it, init): positions, so `wanted` (autodiff/Clean.cpp) has a bit per
// captured value and a captured value whose cotangent nobody reads gets none computed.
#pragma once
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ir/IR.h"

namespace msl::autodiff {

struct LiftPlan {
  // A switch node whose branches are lifted -> the values they capture, in order (the
  // lifted parameters of both branches).
  std::unordered_map<const ir::Node*, std::vector<ir::Node*>> switches;
  // A lifted branch graph -> the same list.
  std::unordered_map<const ir::Graph*, const std::vector<ir::Node*>*> graphs;
  // A scan or while_loop node whose body is lifted -> the values the body captures, in
  // order (its leading parameters); graphs maps the body to the same list.
  std::unordered_map<const ir::Node*, std::vector<ir::Node*>> loops;

  // A lifted local function or lambda (LiftFunctions.cpp) -> its free variables, in order
  // (its lifted parameters; also in `graphs`).
  std::unordered_map<const ir::Graph*, std::vector<ir::Node*>> functions;

  bool lifted(const ir::Graph* g) const { return graphs.count(g) != 0; }
  bool liftedFunction(const ir::Graph* g) const { return functions.count(g) != 0; }
  // The lifted values of a call's callee (nullptr where the callee is not a lifted switch
  // nor a lifted function's graph constant).
  const std::vector<ir::Node*>* callee(const ir::Node* fn) const {
    if (fn->isGraphConst()) {
      auto f = functions.find(fn->g);
      return f == functions.end() ? nullptr : &f->second;
    }
    auto it = switches.find(fn);
    return it == switches.end() ? nullptr : &it->second;
  }
  // The lifted values of a loop node (nullptr where its body is not lifted).
  const std::vector<ir::Node*>* loop(const ir::Node* n) const {
    auto it = loops.find(n);
    return it == loops.end() ? nullptr : &it->second;
  }
};

// The branches of `root` (and of the graphs nested in it) to lift: a switch between two
// graphs nested in root, at least one of them with free variables, both with positional
// parameters only, referenced by that switch alone, the switch used only as the callee of
// calls. Environment variable MSL_NO_LIFT=1 gives an empty plan (the dict representation
// everywhere; for comparing).
LiftPlan planLifting(ir::Graph* root);

// Adds to `plan` the loop bodies of `root` to lift (autodiff/LiftLoops.cpp): the body of a
// scan or while_loop node, a graph nested in root with free variables, referenced by that
// node alone, with positional parameters, whose own nodes (and those of the graphs nested
// in it) refer to no other graph nested in root outside the body (a local function of
// root called in the loop: J builds that function's J graph in root's scope, which must
// not see the body's lifted parameters), and at most 56 captured values (the masks). The
// others keep the dict cotangent. Called by planLifting (not under MSL_NO_LIFT=1).
void planLoopLifting(ir::Graph* root, LiftPlan& plan);

// Adds to `plan` the local functions and lambdas of `root` to lift (LiftFunctions.cpp):
// graphs nested in root made by a def or lambda, with free variables or defaults computed
// there (autodiff::defaultCtKey), not a lifted branch,
// not recursive (no graph they reach refers back to them), never a default value, nor the
// body of a loop (scan, while_loop: those keep the dict), whose free variables come before
// each place the graph constant is used (so J can bind them there). `scope`: root and the
// graphs nested in it that its nodes reach.
void planFunctionLifting(ir::Graph* root, const std::vector<ir::Graph*>& scope, LiftPlan& plan);

}  // namespace msl::autodiff
