#include "tools/msl/CheckModes.h"

#include <algorithm>

namespace msl {

std::vector<std::string> splitLines(const std::string& s) {
  std::vector<std::string> r;
  size_t a = 0;
  while (a < s.size()) {
    size_t b = s.find('\n', a);
    if (b == std::string::npos) b = s.size();
    r.push_back(s.substr(a, b - a));
    a = b + 1;
  }
  return r;
}

namespace {

// The first line on which x and y differ (0-based), or -1.
long firstDifferentLine(const std::vector<std::string>& x, const std::vector<std::string>& y) {
  size_t n = std::max(x.size(), y.size());
  for (size_t i = 0; i < n; ++i)
    if (i >= x.size() || i >= y.size() || x[i] != y[i]) return long(i);
  return -1;
}

// The offset in `text` of the first character of line `line` that differs from `other`
// (lines before it are the same in both); text.size() when text has no such line.
size_t diffOffset(const std::string& text, const std::string& other, long line) {
  size_t off = 0;
  for (long k = 0; k < line && off < text.size(); ++k) {
    size_t nl = text.find('\n', off);
    off = nl == std::string::npos ? text.size() : nl + 1;
  }
  if (off >= text.size()) return text.size();
  size_t i = off;
  while (i < text.size() && i < other.size() && text[i] == other[i] && text[i] != '\n') ++i;
  return std::min(i, text.size() - 1);
}

std::string locStr(const SourceLoc& l) {
  if (!l.valid()) return "";
  return l.file->name + ":" + std::to_string(l.line) + ":" + std::to_string(l.col);
}

// The place of the print that wrote the character at `off` of r.out ("" if unknown).
std::string printSite(const ModeOutput& r, size_t off) {
  if (off >= r.out.size()) return "";
  std::string site;
  for (const auto& [start, loc] : r.prints)
    if (start <= off) site = locStr(loc);
  return site;
}

std::string ending(const ModeOutput& r) {
  if (r.status == 0) return "exit status 0";
  std::string e = r.err;
  size_t p = e.find(": error: ");
  size_t nl = e.find('\n', p == std::string::npos ? 0 : p);
  // The diagnostic's first line (the program's own stderr lines come before it).
  size_t start = p == std::string::npos ? 0 : e.rfind('\n', p) == std::string::npos ? 0 : e.rfind('\n', p) + 1;
  std::string first = e.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
  return "exit status " + std::to_string(r.status) + (first.empty() ? "" : ": " + first);
}

std::string shown(const std::vector<std::string>& ls, long i) {
  return i < long(ls.size()) ? ls[size_t(i)] : "<end of output>";
}

}  // namespace

std::string describeModeDifference(const ModeOutput& a, const ModeOutput& b, const ModeOutput* again) {
  auto la = splitLines(a.out), lb = splitLines(b.out);
  long line = firstDifferentLine(la, lb);
  std::string r;
  if (line >= 0) {
    std::string sa = printSite(a, diffOffset(a.out, b.out, line)), sb = printSite(b, diffOffset(b.out, a.out, line));
    r = "msl: eager and graph mode differ at output line " + std::to_string(line + 1);
    if (!sa.empty() && sa == sb) r += ", printed at " + sa;
    r += "\n  eager: " + shown(la, line) + (sa.empty() || sa == sb ? "" : "    (printed at " + sa + ")");
    r += "\n  graph: " + shown(lb, line) + (sb.empty() || sa == sb ? "" : "    (printed at " + sb + ")");
    r += "\n";
  } else if (a.err != b.err || a.status != b.status) {
    auto ea = splitLines(a.err), eb = splitLines(b.err);
    long el = firstDifferentLine(ea, eb);
    if (a.status != b.status || el < 0) {
      r = "msl: eager and graph mode print the same output but end differently\n  eager: " + ending(a) +
          "\n  graph: " + ending(b) + "\n";
    } else {
      r = "msl: eager and graph mode differ at standard error line " + std::to_string(el + 1) + "\n  eager: " +
          shown(ea, el) + "\n  graph: " + shown(eb, el) + "\n";
    }
  } else {
    return "";
  }
  if (again) {
    long l2 = firstDifferentLine(la, splitLines(again->out));
    bool sameEnd = again->err == a.err && again->status == a.status;
    if ((l2 >= 0 && (line < 0 || l2 <= line)) || (line < 0 && !sameEnd)) {
      r += "note: a second run in eager mode differs from the first too";
      if (l2 >= 0) r += " (at output line " + std::to_string(l2 + 1) + ")";
      r += ": the program's output is not reproducible (time, files, ...), so this need not be graph mode's fault\n";
    }
  }
  return r;
}

}  // namespace msl
