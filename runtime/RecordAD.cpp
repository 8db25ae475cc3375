// Record constructors under the transforms (runtime/RecordAD.h).
#include "runtime/RecordAD.h"

#include "ir/Manager.h"

namespace msl {

using ir::Graph;
using ir::Node;

Value recordCtorClosure(std::unique_ptr<ir::Module>& module, std::unordered_map<std::string, Graph*>& cache,
                        const Value& tmpl, const std::vector<std::string>& kwnames) {
  std::string key = "<record>";
  for (const auto& k : kwnames) key += "/" + k;
  auto found = cache.find(key);
  Graph* g;
  if (found != cache.end()) {
    g = found->second;
  } else {
    if (!module) module = std::make_unique<ir::Module>("<autodiff>", nullptr);
    ir::Module& m = *module;
    // outer(tmpl) holds the template; ctor(k0, k1, ...) = tmpl with tmpl.k0 = k0, ...
    Graph* outer = m.newGraph("<record>", nullptr, SourceLoc{});
    Node* t = m.newParam(outer, "tmpl", SourceLoc{});
    g = m.newGraph("<record>", outer, SourceLoc{});
    g->qualname = "<record>";
    Node* r = t;
    for (const auto& k : kwnames) {
      Node* p = m.newParam(g, k, SourceLoc{});
      r = m.newApply(g, {m.constPrim(Prim::SetAttr), r, m.constStr(k), p}, SourceLoc{});
    }
    g->output = r;
    outer->output = m.constGraph(g, SourceLoc{});
    ir::computeFreeVars(std::vector<Graph*>{outer, g});
    cache.emplace(key, g);
  }
  auto* cl = new ClosureObj();
  Value v = Value::object(cl);
  cl->graph = g;
  cl->captured.assign(g->freeVars.size(), tmpl);
  cl->defaults.assign(g->params.size(), Value::undef());
  return v;
}

}  // namespace msl
