#include "codegen/Build.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/Linker/Linker.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/Host.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdio>
#include <map>
#include <unistd.h>

#include "codegen/HostGen.h"
#include "codegen/Jit.h"
#include "ir/Diagnostics.h"
#include "ir/HostPlan.h"
#include "ir/IR.h"
#include "ir/Prim.h"

// GCC 12 takes the placement operator new of llvm::User (GlobalVariable's) and the
// operator delete of a failed construction for a mismatched pair: a false positive.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace msl::codegen {

namespace {

std::string placeOf(SourceLoc loc) {
  if (!loc.valid()) return "<no location>";
  return loc.file->name + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.col);
}

// The program's graphs in a fixed order (modules in load order, graphs in creation order),
// each with its plan's text; and the distinct plans, numbered in order of first use.
struct Plans {
  std::vector<std::pair<const ir::Graph*, std::string>> graphs;
  std::map<std::string, int> index;   // plan text -> function number
  std::vector<std::vector<HostOp>> plans;  // by function number
  std::vector<std::string> texts;
};

Plans planProgram(const ir::ProgramImage& p) {
  Plans r;
  for (const ir::Module* m : p.modules)
    for (const auto& g : m->graphs()) {
      std::vector<HostOp> plan = planHostGraph(g.get());
      std::string text = hostPlanText(plan);
      r.graphs.push_back({g.get(), text});
      if (r.index.emplace(text, (int)r.plans.size()).second) {
        r.plans.push_back(std::move(plan));
        r.texts.push_back(text);
      }
    }
  return r;
}

std::string functionName(int k) { return "msl_aot_plan_" + std::to_string(k); }

// Calls of the transforms that make graphs at run time.
bool makesGraphs(const ir::Node* n, std::string* what) {
  if (!n->isApply() || n->inputs.empty()) return false;
  const ir::Node* callee = n->inputs[0];
  while (callee->isPrimApply(Prim::Depend)) callee = callee->inputs[1];
  if (!callee->isConst() || callee->ckind != ir::ConstKind::Prim) return false;
  switch (callee->prim) {
    case Prim::Grad: case Prim::ValueAndGrad: case Prim::Vjp: case Prim::Jacobian: case Prim::Jvp:
    case Prim::Vmap: case Prim::GradCall: case Prim::VmapCall: case Prim::JacobianCall:
      *what = primName(callee->prim);
      return true;
    default: return false;
  }
}

// The module of the compiled code: one function per plan and the table
// `msl_aot_functions` ({plan text, function} per plan); returns the table's global.
llvm::GlobalVariable* emitCode(llvm::Module& dest, const Plans& plans) {
  llvm::LLVMContext& ctx = dest.getContext();
  for (size_t k = 0; k < plans.plans.size(); ++k) {
    std::unique_ptr<llvm::Module> m = lowerHostPlan(plans.plans[k], functionName((int)k), ctx);
    if (llvm::Linker::linkModules(dest, std::move(m)))
      throw InternalError("msl build: cannot link the code of plan " + plans.texts[k]);
  }
  auto* i8p = ptrTo(llvm::Type::getInt8Ty(ctx));
  auto* fnTy = llvm::FunctionType::get(llvm::Type::getInt32Ty(ctx), {i8p}, false);
  auto* entryTy = llvm::StructType::get(ctx, {i8p, ptrTo(fnTy)});
  std::vector<llvm::Constant*> entries;
  for (size_t k = 0; k < plans.plans.size(); ++k) {
    llvm::Constant* text = llvm::ConstantDataArray::getString(ctx, plans.texts[k]);
    auto* gv = new llvm::GlobalVariable(dest, text->getType(), true, llvm::GlobalValue::PrivateLinkage, text,
                                        "msl_aot_plan_text");
    gv->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    llvm::Constant* zero = llvm::ConstantInt::get(llvm::Type::getInt32Ty(ctx), 0);
    llvm::Constant* idx[] = {zero, zero};
    llvm::Function* f = dest.getFunction(functionName((int)k));
    if (!f) throw InternalError("msl build: no function for plan " + plans.texts[k]);
    f->setLinkage(llvm::GlobalValue::InternalLinkage);
    entries.push_back(llvm::ConstantStruct::get(
        entryTy, {llvm::ConstantExpr::getInBoundsGetElementPtr(text->getType(), gv, idx), f}));
  }
  auto* arrTy = llvm::ArrayType::get(entryTy, entries.size());
  return new llvm::GlobalVariable(dest, arrTy, true, llvm::GlobalValue::PrivateLinkage,
                                  llvm::ConstantArray::get(arrTy, entries), "msl_aot_functions");
}

// main(argc, argv) = msl_aot_run(image, size, table, count, flags, argc, argv).
void emitMain(llvm::Module& m, const std::string& image, llvm::GlobalVariable* table, size_t count, int flags) {
  llvm::LLVMContext& ctx = m.getContext();
  auto* charPtr = ptrTo(llvm::Type::getInt8Ty(ctx));
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  llvm::IRBuilder<> b(ctx);
  ImageMain im = beginImageMain(m, image, b);
  auto* run = llvm::FunctionType::get(i32, {charPtr, i64, charPtr, i64, i32, i32, ptrTo(charPtr)}, false);
  llvm::Value* tab = b.CreatePointerCast(table, charPtr);
  llvm::Value* rc = b.CreateCall(m.getOrInsertFunction("msl_aot_run", run),
                                 {im.image, llvm::ConstantInt::get(i64, image.size()), tab,
                                  llvm::ConstantInt::get(i64, count), llvm::ConstantInt::get(i32, flags),
                                  im.main->getArg(0), im.main->getArg(1)});
  b.CreateRet(rc);
}

}  // namespace

bool isValidCpu(const std::string& cpu) {
  if (cpu == "native") return true;
  Jit::get();  // initialises the native target
  std::string triple = llvm::sys::getDefaultTargetTriple();
  std::string err;
  const llvm::Target* t = llvm::TargetRegistry::lookupTarget(triple, err);
  if (!t) return false;
  std::unique_ptr<llvm::MCSubtargetInfo> sti(t->createMCSubtargetInfo(triple, "", ""));
  return sti && sti->isCPUStringValid(cpu);
}

std::string BuildReport::summary() const {
  std::string s = "compiled the host code of " + std::to_string(graphs) + " graphs of " + std::to_string(modules) +
                  " modules as " + std::to_string(functions) + " functions (one per distinct plan)\n";
  if (!runtimeGraphs.empty()) {
    s += "not compiled at build time: the graphs these calls make at run time (they run the compiled code "
         "of their plan when the program has one, else the interpreter; MSL_AOT_REPORT=1 lists them):\n";
    for (const std::string& r : runtimeGraphs) s += "  " + r + "\n";
  }
  return s;
}

std::string programPlanText(const ir::ProgramImage& p) {
  Plans plans = planProgram(p);
  std::string s = "# host code: " + std::to_string(plans.graphs.size()) + " graphs, " +
                  std::to_string(plans.plans.size()) + " functions\n";
  for (const auto& [g, text] : plans.graphs) {
    std::string name = g->qualname.empty() ? g->name : g->qualname;
    s += placeOf(g->loc) + ": " + (name.empty() ? "<graph>" : name) + " -> " + functionName(plans.index[text]) +
         " (plan " + text + ")\n";
  }
  return s;
}

static void fillReport(const ir::ProgramImage& p, const Plans& plans, BuildReport* r) {
  r->modules = (int)p.modules.size();
  r->graphs = (int)plans.graphs.size();
  r->functions = (int)plans.plans.size();
  r->runtimeGraphs.clear();
  for (const ir::Module* m : p.modules)
    for (const auto& g : m->graphs())
      for (const ir::Node* n : g->nodes) {
        std::string what;
        if (makesGraphs(n, &what)) r->runtimeGraphs.push_back(placeOf(n->loc) + ": " + what + "(...)");
      }
}

std::string programLlvmText(const ir::ProgramImage& p, const BuildOptions& o) {
  Plans plans = planProgram(p);
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = Jit::get().newModule("msl_program", ctx);
  // Kept by the optimiser as main keeps it in an executable.
  emitCode(*m, plans)->setLinkage(llvm::GlobalValue::ExternalLinkage);
  // Optimised as emitObject optimises the executable's object (the image and main aside).
  std::string path = "/tmp/msl-emit-" + std::to_string(getpid()) + ".o";
  emitObject(*m, path, o.aot);
  std::remove(path.c_str());
  std::string text;
  llvm::raw_string_ostream os(text);
  m->print(os, nullptr);
  return os.str();
}

void emitProgramObject(const ir::ProgramImage& p, const std::string& objPath, const BuildOptions& o,
                       BuildReport* report) {
  auto say = [&](const std::string& s) {
    if (o.progress) o.progress(s);
  };
  Plans plans = planProgram(p);
  BuildReport local;
  BuildReport& r = report ? *report : local;
  fillReport(p, plans, &r);
  say("planned " + std::to_string(r.graphs) + " graphs of " + std::to_string(r.modules) + " modules: " +
      std::to_string(r.functions) + " distinct plans");
  std::string image = ir::serialize(p);
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = Jit::get().newModule("msl_program", ctx);
  llvm::GlobalVariable* table = emitCode(*m, plans);
  emitMain(*m, image, table, plans.plans.size(), (o.graphMode ? 1 : 0) | (o.debugNans ? 2 : 0));
  say("compiling " + std::to_string(r.functions) + " functions and the image (" + std::to_string(image.size()) +
      " bytes) to " + objPath);
  emitObject(*m, objPath, o.aot);
}

std::string buildExecutable(const ir::ProgramImage& p, const std::string& out, const BuildOptions& o,
                            BuildReport* report) {
  std::string obj = out + ".o";
  emitProgramObject(p, obj, o, report);
  if (o.progress) o.progress("linking " + out);
  std::string err = linkExecutable({obj}, out);
  std::remove(obj.c_str());
  return err;
}

}  // namespace msl::codegen
