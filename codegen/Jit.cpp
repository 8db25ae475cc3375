#include "codegen/Jit.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Bitcode/BitcodeWriter.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SHA1.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include <ctime>
#include <mutex>

#include "codegen/ObjectCache.h"
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

// Compile times are the compiling thread's CPU time: wall time on a loaded machine says
// little, and compiling is single-threaded.
struct Clock {
  using time_point = double;
  static double now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
  }
};
double msSince(double t0) { return Clock::now() - t0; }

// Bumped when what the cache stores, or how a key is made, changes.
constexpr const char* kCacheFormat = "msl-jit-cache-1";

}  // namespace

llvm::PointerType* ptrTo(llvm::Type* elem) { return llvm::PointerType::getUnqual(elem); }

void optimizeModule(llvm::Module& m, llvm::TargetMachine& tm, OptLevel level) {
  if (level == OptLevel::O0) return;
  // Kernels are generated as vector code already (codegen/KernelGen.cpp). A short IR
  // pipeline (early-cse, instcombine, simplifycfg) changed their machine code by a few
  // instructions and cost a fifth of their compile time; instruction selection's own
  // combining cleans them up. (O2's pipeline was most of their compile time.)
  if (level == OptLevel::Kernel) return;
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
  // Host code is a sequence of runtime calls: FastISel compiles it several times faster
  // than the full instruction selection kernels get, and it runs as fast.
  auto hostJtmb = jtmb;
  hostJtmb.setCodeGenOptLevel(llvm::CodeGenOpt::None);
  hostTm_ = orInternal(hostJtmb.createTargetMachine(), "creating the target machine");
  hostTm_->setFastISel(true);
  jtmb.setCodeGenOptLevel(llvm::CodeGenOpt::Aggressive);
  tm_ = orInternal(jtmb.createTargetMachine(), "creating the target machine");
  // Everything the object code of a module depends on besides the module itself.
  targetId_ = std::string(kCacheFormat) + "|llvm " LLVM_VERSION_STRING "|abi " + std::to_string(msl_rt_abi_version()) +
              "|" + tm_->getTargetTriple().str() + "|" + tm_->getTargetCPU().str() + "|" +
              tm_->getTargetFeatureString().str() + "|reloc " + std::to_string((int)tm_->getRelocationModel()) +
              "|code model " + std::to_string((int)tm_->getCodeModel());
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
  std::string dir = compileCacheDir();
  if (!dir.empty()) cache_ = std::make_shared<ObjectCache>(dir);
}

Jit::~Jit() = default;

std::unique_ptr<llvm::Module> Jit::newModule(const std::string& name, llvm::LLVMContext& ctx) const {
  auto m = std::make_unique<llvm::Module>(name, ctx);
  m->setDataLayout(jit_->getDataLayout());
  m->setTargetTriple(tm_->getTargetTriple().str());
  return m;
}

std::string Jit::cacheKey(llvm::Module& m, OptLevel level) const {
  llvm::SmallVector<char, 0> bitcode;
  llvm::raw_svector_ostream os(bitcode);
  llvm::WriteBitcodeToFile(m, os);
  llvm::SHA1 h;
  h.update(targetId_);
  h.update("|O" + std::to_string((int)level) + "|");
  h.update(llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(bitcode.data()), bitcode.size()));
  return llvm::toHex(h.final(), /*LowerCase=*/true);
}

std::string Jit::keyOfText(const std::string& text, OptLevel level) const {
  llvm::SHA1 h;
  h.update(targetId_);
  h.update("|O" + std::to_string((int)level) + "|text|");
  h.update(text);
  return llvm::toHex(h.final(), /*LowerCase=*/true);
}

llvm::orc::ResourceTrackerSP Jit::add(std::unique_ptr<llvm::Module> m, std::unique_ptr<llvm::LLVMContext> ctx,
                                      OptLevel level) {
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*m, &os)) throw InternalError("generated code is not valid LLVM IR: " + os.str());
  std::shared_ptr<ObjectCache> cache;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cache = cache_;
  }
  // The key is taken before optimisation, so a hit skips the whole pipeline.
  double t0 = Clock::now();
  std::string key = cache ? cacheKey(*m, level) : std::string();
  return addWithKey(key, std::move(m), std::move(ctx), nullptr, level, msSince(t0));
}

llvm::orc::ResourceTrackerSP Jit::addKeyed(const std::string& keyText, const ModuleBuilder& build, OptLevel level) {
  bool cached;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cached = cache_ != nullptr;
  }
  double t0 = Clock::now();
  std::string key = cached ? keyOfText(keyText, level) : std::string();
  return addWithKey(key, nullptr, nullptr, &build, level, msSince(t0));
}

llvm::orc::ResourceTrackerSP Jit::addWithKey(const std::string& key, std::unique_ptr<llvm::Module> m,
                                             std::unique_ptr<llvm::LLVMContext> ctx, const ModuleBuilder* build,
                                             OptLevel level, double keyMs) {
  std::shared_ptr<ObjectCache> cache;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cache = cache_;
  }
  if (key.empty()) cache = nullptr;
  double optMs = 0, codegenMs = 0;
  std::string bytes;
  std::unique_ptr<llvm::MemoryBuffer> obj;
  bool hit = cache && cache->get(key, &bytes);
  if (hit) {
    obj = llvm::MemoryBuffer::getMemBufferCopy(bytes, "cached " + key);
  } else {
    if (!m) {  // addKeyed: built now, checked as add() checks its module
      ctx = std::make_unique<llvm::LLVMContext>();
      m = (*build)(*ctx);
      std::string err;
      llvm::raw_string_ostream os(err);
      if (llvm::verifyModule(*m, &os)) throw InternalError("generated code is not valid LLVM IR: " + os.str());
    }
    std::lock_guard<std::mutex> lock(mu_);  // the target machines are not shared across threads
    double t0 = Clock::now();
    optimizeModule(*m, *tm_, level);
    optMs = msSince(t0);
    t0 = Clock::now();
    llvm::orc::SimpleCompiler compile(level <= OptLevel::O1 ? *hostTm_ : *tm_);
    obj = orInternal(compile(*m), "compiling generated code");
    codegenMs = msSince(t0);
  }
  if (cache && !hit) cache->put(key, obj->getBuffer().str());
  m.reset();
  ctx.reset();
  double t0 = Clock::now();
  auto rt = jit_->getMainJITDylib().createResourceTracker();
  if (llvm::Error e = jit_->addObjectFile(rt, std::move(obj)))
    throw InternalError("adding a module to the JIT: " + errorText(std::move(e)));
  std::lock_guard<std::mutex> lock(mu_);
  stats_.modules++;
  stats_.cacheHits += hit;
  stats_.keyMs += keyMs;
  stats_.optMs += optMs;
  stats_.codegenMs += codegenMs;
  stats_.linkMs += msSince(t0);
  return rt;
}

void* Jit::lookup(const std::string& name) {
  linkError_.clear();
  auto t0 = Clock::now();
  auto sym = jit_->lookup(name);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.linkMs += msSince(t0);
  }
  if (!sym) {
    llvm::consumeError(sym.takeError());
    if (!linkError_.empty()) throw InternalError("linking generated code for " + name + ": " + linkError_);
    return nullptr;  // not defined
  }
  return llvm::jitTargetAddressToPointer<void*>(sym->getAddress());
}

std::string Jit::uniqueName(const std::string& base) {
  std::lock_guard<std::mutex> lock(mu_);
  return base + "." + std::to_string(++counters_[base]);
}

void Jit::setCache(std::shared_ptr<ObjectCache> cache) {
  std::lock_guard<std::mutex> lock(mu_);
  cache_ = std::move(cache);
}

Jit::Stats Jit::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace msl::codegen
