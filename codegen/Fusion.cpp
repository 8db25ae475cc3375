// Elementwise fusion (codegen/Fusion.h).
#include "codegen/Fusion.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "ir/Abstract.h"
#include "ir/Fused.h"
#include "ir/Literal.h"
#include "ir/Manager.h"
#include "codegen/Planner.h"
#include "runtime/Interpreter.h"

namespace msl::codegen {

using ir::Abstract;
using ir::AKind;
using ir::Graph;
using ir::Node;

namespace {

std::mutex gSpecsMu;
std::map<int, FusedSpec>& specs() {
  static auto* m = new std::map<int, FusedSpec>();
  return *m;
}

bool codegenDType(DType d) { return d != DType::F16 && d != DType::BF16; }

// The type of an operand as the eager kernels see it: a tensor of a dtype, or a Python
// number (weakly typed) of a kind.
struct OpType {
  bool weak = false;
  DType dt = DType::F32;
  WeakKind wk = WeakKind::Int;
  bool known = false;  // weak: its value is known
  int64_t i = 0;       // known int/bool
};

DType weakDefault(WeakKind k) {
  return k == WeakKind::Float ? kDefaultFloat : k == WeakKind::Int ? kDefaultInt : DType::Bool;
}
DType promoted(const OpType& a, const OpType& b) {
  if (!a.weak && !b.weak) return promote(a.dt, b.dt);
  if (!a.weak) return promoteWeak(a.dt, b.wk);
  if (!b.weak) return promoteWeak(b.dt, a.wk);
  return promote(weakDefault(a.wk), weakDefault(b.wk));
}
// Whether a Python int operand might not fit `dt` (eager code raises, or for comparisons
// widens to i64): true unless the value is known and fits, or dt does not narrow.
bool mayNotFit(const OpType& o, DType dt, bool* outOfRange) {
  *outOfRange = false;
  if (!o.weak || o.wk != WeakKind::Int) return false;
  if (dt != DType::U8 && dt != DType::U32 && dt != DType::I32) return false;
  if (!o.known) return true;
  int64_t v = o.i;
  if (dt == DType::U8) *outOfRange = v < 0 || v > 255;
  else if (dt == DType::U32) *outOfRange = v < 0 || v > (int64_t)UINT32_MAX;
  else *outOfRange = v < INT32_MIN || v > INT32_MAX;
  return false;
}

// Lowers nodes into a FusedSpec. operand() says where an input node's value is.
class Lowerer {
 public:
  using Captured = std::unordered_map<const Node*, const Abstract*>;
  explicit Lowerer(const Captured* captured) : captured(captured) {}
  const Captured* captured;  // FusionOptions::captured
  FusedSpec spec;
  std::unordered_map<const Node*, int> valueOf;  // chain members -> value index
  std::unordered_map<const Node*, int> inputOf;  // external inputs -> value index
  std::vector<Node*> external;                   // in input order

  // The abstract of an operand: a value read from the closure has the one the
  // specialisation's key gives it (its node belongs to an enclosing graph).
  const Abstract* absOf(const Node* n) const {
    if (captured) {
      auto it = captured->find(n);
      if (it != captured->end()) return it->second;
    }
    // (constants that rules of autodiff made carry no abstract)
    return n->abs ? n->abs : ir::literalAbstract(n);
  }

  // The value and type of `n` as an operand; false when it cannot be one.
  bool operand(Node* n, int* v, OpType* t) {
    auto it = valueOf.find(n);
    if (it != valueOf.end()) {
      *v = it->second;
      t->weak = false;
      t->dt = spec.ops[(size_t)it->second].dt;
      return true;
    }
    const Abstract* a = absOf(n);
    if (!a) return false;
    if (a->isTensor()) {
      if (!a->dtypeKnown || !a->rankKnown || !codegenDType(a->dtype)) return false;
      t->weak = false;
      t->dt = a->dtype;
      *v = input(n, FusedKernel::In::Tensor, a->dtype, a->rank());
      return true;
    }
    if (!a->is(AKind::Bool) && !a->is(AKind::Int) && !a->is(AKind::Float)) return false;
    t->weak = true;
    t->wk = a->is(AKind::Float) ? WeakKind::Float : a->is(AKind::Int) ? WeakKind::Int : WeakKind::Bool;
    t->known = a->known;
    if (a->known) {
      FusedOp o;
      if (a->is(AKind::Float)) {
        o.kind = FusedOp::Kind::ConstF;
        o.dt = DType::F64;
        o.f = a->f;
      } else {
        o.kind = FusedOp::Kind::ConstI;
        o.dt = DType::I64;
        o.i = a->is(AKind::Bool) ? (int64_t)a->b : a->i;
        t->i = o.i;
      }
      *v = push(o);
      return true;
    }
    bool f = a->is(AKind::Float);
    *v = input(n, f ? FusedKernel::In::Float : FusedKernel::In::Int, f ? DType::F64 : DType::I64, 0);
    return true;
  }

  int push(const FusedOp& o) {
    spec.ops.push_back(o);
    return (int)spec.ops.size() - 1;
  }
  int input(Node* n, FusedKernel::In kind, DType dt, int rank) {
    auto it = inputOf.find(n);
    if (it != inputOf.end()) return it->second;
    FusedKernel::Input in;
    in.kind = kind;
    in.dtype = dt;
    in.rank = rank;
    FusedOp o;
    o.kind = FusedOp::Kind::Input;
    o.dt = dt;
    o.a = (int)spec.inputs.size();
    spec.inputs.push_back(in);
    external.push_back(n);
    int v = push(o);
    inputOf[n] = v;
    return v;
  }
  int cast(int v, DType to) {
    if (spec.ops[(size_t)v].dt == to) return v;
    FusedOp o;
    o.kind = FusedOp::Kind::Cast;
    o.dt = to;
    o.a = v;
    return push(o);
  }

  // Binary operation as runtime binary(): -1 when not fusible.
  int binary(BinOp op, int va, const OpType& ta, int vb, const OpType& tb) {
    DType p = promoted(ta, tb);
    DType rt;
    switch (op) {
      case BinOp::Div: rt = isFloat(p) ? p : kDefaultFloat; break;
      case BinOp::BitAnd: case BinOp::BitOr: case BinOp::BitXor:
        if (isFloat(p)) return -1;
        rt = p;
        break;
      case BinOp::Sub: case BinOp::Pow:
        if (p == DType::Bool) return -1;
        rt = p;
        break;
      case BinOp::FloorDiv: case BinOp::Mod: return -1;
      default: rt = isComparison(op) ? DType::Bool : p;
    }
    if (!codegenDType(rt) || !codegenDType(p)) return -1;
    DType ct = rt;
    bool oorA, oorB;
    if (!isComparison(op)) {
      if (mayNotFit(ta, rt, &oorA) || mayNotFit(tb, rt, &oorB) || oorA || oorB) return -1;
    } else {
      if (mayNotFit(ta, p, &oorA) || mayNotFit(tb, p, &oorB)) return -1;
      ct = (oorA || oorB) ? DType::I64 : p;
    }
    if (op == BinOp::Pow && !isFloat(ct)) return -1;  // integer powers: eager's loop
    FusedOp o;
    o.kind = FusedOp::Kind::Bin;
    o.bin = op;
    o.a = cast(va, ct);
    o.b = cast(vb, ct);
    o.dt = isComparison(op) ? DType::Bool : ct;
    return push(o);
  }

  // Unary operation as runtime unary() on a tensor of dtype `in`.
  int unary(UnOp op, int vx, DType in) {
    if (op == UnOp::IsNan || op == UnOp::IsFinite) {
      FusedOp o;
      o.kind = FusedOp::Kind::Un;
      o.un = op;
      o.a = vx;
      o.dt = DType::Bool;
      return push(o);
    }
    if (op >= UnOp::Exp) {
      DType rt = isFloat(in) ? in : kDefaultFloat;
      FusedOp o;
      o.kind = FusedOp::Kind::Un;
      o.un = op;
      o.a = cast(vx, rt);
      o.dt = rt;
      return push(o);
    }
    if (op == UnOp::Neg && in == DType::Bool) return -1;
    if (op == UnOp::Invert || op == UnOp::Sign) return -1;
    bool identity = (!isFloat(in) && (op == UnOp::Floor || op == UnOp::Ceil)) || in == DType::Bool ||
                    (isUnsigned(in) && op == UnOp::Abs);
    if (identity) return vx;
    FusedOp o;
    o.kind = FusedOp::Kind::Un;
    o.un = op;
    o.a = vx;
    o.dt = in;
    return push(o);
  }

  // Lowers node n (an Apply of a primitive); returns its value or -1.
  int lower(Node* n);
};

// The argument of n bound to parameter `pos` / `name` (nullptr: not given).
bool argOf(Node* n, size_t pos, const char* name, Node** out) {
  *out = nullptr;
  size_t npos = n->numPositional();
  if (pos < npos) {
    *out = n->inputs[1 + pos];
    return true;
  }
  for (size_t k = 0; k < n->kwnames.size(); ++k)
    if (n->kwnames[k] == name) {
      *out = n->inputs[1 + npos + k];
      return true;
    }
  return false;
}

// Only the parameters `names` may be given (positionally or by keyword), after the first
// `skip` positional inputs (a method call's name).
bool onlyParams(Node* n, std::initializer_list<const char*> names, size_t skip = 0) {
  const size_t npos = n->numPositional() - skip;
  if (npos > names.size()) return false;
  for (const std::string& k : n->kwnames) {
    size_t i = 0;
    bool found = false;
    for (const char* nm : names) {
      if (k == nm && i >= npos) found = true;
      ++i;
    }
    if (!found) return false;
  }
  return true;
}

// A reduction that can be a chain's epilogue (FusedReduce, docs/fusion.md "Reductions"):
// sum / mean / max / min of an f32 or f64 tensor over all axes or the last one (axis
// None, -1 or rank - 1), keepdims known; Python's sum only without a start (or 0), max
// and min of one tensor without a key; the methods x.sum(), x.mean(), x.max(), x.min()
// (a method_call whose receiver is a tensor). *x: the reduced value.
bool reductionOf(Node* n, Node** x, FusedReduce* r) {
  Prim p;
  size_t skip = 0;  // positional inputs before x: a method call's name
  if (!n->isApply() || n->inputs.empty()) return false;
  const Node* callee = n->inputs[0];
  if (callee->isPrimApply(Prim::Depend) && callee->inputs.size() > 1) callee = callee->inputs[1];  // (ordered by state)
  if (callee->isPrimConst(Prim::MethodCall)) {
    if (n->numPositional() < 2 || !n->inputs[1]->isConst() || n->inputs[1]->ckind != ir::ConstKind::Str) return false;
    const std::string& name = n->inputs[1]->s;  // (a tensor receiver: METHOD lines of ir/Primitives.def, mean(x: Tensor))
    if (name == "sum") p = Prim::TensorSum;
    else if (name == "mean") p = Prim::Mean;
    else if (name == "max") p = Prim::TensorMax;
    else if (name == "min") p = Prim::TensorMin;
    else return false;
    skip = 1;
  } else if (!n->callsPrim(&p)) {
    return false;
  }
  *r = FusedReduce{};
  switch (p) {
    case Prim::TensorSum: case Prim::Sum: r->op = FusedReduce::Op::Sum; break;
    case Prim::Mean: r->op = FusedReduce::Op::Mean; break;
    case Prim::TensorMax: case Prim::Max: r->op = FusedReduce::Op::Max; break;
    case Prim::TensorMin: case Prim::Min: r->op = FusedReduce::Op::Min; break;
    default: return false;
  }
  auto knownIs = [](Node* v, AKind k) { return v && v->abs && v->abs->is(k) && v->abs->known; };
  const size_t kwOnly = SIZE_MAX;  // (a parameter given by keyword only)
  Node *axis = nullptr, *keep = nullptr, *other = nullptr;
  if (p == Prim::Sum) {  // sum(x, start=0, *, axis=None, keepdims=False)
    if (n->numPositional() > 2 || !onlyParams(n, {"x", "start", "axis", "keepdims"})) return false;
    if (argOf(n, 1, "start", &other) && !(knownIs(other, AKind::Int) && other->abs->i == 0)) return false;
    argOf(n, kwOnly, "axis", &axis);
    argOf(n, kwOnly, "keepdims", &keep);
  } else if (p == Prim::Max || p == Prim::Min) {  // max(*args, axis=None, keepdims=False, key=None)
    if (n->numPositional() != 1) return false;
    for (const std::string& k : n->kwnames)
      if (k != "axis" && k != "keepdims" && k != "key") return false;
    if (argOf(n, kwOnly, "key", &other) && !(other->abs && other->abs->is(AKind::None))) return false;
    argOf(n, kwOnly, "axis", &axis);
    argOf(n, kwOnly, "keepdims", &keep);
  } else {  // tensor_sum / mean / tensor_max / tensor_min(x, axis=None, keepdims=False)
    if (!onlyParams(n, {"x", "axis", "keepdims"}, skip)) return false;
    argOf(n, 1 + skip, "axis", &axis);
    argOf(n, 2 + skip, "keepdims", &keep);
  }
  if (!argOf(n, skip, "x", x) || !*x) return false;
  const Abstract *a = (*x)->abs, *ra = n->abs;
  if (!a || !a->isTensor() || !a->dtypeKnown || !a->rankKnown || (a->dtype != DType::F32 && a->dtype != DType::F64))
    return false;
  if (!ra || !ra->isTensor() || !ra->dtypeKnown || ra->dtype != a->dtype) return false;
  if (keep) {
    if (!knownIs(keep, AKind::Bool)) return false;
    r->keepdims = keep->abs->b;
  }
  if (axis && !(axis->abs && axis->abs->is(AKind::None))) {
    if (!knownIs(axis, AKind::Int) || a->rank() == 0) return false;
    if (axis->abs->i != -1 && axis->abs->i != (int64_t)a->rank() - 1) return false;
    r->lastAxis = true;
  }
  return true;
}

bool binOpOf(Prim p, BinOp* op) {
  switch (p) {
    case Prim::Add: *op = BinOp::Add; return true;
    case Prim::Sub: *op = BinOp::Sub; return true;
    case Prim::Mul: *op = BinOp::Mul; return true;
    case Prim::Div: *op = BinOp::Div; return true;
    case Prim::Pow: *op = BinOp::Pow; return true;
    case Prim::Maximum: *op = BinOp::Max; return true;
    case Prim::Minimum: *op = BinOp::Min; return true;
    case Prim::BitAnd: *op = BinOp::BitAnd; return true;
    case Prim::BitOr: *op = BinOp::BitOr; return true;
    case Prim::BitXor: *op = BinOp::BitXor; return true;
    case Prim::Eq: *op = BinOp::Eq; return true;
    case Prim::Ne: *op = BinOp::Ne; return true;
    case Prim::Lt: *op = BinOp::Lt; return true;
    case Prim::Le: *op = BinOp::Le; return true;
    case Prim::Gt: *op = BinOp::Gt; return true;
    case Prim::Ge: *op = BinOp::Ge; return true;
    default: return false;
  }
}

bool unOpOf(Prim p, UnOp* op) {
  switch (p) {
    case Prim::Neg: *op = UnOp::Neg; return true;
    case Prim::TensorAbs: case Prim::Abs: *op = UnOp::Abs; return true;  // abs() of a tensor (lower() checks)
    case Prim::Relu: *op = UnOp::Relu; return true;
    case Prim::Floor: *op = UnOp::Floor; return true;
    case Prim::Ceil: *op = UnOp::Ceil; return true;
    case Prim::Exp: *op = UnOp::Exp; return true;
    case Prim::Log: *op = UnOp::Log; return true;
    case Prim::Log1p: *op = UnOp::Log1p; return true;
    case Prim::Sqrt: *op = UnOp::Sqrt; return true;
    case Prim::Rsqrt: *op = UnOp::Rsqrt; return true;
    case Prim::Sin: *op = UnOp::Sin; return true;
    case Prim::Cos: *op = UnOp::Cos; return true;
    case Prim::Tanh: *op = UnOp::Tanh; return true;
    case Prim::Sigmoid: *op = UnOp::Sigmoid; return true;
    case Prim::Softplus: *op = UnOp::Softplus; return true;
    case Prim::IsNan: *op = UnOp::IsNan; return true;
    case Prim::IsFinite: *op = UnOp::IsFinite; return true;
    default: return false;
  }
}

int Lowerer::lower(Node* n) {
  Prim p;
  if (!n->callsPrim(&p)) return -1;
  const Abstract* a = n->abs;
  if (!a || !a->isTensor() || !a->dtypeKnown || !a->rankKnown || !codegenDType(a->dtype)) return -1;
  int v = -1;
  BinOp bop;
  UnOp uop;
  Node *x = nullptr, *y = nullptr, *z = nullptr;
  int vx, vy, vz;
  OpType tx, ty, tz;
  if (binOpOf(p, &bop)) {
    if (!onlyParams(n, {"x", "y"}) || !argOf(n, 0, "x", &x) || !argOf(n, 1, "y", &y)) return -1;
    if (!operand(x, &vx, &tx) || !operand(y, &vy, &ty)) return -1;
    if (tx.weak && ty.weak) return -1;
    v = binary(bop, vx, tx, vy, ty);
  } else if (p == Prim::CtAdd) {
    // The sum of two tensor cotangents is eager's `add` (runtime/AutodiffPrims.cpp ctAdd);
    // None (a zero) or numbers are not fused.
    if (!onlyParams(n, {"a", "b"}) || !argOf(n, 0, "a", &x) || !argOf(n, 1, "b", &y)) return -1;
    if (!absOf(x) || !absOf(x)->isTensor() || !absOf(y) || !absOf(y)->isTensor()) return -1;
    if (!operand(x, &vx, &tx) || !operand(y, &vy, &ty) || tx.weak || ty.weak) return -1;
    v = binary(BinOp::Add, vx, tx, vy, ty);
  } else if (unOpOf(p, &uop) || p == Prim::Gelu) {
    if (p == Prim::Gelu) {
      if (!onlyParams(n, {"x", "approximate"})) return -1;
      Node* ap = nullptr;
      bool approx = false;
      if (argOf(n, 1, "approximate", &ap)) {
        const Abstract* apa = absOf(ap);
        if (!apa || !apa->is(AKind::Bool) || !apa->known) return -1;
        approx = apa->b;
      }
      uop = approx ? UnOp::GeluTanh : UnOp::Gelu;
    } else if (!onlyParams(n, {"x"})) {
      return -1;
    }
    if (!argOf(n, 0, "x", &x) || !operand(x, &vx, &tx) || tx.weak) return -1;
    v = unary(uop, vx, tx.dt);
  } else if (p == Prim::Where) {
    if (!onlyParams(n, {"cond", "x", "y"}) || !argOf(n, 0, "cond", &x) || !argOf(n, 1, "x", &y) ||
        !argOf(n, 2, "y", &z))
      return -1;
    if (!operand(x, &vx, &tx) || tx.weak || !operand(y, &vy, &ty) || !operand(z, &vz, &tz)) return -1;
    DType rt = promoted(ty, tz);
    bool o1, o2;
    if (!codegenDType(rt) || mayNotFit(ty, rt, &o1) || mayNotFit(tz, rt, &o2) || o1 || o2) return -1;
    FusedOp o;
    o.kind = FusedOp::Kind::Where;
    o.a = cast(vx, DType::Bool);
    o.b = cast(vy, rt);
    o.c = cast(vz, rt);
    o.dt = rt;
    v = push(o);
  } else if (p == Prim::AsType) {
    if (!onlyParams(n, {"x", "dtype"}) || !argOf(n, 0, "x", &x) || !argOf(n, 1, "dtype", &y)) return -1;
    const Abstract* ya = absOf(y);
    if (!ya || !ya->is(AKind::DType) || !ya->known || !codegenDType(ya->dtype)) return -1;
    if (!operand(x, &vx, &tx) || tx.weak) return -1;
    v = cast(vx, ya->dtype);
  } else if (p == Prim::Clip) {
    if (!onlyParams(n, {"x", "lo", "hi"}) || !argOf(n, 0, "x", &x)) return -1;
    if (!operand(x, &vx, &tx) || tx.weak) return -1;
    v = vx;
    const char* names[2] = {"lo", "hi"};
    for (int k = 0; k < 2 && v >= 0; ++k) {
      Node* b = nullptr;
      if (!argOf(n, 1 + (size_t)k, names[k], &b) || (absOf(b) && absOf(b)->is(AKind::None))) continue;
      int vb;
      OpType tb;
      if (!operand(b, &vb, &tb)) return -1;
      OpType tv;
      tv.dt = spec.ops[(size_t)v].dt;
      v = binary(k == 0 ? BinOp::Max : BinOp::Min, v, tv, vb, tb);
    }
  } else {
    return -1;
  }
  if (v < 0 || spec.ops[(size_t)v].dt != a->dtype) return -1;
  return v;
}

// The inner stride the fast loop assumes for an input of abstract `in` in an output of
// abstract `out`: 0 when the input is broadcast along the last dimension.
int innerStrideOf(const Abstract* in, const Abstract* out) {
  if (!in->isTensor()) return 0;
  if (in->rank() == 0) return 0;
  ir::Dim di = in->shape.back();
  ir::Dim dout = out->rank() ? out->shape.back() : ir::Dim::of(1);
  if (di.isStatic() && di.size() == 1 && !(dout.isStatic() && dout.size() == 1)) return 0;
  return 1;
}

}  // namespace

const FusedSpec* fusedSpecOf(int kernelId) {
  std::lock_guard<std::mutex> lock(gSpecsMu);
  auto it = specs().find(kernelId);
  return it == specs().end() ? nullptr : &it->second;
}

namespace {

// g and the graphs nested in it that its nodes reference (through graph constants), the
// only graphs whose nodes may read g's values: the pass's cost follows the size of g,
// not of its module.
std::vector<Graph*> subtreeOf(Graph* g) {
  std::vector<Graph*> out{g};
  std::unordered_set<const Graph*> seen{g};
  for (size_t i = 0; i < out.size(); ++i) {
    auto visit = [&](Node* in) {
      if (in && in->isGraphConst() && in->g && !seen.count(in->g) && ir::isWithin(in->g, g)) {
        seen.insert(in->g);
        out.push_back(in->g);
      }
    };
    for (Node* n : out[i]->nodes)
      for (Node* in : n->inputs) visit(in);
    visit(out[i]->output);
  }
  return out;
}

bool sameShape(const Abstract* a, const Abstract* b) {
  return a && b && a->isTensor() && b->isTensor() && a->rankKnown && b->rankKnown && a->shape == b->shape;
}

// The chain `members` (program order; the reduction `red` after them, if any) as the
// calls eager code makes (FusedKernel::chain), its value(s) those of `outs` (or red's).
// False when a member's operand is neither a member, an input nor a constant.
bool chainOf(const std::vector<Node*>& members, Node* red, const std::vector<Node*>& outs,
             const std::vector<Node*>& external, std::vector<FusedKernel::ChainStep>* chain, std::vector<int>* outputs) {
  std::vector<Node*> all = members;
  if (red) all.push_back(red);
  std::unordered_map<const Node*, int> step, input;
  for (size_t q = 0; q < external.size(); ++q) input.emplace(external[q], (int)q);
  for (Node* mem : all) {
    Prim p;
    if (!mem->inputs[0]->isConst() || !mem->callsPrim(&p)) return false;
    FusedKernel::ChainStep st;
    st.fn = Value::prim((int)p);
    st.kwnames = mem->kwnames;
    for (size_t k = 1; k < mem->inputs.size(); ++k) {
      const Node* in = mem->inputs[k];
      FusedKernel::ChainArg a;
      if (auto s = step.find(in); s != step.end()) a.step = s->second;
      else if (auto e = input.find(in); e != input.end()) a.input = e->second;
      else if (in->isConst() && in->ckind != ir::ConstKind::Graph && in->ckind != ir::ConstKind::Global &&
               in->ckind != ir::ConstKind::Class && in->ckind != ir::ConstKind::Module)
        a.konst = constValue(in);
      else
        return false;
      st.args.push_back(std::move(a));
    }
    step[mem] = (int)chain->size();
    chain->push_back(std::move(st));
  }
  if (red || outs.size() == 1) outputs->push_back((int)chain->size() - 1);
  else
    for (Node* o : outs) outputs->push_back(step.at(o));
  return true;
}

}  // namespace

FusionStats fuseElementwise(ir::Module& m, Graph* g, const FusionOptions& opt, KernelSource& kernels) {
  FusionStats stats;
  std::vector<Graph*> graphs = subtreeOf(g);
  // Users of each node (user, input index), over the graphs that can read them.
  std::unordered_map<Node*, std::vector<std::pair<Node*, size_t>>> users;
  // Nodes used as a graph's output or a parameter default: their values leave the graph.
  std::unordered_set<const Node*> escapes;
  for (Graph* S : graphs) {
    for (Node* n : S->nodes)
      for (size_t k = 0; k < n->inputs.size(); ++k) users[n->inputs[k]].push_back({n, k});
    if (S->output) escapes.insert(S->output);
    for (Node* d : S->defaults)
      if (d) escapes.insert(d);
  }
  // Redirects the uses of `from` by nodes other than `except`'s members to `to`, in the
  // graphs of the subtree (inputs, outputs, defaults, captured values).
  auto redirect = [&](Node* from, Node* to, const std::set<Node*>& except) {
    auto it = users.find(from);
    if (it != users.end()) {
      std::vector<std::pair<Node*, size_t>> kept;
      for (auto& [user, pos] : it->second) {
        if (except.count(user)) {
          kept.push_back({user, pos});
          continue;
        }
        user->inputs[pos] = to;
        users[to].push_back({user, pos});
      }
      users[from] = std::move(kept);
    }
    ir::redirectGraphReads(graphs, from, to);
  };
  // Where the closures of each graph nested in the subtree are made: by a node of graph
  // `in` reading its graph constant, as the output of `in` (by == nullptr), or as a
  // parameter default of `in` (isDefault).
  struct Maker {
    const Graph* in;
    const Node* by;
    bool isDefault;
  };
  std::unordered_map<const Graph*, std::vector<Maker>> makers;
  for (Graph* S : graphs) {
    for (Node* n : S->nodes)
      for (Node* in : n->inputs)
        if (in && in->isGraphConst()) makers[in->g].push_back({S, n, false});
    for (Node* d : S->defaults)
      if (d && d->isGraphConst()) makers[d->g].push_back({S, nullptr, true});
    if (S->output && S->output->isGraphConst()) makers[S->output->g].push_back({S, nullptr, false});
  }
  std::vector<int> made;  // kernels reserved here, compiled together at the end
  std::unordered_map<int, std::vector<std::vector<int>>> nearOf;  // per kernel: the plan's distances
  for (Graph* G : graphs) {
    // Which nodes are fusible at all (lowered alone, their operands as inputs).
    std::unordered_set<Node*> fusible;
    std::unordered_map<Node*, size_t> order;
    bool anyReduction = false;
    for (size_t k = 0; k < G->nodes.size(); ++k) {
      Node* n = G->nodes[k];
      order[n] = k;
      Lowerer probe(opt.captured);
      if (probe.lower(n) >= 0) fusible.insert(n);
      Node* x;
      FusedReduce r;
      anyReduction = anyReduction || (opt.reductions && reductionOf(n, &x, &r));
    }
    if (fusible.size() + (anyReduction ? 1 : 0) < (size_t)std::max(opt.minOps, 1)) continue;
    std::unordered_set<Node*> assigned;
    std::vector<Node*> snapshot = G->nodes;
    bool madeHere = false;
    for (size_t idx = snapshot.size(); idx-- > 0;) {
      Node* root = snapshot[idx];
      // A reduction of a fusible value read by nothing else: the chain grown from that
      // value (without further outputs) becomes one kernel reducing its elements.
      Node* red = nullptr;
      FusedReduce rs;
      {
        Node* x = nullptr;
        if (opt.reductions && reductionOf(root, &x, &rs) && fusible.count(x) && !assigned.count(x) && x->graph == G &&
            !escapes.count(x) &&
            std::all_of(users[x].begin(), users[x].end(), [&](const std::pair<Node*, size_t>& u) { return u.first == root; })) {
          red = root;
          root = x;
        }
      }
      Node* const place = red ? red : root;  // where the kernel goes, whose value it stands for
      if (!fusible.count(root) || assigned.count(root)) continue;
      const size_t rootAt = order[root];
      std::set<Node*> group{root};
      // A value may join when every reader is in the group, or (a further output of the
      // kernel) is a node of G after the root, the value having the root's shape.
      // A reader in a graph nested in G reads the value from a closure, made when G
      // evaluates that graph's constant: after the root, the kernel's output is there.
      // (A J graph's forward values its bprop reads: docs/fusion.md "Differentiated graphs".)
      auto closureMadeAfterRoot = [&](const Graph* H) {
        if (!ir::isWithin(H, G) || H == G) return false;
        while (H->parent != G) H = H->parent;
        auto mk = makers.find(H);
        if (mk == makers.end()) return false;
        for (const Maker& mkr : mk->second) {
          if (mkr.in != G || mkr.isDefault) return false;
          if (!mkr.by) continue;  // G's output: made when G returns
          auto o = order.find(const_cast<Node*>(mkr.by));
          if (o == order.end() || o->second <= rootAt) return false;
        }
        return true;
      };
      auto mayJoin = [&](Node* in) {
        for (auto& [user, pos] : users[in]) {
          if (group.count(user)) continue;
          if (!opt.multiOutput || red || !sameShape(in->abs, root->abs)) return false;
          if (user->graph != G) {
            if (!closureMadeAfterRoot(user->graph)) return false;
            continue;
          }
          auto o = order.find(user);
          if (o == order.end() || o->second <= rootAt) return false;
        }
        return true;
      };
      bool changed = true;
      while (changed) {
        changed = false;
        std::vector<Node*> members(group.begin(), group.end());
        for (Node* mem : members)
          for (size_t k = 1; k < mem->inputs.size(); ++k) {
            Node* in = mem->inputs[k];
            if (group.count(in) || !fusible.count(in) || assigned.count(in) || in->graph != G || escapes.count(in))
              continue;
            if (!mayJoin(in)) continue;
            group.insert(in);
            changed = true;
          }
      }
      for (Node* mem : group) assigned.insert(mem);
      if ((int)group.size() + (red ? 1 : 0) < opt.minOps) continue;
      // Lower the members in program order.
      std::vector<Node*> members(group.begin(), group.end());
      std::sort(members.begin(), members.end(), [&](Node* a, Node* b) { return order[a] < order[b]; });
      Lowerer L(opt.captured);
      bool ok = true;
      for (Node* mem : members) {
        int v = L.lower(mem);
        if (v < 0) {
          ok = false;
          break;
        }
        L.valueOf[mem] = v;
      }
      if (!ok) continue;
      // The outputs: members read after the chain, then the root.
      std::vector<Node*> outs;
      for (Node* mem : members) {
        if (mem == root) continue;
        for (auto& [user, pos] : users[mem])
          if (!group.count(user)) {
            outs.push_back(mem);
            break;
          }
      }
      outs.push_back(root);
      L.spec.name = "fused_" + (red ? std::string(rs.name()) : root->name.empty() ? std::string("chain") : root->name);
      if (red) L.spec.reduce = rs;
      L.spec.outDType = root->abs->dtype;
      L.spec.outRank = root->abs->rank();
      for (Node* e : L.external) L.spec.innerStride.push_back(innerStrideOf(L.absOf(e), root->abs));
      if (outs.size() > 1) {
        for (Node* o : outs) L.spec.outputs.push_back(L.valueOf[o]);
      } else if (L.valueOf[root] != (int)L.spec.ops.size() - 1) {
        // The result must be the root's value (a cast-free identity chain has none).
        FusedOp o;
        o.kind = FusedOp::Kind::Cast;
        o.dt = L.spec.ops[(size_t)L.valueOf[root]].dt;
        o.a = L.valueOf[root];
        L.spec.ops.push_back(o);
      }
      bool anyTensor = false;
      for (const auto& in : L.spec.inputs) anyTensor |= in.kind == FusedKernel::In::Tensor;
      if (!anyTensor) continue;
      // For the buffer plan: how near each input is to each output (operations between
      // them), the input on the output's spine (first operands down the chain) nearest.
      std::vector<std::vector<int>> near;
      {
        const size_t nin = L.external.size();
        std::unordered_map<const Node*, size_t> inIdx;
        for (size_t q = 0; q < nin; ++q) inIdx[L.external[q]] = q;
        std::unordered_map<const Node*, std::vector<int>> dist;
        for (Node* mem : members) {
          std::vector<int> d(nin, INT_MAX);
          for (size_t q = 1; q < mem->inputs.size(); ++q) {
            Node* in = mem->inputs[q];
            auto e = inIdx.find(in);
            if (e != inIdx.end()) d[e->second] = 1;
            auto md = dist.find(in);
            if (md != dist.end())
              for (size_t t = 0; t < nin; ++t)
                if (md->second[t] != INT_MAX) d[t] = std::min(d[t], md->second[t] + 1);
          }
          dist[mem] = std::move(d);
        }
        for (Node* o : outs) {
          std::vector<int> d = dist[o];
          const Node* x = o;
          for (int guard = 0; guard < 10000 && x; ++guard) {
            const Node* next = nullptr;
            for (size_t q = 1; q < x->inputs.size() && !next; ++q) {
              const Node* in = x->inputs[q];
              if (in->isConst()) continue;
              if (inIdx.count(in)) {
                if (L.absOf(in) && L.absOf(in)->isTensor()) d[inIdx[in]] = 0;
                x = nullptr;
                break;
              }
              if (group.count(const_cast<Node*>(in))) next = in;
            }
            if (x) x = next;
          }
          near.push_back(std::move(d));
        }
      }
      // In a differentiated graph the kernel keeps its chain as calls (FusedKernel::chain).
      std::vector<FusedKernel::ChainStep> chain;
      std::vector<int> chainOutputs;
      if (G->madeByJ && !chainOf(members, red, outs, L.external, &chain, &chainOutputs)) continue;
      if (!kernels.available(L.spec, root)) {  // (an AOT executable's table lacks it)
        stats.unavailable++;
        continue;
      }
      int id = reserveFusedKernel(L.spec);
      if (!chain.empty()) {
        FusedKernel* fk = fusedKernel(id);
        fk->chain = std::move(chain);
        fk->chainOutputs = std::move(chainOutputs);
      }
      {
        std::lock_guard<std::mutex> lock(gSpecsMu);
        specs()[id] = L.spec;
      }
      made.push_back(id);
      nearOf[id] = std::move(near);
      std::vector<Node*> ins{m.constPrim(Prim::Fused, place->loc), m.constInt(id)};
      ins.insert(ins.end(), L.external.begin(), L.external.end());
      Node* k = m.newApply(G, std::move(ins), place->loc);
      G->nodes.pop_back();
      k->name = place->name;
      // With several outputs the kernel gives a tuple, taken apart right after it.
      std::vector<std::pair<Node*, Node*>> items;
      std::vector<Node*> placed{k};
      if (outs.size() > 1) {
        std::vector<const Abstract*> as;
        for (Node* o : outs) as.push_back(o->abs);
        k->abs = Abstract::tuple(as);
        for (size_t q = 0; q < outs.size(); ++q) {
          Node* it = m.newApply(G, {m.constPrim(Prim::TupleGetItem, root->loc), k, m.constInt((int64_t)q)}, root->loc);
          G->nodes.pop_back();
          it->abs = outs[q]->abs;
          it->name = outs[q]->name;
          items.push_back({it, outs[q]});
          placed.push_back(it);
          users[k].push_back({it, 1});
          order[it] = rootAt;
        }
      } else {
        k->abs = place->abs;
      }
      order[k] = order[place];
      // The fused node (and its items) take the root's place in program order; the members go.
      std::vector<Node*> kept;
      kept.reserve(G->nodes.size() + placed.size());
      for (Node* n : G->nodes) {
        if (n == place) kept.insert(kept.end(), placed.begin(), placed.end());
        else if (!group.count(n) && n != red) kept.push_back(n);
      }
      G->nodes = std::move(kept);
      // Readers of the chain's inputs: the kernel instead of the members.
      for (size_t q = 2; q < k->inputs.size(); ++q) {
        auto& us = users[k->inputs[q]];
        us.erase(std::remove_if(us.begin(), us.end(), [&](const std::pair<Node*, size_t>& u) { return group.count(u.first) > 0; }),
                 us.end());
        us.push_back({k, q});
      }
      if (red) {
        for (Node* in : red->inputs) {
          auto& us = users[in];
          us.erase(std::remove_if(us.begin(), us.end(), [&](const std::pair<Node*, size_t>& u) { return u.first == red; }), us.end());
        }
        members.push_back(red);  // (the chain as recorded for ir::unfuse: the reduction last)
      }
      if (items.empty()) {
        redirect(place, k, group);
      } else {
        for (auto& [it, mem] : items) redirect(mem, it, group);
      }
      ir::recordFused(G, ir::FusedChain{k, place, members, id, items});  // for the transforms (ir/Fused.h)
      stats.kernels++;
      stats.fusedOps += (int)members.size();
      if (red) stats.reductions++;
      if (outs.size() > 1) stats.multiOutput++;
      madeHere = true;
    }
    // The buffers: which kernel writes into which input (codegen/Planner.h).
    if (madeHere && opt.planBuffers) {
      PlanOptions po = opt.plan;
      for (Node* n : G->nodes)
        if (n->isPrimApply(Prim::Fused) && nearOf.count((int)n->inputs[1]->i)) po.distance[n] = nearOf[(int)n->inputs[1]->i];
      for (const FusedReuse& r : planBuffers(G, po)) {
        if (r.variants.empty()) continue;
        int id = (int)r.fused->inputs[1]->i;
        std::lock_guard<std::mutex> lock(gSpecsMu);
        auto sp = specs().find(id);
        FusedKernel* fk = fusedKernel(id);
        if (sp == specs().end() || !fk || sp->second.reduce.op != FusedReduce::Op::None) continue;  // (never in place)
        sp->second.inplace = r.variants;
        fk->inplace = r.variants;
        stats.inPlace++;
      }
    }
  }
  // The kernels of this graph and its nested graphs at once (graph mode: one LLVM module).
  std::vector<std::pair<int, const FusedSpec*>> todo;
  {
    std::lock_guard<std::mutex> lock(gSpecsMu);
    for (int id : made) todo.push_back({id, &specs()[id]});
  }
  if (!todo.empty()) kernels.provide(todo, opt.kernel);
  return stats;
}

}  // namespace msl::codegen
