#include "codegen/Build.h"

#include <llvm/ADT/Triple.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Verifier.h>
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
#include "codegen/KernelGen.h"
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
  int profiled = 0;  // of which only the profile run's record has
};

Plans planProgram(const ir::ProgramImage& p, const CompiledRecord* profile = nullptr) {
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
  // The plans a profile run compiled (prepared clones, graphs made by grad/vmap/jvp)
  // that no graph of the program has (the record's plans were checked when it was read).
  if (profile)
    for (const std::string& text : profile->plans) {
      std::vector<HostOp> plan;
      if (!ir::parseHostPlanText(text, &plan)) throw InternalError("msl build: a recorded plan is corrupt: " + text);
      if (r.index.emplace(text, (int)r.plans.size()).second) {
        r.plans.push_back(std::move(plan));
        r.texts.push_back(text);
        ++r.profiled;
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

// A private constant of `s` (NUL-terminated) named `name`, as a pointer to its first byte.
llvm::Constant* stringConstant(llvm::Module& dest, const std::string& s, const char* name) {
  llvm::LLVMContext& ctx = dest.getContext();
  llvm::Constant* text = llvm::ConstantDataArray::getString(ctx, s);
  auto* gv = new llvm::GlobalVariable(dest, text->getType(), true, llvm::GlobalValue::PrivateLinkage, text, name);
  gv->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  llvm::Constant* zero = llvm::ConstantInt::get(llvm::Type::getInt32Ty(ctx), 0);
  llvm::Constant* idx[] = {zero, zero};
  return llvm::ConstantExpr::getInBoundsGetElementPtr(text->getType(), gv, idx);
}

// A private constant array of `entries` (of type `entryTy`) named `name`, as an i8*.
llvm::Constant* tableOf(llvm::Module& dest, llvm::Type* entryTy, const std::vector<llvm::Constant*>& entries,
                        const char* name) {
  auto* arrTy = llvm::ArrayType::get(entryTy, entries.size());
  auto* gv = new llvm::GlobalVariable(dest, arrTy, true, llvm::GlobalValue::PrivateLinkage,
                                      llvm::ConstantArray::get(arrTy, entries), name);
  return llvm::ConstantExpr::getPointerCast(gv, ptrTo(llvm::Type::getInt8Ty(dest.getContext())));
}

// The module of the compiled code: one function per plan, the fused kernels of the
// profile's record, and the table `msl_aot_code` (runtime/AotCode.h MslAotCode: the
// functions as {plan text, function}, the kernels as {key, function, lanes, non-temporal});
// returns the table's global.
llvm::GlobalVariable* emitCode(llvm::Module& dest, const Plans& plans, const CompiledRecord* profile) {
  llvm::LLVMContext& ctx = dest.getContext();
  for (size_t k = 0; k < plans.plans.size(); ++k) {
    std::unique_ptr<llvm::Module> m = lowerHostPlan(plans.plans[k], functionName((int)k), ctx);
    if (llvm::Linker::linkModules(dest, std::move(m)))
      throw InternalError("msl build: cannot link the code of plan " + plans.texts[k]);
  }
  auto* i8p = ptrTo(llvm::Type::getInt8Ty(ctx));
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* fnTy = llvm::FunctionType::get(i32, {i8p}, false);
  auto* entryTy = llvm::StructType::get(ctx, {i8p, ptrTo(fnTy)});
  std::vector<llvm::Constant*> entries;
  for (size_t k = 0; k < plans.plans.size(); ++k) {
    llvm::Function* f = dest.getFunction(functionName((int)k));
    if (!f) throw InternalError("msl build: no function for plan " + plans.texts[k]);
    f->setLinkage(llvm::GlobalValue::InternalLinkage);
    entries.push_back(llvm::ConstantStruct::get(entryTy, {stringConstant(dest, plans.texts[k], "msl_aot_plan_text"), f}));
  }
  // The kernels, each once per key (the record has one spec per key), grouped by their
  // options (one emission per set of options).
  auto* kernelFnTy = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptrTo(i8p), ptrTo(i8p), i64, i64}, false);
  auto* kernelTy = llvm::StructType::get(ctx, {i8p, ptrTo(kernelFnTy), i32, i32});
  std::vector<llvm::Constant*> kernels;
  if (profile) {
    const bool x86 = llvm::Triple(dest.getTargetTriple()).isX86();
    for (bool fastExp : {false, true}) {
      std::vector<const FusedSpec*> specs;
      std::vector<std::string> names, keys;
      KernelOptions opt;
      opt.fastExp = fastExp;
      for (const CompiledRecord::Kernel& k : profile->kernels) {
        if (k.fastExp != fastExp) continue;
        specs.push_back(&k.spec);
        names.push_back("msl_aot_kernel_" + std::to_string(kernels.size() + specs.size() - 1));
        keys.push_back(kernelKey(k.spec, opt));
      }
      std::vector<int> lanes = emitFusedKernels(dest, specs, names, opt);
      for (size_t i = 0; i < specs.size(); ++i) {
        llvm::Function* f = dest.getFunction(names[i]);
        if (!f) throw InternalError("msl build: no function for kernel " + specs[i]->name);
        f->setLinkage(llvm::GlobalValue::InternalLinkage);
        kernels.push_back(llvm::ConstantStruct::get(
            kernelTy, {stringConstant(dest, keys[i], "msl_aot_kernel_key"), f, llvm::ConstantInt::get(i32, lanes[i]),
                       llvm::ConstantInt::get(i32, lanes[i] > 1 && x86 ? 1 : 0)}));
      }
    }
  }
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(dest, &os)) throw InternalError("msl build: invalid LLVM IR: " + os.str());
  auto* codeTy = llvm::StructType::get(ctx, {i8p, i64, i8p, i64});
  llvm::Constant* code = llvm::ConstantStruct::get(
      codeTy, {tableOf(dest, entryTy, entries, "msl_aot_functions"), llvm::ConstantInt::get(i64, entries.size()),
               kernels.empty() ? llvm::ConstantPointerNull::get(i8p) : tableOf(dest, kernelTy, kernels, "msl_aot_kernels"),
               llvm::ConstantInt::get(i64, kernels.size())});
  return new llvm::GlobalVariable(dest, codeTy, true, llvm::GlobalValue::PrivateLinkage, code, "msl_aot_code");
}

// main(argc, argv) = msl_aot_run(image, size, code, flags, argc, argv).
void emitMain(llvm::Module& m, const std::string& image, llvm::GlobalVariable* code, int flags) {
  llvm::LLVMContext& ctx = m.getContext();
  auto* charPtr = ptrTo(llvm::Type::getInt8Ty(ctx));
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  llvm::IRBuilder<> b(ctx);
  ImageMain im = beginImageMain(m, image, b);
  auto* run = llvm::FunctionType::get(i32, {charPtr, i64, charPtr, i32, i32, ptrTo(charPtr)}, false);
  llvm::Value* tab = b.CreatePointerCast(code, charPtr);
  llvm::Value* rc = b.CreateCall(m.getOrInsertFunction("msl_aot_run", run),
                                 {im.image, llvm::ConstantInt::get(i64, image.size()), tab,
                                  llvm::ConstantInt::get(i32, flags), im.main->getArg(0), im.main->getArg(1)});
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
  if (profiled)
    s += "from the profile run: " + std::to_string(kernels) + " fused kernels and " + std::to_string(profiledPlans) +
         " functions for plans of prepared or run-time graphs\n";
  else
    s += "no profile run: the executable runs without fusion or branch folding (--profile: docs/aot.md)\n";
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

static void fillReport(const ir::ProgramImage& p, const Plans& plans, const CompiledRecord* profile, BuildReport* r) {
  r->modules = (int)p.modules.size();
  r->graphs = (int)plans.graphs.size();
  r->functions = (int)plans.plans.size();
  r->profiled = profile != nullptr;
  r->kernels = profile ? (int)profile->kernels.size() : 0;
  r->profiledPlans = plans.profiled;
  r->runtimeGraphs.clear();
  for (const ir::Module* m : p.modules)
    for (const auto& g : m->graphs())
      for (const ir::Node* n : g->nodes) {
        std::string what;
        if (makesGraphs(n, &what)) r->runtimeGraphs.push_back(placeOf(n->loc) + ": " + what + "(...)");
      }
}

std::string programLlvmText(const ir::ProgramImage& p, const BuildOptions& o) {
  Plans plans = planProgram(p, o.profile);
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = Jit::get().newModule("msl_program", ctx);
  // Kept by the optimiser as main keeps it in an executable.
  emitCode(*m, plans, o.profile)->setLinkage(llvm::GlobalValue::ExternalLinkage);
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
  Plans plans = planProgram(p, o.profile);
  BuildReport local;
  BuildReport& r = report ? *report : local;
  fillReport(p, plans, o.profile, &r);
  say("planned " + std::to_string(r.graphs) + " graphs of " + std::to_string(r.modules) + " modules: " +
      std::to_string(r.functions) + " distinct plans");
  std::string image = ir::serialize(p);
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = Jit::get().newModule("msl_program", ctx);
  llvm::GlobalVariable* code = emitCode(*m, plans, o.profile);
  emitMain(*m, image, code, (o.graphMode ? 1 : 0) | (o.debugNans ? 2 : 0) | (o.profile ? 4 : 0));
  say("compiling " + std::to_string(r.functions) + " functions" +
      (o.profile ? ", " + std::to_string(r.kernels) + " fused kernels" : std::string()) + " and the image (" +
      std::to_string(image.size()) + " bytes) to " + objPath);
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
