// The interactive session (see Repl.h).
//
// Input: with a terminal, libedit's readline-compatible API reads the lines; its getc hook
// (editorGetc) waits for input in short slices so that a Ctrl-C, noticed by our SIGINT
// handler, ends the line being typed. Without a terminal, lines are read from fd 0 the
// same way. Evaluation: a SIGINT during an evaluation sets Interpreter::interruptRequested,
// and the interpreter unwinds with Interrupted at its next kernel call or loop back-edge.
#include "tools/msl/Repl.h"

#include <editline/readline.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cctype>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <set>
#include <string_view>

#include "autodiff/J.h"
#include "frontend/LowerToIR.h"
#include "frontend/Parser.h"
#include "ir/Abstract.h"
#include "ir/Diagnostics.h"
#include "ir/Printer.h"
#include "runtime/AbstractOf.h"
#include "runtime/Host.h"
#include "runtime/Interpreter.h"
#include "runtime/Print.h"

namespace msl {

namespace {

constexpr int kHistoryMax = 1000;  // entries kept in ~/.msl_history

const char* kReplHelp =
    "Type msl statements; the value of an expression is echoed (unless it is None).\n"
    "A block (def, class, if, while, for) ends with an empty line.\n"
    "\n"
    "commands:\n"
    "  :type EXPR     evaluate EXPR and show its type (the abstract value the compiler sees)\n"
    "  :ir NAME       show the IR of the function bound to NAME (and the graphs it uses)\n"
    "  :grad NAME     show the cleaned gradient graph of the function bound to NAME: J of\n"
    "                 its graph as lowered (no argument types known, so not specialised),\n"
    "                 returning (out, bprop); --emit=grad shows those J builds at run time\n"
    "  :time EXPR     evaluate EXPR, show its value and the wall time it took\n"
    "  :load FILE     run the statements of FILE in this session\n"
    "  :help          this text\n"
    "  :quit          leave (also Ctrl-D at the prompt, or exit(n))\n"
    "\n"
    "keys: Tab completes names, attributes (x.<Tab>) and module members; Ctrl-C clears the\n"
    "line or interrupts a running evaluation; Ctrl-R searches the history (~/.msl_history).\n";

const char* const kCommands[] = {"type", "ir", "grad", "time", "load", "help", "quit"};

const char* const kKeywords[] = {"and",  "as",     "assert", "break",  "class", "continue", "def",
                                 "elif", "else",   "False",  "for",    "from",  "if",       "import",
                                 "in",   "is",     "lambda", "None",   "not",   "or",       "pass",
                                 "raise", "return", "True",  "while"};

// ------------------------------------------------------------------ signals and input

volatile sig_atomic_t gSigint = 0;           // a Ctrl-C since the last reset
std::atomic<bool> gEvaluating{false};        // an evaluation is running: interrupt it
static_assert(std::atomic<bool>::is_always_lock_free, "used from a signal handler");

void onSigint(int) {
  gSigint = 1;
  if (gEvaluating.load(std::memory_order_relaxed)) Interpreter::interruptRequested = true;
}

// exit(n) in the session unwinds to the loop (history is saved) instead of _exit.
struct ExitRequest { int code; };
void throwExit(int code) { throw ExitRequest{code}; }

// One byte of stdin; -1 at end of input (or a read error), -2 after a Ctrl-C. Waits in
// slices of 100 ms so that the SIGINT handler's flag is seen whichever thread took the
// signal.
int readByte() {
  for (;;) {
    if (gSigint) return -2;
    pollfd p{STDIN_FILENO, POLLIN, 0};
    int r = poll(&p, 1, 100);
    if (r < 0 && errno != EINTR) return -1;
    if (r <= 0) continue;
    unsigned char c;
    ssize_t n = read(STDIN_FILENO, &c, 1);
    if (n == 1) return c;
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    return -1;
  }
}

// libedit's getc hook: one character (a code point: the bytes of a UTF-8 sequence are
// decoded here), or -1, which libedit takes as end of input (the caller tells a Ctrl-C
// from a Ctrl-D by gSigint).
int editorGetc(FILE*) {
  int b = readByte();
  if (b == 0x03) gSigint = 1;  // Ctrl-C as a character (a terminal without ISIG)
  if (b < 0 || b == 0x03) return -1;
  int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 1;
  if (len == 1) return b;
  int cp = b & (0x3f >> (len - 1));
  for (int k = 1; k < len; ++k) {
    int c = readByte();
    if (c < 0) return -1;
    if ((c & 0xc0) != 0x80) return 0xfffd;
    cp = (cp << 6) | (c & 0x3f);
  }
  return cp;
}

// ------------------------------------------------------------------ small helpers

bool isIdentStart(char c) { return std::isalpha((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80; }
bool isIdentChar(char c) { return isIdentStart(c) || std::isdigit((unsigned char)c); }

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool startsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// "a.b.c" with identifiers only.
bool isDottedName(const std::string& s) {
  if (s.empty()) return false;
  bool atStart = true;
  for (char c : s) {
    if (c == '.') {
      if (atStart) return false;
      atStart = true;
    } else if (atStart ? isIdentStart(c) : isIdentChar(c)) {
      atStart = false;
    } else {
      return false;
    }
  }
  return !atStart;
}

std::vector<std::string> splitDots(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot; (dot = s.find('.', start)) != std::string::npos; start = dot + 1) parts.push_back(s.substr(start, dot - start));
  parts.push_back(s.substr(start));
  return parts;
}

bool isCallable(const Value& v) {
  switch (v.kind()) {
    case VKind::Closure: case VKind::Prim: case VKind::Class: case VKind::BoundMethod: case VKind::Partial:
      return true;
    default:
      return false;
  }
}

std::string formatDuration(double seconds) {
  char buf[64];
  if (seconds < 1e-3) std::snprintf(buf, sizeof buf, "%.1f us", seconds * 1e6);
  else if (seconds < 1.0) std::snprintf(buf, sizeof buf, "%.2f ms", seconds * 1e3);
  else std::snprintf(buf, sizeof buf, "%.3f s", seconds);
  return buf;
}

// The parser takes a leading string statement as the module's docstring; at the prompt it
// is an expression to echo, so put it back.
void restoreDocstring(ast::Module& m) {
  // Where the input's first statement starts, past blank and comment lines.
  const std::string& text = m.file->text;
  size_t i = 0;
  uint32_t line = 1, col = 1;
  while (i < text.size()) {
    char c = text[i];
    if (c == '\n') {
      ++line, col = 1, ++i;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
      ++col, ++i;
    } else if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
    } else {
      break;
    }
  }
  bool taken = !m.docstring.empty();
  // An empty literal leaves no docstring text: it was taken when the input starts with a
  // quote where no remaining statement starts.
  if (!taken && i < text.size() && (text[i] == '"' || text[i] == '\''))
    taken = m.body.empty() || m.body[0]->loc().line != line || m.body[0]->loc().col != col;
  if (!taken) return;
  auto str = std::make_unique<ast::Str>();
  str->value = std::move(m.docstring);
  m.docstring.clear();
  SourceLoc at{m.file, line, col};
  str->range = {at, at};
  auto stmt = std::make_unique<ast::ExprStmt>();
  stmt->range = str->range;
  stmt->value = std::move(str);
  m.body.insert(m.body.begin(), std::move(stmt));
}

// The identifier at `loc` (where an unknown-name diagnostic points).
bool nameAt(SourceLoc loc, std::string* name) {
  if (!loc.valid()) return false;
  std::string_view line = loc.file->line(loc.line);
  size_t i = 0;
  for (uint32_t col = 1; col < loc.col && i < line.size(); ++col) {  // columns count code points
    ++i;
    while (i < line.size() && ((unsigned char)line[i] & 0xc0) == 0x80) ++i;
  }
  size_t j = i;
  while (j < line.size() && isIdentChar(line[j])) ++j;
  if (j == i || !isIdentStart(line[i])) return false;
  *name = std::string(line.substr(i, j - i));
  return true;
}

// An input parsed for the session.
std::unique_ptr<ast::Module> parseInput(const SourceFile* file) {
  std::unique_ptr<ast::Module> m = parseModule(file);
  restoreDocstring(*m);
  return m;
}

// ------------------------------------------------------------------ the session

class Session;
Session* gSession = nullptr;  // for libedit's completion callback
std::vector<std::string> gMatches;

class Session {
 public:
  Session(Program& prog, bool editor)
      : prog_(prog), module_("__main__", addSourceText("<repl>", "")), editor_(editor) {
    interp_.setArgv({""});
    interp_.global(builtinsModule().findGlobal("argv")->id) = makeList({makeStr("")});
  }

  int run();
  std::vector<std::string> completions(const std::string& text, const std::string& before);
  void setDebugNans(bool on) { interp_.setDebugNans(on); }
  void setGraphMode(bool on) { interp_.setGraphMode(on); }

 private:
  enum class Read { Line, Eof, Interrupted };
  Read readLine(const char* prompt, std::string* line);
  void initEditor();
  void saveHistory();
  void remember(const std::string& line);

  // Runs `f`, reporting a diagnostic, an interrupt or an internal error; the session goes
  // on. exit(n) (ExitRequest) passes through.
  template <class F> bool guarded(F&& f);
  // Parses an input and appends its statements to the session's module; returns the index
  // of the first. An input that fails to parse or lower leaves nothing behind to run.
  size_t append(const SourceFile* file);
  // Runs the statements from `first` on, echoing the values of expression statements
  // (None excepted) when `echo`; returns the value of the last one.
  Value runFrom(size_t first, bool echo);
  // Parses, lowers and runs one input.
  void execute(const SourceFile* file, bool echo);
  // Evaluates the expression `text` (for :type, :time, :ir).
  Value evalExpr(const std::string& text, const std::string& cmd);
  void command(const std::string& line);
  // :ir NAME, or with `grad` :grad NAME (J of the function's lowered graph, cleaned).
  void showIr(const std::string& what, bool grad = false);

  // Completion: the value a dotted name denotes in the session (no code runs).
  bool resolvePath(const std::string& path, Value* out);
  std::vector<std::pair<std::string, bool>> attributesOf(const Value& v);  // (name, callable)
  Value globalValue(const ir::Module* m, const std::string& name);

  struct Rebinding;
  Program& prog_;
  ir::Module module_;    // the session's live module: outlives the interpreter's caches
  Interpreter interp_;
  bool editor_;
  std::string historyPath_;
  std::string lastHistory_;
};

// While alive: an evaluation is running (Ctrl-C interrupts it, not the next line).
struct EvalScope {
  EvalScope() {
    Interpreter::interruptRequested = false;
    gSigint = 0;
    gEvaluating = true;
  }
  ~EvalScope() {
    gEvaluating = false;
    Interpreter::interruptRequested = false;
  }
};

template <class F> bool Session::guarded(F&& f) {
  try {
    f();
    return true;
  } catch (Error& e) {
    outFlush();
    errWrite(renderDiagnostic(e.diag));
  } catch (Interrupted& e) {  // Ctrl-C while running: where it stopped, as `msl run` shows it
    outFlush();
    errWrite("\n" + renderDiagnostic(e.diag));
  } catch (InternalError& e) {
    outFlush();
    errWrite("internal error: " + e.msg + "\n");
  } catch (std::bad_alloc&) {
    outFlush();
    errWrite("error: out of memory\n");
  }
  return false;
}

size_t Session::append(const SourceFile* file) {
  for (int attempt = 0;; ++attempt) {
    size_t first = module_.statements.size();
    try {
      prog_.extend(module_, parseInput(file));
      return first;
    } catch (Error& e) {
      module_.statements.resize(first);  // nothing of an input that failed to lower runs
      // A name no statement has assigned yet (a function may use a global defined by a
      // later input): make it a module-level name, looked up when used, and lower again;
      // using it before it has a value is then the run-time error Python's prompt gives.
      std::string name;
      if (e.diag.id != DiagId::UnknownName || attempt >= 1000 || !nameAt(e.diag.loc, &name) ||
          module_.findGlobal(name))
        throw;
      module_.global(name);
    } catch (...) {
      module_.statements.resize(first);
      throw;
    }
  }
}

// Specialisations read the abstracts of module-level values when they are made
// (ir/Specialize.h): once an input has rebound a name to a value of another abstract,
// they are forgotten. Runs when the input ends, also when it fails part-way.
struct Session::Rebinding {
  Session& s;
  std::vector<std::pair<int, Value>> before;  // every slot of the session's module
  explicit Rebinding(Session& s) : s(s) {
    for (const ir::GlobalVar* gv : s.module_.globals) before.push_back({gv->id, s.interp_.global(gv->id)});
  }
  ~Rebinding() {
    try {
      for (auto& [id, old] : before) {
        const Value& now = s.interp_.global(id);
        bool same = old.kind() == now.kind() && (isInline(old.kind()) ? old.asInt() == now.asInt() : old.obj() == now.obj());
        if (!same && abstractOf(old) != abstractOf(now)) {
          s.interp_.specializer().clear();
          return;
        }
      }
    } catch (...) {
      s.interp_.specializer().clear();
    }
  }
};

Value Session::runFrom(size_t first, bool echo) {
  Rebinding rebinding(*this);
  EvalScope scope;
  Value last;
  for (size_t i = first; i < module_.statements.size(); ++i) {
    last = interp_.runStatement(module_.statements[i]);
    if (echo && !last.isNone()) outWrite(reprOf(last) + "\n");
  }
  return last;
}

void Session::execute(const SourceFile* file, bool echo) { runFrom(append(file), echo); }

Value Session::evalExpr(const std::string& text, const std::string& cmd) {
  const SourceFile* file = addSourceText("<repl>", text + "\n");
  std::unique_ptr<ast::Module> ast = parseInput(file);
  if (ast->body.size() != 1 || ast->body[0]->kind != ast::StmtKind::ExprStmt)
    raise(DiagId::TypeError, ast->body.empty() ? SourceLoc{file, 1, 1} : ast->body[0]->loc(),
          {":" + cmd + " needs an expression"});
  return runFrom(append(file), false);
}

void Session::command(const std::string& line) {
  size_t sp = line.find_first_of(" \t");
  std::string name = line.substr(1, sp == std::string::npos ? std::string::npos : sp - 1);
  std::string arg = sp == std::string::npos ? "" : trim(line.substr(sp));
  auto needArg = [&](const char* what) {
    if (!arg.empty()) return true;
    errWrite("error: :" + name + " needs " + what + " (:help lists the commands)\n");
    return false;
  };
  if (name == "help" || name == "h" || name == "?") {
    outWrite(kReplHelp);
  } else if (name == "quit" || name == "q" || name == "exit") {
    throw ExitRequest{0};
  } else if (name == "type" || name == "t") {
    if (!needArg("an expression")) return;
    guarded([&] {
      Value v = evalExpr(arg, "type");
      outWrite(ir::toString(abstractOf(v)) + "\n");
    });
  } else if (name == "time") {
    if (!needArg("an expression")) return;
    guarded([&] {
      auto t0 = std::chrono::steady_clock::now();
      Value v = evalExpr(arg, "time");
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!v.isNone()) outWrite(reprOf(v) + "\n");
      outWrite("wall time: " + formatDuration(s) + "\n");
    });
  } else if (name == "ir") {
    if (!needArg("a function name")) return;
    guarded([&] { showIr(arg); });
  } else if (name == "load") {
    if (!needArg("a file name")) return;
    if (arg.size() >= 2 && (arg[0] == '"' || arg[0] == '\'') && arg.back() == arg[0]) arg = arg.substr(1, arg.size() - 2);
    guarded([&] { execute(loadSourceFile(arg), false); });
  } else if (name == "grad") {
    if (!needArg("a function name")) return;
    guarded([&] { showIr(arg, true); });
  } else {
    errWrite("error: unknown command '" + line.substr(0, sp) + "' (:help lists the commands)\n");
  }
}

void Session::showIr(const std::string& what, bool grad) {
  Value v;
  if (!isDottedName(what) || !resolvePath(what, &v)) {
    if (isDottedName(what) && what.find('.') == std::string::npos) {
      Prim p;
      if (builtinPrim(what, &p)) {
        outWrite(what + " is the built-in primitive '" + primName(p) + "' (it has no IR graph)\n");
        return;
      }
    }
    v = evalExpr(what, "ir");  // an expression, or an unknown name reported as usual
  }
  // The function behind the value: closures, methods, partials, and a class's methods.
  while (v.is(VKind::BoundMethod) || v.is(VKind::Partial))
    v = v.is(VKind::BoundMethod) ? v.as<BoundMethodObj>()->func : v.as<PartialObj>()->func;
  if (v.is(VKind::Closure) && grad) {
    const ir::Graph* g = v.as<ClosureObj>()->graph;
    ir::Graph* jg = autodiff::jGraph(const_cast<ir::Graph*>(g));
    ir::PrintOptions po;
    po.types = false;
    outWrite("# J(" + g->qualname + "): returns (out, bprop); bprop(ct) returns (ct of captured values, ct per parameter)\n" +
             ir::printGraphTree(jg, po));
  } else if (grad && !v.is(VKind::Prim)) {
    errWrite("error: " + what + " is a value of type " + v.typeName() + ", not a function with a graph\n");
  } else if (v.is(VKind::Closure)) {
    outWrite(ir::printGraphTree(v.as<ClosureObj>()->graph));
  } else if (v.is(VKind::Class)) {
    auto* c = v.as<ClassObj>();
    if (c->methods.empty()) outWrite("class " + c->name + " has no methods\n");
    for (auto& [mname, fn] : c->methods)
      if (fn.is(VKind::Closure)) outWrite(ir::printGraphTree(fn.as<ClosureObj>()->graph));
  } else if (v.is(VKind::Prim)) {
    outWrite(what + " is the built-in primitive '" + primName((Prim)v.primId()) + "' (it has no IR graph)\n");
  } else {
    errWrite("error: " + what + " is a value of type " + v.typeName() + ", not a function\n");
  }
}

// ------------------------------------------------------------------ completion

Value Session::globalValue(const ir::Module* m, const std::string& name) {
  const ir::GlobalVar* gv = m->findGlobal(name);
  return gv ? interp_.global(gv->id) : Value::undef();
}

bool Session::resolvePath(const std::string& path, Value* out) {
  std::vector<std::string> parts = splitDots(path);
  Value v = globalValue(&module_, parts[0]);
  for (size_t i = 1; i < parts.size() && !v.is(VKind::Undef); ++i) {
    if (v.is(VKind::Record)) {
      auto* r = v.as<RecordObj>();
      int f = r->classObj()->fieldIndex(parts[i]);
      v = f >= 0 ? r->fields[f] : Value::undef();
    } else if (v.is(VKind::Module)) {
      v = globalValue(static_cast<const ir::Module*>(v.as<ModuleObj>()->irModule), parts[i]);
    } else {
      v = Value::undef();
    }
  }
  if (v.is(VKind::Undef)) return false;
  *out = v;
  return true;
}

std::vector<std::pair<std::string, bool>> Session::attributesOf(const Value& v) {
  std::vector<std::pair<std::string, bool>> out;
  if (v.is(VKind::Record)) {
    auto* r = v.as<RecordObj>();
    ClassObj* c = r->classObj();
    for (size_t i = 0; i < c->fields.size() && i < r->fields.size(); ++i) out.push_back({c->fields[i], isCallable(r->fields[i])});
    for (auto& [name, fn] : c->methods) out.push_back({name, true});
  } else if (v.is(VKind::Class)) {
    for (auto& [name, fn] : v.as<ClassObj>()->methods) out.push_back({name, true});
  } else if (v.is(VKind::Module)) {
    auto* m = static_cast<const ir::Module*>(v.as<ModuleObj>()->irModule);
    for (const ir::GlobalVar* gv : m->globals) {
      const Value& mv = interp_.global(gv->id);
      if (!mv.is(VKind::Undef)) out.push_back({gv->name, isCallable(mv)});
    }
  } else {
    for (const MethodEntry& e : methodTable())
      if (e.recv == v.kind()) out.push_back({e.name, !e.property});
  }
  return out;
}

std::vector<std::string> Session::completions(const std::string& text, const std::string& before) {
  std::vector<std::string> out;
  std::string lead = trim(before);
  if (text.empty() && lead.empty()) return {"    "};  // Tab at the start of a line indents
  if (!lead.empty() && lead[0] == ':') {
    if (lead == ":" && before.back() == ':') {
      for (const char* c : kCommands)
        if (startsWith(c, text)) out.push_back(std::string(c) + " ");
      return out;
    }
    if (startsWith(lead, ":load")) return {};  // file names: libedit's own completion
  }
  auto hidden = [&](const std::string& name, const std::string& prefix) {
    return !name.empty() && name[0] == '_' && (prefix.empty() || prefix[0] != '_');
  };
  size_t dot = text.rfind('.');
  if (dot != std::string::npos) {
    std::string base = text.substr(0, dot), prefix = text.substr(dot + 1);
    Value v;
    if (!isDottedName(base) || !resolvePath(base, &v)) return {};
    for (auto& [name, callable] : attributesOf(v))
      if (startsWith(name, prefix) && !hidden(name, prefix)) out.push_back(base + "." + name + (callable ? "(" : ""));
  } else {
    if (!text.empty() && !isIdentStart(text[0])) return {};
    for (const ir::GlobalVar* gv : module_.globals) {
      const Value& v = interp_.global(gv->id);
      if (!v.is(VKind::Undef) && startsWith(gv->name, text) && !hidden(gv->name, text))
        out.push_back(gv->name + (isCallable(v) ? "(" : ""));
    }
    for (int i = 0; i < kNumPrims; ++i) {
      const PrimInfo& pi = primInfo((Prim)i);
      Prim p;
      if (pi.group == PrimGroup::Builtin && startsWith(pi.name, text) && builtinPrim(pi.name, &p))
        out.push_back(std::string(pi.name) + "(");
    }
    for (int d = 0; d < kNumDTypes; ++d)
      if (startsWith(dtypeName((DType)d), text)) out.push_back(dtypeName((DType)d));
    for (const char* n : {"argv", "stdout", "stderr", "Tensor"})
      if (startsWith(n, text)) out.push_back(n);
    static const std::set<std::string> bare = {"True", "False", "None", "break", "continue", "pass", "else"};
    for (const char* k : kKeywords)
      if (startsWith(k, text)) out.push_back(std::string(k) + (bare.count(k) ? "" : " "));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  // A name that is both a global and a built-in shows once (the global's form comes first).
  return out;
}

char* nextMatch(const char*, int state) {
  static size_t index = 0;
  if (state == 0) index = 0;
  return index < gMatches.size() ? strdup(gMatches[index++].c_str()) : nullptr;
}

char** completeHook(const char* text, int start, int) {
  rl_completion_append_character = '\0';  // matches carry their own suffix: "(", " ", "."
  // `start` counts characters; the line buffer holds UTF-8.
  const char* p = rl_line_buffer;
  for (int k = 0; k < start && *p; ++k) {
    ++p;
    while ((*p & 0xc0) == 0x80) ++p;
  }
  std::string before(rl_line_buffer, (size_t)(p - rl_line_buffer));
  gMatches = gSession->completions(text, before);
  bool fileNames = trim(before).rfind(":load", 0) == 0;
  rl_attempted_completion_over = fileNames ? 0 : 1;
  if (gMatches.empty()) return nullptr;
  return rl_completion_matches(text, nextMatch);
}

// ------------------------------------------------------------------ reading lines

void Session::initEditor() {
  // libedit turns characters into multibyte text with the C library's locale.
  if (const char* loc = std::setlocale(LC_CTYPE, "")) {
    if (std::strcmp(loc, "C") == 0 || std::strcmp(loc, "POSIX") == 0) std::setlocale(LC_CTYPE, "C.UTF-8");
  }
  rl_readline_name = "msl";  // ~/.editrc lines may start with "msl:"
  rl_instream = stdin;
  rl_outstream = stdout;
  rl_getc_function = editorGetc;
  rl_initialize();
  rl_attempted_completion_function = completeHook;
  // '.' is not a break: "x.sh" is one word, completed as an attribute path.
  rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{}()[],+-*/%~^!:#";
  const char* home = std::getenv("HOME");
  if (home && *home) historyPath_ = std::string(home) + "/.msl_history";
  stifle_history(kHistoryMax);
  if (!historyPath_.empty()) read_history(historyPath_.c_str());
}

void Session::saveHistory() {
  if (!editor_ || historyPath_.empty()) return;
  write_history(historyPath_.c_str());
  history_truncate_file(historyPath_.c_str(), kHistoryMax);
}

void Session::remember(const std::string& line) {
  if (!editor_ || trim(line).empty() || line == lastHistory_) return;
  add_history(line.c_str());
  lastHistory_ = line;
}

Session::Read Session::readLine(const char* prompt, std::string* line) {
  outFlush();
  std::fflush(stdout);
  gSigint = 0;
  if (editor_) {
    char* s = readline(prompt);
    if (gSigint) {
      std::free(s);
      return Read::Interrupted;
    }
    if (!s) return Read::Eof;
    *line = s;
    std::free(s);
    return Read::Line;
  }
  std::fputs(prompt, stderr);
  std::fflush(stderr);
  line->clear();
  for (;;) {
    int c = readByte();
    if (c == -2) return Read::Interrupted;
    if (c == -1) return line->empty() ? Read::Eof : Read::Line;
    if (c == '\n') return Read::Line;
    *line += (char)c;
  }
}

int Session::run() {
  if (editor_) {
    initEditor();
    outWrite("msl interactive session: :help for help, Ctrl-D to leave\n");
  }
  int status = 0;
  std::string pending;  // the lines of an incomplete input
  try {
    for (;;) {
      std::string line;
      Read r = readLine(pending.empty() ? ">>> " : "... ", &line);
      if (r == Read::Interrupted) {
        pending.clear();
        errWrite("\nKeyboardInterrupt\n");
        continue;
      }
      if (r == Read::Eof) {
        if (editor_) outWrite("\n");
        if (!pending.empty()) guarded([&] { execute(addSourceText("<repl>", pending), true); });
        break;
      }
      remember(line);
      if (pending.empty()) {
        std::string t = trim(line);
        if (t.empty()) continue;
        if (t[0] == ':') {
          command(t);
          continue;
        }
      }
      pending += line + "\n";
      if (replInputState(pending) == InputState::Incomplete) continue;
      std::string input = std::move(pending);
      pending.clear();
      guarded([&] { execute(addSourceText("<repl>", input), true); });
    }
  } catch (ExitRequest& e) {
    status = e.code;
  }
  outFlush();
  saveHistory();
  return status;
}

}  // namespace

// ------------------------------------------------------------------ entry points

int runRepl(Program& prog, bool debugNans, bool graphMode) {
  // As Python does: line editing only when both ends are a terminal.
  bool editor = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  Session session(prog, editor);
  session.setDebugNans(debugNans);
  session.setGraphMode(graphMode);
  gSession = &session;
  struct sigaction sa {}, oldSa{};
  sa.sa_handler = onSigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking read is interrupted
  sigaction(SIGINT, &sa, &oldSa);
  void (*oldExit)(int) = exitHook;
  exitHook = throwExit;
  int status;
  try {
    status = session.run();
  } catch (...) {
    exitHook = oldExit;
    sigaction(SIGINT, &oldSa, nullptr);
    gSession = nullptr;
    throw;
  }
  exitHook = oldExit;
  sigaction(SIGINT, &oldSa, nullptr);
  gSession = nullptr;
  return status;
}

std::string readStdinText() {
  std::string text;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n > 0) {
      text.append(buf, (size_t)n);
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      raise(DiagId::IoError, SourceLoc{}, {"cannot read", "<stdin>", std::strerror(errno)});
    }
  }
  return text;
}

}  // namespace msl
