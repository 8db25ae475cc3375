// LLVM IR for fused elementwise chains (codegen/KernelGen.h).
#include "codegen/KernelGen.h"

#include <llvm/ADT/Triple.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include <unistd.h>

#include "codegen/Jit.h"
#include "ir/Diagnostics.h"

namespace msl::codegen {

namespace {

using llvm::BasicBlock;
using llvm::IRBuilder;
using llvm::LLVMContext;
using llvm::Type;
using llvm::Value;

// KernelOptions::nonTemporalBytes, -1 meaning this machine's last-level cache.
int64_t nonTemporalThreshold(const KernelOptions& opt) {
  if (opt.nonTemporalBytes >= 0) return opt.nonTemporalBytes;
  static const int64_t llc = [] {
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    long c = l3 > 0 ? l3 : l2 > 0 ? l2 : 0;
    return c > 0 ? (int64_t)c : (int64_t)32 << 20;
  }();
  return llc;
}

bool isSignedInt(DType dt) { return dt == DType::I32 || dt == DType::I64; }

Type* valueType(LLVMContext& c, DType dt) {
  switch (dt) {
    case DType::Bool: return Type::getInt1Ty(c);
    case DType::U8: return Type::getInt8Ty(c);
    case DType::U32: case DType::I32: return Type::getInt32Ty(c);
    case DType::I64: return Type::getInt64Ty(c);
    case DType::F32: return Type::getFloatTy(c);
    case DType::F64: return Type::getDoubleTy(c);
    default: internalError(std::string("fused kernel: no code for dtype ") + dtypeName(dt));
  }
}
// How a value of dtype dt is stored in memory (bool as a byte).
Type* storeType(LLVMContext& c, DType dt) { return dt == DType::Bool ? Type::getInt8Ty(c) : valueType(c, dt); }

class Gen {
 public:
  Gen(const FusedSpec& s, const KernelOptions& o, llvm::Module& m) : spec(s), opt(o), M(m), C(m.getContext()), B(C) {}

  // Lanes of the explicitly vectorised contiguous loop: 16 (512 bits of f32; LLVM splits
  // the vectors where the CPU's registers are narrower).
  static constexpr unsigned kLanes = 16;

  void emit(const std::string& name);

 private:
  const FusedSpec& spec;
  const KernelOptions& opt;
  llvm::Module& M;
  LLVMContext& C;
  IRBuilder<> B;

  // The lane count of the values compute() makes now: 1 in the scalar loop, kLanes in
  // the vector loop. Every type and constant of an element's computation goes through
  // vec(), so that one code path makes both loops.
  unsigned lanes = 1;
  Type* vec(Type* t) { return lanes > 1 ? llvm::FixedVectorType::get(t, lanes) : t; }
  Value* splat(Value* v) { return lanes > 1 ? B.CreateVectorSplat(lanes, v) : v; }
  Type* i64() { return Type::getInt64Ty(C); }
  Value* ci(int64_t v) { return B.getInt64(v); }
  Value* cint(Type* t, uint64_t v) { return llvm::ConstantInt::get(vec(t), v); }
  Value* cbool(bool v) { return cint(Type::getInt1Ty(C), v); }

  llvm::FunctionCallee libm(const char* name, Type* t, int nargs) {
    std::vector<Type*> ps((size_t)nargs, t);
    auto* fty = llvm::FunctionType::get(t, ps, false);
    llvm::FunctionCallee f = M.getOrInsertFunction(name, fty);
    if (auto* fn = llvm::dyn_cast<llvm::Function>(f.getCallee())) {
      fn->addFnAttr(llvm::Attribute::NoUnwind);
      fn->addFnAttr(llvm::Attribute::WillReturn);
    }
    return f;
  }
  // A call of the C library function itself: `nobuiltin`, so that LLVM does not replace
  // it by what it knows of the function (pow(x, 2.0) -> x * x rounds differently from
  // glibc's powf in the last bit, and eager kernels call the library).
  Value* libcall(llvm::FunctionCallee f, std::initializer_list<Value*> args) {
    llvm::CallInst* c = B.CreateCall(f, args);
    c->addFnAttr(llvm::Attribute::NoBuiltin);
    return c;
  }
  Value* call1(const char* f32name, const char* f64name, Value* x) {
    bool f32 = x->getType()->isFloatTy();  // (scalar: loops calling the library are not vectorised)
    return libcall(libm(f32 ? f32name : f64name, x->getType(), 1), {x});
  }
  Value* fconst(Type* t, double v) { return llvm::ConstantFP::get(t, v); }
  Value* intrinsic1(llvm::Intrinsic::ID id, Value* x) {
    return B.CreateCall(llvm::Intrinsic::getDeclaration(&M, id, {x->getType()}), {x});
  }

  Value* cast(Value* v, DType from, DType to);
  Value* bin(BinOp op, DType ct, Value* a, Value* b);
  Value* un(UnOp op, DType dt, Value* x);
  // `onePlus`: the result is only used in 1 + e^x (sigmoid and gelu), where e^x below
  // 2^-24 rounds away: the fast f32 path may then skip exact subnormal results.
  Value* exp(Value* x, bool onePlus = false);
  Value* fastExpF32(Value* x, bool onePlus);
  Value* sigmoid(Value* x) {
    Type* t = x->getType();
    return B.CreateFDiv(fconst(t, 1), B.CreateFAdd(fconst(t, 1), exp(B.CreateFNeg(x), /*onePlus=*/true)));
  }
  // Whether the contiguous loop is written as vectors: not when an op calls the C
  // library (log, tanh, pow, erfc, log1p, exp without the fast path), which has no vector
  // form; such kernels run the element-by-element loop (as LLVM's loop vectoriser left
  // them before).
  bool vectorisable() const {
    for (const FusedOp& o : spec.ops) {
      DType at = o.a >= 0 && (size_t)o.a < spec.ops.size() ? spec.ops[(size_t)o.a].dt : o.dt;
      if (o.kind == FusedOp::Kind::Bin && o.bin == BinOp::Pow && isFloat(at)) return false;
      if (o.kind != FusedOp::Kind::Un || !isFloat(at)) continue;
      switch (o.un) {
        case UnOp::Log: case UnOp::Log1p: case UnOp::Sin: case UnOp::Cos: case UnOp::Tanh:
        case UnOp::Gelu: case UnOp::Softplus:
          return false;
        case UnOp::Exp: case UnOp::Sigmoid: case UnOp::GeluTanh:
          if (!opt.fastExp || at != DType::F32) return false;
          break;
        default: break;
      }
    }
    return true;
  }
  // The spec's ops on one element; `in` holds the loaded inputs. All values, by index.
  std::vector<Value*> compute(const std::vector<Value*>& in);
};

Value* Gen::cast(Value* v, DType from, DType to) {
  if (from == to) return v;
  Type* tt = vec(valueType(C, to));
  bool ff = isFloat(from), tf = isFloat(to);
  if (to == DType::Bool) return ff ? B.CreateFCmpUNE(v, fconst(v->getType(), 0)) : B.CreateICmpNE(v, llvm::ConstantInt::get(v->getType(), 0));
  if (ff && tf) return to == DType::F64 ? B.CreateFPExt(v, tt) : B.CreateFPTrunc(v, tt);
  if (ff) {
    // Saturating through double, nan gives 0 (runtime/Kernels.h detail::fromFloat).
    if (!v->getType()->getScalarType()->isDoubleTy()) v = B.CreateFPExt(v, vec(Type::getDoubleTy(C)));
    auto id = isSignedInt(to) ? llvm::Intrinsic::fptosi_sat : llvm::Intrinsic::fptoui_sat;
    return B.CreateCall(llvm::Intrinsic::getDeclaration(&M, id, {tt, v->getType()}), {v});
  }
  bool sig = isSignedInt(from);  // bool and unsigned widen with zeros
  if (tf) return sig ? B.CreateSIToFP(v, tt) : B.CreateUIToFP(v, tt);
  unsigned fw = v->getType()->getScalarSizeInBits(), tw = tt->getScalarSizeInBits();
  if (tw < fw) return B.CreateTrunc(v, tt);
  if (tw == fw) return v;
  return sig ? B.CreateSExt(v, tt) : B.CreateZExt(v, tt);
}

Value* Gen::bin(BinOp op, DType ct, Value* a, Value* b) {
  if (isFloat(ct)) {
    switch (op) {
      case BinOp::Add: return B.CreateFAdd(a, b);
      case BinOp::Sub: return B.CreateFSub(a, b);
      case BinOp::Mul: return B.CreateFMul(a, b);
      case BinOp::Div: return B.CreateFDiv(a, b);
      case BinOp::Pow: return libcall(libm(ct == DType::F32 ? "powf" : "pow", a->getType(), 2), {a, b});
      // nan propagates from the first operand, as eager's (a > b || a != a) ? a : b
      case BinOp::Max: return B.CreateSelect(B.CreateOr(B.CreateFCmpOGT(a, b), B.CreateFCmpUNO(a, a)), a, b);
      case BinOp::Min: return B.CreateSelect(B.CreateOr(B.CreateFCmpOLT(a, b), B.CreateFCmpUNO(a, a)), a, b);
      case BinOp::Eq: return B.CreateFCmpOEQ(a, b);
      case BinOp::Ne: return B.CreateFCmpUNE(a, b);
      case BinOp::Lt: return B.CreateFCmpOLT(a, b);
      case BinOp::Le: return B.CreateFCmpOLE(a, b);
      case BinOp::Gt: return B.CreateFCmpOGT(a, b);
      case BinOp::Ge: return B.CreateFCmpOGE(a, b);
      default: break;
    }
  } else if (ct == DType::Bool) {
    switch (op) {
      case BinOp::Add: case BinOp::Max: case BinOp::BitOr: return B.CreateOr(a, b);
      case BinOp::Mul: case BinOp::Min: case BinOp::BitAnd: return B.CreateAnd(a, b);
      case BinOp::BitXor: return B.CreateXor(a, b);
      case BinOp::Eq: return B.CreateICmpEQ(a, b);
      case BinOp::Ne: return B.CreateICmpNE(a, b);
      case BinOp::Lt: return B.CreateICmpULT(a, b);
      case BinOp::Le: return B.CreateICmpULE(a, b);
      case BinOp::Gt: return B.CreateICmpUGT(a, b);
      case BinOp::Ge: return B.CreateICmpUGE(a, b);
      default: break;
    }
  } else {
    bool s = isSignedInt(ct);
    switch (op) {
      case BinOp::Add: return B.CreateAdd(a, b);  // wraps, as eager's wrapAdd
      case BinOp::Sub: return B.CreateSub(a, b);
      case BinOp::Mul: return B.CreateMul(a, b);
      case BinOp::Max: return B.CreateSelect(s ? B.CreateICmpSGT(a, b) : B.CreateICmpUGT(a, b), a, b);
      case BinOp::Min: return B.CreateSelect(s ? B.CreateICmpSLT(a, b) : B.CreateICmpULT(a, b), a, b);
      case BinOp::BitAnd: return B.CreateAnd(a, b);
      case BinOp::BitOr: return B.CreateOr(a, b);
      case BinOp::BitXor: return B.CreateXor(a, b);
      case BinOp::Eq: return B.CreateICmpEQ(a, b);
      case BinOp::Ne: return B.CreateICmpNE(a, b);
      case BinOp::Lt: return s ? B.CreateICmpSLT(a, b) : B.CreateICmpULT(a, b);
      case BinOp::Le: return s ? B.CreateICmpSLE(a, b) : B.CreateICmpULE(a, b);
      case BinOp::Gt: return s ? B.CreateICmpSGT(a, b) : B.CreateICmpUGT(a, b);
      case BinOp::Ge: return s ? B.CreateICmpSGE(a, b) : B.CreateICmpUGE(a, b);
      default: break;
    }
  }
  internalError(std::string("fused kernel: no code for ") + binOpSymbol(op) + " on " + dtypeName(ct));
}

Value* Gen::exp(Value* x, bool onePlus) {
  if (opt.fastExp && x->getType()->getScalarType()->isFloatTy()) return fastExpF32(x, onePlus);
  return call1("expf", "exp", x);
}

// e^x in f32 without a library call, so that loops using it vectorise: x = n ln2 + r with
// |r| <= ln2 / 2 (Cody-Waite, ln2 in two parts), e^r by a degree-6 polynomial (Cephes'
// expf coefficients), times 2^n built in two halves so that results in the subnormal
// range round once. Separate multiplies and adds (no FMA). Overflow gives inf, underflow
// 0, nan stays nan. With `onePlus`, x is clamped to [-86.5, 89] instead: 2^n is then one
// normal power of two times 2 (n <= 128 gives inf as it should), four operations fewer;
// the results are the same bits for x >= -86.5, and below, where they are < 2^-124,
// 1 + e^x is 1 either way.
Value* Gen::fastExpF32(Value* x, bool onePlus) {
  Type* f = x->getType();
  Type* i32 = vec(Type::getInt32Ty(C));
  Value* isNan = B.CreateFCmpUNO(x, x);
  const double hi = onePlus ? 89.0 : 100.0, lo = onePlus ? -86.5 : -110.0;
  Value* xc = B.CreateSelect(B.CreateFCmpOGT(x, fconst(f, hi)), fconst(f, hi), x);
  xc = B.CreateSelect(B.CreateFCmpOLT(xc, fconst(f, lo)), fconst(f, lo), xc);
  xc = B.CreateSelect(isNan, fconst(f, 0.0), xc);
  Value* nf = intrinsic1(llvm::Intrinsic::rint, B.CreateFMul(xc, fconst(f, 1.44269504088896341)));
  Value* r = B.CreateFSub(xc, B.CreateFMul(nf, fconst(f, 0.693359375)));
  r = B.CreateFSub(r, B.CreateFMul(nf, fconst(f, -2.12194440e-4)));
  Value* p = fconst(f, 1.9875691500E-4);
  for (double c : {1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1})
    p = B.CreateFAdd(B.CreateFMul(p, r), fconst(f, c));
  Value* r2 = B.CreateFMul(r, r);
  p = B.CreateFAdd(B.CreateFAdd(B.CreateFMul(p, r2), r), fconst(f, 1.0));
  Value* n = B.CreateFPToSI(nf, i32);
  auto pow2 = [&](Value* k) {
    return B.CreateBitCast(B.CreateShl(B.CreateAdd(k, cint(Type::getInt32Ty(C), 127)), 23), f);
  };
  if (onePlus) {  // n in [-125, 128]: 2^(n-1) is a normal number, p + p is exact
    Value* res = B.CreateFMul(B.CreateFAdd(p, p), pow2(B.CreateSub(n, cint(Type::getInt32Ty(C), 1))));
    return B.CreateSelect(isNan, x, res);
  }
  Value* n1 = B.CreateAShr(n, 1);
  Value* n2 = B.CreateSub(n, n1);
  Value* res = B.CreateFMul(B.CreateFMul(p, pow2(n1)), pow2(n2));
  return B.CreateSelect(isNan, x, res);
}

Value* Gen::un(UnOp op, DType dt, Value* x) {
  Type* t = x->getType();
  bool fl = isFloat(dt);
  auto zero = [&]() -> Value* { return fl ? fconst(t, 0) : llvm::ConstantInt::get(t, 0); };
  switch (op) {
    case UnOp::Neg: return fl ? B.CreateFNeg(x) : B.CreateSub(zero(), x);
    case UnOp::Abs:
      if (fl) return intrinsic1(llvm::Intrinsic::fabs, x);
      if (isSignedInt(dt)) return B.CreateSelect(B.CreateICmpSLT(x, zero()), B.CreateSub(zero(), x), x);
      return x;
    case UnOp::Relu:
      if (dt == DType::Bool) return x;
      return B.CreateSelect(fl ? B.CreateFCmpOLT(x, zero()) : (isSignedInt(dt) ? B.CreateICmpSLT(x, zero()) : cbool(false)),
                            zero(), x);
    case UnOp::Floor: return fl ? intrinsic1(llvm::Intrinsic::floor, x) : x;
    case UnOp::Ceil: return fl ? intrinsic1(llvm::Intrinsic::ceil, x) : x;
    case UnOp::Sqrt: return intrinsic1(llvm::Intrinsic::sqrt, x);
    case UnOp::Rsqrt: return B.CreateFDiv(fconst(t, 1), intrinsic1(llvm::Intrinsic::sqrt, x));
    case UnOp::Exp: return exp(x);
    case UnOp::Log: return call1("logf", "log", x);
    case UnOp::Log1p: return call1("log1pf", "log1p", x);
    case UnOp::Sin: return call1("sinf", "sin", x);
    case UnOp::Cos: return call1("cosf", "cos", x);
    case UnOp::Tanh: return call1("tanhf", "tanh", x);
    case UnOp::Sigmoid: return sigmoid(x);
    case UnOp::Gelu: {  // x * (erfc(-x / sqrt 2) / 2)
      Value* e = call1("erfcf", "erfc", B.CreateFMul(B.CreateFNeg(x), fconst(t, 0.70710678118654752440)));
      return B.CreateFMul(x, B.CreateFDiv(e, fconst(t, 2)));
    }
    case UnOp::GeluTanh: {  // x * sigmoid(2 z), z = sqrt(2/pi) (x + 0.044715 x^3)
      Value* cube = B.CreateFMul(B.CreateFMul(B.CreateFMul(fconst(t, 0.044715), x), x), x);
      Value* z = B.CreateFMul(fconst(t, 0.79788456080286535588), B.CreateFAdd(x, cube));
      return B.CreateFMul(x, sigmoid(B.CreateFMul(fconst(t, 2), z)));
    }
    case UnOp::Softplus: {  // max(x, 0) + log1p(e^-|x|)
      Value* ax = B.CreateSelect(B.CreateFCmpOLT(x, zero()), B.CreateFNeg(x), x);
      Value* pos = B.CreateSelect(B.CreateFCmpOGT(x, zero()), x, zero());
      return B.CreateFAdd(pos, call1("log1pf", "log1p", exp(B.CreateFNeg(ax))));
    }
    case UnOp::IsNan: return fl ? B.CreateFCmpUNO(x, x) : cbool(false);
    case UnOp::IsFinite:
      return fl ? B.CreateFCmpONE(intrinsic1(llvm::Intrinsic::fabs, x), fconst(t, INFINITY)) : cbool(true);
    default: break;
  }
  internalError(std::string("fused kernel: no code for ") + unOpName(op));
}

std::vector<Value*> Gen::compute(const std::vector<Value*>& in) {
  std::vector<Value*> v(spec.ops.size(), nullptr);
  for (size_t k = 0; k < spec.ops.size(); ++k) {
    const FusedOp& o = spec.ops[k];
    switch (o.kind) {
      case FusedOp::Kind::Input: v[k] = in[(size_t)o.a]; break;
      case FusedOp::Kind::ConstI: v[k] = cint(i64(), (uint64_t)o.i); break;
      case FusedOp::Kind::ConstF: v[k] = fconst(vec(Type::getDoubleTy(C)), o.f); break;
      case FusedOp::Kind::Cast: v[k] = cast(v[(size_t)o.a], spec.ops[(size_t)o.a].dt, o.dt); break;
      case FusedOp::Kind::Bin: v[k] = bin(o.bin, spec.ops[(size_t)o.a].dt, v[(size_t)o.a], v[(size_t)o.b]); break;
      case FusedOp::Kind::Un: v[k] = un(o.un, spec.ops[(size_t)o.a].dt, v[(size_t)o.a]); break;
      case FusedOp::Kind::Where: v[k] = B.CreateSelect(v[(size_t)o.a], v[(size_t)o.b], v[(size_t)o.c]); break;
    }
  }
  return v;
}

void Gen::emit(const std::string& name) {
  Type* i8p = ptrTo(Type::getInt8Ty(C));
  Type* i64p = ptrTo(i64());
  auto* callTy = llvm::StructType::create(C, {i64(), i64(), i64p, ptrTo(i8p), ptrTo(i8p), i64p, i64()}, "MslFusedCall");
  auto* bodyTy = llvm::FunctionType::get(B.getVoidTy(), {i8p, i64(), i64()}, false);
  auto* body = llvm::Function::Create(bodyTy, llvm::Function::InternalLinkage, name + ".body", M);
  body->addFnAttr(llvm::Attribute::NoUnwind);
  // Kernels are long streaming loops: full-width vectors where the CPU has them (LLVM
  // prefers 256 bits on AVX-512 CPUs by default; the width never changes results).
  body->addFnAttr("prefer-vector-width", "512");
  const size_t nin = spec.inputs.size();
  const std::vector<int> outVals = spec.outputValues();
  const size_t nout = outVals.size();
  std::vector<DType> outDt(nout);
  for (size_t o = 0; o < nout; ++o) outDt[o] = spec.ops[(size_t)outVals[o]].dt;
  // In-place variants need no code of their own: every loop reads element j of each
  // input before it writes element j of the outputs and touches no other element, and
  // the vector loop is written as vectors (LLVM's loop vectoriser is not asked to prove
  // that outputs and inputs do not overlap), so an output that is an input's buffer is
  // read and written by the same loop (the launcher passes which variant it took in the
  // call's `inplace`; the kernel does not need it).
  const bool vectorLoop = vectorisable();
  // ---- body(ctx, begin, end)
  auto arg = body->arg_begin();
  Value* ctx = &*arg++;
  Value* begin = &*arg++;
  Value* end = &*arg;
  BasicBlock* entry = BasicBlock::Create(C, "entry", body);
  B.SetInsertPoint(entry);
  Value* call = B.CreateBitCast(ctx, ptrTo(callTy));
  auto field = [&](unsigned i, const char* nm) { return B.CreateLoad(callTy->getElementType(i), B.CreateStructGEP(callTy, call, i), nm); };
  Value* rank = field(1, "rank");
  Value* shape = field(2, "shape");
  Value* outs = field(3, "out");
  Value* ins = field(4, "in");
  Value* strides = field(5, "strides");
  std::vector<Type*> outST(nout);
  std::vector<Value*> out(nout);
  for (size_t o = 0; o < nout; ++o) {
    outST[o] = storeType(C, outDt[o]);
    Value* raw = B.CreateLoad(i8p, B.CreateGEP(i8p, outs, ci((int64_t)o)));
    out[o] = B.CreateBitCast(raw, ptrTo(outST[o]));
  }
  Value* last = B.CreateSub(rank, ci(1));
  Value* rankM2 = B.CreateSub(rank, ci(2));
  Value* inner = B.CreateLoad(i64(), B.CreateGEP(i64(), shape, last), "inner");
  std::vector<Value*> base(nin, nullptr), sInner(nin, nullptr), scalar(nin, nullptr);
  Value* fast = B.getTrue();
  for (size_t k = 0; k < nin; ++k) {
    const FusedKernel::Input& in = spec.inputs[k];
    Value* p = B.CreateLoad(i8p, B.CreateGEP(i8p, ins, ci((int64_t)k)));
    if (in.kind == FusedKernel::In::Tensor) {
      base[k] = B.CreateBitCast(p, ptrTo(storeType(C, in.dtype)));
      sInner[k] = B.CreateLoad(i64(), B.CreateGEP(i64(), strides, B.CreateAdd(B.CreateMul(ci((int64_t)k), rank), last)));
      fast = B.CreateAnd(fast, B.CreateICmpEQ(sInner[k], ci(spec.innerStride[k])));
    } else {
      Type* t = in.kind == FusedKernel::In::Int ? i64() : Type::getDoubleTy(C);
      scalar[k] = B.CreateLoad(t, B.CreateBitCast(p, ptrTo(t)));
    }
  }
  Value* ntBig = nullptr;  // (vector loop) whether this call may store non-temporally
  Value* ntRow = nullptr;
  const int64_t ntBytes = nonTemporalThreshold(opt);
  if (vectorLoop && ntBytes > 0 && llvm::Triple(M.getTargetTriple()).isX86()) {
    int64_t perElem = 0;  // bytes moved per element of the output (broadcast inputs counted in full)
    for (size_t k = 0; k < nin; ++k)
      if (base[k]) perElem += (int64_t)storeType(C, spec.inputs[k].dtype)->getScalarSizeInBits() / 8;
    for (size_t o = 0; o < nout; ++o) perElem += (int64_t)outST[o]->getScalarSizeInBits() / 8;
    ntBig = B.CreateICmpSGE(B.CreateMul(field(0, "n"), ci(perElem)), ci(ntBytes));
  }
  // The vector loop's buffers for steps that are not whole contiguous vectors, zeroed
  // once (lanes past the row's end then compute on numbers, not on garbage).
  std::vector<Value*> tmpIn(nin, nullptr), tmpOut(nout, nullptr);
  if (vectorLoop) {
    auto buffer = [&](Type* st) {
      Type* vt = llvm::FixedVectorType::get(st, kLanes);
      Value* a = B.CreateAlloca(vt);
      B.CreateStore(llvm::Constant::getNullValue(vt), a);
      return B.CreateBitCast(a, ptrTo(st));
    };
    for (size_t k = 0; k < nin; ++k)
      if (base[k]) tmpIn[k] = buffer(storeType(C, spec.inputs[k].dtype));
    for (size_t o = 0; o < nout; ++o) tmpOut[o] = buffer(outST[o]);
  }
  BasicBlock* rowHead = BasicBlock::Create(C, "row", body);
  BasicBlock* rowBody = BasicBlock::Create(C, "row.body", body);
  BasicBlock* decHead = BasicBlock::Create(C, "index", body);
  BasicBlock* decBody = BasicBlock::Create(C, "index.body", body);
  BasicBlock* rowReady = BasicBlock::Create(C, "row.ready", body);
  // Vectorisable kernels: one loop of kLanes elements a step (inner.contiguous is its
  // preheader, vector.body its head); steps that are not whole contiguous vectors copy
  // their elements to and from small buffers (inner.strided, inner.unpack) around the
  // same vector code, so the element's computation is generated once. Other kernels: one
  // loop of one element a step at the inputs' strides (inner.strided).
  BasicBlock* vecPre = vectorLoop ? BasicBlock::Create(C, "inner.contiguous", body) : nullptr;
  BasicBlock* vecLoop = vectorLoop ? BasicBlock::Create(C, "vector.body", body) : nullptr;
  BasicBlock* loadDirect = vectorLoop ? BasicBlock::Create(C, "vector.load", body) : nullptr;
  BasicBlock* slowLoop = BasicBlock::Create(C, "inner.strided", body);
  BasicBlock* loadPacked = vectorLoop ? BasicBlock::Create(C, "vector.packed", body) : nullptr;
  BasicBlock* computeBB = vectorLoop ? BasicBlock::Create(C, "vector.compute", body) : nullptr;
  BasicBlock* storeDirect = vectorLoop ? BasicBlock::Create(C, "vector.store", body) : nullptr;
  BasicBlock* unpack = vectorLoop ? BasicBlock::Create(C, "inner.unpack", body) : nullptr;
  BasicBlock* vecLatch = vectorLoop ? BasicBlock::Create(C, "vector.next", body) : nullptr;
  BasicBlock* rowLatch = BasicBlock::Create(C, "row.next", body);
  BasicBlock* exit = BasicBlock::Create(C, "exit", body);
  B.CreateBr(rowHead);

  B.SetInsertPoint(rowHead);
  llvm::PHINode* i = B.CreatePHI(i64(), 2, "i");
  i->addIncoming(begin, entry);
  B.CreateCondBr(B.CreateICmpSLT(i, end), rowBody, exit);

  B.SetInsertPoint(rowBody);
  Value* row = B.CreateUDiv(i, inner, "rowidx");
  Value* col = B.CreateSub(i, B.CreateMul(row, inner), "col");
  Value* lenA = B.CreateSub(inner, col);
  Value* lenB = B.CreateSub(end, i);
  Value* len = B.CreateSelect(B.CreateICmpSLT(lenA, lenB), lenA, lenB, "len");
  std::vector<Value*> off0(nin, nullptr);
  for (size_t k = 0; k < nin; ++k)
    if (base[k]) off0[k] = B.CreateMul(col, sInner[k]);
  B.CreateBr(decHead);

  // Offsets of the row's first element: the row index taken apart over the outer dims.
  B.SetInsertPoint(decHead);
  llvm::PHINode* d = B.CreatePHI(i64(), 2, "d");
  llvm::PHINode* r = B.CreatePHI(i64(), 2, "r");
  std::vector<llvm::PHINode*> off(nin, nullptr);
  d->addIncoming(rankM2, rowBody);
  r->addIncoming(row, rowBody);
  for (size_t k = 0; k < nin; ++k)
    if (base[k]) {
      off[k] = B.CreatePHI(i64(), 2, "off");
      off[k]->addIncoming(off0[k], rowBody);
    }
  B.CreateCondBr(B.CreateICmpSGE(d, ci(0)), decBody, rowReady);

  B.SetInsertPoint(decBody);
  Value* sd = B.CreateLoad(i64(), B.CreateGEP(i64(), shape, d));
  Value* q = B.CreateUDiv(r, sd);
  Value* idx = B.CreateSub(r, B.CreateMul(q, sd));
  for (size_t k = 0; k < nin; ++k)
    if (base[k]) {
      Value* st = B.CreateLoad(i64(), B.CreateGEP(i64(), strides, B.CreateAdd(B.CreateMul(ci((int64_t)k), rank), d)));
      off[k]->addIncoming(B.CreateAdd(off[k], B.CreateMul(idx, st)), decBody);
    }
  d->addIncoming(B.CreateSub(d, ci(1)), decBody);
  r->addIncoming(q, decBody);
  B.CreateBr(decHead);

  B.SetInsertPoint(rowReady);
  std::vector<Value*> outRow(nout);
  for (size_t o = 0; o < nout; ++o) outRow[o] = B.CreateGEP(outST[o], out[o], i);
  std::vector<Value*> rowPtr(nin, nullptr);
  for (size_t k = 0; k < nin; ++k)
    if (base[k]) rowPtr[k] = B.CreateGEP(storeType(C, spec.inputs[k].dtype), base[k], off[k]);
  auto loadAt = [&](Value* p, DType dt, Value* elemIndex, Type* vt) -> Value* {
    Type* st = storeType(C, dt);
    if (elemIndex) p = B.CreateGEP(st, p, elemIndex);
    Value* v = vt == st ? B.CreateLoad(st, p) : B.CreateAlignedLoad(vt, B.CreateBitCast(p, ptrTo(vt)), llvm::Align(st->getScalarSizeInBits() / 8));
    return dt == DType::Bool ? B.CreateICmpNE(v, llvm::Constant::getNullValue(v->getType())) : v;
  };
  auto toStore = [&](size_t o, Value* v) {
    return outDt[o] == DType::Bool ? B.CreateZExt(v, vec(B.getInt8Ty())) : v;
  };
  auto storeAt = [&](Value* v, Value* p) {
    if (!v->getType()->isVectorTy()) B.CreateStore(v, p);
    else B.CreateAlignedStore(v, B.CreateBitCast(p, ptrTo(v->getType())), llvm::Align(v->getType()->getScalarSizeInBits() / 8));
  };

  if (!vectorLoop) {
    B.CreateBr(slowLoop);
    B.SetInsertPoint(slowLoop);
    llvm::PHINode* j = B.CreatePHI(i64(), 2, "j");
    j->addIncoming(ci(0), rowReady);
    std::vector<Value*> vals(nin, nullptr);
    for (size_t k = 0; k < nin; ++k)
      vals[k] = base[k] ? loadAt(rowPtr[k], spec.inputs[k].dtype, B.CreateMul(j, sInner[k]), storeType(C, spec.inputs[k].dtype)) : scalar[k];
    std::vector<Value*> v = compute(vals);
    for (size_t o = 0; o < nout; ++o) storeAt(toStore(o, v[(size_t)outVals[o]]), B.CreateGEP(outST[o], outRow[o], j));
    Value* jn = B.CreateAdd(j, ci(1));
    j->addIncoming(jn, B.GetInsertBlock());
    B.CreateCondBr(B.CreateICmpSLT(jn, len), slowLoop, rowLatch);
  } else {
    // Non-temporal stores (no read for ownership of lines that are overwritten whole, no
    // eviction of the inputs) where the call moves more bytes than the last-level cache
    // holds, so that its outputs could not all stay there anyway, and the row's outputs
    // are aligned.
    if (ntBig) {
      ntRow = ntBig;
      for (size_t o = 0; o < nout; ++o)
        ntRow = B.CreateAnd(ntRow, B.CreateICmpEQ(B.CreateAnd(B.CreatePtrToInt(outRow[o], i64()), ci(63)), ci(0)));
    }
    // Whole vectors up to `full` (contiguous rows only) are read and written in place.
    Value* full = B.CreateSelect(fast, B.CreateAnd(len, ci(-(int64_t)kLanes)), ci(0), "vec.end");
    B.CreateBr(vecPre);
    B.SetInsertPoint(vecPre);
    lanes = kLanes;
    std::vector<Value*> invariant(nin, nullptr);  // numbers, inputs broadcast along the row
    for (size_t k = 0; k < nin; ++k) {
      if (!base[k]) invariant[k] = splat(scalar[k]);
      else if (spec.innerStride[k] == 0) invariant[k] = splat(loadAt(rowPtr[k], spec.inputs[k].dtype, nullptr, storeType(C, spec.inputs[k].dtype)));
    }
    B.CreateBr(vecLoop);

    B.SetInsertPoint(vecLoop);
    llvm::PHINode* j = B.CreatePHI(i64(), 2, "j");
    j->addIncoming(ci(0), vecPre);
    Value* whole = B.CreateICmpSLT(j, full, "whole");
    Value* rest = B.CreateSub(len, j);
    Value* count = B.CreateSelect(B.CreateICmpSLT(rest, ci(kLanes)), rest, ci(kLanes), "count");
    B.CreateCondBr(whole, loadDirect, slowLoop);

    B.SetInsertPoint(loadDirect);
    std::vector<Value*> direct(nin, nullptr);
    for (size_t k = 0; k < nin; ++k)
      direct[k] = invariant[k] ? invariant[k] : loadAt(rowPtr[k], spec.inputs[k].dtype, j, vec(storeType(C, spec.inputs[k].dtype)));
    B.CreateBr(computeBB);

    // The step's min(kLanes, len - j) elements into the buffers, at the inputs' strides.
    B.SetInsertPoint(slowLoop);
    llvm::PHINode* l = B.CreatePHI(i64(), 2, "l");
    l->addIncoming(ci(0), vecLoop);
    {
      for (size_t k = 0; k < nin; ++k)
        if (base[k]) {
          Type* st = storeType(C, spec.inputs[k].dtype);
          Value* e = B.CreateLoad(st, B.CreateGEP(st, rowPtr[k], B.CreateMul(B.CreateAdd(j, l), sInner[k])));
          B.CreateStore(e, B.CreateGEP(st, tmpIn[k], l));
        }
      Value* ln = B.CreateAdd(l, ci(1));
      l->addIncoming(ln, slowLoop);
      B.CreateCondBr(B.CreateICmpSLT(ln, count), slowLoop, loadPacked);
    }
    B.SetInsertPoint(loadPacked);
    std::vector<Value*> packed(nin, nullptr);
    for (size_t k = 0; k < nin; ++k)
      packed[k] = base[k] ? loadAt(tmpIn[k], spec.inputs[k].dtype, nullptr, vec(storeType(C, spec.inputs[k].dtype))) : invariant[k];
    B.CreateBr(computeBB);

    B.SetInsertPoint(computeBB);
    std::vector<Value*> vals(nin, nullptr);
    for (size_t k = 0; k < nin; ++k) {
      if (direct[k] == packed[k]) {
        vals[k] = direct[k];
        continue;
      }
      llvm::PHINode* ph = B.CreatePHI(direct[k]->getType(), 2);
      ph->addIncoming(direct[k], loadDirect);
      ph->addIncoming(packed[k], loadPacked);
      vals[k] = ph;
    }
    std::vector<Value*> v = compute(vals);
    std::vector<Value*> res(nout);
    for (size_t o = 0; o < nout; ++o) res[o] = toStore(o, v[(size_t)outVals[o]]);
    B.CreateCondBr(whole, storeDirect, unpack);

    B.SetInsertPoint(storeDirect);
    if (ntRow) {
      BasicBlock* plain = BasicBlock::Create(C, "vector.store.cached", body, unpack);
      BasicBlock* nt = BasicBlock::Create(C, "vector.store.nt", body, unpack);
      B.CreateCondBr(ntRow, nt, plain);
      B.SetInsertPoint(nt);
      for (size_t o = 0; o < nout; ++o) {
        unsigned bytes = (unsigned)res[o]->getType()->getPrimitiveSizeInBits() / 8;
        llvm::StoreInst* st = B.CreateAlignedStore(res[o], B.CreateBitCast(B.CreateGEP(outST[o], outRow[o], j), ptrTo(res[o]->getType())),
                                                   llvm::Align(std::min(64u, bytes)));
        st->setMetadata(llvm::LLVMContext::MD_nontemporal,
                        llvm::MDNode::get(C, {llvm::ConstantAsMetadata::get(B.getInt32(1))}));
      }
      B.CreateBr(vecLatch);
      B.SetInsertPoint(plain);
    }
    for (size_t o = 0; o < nout; ++o) storeAt(res[o], B.CreateGEP(outST[o], outRow[o], j));
    B.CreateBr(vecLatch);

    // A partial or strided step: the results through the buffers, element by element.
    B.SetInsertPoint(unpack);
    for (size_t o = 0; o < nout; ++o) storeAt(res[o], tmpOut[o]);
    lanes = 1;
    BasicBlock* unpackLoop = BasicBlock::Create(C, "inner.unpack.loop", body, vecLatch);
    B.CreateBr(unpackLoop);
    B.SetInsertPoint(unpackLoop);
    llvm::PHINode* u = B.CreatePHI(i64(), 2, "u");
    u->addIncoming(ci(0), unpack);
    for (size_t o = 0; o < nout; ++o) {
      Value* e = B.CreateLoad(outST[o], B.CreateGEP(outST[o], tmpOut[o], u));
      B.CreateStore(e, B.CreateGEP(outST[o], outRow[o], B.CreateAdd(j, u)));
    }
    Value* un = B.CreateAdd(u, ci(1));
    u->addIncoming(un, unpackLoop);
    B.CreateCondBr(B.CreateICmpSLT(un, count), unpackLoop, vecLatch);

    B.SetInsertPoint(vecLatch);
    Value* jn = B.CreateAdd(j, ci(kLanes));
    j->addIncoming(jn, vecLatch);
    B.CreateCondBr(B.CreateICmpSLT(jn, len), vecLoop, rowLatch);
  }

  B.SetInsertPoint(rowLatch);
  i->addIncoming(B.CreateAdd(i, len), rowLatch);
  B.CreateBr(rowHead);
  B.SetInsertPoint(exit);
  if (ntBig)  // non-temporal stores are weakly ordered: drained before the caller goes on
    B.CreateCall(llvm::Intrinsic::getDeclaration(&M, llvm::Intrinsic::x86_sse_sfence));
  B.CreateRetVoid();

  // ---- name(call): the output split into chunks on the thread pool
  auto* chunkTy = ptrTo(bodyTy);
  auto* pfTy = llvm::FunctionType::get(B.getVoidTy(), {i64(), i64(), chunkTy, i8p}, false);
  llvm::FunctionCallee pf = M.getOrInsertFunction("msl_rt_parallel_for", pfTy);
  auto* entryFn = llvm::Function::Create(llvm::FunctionType::get(B.getVoidTy(), {ptrTo(callTy)}, false),
                                         llvm::Function::ExternalLinkage, name, M);
  B.SetInsertPoint(BasicBlock::Create(C, "entry", entryFn));
  Value* c0 = &*entryFn->arg_begin();
  Value* n = B.CreateLoad(i64(), B.CreateStructGEP(callTy, c0, 0), "n");
  B.CreateCall(pf, {n, ci(1024), body, B.CreateBitCast(c0, i8p)});
  B.CreateRetVoid();
}

std::unique_ptr<llvm::Module> build(const FusedSpec& spec, const KernelOptions& opt, LLVMContext& ctx,
                                    const std::string& name) {
  std::unique_ptr<llvm::Module> m = Jit::get().newModule(name, ctx);
  Gen(spec, opt, *m).emit(name);
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*m, &os)) internalError("fused kernel: invalid LLVM IR: " + os.str());
  return m;
}

}  // namespace

std::string FusedSpec::text() const {
  std::string s;
  for (size_t k = 0; k < ops.size(); ++k) {
    const FusedOp& o = ops[k];
    s += "%" + std::to_string(k) + ": " + dtypeName(o.dt) + " = ";
    switch (o.kind) {
      case FusedOp::Kind::Input: s += "in" + std::to_string(o.a); break;
      case FusedOp::Kind::ConstI: s += std::to_string(o.i); break;
      case FusedOp::Kind::ConstF: s += std::to_string(o.f); break;
      case FusedOp::Kind::Cast: s += "cast %" + std::to_string(o.a); break;
      case FusedOp::Kind::Bin: s += std::string(binOpSymbol(o.bin)) + " %" + std::to_string(o.a) + " %" + std::to_string(o.b); break;
      case FusedOp::Kind::Un: s += std::string(unOpName(o.un)) + " %" + std::to_string(o.a); break;
      case FusedOp::Kind::Where: s += "where %" + std::to_string(o.a) + " %" + std::to_string(o.b) + " %" + std::to_string(o.c); break;
    }
    s += "\n";
  }
  return s;
}

std::string fusedKernelIR(const FusedSpec& spec, const KernelOptions& opt, bool optimized) {
  LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = build(spec, opt, ctx, spec.name);
  if (optimized) optimizeModule(*m, Jit::get().targetMachine(), OptLevel::Kernel);
  std::string s;
  llvm::raw_string_ostream os(s);
  m->print(os, nullptr);
  return os.str();
}

namespace {
std::unique_ptr<FusedKernel> kernelOf(const FusedSpec& spec) {
  auto k = std::make_unique<FusedKernel>();
  k->name = spec.name;
  k->inputs = spec.inputs;
  k->outDType = spec.outputs.empty() ? spec.outDType : spec.ops[(size_t)spec.outputs[0]].dt;
  k->outRank = spec.outRank;
  if (spec.outputs.size() > 1)  // (one output: __fused gives the tensor itself)
    for (int v : spec.outputs) k->outDTypes.push_back(spec.ops[(size_t)v].dt);
  k->inplace = spec.inplace;
  return k;
}
}  // namespace

int reserveFusedKernel(const FusedSpec& spec) { return registerFusedKernel(kernelOf(spec)); }

void compileFusedKernels(const std::vector<std::pair<int, const FusedSpec*>>& kernels, const KernelOptions& opt) {
  if (kernels.empty()) return;
  Jit& jit = Jit::get();
  auto ctx = std::make_unique<LLVMContext>();
  std::vector<std::string> names;
  for (const auto& [id, spec] : kernels) names.push_back(jit.uniqueName(spec->name));
  std::unique_ptr<llvm::Module> m = jit.newModule(names[0], *ctx);
  for (size_t i = 0; i < kernels.size(); ++i) Gen(*kernels[i].second, opt, *m).emit(names[i]);
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*m, &os)) internalError("fused kernel: invalid LLVM IR: " + os.str());
  if (opt.emit) {  // --emit=llvm shows the kernels as they run (OptLevel::Kernel runs no IR passes)
    std::string text;
    llvm::raw_string_ostream ts(text);
    m->print(ts, nullptr);
    opt.emit(ts.str());
  }
  const OptLevel level = OptLevel::Kernel;
  // Kernels live as long as the process (their ids are in graphs): the tracker is kept.
  static std::mutex mu;
  static std::vector<llvm::orc::ResourceTrackerSP> trackers;
  llvm::orc::ResourceTrackerSP rt = jit.add(std::move(m), std::move(ctx), level);
  {
    std::lock_guard<std::mutex> lock(mu);
    trackers.push_back(rt);
  }
  for (size_t i = 0; i < kernels.size(); ++i) {
    FusedKernel* k = fusedKernel(kernels[i].first);
    if (!k) internalError("fused kernel " + names[i] + " was not reserved");
    k->name = names[i];
    k->fn = reinterpret_cast<MslFusedKernelFn>(jit.lookup(names[i]));
    if (!k->fn) internalError("fused kernel " + names[i] + " was not compiled");
  }
}

int compileFusedKernel(const FusedSpec& spec, const KernelOptions& opt) {
  int id = reserveFusedKernel(spec);
  compileFusedKernels({{id, &spec}}, opt);
  return id;
}

}  // namespace msl::codegen
