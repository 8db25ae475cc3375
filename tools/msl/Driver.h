// The msl command: loading programs (with their imports), the pipeline stages and the
// sub-commands. main.cpp only parses nothing and calls mslMain.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "frontend/AST.h"
#include "ir/IR.h"
#include "ir/Pipeline.h"

namespace msl {

// Loads a program: the main file and, transitively, every module it imports, parsed and
// lowered before anything runs (syntax, name and import errors come first).
class Program {
 public:
  // Module search path: the importing file's folder, then MSL_PATH's folders, then the
  // standard library built into the binary.
  explicit Program(std::vector<std::string> searchPath);
  // MSL_PATH's folders, in order (empty when it is unset).
  static std::vector<std::string> searchPathFromEnv();
  ir::Module* loadMain(const std::string& path);
  ir::Module* loadText(const std::string& name, const std::string& text);  // "<string>"
  // The REPL (tools/msl/Repl.h): appends the statements of one input to the session's live
  // module `m`, its imports resolved from the input file's folder (the current one for
  // "<repl>"). When this raises, statements already lowered stay appended to m.statements
  // (the REPL cuts them off).
  void extend(ir::Module& m, std::unique_ptr<ast::Module> ast);
  // --print-after / --print-after-all / --time-passes for every module loaded.
  void setPipelineOptions(const ir::PipelineOptions& o) { pipeline_ = o; }
  // Imports find only the standard library built into the binary, never a file (the fuzz
  // harness runs untrusted programs).
  void setStdlibOnly(bool on) { stdlibOnly_ = on; }
  const ast::Module* mainAst() const { return mainAst_; }
  const std::vector<ir::Module*>& modules() const { return order_; }

 private:
  ir::Module* load(const std::string& modName, const SourceFile* file);
  ir::Module* resolve(const std::string& name, const std::string& fromDir, SourceLoc loc, bool required);
  std::vector<std::string> searchPath_;
  std::vector<std::unique_ptr<ir::Module>> owned_;
  std::vector<std::unique_ptr<ast::Module>> asts_;
  std::vector<std::pair<std::string, ir::Module*>> byName_;
  std::vector<std::pair<std::string, SourceLoc>> loading_;  // the import chain, for cycles
  std::vector<ir::Module*> order_;
  const ast::Module* mainAst_ = nullptr;
  ir::PipelineOptions pipeline_;
  bool stdlibOnly_ = false;
};

// Runs the msl command line; returns the process exit code (0, 1 user error, 2 internal).
int mslMain(int argc, char** argv);

}  // namespace msl
