// Fused elementwise kernels (graph mode, DESIGN.md section 5): the runtime half.
//
// codegen/Fusion replaces a chain of elementwise primitives by one `__fused(kernel,
// *args)` node; codegen/KernelGen compiles the chain to machine code. The runtime never
// links LLVM (an AOT executable carries the runtime alone), so the compiled code reaches
// it as a function pointer stored in a FusedKernel registered here (dependency
// inversion): the `kernel` argument of __fused is the id registerFusedKernel returned.
//
// The kernel ABI (extern "C", what generated code implements):
//   void kernel(void* const* in, void* const* out, int64_t n, int64_t nonTemporal)
// computes out[o][j] for every output o and every j < n: one loop over contiguous memory.
// Input k is read at in[k][j] when the kernel's innerStride[k] is 1, and at in[k][0] for
// every j when it is 0 (a tensor broadcast along the row) or the input is a Python number
// (a pointer to an int64_t (int, bool) or a double (float), as the FusedKernel's input
// kinds say). Vector kernels (lanes > 1) compute `lanes` elements a step and take n a
// multiple of lanes; with nonTemporal they store whole vectors non-temporally (the
// outputs must then be 64-byte aligned) and fence before returning.
// The launcher (runFusedKernel) does the rest in C++, so that generated code is small and
// quick to compile: it splits the output over the thread pool, walks rows (the input
// offsets taken apart over the outer dimensions, strides 0 along broadcast dimensions),
// calls the kernel on each row's whole contiguous vectors directly and copies partial
// steps and strided views through small buffers. Every element is computed the same way
// whatever the split, so results do not depend on the thread count.
//
// In place (the buffer plan of codegen/Planner.h): the kernel has variants, each pairing
// outputs with inputs whose buffers they may be written into. The launcher takes the
// first variant whose inputs are all given up at run time (each value and its buffer
// referenced once, runtime-allocated, contiguous, of the output's dtype and shape; the
// interpreter moves values out at their last use), else allocates every output. Element
// j of such an input is read before element j of the outputs is written, and no other
// element of it is read, so the results are the same; the kernel needs no code of its
// own for a variant.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/DType.h"
#include "runtime/Value.h"

extern "C" {
// One call of a kernel as the launcher sees it (the shape after merging dimensions).
struct MslFusedCall {
  int64_t n;               // elements of the output
  int64_t rank;            // >= 1, after merging dimensions that every operand walks alike
  const int64_t* shape;    // [rank]
  void* const* out;        // per output: contiguous, of the output's dtype
  void* const* in;         // per input: the first element (tensor) or the number
  const int64_t* strides;  // [inputs * rank], in elements
  int64_t inplace;         // v > 0: out[o] is the buffer of in[inplace[v - 1][o]] where that is >= 0
};
typedef void (*MslFusedKernelFn)(void* const* in, void* const* out, int64_t n, int64_t nonTemporal);
typedef void (*MslChunkFn)(void* ctx, int64_t begin, int64_t end);
// Calls fn(ctx, begin, end) over [0, n) in chunks whose bounds are multiples of grain, on
// the runtime's thread pool (runtime/Parallel.h).
void msl_rt_parallel_for(int64_t n, int64_t grain, MslChunkFn fn, void* ctx);
}

namespace msl {

// A reduction epilogue (docs/fusion.md, "Reductions"): the kernel's elements (one f32 or
// f64 output of the chain's shape) are not stored but reduced, over all axes or over
// the last one, in the order eager's reduction adds them (runtime/ReduceLoops.h): the
// launcher computes the elements of a row block by block (kNumpyBuffer elements) into a
// buffer and hands each block to eager's own loop. __fused then gives the reduction's
// result, of the reduced shape. Never in place.
struct FusedReduce {
  enum class Op : uint8_t { None, Sum, Mean, Max, Min };
  Op op = Op::None;
  bool lastAxis = false;  // over the last axis; else over all axes
  bool keepdims = false;
  const char* name() const;  // "sum", "mean", "max", "min" (messages)
};

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
  DType outDType = DType::F32;  // of the first output
  int outRank = 0;
  // Several outputs (all of the loop's shape): their dtypes, and __fused gives a tuple.
  // Empty: one output of outDType.
  std::vector<DType> outDTypes;
  // The in-place variants set by the buffer plan: per output, the input whose buffer it
  // takes (-1: a new one).
  std::vector<std::vector<int>> inplace;
  FusedReduce reduce;  // op != None: the elements are reduced (one output)
  MslFusedKernelFn fn = nullptr;  // filled in by codegen, with the three below
  int lanes = 1;                  // elements fn computes a step
  std::vector<int> innerStride;   // per input: the inner stride fn reads a tensor at, 1 or 0
  int64_t nonTemporalBytes = 0;   // calls moving at least this many bytes store non-temporally (0: never)
  uint64_t calls = 0;             // how many times it ran (tests, benchmarks)
  uint64_t inPlaceCalls = 0;      // of which wrote into their inputs' buffers
  // The chain the kernel replaced, as primitive calls, for kernels of differentiated
  // graphs: their inputs are typed by the cotangent convention (a cotangent has its
  // primal's dtype and shape), which a caller of f_vjp or a custom_vjp bwd can break (an
  // f64 cotangent for an f32 output). When an input is not of the kind, dtype or rank in
  // `inputs`, __fused runs these calls by eager kernels instead: the unfused graph's
  // result (docs/fusion.md "Differentiated graphs"). Empty for kernels of specialised
  // clones, whose inputs the signature fixes (a mismatch there is an internal error).
  struct ChainArg {
    int input = -1;  // an input of the kernel, or
    int step = -1;   // an earlier call's value, or
    Value konst;     // a constant
  };
  struct ChainStep {
    Value fn;                            // the primitive
    std::vector<ChainArg> args;          // positional, then keyword arguments
    std::vector<std::string> kwnames;    // of the last args
  };
  std::vector<ChainStep> chain;
  std::vector<int> chainOutputs;  // the steps whose values __fused gives (several: a tuple)
  uint64_t chainCalls = 0;        // calls that ran `chain` (tests)
  size_t numOutputs() const { return outDTypes.empty() ? 1 : outDTypes.size(); }
  DType outputDType(size_t o) const { return outDTypes.empty() ? outDType : outDTypes[o]; }
};

// Fused-kernel calls of the process, and how many of them wrote in place (--stats, tests).
struct FusedStats {
  uint64_t calls = 0, inPlace = 0;
};
FusedStats fusedStats();

// This machine's last-level cache in bytes (32 MiB when unknown): the default of
// FusedKernel::nonTemporalBytes, for kernels compiled by the JIT or ahead of time.
int64_t lastLevelCacheBytes();

// Registers a kernel for the process's lifetime; returns its id (the __fused argument).
int registerFusedKernel(std::unique_ptr<FusedKernel> k);
FusedKernel* fusedKernel(int id);

// Runs kernel `k` on `args` (its inputs): broadcasts the tensor inputs (raising
// ShapeMismatch as eager code would), allocates the outputs and calls k.fn. A tuple of
// the outputs when the kernel has several.
Value runFusedKernel(FusedKernel& k, const std::vector<Value>& args);
// The same, taking the buffers of the inputs of the first of k.inplace's variants that
// `args` gives up (each held only by its Value, as above); its items may be moved from.
Value runFusedKernelConsuming(FusedKernel& k, std::vector<Value>& args);

}  // namespace msl
