// The CPU JIT (codegen/Jit.h): modules compile, run, resolve runtime symbols from the
// explicit table only, and are freed by their ResourceTracker.
#include <gtest/gtest.h>

#include <cmath>

#include <llvm/IR/IRBuilder.h>

#include "codegen/Jit.h"
#include "ir/Diagnostics.h"

using namespace msl::codegen;

namespace {

// float NAME(float x) { return CALLEE(x) + 1 }, or x + 1 without a callee.
void addUnary(llvm::Module& m, const std::string& name, const char* callee) {
  auto& ctx = m.getContext();
  auto* f32 = llvm::Type::getFloatTy(ctx);
  auto* fty = llvm::FunctionType::get(f32, {f32}, false);
  auto* f = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, name, m);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", f));
  llvm::Value* x = f->getArg(0);
  if (callee) x = b.CreateCall(m.getOrInsertFunction(callee, fty), {x});
  b.CreateRet(b.CreateFAdd(x, llvm::ConstantFP::get(f32, 1.0)));
}

using Unary = float (*)(float);

}  // namespace

TEST(Jit, CompilesAndRuns) {
  Jit& jit = Jit::get();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  std::string name = jit.uniqueName("inc");
  auto m = jit.newModule(name, *ctx);
  addUnary(*m, name, nullptr);
  auto rt = jit.add(std::move(m), std::move(ctx), OptLevel::O2);
  auto fn = reinterpret_cast<Unary>(jit.lookup(name));
  ASSERT_NE(fn, nullptr);
  EXPECT_EQ(fn(2.5f), 3.5f);
  // Freed with its tracker: the symbol is gone.
  ASSERT_FALSE((bool)rt->remove());
  EXPECT_EQ(jit.lookup(name), nullptr);
}

TEST(Jit, CallsTheRuntimeTable) {
  Jit& jit = Jit::get();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  std::string name = jit.uniqueName("expinc");
  auto m = jit.newModule(name, *ctx);
  addUnary(*m, name, "expf");
  jit.add(std::move(m), std::move(ctx), OptLevel::O1);
  auto fn = reinterpret_cast<Unary>(jit.lookup(name));
  ASSERT_NE(fn, nullptr);
  EXPECT_EQ(fn(0.5f), std::exp(0.5f) + 1.0f);  // the same expf as eager kernels
}

TEST(Jit, SymbolOutsideTheTableDoesNotLink) {
  Jit& jit = Jit::get();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  std::string name = jit.uniqueName("bad");
  auto m = jit.newModule(name, *ctx);
  addUnary(*m, name, "cbrtf");  // in the process (libm), but not in RuntimeSymbols.def
  jit.add(std::move(m), std::move(ctx), OptLevel::O1);
  try {
    jit.lookup(name);
    ADD_FAILURE() << "linked a symbol outside the runtime table";
  } catch (const msl::InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("cbrtf"), std::string::npos) << e.what();
  }
  EXPECT_EQ(jit.lookup("no_such_function"), nullptr);
}

TEST(Jit, InvalidModuleIsAnInternalError) {
  Jit& jit = Jit::get();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto m = jit.newModule("broken", *ctx);
  auto* fty = llvm::FunctionType::get(llvm::Type::getFloatTy(*ctx), {}, false);
  auto* f = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, "broken", *m);
  llvm::BasicBlock::Create(*ctx, "entry", f);  // no terminator
  EXPECT_THROW(jit.add(std::move(m), std::move(ctx), OptLevel::O1), msl::InternalError);
}
