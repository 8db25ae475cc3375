// bench/run.sh fused: the fused kernel of bench/fused.msl's f against the eager
// interpreter running the same f, in one process on the same inputs.
//   msl_fused_bench bench/fused.msl N REPS
//   msl_fused_bench bench/fused.msl --emit-llvm     the fused kernel's optimised LLVM IR
//   msl_fused_bench bench/fused.msl N REPS --fused-only   no eager runs (for profilers)
// This binary does what graph mode (--mode=graph, jit) does for f, with graph mode's
// fusion options (HostCompiler::fusionOptions): specialise it to its argument types, run
// codegen/Fusion on the clone (the chain becomes one __fused node compiled by the JIT)
// and call f through the interpreter, which now runs the fused graph. Prints wall and CPU
// time per call (median and min over REPS after a warm-up), page faults per fused call
// after the first round, the kernel's compile time and the largest difference from eager
// (0: graph mode computes eager's bits; docs/fusion.md). Compile times are CPU times of the compiling thread with the compile
// cache off (a cold compile; the cache would otherwise hand back last run's object code),
// without the JIT's one-time start-up, which is printed apart (jit_init_ms).
// FUSED_BENCH_NT_BYTES sets KernelOptions::nonTemporalBytes (A/B runs). FUSED_BENCH_FN
// names the function timed instead of f (its inputs from FN_inputs(n) when the file has
// it, else inputs(n)); FUSED_BENCH_NO_REDUCE=1 leaves reductions to eager kernels (the
// chain before them still fused: FusionOptions::reductions off). GB/s count the tensor
// arguments read and the result written once.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <sys/resource.h>

#include "codegen/Compiler.h"
#include "codegen/Fusion.h"
#include "codegen/Jit.h"
#include "frontend/LowerToIR.h"
#include "runtime/AbstractOf.h"
#include "runtime/FusedKernel.h"
#include "runtime/Interpreter.h"
#include "runtime/Tensor.h"
#include "tools/msl/Driver.h"

using namespace msl;

namespace {

double wallNow() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double cpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double threadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + 1e-6 * (double)ts.tv_nsec;
}
long minorFaults() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

struct Timing {
  double wallMed, wallMin, cpuMed;
};

template <class F>
Timing timeIt(int reps, F f) {
  f();  // warm-up
  std::vector<double> w, c;
  for (int i = 0; i < reps; ++i) {
    double w0 = wallNow(), c0 = cpuNow();
    f();
    c.push_back(cpuNow() - c0);
    w.push_back(wallNow() - w0);
  }
  std::sort(w.begin(), w.end());
  std::sort(c.begin(), c.end());
  return {w[w.size() / 2] * 1e3, w[0] * 1e3, c[c.size() / 2] * 1e3};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s fused.msl [N] [REPS]\n", argv[0]);
    return 2;
  }
  bool emit = argc > 2 && std::strcmp(argv[2], "--emit-llvm") == 0;
  int64_t n = emit ? 1024 : argc > 2 ? std::atoll(argv[2]) : 16777216;
  int reps = argc > 3 ? std::atoi(argv[3]) : 5;
  bool fusedOnly = argc > 4 && std::strcmp(argv[4], "--fused-only") == 0;
  try {
    Program prog({});
    ir::Module* m = prog.loadMain(argv[1]);
    Interpreter eager, fused;
    for (Interpreter* it : {&eager, &fused}) {
      it->setArgv({argv[1], "--lib"});
      it->global(builtinsModule().findGlobal("argv")->id) = makeList({makeStr(argv[1]), makeStr("--lib")});
    }
    eager.runModule(m);
    fused.runModule(m);
    const char* fnEnv = std::getenv("FUSED_BENCH_FN");
    const std::string fnName = fnEnv && *fnEnv ? fnEnv : "f";
    if (!m->findGlobal(fnName)) {
      std::fprintf(stderr, "error: %s has no function %s\n", argv[1], fnName.c_str());
      return 2;
    }
    const std::string insName = m->findGlobal(fnName + "_inputs") ? fnName + "_inputs" : "inputs";
    Value f = eager.global(m->findGlobal(fnName)->id);
    Value ins = eager.call(eager.global(m->findGlobal(insName)->id), {Value::integer(n)});
    std::vector<Value> args = ins.as<TupleObj>()->items;

    // Specialise f as the interpreter will, fuse, compile.
    const ClosureObj* cl = f.as<ClosureObj>();
    std::vector<const ir::Abstract*> abs;
    for (const Value& v : args) abs.push_back(abstractOf(v));
    double t0 = threadCpuMs();
    codegen::Jit& jit = codegen::Jit::get();  // LLVM's start-up, once per process
    double jitInitMs = threadCpuMs() - t0;
    jit.setCache(nullptr);  // a cold compile
    codegen::Jit::Stats s0 = jit.stats();
    t0 = threadCpuMs();
    ir::Graph* g = fused.specializer().get(cl->graph, abs, {});
    codegen::FusionOptions fo = codegen::HostCompiler().fusionOptions();  // graph mode's
    if (const char* nt = std::getenv("FUSED_BENCH_NT_BYTES")) fo.kernel.nonTemporalBytes = std::atoll(nt);  // A/B runs
    if (const char* nr = std::getenv("FUSED_BENCH_NO_REDUCE")) fo.reductions = std::atoi(nr) == 0;
    codegen::FusionStats st = codegen::fuseElementwise(*g->module, g, fo);
    double compileMs = threadCpuMs() - t0;
    codegen::Jit::Stats s1 = jit.stats();
    Value ff = fused.global(m->findGlobal(fnName)->id);
    if (emit) {
      for (const ir::Node* x : g->nodes)
        if (x->isPrimApply(Prim::Fused))
          std::fputs(codegen::fusedKernelIR(*codegen::fusedSpecOf((int)x->inputs[1]->i), fo.kernel, true).c_str(), stdout);
      return 0;
    }

    // The LLVM part again, REPS more times on the kernel's spec (a new module each time):
    // the median is steadier than one compile on a busy machine.
    std::vector<double> llvmMs;
    const codegen::FusedSpec* spec = nullptr;
    for (const ir::Node* x : g->nodes)
      if (x->isPrimApply(Prim::Fused)) spec = codegen::fusedSpecOf((int)x->inputs[1]->i);
    for (int i = 0; spec && i < reps; ++i) {
      double c0 = threadCpuMs();
      codegen::compileFusedKernel(*spec, fo.kernel);
      llvmMs.push_back(threadCpuMs() - c0);
    }
    std::sort(llvmMs.begin(), llvmMs.end());

    Value re, rf;
    // Alternate eager and fused, REPS times each.
    std::vector<Timing> te, tf;
    long faults = 0, fusedCalls = 0;
    for (int i = 0; i < 3; ++i) {
      if (!fusedOnly) te.push_back(timeIt(reps, [&] { re = eager.call(f, args); }));
      tf.push_back(timeIt(reps, [&] {
        long f0 = minorFaults();
        rf = fused.call(ff, args);
        if (i > 0) {  // (the first round's first calls touch the output buffers' pages once)
          faults += minorFaults() - f0;
          ++fusedCalls;
        }
      }));
    }
    if (fusedOnly) re = eager.call(f, args);  // for the difference only
    auto best = [](std::vector<Timing>& v) {
      std::sort(v.begin(), v.end(), [](const Timing& a, const Timing& b) { return a.wallMed < b.wallMed; });
      return v[v.size() / 2];
    };
    Timing fu = best(tf);
    const Tensor& a = re.as<TensorObj>()->t;
    const Tensor& b = rf.as<TensorObj>()->t;
    // fused.msl's chain ends with "+ x", which cancels: the difference from eager is
    // measured relative to the size of what is added (docs/fusion.md); elsewhere relative
    // to eager's value.
    const Tensor& x = args[0].as<TensorObj>()->t;
    const bool addsX = a.numel() == x.numel();
    double rel = 0;
    bool bitsEqual = a.dtype() == b.dtype() && a.shape() == b.shape() &&
                     std::memcmp(a.contiguous().data(), b.contiguous().data(), (size_t)a.numel() * dtypeSize(a.dtype())) == 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      double ea = a.ptr<float>()[i], fb = b.ptr<float>()[i];
      rel = std::max(rel, std::fabs(ea - fb) / ((addsX ? std::fabs((double)x.ptr<float>()[i]) : 0.0) + std::fabs(ea) + 1e-30));
    }
    double bytes = (double)a.numel() * (double)dtypeSize(a.dtype());  // the tensor arguments read, the result written
    for (const Value& v : args)
      if (v.is(VKind::Tensor)) bytes += (double)v.as<TensorObj>()->t.numel() * (double)dtypeSize(v.as<TensorObj>()->t.dtype());
    std::printf("kernels %d fused_ops %d compile_ms %.2f reductions %d\n", st.kernels, st.fusedOps, compileMs, st.reductions);
    std::printf("compile_parts jit_init_ms %.2f llvm_opt_ms %.2f llvm_codegen_ms %.2f link_ms %.2f\n", jitInitMs,
                s1.optMs - s0.optMs, s1.codegenMs - s0.codegenMs, s1.linkMs - s0.linkMs);
    if (!llvmMs.empty())
      std::printf("recompile_ms %.2f (median of %zu, min %.2f)\n", llvmMs[llvmMs.size() / 2], llvmMs.size(), llvmMs[0]);
    std::printf("fused_ms %.3f %.3f fused_cpu_ms %.3f fused_GBps %.2f\n", fu.wallMed, fu.wallMin, fu.cpuMed,
                bytes / (fu.wallMed * 1e-3) / 1e9);
    std::printf("fused_page_faults_per_call %.1f\n", fusedCalls ? (double)faults / (double)fusedCalls : 0.0);
    if (!fusedOnly) {
      Timing e = best(te);
      std::printf("eager_ms %.3f %.3f eager_cpu_ms %.3f eager_GBps %.2f\n", e.wallMed, e.wallMin, e.cpuMed,
                  bytes / (e.wallMed * 1e-3) / 1e9);
    }
    std::printf("max_rel_diff_vs_eager %.3g (f32 eps %.3g)\n", rel, 0x1p-23);
    std::printf("bits_equal_eager %d\n", bitsEqual ? 1 : 0);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const InternalError& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
