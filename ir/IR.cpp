#include "ir/IR.h"

namespace msl::ir {

static int gNextGlobalId = 0;

int nextGlobalId() { return gNextGlobalId++; }
int peekGlobalId() { return gNextGlobalId; }
void resetGlobalIds(int next) { gNextGlobalId = next; }

Graph* Module::newGraph(const std::string& name, Graph* parent, SourceLoc loc) {
  graphs_.push_back(std::make_unique<Graph>());
  Graph* g = graphs_.back().get();
  g->name = name;
  g->qualname = parent && parent->isFunction ? parent->qualname + "." + name : name;
  g->parent = parent;
  g->loc = loc;
  g->module = this;
  return g;
}

Node* Module::newParam(Graph* g, const std::string& name, SourceLoc loc) {
  nodes_.push_back(std::make_unique<Node>());
  Node* n = nodes_.back().get();
  n->kind = NodeKind::Parameter;
  n->graph = g;
  n->id = nextId_++;
  n->name = name;
  n->loc = loc;
  g->params.push_back(n);
  g->paramKinds.push_back(ParamKind::Positional);
  g->defaults.push_back(nullptr);
  return n;
}

Node* Module::newApply(Graph* g, std::vector<Node*> inputs, SourceLoc loc) {
  nodes_.push_back(std::make_unique<Node>());
  Node* n = nodes_.back().get();
  n->kind = NodeKind::Apply;
  n->graph = g;
  n->id = nextId_++;
  n->inputs = std::move(inputs);
  n->loc = loc;
  g->nodes.push_back(n);
  return n;
}

Node* Module::newConst(ConstKind k, SourceLoc loc) {
  nodes_.push_back(std::make_unique<Node>());
  Node* n = nodes_.back().get();
  n->kind = NodeKind::Constant;
  n->id = nextId_++;
  n->ckind = k;
  n->loc = loc;
  return n;
}

Node* Module::constNone() { return newConst(ConstKind::None); }
Node* Module::constBool(bool v) { Node* n = newConst(ConstKind::Bool); n->b = v; return n; }
Node* Module::constInt(int64_t v, SourceLoc loc) { Node* n = newConst(ConstKind::Int, loc); n->i = v; return n; }
Node* Module::constFloat(double v, SourceLoc loc) { Node* n = newConst(ConstKind::Float, loc); n->f = v; return n; }
Node* Module::constStr(const std::string& v, SourceLoc loc) { Node* n = newConst(ConstKind::Str, loc); n->s = v; return n; }
Node* Module::constPrim(Prim p, SourceLoc loc) { Node* n = newConst(ConstKind::Prim, loc); n->prim = p; return n; }
Node* Module::constGraph(Graph* g, SourceLoc loc) { Node* n = newConst(ConstKind::Graph, loc); n->g = g; return n; }
Node* Module::constDType(DType d) { Node* n = newConst(ConstKind::DType); n->dtype = d; return n; }
Node* Module::constUndef(const std::string& varName) { Node* n = newConst(ConstKind::Undef); n->s = varName; return n; }

GlobalVar* Module::findGlobal(const std::string& name) const {
  for (GlobalVar* v : globals)
    if (v->name == name) return v;
  return nullptr;
}

GlobalVar* Module::global(const std::string& name) {
  if (GlobalVar* v = findGlobal(name)) return v;
  globalStore_.push_back(std::make_unique<GlobalVar>());
  GlobalVar* v = globalStore_.back().get();
  v->module = this;
  v->name = name;
  v->id = nextGlobalId();
  globals.push_back(v);
  return v;
}

ClassInfo* Module::newClass() {
  classes_.push_back(std::make_unique<ClassInfo>());
  return classes_.back().get();
}

}  // namespace msl::ir
