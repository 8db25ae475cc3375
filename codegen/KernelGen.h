// LLVM code for fused elementwise chains (graph mode, DESIGN.md section 5).
//
// A FusedSpec is a small SSA program over one output element: inputs (tensors read at
// their broadcast position, Python numbers), constants, casts and the elementwise
// operations of runtime/KernelsElementwise.cpp with the same dtype rules (codegen/Fusion
// inserts the casts eager kernels make). KernelGen compiles it to the ABI of
// runtime/FusedKernel.h: one loop over contiguous memory (unit or zero input strides, as
// the spec predicts), written as vector code; the runtime's launcher walks rows, strided
// layouts (views, transposes) and partial steps, and the thread pool.
//
// Numerics: arithmetic, comparisons, where, maximum/minimum, casts, sqrt, abs are
// bit-identical to eager kernels (no FP contraction: no FMA is formed from the program's
// multiplies and adds). f32 sigmoid and tanh-form gelu use the eager kernels' own
// vectorisable exp (runtime/MathFns.h expForOnePlus, emitted operation for operation):
// bit-identical, and vector code. log, log1p, tanh, erfc, pow, exp (f32 and f64) call the
// C library, as runtime/MathFns.h does (bit-identical). With KernelOptions::fastExp, f32
// exp (and softplus) uses a vectorisable polynomial instead; its error bound against
// eager is stated in docs/fusion.md and measured by tests/unit/test_codegen_fusion.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/DType.h"
#include "runtime/FusedKernel.h"
#include "runtime/Kernels.h"

namespace llvm {
class Module;
}

namespace msl::codegen {

struct FusedOp {
  enum class Kind : uint8_t { Input, ConstI, ConstF, Cast, Bin, Un, Where };
  Kind kind = Kind::Input;
  DType dt = DType::F32;  // the value's dtype (Input of a Python number: I64 or F64)
  int a = -1, b = -1, c = -1;  // operands (value indices); Input: the input index in a
  BinOp bin = BinOp::Add;      // Bin (comparisons give Bool, operands in their compute dtype)
  UnOp un = UnOp::Neg;         // Un (operand already in the compute dtype)
  int64_t i = 0;               // ConstI (I64)
  double f = 0;                // ConstF (F64)
};

struct FusedSpec {
  std::string name = "fused";
  std::vector<FusedKernel::Input> inputs;
  // Per input: the inner (last) stride the fast loop assumes, 1 or 0 (a broadcast last
  // dimension, a number). Other strides take the strided loop.
  std::vector<int> innerStride;
  std::vector<FusedOp> ops;  // in order; the last one is the result
  DType outDType = DType::F32;
  int outRank = 0;
  // The values written, one output each, all of the loop's shape (empty: the last op
  // alone, of outDType). With more than one, __fused gives a tuple of them.
  std::vector<int> outputs;
  // The in-place variants (runtime/FusedKernel.h), in order of preference: per output,
  // the input whose buffer it is written into, or -1. The kernel has one more contiguous
  // loop per variant, which reads those inputs through the output pointers.
  std::vector<std::vector<int>> inplace;
  // A reduction epilogue (runtime/FusedKernel.h FusedReduce): the one output (f32 or f64)
  // is reduced by the launcher, in eager's order; the loop is the same.
  FusedReduce reduce;
  std::vector<int> outputValues() const { return outputs.empty() ? std::vector<int>{(int)ops.size() - 1} : outputs; }
  std::string text() const;  // one op per line, for messages and tests
};

struct KernelOptions {
  // Vectorisable f32 exp and softplus, not bit-identical to eager (see above). Off in
  // graph mode (codegen/Compiler.h), which prints exactly what eager mode prints.
  bool fastExp = false;
  // Calls moving at least this many bytes (inputs read and outputs written) write their
  // outputs with non-temporal stores (x86; 0: never; -1: the size of this machine's
  // last-level cache). Never changes results.
  int64_t nonTemporalBytes = -1;
  // --emit=llvm: called with the optimised IR of each module of kernels compiled.
  std::function<void(const std::string&)> emit;
};

// LLVM IR of the kernel (optimised as the JIT would when `optimized`).
std::string fusedKernelIR(const FusedSpec& spec, const KernelOptions& opt, bool optimized);
// Emits the kernels of `specs` into `m` as functions named `names` (the kernel ABI of
// runtime/FusedKernel.h); returns each one's FusedKernel::lanes. The JIT's modules and
// `msl build`'s object file (codegen/Build.cpp) are made by it.
std::vector<int> emitFusedKernels(llvm::Module& m, const std::vector<const FusedSpec*>& specs,
                                  const std::vector<std::string>& names, const KernelOptions& opt);
// Compiles the kernel with the JIT and registers it (runtime/FusedKernel.h); returns its id.
int compileFusedKernel(const FusedSpec& spec, const KernelOptions& opt = {});
// A registered kernel without code yet (its id can go into a graph before it is compiled;
// LLVM-free, defined in codegen/FusedSpecIO.cpp).
int reserveFusedKernel(const FusedSpec& spec);
// Compiles the kernels of `ids` (reserved with their specs) as one LLVM module: one
// optimisation pipeline and one JIT materialisation for all the kernels of a graph.
void compileFusedKernels(const std::vector<std::pair<int, const FusedSpec*>>& kernels, const KernelOptions& opt = {});

}  // namespace msl::codegen
