#include "ir/Diagnostics.h"

#include <algorithm>

namespace msl {

const char* diagTemplate(DiagId id) {
  switch (id) {
#define DIAG(Id, Text) case DiagId::Id: return Text;
#include "ir/Diagnostics.def"
#undef DIAG
  }
  return "?";
}

std::string diagText(DiagId id, const std::vector<std::string>& args) {
  std::string t = diagTemplate(id), out;
  size_t a = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '{' && i + 1 < t.size() && t[i + 1] == '}') {
      out += a < args.size() ? args[a] : std::string("?");
      ++a;
      ++i;
    } else {
      out += t[i];
    }
  }
  return out;
}

static void appendLocation(std::string& out, SourceLoc loc) {
  if (!loc.valid()) return;
  out += loc.file->name + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.col);
}

// The source line and a caret under column `col` (code points), indented by 4.
static void appendSnippet(std::string& out, SourceLoc loc) {
  if (!loc.valid()) return;
  std::string_view line = loc.file->line(loc.line);
  out += "    ";
  out += line;
  out += "\n    ";
  uint32_t cp = 1;
  for (size_t i = 0; i < line.size() && cp < loc.col; ++i) {
    unsigned char c = line[i];
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    out += c == '\t' ? '\t' : ' ';
    ++cp;
  }
  while (cp < loc.col) { out += ' '; ++cp; }
  out += "^\n";
}

std::string renderDiagnostic(const Diagnostic& d) {
  std::string out;
  if (d.loc.valid()) {
    appendLocation(out, d.loc);
    out += ": ";
  }
  out += "error: " + d.message + "\n";
  appendSnippet(out, d.loc);
  for (const Note& n : d.notes) {
    if (n.loc.valid()) { appendLocation(out, n.loc); out += ": "; }
    out += "note: " + n.message + "\n";
    appendSnippet(out, n.loc);
  }
  if (!d.traceback.empty()) {
    out += "Traceback (most recent call last):\n";
    // As Python does, a run of identical entries (deep recursion) shows its first three
    // and then how many more there were.
    auto same = [](const TraceEntry& a, const TraceEntry& b) {
      return a.function == b.function && a.loc.file == b.loc.file && a.loc.line == b.loc.line && a.loc.col == b.loc.col;
    };
    for (size_t i = 0; i < d.traceback.size();) {
      size_t run = 1;
      while (i + run < d.traceback.size() && same(d.traceback[i], d.traceback[i + run])) ++run;
      for (size_t k = 0; k < std::min<size_t>(run, 3); ++k) {
        out += "  ";
        appendLocation(out, d.traceback[i].loc);
        out += " in " + d.traceback[i].function + "\n";
      }
      if (run > 3) out += "  [Previous line repeated " + std::to_string(run - 3) + " more times]\n";
      i += run;
    }
  }
  return out;
}

void raise(DiagId id, SourceLoc loc, const std::vector<std::string>& args) {
  Diagnostic d;
  d.id = id;
  d.message = diagText(id, args);
  d.loc = loc;
  throw Error(std::move(d));
}

void internalError(const std::string& what) { throw InternalError(what); }

}  // namespace msl
