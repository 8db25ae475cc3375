// The differential harness (Harness.h). The eager mode is the fuzz harness's sandbox
// (tests/fuzz/fuzz_msl.cpp) with its output kept: a fresh Program and Interpreter per run,
// and whatever the run left in process-wide tables dropped afterwards.
#include "tests/progen/Harness.h"

#include "tests/progen/AotMode.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <regex>
#include <set>

#include "codegen/Compiler.h"
#include "frontend/LowerToIR.h"
#include "ir/Diagnostics.h"
#include "ir/IR.h"
#include "runtime/AbstractOf.h"
#include "runtime/GraphMode.h"
#include "runtime/Host.h"
#include "runtime/Interpreter.h"
#include "runtime/Print.h"
#include "runtime/Tensor.h"
#include "tools/msl/Driver.h"
#include "tools/msl/CheckModes.h"  // splitLines

namespace msl::progen {
namespace {

struct ExitRequest { int code; };
void throwExit(int code) { throw ExitRequest{code}; }

void setupSandbox() {
  static bool done = false;
  if (done) return;
  done = true;
  discardOutput = false;
  fileAccessDisabled = true;               // generated programs touch no files
  maxAllocationBytes = uint64_t(256) << 20;
  exitHook = throwExit;
  builtinsModule();  // created once, before the first marks
}

}  // namespace

// One run from a fresh Program and Interpreter, with a HostCompiler of its own installed
// as `msl run` does (for jit(f) in eager mode; for every graph in graph mode), whose JIT
// code is freed afterwards. `record`: what graph mode compiles is recorded there (the
// profile run of the aot-profile mode).
RunResult runFresh(const std::string& name, const std::string& text, bool graph, codegen::CompiledRecord* record) {
  RunResult r;
  auto compiler = std::make_unique<codegen::HostCompiler>();
  compiler->setRecord(record);
  setGraphCompiler(compiler.get());
  builtinsModule();  // made before the mark (runtime/AbstractOf.h RunMark)
  RunMark mark(/*sources=*/true);
  try {
    Program prog({});
    prog.setStdlibOnly(true);
    ir::Module* main = prog.loadText(name, text);
    Interpreter interp;
    interp.setGraphMode(graph);
    interp.global(builtinsModule().findGlobal("argv")->id) = makeList({makeStr(name)});
    interp.setArgv({name});
    interp.runModule(main);
  } catch (Error& e) {
    r.status = RunResult::UserError;
    r.err = renderDiagnostic(e.diag);
  } catch (ExitRequest& e) {
    if (e.code != 0) {
      r.status = RunResult::UserError;
      r.err = "exit(" + std::to_string(e.code) + ")";
    }
  } catch (Interrupted&) {
    r.status = RunResult::Timeout;
  } catch (std::bad_alloc&) {
    r.status = RunResult::OutOfMemory;
  } catch (InternalError& e) {
    r.status = RunResult::Internal;
    r.err = "internal error: " + e.msg;
  } catch (std::exception& e) {
    r.status = RunResult::Internal;
    r.err = std::string("C++ exception: ") + e.what();
  }
  outFlush();
  mark.restore();
  compiler->setRecord(nullptr);
  setGraphCompiler(nullptr);  // the graphs are gone; the compiler frees their code
  return r;
}

namespace {

RunResult runEager(const std::string& name, const std::string& text) { return runFresh(name, text, false, nullptr); }
RunResult runGraph(const std::string& name, const std::string& text) { return runFresh(name, text, true, nullptr); }

std::vector<Mode>& modes() {
  static std::vector<Mode> m = [] {
    setupSandbox();
    // Graph mode runs the interpreter's own kernels and instruction semantics
    // (docs/design.md), so its output must be identical to eager mode's.
    // aot: the program built into an executable (tests/progen/AotMode.h), run as a process.
    // aot-profile: built after a profile run in graph mode (msl build --profile), so the
    // executable runs graph mode's passes with the fused kernels of its table.
    return std::vector<Mode>{Mode{"eager", 0, 0, runEager}, Mode{"graph", 0, 0, runGraph},
                             Mode{"aot", 0, 0, runAot}, Mode{"aot-profile", 0, 0, runAotProfiled}};
  }();
  return m;
}

// The worker thread of one run and its hand-over.
struct Job {
  const Mode* mode;
  std::string name, text;
  RunResult result;
  bool done = false;
  std::mutex mu;
  std::condition_variable cv;
};

void* workerMain(void* p) {
  auto* j = static_cast<Job*>(p);
  RunResult r = j->mode->run(j->name, j->text);
  std::lock_guard<std::mutex> lock(j->mu);
  j->result = std::move(r);
  j->done = true;
  j->cv.notify_all();
  return nullptr;
}

std::string readAll(FILE* f) {
  std::string s;
  fseek(f, 0, SEEK_SET);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

// Two lines equal up to the printed numbers, which may differ by atol + rtol * |a|.
bool closeLines(const std::string& a, const std::string& b, double rtol, double atol) {
  size_t i = 0, j = 0;
  auto numAt = [](const std::string& s, size_t p, double* v, size_t* end) {
    const char* c = s.c_str() + p;
    if (!(isdigit((unsigned char)*c) || ((*c == '-' || *c == '.') && (isdigit((unsigned char)c[1]) || c[1] == '.'))))
      return false;
    if (p > 0 && (isalnum((unsigned char)s[p - 1]) || s[p - 1] == '_')) return false;  // inside a name: v12
    char* e;
    *v = strtod(c, &e);
    if (e == c) return false;
    *end = p + size_t(e - c);
    return true;
  };
  while (i < a.size() && j < b.size()) {
    double x, y;
    size_t ei, ej;
    if (numAt(a, i, &x, &ei) && numAt(b, j, &y, &ej)) {
      if (!(std::fabs(x - y) <= atol + rtol * std::fabs(x)) && !(x == y)) return false;
      i = ei;
      j = ej;
      continue;
    }
    if (a[i] != b[j]) return false;
    ++i;
    ++j;
  }
  return i == a.size() && j == b.size();
}

const char* statusName(RunResult::Status s) {
  switch (s) {
    case RunResult::Ok: return "ok";
    case RunResult::UserError: return "user error";
    case RunResult::Internal: return "internal error";
    case RunResult::Timeout: return "timeout";
    case RunResult::OutOfMemory: return "out of memory";
  }
  return "?";
}

std::string firstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

void registerMode(Mode m) {
  auto& ms = modes();
  for (auto& x : ms)
    if (x.name == m.name) {
      x = std::move(m);
      return;
    }
  ms.push_back(std::move(m));
}

const Mode* findMode(const std::string& name) {
  for (auto& m : modes())
    if (m.name == name) return &m;
  return nullptr;
}

std::vector<std::string> modeNames() {
  std::vector<std::string> r;
  for (auto& m : modes()) r.push_back(m.name);
  return r;
}

RunResult runIn(const Mode& m, const std::string& name, const std::string& text, int timeoutMs) {
  fflush(stdout);
  outFlush();
  FILE* cap = tmpfile();
  int saved = dup(1);
  if (!cap || saved < 0 || dup2(fileno(cap), 1) < 0) {
    fprintf(stderr, "msl_progen: cannot capture stdout\n");
    exit(2);
  }
  auto job = std::make_unique<Job>();
  job->mode = &m;
  job->name = name;
  job->text = text;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, size_t(1) << 30);
  pthread_t t;
  if (pthread_create(&t, &attr, workerMain, job.get()) != 0) {
    fprintf(stderr, "msl_progen: cannot start a worker thread\n");
    exit(2);
  }
  pthread_attr_destroy(&attr);
  bool timedOut = false;
  {
    std::unique_lock<std::mutex> lock(job->mu);
    if (!job->cv.wait_for(lock, std::chrono::milliseconds(timeoutMs), [&] { return job->done; })) {
      timedOut = true;
      Interpreter::interruptRequested = true;  // the run unwinds at its next check
      job->cv.wait(lock, [&] { return job->done; });
    }
  }
  pthread_join(t, nullptr);
  Interpreter::interruptRequested = false;
  outFlush();
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  RunResult r = std::move(job->result);
  r.out = readAll(cap);
  fclose(cap);
  if (timedOut) r.status = RunResult::Timeout;
  return r;
}

std::string compare(const RunResult& a, const RunResult& b, const Mode& mb) {
  if (a.status != b.status)
    return std::string(statusName(a.status)) + " vs " + statusName(b.status) + ": " + firstLine(a.err) + " | " +
           firstLine(b.err);
  if (a.err != b.err) return "different errors: " + firstLine(a.err) + " | " + firstLine(b.err);
  if (a.out == b.out) return "";
  auto la = splitLines(a.out), lb = splitLines(b.out);
  size_t n = std::max(la.size(), lb.size());
  for (size_t i = 0; i < n; ++i) {
    std::string x = i < la.size() ? la[i] : "<end of output>", y = i < lb.size() ? lb[i] : "<end of output>";
    bool same = x == y || (i < la.size() && i < lb.size() && (mb.rtol > 0 || mb.atol > 0) &&
                           closeLines(x, y, mb.rtol, mb.atol));
    if (!same) return "output line " + std::to_string(i + 1) + ": '" + x + "' vs '" + y + "'";
  }
  return "";
}

std::string finding(const std::vector<const Mode*>& ms, const std::vector<RunResult>& rs, bool strict) {
  for (size_t i = 0; i < rs.size(); ++i) {
    const std::string& n = ms[i]->name;
    if (rs[i].status == RunResult::Internal) return "internal error in " + n + ": " + firstLine(rs[i].err);
    if (rs[i].status == RunResult::Timeout) return "timeout in " + n + ":";
    if (rs[i].status == RunResult::OutOfMemory) return "out of memory in " + n + ":";
  }
  for (size_t i = 1; i < rs.size(); ++i) {
    std::string d = compare(rs[0], rs[i], *ms[i]);
    if (!d.empty()) return "mismatch between " + ms[0]->name + " and " + ms[i]->name + ": " + d;
  }
  if (strict && rs[0].status == RunResult::UserError) {
    std::string e = firstLine(rs[0].err);
    size_t p = e.find("error: ");
    return "user error: " + (p == std::string::npos ? e : e.substr(p + 7));
  }
  if (strict) {
    static const std::regex nonFinite("(^|[^A-Za-z_0-9])-?(nan|inf)([^A-Za-z_0-9]|$)");
    for (const std::string& l : splitLines(rs[0].out))
      if (std::regex_search(l, nonFinite)) return "non-finite output: " + l.substr(0, 200);
  }
  return "";
}

std::string findingKind(const std::string& f) { return f.substr(0, f.find(':')); }

// ------------------------------------------------------------------ reduction

namespace {

int indentOf(const std::string& l) {
  size_t i = l.find_first_not_of(' ');
  return i == std::string::npos ? -1 : int(i);
}

std::string join(const std::vector<std::string>& ls) {
  std::string s;
  for (auto& l : ls) s += l + "\n";
  return s;
}

}  // namespace

std::string reduce(const std::string& text, const std::function<bool(const std::string&)>& interesting, int maxTests) {
  std::vector<std::string> lines = splitLines(text);
  int tests = 0;
  auto tryLines = [&](const std::vector<std::string>& cand) {
    if (tests >= maxTests) return false;
    ++tests;
    if (!interesting(join(cand))) return false;
    lines = cand;
    return true;
  };
  static const std::regex assignRe(R"(^(\s*)([A-Za-z_]\w*(?:, [A-Za-z_]\w*)*) (\+?=) (.*)$)");
  static const std::regex nameRe(R"([A-Za-z_]\w*)");
  for (bool changed = true; changed && tests < maxTests;) {
    changed = false;
    // Statements with their blocks, from the last one back (later ones use earlier ones),
    // first in runs of several, then one by one.
    for (int chunk : {8, 4, 2, 1}) {
      for (int i = int(lines.size()) - 1; i >= 0; --i) {
        if (i >= int(lines.size())) i = int(lines.size()) - 1;
        if (i < 0) break;
        int ind = indentOf(lines[i]);
        if (ind < 0 || lines[i].compare(ind, 1, "#") == 0) continue;
        // `chunk` consecutive statements at this indentation, starting at i.
        int j = i, k = 0;
        while (k < chunk && j < int(lines.size())) {
          if (indentOf(lines[j]) != ind) break;
          ++j;
          while (j < int(lines.size()) && (indentOf(lines[j]) > ind || indentOf(lines[j]) < 0)) ++j;
          ++k;
        }
        if (k < chunk) continue;
        std::vector<std::string> cand(lines.begin(), lines.begin() + i);
        cand.insert(cand.end(), lines.begin() + j, lines.end());
        if (tryLines(cand)) changed = true;
      }
    }
    // Expressions: `x = f(a, b)` becomes `x = a` or `x = b`.
    for (size_t i = 0; i < lines.size(); ++i) {
      std::smatch m;
      if (!std::regex_match(lines[i], m, assignRe) || m[3] != "=") continue;
      std::string rhs = m[4];
      std::set<std::string> seen;
      for (auto it = std::sregex_iterator(rhs.begin(), rhs.end(), nameRe); it != std::sregex_iterator(); ++it) {
        std::string n = it->str();
        if (n == rhs || !seen.insert(n).second) continue;
        if (!(n.size() > 1 && (n[0] == 'v' || n[0] == 'k') && isdigit((unsigned char)n[1])) && n != "a" && n != "c" &&
            n != "w")
          continue;
        std::vector<std::string> cand = lines;
        cand[i] = std::string(m[1]) + std::string(m[2]) + " = " + n;
        if (tryLines(cand)) {
          changed = true;
          break;
        }
      }
    }
  }
  return join(lines);
}

}  // namespace msl::progen
