// Lowering of the AST into IR graphs (see ir/IR.h for the node and control-flow forms).
//
// Name binding (LANGUAGE.md section 2):
//   * a name assigned anywhere in a function body (or a parameter) is local to it; reading it
//     on a path that never assigned it is an error (statically when no path assigns it,
//     at run time through check_bound when only some paths do);
//   * a nested def/lambda reads enclosing locals as free variables: their values when it is
//     created (a def's own name is visible inside it, for recursion);
//   * any other name is a module-level name, looked up when used (global_get), or a built-in;
//     a name that is none of these is an error before anything runs.
// Every value update (x[i] = v, m.w = v, l.append(v)) rebinds the variable to the updated
// value returned by a functional primitive.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "frontend/AST.h"
#include "ir/IR.h"

namespace msl {

// Maps an import name ("helper", "optim.adam") to its lowered module, loading it on first
// use. When `required` and the module cannot be found it raises ModuleNotFound at `loc`;
// otherwise it returns nullptr. It raises ImportCycle itself.
using ImportResolver = std::function<ir::Module*(const std::string& name, SourceLoc loc, bool required)>;

// Values the runtime provides as module-level names in every module (argv, stdout, ...).
ir::Module& builtinsModule();

// Appends the statements of `ast` to `m` (a new module, or the REPL's live module).
void lowerModule(const ast::Module& ast, ir::Module& m, const ImportResolver& resolve);

}  // namespace msl
