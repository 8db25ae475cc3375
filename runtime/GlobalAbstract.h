// For graph passes that resolve calls at compile time (codegen/FoldBranches.h
// `dropKnownCalls`): while the interpreter prepares a graph for graph mode
// (GraphCompiler::prepare, called by Interpreter::codeFor), the abstract of a module-level
// variable's current value, as the specialisation's inference sees it
// (InferHooks::globalValue). nullptr outside prepare.
#pragma once

namespace msl {

namespace ir {
struct Abstract;
struct GlobalVar;
}  // namespace ir

const ir::Abstract* preparingGlobalAbstract(const ir::GlobalVar* gv);

}  // namespace msl
