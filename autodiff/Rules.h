// The reverse rules of the primitives (autodiff/Rules.cpp), used by J (autodiff/J.h).
#pragma once
#include <vector>

#include "ir/IR.h"

namespace msl::autodiff {

// What a rule sees. Rules emit IR into the backward graph `b` through call(); the
// forward values (arguments by parameter, defaults filled in as constants, and the
// result) are nodes of the forward graph, which `b` captures.
struct RuleCtx {
  ir::Module& m;
  ir::Graph* b;
  SourceLoc loc;
  std::vector<ir::Node*> x;  // forward arguments, one per parameter (a *args parameter: a tuple node)
  ir::Node* out;             // forward result
  ir::Node* ct;              // cotangent of the result (zeros, never None, when the rule runs)
  // The cotangent as it comes, None for zeros (nullptr: not given, use ct). For rules that
  // make their own zeros rather than keep the result alive for ct's (list_append_local).
  ir::Node* rawCt = nullptr;

  ir::Node* call(Prim p, std::vector<ir::Node*> args);
  ir::Node* num(double v) { return m.constFloat(v, loc); }
  ir::Node* integer(int64_t v) { return m.constInt(v, loc); }
  ir::Node* none() { return m.constNone(); }
  // ct reduced to the shape and dtype of `like` (nullptr-safe shorthand).
  ir::Node* ub(ir::Node* c, ir::Node* like) { return call(Prim::Unbroadcast, {c, like}); }
};

// The cotangents of p's arguments, one per parameter (nullptr: no contribution).
// Only for primitives whose diffKind is Rule.
std::vector<ir::Node*> reverseRule(Prim p, RuleCtx& r);

}  // namespace msl::autodiff
