// AOT (codegen/Aot.h): an object file for x86-64-v3 links with the runtime library into an
// executable that runs without LLVM.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <llvm/IR/IRBuilder.h>

#include "codegen/Aot.h"
#include "process_test_util.h"

using namespace msl::codegen;
using namespace msl::test;

TEST(Aot, ExecutableLinksTheRuntimeAndRuns) {
  std::string dir = tempDir();
  ASSERT_FALSE(dir.empty());
  llvm::LLVMContext ctx;
  auto m = std::make_unique<llvm::Module>("prog", ctx);
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* fmain = llvm::Function::Create(llvm::FunctionType::get(i32, {}, false), llvm::Function::ExternalLinkage, "main", *m);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fmain));
  auto version = m->getOrInsertFunction("msl_rt_abi_version", llvm::FunctionType::get(i32, {}, false));
  b.CreateRet(b.CreateAdd(b.CreateCall(version), llvm::ConstantInt::get(i32, 41)));
  emitObject(*m, dir + "/prog.o", AotOptions{});
  std::string log = linkExecutable({dir + "/prog.o"}, dir + "/prog");
  ASSERT_EQ(log, "");
  int status = 0;
  run(dir + "/prog", &status);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42);  // msl_rt_abi_version() is 1
  // The runtime alone: no LLVM in the executable's libraries.
  std::string libs = run("ldd " + dir + "/prog", &status);
  EXPECT_EQ(libs.find("LLVM"), std::string::npos) << libs;
  std::system(("rm -rf " + dir).c_str());
}

TEST(Aot, LinkErrorsAreReported) {
  std::string dir = tempDir();
  ASSERT_FALSE(dir.empty());
  llvm::LLVMContext ctx;
  auto m = std::make_unique<llvm::Module>("bad", ctx);
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* fmain = llvm::Function::Create(llvm::FunctionType::get(i32, {}, false), llvm::Function::ExternalLinkage, "main", *m);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fmain));
  b.CreateRet(b.CreateCall(m->getOrInsertFunction("msl_rt_no_such_entry", llvm::FunctionType::get(i32, {}, false))));
  emitObject(*m, dir + "/bad.o", AotOptions{});
  std::string log = linkExecutable({dir + "/bad.o"}, dir + "/bad");
  EXPECT_NE(log.find("msl_rt_no_such_entry"), std::string::npos) << log;
  std::system(("rm -rf " + dir).c_str());
}
