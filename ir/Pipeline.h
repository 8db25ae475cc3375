// The pass pipeline, as one readable list (ir/Pipeline.cpp).
//
// A program goes through these stages, in order:
//   parse        source -> AST                         (frontend/Parser)
//   lower        AST -> IR statement graphs            (frontend/LowerToIR)
//   free-vars    closure structure of every graph      (ir/Manager)
//   verify       IR invariants                         (ir/Verifier)
//   ---- then, per call, when a function is first called with a signature:
//   specialise   infer types and shapes, clone         (ir/Infer, ir/Specialize)
// The first two belong to the frontend; `runModulePasses` runs the module passes after
// them. `--print-after=PASS` prints the module's IR after PASS (any name above that works
// on a whole module: lower, free-vars, verify), `--print-after-all` after each, and
// `--time-passes` reports the time of each pass on stderr.
#pragma once
#include <string>
#include <vector>

#include "ir/IR.h"

namespace msl::ir {

struct PipelineOptions {
  std::vector<std::string> printAfter;  // pass names
  bool printAfterAll = false;
  bool timePasses = false;
  // Where printed IR and timings go (the driver passes its output functions).
  void (*out)(const std::string&) = nullptr;
  void (*err)(const std::string&) = nullptr;
};

struct ModulePass {
  const char* name;
  const char* what;
  void (*run)(Module& m);
};

// The module passes, in order.
const std::vector<ModulePass>& modulePasses();
// Every pass name a user may give to --print-after (frontend stages included).
std::vector<std::string> passNames();

// Runs the module passes on `m` (just lowered), honouring the options.
void runModulePasses(Module& m, const PipelineOptions& o);
// Called by the driver after a frontend stage, so --print-after / --time-passes cover it.
void afterStage(const char* name, Module* m, double seconds, const PipelineOptions& o);

}  // namespace msl::ir
