// The interactive msl session: `msl` on a terminal, or `msl repl`.
//
// One live module, `__main__`, holds the session: each input is registered as a source
// text named "<repl>" (so diagnostics show its lines, counted within that input), parsed,
// lowered by appending its statements to the module, and run statement by statement.
// Module-level names persist and may be redefined; a statement that completed keeps its
// effects when a later one fails. The value of an expression statement is echoed with
// its repr unless it is None, as Python does.
//
// Line editing, persistent history (~/.msl_history, bounded) and tab completion come from
// libedit's readline-compatible API when stdin and stdout are terminals; otherwise lines
// are read plainly and the prompts go to stderr (as `python -i` does).
//
// Commands (at the `>>> ` prompt): :type EXPR, :ir NAME, :time EXPR, :load FILE, :help,
// :quit. Ctrl-C clears the line being typed or interrupts the running evaluation
// (KeyboardInterrupt, back to the prompt); Ctrl-D at the prompt leaves with status 0;
// exit(n) leaves with status n.
#pragma once
#include <string>

#include "tools/msl/Driver.h"

namespace msl {

// Runs the session until Ctrl-D, :quit or exit(n); returns the process exit status.
// `prog` resolves the session's imports. `graphMode` (--mode=graph): every input's
// statements and the functions they call run as compiled code (runtime/GraphMode.h); a
// redefined function is compiled again on its next call.
int runRepl(Program& prog, bool debugNans = false, bool graphMode = false);

// All of standard input (the program of `echo 'print(1)' | msl`). Raises a diagnostic when
// it cannot be read.
std::string readStdinText();

}  // namespace msl
