// The CPU JIT (DESIGN.md section 5): one ORC LLJIT per process, for the host CPU.
//
// Every compiled function gets its own LLVM module and ResourceTracker, so that a REPL
// redefinition frees exactly that function's code. Generated code resolves runtime entry
// points only through the explicit table of runtime/RuntimeSymbols.def (never dlsym), so
// an AOT executable links against the same list. Modules are optimised before they are
// compiled: O2 for kernels, O1 for host code.
//
// Internal to codegen/: includes LLVM. Nothing outside codegen/ includes this header.
#pragma once
#include <memory>
#include <string>

#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

namespace llvm::orc {
class LLJIT;
}

namespace msl::codegen {

enum class OptLevel { O0, O1, O2, O3 };

// LLVM 14 has typed pointers: every pointer type of generated code is made here, so moving
// to opaque pointers changes one function.
llvm::PointerType* ptrTo(llvm::Type* elem);

// Runs LLVM's default per-module pipeline at `level`, tuned for `tm` (vector widths, costs).
void optimizeModule(llvm::Module& m, llvm::TargetMachine& tm, OptLevel level);

class Jit {
 public:
  // The process's JIT, created on first use (initialises LLVM's native target).
  static Jit& get();
  ~Jit();

  // A fresh module with this JIT's data layout and target triple.
  std::unique_ptr<llvm::Module> newModule(const std::string& name, llvm::LLVMContext& ctx) const;

  // Optimises `m` at `level`, compiles it into the main dylib under a new ResourceTracker
  // and returns that tracker (remove() it to free the code). Errors in generated code are
  // internal errors: this raises msl::Error (InternalError) with LLVM's message.
  llvm::orc::ResourceTrackerSP add(std::unique_ptr<llvm::Module> m, std::unique_ptr<llvm::LLVMContext> ctx,
                                   OptLevel level);
  // The address of a symbol defined by an added module (nullptr if there is none). When
  // its module fails to link (it calls a symbol outside runtime/RuntimeSymbols.def), this
  // raises InternalError naming the missing symbol.
  void* lookup(const std::string& name);

  // The host target machine (features of this CPU), for cost models and --emit=llvm.
  llvm::TargetMachine& targetMachine() { return *tm_; }
  // Names unique in this process, for functions of one module each ("f.3").
  std::string uniqueName(const std::string& base);

 private:
  Jit();
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::unique_ptr<llvm::TargetMachine> tm_;
  uint64_t counter_ = 0;
  std::string linkError_;  // reported by ORC during the current lookup
};

}  // namespace msl::codegen
