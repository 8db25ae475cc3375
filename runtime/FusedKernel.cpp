// The runtime half of fused kernels (runtime/FusedKernel.h): the registry, the launcher
// behind __fused (which walks rows and calls the generated loop), and msl_rt_parallel_for.
#include "runtime/FusedKernel.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

#include <unistd.h>

#include "runtime/Kernels.h"
#include "runtime/Parallel.h"
#include "runtime/PrimImpl.h"
#include "runtime/ReduceLoops.h"
#include "runtime/Tensor.h"

extern "C" void msl_rt_parallel_for(int64_t n, int64_t grain, MslChunkFn fn, void* ctx) {
  msl::parallelFor(n, grain, [&](int64_t b, int64_t e) { fn(ctx, b, e); });
}

namespace msl {

namespace {
std::mutex gKernelsMu;

// The loop around a kernel's code (runtime/FusedKernel.h): elements [begin, end) of the
// output, row by row of the merged last dimension.
struct Drive {
  const FusedKernel* k;
  const MslFusedCall* call;
  bool nonTemporal;  // the call moves more bytes than the last-level cache holds
};

// Elements of a buffered step: a vector kernel computes `lanes` (<= kStep) of them.
constexpr int64_t kStep = 16;

inline void copyElem(void* dst, const void* src, size_t size) {
  switch (size) {
    case 1: *(uint8_t*)dst = *(const uint8_t*)src; break;
    case 2: std::memcpy(dst, src, 2); break;
    case 4: std::memcpy(dst, src, 4); break;
    case 8: std::memcpy(dst, src, 8); break;
    default: std::memcpy(dst, src, size);
  }
}

// Elements [begin, end) of the output; element i of output o is written at out[o] +
// (i - origin) elements (the call's outputs: origin 0; a reduction's block buffer:
// origin begin).
void driveRange(const Drive& dr, int64_t begin, int64_t end, void* const* out, int64_t origin) {
  const FusedKernel& k = *dr.k;
  const MslFusedCall& c = *dr.call;
  const size_t nin = k.inputs.size(), nout = k.numOutputs();
  const int64_t rank = c.rank, inner = c.shape[rank - 1], lanes = k.lanes;
  // Per input: element size, inner stride (tensors); whether every tensor is read at the
  // inner stride the kernel assumes (else every step goes through the buffers), and
  // whether one it reads once per row varies along it (then one element a step).
  std::vector<size_t> esz(nin, 0), osz(nout);
  std::vector<int64_t> sIn(nin, 0);
  bool direct = true, oneByOne = false;
  for (size_t i = 0; i < nin; ++i) {
    if (k.inputs[i].kind != FusedKernel::In::Tensor) continue;
    esz[i] = dtypeSize(k.inputs[i].dtype);
    sIn[i] = c.strides[(int64_t)i * rank + rank - 1];
    if (sIn[i] != k.innerStride[i]) {
      direct = false;
      if (k.innerStride[i] == 0) oneByOne = true;
    }
  }
  for (size_t o = 0; o < nout; ++o) osz[o] = dtypeSize(k.outputDType(o));
  // Buffers of one step (zeroed: lanes past a row's end compute on numbers, not garbage).
  std::vector<uint64_t> buf((nin + nout) * kStep, 0);
  std::vector<void*> bufIn(nin), bufOut(nout), rowIn(nin), rowOut(nout);
  for (size_t i = 0; i < nin; ++i)
    bufIn[i] = k.inputs[i].kind == FusedKernel::In::Tensor ? (void*)&buf[i * kStep] : c.in[i];
  for (size_t o = 0; o < nout; ++o) bufOut[o] = &buf[(nin + o) * kStep];
  for (int64_t i = begin; i < end;) {
    const int64_t row = i / inner, col = i - row * inner;
    const int64_t len = std::min(inner - col, end - i);
    for (size_t a = 0; a < nin; ++a) {
      if (k.inputs[a].kind != FusedKernel::In::Tensor) {
        rowIn[a] = c.in[a];
        continue;
      }
      int64_t off = col * sIn[a], r = row;
      for (int64_t d = rank - 2; d >= 0; --d) {
        const int64_t q = r / c.shape[d];
        off += (r - q * c.shape[d]) * c.strides[(int64_t)a * rank + d];
        r = q;
      }
      rowIn[a] = (char*)c.in[a] + off * (int64_t)esz[a];
    }
    bool aligned = true;
    for (size_t o = 0; o < nout; ++o) {
      rowOut[o] = (char*)out[o] + (i - origin) * (int64_t)osz[o];
      aligned = aligned && ((uintptr_t)rowOut[o] & 63) == 0;
    }
    int64_t j = 0;
    if (direct) {
      const int64_t whole = len / lanes * lanes;
      if (whole > 0) {
        const bool nt = dr.nonTemporal && aligned;
        k.fn(rowIn.data(), rowOut.data(), whole, nt);
        j = whole;
      }
    }
    // The rest of the row through the buffers, at the inputs' strides.
    const int64_t step = oneByOne ? 1 : kStep;
    for (; j < len; j += step) {
      const int64_t count = std::min(step, len - j);
      for (size_t a = 0; a < nin; ++a)
        if (esz[a])
          for (int64_t l = 0; l < count; ++l)
            copyElem((char*)bufIn[a] + l * (int64_t)esz[a], (const char*)rowIn[a] + (j + l) * sIn[a] * (int64_t)esz[a], esz[a]);
      k.fn(bufIn.data(), bufOut.data(), lanes > 1 ? lanes : count, 0);
      for (size_t o = 0; o < nout; ++o)
        std::memcpy((char*)rowOut[o] + j * (int64_t)osz[o], bufOut[o], (size_t)count * osz[o]);
    }
    i += len;
  }
}

void driveChunk(void* ctx, int64_t begin, int64_t end) {
  const Drive& dr = *static_cast<const Drive*>(ctx);
  driveRange(dr, begin, end, dr.call->out, 0);
}

// A reduction epilogue (FusedReduce): O rows of R elements each (the chain's elements in
// row-major order), reduced into q[0..O) as eager's reduce() reduces a contiguous row
// (runtime/ReduceLoops.h): the elements of a row are computed a block of kNumpyBuffer
// at a time (whole rows, several to a buffer, when they are shorter) into a buffer, each
// block is reduced by eager's loop, and the blocks' results are combined in order (a
// sum from 0). Blocks are fixed by R alone and the combination happens after the
// parallel part, in order: the same bits for every thread count.
template <class T> void reduceRows(const Drive& dr, FusedReduce::Op op, int64_t O, int64_t R, T* q) {
  const bool sum = op == FusedReduce::Op::Sum || op == FusedReduce::Op::Mean, isMax = op == FusedReduce::Op::Max;
  auto block = [&](const T* b, int64_t len) -> T {
    return sum ? pairwiseSum(b, len) : isMax ? extremeRow<T, true>(b, len) : extremeRow<T, false>(b, len);
  };
  auto combine = [&](T acc, T part) { return sum ? acc + part : isMax ? maxOf(acc, part) : minOf(acc, part); };
  auto first = [&](T part) { return sum ? T(0) + part : part; };  // (eager: 0 + the first block's sum)
  if (O == 0) return;
  if (R == 0) {  // (max and min raised before)
    for (int64_t o = 0; o < O; ++o) q[o] = T(0);
    return;
  }
  constexpr int64_t B = kNumpyBuffer;
  if (R <= B) {
    const int64_t rows = std::max<int64_t>(1, B / R), units = (O + rows - 1) / rows;
    parallelFor(units, 1, [&](int64_t lo, int64_t hi) {
      std::unique_ptr<T[]> buf(new T[(size_t)(rows * R)]);
      void* out[1] = {buf.get()};
      for (int64_t u = lo; u < hi; ++u) {
        const int64_t o0 = u * rows, o1 = std::min(O, o0 + rows);
        driveRange(dr, o0 * R, o1 * R, out, o0 * R);
        for (int64_t o = o0; o < o1; ++o) q[o] = first(block(buf.get() + (o - o0) * R, R));
      }
    }, O * R);
    return;
  }
  const int64_t blocks = (R + B - 1) / B;
  std::unique_ptr<T[]> part(new T[(size_t)(O * blocks)]);
  parallelFor(O * blocks, 1, [&](int64_t lo, int64_t hi) {
    std::unique_ptr<T[]> buf(new T[(size_t)B]);
    void* out[1] = {buf.get()};
    for (int64_t u = lo; u < hi; ++u) {
      const int64_t o = u / blocks, b = u - o * blocks;
      const int64_t begin = o * R + b * B, end = o * R + std::min(R, (b + 1) * B);
      driveRange(dr, begin, end, out, begin);
      part[u] = block(buf.get(), end - begin);
    }
  }, O * R);
  for (int64_t o = 0; o < O; ++o) {
    T acc = first(part[o * blocks]);
    for (int64_t b = 1; b < blocks; ++b) acc = combine(acc, part[o * blocks + b]);
    q[o] = acc;
  }
}

std::vector<std::unique_ptr<FusedKernel>>& kernels() {
  static auto* v = new std::vector<std::unique_ptr<FusedKernel>>();  // compiled code may run until exit
  return *v;
}
}  // namespace

int64_t lastLevelCacheBytes() {
  static const int64_t llc = [] {
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    long c = l3 > 0 ? l3 : l2 > 0 ? l2 : 0;
    return c > 0 ? (int64_t)c : (int64_t)32 << 20;
  }();
  return llc;
}

int registerFusedKernel(std::unique_ptr<FusedKernel> k) {
  std::lock_guard<std::mutex> lock(gKernelsMu);
  kernels().push_back(std::move(k));
  return (int)kernels().size() - 1;
}

FusedKernel* fusedKernel(int id) {
  std::lock_guard<std::mutex> lock(gKernelsMu);
  if (id < 0 || (size_t)id >= kernels().size()) return nullptr;
  return kernels()[(size_t)id].get();
}

namespace {
std::atomic<uint64_t> gCalls{0}, gInPlace{0};

// The dimensions of a call's output (of `shape`), merged where every operand walks them
// as one (the contiguous inner loop becomes as long as possible), and per input its
// strides over them (MslFusedCall's shape and strides).
struct Merged {
  std::vector<int64_t> shape, strides;
  Merged(const Shape& shape, const std::vector<const Tensor*>& tensors);
};

Merged::Merged(const Shape& shape, const std::vector<const Tensor*>& tensors) {
  const size_t nin = tensors.size();
  const int rank = (int)shape.size();
  std::vector<std::vector<int64_t>> st(nin, std::vector<int64_t>((size_t)rank, 0));
  for (size_t i = 0; i < nin; ++i)
    if (tensors[i]) {
      Shape b = broadcastStrides(*tensors[i], shape);
      for (int d = 0; d < rank; ++d) st[i][(size_t)d] = shape[(size_t)d] == 1 ? 0 : b[(size_t)d];
    }
  std::vector<int64_t> cshape;
  std::vector<std::vector<int64_t>> cst(nin);
  for (int d = 0; d < rank; ++d) {
    int64_t sz = shape[(size_t)d];
    if (sz == 1) continue;
    bool merge = !cshape.empty();
    for (size_t i = 0; i < nin && merge; ++i)
      if (cst[i].back() != st[i][(size_t)d] * sz) merge = false;
    if (merge) {
      cshape.back() *= sz;
      for (size_t i = 0; i < nin; ++i) cst[i].back() = st[i][(size_t)d];
    } else {
      cshape.push_back(sz);
      for (size_t i = 0; i < nin; ++i) cst[i].push_back(st[i][(size_t)d]);
    }
  }
  if (cshape.empty()) {
    cshape.push_back(1);
    for (size_t i = 0; i < nin; ++i) cst[i].push_back(0);
  }
  const size_t crank = cshape.size();
  strides.resize(nin * crank);
  for (size_t i = 0; i < nin; ++i)
    for (size_t d = 0; d < crank; ++d) strides[i * crank + d] = cst[i][d];
  this->shape = std::move(cshape);
}

// A kernel with a reduction epilogue on the chain's elements, of `shape`.
Value launchReduce(FusedKernel& k, const Shape& shape, const std::vector<void*>& ptrs,
                   const std::vector<const Tensor*>& tensors) {
  const FusedReduce& red = k.reduce;
  const int rank = (int)shape.size();
  std::vector<int> axes;
  if (red.lastAxis) {
    if (rank == 0) internalError("__fused: " + k.name + " reduces the last axis of a 0-d tensor");
    axes.push_back(rank - 1);
  } else {
    for (int d = 0; d < rank; ++d) axes.push_back(d);
  }
  const int64_t n = numel(shape), R = red.lastAxis ? shape.back() : n;
  int64_t O = 1;
  if (red.lastAxis)
    for (int d = 0; d < rank - 1; ++d) O *= shape[(size_t)d];
  if (red.op == FusedReduce::Op::Max || red.op == FusedReduce::Op::Min) checkExtremeNotEmpty(R, red.name());
  Tensor out = Tensor::empty(k.outDType, reducedShape(shape, axes, red.keepdims));
  ++k.calls;
  ++gCalls;
  Merged mg(shape, tensors);
  void* outPtr = nullptr;  // (the elements go to the reduction's buffers, never here)
  MslFusedCall call{n, (int64_t)mg.shape.size(), mg.shape.data(), &outPtr, ptrs.data(), mg.strides.data(), 0};
  Drive dr{&k, &call, false};
  if (k.outDType == DType::F32) reduceRows<float>(dr, red.op, O, R, out.ptr<float>());
  else if (k.outDType == DType::F64) reduceRows<double>(dr, red.op, O, R, out.ptr<double>());
  else internalError("__fused: " + k.name + " reduces a " + dtypeName(k.outDType) + " chain");
  if (red.op == FusedReduce::Op::Mean) out = meanFromSum(out, R, k.outDType);
  return makeTensor(std::move(out));
}

// The launcher; `consume`: args may be given up (runFusedKernelConsuming).
Value launch(FusedKernel& k, std::vector<Value>* mut, const std::vector<Value>& args) {
  if (args.size() != k.inputs.size() || !k.fn) internalError("__fused: kernel " + k.name + " called wrongly");
  const size_t nin = args.size();
  // Argument checks: the graph was specialised to these kinds, dtypes and ranks.
  std::vector<int64_t> ints(nin);
  std::vector<double> floats(nin);
  std::vector<void*> ptrs(nin, nullptr);
  std::vector<const Tensor*> tensors(nin, nullptr);
  Shape shape;
  const Tensor* first = nullptr;
  for (size_t i = 0; i < nin; ++i) {
    const FusedKernel::Input& in = k.inputs[i];
    const Value& v = args[i];
    switch (in.kind) {
      case FusedKernel::In::Tensor: {
        if (!v.is(VKind::Tensor)) internalError("__fused: " + k.name + " expects a tensor input");
        const Tensor& t = v.as<TensorObj>()->t;
        if (t.dtype() != in.dtype || t.ndim() != in.rank) internalError("__fused: " + k.name + " input of another type");
        tensors[i] = &t;
        ptrs[i] = t.data();
        if (!first) {
          first = &t;
          shape = t.shape();
        } else if (t.shape() != shape) {
          Shape b;
          if (!broadcastShapes(shape, t.shape(), &b)) raiseShapeMismatch(shape, t.shape(), "broadcast");
          shape = b;
        }
        break;
      }
      case FusedKernel::In::Int:
        if (v.is(VKind::Int)) ints[i] = v.asInt();
        else if (v.is(VKind::Bool)) ints[i] = v.asBool();
        else internalError("__fused: " + k.name + " expects an int input");
        ptrs[i] = &ints[i];
        break;
      case FusedKernel::In::Float:
        if (!v.is(VKind::Float)) internalError("__fused: " + k.name + " expects a float input");
        floats[i] = v.asFloat();
        ptrs[i] = &floats[i];
        break;
    }
  }
  if ((int)shape.size() != k.outRank) {  // rank-0 tensors broadcast up to the output's rank
    if ((int)shape.size() > k.outRank) internalError("__fused: " + k.name + " output rank");
    shape.insert(shape.begin(), (size_t)(k.outRank - (int)shape.size()), 1);
  }
  if (k.reduce.op != FusedReduce::Op::None) return launchReduce(k, shape, ptrs, tensors);
  // The outputs: the buffers of the first in-place variant whose inputs are all given up,
  // else new ones.
  const size_t nout = k.numOutputs();
  int variant = -1;
  for (size_t v = 0; mut && v < k.inplace.size() && variant < 0; ++v) {
    const std::vector<int>& al = k.inplace[v];
    bool ok = al.size() == nout;
    for (size_t o = 0; o < nout && ok; ++o) {
      int a = al[o];
      if (a < 0) continue;
      if ((size_t)a >= nin || !tensors[(size_t)a]) {
        ok = false;
        break;
      }
      const Value& val = args[(size_t)a];
      const Tensor& t = *tensors[(size_t)a];
      ok = val.unique() && reusable(t) && t.isContiguous() && t.dtype() == k.outputDType(o) && t.shape() == shape;
      for (size_t p = 0; p < o && ok; ++p)  // (one buffer per output)
        if (al[p] == a) ok = false;
    }
    if (ok) variant = (int)v;
  }
  std::vector<Value> outs(nout);
  std::vector<void*> outPtrs(nout, nullptr);
  for (size_t o = 0; o < nout; ++o) {
    int a = variant >= 0 ? k.inplace[(size_t)variant][o] : -1;
    if (a >= 0) outs[o] = std::move((*mut)[(size_t)a]);  // the tensor lives on in outs[o]
    else outs[o] = makeTensor(Tensor::empty(k.outputDType(o), shape));
    outPtrs[o] = outs[o].as<TensorObj>()->t.data();
  }
  const bool inplace = variant >= 0;
  const int64_t n = numel(shape);
  ++k.calls;
  ++gCalls;
  if (inplace) {
    ++k.inPlaceCalls;
    ++gInPlace;
  }
  auto result = [&]() -> Value { return k.outDTypes.empty() ? std::move(outs[0]) : makeTuple(std::move(outs)); };
  if (n == 0) return result();
  Merged mg(shape, tensors);
  MslFusedCall call{n, (int64_t)mg.shape.size(), mg.shape.data(), outPtrs.data(), ptrs.data(), mg.strides.data(), variant + 1};
  int64_t perElem = 0;  // bytes moved per element of the output (broadcast inputs counted in full)
  for (size_t i = 0; i < nin; ++i)
    if (tensors[i]) perElem += (int64_t)dtypeSize(k.inputs[i].dtype);
  for (size_t o = 0; o < nout; ++o) perElem += (int64_t)dtypeSize(k.outputDType(o));
  Drive dr{&k, &call, k.nonTemporalBytes > 0 && n * perElem >= k.nonTemporalBytes};
  msl_rt_parallel_for(n, 1024, driveChunk, &dr);
  return result();
}
}  // namespace

const char* FusedReduce::name() const {
  switch (op) {
    case Op::Sum: return "sum";
    case Op::Mean: return "mean";
    case Op::Max: return "max";
    case Op::Min: return "min";
    default: return "none";
  }
}

FusedStats fusedStats() { return FusedStats{gCalls.load(), gInPlace.load()}; }

Value runFusedKernel(FusedKernel& k, const std::vector<Value>& args) { return launch(k, nullptr, args); }
Value runFusedKernelConsuming(FusedKernel& k, std::vector<Value>& args) { return launch(k, &args, args); }



namespace {
// Whether args are of the kinds, dtypes and ranks k was made for.
bool inputsFit(const FusedKernel& k, const std::vector<Value>& args) {
  if (args.size() != k.inputs.size()) return false;
  for (size_t i = 0; i < args.size(); ++i) {
    const FusedKernel::Input& in = k.inputs[i];
    const Value& v = args[i];
    switch (in.kind) {
      case FusedKernel::In::Tensor:
        if (!v.is(VKind::Tensor) || v.as<TensorObj>()->t.dtype() != in.dtype || v.as<TensorObj>()->t.ndim() != in.rank)
          return false;
        break;
      case FusedKernel::In::Int:
        if (!v.is(VKind::Int) && !v.is(VKind::Bool)) return false;
        break;
      case FusedKernel::In::Float:
        if (!v.is(VKind::Float)) return false;
        break;
    }
  }
  return true;
}

// The chain k replaced, by eager kernels (FusedKernel::chain).
Value runChain(CallContext& cx, FusedKernel& k, const std::vector<Value>& args) {
  ++k.chainCalls;
  std::vector<Value> vals(k.chain.size());
  for (size_t s = 0; s < k.chain.size(); ++s) {
    const FusedKernel::ChainStep& st = k.chain[s];
    const size_t npos = st.args.size() - st.kwnames.size();
    std::vector<Value> pos;
    std::vector<std::pair<std::string, Value>> kw;
    for (size_t a = 0; a < st.args.size(); ++a) {
      const FusedKernel::ChainArg& x = st.args[a];
      Value v = x.input >= 0 ? args[(size_t)x.input] : x.step >= 0 ? vals[(size_t)x.step] : x.konst;
      if (a < npos) pos.push_back(std::move(v));
      else kw.push_back({st.kwnames[a - npos], std::move(v)});
    }
    vals[s] = cx.call(st.fn, std::move(pos), std::move(kw));
  }
  if (k.chainOutputs.size() == 1) return vals[(size_t)k.chainOutputs[0]];
  std::vector<Value> outs;
  for (int o : k.chainOutputs) outs.push_back(vals[(size_t)o]);
  return makeTuple(std::move(outs));
}
}  // namespace

// __fused(kernel, *args)
Value prim_Fused(CallContext& cx, Value* args) {
  FusedKernel* k = fusedKernel((int)argInt(args[0], "__fused", "kernel"));
  if (!k) internalError("__fused: no such kernel");
  if (!k->chain.empty() && !inputsFit(*k, seqItems(args[1]))) return runChain(cx, *k, seqItems(args[1]));
  // The *args tuple is the interpreter's own, made for this call: when nothing else holds
  // it (--debug-nans keeps a copy of the arguments), its items may be given up.
  if (args[1].is(VKind::Tuple) && args[1].unique()) return runFusedKernelConsuming(*k, args[1].as<TupleObj>()->items);
  return runFusedKernel(*k, seqItems(args[1]));
}

}  // namespace msl
