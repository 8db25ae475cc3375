#include "ir/Printer.h"

#include <charconv>
#include <unordered_map>
#include <unordered_set>

#include "ir/Manager.h"

namespace msl::ir {

std::string (*abstractToString)(const Abstract*) = nullptr;

std::string quoteLiteral(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\\' || c == '\'') { out += '\\'; out += c; }
    else out += c;
  }
  return out + "'";
}

std::string floatLiteral(double d) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

namespace {

class Namer {
 public:
  std::string name(const Node* n) {
    if (n->isConst()) return constant(n);
    auto it = names_.find(n);
    if (it != names_.end()) return it->second;
    // A node of a graph not printed yet: number that graph's nodes first.
    number(n->graph);
    return names_[n];
  }
  void number(const Graph* g) {
    if (!numbered_.insert(g).second) return;
    for (const Node* p : g->params) names_[p] = "%" + p->name;
    int i = 1;
    for (const Node* n : g->nodes) names_[n] = "%" + std::to_string(i++);
  }
  // Name of a node used from graph `from`: qualified when it belongs to another graph.
  std::string ref(const Node* n, const Graph* from) {
    std::string s = name(n);
    if (!n->isConst() && n->graph != from) s = "%" + n->graph->qualname + "." + s.substr(1);
    return s;
  }
  static std::string constant(const Node* n) {
    switch (n->ckind) {
      case ConstKind::None: return "None";
      case ConstKind::Bool: return n->b ? "True" : "False";
      case ConstKind::Int: return std::to_string(n->i);
      case ConstKind::Float: return floatLiteral(n->f);
      case ConstKind::Str: return quoteLiteral(n->s);
      case ConstKind::DType: return dtypeName(n->dtype);
      case ConstKind::Prim: return primName(n->prim);
      case ConstKind::Graph: return "@" + n->g->qualname;
      case ConstKind::Global: return "$" + n->global->name;
      case ConstKind::Class: return "class " + n->cls->name;
      case ConstKind::Undef: return "undefined(" + n->s + ")";
      case ConstKind::Ellipsis: return "...";
      case ConstKind::Module: return "module " + n->module->name;
      case ConstKind::Token: return "state0";
    }
    return "?";
  }

 private:
  std::unordered_map<const Node*, std::string> names_;
  std::unordered_set<const Graph*> numbered_;
};

std::string locText(SourceLoc l) {
  if (!l.valid()) return "";
  return l.file->name + ":" + std::to_string(l.line) + ":" + std::to_string(l.col);
}

void printOne(std::string& out, const Graph* g, Namer& nm, const PrintOptions& o) {
  nm.number(g);
  out += "graph @" + g->qualname + "(";
  for (size_t i = 0; i < g->params.size(); ++i) {
    if (i) out += ", ";
    switch (g->paramKinds[i]) {
      case ParamKind::VarArgs: out += "*"; break;
      case ParamKind::VarKw: out += "**"; break;
      case ParamKind::KwOnly: out += "kw "; break;
      default: break;
    }
    out += nm.name(g->params[i]);
    if (g->defaults[i]) out += " = " + nm.ref(g->defaults[i], g);
  }
  out += ")";
  if (!g->freeVars.empty()) {
    out += " [free:";
    for (const Node* fv : g->freeVars) out += " " + nm.ref(fv, g);
    out += "]";
  }
  out += " {\n";
  for (const Node* n : g->nodes) {
    std::string line = "  " + nm.name(n) + " = ";
    line += nm.ref(n->inputs[0], g) + "(";
    size_t npos = n->numPositional();
    for (size_t i = 1; i < n->inputs.size(); ++i) {
      if (i > 1) line += ", ";
      if (i > npos) line += n->kwnames[i - 1 - npos] + "=";
      line += nm.ref(n->inputs[i], g);
    }
    line += ")";
    if (o.types && n->abs && abstractToString) line += " : " + abstractToString(n->abs);
    if (o.locations && n->loc.valid()) {
      if (line.size() < 48) line.resize(48, ' ');
      line += "  ; " + locText(n->loc);
    }
    out += line + "\n";
  }
  out += "  return " + (g->output ? nm.ref(g->output, g) : std::string("<none>")) + "\n}\n";
}

void printTree(std::string& out, const Graph* root, Namer& nm, const PrintOptions& o,
               std::unordered_set<const Graph*>& done) {
  std::vector<const Graph*> work{root};
  while (!work.empty()) {
    const Graph* g = work.back();
    work.pop_back();
    if (!done.insert(g).second) continue;
    printOne(out, g, nm, o);
    auto refs = referencedGraphs(g);
    for (auto it = refs.rbegin(); it != refs.rend(); ++it) work.push_back(*it);
  }
}

}  // namespace

std::string printGraph(const Graph* g, const PrintOptions& o) {
  std::string out;
  Namer nm;
  printOne(out, g, nm, o);
  return out;
}

std::string printGraphTree(const Graph* g, const PrintOptions& o) {
  std::string out;
  Namer nm;
  std::unordered_set<const Graph*> done;
  printTree(out, g, nm, o, done);
  return out;
}

std::string printModule(const Module& m, const PrintOptions& o) {
  std::string out;
  Namer nm;
  std::unordered_set<const Graph*> done;
  for (const Graph* g : m.statements) {
    if (!out.empty()) out += "\n";
    printTree(out, g, nm, o, done);
  }
  return out;
}

}  // namespace msl::ir
