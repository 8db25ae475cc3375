#include "tests/progen/AotMode.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include "codegen/Build.h"
#include "frontend/LowerToIR.h"
#include "ir/Diagnostics.h"
#include "runtime/AbstractOf.h"
#include "runtime/Print.h"
#include "tools/msl/Driver.h"

extern char** environ;

namespace msl::progen {

namespace {

const std::string& scratch() {
  static const std::string dir = [] {
    static char tmpl[] = "/tmp/msl_progen_aot_XXXXXX";  // outlives the string (atexit)
    const char* d = mkdtemp(tmpl);
    // The folder and the last program's files go when the process ends.
    if (d) std::atexit([] {
      for (const char* f : {"/prog", "/stderr.txt"}) std::remove((std::string(tmpl) + f).c_str());
      rmdir(tmpl);
    });
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace

namespace {

// The profile run: graph mode with a record, its output (the runtime's and stdio's) sent
// to /dev/null so that the harness compares only the executable's.
codegen::CompiledRecord profileRun(const std::string& name, const std::string& text) {
  codegen::CompiledRecord record;
  fflush(stdout);
  outFlush();
  int saved = dup(1), null = open("/dev/null", O_WRONLY);
  if (saved >= 0 && null >= 0) dup2(null, 1);
  if (null >= 0) close(null);
  (void)runFresh(name, text, /*graph=*/true, &record);  // its failures are the reference's to report
  fflush(stdout);
  outFlush();
  if (saved >= 0) dup2(saved, 1), close(saved);
  return record;
}

RunResult buildAndRun(const std::string& name, const std::string& text, const codegen::CompiledRecord* profile) {
  RunResult r;
  std::string exe = scratch() + "/prog";
  std::string errPath = scratch() + "/stderr.txt";
  // Build, as `msl build` does, from a fresh Program (left as runFresh leaves things).
  builtinsModule();  // made before the mark (runtime/AbstractOf.h RunMark)
  RunMark mark(/*sources=*/true);
  std::string linkLog;
  try {
    Program prog({});
    prog.setStdlibOnly(true);
    ir::Module* main = prog.loadText(name, text);
    codegen::BuildOptions o;
    o.aot.opt = codegen::OptLevel::O1;  // host code: runtime calls; O1 compiles faster
    o.profile = profile;
    linkLog = codegen::buildExecutable(ir::ProgramImage{prog.modules(), main, &builtinsModule(), {}}, exe, o,
                                       nullptr);
  } catch (Error& e) {
    r.status = RunResult::UserError;  // a load error: the build reports it as msl run would
    r.err = renderDiagnostic(e.diag);
  } catch (InternalError& e) {
    r.status = RunResult::Internal;
    r.err = "internal error: msl build: " + e.msg;
  }
  mark.restore();
  if (r.status != RunResult::Ok) return r;
  if (!linkLog.empty()) {
    r.status = RunResult::Internal;
    r.err = "internal error: msl build: linking failed: " + linkLog;
    return r;
  }
  // Run it: stdout is this process's (the harness captures it), stderr a file.
  fflush(stdout);
  outFlush();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  char* argv[] = {const_cast<char*>(exe.c_str()), nullptr};
  pid_t pid;
  int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    r.status = RunResult::Internal;
    r.err = "internal error: cannot start the executable";
    return r;
  }
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.status = RunResult::Timeout;
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::string err = slurp(errPath);
  if (WIFSIGNALED(status)) {
    r.status = RunResult::Internal;
    r.err = "internal error: the executable was killed by signal " + std::to_string(WTERMSIG(status)) + "\n" + err;
    return r;
  }
  int code = WEXITSTATUS(status);
  if (code == 0 && err.empty()) return r;
  if (code == 2 || err.rfind("internal error", 0) == 0) {
    r.status = RunResult::Internal;
    r.err = err;
  } else if (code == 1 && err.rfind("error: out of memory", 0) == 0) {
    r.status = RunResult::OutOfMemory;
  } else if (code == 1 && !err.empty()) {
    r.status = RunResult::UserError;
    r.err = err;
  } else {
    r.status = RunResult::UserError;  // exit(code), as the eager mode reports it
    r.err = "exit(" + std::to_string(code) + ")" + (err.empty() ? "" : "\n" + err);
  }
  return r;
}

}  // namespace

RunResult runAot(const std::string& name, const std::string& text) { return buildAndRun(name, text, nullptr); }

RunResult runAotProfiled(const std::string& name, const std::string& text) {
  codegen::CompiledRecord record = profileRun(name, text);
  return buildAndRun(name, text, &record);
}

}  // namespace msl::progen
