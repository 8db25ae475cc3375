#include "codegen/GraphPasses.h"

#include <cstdlib>
#include <string>

#include "codegen/FoldBranches.h"
#include "ir/Abstract.h"
#include "ir/IR.h"
#include "ir/Literal.h"
#include "ir/Manager.h"
#include "ir/Specialize.h"

namespace msl::codegen {

namespace {
// Whether fuseElementwise could find a chain in g or the graphs nested in it: a chain of two
// or more has a member whose operand is another member, both primitive applications with
// tensor results in one graph (codegen/Fusion.cpp). Most host graphs (calls, tuples,
// attributes) have no such pair, and this scan is cheaper than the pass's own analysis.
bool mayFuse(const ir::Module& m, const ir::Graph* g) {
  auto tensorPrim = [](const ir::Node* n) {
    Prim p;
    return n->callsPrim(&p) && n->abs && n->abs->isTensor();
  };
  for (const auto& gp : m.graphs()) {
    if (!ir::isWithin(gp.get(), g)) continue;
    for (const ir::Node* n : gp->nodes) {
      if (!tensorPrim(n)) continue;
      for (size_t k = 1; k < n->inputs.size(); ++k)
        if (n->inputs[k]->graph == gp.get() && tensorPrim(n->inputs[k])) return true;
    }
  }
  return false;
}
}  // namespace

GraphPassOptions GraphPassOptions::fromEnv() {
  GraphPassOptions o;
  if (const char* e = std::getenv("MSL_NO_FOLD_BRANCHES")) o.foldBranches = std::string(e) != "1";
  if (const char* e = std::getenv("MSL_NO_DROP_CALLS")) o.dropCalls = std::string(e) != "1";
  return o;
}

void runGraphPasses(ir::Graph* g, const ir::Specialisation* spec, const GraphPassOptions& opt, KernelSource& kernels,
                    GraphPassCounts* counts) {
  // Graph passes on the specialised graph, before lowering: elementwise chains become
  // fused kernels (codegen/Fusion.h). Graphs nested in g are fused with it; when they
  // come here themselves, nothing is left to fuse. The chains are recorded (ir/Fused.h)
  // so that a transform of g later (f(x), then grad(f)(x)) sees them unfused.
  if (!g->module) return;
  // A differentiated graph: its values' types (Node::jtype) are in Node::abs while the
  // passes run, and taken off after (the fused nodes keep theirs). Graphs nested in it
  // (its bprops, closures) are fused with it.
  ir::TemporaryAbstracts jtypes;
  if (g->madeByJ)
    for (const auto& gp : g->module->graphs()) {
      ir::Graph* h = gp.get();
      if (!h->madeByJ || !ir::isWithin(h, g)) continue;
      for (ir::Node* p : h->params) jtypes.set(p, p->jtype);
      for (ir::Node* n : h->nodes) jtypes.set(n, n->jtype);
      for (ir::Node* fv : h->freeVars) jtypes.set(fv, fv->jtype);
    }
  // Branches the specialisation decided become straight-line code first (FoldBranches.h),
  // so that fusion sees the arms' operations beside their neighbours.
  // Not in differentiated graphs (autodiff/J.h): their cleaning folded what their types
  // decide (docs/fusion.md "Differentiated graphs").
  if (opt.foldBranches && !g->madeByJ) counts->folded += foldKnownBranches(g);
  // Then calls whose results are known and that cannot fail or have effects go (their
  // readers read the constant), those of the arms just moved in included.
  if (opt.dropCalls && !g->madeByJ) counts->dropped += dropKnownCalls(g);
  if (opt.fusion.minOps < 2 || mayFuse(*g->module, g)) {
    FusionOptions fo = opt.fusion;
    if (spec) fo.captured = &spec->captured;  // the types of the values g reads from its closure
    FusionStats st = fuseElementwise(*g->module, g, fo, kernels);
    counts->kernels += st.kernels;
    counts->unavailable += st.unavailable;
  }
}

}  // namespace msl::codegen
