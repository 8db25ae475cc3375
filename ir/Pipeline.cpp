#include "ir/Pipeline.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "ir/Manager.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

namespace msl::ir {

// ===================================================================== THE PIPELINE
const std::vector<ModulePass>& modulePasses() {
  static const std::vector<ModulePass> passes = {
      {"free-vars", "closure structure: the free variables of every graph", computeFreeVars},
      {"verify", "the IR invariants of ir/IR.h", [](Module& m) { verifyOrThrow(m, "after lowering"); }},
  };
  return passes;
}
// ===================================================================================

std::vector<std::string> passNames() {
  std::vector<std::string> names{"parse", "lower"};
  for (const ModulePass& p : modulePasses()) names.push_back(p.name);
  return names;
}

void afterStage(const char* name, Module* m, double seconds, const PipelineOptions& o) {
  if (o.timePasses && o.err) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "pass %-10s %8.3f ms%s%s\n", name, seconds * 1e3, m ? "  " : "",
                  m ? m->name.c_str() : "");
    o.err(buf);
  }
  bool print = o.printAfterAll || std::find(o.printAfter.begin(), o.printAfter.end(), name) != o.printAfter.end();
  if (print && m && o.out) o.out("; IR of module " + m->name + " after " + name + "\n" + printModule(*m));
}

void runModulePasses(Module& m, const PipelineOptions& o) {
  for (const ModulePass& p : modulePasses()) {
    auto t0 = std::chrono::steady_clock::now();
    p.run(m);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    afterStage(p.name, &m, s, o);
  }
}

}  // namespace msl::ir
