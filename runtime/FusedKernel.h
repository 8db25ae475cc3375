// Fused elementwise kernels (graph mode, DESIGN.md section 5): the runtime half.
//
// codegen/Fusion replaces a chain of elementwise primitives by one `__fused(kernel,
// *args)` node; codegen/KernelGen compiles the chain to machine code. The runtime never
// links LLVM (an AOT executable carries the runtime alone), so the compiled code reaches
// it as a function pointer stored in a FusedKernel registered here (dependency
// inversion): the `kernel` argument of __fused is the id registerFusedKernel returned.
//
// The kernel ABI (extern "C", what generated code implements):
//   void kernel(const MslFusedCall* call)
// computes out[i] for every i < call->n of the contiguous output, reading input k at
// element offset sum_d idx_d * strides[k * rank + d] from in[k] (strides are 0 along
// broadcast dimensions). Python-number inputs are passed as a pointer to an int64_t
// (int, bool) or a double (float), as the FusedKernel's input kinds say. The kernel
// splits [0, n) with msl_rt_parallel_for; every element is computed the same way
// whatever the split, so results do not depend on the thread count.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/DType.h"
#include "runtime/Value.h"

extern "C" {
struct MslFusedCall {
  int64_t n;               // elements of the output
  int64_t rank;            // >= 1, after merging dimensions that every operand walks alike
  const int64_t* shape;    // [rank]
  void* out;               // contiguous output of the kernel's dtype
  void* const* in;         // per input: the first element (tensor) or the number
  const int64_t* strides;  // [inputs * rank], in elements
};
typedef void (*MslFusedKernelFn)(const MslFusedCall* call);
typedef void (*MslChunkFn)(void* ctx, int64_t begin, int64_t end);
// Calls fn(ctx, begin, end) over [0, n) in chunks whose bounds are multiples of grain, on
// the runtime's thread pool (runtime/Parallel.h).
void msl_rt_parallel_for(int64_t n, int64_t grain, MslChunkFn fn, void* ctx);
}

namespace msl {

struct FusedKernel {
  // What each argument after the kernel id must be.
  enum class In : uint8_t { Tensor, Int, Float };
  struct Input {
    In kind = In::Tensor;
    DType dtype = DType::F32;  // Tensor: its dtype
    int rank = 0;              // Tensor: its rank
  };
  std::string name;
  std::vector<Input> inputs;
  DType outDType = DType::F32;
  int outRank = 0;
  MslFusedKernelFn fn = nullptr;  // filled in by codegen
  uint64_t calls = 0;             // how many times it ran (tests, benchmarks)
};

// Registers a kernel for the process's lifetime; returns its id (the __fused argument).
int registerFusedKernel(std::unique_ptr<FusedKernel> k);
FusedKernel* fusedKernel(int id);

// Runs kernel `k` on `args` (its inputs): broadcasts the tensor inputs (raising
// ShapeMismatch as eager code would), allocates the output and calls k.fn.
Value runFusedKernel(FusedKernel& k, const std::vector<Value>& args);

}  // namespace msl
