// The msl IR: a graph-based ANF in the style of MindIR/Myia.
//
// Node kinds
//   Apply      inputs[0] is the callee (a Constant primitive or graph, or any node that
//              yields a callable); inputs[1..] are arguments. When `kwnames` is not empty,
//              the last kwnames.size() inputs are keyword arguments with those names.
//   Parameter  a formal parameter of its graph.
//   Constant   a literal: None, bool, int, float, str, dtype, primitive, graph (a function
//              value: evaluated in a frame it becomes a closure over the graph's free
//              variables), module-level variable slot, class description, undefined marker.
//
// Graphs are first-class values. A graph nested in another may use nodes of enclosing
// graphs: those are its free variables, captured by value when the closure is created.
// Parameter defaults are nodes of the enclosing graph, captured the same way. There are no
// Let nodes; a graph's body is the set of nodes reachable from its output.
//
// Control flow is structured: `if` becomes switch(c, then_graph, else_graph)() , `while`
// a while_loop, `for` a scan; break/continue/return are exit flags carried by the loop.
// Effects (print, I/O, module-level variables) are ordered by state tokens threaded by the
// lowering: effectful primitives take and produce a state; calls of unknown functions
// are ordered by depend/update_state.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/Prim.h"
#include "ir/Source.h"
#include "runtime/DType.h"

namespace msl::ir {

class Graph;
class Module;
struct Abstract;  // ir/Abstract.h: inferred dtype/shape/type

enum class NodeKind : uint8_t { Apply, Parameter, Constant };

// A module-level variable. Its run-time value lives in the interpreter's global table at
// index `id` (process-wide), so redefinition at the REPL is seen by every user.
struct GlobalVar {
  Module* module = nullptr;
  std::string name;
  int id = -1;
  SourceLoc firstDef;  // first assignment, for messages
};

// What `class C:` declares; the MakeClass node's first input is a Constant holding it.
struct ClassInfo {
  std::string name;
  SourceLoc loc;
  std::vector<std::string> fields;
  std::vector<bool> hasDefault;        // per field; defaults are MakeClass inputs in order
  std::vector<std::string> methods;    // method graphs follow the defaults as inputs
};

enum class ConstKind : uint8_t { None, Bool, Int, Float, Str, DType, Prim, Graph, Global, Class, Undef, Ellipsis, Module, Token };

struct Node {
  NodeKind kind;
  Graph* graph = nullptr;  // owning graph; nullptr for constants
  uint32_t id = 0;         // unique in the Module, for printing
  SourceLoc loc;           // where carets point for errors raised by this node
  const Abstract* abs = nullptr;  // inferred abstract value (null before inference)
  // Made by J (autodiff/J.h) as the forward image of `jorigin`: cotangents of captured
  // values are keyed by the id of the first node of this chain, so J(J(g)) and J(g) agree.
  const Node* jorigin = nullptr;
  // Graph mode's type of a value of a J graph (autodiff/J.h), which carries none in `abs`:
  // J notes the forward values' (their primal's abstract) and the cleaner the tensor
  // types it propagates (autodiff/Clean.cpp). Only graph mode's passes read it, putting
  // it in `abs` while they run (codegen/GraphPasses.cpp): vmap, jvp and the cleaner read
  // `abs` as facts about values they may see batched or of another dtype.
  const Abstract* jtype = nullptr;

  // Apply
  std::vector<Node*> inputs;
  std::vector<std::string> kwnames;

  // Parameter: its name. Apply: an optional debug name (the variable it was bound to).
  std::string name;

  // Constant
  ConstKind ckind = ConstKind::None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  DType dtype = DType::F32;
  Prim prim = Prim::MakeTuple;
  Graph* g = nullptr;
  GlobalVar* global = nullptr;
  ClassInfo* cls = nullptr;
  Module* module = nullptr;

  bool isApply() const { return kind == NodeKind::Apply; }
  bool isParam() const { return kind == NodeKind::Parameter; }
  bool isConst() const { return kind == NodeKind::Constant; }
  bool isPrimConst(Prim p) const { return isConst() && ckind == ConstKind::Prim && prim == p; }
  bool isGraphConst() const { return isConst() && ckind == ConstKind::Graph; }
  // For an Apply whose callee is a constant primitive: that primitive.
  bool isPrimApply(Prim p) const { return isApply() && inputs[0]->isPrimConst(p); }
  bool callsPrim(Prim* p) const {
    if (!isApply() || !inputs[0]->isConst() || inputs[0]->ckind != ConstKind::Prim) return false;
    *p = inputs[0]->prim;
    return true;
  }
  size_t numPositional() const { return inputs.size() - 1 - kwnames.size(); }
};

enum class ParamKind : uint8_t { Positional, VarArgs, KwOnly, VarKw };

class Graph {
 public:
  std::string name;       // "f", "<lambda>", "<module>", "f.if_true", ...
  std::string qualname;   // "outer.inner" for traceback and printing
  SourceLoc loc;          // the def / lambda / statement
  Module* module = nullptr;
  Graph* parent = nullptr;  // lexically enclosing graph (nullptr for top-level graphs)

  std::vector<Node*> params;
  std::vector<ParamKind> paramKinds;
  std::vector<Node*> defaults;  // per parameter: a node of an enclosing graph, or nullptr
  Node* output = nullptr;

  // Nodes created in this graph, in creation (= program) order.
  std::vector<Node*> nodes;

  // Free variables: nodes of enclosing graphs used by this graph or its nested graphs
  // (and their non-constant defaults, and what functions given as defaults capture), in
  // first-use order. Kept by the Manager.
  std::vector<Node*> freeVars;
  bool isFunction = false;  // a def/lambda (appears in tracebacks) vs a branch/loop body
  bool isMethod = false;

  // Interpreter cache (runtime/Interpreter owns the object).
  mutable void* code = nullptr;
  // Autodiff (autodiff/J.h): J of this graph once built, and whether this graph was made
  // by J (its closures are already differentiated).
  Graph* jgraph = nullptr;
  std::vector<std::pair<uint64_t, Graph*>> jvariants;  // J without some parameters' cotangents
  bool madeByJ = false;
  // Forward mode (autodiff/Jvp.h): the JVP graph of this graph once built; for a JVP
  // graph, the graph it transforms (its parameters are that graph's, then one tangent each).
  Graph* jvpgraph = nullptr;
  const Graph* jvpSource = nullptr;
  // Batching (autodiff/Vmap.h): the batched graph per set of batched parameters.
  std::vector<std::pair<std::vector<bool>, Graph*>> vmapVariants;
};

// Owns the graphs and nodes of one source module (file, REPL input, stdlib module).
class Module {
 public:
  explicit Module(std::string name, const SourceFile* file) : name(std::move(name)), file(file) {}
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  std::string name;          // "helper", "optim.adam", "__main__"
  const SourceFile* file;
  std::vector<Graph*> statements;  // top-level statement graphs, in order (no params)
  std::vector<GlobalVar*> globals;
  std::vector<Module*> imports;    // modules this one imports (resolved before running)

  Graph* newGraph(const std::string& name, Graph* parent, SourceLoc loc);
  Node* newParam(Graph* g, const std::string& name, SourceLoc loc);
  Node* newApply(Graph* g, std::vector<Node*> inputs, SourceLoc loc);
  Node* newConst(ConstKind k, SourceLoc loc = {});
  Node* constNone();
  Node* constBool(bool v);
  Node* constInt(int64_t v, SourceLoc loc = {});
  Node* constFloat(double v, SourceLoc loc = {});
  Node* constStr(const std::string& v, SourceLoc loc = {});
  Node* constPrim(Prim p, SourceLoc loc = {});
  Node* constGraph(Graph* g, SourceLoc loc = {});
  Node* constDType(DType d);
  Node* constUndef(const std::string& varName);
  GlobalVar* global(const std::string& name);  // finds or creates the slot
  GlobalVar* findGlobal(const std::string& name) const;
  ClassInfo* newClass();

  const std::vector<std::unique_ptr<Graph>>& graphs() const { return graphs_; }

 private:
  std::vector<std::unique_ptr<Graph>> graphs_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<GlobalVar>> globalStore_;
  std::vector<std::unique_ptr<ClassInfo>> classes_;
  uint32_t nextId_ = 1;
};

// Process-wide counter of global variable ids.
int nextGlobalId();
// The id the next global will get, and restarting the count there. Only for a process that
// runs many independent programs (the fuzz harness): after a program's modules are gone,
// it reuses their ids so that interpreters' global tables stay small.
int peekGlobalId();
void resetGlobalIds(int next);

}  // namespace msl::ir
