// The batching rules of the primitives (autodiff/BatchRules.cpp), used by the vmap
// transform (autodiff/Vmap.h).
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/Vmap.h"
#include "ir/Abstract.h"
#include "ir/IR.h"

namespace msl::autodiff {

// What a rule sees: the original call node `n` (whose inputs carry per-example abstracts)
// and its inputs in the batched graph `g`, indexed like n->inputs; a batched input holds
// the examples along its leading axis (b[k]). Rules emit IR into g.
struct BatchCtx {
  ir::Module& m;
  ir::Graph* g;
  ir::Node* n;
  ir::Node* size;             // the batch size (an int)
  std::vector<ir::Node*> in;  // in[0] is the callee
  std::vector<bool> b;
  // For an input that is a tuple or list made in the graph (batched item by item), the
  // value before it was made batched as a whole, and which items were batched; empty
  // otherwise (in[k] then holds the value as it is).
  std::vector<ir::Node*> raw;
  std::vector<std::vector<bool>> items;
  bool outBatched = true;     // a rule sets false when its result is the same for every example

  SourceLoc loc() const { return n->loc; }
  bool anyBatched() const;
  // A call of p in g (keyword arguments after the positional ones).
  ir::Node* call(Prim p, std::vector<ir::Node*> args, std::vector<std::pair<std::string, ir::Node*>> kw = {});
  // n itself with `in` as inputs, some replaced (input index -> node), keywords added.
  ir::Node* copy(std::vector<std::pair<size_t, ir::Node*>> repl = {},
                 std::vector<std::pair<std::string, ir::Node*>> extraKw = {});
  // The input bound to parameter `name` of n's primitive, or -1 when defaulted.
  int param(const char* name) const;
  // Per-example abstract and rank of input k (-1: unknown; Python numbers have rank 0).
  const ir::Abstract* abs(size_t k) const { return n->inputs[k]->abs; }
  int rank(size_t k) const;
  bool isTensor(size_t k) const;
  // A static int, None, or tuple of ints in input k (or parameter's default when k < 0
  // and `dflt` is given). Returns false when it is not known here.
  bool axes(int k, const std::string& dflt, bool* none, std::vector<int64_t>* out) const;
  ir::Node* integer(int64_t v) { return m.constInt(v, loc()); }
  ir::Node* intTuple(const std::vector<int64_t>& v);
  // x (batched) with `count` new axes of size 1 right after the batch axis.
  ir::Node* expandAfterBatch(ir::Node* x, int count);
  // x (batched, per-example rank r) with the batch axis moved to `to` (a normalised axis).
  ir::Node* moveBatch(ir::Node* x, int r, int to);
  // in[k] if batched, else it repeated along a new leading axis (__vmap_bcast).
  ir::Node* batched(size_t k);
  // Whether item i of input k (a tuple or list made in the graph) is batched; without
  // per-item knowledge, whether the input is.
  bool itemBatched(size_t k, size_t i) const;
};

// The batched result of c.n (batched along axis 0), or nullptr when the rule does not
// apply to these arguments (the transform then runs the primitive once per example).
ir::Node* batchRule(Prim p, BatchCtx& c);

}  // namespace msl::autodiff
