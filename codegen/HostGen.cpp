#include "codegen/HostGen.h"

#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>

#include <vector>

#include "codegen/Jit.h"
#include "ir/IR.h"
#include "ir/Prim.h"

namespace msl::codegen {

using ir::ConstKind;
using ir::Graph;
using ir::Node;

namespace {

struct Lowering {
  llvm::LLVMContext& ctx;
  llvm::Module& m;
  llvm::IRBuilder<> b;
  llvm::Function* fn = nullptr;
  llvm::Value* frame = nullptr;
  llvm::BasicBlock* failBB = nullptr;
  llvm::BasicBlock* entryBB = nullptr;
  llvm::Type* i32;
  llvm::Type* i64;
  llvm::Type* i8p;

  Lowering(llvm::LLVMContext& ctx, llvm::Module& m)
      : ctx(ctx), m(m), b(ctx), i32(llvm::Type::getInt32Ty(ctx)), i64(llvm::Type::getInt64Ty(ctx)),
        i8p(ptrTo(llvm::Type::getInt8Ty(ctx))) {}

  llvm::FunctionCallee entry(const char* name, std::vector<llvm::Type*> params) {
    auto* ty = llvm::FunctionType::get(i32, params, false);
    llvm::FunctionCallee f = m.getOrInsertFunction(name, ty);
    if (auto* decl = llvm::dyn_cast<llvm::Function>(f.getCallee())) decl->setDoesNotThrow();
    return f;
  }
  llvm::Constant* u32(uint64_t v) { return llvm::ConstantInt::get(i32, v); }
  llvm::BasicBlock* block(const std::string& name) { return llvm::BasicBlock::Create(ctx, name, fn); }

  // Calls an entry point; a negative status leaves the function (the error is pending).
  llvm::Value* call(const char* name, std::vector<llvm::Type*> params, std::vector<llvm::Value*> args) {
    llvm::Value* st = b.CreateCall(entry(name, std::move(params)), args);
    llvm::BasicBlock* ok = block("ok");
    b.CreateCondBr(b.CreateICmpSLT(st, u32(0)), failBB, ok);
    b.SetInsertPoint(ok);
    return st;
  }

  // A stack slot in the entry block (a static frame slot even without optimisation).
  llvm::Value* slot(llvm::Type* ty) {
    llvm::IRBuilder<> eb(entryBB, entryBB->begin());
    return eb.CreateAlloca(ty);
  }

  void step(uint32_t i) { call("msl_rt_step", {i8p, i32}, {frame, u32(i)}); }

  // s = switch(c, then_graph, else_graph); s(): a branch whose arms call the graphs.
  void lowerIf(uint32_t sw, uint32_t callIdx) {
    llvm::Value* t = call("msl_rt_truth", {i8p, i32}, {frame, u32(sw)});
    llvm::BasicBlock* thenBB = block("then");
    llvm::BasicBlock* elseBB = block("else");
    llvm::BasicBlock* join = block("endif");
    b.CreateCondBr(b.CreateICmpNE(t, u32(0)), thenBB, elseBB);
    for (uint32_t arm : {1u, 2u}) {
      b.SetInsertPoint(arm == 1 ? thenBB : elseBB);
      call("msl_rt_call_arm", {i8p, i32, i32, i32}, {frame, u32(sw), u32(callIdx), u32(arm)});
      b.CreateBr(join);
    }
    b.SetInsertPoint(join);
  }

  // while_loop(cond, body, carry): header (interrupt check, condition) -> body -> header.
  void lowerWhile(uint32_t i) {
    llvm::Value* n = slot(i64);
    call("msl_rt_loop_begin", {i8p, i32, ptrTo(i64)}, {frame, u32(i), n});
    llvm::BasicBlock* head = block("while.head");
    llvm::BasicBlock* body = block("while.body");
    llvm::BasicBlock* exit = block("while.exit");
    b.CreateBr(head);
    b.SetInsertPoint(head);
    call("msl_rt_loop_interrupt", {i8p, i32}, {frame, u32(i)});
    llvm::Value* c = call("msl_rt_while_cond", {i8p, i32}, {frame, u32(i)});
    b.CreateCondBr(b.CreateICmpNE(c, u32(0)), body, exit);
    b.SetInsertPoint(body);
    llvm::Value* go = call("msl_rt_loop_body", {i8p, i32, i64}, {frame, u32(i), llvm::ConstantInt::get(i64, 0)});
    b.CreateCondBr(b.CreateICmpNE(go, u32(0)), head, exit);  // the back-edge
    b.SetInsertPoint(exit);
    call("msl_rt_loop_end", {i8p, i32}, {frame, u32(i)});
  }

  // scan(body, iterable, carry): for k in 0..n: interrupt check, body step (it may stop).
  void lowerScan(uint32_t i) {
    llvm::Value* nslot = slot(i64);
    call("msl_rt_loop_begin", {i8p, i32, ptrTo(i64)}, {frame, u32(i), nslot});
    llvm::Value* n = b.CreateLoad(i64, nslot);
    llvm::BasicBlock* pre = b.GetInsertBlock();
    llvm::BasicBlock* head = block("scan.head");
    llvm::BasicBlock* body = block("scan.body");
    llvm::BasicBlock* exit = block("scan.exit");
    b.CreateBr(head);
    b.SetInsertPoint(head);
    llvm::PHINode* k = b.CreatePHI(i64, 2, "k");
    k->addIncoming(llvm::ConstantInt::get(i64, 0), pre);
    b.CreateCondBr(b.CreateICmpSLT(k, n), body, exit);
    b.SetInsertPoint(body);
    call("msl_rt_loop_interrupt", {i8p, i32}, {frame, u32(i)});
    llvm::Value* go = call("msl_rt_loop_body", {i8p, i32, i64}, {frame, u32(i), k});
    llvm::Value* next = b.CreateAdd(k, llvm::ConstantInt::get(i64, 1));
    k->addIncoming(next, b.GetInsertBlock());
    b.CreateCondBr(b.CreateICmpNE(go, u32(0)), head, exit);  // the back-edge
    b.SetInsertPoint(exit);
    call("msl_rt_loop_end", {i8p, i32}, {frame, u32(i)});
  }

  void lower(const std::vector<HostOp>& plan, const std::string& name) {
    auto* fty = llvm::FunctionType::get(i32, {i8p}, false);
    fn = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, name, m);
    fn->setDoesNotThrow();
    frame = fn->getArg(0);
    frame->setName("frame");
    entryBB = block("entry");
    failBB = block("fail");
    b.SetInsertPoint(failBB);
    b.CreateRet(u32(1));
    b.SetInsertPoint(entryBB);
    for (const HostOp& op : plan) {
      switch (op.kind) {
        case HostOp::Step: step(op.i); break;
        case HostOp::If: lowerIf(op.i, op.i + 1); break;
        case HostOp::While: lowerWhile(op.i); break;
        case HostOp::Scan: lowerScan(op.i); break;
      }
    }
    llvm::Value* st = b.CreateCall(entry("msl_rt_return", {i8p}), {frame});
    b.CreateRet(b.CreateSelect(b.CreateICmpSLT(st, u32(0)), u32(1), u32(0)));
    // The failure block goes last, for reading.
    failBB->moveAfter(&fn->back());
  }
};

}  // namespace

std::unique_ptr<llvm::Module> lowerHostPlan(const std::vector<HostOp>& plan, const std::string& fnName,
                                            llvm::LLVMContext& ctx) {
  auto m = Jit::get().newModule(fnName, ctx);
  Lowering low(ctx, *m);
  low.lower(plan, fnName);
  return m;
}

std::unique_ptr<llvm::Module> lowerHostGraph(const Graph* g, const std::string& fnName, llvm::LLVMContext& ctx) {
  return lowerHostPlan(planHostGraph(g), fnName, ctx);
}

}  // namespace msl::codegen
