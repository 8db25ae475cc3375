#include "runtime/AotCode.h"

#include "ir/HostPlan.h"
#include "ir/IR.h"

namespace msl {

AotCodeTable::AotCodeTable(const MslAotFunction* functions, size_t count) {
  for (size_t i = 0; i < count; ++i) byPlan_.emplace(functions[i].plan, functions[i].fn);
}

CompiledGraph AotCodeTable::compile(const ir::Graph* g) {
  std::string plan = ir::hostPlanText(ir::planHostGraph(g));
  auto it = byPlan_.find(plan);
  if (it != byPlan_.end()) {
    ++hits_;
    return it->second;
  }
  std::string where = "<no location>";
  if (g->loc.valid())
    where = g->loc.file->name + ":" + std::to_string(g->loc.line) + ":" + std::to_string(g->loc.col);
  std::string name = g->qualname.empty() ? g->name : g->qualname;
  missed_.push_back(where + ": " + (name.empty() ? "<graph>" : name) + " (plan " + plan + ")");
  return nullptr;
}

std::string AotCodeTable::report() const {
  std::string r = "msl: " + std::to_string(hits_) + " graphs ran code compiled ahead of time (" +
                  std::to_string(byPlan_.size()) + " functions), " + std::to_string(missed_.size()) +
                  " ran in the interpreter" + (missed_.empty() ? "\n" : ":\n");
  for (const std::string& m : missed_) r += "  " + m + "\n";
  return r;
}

}  // namespace msl
