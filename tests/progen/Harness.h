// The differential harness of msl_progen (docs/progen.md): execution modes, a table a new
// mode registers itself in; running one program in a mode in this process, its output
// captured; comparing two modes' results; reducing a failing program.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace msl::progen {

// What one run of a program gave.
struct RunResult {
  enum Status { Ok = 0, UserError = 1, Internal = 2, Timeout = 3, OutOfMemory = 4 };
  Status status = Ok;
  std::string out;  // everything the program printed on stdout
  std::string err;  // the rendered diagnostic (UserError), or the internal error's text
};

// An execution mode: runs the text of a program (named `name` in diagnostics) from a fresh
// state, as `msl run` would, and returns what it printed. It runs on a worker thread with
// a 1 GiB stack, stdout redirected to a capture file, and is asked to stop through
// Interpreter::interruptRequested when its time is up. A mode must leave the process as it
// found it (tables of source files, global ids, interned abstracts: see runEager).
struct Mode {
  std::string name;
  // Printed floats may differ from the reference mode (the first of --modes) by
  // |a - b| <= atol + rtol * |b|; 0 and 0: the output must be identical.
  double rtol = 0, atol = 0;
  std::function<RunResult(const std::string& name, const std::string& text)> run;
};

// The table of modes. "eager" (the interpreter) is always there; graph mode registers
// itself here (registerMode({"graph", rtol, atol, runGraph})) when it is built.
void registerMode(Mode m);
const Mode* findMode(const std::string& name);
std::vector<std::string> modeNames();

// Runs text in mode m on a worker thread, capturing stdout, within timeoutMs.
RunResult runIn(const Mode& m, const std::string& name, const std::string& text, int timeoutMs);

// "" when b (mode mb) agrees with the reference a; otherwise the first difference, in words.
std::string compare(const RunResult& a, const RunResult& b, const Mode& mb);

// A finding about one program run in several modes (the first is the reference): "" when
// there is none. Kinds, each at the start of the text: "internal error in MODE",
// "timeout in MODE", "mismatch between A and B", and, when strict, "user error" (a
// generated program must be well typed) and "non-finite output" (nan or inf printed).
std::string finding(const std::vector<const Mode*>& modes, const std::vector<RunResult>& rs, bool strict);
// The kind of a finding: its text up to the first ':'.
std::string findingKind(const std::string& f);

// Delta debugging: the smallest program found (removing statements with their blocks,
// then replacing a statement's right-hand side by one of its operands) for which
// `interesting` still holds. `interesting(text)` must hold at the start.
std::string reduce(const std::string& text, const std::function<bool(const std::string&)>& interesting,
                   int maxTests = 4000);

}  // namespace msl::progen
