// LLVM code for fused elementwise chains (graph mode, DESIGN.md section 5).
//
// A FusedSpec is a small SSA program over one output element: inputs (tensors read at
// their broadcast position, Python numbers), constants, casts and the elementwise
// operations of runtime/KernelsElementwise.cpp with the same dtype rules (codegen/Fusion
// inserts the casts eager kernels make). KernelGen compiles it to the ABI of
// runtime/FusedKernel.h: a loop over the output in chunks on the thread pool; per row a
// contiguous inner loop (unit or zero input strides, as the spec predicts) that LLVM
// vectorises, and a strided fallback for other layouts (views, transposes).
//
// Numerics: arithmetic, comparisons, where, maximum/minimum, casts, sqrt, abs are
// bit-identical to eager kernels (no FP contraction: no FMA is formed). log, log1p, tanh,
// erfc, pow and f64 exp call the C library, as runtime/MathFns.h does (bit-identical).
// With KernelOptions::fastExp, f32 exp (and sigmoid, gelu, softplus built on it) uses a
// vectorisable polynomial instead; its error bound against eager is stated in
// docs/fusion.md and measured by tests/unit/test_codegen_fusion.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/DType.h"
#include "runtime/FusedKernel.h"
#include "runtime/Kernels.h"

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
  std::string text() const;  // one op per line, for messages and tests
};

struct KernelOptions {
  bool fastExp = true;  // vectorisable f32 exp (see above)
};

// LLVM IR of the kernel (optimised as the JIT would when `optimized`).
std::string fusedKernelIR(const FusedSpec& spec, const KernelOptions& opt, bool optimized);
// Compiles the kernel with the JIT and registers it (runtime/FusedKernel.h); returns its id.
int compileFusedKernel(const FusedSpec& spec, const KernelOptions& opt = {});

}  // namespace msl::codegen
