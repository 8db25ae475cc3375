// The CPU JIT (DESIGN.md section 5): one ORC LLJIT per process, for the host CPU.
//
// Every compiled function gets its own LLVM module and ResourceTracker, so that a REPL
// redefinition frees exactly that function's code. Generated code resolves runtime entry
// points only through the explicit table of runtime/RuntimeSymbols.def (never dlsym), so
// an AOT executable links against the same list. Modules are optimised and compiled to
// object code when they are added: kernels (O2, O3) by LLVM's optimisation pipeline and
// its full instruction selection; host code (O0, O1) with FastISel (docs/graph_mode.md).
// The object code is kept in the persistent compile cache (codegen/ObjectCache.h) when one
// is configured, keyed by the module before optimisation, so the next run of a program
// only links it.
//
// Internal to codegen/: includes LLVM. Nothing outside codegen/ includes this header.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

namespace llvm::orc {
class LLJIT;
}

namespace msl::codegen {

class ObjectCache;

// Kernel: code generated as vector code already (codegen/KernelGen): no IR pipeline (O2's
// found nothing to improve there and took most of the compile time), then the full
// instruction selection O2 and O3 get.
enum class OptLevel { O0, O1, O2, O3, Kernel };

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

  // Optimises `m` at `level`, compiles it to object code (or takes that from the compile
  // cache), adds it to the main dylib under a new ResourceTracker and returns that tracker
  // (remove() it to free the code). Errors in generated code are internal errors: this
  // raises msl::Error (InternalError) with LLVM's message.
  llvm::orc::ResourceTrackerSP add(std::unique_ptr<llvm::Module> m, std::unique_ptr<llvm::LLVMContext> ctx,
                                   OptLevel level);
  // The same for a module that `build` makes only when it must be compiled: the cache key
  // is made from `keyText` (with the target and `level`), which must determine the module
  // completely, instead of from the module's bitcode. A hit neither builds nor hashes it.
  using ModuleBuilder = std::function<std::unique_ptr<llvm::Module>(llvm::LLVMContext&)>;
  llvm::orc::ResourceTrackerSP addKeyed(const std::string& keyText, const ModuleBuilder& build, OptLevel level);
  // The address of a symbol defined by an added module (nullptr if there is none). When
  // its module fails to link (it calls a symbol outside runtime/RuntimeSymbols.def), this
  // raises InternalError naming the missing symbol.
  void* lookup(const std::string& name);

  // The host target machine (features of this CPU), for cost models and --emit=llvm.
  llvm::TargetMachine& targetMachine() { return *tm_; }
  // Names unique in this process, for functions of one module each: "f.3" is the third
  // name made from "f" (numbered per base, so that a name, and the cache key of its module,
  // does not depend on what else the program compiled before).
  std::string uniqueName(const std::string& base);

  // The persistent compile cache (nullptr: none). The JIT starts with the one of
  // compileCacheDir() (codegen/ObjectCache.h); tests install their own.
  void setCache(std::shared_ptr<ObjectCache> cache);
  ObjectCache* cache() const { return cache_.get(); }

  // Where compile time went, over the process (for msl run --stats and the benchmarks).
  struct Stats {
    int modules = 0;    // added
    int cacheHits = 0;  // of them, object code from the cache
    double keyMs = 0;      // hashing modules for the cache
    double optMs = 0;      // LLVM's IR optimisation
    double codegenMs = 0;  // instruction selection to object code
    double linkMs = 0;     // adding objects and looking symbols up (linking)
  };
  Stats stats() const;

 private:
  Jit();
  std::string cacheKey(llvm::Module& m, OptLevel level) const;
  std::string keyOfText(const std::string& text, OptLevel level) const;
  // Compiles m (cache key `key`, "" when there is no cache) or takes its object code from
  // the cache, and links it.
  llvm::orc::ResourceTrackerSP addWithKey(const std::string& key, std::unique_ptr<llvm::Module> m,
                                          std::unique_ptr<llvm::LLVMContext> ctx, const ModuleBuilder* build,
                                          OptLevel level, double keyMs);
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::unique_ptr<llvm::TargetMachine> tm_;      // kernels: full instruction selection
  std::unique_ptr<llvm::TargetMachine> hostTm_;  // host code: CodeGenOpt::None (FastISel)
  std::string targetId_;  // triple, CPU, features, LLVM and runtime ABI versions (cache keys)
  std::shared_ptr<ObjectCache> cache_;
  mutable std::mutex mu_;  // the target machines, counters and stats
  std::unordered_map<std::string, uint64_t> counters_;
  Stats stats_;
  std::string linkError_;  // reported by ORC during the current lookup
};

}  // namespace msl::codegen
