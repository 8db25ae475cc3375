// The forward (tangent) rules of the primitives (autodiff/ForwardRules.cpp), used by the
// JVP transform (autodiff/Jvp.h).
#pragma once
#include <vector>

#include "ir/IR.h"

namespace msl::autodiff {

// What a forward rule sees. `node` is the primitive call, already copied into the JVP
// graph `g` (its inputs are primal values there). Rules emit IR into `g` through call().
struct FwdCtx {
  ir::Module& m;
  ir::Graph* g;
  SourceLoc loc;
  ir::Node* node;            // the primal call in g (its result is the primal output)
  std::vector<ir::Node*> inT;  // tangent of each input of node (index as node->inputs; nullptr: zero)
  // By parameter of the primitive (filled by bindForward): the primal argument (a *args
  // parameter: a tuple node, **kw: a dict node; a default: its constant) and its tangent.
  std::vector<ir::Node*> x;
  std::vector<ir::Node*> t;
  // Which inputs of node each parameter came from.
  std::vector<std::vector<size_t>> from;

  ir::Node* call(Prim p, std::vector<ir::Node*> args, std::vector<std::string> kwnames = {});
  ir::Node* num(double v) { return m.constFloat(v, loc); }
  ir::Node* integer(int64_t v) { return m.constInt(v, loc); }
  // The tangent of parameter i, or zeros with the structure of its primal.
  ir::Node* Z(size_t i);
  // node called again with the inputs bound to parameters `params` replaced by their
  // tangents (zeros where a tangent is nullptr): the rule of a primitive linear in them.
  ir::Node* linear(std::vector<size_t> params);
};

// Fills r.x, r.t and r.from from r.node (a call of p) and r.inT (defaults become constants).
void bindForward(Prim p, FwdCtx& r);

// The tangent of p's result. Returns false when p has no forward rule; otherwise sets
// *tangent (nullptr: a zero tangent). Raises NotSupportedYet where a rule exists only for
// some arguments (the gradient helper of layer_norm differentiated in its arguments).
bool forwardRule(Prim p, FwdCtx& r, ir::Node** tangent);

}  // namespace msl::autodiff
