#include "codegen/Jit.h"

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include <mutex>

#include "ir/Diagnostics.h"
#include "runtime/RuntimeAbi.h"

namespace msl::codegen {

namespace {

std::string errorText(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

template <class T>
T orInternal(llvm::Expected<T> v, const char* what) {
  if (!v) throw InternalError(std::string(what) + ": " + errorText(v.takeError()));
  return std::move(*v);
}

}  // namespace

llvm::PointerType* ptrTo(llvm::Type* elem) { return llvm::PointerType::getUnqual(elem); }

void optimizeModule(llvm::Module& m, llvm::TargetMachine& tm, OptLevel level) {
  if (level == OptLevel::O0) return;
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions pto;
  pto.LoopVectorization = level >= OptLevel::O2;
  pto.SLPVectorization = level >= OptLevel::O2;
  llvm::PassBuilder pb(&tm, pto);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::OptimizationLevel ol = level == OptLevel::O1   ? llvm::OptimizationLevel::O1
                               : level == OptLevel::O2 ? llvm::OptimizationLevel::O2
                                                       : llvm::OptimizationLevel::O3;
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(ol);
  mpm.run(m, mam);
}

Jit& Jit::get() {
  static Jit* jit = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return new Jit();  // lives for the process: compiled code may run until exit
  }();
  return *jit;
}

Jit::Jit() {
  auto jtmb = orInternal(llvm::orc::JITTargetMachineBuilder::detectHost(), "detecting the host CPU");
  jtmb.setCodeGenOptLevel(llvm::CodeGenOpt::Aggressive);
  tm_ = orInternal(jtmb.createTargetMachine(), "creating the target machine");
  jit_ = orInternal(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(jtmb)).create(), "creating the JIT");
  // Link errors (a symbol outside the runtime table) are kept for lookup() to raise,
  // instead of being printed by ORC.
  jit_->getExecutionSession().setErrorReporter([this](llvm::Error e) { linkError_ += errorText(std::move(e)); });
  // The runtime's entry points, and nothing else from the process.
  llvm::orc::SymbolMap syms;
  size_t n = 0;
  const RuntimeSymbol* table = runtimeSymbols(&n);
  for (size_t i = 0; i < n; ++i)
    syms[jit_->mangleAndIntern(table[i].name)] =
        llvm::JITEvaluatedSymbol(llvm::pointerToJITTargetAddress(table[i].addr), llvm::JITSymbolFlags::Exported);
  if (llvm::Error e = jit_->getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(syms))))
    throw InternalError("defining the runtime symbols: " + errorText(std::move(e)));
}

Jit::~Jit() = default;

std::unique_ptr<llvm::Module> Jit::newModule(const std::string& name, llvm::LLVMContext& ctx) const {
  auto m = std::make_unique<llvm::Module>(name, ctx);
  m->setDataLayout(jit_->getDataLayout());
  m->setTargetTriple(tm_->getTargetTriple().str());
  return m;
}

llvm::orc::ResourceTrackerSP Jit::add(std::unique_ptr<llvm::Module> m, std::unique_ptr<llvm::LLVMContext> ctx,
                                      OptLevel level) {
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*m, &os)) throw InternalError("generated code is not valid LLVM IR: " + os.str());
  optimizeModule(*m, *tm_, level);
  auto rt = jit_->getMainJITDylib().createResourceTracker();
  if (llvm::Error e = jit_->addIRModule(rt, llvm::orc::ThreadSafeModule(std::move(m), std::move(ctx))))
    throw InternalError("adding a module to the JIT: " + errorText(std::move(e)));
  return rt;
}

void* Jit::lookup(const std::string& name) {
  linkError_.clear();
  auto sym = jit_->lookup(name);
  if (!sym) {
    llvm::consumeError(sym.takeError());
    if (!linkError_.empty()) throw InternalError("linking generated code for " + name + ": " + linkError_);
    return nullptr;  // not defined
  }
  return llvm::jitTargetAddressToPointer<void*>(sym->getAddress());
}

std::string Jit::uniqueName(const std::string& base) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  return base + "." + std::to_string(++counter_);
}

}  // namespace msl::codegen
