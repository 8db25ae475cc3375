// Source files and locations. Every AST node and IR node carries a SourceLoc.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace msl {

// One loaded source text (a file, a REPL input, a string). Owned by the SourceManager and
// never freed while the process lives, so a SourceLoc stays valid everywhere.
struct SourceFile {
  std::string name;   // as shown in diagnostics: the path given, "<repl>", "<string>"
  std::string text;   // validated UTF-8
  std::vector<uint32_t> lineStarts;  // byte offset of each line's first byte
  std::string_view line(uint32_t line1) const;  // 1-based line, without newline
};

// A point in a source file: 1-based line, 1-based column counted in code points.
// file == nullptr means "no location" (internal or generated without origin).
struct SourceLoc {
  const SourceFile* file = nullptr;
  uint32_t line = 0;
  uint32_t col = 0;
  bool valid() const { return file != nullptr && line > 0; }
};

// A half-open range [begin, end) of a source file; `begin` is where carets point.
struct SourceRange {
  SourceLoc begin;
  SourceLoc end;
};

// Process-wide registry of source files.
class SourceManager {
 public:
  static SourceManager& get();
  // Registers a text; computes line starts. Does not validate (see frontend/Input.h).
  const SourceFile* add(std::string name, std::string text);
  // Number of files registered so far, and dropping those registered after the first `n`.
  // Only for a process that runs many independent programs (the fuzz harness,
  // tests/fuzz): it truncates once nothing refers to the later files any more.
  size_t count() const { return files_.size(); }
  void truncate(size_t n) {
    if (n < files_.size()) files_.resize(n);
  }

 private:
  std::vector<std::unique_ptr<SourceFile>> files_;
};

}  // namespace msl
