// User diagnostics and internal errors.
//
// A user error (bad program, bad input file) is an msl::Error carrying a Diagnostic; the
// driver renders it as LANGUAGE.md section 8 says and exits 1. An internal error (a bug in
// msl) is an msl::InternalError; the driver prints "internal error: ..." and exits 2. C++
// exceptions never escape to the user as text.
#pragma once
#include <exception>
#include <string>
#include <vector>

#include "ir/Source.h"

namespace msl {

enum class DiagId {
#define DIAG(Id, Text) Id,
#include "ir/Diagnostics.def"
#undef DIAG
};

// The catalog text of a message with `{}` placeholders.
const char* diagTemplate(DiagId id);
// Fills the placeholders of `id`'s text with `args` in order.
std::string diagText(DiagId id, const std::vector<std::string>& args);

struct TraceEntry {
  SourceLoc loc;         // where that frame was executing
  std::string function;  // "<module>", a function name, "<lambda>"
};

struct Note {
  SourceLoc loc;
  std::string message;
};

struct Diagnostic {
  DiagId id = DiagId::TypeError;
  std::string message;  // already formatted
  SourceLoc loc;
  std::vector<Note> notes;
  std::vector<TraceEntry> traceback;  // outermost first; empty for static errors
  // The function `loc` is in where no frame runs it yet: an error found while transforming
  // a callee (jvp, grad) before it is called. The traceback ends with (loc, function).
  std::string callee;
};

// Renders "file:line:col: error: msg", the source line, the caret, notes and traceback.
std::string renderDiagnostic(const Diagnostic& d);

class Error : public std::exception {
 public:
  explicit Error(Diagnostic d) : diag(std::move(d)) {}
  const char* what() const noexcept override { return diag.message.c_str(); }
  Diagnostic diag;
};

class InternalError : public std::exception {
 public:
  explicit InternalError(std::string m) : msg(std::move(m)) {}
  const char* what() const noexcept override { return msg.c_str(); }
  std::string msg;
};

// Raise a user error with the catalog message `id` at `loc`.
[[noreturn]] void raise(DiagId id, SourceLoc loc, const std::vector<std::string>& args = {});
// Raise an internal error (a bug in msl).
[[noreturn]] void internalError(const std::string& what);

#define MSL_ASSERT(cond, msg) \
  do { if (!(cond)) ::msl::internalError(std::string(msg) + " (" __FILE__ ")"); } while (0)

}  // namespace msl
