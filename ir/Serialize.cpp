#include "ir/Serialize.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <unordered_map>

#include <boost/crc.hpp>

#include "ir/Verifier.h"

// The payload, in order (u: unsigned LEB128; i: zigzag LEB128; str: u length + bytes;
// loc: u file (0 none, k the k-th file), u line, u col; ref: u (0 none, k the k-th entry
// of its table)):
//   files    u n; per file: str name, str text
//   modules  u n; per module: str name, u file, u globals; per global: str name, loc
//   classes  u n; per class: u module, str name, loc, u fields; per field: str, u8 has
//            default; u methods; per method: str
//   graphs   u n; per graph: u module, str name, str qualname, loc, ref parent (an earlier
//            graph of the same module), u8 flags (1 function, 2 method)
//   nodes    u n; per node: u module, u id (increasing within a module), u8 kind, loc,
//            str name; Apply and Parameter: u graph (of the same module); Constant: u8 kind
//            and its payload (bool u8, int i, float 8 bytes, str/undef str, dtype and
//            primitive by name, graph u, global u module + u index, class u, module u)
//   links    per Apply node: u inputs, refs; u keyword names, strs;
//            per graph: u params; per param: ref node, u8 kind, ref default; ref output;
//            u nodes, refs; u free variables, refs;
//            per module: u statements, graph refs; u imports, module refs
//   program  u listed (the first `listed` modules are ProgramImage::modules), u main,
//            ref builtins
// Nodes are created in id order, unused ids of the original module being filled with
// unused constants, so that a deserialised module gives the ids it had (and new nodes,
// made by autodiff at run time, the ids that follow).

namespace msl::ir {

namespace {

constexpr char kMagic[8] = {'M', 'S', 'L', 'I', 'M', 'G', '\r', '\n'};

uint32_t crc32(std::string_view s) {
  boost::crc_32_type c;
  c.process_bytes(s.data(), s.size());
  return c.checksum();
}

void putLE(std::string& out, uint64_t v, int bytes) {
  for (int k = 0; k < bytes; ++k) out.push_back(char((v >> (8 * k)) & 0xFF));
}

uint64_t getLE(std::string_view s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int k = 0; k < bytes; ++k) v |= uint64_t((unsigned char)s[at + k]) << (8 * k);
  return v;
}

const std::unordered_map<std::string, Prim>& primsByName() {
  static const std::unordered_map<std::string, Prim> m = [] {
    std::unordered_map<std::string, Prim> out;
    for (int k = 0; k < kNumPrims; ++k) out.emplace(primName(Prim(k)), Prim(k));
    return out;
  }();
  return m;
}

// ---------------------------------------------------------------- writing

class Writer {
 public:
  std::string out;
  void u(uint64_t v) {
    while (v >= 0x80) {
      out.push_back(char((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out.push_back(char(v));
  }
  void i(int64_t v) { u((uint64_t(v) << 1) ^ uint64_t(v >> 63)); }
  void byte(uint8_t b) { out.push_back(char(b)); }
  void f64(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    putLE(out, bits, 8);
  }
  void str(const std::string& s) {
    u(s.size());
    out += s;
  }
};

class Serializer {
 public:
  explicit Serializer(const ProgramImage& p) : p_(p) {}

  std::string run() {
    if (!p_.main || std::find(p_.modules.begin(), p_.modules.end(), p_.main) == p_.modules.end())
      throw InternalError("serialize: the main module is not among the program's modules");
    for (Module* m : p_.modules) addModule(m);
    if (modules_.size() != p_.modules.size()) throw InternalError("serialize: a module is listed twice");
    if (p_.builtins) addModule(p_.builtins);
    // Modules, graphs, nodes and classes reachable from the listed ones (the table grows).
    for (size_t k = 0; k < modules_.size(); ++k) scanModule(modules_[k]);
    for (auto& ns : nodesOf_) {
      std::sort(ns.begin(), ns.end(), [](const Node* a, const Node* b) { return a->id < b->id; });
      for (size_t k = 1; k < ns.size(); ++k)
        if (ns[k]->id == ns[k - 1]->id) throw InternalError("serialize: two nodes have id " + std::to_string(ns[k]->id));
    }
    for (size_t mi = 0; mi < modules_.size(); ++mi)
      for (const Node* n : nodesOf_[mi]) {
        nodeIndex_[n] = nodes_.size();
        nodes_.push_back(n);
      }

    Writer w;  // everything after the file table, which is known at the end
    w.u(modules_.size());
    for (const Module* m : modules_) {
      w.str(m->name);
      w.u(m->file ? fileRef(m->file) : 0);
      w.u(m->globals.size());
      for (const GlobalVar* g : m->globals) {
        w.str(g->name);
        loc(w, g->firstDef);
      }
    }
    w.u(classes_.size());
    for (size_t k = 0; k < classes_.size(); ++k) {
      const ClassInfo* c = classes_[k];
      w.u(classModule_[k]);
      w.str(c->name);
      loc(w, c->loc);
      if (c->hasDefault.size() != c->fields.size()) throw InternalError("serialize: class " + c->name + " has mismatched defaults");
      w.u(c->fields.size());
      for (size_t f = 0; f < c->fields.size(); ++f) {
        w.str(c->fields[f]);
        w.byte(c->hasDefault[f] ? 1 : 0);
      }
      w.u(c->methods.size());
      for (const std::string& s : c->methods) w.str(s);
    }
    w.u(graphs_.size());
    for (const Graph* g : graphs_) {
      w.u(moduleIndex(g->module));
      w.str(g->name);
      w.str(g->qualname);
      loc(w, g->loc);
      w.u(g->parent ? graphIndex(g->parent) + 1 : 0);
      w.byte((g->isFunction ? 1 : 0) | (g->isMethod ? 2 : 0));
    }
    w.u(nodes_.size());
    for (size_t k = 0; k < nodes_.size(); ++k) node(w, nodes_[k], nodeModule_.at(nodes_[k]));
    for (const Node* n : nodes_) {
      if (!n->isApply()) continue;
      w.u(n->inputs.size());
      for (const Node* in : n->inputs) w.u(nodeRef(in));
      w.u(n->kwnames.size());
      for (const std::string& s : n->kwnames) w.str(s);
    }
    for (const Graph* g : graphs_) {
      if (g->paramKinds.size() != g->params.size() || g->defaults.size() != g->params.size())
        throw InternalError("serialize: graph " + g->name + " has mismatched parameter lists");
      w.u(g->params.size());
      for (size_t k = 0; k < g->params.size(); ++k) {
        w.u(nodeRef(g->params[k]));
        w.byte((uint8_t)g->paramKinds[k]);
        w.u(nodeRef(g->defaults[k]));
      }
      w.u(nodeRef(g->output));
      w.u(g->nodes.size());
      for (const Node* n : g->nodes) w.u(nodeRef(n));
      w.u(g->freeVars.size());
      for (const Node* n : g->freeVars) w.u(nodeRef(n));
    }
    for (const Module* m : modules_) {
      w.u(m->statements.size());
      for (const Graph* g : m->statements) w.u(graphIndex(g));
      w.u(m->imports.size());
      for (const Module* i : m->imports) w.u(moduleIndex(i));
    }
    w.u(p_.modules.size());
    w.u(moduleIndex(p_.main));
    w.u(p_.builtins ? moduleIndex(p_.builtins) + 1 : 0);

    Writer payload;
    payload.u(files_.size());
    for (const SourceFile* f : files_) {
      payload.str(f->name);
      payload.str(f->text);
    }
    payload.out += w.out;
    std::string image(kMagic, 8);
    putLE(image, kImageVersion, 4);
    putLE(image, payload.out.size(), 8);
    putLE(image, crc32(payload.out), 4);
    image += payload.out;
    return image;
  }

 private:
  const ProgramImage& p_;
  std::vector<const Module*> modules_;
  std::unordered_map<const Module*, size_t> moduleIndex_;
  std::vector<std::vector<const Node*>> nodesOf_;  // per module, discovery order then id order
  std::unordered_map<const Node*, size_t> nodeModule_;
  std::vector<const Node*> nodes_;
  std::unordered_map<const Node*, size_t> nodeIndex_;
  std::vector<const Graph*> graphs_;
  std::unordered_map<const Graph*, size_t> graphIndex_;
  std::vector<const ClassInfo*> classes_;
  std::vector<size_t> classModule_;
  std::unordered_map<const ClassInfo*, size_t> classIndex_;
  std::vector<const SourceFile*> files_;
  std::unordered_map<const SourceFile*, size_t> fileIndex_;

  void addModule(const Module* m) {
    if (!m) throw InternalError("serialize: a null module");
    if (moduleIndex_.count(m)) return;
    moduleIndex_[m] = modules_.size();
    modules_.push_back(m);
    nodesOf_.emplace_back();
    for (auto& gp : m->graphs()) {
      graphIndex_[gp.get()] = graphs_.size();
      graphs_.push_back(gp.get());
    }
  }

  size_t moduleIndex(const Module* m) const {
    auto it = moduleIndex_.find(m);
    if (it == moduleIndex_.end()) throw InternalError("serialize: a module outside the program");
    return it->second;
  }
  size_t graphIndex(const Graph* g) const {
    auto it = graphIndex_.find(g);
    if (it == graphIndex_.end()) throw InternalError("serialize: graph " + g->name + " is not in its module");
    return it->second;
  }
  uint64_t nodeRef(const Node* n) const {
    if (!n) return 0;
    auto it = nodeIndex_.find(n);
    if (it == nodeIndex_.end()) throw InternalError("serialize: a node outside the program");
    return it->second + 1;
  }
  uint64_t fileRef(const SourceFile* f) {
    auto [it, fresh] = fileIndex_.emplace(f, files_.size());
    if (fresh) files_.push_back(f);
    return it->second + 1;
  }
  void loc(Writer& w, SourceLoc l) {
    w.u(l.file ? fileRef(l.file) : 0);
    w.u(l.line);
    w.u(l.col);
  }

  // Records n (owned by module `mi` when a constant) and what it refers to.
  void see(const Node* n, size_t mi) {
    if (!n || nodeModule_.count(n)) return;
    size_t owner = mi;
    if (!n->isConst()) {
      if (!n->graph || !n->graph->module) throw InternalError("serialize: a node without a graph");
      addModule(n->graph->module);
      owner = moduleIndex(n->graph->module);
    }
    nodeModule_[n] = owner;
    nodesOf_[owner].push_back(n);
    if (!n->isConst()) return;
    switch (n->ckind) {
      case ConstKind::Graph:
        if (!n->g || !n->g->module) throw InternalError("serialize: a graph constant without a graph");
        addModule(n->g->module);
        break;
      case ConstKind::Global:
        if (!n->global || !n->global->module) throw InternalError("serialize: a global constant without a variable");
        addModule(n->global->module);
        break;
      case ConstKind::Module:
        if (!n->module) throw InternalError("serialize: a module constant without a module");
        addModule(n->module);
        break;
      case ConstKind::Class:
        if (!n->cls) throw InternalError("serialize: a class constant without a class");
        if (!classIndex_.count(n->cls)) {
          classIndex_[n->cls] = classes_.size();
          classes_.push_back(n->cls);
          classModule_.push_back(owner);
        }
        break;
      default: break;
    }
  }

  void scanModule(const Module* m) {
    size_t mi = moduleIndex(m);
    for (const Module* i : m->imports) addModule(i);
    for (auto& gp : m->graphs()) {
      const Graph* g = gp.get();
      for (const Node* p : g->params) see(p, mi);
      for (const Node* d : g->defaults) see(d, mi);
      for (const Node* n : g->nodes) {
        see(n, mi);
        for (const Node* in : n->inputs) see(in, mi);
      }
      see(g->output, mi);
      for (const Node* fv : g->freeVars) see(fv, mi);
    }
  }

  void node(Writer& w, const Node* n, size_t mi) {
    w.u(mi);
    w.u(n->id);
    w.byte((uint8_t)n->kind);
    loc(w, n->loc);
    w.str(n->name);
    if (!n->isConst()) {
      w.u(graphIndex(n->graph));
      return;
    }
    w.byte((uint8_t)n->ckind);
    switch (n->ckind) {
      case ConstKind::None:
      case ConstKind::Ellipsis:
      case ConstKind::Token: break;
      case ConstKind::Bool: w.byte(n->b ? 1 : 0); break;
      case ConstKind::Int: w.i(n->i); break;
      case ConstKind::Float: w.f64(n->f); break;
      case ConstKind::Str:
      case ConstKind::Undef: w.str(n->s); break;
      case ConstKind::DType: w.str(dtypeName(n->dtype)); break;
      case ConstKind::Prim: {
        auto it = primsByName().find(primName(n->prim));
        if (it == primsByName().end() || it->second != n->prim)
          throw InternalError(std::string("serialize: primitive name '") + primName(n->prim) + "' is not unique");
        w.str(primName(n->prim));
        break;
      }
      case ConstKind::Graph: w.u(graphIndex(n->g)); break;
      case ConstKind::Global: {
        const Module* gm = n->global->module;
        auto it = std::find(gm->globals.begin(), gm->globals.end(), n->global);
        if (it == gm->globals.end()) throw InternalError("serialize: variable " + n->global->name + " is not in its module");
        w.u(moduleIndex(gm));
        w.u(size_t(it - gm->globals.begin()));
        break;
      }
      case ConstKind::Class: w.u(classIndex_.at(n->cls)); break;
      case ConstKind::Module: w.u(moduleIndex(n->module)); break;
    }
  }
};

// ---------------------------------------------------------------- reading

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  [[noreturn]] static void fail(const std::string& check) { throw ImageError(check); }

  size_t left() const { return s_.size() - pos_; }
  bool atEnd() const { return pos_ == s_.size(); }

  uint64_t u(const char* what) {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (pos_ >= s_.size()) fail(std::string("truncated in ") + what);
      uint8_t b = (uint8_t)s_[pos_++];
      if (shift == 63 && (b & 0x7E)) fail(std::string("a number overflows in ") + what);
      v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
      if (shift == 63) fail(std::string("a number overflows in ") + what);
    }
  }
  uint32_t u32(const char* what) {
    uint64_t v = u(what);
    if (v > UINT32_MAX) fail(std::string("a number out of range in ") + what);
    return uint32_t(v);
  }
  int64_t i(const char* what) {
    uint64_t z = u(what);
    return int64_t(z >> 1) ^ -int64_t(z & 1);
  }
  uint8_t byte(const char* what) {
    if (pos_ >= s_.size()) fail(std::string("truncated in ") + what);
    return (uint8_t)s_[pos_++];
  }
  double f64(const char* what) {
    if (left() < 8) fail(std::string("truncated in ") + what);
    uint64_t bits = getLE(s_, pos_, 8);
    pos_ += 8;
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  std::string str(const char* what) {
    uint64_t n = u(what);
    if (n > left()) fail(std::string("a string runs past the end in ") + what);
    std::string out(s_.substr(pos_, n));
    pos_ += n;
    return out;
  }
  // A count of items taking at least `minBytes` each: no more than the bytes left allow.
  size_t count(const char* what, size_t minBytes) {
    uint64_t n = u(what);
    if (minBytes && n > left() / minBytes) fail(std::string("the count of ") + what + " exceeds the image");
    return size_t(n);
  }
  // An index into a table of `size` entries.
  size_t index(const char* what, size_t size) {
    uint64_t v = u(what);
    if (v >= size) fail(std::string("an index out of range in ") + what);
    return size_t(v);
  }
  // A reference to a table of `size` entries: 0 is none (SIZE_MAX), k the entry k-1.
  size_t ref(const char* what, size_t size) {
    uint64_t v = u(what);
    if (v == 0) return SIZE_MAX;
    if (v > size) fail(std::string("a reference out of range in ") + what);
    return size_t(v - 1);
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

class Deserializer {
 public:
  Deserializer(std::string_view payload, ProgramImage& img) : r_(payload), img_(img) {}

  void run() {
    size_t nf = r_.count("files", 2);
    for (size_t k = 0; k < nf; ++k) {
      std::string name = r_.str("a file name");
      std::string text = r_.str("a file's text");
      if (text.size() > UINT32_MAX) Reader::fail("a file's text is too long");
      files_.push_back(SourceManager::get().add(std::move(name), std::move(text)));
    }
    size_t nm = r_.count("modules", 3);
    if (nm == 0) Reader::fail("an image has no module");
    for (size_t k = 0; k < nm; ++k) {
      std::string name = r_.str("a module name");
      size_t f = r_.ref("a module's file", files_.size());
      img_.owned.push_back(std::make_unique<Module>(name, f == SIZE_MAX ? nullptr : files_[f]));
      Module* m = img_.owned.back().get();
      modules_.push_back(m);
      size_t ng = r_.count("module-level variables", 4);
      for (size_t g = 0; g < ng; ++g) {
        std::string gname = r_.str("a variable name");
        if (m->findGlobal(gname)) Reader::fail("module " + m->name + " lists variable " + gname + " twice");
        GlobalVar* v = m->global(gname);
        v->firstDef = loc("a variable's location");
      }
    }
    size_t nc = r_.count("classes", 6);
    for (size_t k = 0; k < nc; ++k) {
      Module* m = modules_[r_.index("a class's module", nm)];
      ClassInfo* c = m->newClass();
      c->name = r_.str("a class name");
      c->loc = loc("a class's location");
      size_t nfields = r_.count("class fields", 2);
      for (size_t f = 0; f < nfields; ++f) {
        c->fields.push_back(r_.str("a field name"));
        uint8_t d = r_.byte("a field's default flag");
        if (d > 1) Reader::fail("a field's default flag is not 0 or 1");
        c->hasDefault.push_back(d == 1);
      }
      size_t nmeth = r_.count("class methods", 1);
      for (size_t f = 0; f < nmeth; ++f) c->methods.push_back(r_.str("a method name"));
      classes_.push_back(c);
    }
    size_t ngraphs = r_.count("graphs", 8);
    for (size_t k = 0; k < ngraphs; ++k) {
      size_t mi = r_.index("a graph's module", nm);
      std::string name = r_.str("a graph name");
      std::string qual = r_.str("a graph's qualified name");
      SourceLoc l = loc("a graph's location");
      size_t parent = r_.ref("a graph's parent", k);  // only earlier graphs
      Graph* pg = parent == SIZE_MAX ? nullptr : graphs_[parent];
      if (pg && pg->module != modules_[mi]) Reader::fail("graph " + name + " has a parent in another module");
      Graph* g = modules_[mi]->newGraph(name, pg, l);
      g->qualname = std::move(qual);
      uint8_t flags = r_.byte("a graph's flags");
      if (flags > 3) Reader::fail("a graph's flags are unknown");
      g->isFunction = flags & 1;
      g->isMethod = flags & 2;
      graphs_.push_back(g);
    }
    size_t nn = r_.count("nodes", 7);
    std::vector<uint64_t> nextId(nm, 1);  // the id each module gives its next node
    size_t fillers = 0;
    for (size_t k = 0; k < nn; ++k) {
      size_t mi = r_.index("a node's module", nm);
      Module* m = modules_[mi];
      uint64_t id = r_.u("a node id");
      if (id < nextId[mi]) Reader::fail("node ids of module " + m->name + " are not increasing");
      if (id > UINT32_MAX) Reader::fail("a node id is out of range");
      // Ids no node of the image has: unused nodes of the original module.
      fillers += id - nextId[mi];
      if (fillers > 4 * nn + 4096) Reader::fail("node ids leave too many gaps");
      for (; nextId[mi] < id; ++nextId[mi]) m->constNone();
      ++nextId[mi];
      uint8_t kind = r_.byte("a node kind");
      if (kind > (uint8_t)NodeKind::Constant) Reader::fail("a node kind is unknown");
      SourceLoc l = loc("a node's location");
      std::string name = r_.str("a node name");
      Node* n;
      if (kind != (uint8_t)NodeKind::Constant) {
        Graph* g = graphs_[r_.index("a node's graph", graphs_.size())];
        if (g->module != m) Reader::fail("node %" + std::to_string(id) + " belongs to a graph of another module");
        n = kind == (uint8_t)NodeKind::Apply ? m->newApply(g, {}, l) : m->newParam(g, name, l);
      } else {
        n = constant(m, l);
      }
      n->name = std::move(name);
      if (n->id != id) Reader::fail("a node id could not be reproduced");
      nodes_.push_back(n);
    }
    // The API calls above appended to the graphs' lists: the links below set them.
    for (Graph* g : graphs_) {
      g->params.clear();
      g->paramKinds.clear();
      g->defaults.clear();
      g->nodes.clear();
    }
    for (Node* n : nodes_) {
      if (!n->isApply()) continue;
      size_t ni = r_.count("node inputs", 1);
      if (ni == 0) Reader::fail("node %" + std::to_string(n->id) + " has no callee");
      for (size_t k = 0; k < ni; ++k) n->inputs.push_back(node("a node input", false));
      size_t nk = r_.count("keyword names", 1);
      if (nk > ni - 1) Reader::fail("node %" + std::to_string(n->id) + " has more keyword names than arguments");
      for (size_t k = 0; k < nk; ++k) n->kwnames.push_back(r_.str("a keyword name"));
    }
    for (Graph* g : graphs_) {
      size_t np = r_.count("parameters", 3);
      for (size_t k = 0; k < np; ++k) {
        Node* p = node("a parameter", false);
        if (!p->isParam() || p->graph != g) Reader::fail("graph " + g->name + " lists a parameter of another graph");
        if (std::find(g->params.begin(), g->params.end(), p) != g->params.end())
          Reader::fail("graph " + g->name + " lists a parameter twice");
        uint8_t pk = r_.byte("a parameter kind");
        if (pk > (uint8_t)ParamKind::VarKw) Reader::fail("a parameter kind is unknown");
        g->params.push_back(p);
        g->paramKinds.push_back(ParamKind(pk));
        g->defaults.push_back(node("a parameter default", true));
      }
      g->output = node("a graph output", true);
      size_t nodes = r_.count("graph nodes", 1);
      for (size_t k = 0; k < nodes; ++k) g->nodes.push_back(node("a graph node", false));
      size_t nfv = r_.count("free variables", 1);
      for (size_t k = 0; k < nfv; ++k) g->freeVars.push_back(node("a free variable", false));
    }
    for (Module* m : modules_) {
      size_t ns = r_.count("statements", 1);
      for (size_t k = 0; k < ns; ++k) {
        Graph* g = graphs_[r_.index("a statement", graphs_.size())];
        if (g->module != m || g->parent || !g->params.empty()) Reader::fail("module " + m->name + " has a statement that is not one of its top-level graphs");
        m->statements.push_back(g);
      }
      size_t ni = r_.count("imports", 1);
      for (size_t k = 0; k < ni; ++k) m->imports.push_back(modules_[r_.index("an import", nm)]);
    }
    size_t listed = r_.u("the number of program modules");
    if (listed == 0 || listed > nm) Reader::fail("the number of program modules is out of range");
    img_.modules.assign(modules_.begin(), modules_.begin() + listed);
    img_.main = modules_[r_.index("the main module", listed)];
    size_t b = r_.ref("the builtins module", nm);
    img_.builtins = b == SIZE_MAX ? nullptr : modules_[b];
    if (!r_.atEnd()) Reader::fail("bytes follow the program");
    for (Module* m : modules_) {
      std::vector<std::string> bad = verifyModule(*m);
      if (!bad.empty()) Reader::fail("module " + m->name + ": " + bad.front());
    }
  }

 private:
  Reader r_;
  ProgramImage& img_;
  std::vector<const SourceFile*> files_;
  std::vector<Module*> modules_;
  std::vector<ClassInfo*> classes_;
  std::vector<Graph*> graphs_;
  std::vector<Node*> nodes_;

  SourceLoc loc(const char* what) {
    size_t f = r_.ref(what, files_.size());
    uint32_t line = r_.u32(what), col = r_.u32(what);
    if (f == SIZE_MAX) return SourceLoc{nullptr, line, col};
    const SourceFile* file = files_[f];
    // Bounded so that rendering a caret stays proportionate to the file.
    if (line > file->lineStarts.size() + 1 || col > file->text.size() + 2)
      Reader::fail(std::string("a location outside its file in ") + what);
    return SourceLoc{file, line, col};
  }

  Node* node(const char* what, bool optional) {
    size_t k = r_.ref(what, nodes_.size());
    if (k == SIZE_MAX) {
      if (!optional) Reader::fail(std::string("a missing node in ") + what);
      return nullptr;
    }
    return nodes_[k];
  }

  Node* constant(Module* m, SourceLoc l) {
    uint8_t ck = r_.byte("a constant kind");
    if (ck > (uint8_t)ConstKind::Token) Reader::fail("a constant kind is unknown");
    Node* n = m->newConst(ConstKind(ck), l);
    switch (n->ckind) {
      case ConstKind::None:
      case ConstKind::Ellipsis:
      case ConstKind::Token: break;
      case ConstKind::Bool: {
        uint8_t b = r_.byte("a bool constant");
        if (b > 1) Reader::fail("a bool constant is not 0 or 1");
        n->b = b == 1;
        break;
      }
      case ConstKind::Int: n->i = r_.i("an int constant"); break;
      case ConstKind::Float: n->f = r_.f64("a float constant"); break;
      case ConstKind::Str:
      case ConstKind::Undef: n->s = r_.str("a string constant"); break;
      case ConstKind::DType: {
        std::string name = r_.str("a dtype constant");
        if (!dtypeFromName(name, &n->dtype) || dtypeName(n->dtype) != name) Reader::fail("unknown dtype '" + name + "'");
        break;
      }
      case ConstKind::Prim: {
        std::string name = r_.str("a primitive constant");
        auto it = primsByName().find(name);
        if (it == primsByName().end()) Reader::fail("unknown primitive '" + name + "'");
        n->prim = it->second;
        break;
      }
      case ConstKind::Graph: n->g = graphs_[r_.index("a graph constant", graphs_.size())]; break;
      case ConstKind::Global: {
        Module* gm = modules_[r_.index("a variable's module", modules_.size())];
        n->global = gm->globals[r_.index("a variable", gm->globals.size())];
        break;
      }
      case ConstKind::Class: n->cls = classes_[r_.index("a class constant", classes_.size())]; break;
      case ConstKind::Module: n->module = modules_[r_.index("a module constant", modules_.size())]; break;
    }
    return n;
  }
};

}  // namespace

std::string serialize(const ProgramImage& p) { return Serializer(p).run(); }

ProgramImage deserialize(std::string_view bytes) {
  if (bytes.size() < kImageHeaderSize) throw ImageError("shorter than its header (" + std::to_string(bytes.size()) + " bytes)");
  if (std::memcmp(bytes.data(), kMagic, 8) != 0) throw ImageError("bad magic (not an msl program image)");
  uint32_t version = uint32_t(getLE(bytes, 8, 4));
  if (version != kImageVersion)
    throw ImageError("format version " + std::to_string(version) + ", this msl reads version " + std::to_string(kImageVersion));
  uint64_t length = getLE(bytes, 12, 8);
  if (length != bytes.size() - kImageHeaderSize)
    throw ImageError("the payload has " + std::to_string(bytes.size() - kImageHeaderSize) + " bytes, the header says " +
                     std::to_string(length));
  std::string_view payload = bytes.substr(kImageHeaderSize);
  if (crc32(payload) != uint32_t(getLE(bytes, 20, 4))) throw ImageError("checksum mismatch");
  ProgramImage img;
  size_t fileMark = SourceManager::get().count();
  int globalMark = peekGlobalId();
  try {
    Deserializer(payload, img).run();
  } catch (...) {
    // Nothing refers to what the failed image made: drop it all.
    img = ProgramImage();
    SourceManager::get().truncate(fileMark);
    resetGlobalIds(globalMark);
    throw;
  }
  return img;
}

std::string resealImage(std::string image) {
  if (image.size() < kImageHeaderSize) return image;
  std::string_view payload = std::string_view(image).substr(kImageHeaderSize);
  uint64_t length = payload.size();
  uint32_t crc = crc32(payload);
  for (int k = 0; k < 8; ++k) image[12 + k] = char((length >> (8 * k)) & 0xFF);
  for (int k = 0; k < 4; ++k) image[20 + k] = char((crc >> (8 * k)) & 0xFF);
  return image;
}

}  // namespace msl::ir
