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

#include "codegen/Fusion.h"
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
  return opt.nonTemporalBytes >= 0 ? opt.nonTemporalBytes : lastLevelCacheBytes();
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
  // The elements the kernel computes per step (FusedKernel::lanes).
  int stepLanes() const { return vectorisable() ? (int)kLanes : 1; }

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
  // `onePlus`: the result is only used in 1 + e^x (sigmoid and gelu): f32 then takes the
  // eager kernels' own exp (runtime/MathFns.h expForOnePlus), vector code.
  Value* exp(Value* x, bool onePlus = false);
  std::pair<Value*, Value*> expCoreF32(Value* x, double lo, double hi);
  Value* expForOnePlusF32(Value* x);
  Value* fastExpF32(Value* x);
  Value* fma(Value* a, Value* b, Value* c) {
    return B.CreateCall(llvm::Intrinsic::getDeclaration(&M, llvm::Intrinsic::fma, {a->getType()}), {a, b, c});
  }
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
      if (o.kind == FusedOp::Kind::Bin && o.bin == BinOp::Pow && isFloat(at) && !constTwo(o.b)) return false;
      if (o.kind != FusedOp::Kind::Un || !isFloat(at)) continue;
      switch (o.un) {
        case UnOp::Log: case UnOp::Log1p: case UnOp::Sin: case UnOp::Cos: case UnOp::Tanh:
        case UnOp::Gelu: case UnOp::Softplus:
          return false;
        case UnOp::Exp:
          if (!opt.fastExp || at != DType::F32) return false;
          break;
        case UnOp::Sigmoid: case UnOp::GeluTanh:
          if (at != DType::F32) return false;
          break;
        default: break;
      }
    }
    return true;
  }
  // Whether value k is the number 2 folded into the kernel (through casts): `x ** 2` is then
  // a multiply (fn::powElem) and vectorises.
  bool constTwo(int k) const {
    while (k >= 0 && (size_t)k < spec.ops.size() && spec.ops[(size_t)k].kind == FusedOp::Kind::Cast) k = spec.ops[(size_t)k].a;
    if (k < 0 || (size_t)k >= spec.ops.size()) return false;
    const FusedOp& o = spec.ops[(size_t)k];
    return (o.kind == FusedOp::Kind::ConstF && o.f == 2.0) || (o.kind == FusedOp::Kind::ConstI && o.i == 2);
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
      case BinOp::Pow: {  // fn::powElem: y == 2 is x * x, else the C library's pow
        Value* sq = B.CreateFMul(a, a);  // (a folded 2 never gets here: compute())
        Value* p = libcall(libm(ct == DType::F32 ? "powf" : "pow", a->getType(), 2), {a, b});
        return B.CreateSelect(B.CreateFCmpOEQ(b, fconst(b->getType(), 2)), sq, p);
      }
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
  if (x->getType()->getScalarType()->isFloatTy()) {
    // 1 + e^x (sigmoid, tanh-form gelu): always the eager kernels' own f32 exp, so these
    // vectorise and give eager's bits.
    if (onePlus) return expForOnePlusF32(x);
    if (opt.fastExp) return fastExpF32(x);
  }
  return call1("expf", "exp", x);
}

// The reduction and polynomial of runtime/MathFns.h expForOnePlus, operation for
// operation (its comment tells the method): x clamped to [lo, hi] (nan passes), then
// p = e^r and t, whose low bits hold n. Explicit FMAs (llvm.fma: one rounding, as
// std::fma); nothing else is contracted.
std::pair<Value*, Value*> Gen::expCoreF32(Value* x, double lo, double hi) {
  Type* f = x->getType();
  Value* xc = B.CreateSelect(B.CreateFCmpOGT(x, fconst(f, hi)), fconst(f, hi), x);
  xc = B.CreateSelect(B.CreateFCmpOLT(xc, fconst(f, lo)), fconst(f, lo), xc);
  Value* shift = fconst(f, 0x1.8p23);
  Value* t = fma(xc, fconst(f, 1.44269504088896341), shift);
  Value* nf = B.CreateFSub(t, shift);
  Value* r = fma(nf, fconst(f, -0.693359375), xc);
  r = fma(nf, fconst(f, 2.12194440e-4), r);
  Value* p = fconst(f, 1.9875691500E-4);
  for (double c : {1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1})
    p = fma(p, r, fconst(f, c));
  p = B.CreateFAdd(fma(p, B.CreateFMul(r, r), r), fconst(f, 1.0));
  return {p, t};
}

// runtime/MathFns.h expForOnePlus: (p + p) * 2^(n-1), the power of two made from t's bits.
Value* Gen::expForOnePlusF32(Value* x) {
  Type* f = x->getType();
  Type* i32 = vec(Type::getInt32Ty(C));
  auto [p, t] = expCoreF32(x, -86.5, 89.0);
  Value* bits = B.CreateShl(B.CreateBitCast(t, i32), 23);
  Value* scale = B.CreateBitCast(B.CreateAdd(bits, cint(Type::getInt32Ty(C), 126u << 23)), f);
  return B.CreateFMul(B.CreateFAdd(p, p), scale);
}

// e^x over f32's whole range (KernelOptions::fastExp): the same core over [-110, 100],
// times 2^n in two halves so that subnormal results round once. Overflow gives inf,
// underflow 0, nan stays nan (it propagates through p).
Value* Gen::fastExpF32(Value* x) {
  Type* f = x->getType();
  Type* i32 = vec(Type::getInt32Ty(C));
  auto [p, t] = expCoreF32(x, -110.0, 100.0);
  Value* n = B.CreateSub(B.CreateBitCast(t, i32), cint(Type::getInt32Ty(C), 0x4B400000u));  // t - 1.5 * 2^23
  auto pow2 = [&](Value* k) {
    return B.CreateBitCast(B.CreateShl(B.CreateAdd(k, cint(Type::getInt32Ty(C), 127)), 23), f);
  };
  Value* n1 = B.CreateAShr(n, 1);
  Value* n2 = B.CreateSub(n, n1);
  return B.CreateFMul(B.CreateFMul(p, pow2(n1)), pow2(n2));
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
    case UnOp::GeluTanh: {  // x / (1 + e^(-2 z)), z = sqrt(2/pi) (x + 0.044715 x^3) (runtime/MathFns.h)
      Value* cube = B.CreateFMul(B.CreateFMul(B.CreateFMul(fconst(t, 0.044715), x), x), x);
      Value* e = exp(B.CreateFMul(fconst(t, -1.59576912160573071176), B.CreateFAdd(x, cube)), /*onePlus=*/true);
      return B.CreateFDiv(x, B.CreateFAdd(fconst(t, 1), e));
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
      case FusedOp::Kind::Bin:
        if (o.bin == BinOp::Pow && isFloat(spec.ops[(size_t)o.a].dt) && constTwo(o.b)) v[k] = B.CreateFMul(v[(size_t)o.a], v[(size_t)o.a]);
        else v[k] = bin(o.bin, spec.ops[(size_t)o.a].dt, v[(size_t)o.a], v[(size_t)o.b]);
        break;
      case FusedOp::Kind::Un: v[k] = un(o.un, spec.ops[(size_t)o.a].dt, v[(size_t)o.a]); break;
      case FusedOp::Kind::Where: v[k] = B.CreateSelect(v[(size_t)o.a], v[(size_t)o.b], v[(size_t)o.c]); break;
    }
  }
  return v;
}

// The kernel is one loop over contiguous memory (runtime/FusedKernel.h, MslFusedKernelFn):
// `n` elements, kLanes a step for vector kernels (n a multiple of kLanes), one a step for
// kernels calling the C library. Rows, strided views, partial steps and the thread pool
// are the runtime's (runtime/FusedKernel.cpp): it calls this loop on whole contiguous
// vectors of a row directly and on small buffers for the rest, so the generated code is
// the element's computation and little else (LLVM's code generation time follows the
// size of the module: the row and index loops, the strided and buffered paths that were
// generated per kernel cost more than half of a kernel's compile time).
void Gen::emit(const std::string& name) {
  Type* i8p = ptrTo(Type::getInt8Ty(C));
  auto* fnTy = llvm::FunctionType::get(B.getVoidTy(), {ptrTo(i8p), ptrTo(i8p), i64(), i64()}, false);
  auto* fn = llvm::Function::Create(fnTy, llvm::Function::ExternalLinkage, name, M);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  // Kernels are long streaming loops: full-width vectors where the CPU has them (LLVM
  // prefers 256 bits on AVX-512 CPUs by default; the width never changes results).
  fn->addFnAttr("prefer-vector-width", "512");
  const size_t nin = spec.inputs.size();
  const std::vector<int> outVals = spec.outputValues();
  const size_t nout = outVals.size();
  std::vector<DType> outDt(nout);
  for (size_t o = 0; o < nout; ++o) outDt[o] = spec.ops[(size_t)outVals[o]].dt;
  // In-place variants need no code of their own: the loop reads element j of each input
  // before it writes element j of the outputs and touches no other element, and it is
  // written as vectors (LLVM's loop vectoriser is not asked to prove that outputs and
  // inputs do not overlap), so an output that is an input's buffer is read and written by
  // the same loop.
  const bool vectorLoop = vectorisable();
  const bool nonTemporal = vectorLoop && llvm::Triple(M.getTargetTriple()).isX86();
  auto arg = fn->arg_begin();
  Value* ins = &*arg++;
  Value* outs = &*arg++;
  Value* n = &*arg++;
  Value* nt = &*arg;
  BasicBlock* entry = BasicBlock::Create(C, "entry", fn);
  BasicBlock* loop = BasicBlock::Create(C, "vector.body", fn);
  BasicBlock* latch = BasicBlock::Create(C, "vector.next", fn);
  BasicBlock* exit = BasicBlock::Create(C, "exit", fn);
  B.SetInsertPoint(entry);
  std::vector<Type*> outST(nout);
  std::vector<Value*> out(nout);
  for (size_t o = 0; o < nout; ++o) {
    outST[o] = storeType(C, outDt[o]);
    Value* raw = B.CreateLoad(i8p, B.CreateGEP(i8p, outs, ci((int64_t)o)));
    out[o] = B.CreateBitCast(raw, ptrTo(outST[o]));
  }
  lanes = vectorLoop ? kLanes : 1;
  // Inputs read along the loop (tensors of inner stride 1), or once: numbers, tensors
  // broadcast along the row (inner stride 0), splat over the lanes.
  std::vector<Value*> base(nin, nullptr), invariant(nin, nullptr);
  for (size_t k = 0; k < nin; ++k) {
    const FusedKernel::Input& in = spec.inputs[k];
    Value* p = B.CreateLoad(i8p, B.CreateGEP(i8p, ins, ci((int64_t)k)));
    if (in.kind == FusedKernel::In::Tensor) {
      Type* st = storeType(C, in.dtype);
      Value* tp = B.CreateBitCast(p, ptrTo(st));
      if (spec.innerStride[k] == 1) {
        base[k] = tp;
        continue;
      }
      Value* v = B.CreateLoad(st, tp);
      if (in.dtype == DType::Bool) v = B.CreateICmpNE(v, llvm::Constant::getNullValue(st));
      invariant[k] = splat(v);
    } else {
      Type* t = in.kind == FusedKernel::In::Int ? i64() : Type::getDoubleTy(C);
      invariant[k] = splat(B.CreateLoad(t, B.CreateBitCast(p, ptrTo(t))));
    }
  }
  B.CreateCondBr(B.CreateICmpSGT(n, ci(0)), loop, exit);

  B.SetInsertPoint(loop);
  llvm::PHINode* j = B.CreatePHI(i64(), 2, "j");
  j->addIncoming(ci(0), entry);
  std::vector<Value*> vals(nin, nullptr);
  for (size_t k = 0; k < nin; ++k) {
    if (invariant[k]) {
      vals[k] = invariant[k];
      continue;
    }
    Type* st = storeType(C, spec.inputs[k].dtype);
    Value* p = B.CreateGEP(st, base[k], j);
    Value* v = lanes == 1 ? B.CreateLoad(st, p)
                          : B.CreateAlignedLoad(vec(st), B.CreateBitCast(p, ptrTo(vec(st))), llvm::Align(st->getScalarSizeInBits() / 8));
    vals[k] = spec.inputs[k].dtype == DType::Bool ? B.CreateICmpNE(v, llvm::Constant::getNullValue(v->getType())) : v;
  }
  std::vector<Value*> v = compute(vals);
  std::vector<Value*> res(nout);
  for (size_t o = 0; o < nout; ++o) {
    res[o] = v[(size_t)outVals[o]];
    if (outDt[o] == DType::Bool) res[o] = B.CreateZExt(res[o], vec(B.getInt8Ty()));
  }
  auto storeAll = [&](bool nonTemp) {
    for (size_t o = 0; o < nout; ++o) {
      Value* p = B.CreateGEP(outST[o], out[o], j);
      Type* t = res[o]->getType();
      if (!t->isVectorTy()) {
        B.CreateStore(res[o], p);
        continue;
      }
      unsigned bytes = (unsigned)t->getPrimitiveSizeInBits() / 8;
      llvm::StoreInst* st = B.CreateAlignedStore(res[o], B.CreateBitCast(p, ptrTo(t)),
                                                 llvm::Align(nonTemp ? std::min(64u, bytes) : t->getScalarSizeInBits() / 8));
      if (nonTemp)
        st->setMetadata(llvm::LLVMContext::MD_nontemporal, llvm::MDNode::get(C, {llvm::ConstantAsMetadata::get(B.getInt32(1))}));
    }
  };
  if (nonTemporal) {
    // Non-temporal stores (no read for ownership of lines that are overwritten whole, no
    // eviction of the inputs) when the runtime asks for them: calls moving more bytes than
    // the last-level cache holds, on outputs aligned to 64 bytes.
    BasicBlock* plain = BasicBlock::Create(C, "vector.store.cached", fn, latch);
    BasicBlock* ntBB = BasicBlock::Create(C, "vector.store.nt", fn, latch);
    B.CreateCondBr(B.CreateICmpNE(nt, ci(0)), ntBB, plain);
    B.SetInsertPoint(ntBB);
    storeAll(true);
    B.CreateBr(latch);
    B.SetInsertPoint(plain);
  }
  storeAll(false);
  B.CreateBr(latch);

  B.SetInsertPoint(latch);
  Value* jn = B.CreateAdd(j, ci(lanes));
  j->addIncoming(jn, latch);
  B.CreateCondBr(B.CreateICmpSLT(jn, n), loop, exit);

  B.SetInsertPoint(exit);
  if (nonTemporal) {  // non-temporal stores are weakly ordered: drained before the caller goes on
    BasicBlock* fence = BasicBlock::Create(C, "fence", fn);
    BasicBlock* done = BasicBlock::Create(C, "done", fn);
    B.CreateCondBr(B.CreateICmpNE(nt, ci(0)), fence, done);
    B.SetInsertPoint(fence);
    B.CreateCall(llvm::Intrinsic::getDeclaration(&M, llvm::Intrinsic::x86_sse_sfence));
    B.CreateBr(done);
    B.SetInsertPoint(done);
  }
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
  if (reduce.op != FusedReduce::Op::None)
    s += std::string(reduce.name()) + (reduce.lastAxis ? " axis=-1" : "") + (reduce.keepdims ? " keepdims" : "") + "\n";
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

std::vector<int> emitFusedKernels(llvm::Module& m, const std::vector<const FusedSpec*>& specs,
                                  const std::vector<std::string>& names, const KernelOptions& opt) {
  std::vector<int> lanes;
  for (size_t i = 0; i < specs.size(); ++i) {
    Gen gen(*specs[i], opt, m);
    gen.emit(names[i]);
    lanes.push_back(gen.stepLanes());
  }
  return lanes;
}

void compileFusedKernels(const std::vector<std::pair<int, const FusedSpec*>>& kernels, const KernelOptions& opt) {
  if (kernels.empty()) return;
  Jit& jit = Jit::get();
  auto ctx = std::make_unique<LLVMContext>();
  std::vector<std::string> names;
  std::vector<const FusedSpec*> specs;
  for (const auto& [id, spec] : kernels) {
    names.push_back(jit.uniqueName(spec->name));
    specs.push_back(spec);
  }
  std::unique_ptr<llvm::Module> m = jit.newModule(names[0], *ctx);
  std::vector<int> lanes = emitFusedKernels(*m, specs, names, opt);
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*m, &os)) internalError("fused kernel: invalid LLVM IR: " + os.str());
  if (opt.emit) {  // --emit=llvm shows the kernels as they run (OptLevel::Kernel runs no IR passes)
    std::string text;
    llvm::raw_string_ostream ts(text);
    m->print(ts, nullptr);
    opt.emit(ts.str());
  }
  const bool x86 = llvm::Triple(m->getTargetTriple()).isX86();
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
    const FusedSpec& spec = *kernels[i].second;
    k->lanes = lanes[i];
    k->innerStride = spec.innerStride;
    k->nonTemporalBytes = k->lanes > 1 && x86 ? nonTemporalThreshold(opt) : 0;
    k->fn = reinterpret_cast<MslFusedKernelFn>(jit.lookup(names[i]));
    if (!k->fn) internalError("fused kernel " + names[i] + " was not compiled");
  }
}

void JitKernels::provide(const std::vector<std::pair<int, const FusedSpec*>>& kernels, const KernelOptions& opt) {
  if (record_)
    for (const auto& k : kernels) record_(*k.second, opt);
  compileFusedKernels(kernels, opt);
}

FusionStats fuseElementwise(ir::Module& m, ir::Graph* g, const FusionOptions& opt) {
  JitKernels jit;
  return fuseElementwise(m, g, opt, jit);
}

int compileFusedKernel(const FusedSpec& spec, const KernelOptions& opt) {
  int id = reserveFusedKernel(spec);
  compileFusedKernels({{id, &spec}}, opt);
  return id;
}

}  // namespace msl::codegen
