// The msl parser: source text -> validated SourceFile -> AST (frontend/AST.h).
//
// Parsing runs on a thread with a large stack (frontend/Input.h, limits) so that deeply
// nested input never overflows the caller's stack; errors are msl::Error diagnostics with
// catalog ids, thrown on the caller's thread. Only frontend/Parser.cpp sees ANTLR.
#pragma once
#include <memory>
#include <string>

#include "frontend/AST.h"
#include "ir/Source.h"

namespace msl {
// Reads `path`, validates it (size, UTF-8, NUL) and registers it with the SourceManager.
// Raises FileNotFound (with strerror text) etc.; `from` is where an import asked for it.
const SourceFile* loadSourceFile(const std::string& path, SourceLoc from = {});
// Validates and registers an in-memory text ("<repl>", "<string>", stdlib modules).
const SourceFile* addSourceText(std::string name, std::string text);
// Parses a whole file. Raises msl::Error on the first error.
std::unique_ptr<ast::Module> parseModule(const SourceFile* file);
// For the REPL: is this text a complete input, an incomplete one (open bracket, block
// header ending in ':', unfinished block that needs a blank line, trailing backslash,
// open triple-quoted string), or one that already has an error?
enum class InputState { Complete, Incomplete, Error };
InputState replInputState(const std::string& text);
}  // namespace msl
