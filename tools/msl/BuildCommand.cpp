#include "tools/msl/BuildCommand.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "codegen/Build.h"
#include "frontend/LowerToIR.h"
#include "ir/Diagnostics.h"
#include "ir/Printer.h"
#include "runtime/Print.h"
#include "tools/msl/Driver.h"

namespace msl {

const char* const kBuildHelp =
    "usage: msl build FILE [-o OUT] [-O0|-O1|-O2|-O3] [--cpu=CPU] [--mode=graph|eager]\n"
    "                 [--profile | --profile-args=ARGS | --profile-data=RECORD]\n"
    "                 [--debug-nans] [-q] [-v]\n"
    "       msl build --emit=opt|llvm FILE\n"
    "\n"
    "Makes FILE (with the modules it imports) into a native executable OUT (default: FILE\n"
    "without .msl) that runs the program as `msl run FILE` does — same output, errors with\n"
    "file:line:col, caret and traceback, same exit statuses — without msl, the standard\n"
    "library's sources or the .msl files. Its argv is [OUT, ARGS...]. It links msl's runtime\n"
    "library (oneDNN, OpenMP, zlib), never LLVM. docs/aot.md describes it.\n"
    "\n"
    "What is compiled: the host code of every graph of the program (one function per\n"
    "distinct plan of nodes, branches and loops), which the executable runs instead of\n"
    "interpreting them. Graphs made at run time (grad, vmap, jvp, ...) run that code when\n"
    "their plan is one of the program's or one a profile run compiled (below), otherwise\n"
    "in the interpreter; the build lists the\n"
    "calls that make them, and MSL_AOT_REPORT=1 makes the executable list on stderr at exit\n"
    "the graphs it interpreted.\n"
    "\n"
    "Fused kernels (profile-guided): with --profile or --profile-args, the build first\n"
    "runs the program (`msl run --mode=graph` with those arguments: its side effects\n"
    "happen, files it writes are written) and records every fused elementwise kernel and\n"
    "the plan of every graph it compiled; these are compiled into OUT, which then runs\n"
    "graph mode's passes (branch folding, fusion) and takes each kernel from its table.\n"
    "A chain whose kernel the profile run did not make stays unfused (same results);\n"
    "MSL_AOT_REPORT=1 lists it. Without a profile, executables run unfused.\n"
    "\n"
    "options:\n"
    "  -o OUT            the executable to write\n"
    "  -O0 .. -O3        LLVM optimisation level of the compiled code (default -O2)\n"
    "  --cpu=CPU         the CPU to compile for: an LLVM CPU name, or native (this\n"
    "                    machine's); default x86-64-v3\n"
    "  --mode=graph      every graph runs as compiled code (the default)\n"
    "  --mode=eager      the interpreter runs the program; jit(f) closures run compiled code\n"
    "  --emit=opt        print the program's IR as the executable holds it, then each\n"
    "                    graph's plan and compiled function; build nothing\n"
    "  --emit=llvm       print the LLVM IR of the compiled code (optimised at the -O level;\n"
    "                    the image and main left out); build nothing\n"
    "  --profile         profile run without arguments (see above)\n"
    "  --profile-args=ARGS\n"
    "                    profile run with ARGS as the program's arguments, split at\n"
    "                    spaces as a shell does ('...', \"...\" and \\ quote)\n"
    "  --profile-data=RECORD\n"
    "                    no profile run: use RECORD, written by `msl run --mode=graph\n"
    "                    --record-compiled=RECORD FILE ARGS`\n"
    "  --debug-nans      the executable checks float results as `msl run --debug-nans`\n"
    "  -q, --quiet       no progress lines or build report on stderr\n"
    "  -v, --verbose     show the profile run's output (on stderr)\n"
    "\n"
    "environment (of the executable): MSL_NUM_THREADS as for msl run; MSL_AOT_REPORT=1\n"
    "lists the graphs that ran compiled code and those interpreted, the fused kernels\n"
    "used and the chains left unfused, on stderr at exit.\n";

namespace {

[[noreturn]] void buildUsage(const std::string& msg) {
  outFlush();
  errWrite("msl build: " + msg + "\n(run `msl build --help` for usage)\n");
  throw 1;
}

// An error of the build's environment (not of the command line): exit status 1.
[[noreturn]] void buildError(const std::string& msg) {
  outFlush();
  errWrite("msl build: " + msg + "\n");
  throw 1;
}

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// ARGS of --profile-args split into words as a POSIX shell splits unexpanded text: at
// blanks, with '...' (literal), "..." (\ quotes \ and ") and \ outside quotes; false when a
// quote is not closed.
bool splitShellWords(const std::string& text, std::vector<std::string>* words) {
  std::string word;
  bool inWord = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (inWord) words->push_back(word);
      word.clear();
      inWord = false;
      continue;
    }
    inWord = true;
    if (c == '\'') {
      size_t e = text.find('\'', i + 1);
      if (e == std::string::npos) return false;
      word += text.substr(i + 1, e - i - 1);
      i = e;
    } else if (c == '"') {
      for (++i;; ++i) {
        if (i >= text.size()) return false;
        if (text[i] == '"') break;
        if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) ++i;
        word += text[i];
      }
    } else if (c == '\\' && i + 1 < text.size()) {
      word += text[++i];
    } else {
      word += c;
    }
  }
  if (inWord) words->push_back(word);
  return true;
}

bool readFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad();
}

// A temporary file's name (the file made empty), under $TMPDIR or /tmp.
std::string tempFile(const char* what) {
  const char* dir = std::getenv("TMPDIR");
  std::string path = std::string(dir && *dir ? dir : "/tmp") + "/msl-build-" + what + "-XXXXXX";
  int fd = mkstemp(path.data());
  if (fd < 0) buildError("cannot make a temporary file " + path + ": " + std::strerror(errno));
  close(fd);
  return path;
}

// The profile run: this msl runs FILE in graph mode with `args`, recording what it
// compiles into a temporary file, its output in another (or on stderr with `verbose`).
// Returns the record's text; a failed run is the build's error (exit status 1).
std::string profileRun(const std::string& file, const std::vector<std::string>& args, bool debugNans, bool verbose) {
  std::string record = tempFile("profile"), log = verbose ? "" : tempFile("profile-log");
  std::vector<std::string> argv{"msl", "--mode=graph", "--record-compiled=" + record};
  if (debugNans) argv.push_back("--debug-nans");
  argv.push_back("run");
  argv.push_back(file);
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (verbose) {
    posix_spawn_file_actions_adddup2(&fa, 2, 1);  // the program's output on the build's stderr
  } else {
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  }
  outFlush();
  pid_t pid;
  int rc = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  if (rc == 0)
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  std::string text, output;
  bool haveRecord = readFile(record, &text);
  if (!verbose) readFile(log, &output), std::remove(log.c_str());
  std::remove(record.c_str());
  std::string cmd = "msl run --mode=graph " + file;
  for (const std::string& a : args) cmd += " " + a;
  if (rc != 0) buildError("cannot start the profile run `" + cmd + "`: " + std::strerror(rc));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !haveRecord) {
    std::string why = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                      : WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                            : "no record";
    if (output.size() > 8000) output = "...\n" + output.substr(output.size() - 8000);
    if (!output.empty() && output.back() == '\n') output.pop_back();
    buildError("the profile run `" + cmd + "` failed (" + why + ")" + (output.empty() ? "" : ":\n") + output);
  }
  return text;
}

}  // namespace

int buildCommand(const std::vector<std::string>& args) {
  codegen::BuildOptions o;
  std::string file, out, emit, profileData;
  bool quiet = false, verbose = false, profile = false;
  std::vector<std::string> profileArgs;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      outWrite(kBuildHelp);
      return 0;
    }
    if (a == "-o") {
      if (i + 1 >= args.size()) buildUsage("-o needs a file name");
      out = args[++i];
    } else if (a.rfind("-o", 0) == 0 && a.size() > 2 && a[2] != '-') {
      out = a.substr(2);
    } else if (a == "-O0" || a == "-O1" || a == "-O2" || a == "-O3") {
      o.aot.opt = a[2] == '0'   ? codegen::OptLevel::O0
                  : a[2] == '1' ? codegen::OptLevel::O1
                  : a[2] == '2' ? codegen::OptLevel::O2
                                : codegen::OptLevel::O3;
    } else if (a.rfind("--cpu=", 0) == 0) {
      o.aot.cpu = a.substr(6);
      if (o.aot.cpu.empty()) buildUsage("--cpu needs a CPU name (or native)");
    } else if (a.rfind("--mode=", 0) == 0) {
      std::string m = a.substr(7);
      if (m != "graph" && m != "eager") buildUsage("unknown mode '" + m + "' (graph, eager)");
      o.graphMode = m == "graph";
    } else if (a.rfind("--emit=", 0) == 0) {
      emit = a.substr(7);
      if (emit != "opt" && emit != "llvm") buildUsage("unknown stage '" + emit + "' for --emit (opt, llvm)");
    } else if (a == "--debug-nans") {
      o.debugNans = true;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (a == "-v" || a == "--verbose") {
      verbose = true;
    } else if (a == "--profile") {
      profile = true;
    } else if (a.rfind("--profile-args=", 0) == 0) {
      profile = true;
      if (!splitShellWords(a.substr(15), &profileArgs))
        buildUsage("--profile-args: a quote is not closed in '" + a.substr(15) + "'");
    } else if (a.rfind("--profile-data=", 0) == 0) {
      profileData = a.substr(15);
      if (profileData.empty()) buildUsage("--profile-data needs a file (written by msl run --record-compiled)");
    } else if (a.size() > 1 && a[0] == '-') {
      buildUsage("unknown option '" + a + "'");
    } else if (file.empty()) {
      file = a;
    } else {
      buildUsage("unexpected argument '" + a + "' (one FILE; the executable takes the program's arguments)");
    }
  }
  if (file.empty()) buildUsage("missing FILE");
  if (!codegen::isValidCpu(o.aot.cpu))
    buildUsage("unknown CPU '" + o.aot.cpu + "' for --cpu (an LLVM CPU name such as x86-64-v3 or skylake, or native)");
  if (file == "-") buildUsage("FILE - (standard input) cannot be built; give a file");
  if (profile && !profileData.empty()) buildUsage("--profile-data goes without --profile or --profile-args");
  if (!emit.empty()) quiet = true;  // only the stage on stdout
  if (out.empty() && emit.empty()) {
    std::string base = file.substr(file.rfind('/') == std::string::npos ? 0 : file.rfind('/') + 1);
    if (base.size() > 4 && base.compare(base.size() - 4, 4, ".msl") == 0) base.resize(base.size() - 4);
    else base += ".out";
    out = base;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto say = [&](const std::string& s) {
    if (quiet) return;
    char ms[32];
    std::snprintf(ms, sizeof ms, "%7.0f ms  ", msSince(t0));
    outFlush();
    errWrite("msl build: " + std::string(ms) + s + "\n");
  };
  if (!quiet) o.progress = say;
  Program prog(Program::searchPathFromEnv());
  say("loading " + file);
  ir::Module* main = prog.loadMain(file);
  ir::ProgramImage image{prog.modules(), main, &builtinsModule(), {}};
  // The profile (docs/aot.md, "Profile-guided kernels"): a run's record of what graph mode
  // compiled, made now or given.
  codegen::CompiledRecord record;
  if (profile || !profileData.empty()) {
    std::string text, err, what = profileData;
    if (profile) {
      say("profile run: msl run --mode=graph " + file + (profileArgs.empty() ? "" : " ...") +
          (verbose ? "" : " (its output hidden; -v shows it)"));
      text = profileRun(file, profileArgs, o.debugNans, verbose);
      what = "the profile run's record";
    } else if (!readFile(profileData, &text)) {
      std::string why = std::strerror(errno);
      outFlush();
      errWrite("msl build: cannot read the profile " + profileData + ": " + why + "\n");
      return 1;
    }
    if (!codegen::CompiledRecord::parse(text, &record, &err)) {
      outFlush();
      errWrite("msl build: corrupt profile " + what + ": " + err + "\n");
      return 1;
    }
    say("profile: " + std::to_string(record.kernels.size()) + " fused kernels, " + std::to_string(record.plans.size()) +
        " plans of compiled graphs");
    o.profile = &record;
  }
  if (emit == "opt") {
    for (const ir::Module* m : prog.modules()) outWrite(ir::printModule(*m));
    outWrite(codegen::programPlanText(image));
    return 0;
  }
  if (emit == "llvm") {
    outWrite(codegen::programLlvmText(image, o));
    return 0;
  }
  // An unwritable OUT is the command line's error, found before the work.
  if (FILE* f = std::fopen(out.c_str(), "ab")) {
    std::fclose(f);
  } else {
    std::string why = std::strerror(errno);
    outFlush();
    errWrite("msl build: cannot write " + out + ": " + why + "\n");
    return 1;
  }
  codegen::BuildReport report;
  std::string err = codegen::buildExecutable(image, out, o, &report);
  if (!err.empty()) {
    outFlush();
    errWrite("msl build: linking " + out + " failed:\n" + err);
    return 2;
  }
  if (!quiet) {
    struct stat st;
    long size = stat(out.c_str(), &st) == 0 ? (long)st.st_size : -1;
    say("wrote " + out + " (" + std::to_string(size) + " bytes)");
    std::string s = report.summary();
    errWrite("msl build: " + s.substr(0, s.find('\n') + 1) + s.substr(s.find('\n') + 1));
  }
  return 0;
}

}  // namespace msl
