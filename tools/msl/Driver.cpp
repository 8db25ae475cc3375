#include "tools/msl/Driver.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <new>

#include "codegen/Compiler.h"
#include "codegen/ObjectCache.h"
#include "frontend/LowerToIR.h"
#include "frontend/Parser.h"
#include "ir/Diagnostics.h"
#include "ir/Infer.h"
#include "ir/Manager.h"
#include "ir/Printer.h"
#include "ir/Serialize.h"
#include "runtime/AbstractOf.h"
#include "runtime/AotMain.h"
#include "runtime/Host.h"
#include "runtime/Interpreter.h"
#include "runtime/Parallel.h"
#include "runtime/Print.h"
#include "runtime/PrintTrace.h"
#include "runtime/Profile.h"
#include "tools/msl/BuildCommand.h"
#include "tools/msl/CheckModes.h"
#include "tools/msl/Repl.h"

namespace msl {

struct StdlibFile { const char* path; const char* text; };
extern const StdlibFile kStdlib[];
extern const size_t kStdlibCount;

namespace {

const char* kVersion = "msl 0.1.0";

const char* kHelp =
    "msl — a compiler and runtime for deep learning, shaped as a language\n"
    "\n"
    "usage:\n"
    "  msl                         the interactive REPL when stdin is a terminal; otherwise\n"
    "                              run the program read from stdin (`echo 'print(1)' | msl`)\n"
    "  msl repl                    the interactive REPL (type :help in it for its commands)\n"
    "  msl run FILE [ARGS...]      run a program (argv is [FILE, ARGS...]; FILE - is stdin)\n"
    "  msl FILE [ARGS...]          the same as `msl run FILE ARGS...`\n"
    "  msl build FILE -o OUT       make the program a native executable that runs without\n"
    "                              msl or its sources (options: `msl build --help`)\n"
    "  msl check FILE              parse, resolve names and imports, lower, infer types\n"
    "                              and shapes; report definite errors; do not run\n"
    "  msl --emit=STAGE FILE       print a stage of the pipeline and stop:\n"
    "                                ast  the syntax tree\n"
    "                                ir   the IR graphs after lowering\n"
    "                                grad run the program and print each gradient graph\n"
    "                                     J builds (after cleaning), among its output\n"
    "                                llvm run the program in graph mode and print the\n"
    "                                     LLVM module of each graph it compiles\n"
    "  msl --help | --version\n"
    "\n"
    "options:\n"
    "  --mode=eager                interpret (the default; MindSpore's PYNATIVE_MODE)\n"
    "  --mode=graph                compile every function on its first call (per\n"
    "                              signature) and run the compiled code\n"
    "  --check-modes               (with run) run the program in eager mode, then in graph\n"
    "                              mode, each from a fresh state with its output captured;\n"
    "                              show eager mode's output, then report the first output\n"
    "                              line that differs (both versions, and the print that\n"
    "                              wrote it) or a different ending; exit status 1 when the\n"
    "                              modes differ, 0 when output and ending are identical\n"
    "  --print-after=PASS          print the IR after PASS (lower, free-vars, verify)\n"
    "  --print-after-all           print the IR after every pass\n"
    "  --time-passes               time each pass, on stderr\n"
    "  --stats                     the number of kernel calls, of specialisations\n"
    "                              (ir/Specialize.h), and graph mode's compile time and\n"
    "                              compile cache use, on stderr at exit\n"
    "  --no-compile-cache          compile graphs without the persistent compile cache\n"
    "                              (the same as MSL_CACHE_DIR=off)\n"
    "  --profile                   (with run) where the time went, on stderr at exit: self\n"
    "                              time, calls and time per call of each primitive, the\n"
    "                              interpreter's own share, and the costliest source places\n"
    "  --debug-nans                after every operation, check float results: the first\n"
    "                              one producing a NaN or Inf (from inputs without one) is\n"
    "                              an error with its place and traceback (exit status 1)\n"
    "  --via-serialized            (with run; a testing aid) serialise the loaded program\n"
    "                              (docs/aot.md), drop it, and run the deserialised copy\n"
    "  --record-compiled=FILE      (with run --mode=graph) write to FILE at exit the spec of\n"
    "                              every fused kernel and the plan of every graph compiled:\n"
    "                              what `msl build --profile` compiles into an executable\n"
    "\n"
    "environment:\n"
    "  MSL_PATH                    extra folders searched for imported modules (':'-separated)\n"
    "  MSL_NUM_THREADS             threads for the kernels and oneDNN (default: all cores);\n"
    "                              results do not depend on it (docs/tensors.md)\n"
    "  MSL_CACHE_DIR               graph mode's compile cache (object code of compiled\n"
    "                              graphs; docs/graph_mode.md): default\n"
    "                              $XDG_CACHE_HOME/msl, else ~/.cache/msl; off disables it\n"
    "  HOME                        the REPL keeps its history in ~/.msl_history\n"
    "\n"
    "exit status: 0 success, 1 error in the program or its input, 2 internal error,\n"
    "130 interrupted by Ctrl-C (KeyboardInterrupt, with its place and traceback)\n";

bool isFile(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string dirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

}  // namespace

// ------------------------------------------------------------------ Program

Program::Program(std::vector<std::string> searchPath) : searchPath_(std::move(searchPath)) {}

std::vector<std::string> Program::searchPathFromEnv() {
  std::vector<std::string> out;
  if (const char* p = std::getenv("MSL_PATH")) {
    std::string s = p;
    size_t start = 0;
    while (start <= s.size()) {
      size_t colon = s.find(':', start);
      std::string dir = s.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!dir.empty()) out.push_back(dir);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  return out;
}

static double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

ir::Module* Program::load(const std::string& modName, const SourceFile* file) {
  auto t0 = std::chrono::steady_clock::now();
  asts_.push_back(parseModule(file));
  ir::afterStage("parse", nullptr, secondsSince(t0), pipeline_);
  const ast::Module& ast = *asts_.back();
  if (modName == "__main__") mainAst_ = &ast;
  owned_.push_back(std::make_unique<ir::Module>(modName, file));
  ir::Module* m = owned_.back().get();
  std::string dir = dirOf(file->name);
  t0 = std::chrono::steady_clock::now();
  lowerModule(ast, *m, [this, dir](const std::string& name, SourceLoc loc, bool required) {
    return resolve(name, dir, loc, required);
  });
  ir::afterStage("lower", m, secondsSince(t0), pipeline_);
  ir::runModulePasses(*m, pipeline_);
  order_.push_back(m);
  return m;
}

ir::Module* Program::resolve(const std::string& name, const std::string& fromDir, SourceLoc loc, bool required) {
  std::string rel = name;
  for (char& c : rel)
    if (c == '.') c = '/';
  std::string key, path;
  const char* stdlibText = nullptr;
  std::vector<std::string> dirs{fromDir};
  dirs.insert(dirs.end(), searchPath_.begin(), searchPath_.end());
  if (stdlibOnly_) dirs.clear();
  for (const std::string& d : dirs) {
    std::string p = d + "/" + rel + ".msl";
    if (isFile(p)) { path = p; key = p; break; }
  }
  if (key.empty()) {
    for (size_t i = 0; i < kStdlibCount; ++i)
      if (rel == kStdlib[i].path) { stdlibText = kStdlib[i].text; key = "<stdlib>/" + rel + ".msl"; break; }
  }
  if (key.empty()) {
    if (!required) return nullptr;
    // Like Python, name the first missing part: 'pkg.mod' when the folder pkg exists.
    std::string shown = name;
    for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
      std::string pkg = rel.substr(0, dot);
      bool isDir = false;
      for (const std::string& d : dirs) {
        struct stat st;
        isDir |= stat((d + "/" + pkg).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
      }
      if (!isDir) { shown = name.substr(0, dot); break; }
    }
    raise(DiagId::ModuleNotFound, loc, {shown});
  }
  for (auto& [k, m] : byName_)
    if (k == key) return m;
  for (size_t i = 0; i < loading_.size(); ++i) {
    if (loading_[i].first != key) continue;
    std::string chain;
    for (size_t j = i; j < loading_.size(); ++j) chain += loading_[j].first + " -> ";
    chain += key;
    raise(DiagId::ImportCycle, loc, {chain});
  }
  loading_.push_back({key, loc});
  const SourceFile* file = stdlibText ? addSourceText(key, stdlibText) : loadSourceFile(path, loc);
  ir::Module* m = load(name, file);
  loading_.pop_back();
  byName_.push_back({key, m});
  return m;
}

ir::Module* Program::loadMain(const std::string& path) {
  const SourceFile* file = loadSourceFile(path);
  loading_.push_back({path, SourceLoc{}});
  ir::Module* m = load("__main__", file);
  loading_.pop_back();
  byName_.push_back({path, m});
  return m;
}

ir::Module* Program::loadText(const std::string& name, const std::string& text) {
  return load("__main__", addSourceText(name, text));
}

void Program::extend(ir::Module& m, std::unique_ptr<ast::Module> ast) {
  loading_.clear();  // an import that failed in an earlier input left its chain behind
  // Imports resolve from a loaded file's folder (:load FILE), or the current one (<repl>).
  std::string dir = ast->file && ast->file->name[0] != '<' ? dirOf(ast->file->name) : ".";
  asts_.push_back(std::move(ast));
  lowerModule(*asts_.back(), m, [this, dir](const std::string& name, SourceLoc loc, bool required) {
    return resolve(name, dir, loc, required);
  });
  ir::computeFreeVars(m);
}

// ------------------------------------------------------------------ the command line

namespace {

struct Options {
  ir::PipelineOptions pipeline;
  bool stats = false;   // --stats: kernel calls made, on stderr at exit
  bool profile = false;  // --profile: self time by primitive and place (runtime/Profile.h)
  bool debugNans = false;  // --debug-nans: the first operation producing a NaN or Inf is an error
  bool checkModes = false;  // --check-modes: eager against graph mode (tools/msl/CheckModes.h)
  bool viaSerialized = false;  // --via-serialized: run the program from its image (ir/Serialize.h)
  std::string recordCompiled;  // --record-compiled=FILE: what graph mode compiled (codegen/FusedSpecIO.h)
  std::string command;  // run, check, emit, repl
  std::string emit;
  std::string mode = "eager";
  std::string file;
  std::vector<std::string> args;
};

// The program's argv ([FILE, ARGS...]): the builtin `argv` and what flags read.
// `builtins` holds the argv variable: the frontend's, or a deserialised program's copy.
void bindArgv(Interpreter& interp, const std::string& file, const std::vector<std::string>& args,
              const ir::Module& builtins = builtinsModule()) {
  std::vector<std::string> argv{file};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<Value> items;
  for (auto& a : argv) items.push_back(makeStr(a));
  if (const ir::GlobalVar* v = builtins.findGlobal("argv")) interp.global(v->id) = makeList(std::move(items));
  interp.setArgv(argv);
}

[[noreturn]] void usageError(const std::string& msg) {
  outFlush();
  std::string m = "msl: " + msg + "\n(run `msl --help` for usage)\n";
  errWrite(m);
  throw 1;
}

// --print-after=PASS, --print-after-all, --time-passes, --stats.
bool pipelineOption(const std::string& a, Options& o) {
  if (a.rfind("--print-after=", 0) == 0) {
    std::string pass = a.substr(14);
    auto names = ir::passNames();
    if (std::find(names.begin(), names.end(), pass) == names.end()) {
      std::string all;
      for (auto& n : names) all += (all.empty() ? "" : ", ") + n;
      usageError("unknown pass '" + pass + "' for --print-after (" + all + ")");
    }
    o.pipeline.printAfter.push_back(pass);
    return true;
  }
  if (a == "--print-after-all") { o.pipeline.printAfterAll = true; return true; }
  if (a == "--time-passes") { o.pipeline.timePasses = true; return true; }
  if (a == "--stats") { o.stats = true; return true; }
  if (a == "--profile") { o.profile = true; return true; }
  if (a == "--no-compile-cache") { codegen::setCompileCacheDir("off"); return true; }
  if (a == "--debug-nans") { o.debugNans = true; return true; }
  if (a == "--check-modes") { o.checkModes = true; return true; }
  if (a == "--via-serialized") { o.viaSerialized = true; return true; }
  if (a.rfind("--record-compiled=", 0) == 0) {
    o.recordCompiled = a.substr(18);
    if (o.recordCompiled.empty()) usageError("--record-compiled needs a file name");
    return true;
  }
  return false;
}

Options parseArgs(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") { outWrite(kHelp); throw 0; }
    if (a == "--version") { outWrite(std::string(kVersion) + "\n"); throw 0; }
    if (a.rfind("--emit=", 0) == 0) {
      o.emit = a.substr(7);
      if (o.emit != "ast" && o.emit != "ir" && o.emit != "grad" && o.emit != "llvm") {
        if (o.emit == "opt") usageError("--emit=opt goes with build (`msl build --emit=opt FILE`)");
        if (o.emit == "ptx") usageError("--emit=" + o.emit + " is not supported yet");
        usageError("unknown stage '" + o.emit + "' for --emit (ast, ir, grad, llvm)");
      }
      o.command = "emit";
      continue;
    }
    if (a.rfind("--mode=", 0) == 0) {
      o.mode = a.substr(7);
      if (o.mode != "eager" && o.mode != "graph") usageError("unknown mode '" + o.mode + "' (eager, graph)");
      continue;
    }
    if (pipelineOption(a, o)) continue;
    if (a.size() > 1 && a[0] == '-') usageError("unknown option '" + a + "'");
    break;
  }
  if (i < argc && o.command.empty()) {
    std::string c = argv[i];
    if (c == "run" || c == "check" || c == "repl") { o.command = c; ++i; }
    else o.command = "run";
  }
  // No FILE: the REPL when stdin is a terminal, otherwise the program read from stdin.
  if (o.command.empty()) {
    o.command = isatty(STDIN_FILENO) ? "repl" : "run";
    o.file = "-";
    return o;
  }
  // Options may also follow the sub-command, before FILE.
  for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; ++i) {
    std::string a = argv[i];
    if (a.rfind("--mode=", 0) == 0) o.mode = a.substr(7);
    else if (!pipelineOption(a, o)) usageError("unknown option '" + a + "'");
  }
  if (o.mode != "eager" && o.mode != "graph") usageError("unknown mode '" + o.mode + "' (eager, graph)");
  if (o.command == "repl") {
    if (i < argc) usageError("unexpected argument '" + std::string(argv[i]) + "' after repl");
    return o;
  }
  if (i >= argc) usageError("missing FILE");
  if (o.checkModes && o.command != "run") usageError("--check-modes goes with run");
  if (o.viaSerialized && (o.command != "run" || o.checkModes)) usageError("--via-serialized goes with run alone");
  o.file = argv[i++];
  for (; i < argc; ++i) o.args.push_back(argv[i]);
  if (o.command != "run" && !o.args.empty()) usageError("unexpected argument '" + o.args[0] + "' after FILE");
  return o;
}

// --check-modes: one run of the program from a fresh Program and Interpreter, its standard
// output and error captured in files, exit() turned into a return.
struct CheckExit { int code; };

ModeOutput runCaptured(const Options& o, const std::string& stdinText, bool graph) {
  ModeOutput r;
  outFlush();
  fflush(stdout);
  fflush(stderr);
  FILE* cap[2] = {tmpfile(), tmpfile()};
  int saved[2] = {dup(1), dup(2)};
  if (!cap[0] || !cap[1] || saved[0] < 0 || saved[1] < 0) throw InternalError("--check-modes cannot capture the output");
  dup2(fileno(cap[0]), 1);
  dup2(fileno(cap[1]), 2);
  void (*savedExit)(int) = exitHook;
  exitHook = [](int code) { throw CheckExit{code}; };
  size_t written = 0;
  printObserver = [&](CallContext& cx, const std::string& text) {
    r.prints.push_back({written, currentLoc(cx)});
    written += text.size();
  };
  builtinsModule();  // made before the mark (runtime/AbstractOf.h RunMark)
  RunMark mark(/*sources=*/false);  // the sources stay: later reports quote them
  try {
    Program prog(Program::searchPathFromEnv());
    ir::Module* main = o.file == "-" ? prog.loadText("<stdin>", stdinText) : prog.loadMain(o.file);
    Interpreter interp;
    interp.setDebugNans(o.debugNans);
    interp.setGraphMode(graph);
    bindArgv(interp, o.file, o.args);
    interp.runModule(main);
  } catch (CheckExit& e) {
    r.status = e.code;
  } catch (Error& e) {
    errWrite(renderDiagnostic(e.diag));
    r.status = 1;
  } catch (InternalError& e) {
    errWrite("internal error: " + e.msg + "\n");
    r.status = 2;
  } catch (std::bad_alloc&) {
    errWrite("error: out of memory\n");
    r.status = 1;
  } catch (std::exception& e) {
    errWrite(std::string("internal error: ") + e.what() + "\n");
    r.status = 2;
  }
  outFlush();
  printObserver = nullptr;
  exitHook = savedExit;
  mark.restore();
  for (int k = 0; k < 2; ++k) {
    dup2(saved[k], k + 1);
    close(saved[k]);
    std::string& s = k == 0 ? r.out : r.err;
    fseek(cap[k], 0, SEEK_SET);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, cap[k])) > 0) s.append(buf, n);
    fclose(cap[k]);
  }
  return r;
}

// msl run --check-modes FILE: eager mode, then graph mode; eager mode's output is shown,
// then the first difference (tools/msl/CheckModes.h).
int checkModes(const Options& o) {
  std::string stdinText = o.file == "-" ? readStdinText() : "";
  ModeOutput eager = runCaptured(o, stdinText, false);
  ModeOutput graph = runCaptured(o, stdinText, true);
  outWrite(eager.out);
  outFlush();  // the program's output before the verdict on stderr
  errWrite(eager.err);
  std::string diff = describeModeDifference(eager, graph, nullptr);
  if (diff.empty()) {
    size_t lines = size_t(std::count(eager.out.begin(), eager.out.end(), '\n'));
    errWrite("msl: eager and graph mode agree (" + std::to_string(lines) + (lines == 1 ? " line" : " lines") +
             " of output, exit status " + std::to_string(eager.status) + ")\n");
    return 0;
  }
  // A second eager run tells a difference of the modes from output that changes every run.
  ModeOutput again = runCaptured(o, stdinText, false);
  errWrite(describeModeDifference(eager, graph, &again));
  return 1;
}

// The reports of a run that ended with an error: printed after the error message.
std::string& deferredReports() {
  static std::string s;
  return s;
}

// --stats and --profile: their reports on stderr at exit, also when the program ends with
// an error (the destructor runs as the error unwinds; the reports then wait for the
// message, so the error stays first, next to the program's output).
struct RunReports {
  Interpreter& it;
  bool stats;
  std::unique_ptr<Profiler> profiler;
  RunReports(Interpreter& it, const Options& o)
      : it(it), stats(o.stats), profiler(o.profile ? std::make_unique<Profiler>() : nullptr) {
    setActiveProfiler(profiler.get());
  }
  ~RunReports() {
    setActiveProfiler(nullptr);
    std::string text;
    if (stats) {
      text += "msl: " + std::to_string(it.dispatchCount()) + " kernel calls\n";
      text += "msl: " + std::to_string(it.specializer().made()) + " specialisations\n";
      const auto* compiler = dynamic_cast<const codegen::HostCompiler*>(graphCompiler());
      if (compiler && compiler->compiledCount() > 0) text += "msl: " + compiler->statsText() + "\n";
    }
    if (profiler) text += profiler->report();
    if (std::uncaught_exceptions() > 0)
      deferredReports() += text;
    else
      errWrite(text);
  }
};

// msl run --via-serialized FILE: the loaded program goes through ir/Serialize.h and only
// the deserialised copy runs (the in-memory program is gone by then), as an executable
// made by `msl build` will run it.
int runViaSerialized(Options& o) {
  std::string image;
  {
    Program prog(Program::searchPathFromEnv());
    prog.setPipelineOptions(o.pipeline);
    ir::Module* main = o.file == "-" ? prog.loadText("<stdin>", readStdinText()) : prog.loadMain(o.file);
    image = ir::serialize(ir::ProgramImage{prog.modules(), main, &builtinsModule(), {}});
  }
  ir::ProgramImage p = ir::deserialize(image);
  Interpreter interp;
  interp.setDebugNans(o.debugNans);
  interp.setGraphMode(o.mode == "graph");
  bindArgv(interp, o.file, o.args, *p.builtins);
  RunReports reports(interp, o);
  catchSigint();
  interp.runModule(p.main);
  return 0;
}

int runCommand(Options& o) {
  // MSL_NUM_THREADS: threads of the kernels and of oneDNN (runtime/Parallel.h).
  if (const char* e = std::getenv("MSL_NUM_THREADS")) {
    int n;
    std::string err;
    if (!parseNumThreads(e, &n, &err)) {
      outFlush();
      errWrite("msl: " + err + "\n");
      return 2;
    }
    setNumThreads(n);
  } else {
    setNumThreads(availableCpus());
  }
  Program prog(Program::searchPathFromEnv());
  o.pipeline.out = [](const std::string& s) { outWrite(s); };
  o.pipeline.err = [](const std::string& s) { errWrite(s); };
  prog.setPipelineOptions(o.pipeline);
  if (o.command == "emit" && o.emit == "ast") {
    const SourceFile* f = loadSourceFile(o.file);
    auto ast = parseModule(f);
    outWrite(ast::dump(*ast));
    return 0;
  }
  // jit(f) in either mode, and every graph under --mode=graph, compile through LLVM
  // (runtime/GraphMode.h; the JIT itself starts on the first compile).
  // Never destroyed, as the JIT it compiles into: compiled code may run until exit.
  static codegen::HostCompiler& compiler = *new codegen::HostCompiler();
  setGraphCompiler(&compiler);
  if (!o.recordCompiled.empty() && (o.mode != "graph" || o.command != "run"))
    usageError("--record-compiled goes with run --mode=graph");
  // --record-compiled: the record is written at exit, also when the program ends with an
  // error, or with exit(code), which leaves the process from the program's thread
  // (exitHook: _exit), so the hook writes it first (`msl build --profile` reads it after
  // a run that succeeded).
  static void (*gExit)(int) = nullptr;  // the exit hook the recording one replaced
  struct RecordWriter {
    std::string path;
    codegen::CompiledRecord record;
    void write() {
      if (path.empty()) return;
      compiler.setRecord(nullptr);
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f << record.text();
      if (!f.flush()) errWrite("msl: cannot write " + path + "\n");
      path.clear();
    }
    ~RecordWriter() {
      write();
      if (gExit) exitHook = gExit, gExit = nullptr;
    }
  } recorder{o.recordCompiled, {}};
  static RecordWriter* gRecorder = nullptr;
  if (!o.recordCompiled.empty()) {
    compiler.setRecord(&recorder.record);
    gRecorder = &recorder;
    gExit = exitHook;
    exitHook = [](int code) {
      gRecorder->write();
      gExit(code);
    };
  }
  if (o.emit == "llvm") {
    o.mode = "graph";
    compiler.setEmitLlvm([](const std::string& s) { outWrite(s); });
  }
  if (o.command == "repl") {
    if (o.checkModes) usageError("--check-modes goes with run");
    return runRepl(prog, o.debugNans, o.mode == "graph");
  }
  if (o.checkModes) return checkModes(o);
  if (o.viaSerialized) return runViaSerialized(o);
  // FILE "-" is standard input, named <stdin> in messages (`echo 'print(1)' | msl`).
  ir::Module* main = o.file == "-" ? prog.loadText("<stdin>", readStdinText()) : prog.loadMain(o.file);
  if (o.command == "emit" && o.emit == "ir") {
    outWrite(ir::printModule(*main));
    return 0;
  }
  if (o.command == "check") {
    // Types and shapes: report the definite errors inference finds, in program order.
    int errors = 0;
    for (ir::Module* m : prog.modules())
      for (const Diagnostic& d : ir::checkModule(*m)) {
        errWrite(renderDiagnostic(d));
        ++errors;
      }
    return errors ? 1 : 0;
  }
  Interpreter interp;
  interp.setDebugNans(o.debugNans);
  interp.setGraphMode(o.mode == "graph");
  if (o.emit == "grad") interp.setEmitGrad([](const std::string& s) { outWrite(s); });
  bindArgv(interp, o.file, o.args);
  RunReports reports(interp, o);
  catchSigint();  // Ctrl-C: KeyboardInterrupt, exit status 130 (runtime/AotMain.h)
  interp.runModule(main);
  return 0;
}

int guarded(int argc, char** argv) {
  int rc = runGuarded([&] {
    // msl build (tools/msl/BuildCommand.h) has options of its own.
    if (argc >= 2 && std::string(argv[1]) == "build") return buildCommand({argv + 2, argv + argc});
    Options o = parseArgs(argc, argv);
    return runCommand(o);
  });
  errWrite(deferredReports());
  return rc;
}

struct ThreadArgs { int argc; char** argv; int rc; };

void* threadMain(void* p) {
  auto* a = static_cast<ThreadArgs*>(p);
  a->rc = guarded(a->argc, a->argv);
  return nullptr;
}

}  // namespace

int mslMain(int argc, char** argv) {
  // Programs run on a thread with a large stack: deep recursion in a program stops at the
  // documented call-depth limit with a diagnostic, long before this stack is exhausted.
  ThreadArgs a{argc, argv, 2};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, size_t(2) << 30);
  pthread_t t;
  if (pthread_create(&t, &attr, threadMain, &a) != 0) return guarded(argc, argv);
  pthread_join(t, nullptr);
  pthread_attr_destroy(&attr);
  return a.rc;
}

}  // namespace msl
