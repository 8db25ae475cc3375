#include "codegen/Aot.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Host.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>

#include <array>
#include <cstdio>
#include <memory>

#include "ir/Diagnostics.h"

namespace msl::codegen {

namespace {

std::unique_ptr<llvm::TargetMachine> aotMachine(const AotOptions& o) {
  Jit::get();  // initialises the native target
  std::string triple = llvm::sys::getDefaultTargetTriple();
  std::string err;
  const llvm::Target* t = llvm::TargetRegistry::lookupTarget(triple, err);
  if (!t) throw InternalError("no LLVM target for " + triple + ": " + err);
  std::string cpu = o.cpu == "native" ? llvm::sys::getHostCPUName().str() : o.cpu;
  llvm::TargetOptions to;
  to.AllowFPOpFusion = llvm::FPOpFusion::Strict;  // the same bits as eager kernels
  std::unique_ptr<llvm::TargetMachine> tm(
      t->createTargetMachine(triple, cpu, "", to, llvm::Reloc::PIC_, llvm::None, llvm::CodeGenOpt::Aggressive));
  if (!tm) throw InternalError("cannot create a target machine for CPU " + cpu);
  return tm;
}

}  // namespace

void emitObject(llvm::Module& m, const std::string& path, const AotOptions& o) {
  auto tm = aotMachine(o);
  m.setTargetTriple(tm->getTargetTriple().str());
  m.setDataLayout(tm->createDataLayout());
  optimizeModule(m, *tm, o.opt);
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, llvm::sys::fs::OF_None);
  if (ec) throw InternalError("cannot write " + path + ": " + ec.message());
  llvm::legacy::PassManager pm;
  if (tm->addPassesToEmitFile(pm, out, nullptr, llvm::CGFT_ObjectFile))
    throw InternalError("the target cannot emit object files");
  pm.run(m);
  out.flush();
}

ImageMain beginImageMain(llvm::Module& m, const std::string& image, llvm::IRBuilder<>& b) {
  llvm::LLVMContext& ctx = m.getContext();
  auto* i8 = llvm::Type::getInt8Ty(ctx);
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* data = llvm::ConstantDataArray::getRaw(image, image.size(), i8);
  auto* blob = new llvm::GlobalVariable(m, data->getType(), true, llvm::GlobalValue::PrivateLinkage, data,
                                        "msl_program_image");
  blob->setAlignment(llvm::Align(16));
  auto* fmain = llvm::Function::Create(llvm::FunctionType::get(i32, {i32, ptrTo(ptrTo(i8))}, false),
                                       llvm::Function::ExternalLinkage, "main", m);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fmain));
  return {fmain, b.CreateConstInBoundsGEP2_64(data->getType(), blob, 0, 0)};
}

void emitImageMainObject(const std::string& image, const std::string& path, const AotOptions& o) {
  llvm::LLVMContext ctx;
  llvm::Module m("msl_program", ctx);
  auto* charPtr = ptrTo(llvm::Type::getInt8Ty(ctx));
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  llvm::IRBuilder<> b(ctx);
  ImageMain im = beginImageMain(m, image, b);
  auto* aotMain = llvm::FunctionType::get(i32, {charPtr, i64, i32, ptrTo(charPtr)}, false);
  llvm::Value* rc = b.CreateCall(m.getOrInsertFunction("msl_aot_main", aotMain),
                                 {im.image, llvm::ConstantInt::get(i64, image.size()), im.main->getArg(0), im.main->getArg(1)});
  b.CreateRet(rc);
  emitObject(m, path, o);
}

std::string linkExecutable(const std::vector<std::string>& objects, const std::string& out) {
  // MSL_AOT_CXX and MSL_AOT_LINK come from codegen/CMakeLists.txt: the compiler and the
  // runtime's archives and libraries, in link order, as this build made them.
  std::string cmd = MSL_AOT_CXX;
  for (const std::string& o : objects) cmd += " '" + o + "'";
  cmd += " " MSL_AOT_LINK " -o '" + out + "' 2>&1";
  std::string log;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "cannot run the linker: " + cmd;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) log.append(buf.data(), n);
  int rc = pclose(p);
  if (rc != 0) return log.empty() ? "the linker failed: " + cmd : log;
  return "";
}

}  // namespace msl::codegen
