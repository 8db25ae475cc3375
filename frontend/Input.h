// Validation of source text before ANTLR sees it, and the frontend's documented limits
// (docs/limits.md). Everything here raises msl::Error with a catalog id and a location.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ir/Source.h"

namespace msl {

// The frontend's limits. docs/limits.md documents them; tests check them.
namespace limits {
// Largest source file (or in-memory text) accepted, in bytes.
inline constexpr size_t kMaxSourceBytes = size_t(16) << 20;
// Most tokens in one source text (keeps parser memory bounded).
inline constexpr size_t kMaxTokens = size_t(1) << 20;
// Most levels of open brackets plus indented blocks at any point.
inline constexpr unsigned kMaxNesting = 256;
// Deepest syntax tree (expression and statement nodes on one root-to-leaf path). Passes
// after the parser may recurse over the AST with this bound on an ordinary stack.
inline constexpr unsigned kMaxSyntaxDepth = 1000;
// The parser runs on a thread with kParserStackBytes of stack and stops with the
// "nested too deeply" diagnostic after using kParserStackBudget of it: a safety net under
// the limits above, which input reaches long before.
inline constexpr size_t kParserStackBytes = size_t(512) << 20;
inline constexpr size_t kParserStackBudget = size_t(32) << 20;
}  // namespace limits

// Checks `text` (size, UTF-8, NUL), normalises line ends (CRLF and CR become LF), drops a
// leading UTF-8 byte order mark, and registers the result with the SourceManager. On an
// error the text is still registered (invalid bytes replaced by U+FFFD) so that the
// diagnostic can show the line and point at the bad byte (line:col, col in code points).
const SourceFile* registerCheckedSource(std::string name, std::string text);

// Reads a whole file. Raises FileNotFound (with the system's reason) at `from` when it
// cannot be opened or is a directory, FileTooLarge when it exceeds the limit.
std::string readSourceFile(const std::string& path, SourceLoc from);

// True when `text` is well-formed UTF-8 without NUL bytes (what registerCheckedSource
// accepts, size aside).
bool isWellFormedSource(std::string_view text);

// Number of code points in a UTF-8 string (continuation bytes are not counted).
size_t countCodePoints(std::string_view utf8);

}  // namespace msl
