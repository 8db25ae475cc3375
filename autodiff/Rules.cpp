// The reverse rule of every differentiable primitive, in one table. Each rule is written
// as IR (RuleCtx::call), so a rule is itself made of primitives with rules. In the
// comments, c is the cotangent of the result y, and "ub(v, x)" sums v to the shape and
// dtype of x (__unbroadcast: the cotangent of a broadcast operand; None for integers).
#include "autodiff/Rules.h"

#include "autodiff/J.h"

namespace msl::autodiff {

using ir::Node;

Node* RuleCtx::call(Prim p, std::vector<Node*> args) {
  args.insert(args.begin(), m.constPrim(p, loc));
  return m.newApply(b, std::move(args), loc);
}

std::vector<Node*> reverseRule(Prim p, RuleCtx& r) {
  Node* c = r.ct;
  Node* y = r.out;
  auto& x = r.x;
  auto C = [&](Prim q, std::vector<Node*> a) { return r.call(q, std::move(a)); };
  auto mul = [&](Node* a, Node* b) { return C(Prim::Mul, {a, b}); };
  auto div = [&](Node* a, Node* b) { return C(Prim::Div, {a, b}); };
  auto add = [&](Node* a, Node* b) { return C(Prim::Add, {a, b}); };
  auto sub = [&](Node* a, Node* b) { return C(Prim::Sub, {a, b}); };
  auto neg = [&](Node* a) { return C(Prim::Neg, {a}); };
  auto ub = [&](Node* v, Node* like) { return r.ub(v, like); };
  switch (p) {
    // ---- arithmetic
    case Prim::Add: return {ub(c, x[0]), ub(c, x[1])};               // c, c
    case Prim::Sub: return {ub(c, x[0]), ub(neg(c), x[1])};          // c, -c
    case Prim::Mul: return {ub(mul(c, x[1]), x[0]), ub(mul(c, x[0]), x[1])};  // c*b, c*a
    case Prim::Div: return {ub(div(c, x[1]), x[0]), ub(neg(div(mul(c, y), x[1])), x[1])};  // c/b, -c*y/b
    case Prim::Neg: return {neg(c)};
    case Prim::Pos: return {c};
    case Prim::Pow: {
      // d(a^b)/da = b a^(b-1); d(a^b)/db = y log a (only for a float exponent).
      Node* da = ub(mul(c, mul(x[1], C(Prim::Pow, {x[0], sub(x[1], r.integer(1))}))), x[0]);
      bool intExponent = x[1]->isConst() && (x[1]->ckind == ir::ConstKind::Int || x[1]->ckind == ir::ConstKind::Bool);
      return {da, intExponent ? nullptr : ub(mul(c, mul(y, C(Prim::Log, {x[0]}))), x[1])};
    }
    case Prim::MatMul:
    case Prim::Dot:  // c @ b^T, a^T @ c (with vectors and batches as matmul treats them)
      return {C(Prim::MatMulBwd, {c, x[0], x[1], r.integer(0)}), C(Prim::MatMulBwd, {c, x[0], x[1], r.integer(1)})};

    // ---- elementwise functions
    case Prim::Exp: return {mul(c, y)};                                      // c y
    case Prim::Log: return {div(c, x[0])};                                   // c / x
    case Prim::Log1p: return {div(c, add(x[0], r.num(1.0)))};               // c / (1 + x)
    case Prim::Sqrt: return {div(mul(c, r.num(0.5)), y)};                   // c / (2 y)
    case Prim::Rsqrt: return {mul(mul(c, r.num(-0.5)), div(y, x[0]))};      // -c y / (2 x)
    case Prim::Sin: return {mul(c, C(Prim::Cos, {x[0]}))};                   // c cos x
    case Prim::Cos: return {neg(mul(c, C(Prim::Sin, {x[0]})))};             // -c sin x
    case Prim::Tanh: return {mul(c, sub(r.num(1.0), mul(y, y)))};           // c (1 - y^2)
    case Prim::Sigmoid: return {mul(c, mul(y, sub(r.num(1.0), y)))};        // c y (1 - y)
    case Prim::Relu: return {mul(c, C(Prim::Gt, {x[0], r.integer(0)}))};   // c [x > 0]: relu'(0) = 0
    case Prim::Softplus: return {mul(c, C(Prim::Sigmoid, {x[0]}))};         // c sigmoid(x)
    case Prim::Abs:
    case Prim::TensorAbs: return {mul(c, C(Prim::Sign, {x[0]}))};           // c sign(x): abs'(0) = 0
    case Prim::Maximum:
    case Prim::Minimum: {
      // The larger (smaller) operand takes c; ties share it equally.
      Prim wins = p == Prim::Maximum ? Prim::Gt : Prim::Lt;
      Node* tie = mul(C(Prim::Eq, {x[0], x[1]}), r.num(0.5));
      Node* wa = add(C(wins, {x[0], x[1]}), tie);
      Node* wb = add(C(wins, {x[1], x[0]}), tie);
      return {ub(mul(c, wa), x[0]), ub(mul(c, wb), x[1])};
    }
    case Prim::Where:  // where(k, c, 0), where(k, 0, c)
      return {nullptr, ub(C(Prim::Where, {x[0], c, r.num(0.0)}), x[1]), ub(C(Prim::Where, {x[0], r.num(0.0), c}), x[2])};
    case Prim::AsType: return {ub(c, x[0]), nullptr};                        // c in x's dtype
    case Prim::TensorNew: return {C(Prim::TensorNewBwd, {c, x[0]}), nullptr};  // c split back into data's items
    case Prim::Full: return {nullptr, ub(c, x[1]), nullptr};                 // the fill value: sum of c
    case Prim::FloatNew: return {ub(c, x[0])};                               // float(t): c as t's cotangent
    case Prim::Item: return {ub(c, x[0])};

    // ---- reductions
    case Prim::TensorSum: return {C(Prim::SumBwd, {c, x[0], x[1], x[2]}), nullptr, nullptr};  // c broadcast back
    case Prim::Sum:  // sum(x, start, axis=, keepdims=): tensors reduce; sequences add items
      return {C(Prim::SumBwd, {c, x[0], x[2], x[3]}), ub(c, x[1]), nullptr, nullptr};
    case Prim::Mean: {  // c broadcast back, divided by the count
      Node* count = div(C(Prim::Size, {y}), C(Prim::Size, {x[0]}));
      return {mul(C(Prim::SumBwd, {c, x[0], x[1], x[2]}), count), nullptr, nullptr};
    }
    case Prim::TensorMax:
    case Prim::TensorMin: return {C(Prim::MinMaxBwd, {c, x[0], y, x[1], x[2]}), nullptr, nullptr};  // shared among ties
    case Prim::Max:
    case Prim::Min:  // the *args tuple: one tensor reduces, several values compare
      return {C(Prim::MinMaxBwd, {c, x[0], y, x[1], x[2]}), nullptr, nullptr, nullptr};
    case Prim::Logsumexp: {  // c exp(x - y), both broadcast back
      Node* yb = C(Prim::SumBwd, {y, x[0], x[1], x[2]});
      return {mul(C(Prim::SumBwd, {c, x[0], x[1], x[2]}), C(Prim::Exp, {sub(x[0], yb)})), nullptr, nullptr};
    }
    case Prim::Softmax: {  // y (c - sum(c y, axis))
      Node* s = C(Prim::TensorSum, {mul(c, y), x[1], r.m.constBool(true)});
      return {mul(y, sub(c, s)), nullptr};
    }
    case Prim::LogSoftmax: {  // c - exp(y) sum(c, axis)
      Node* s = C(Prim::TensorSum, {c, x[1], r.m.constBool(true)});
      return {sub(c, mul(C(Prim::Exp, {y}), s)), nullptr};
    }
    case Prim::Mse: {  // mean((a - b)^2): 2 (a - b) c / n
      Node* d = sub(x[0], x[1]);
      Node* g = mul(mul(c, div(r.num(2.0), C(Prim::Size, {d}))), d);
      return {ub(g, x[0]), ub(neg(g), x[1])};
    }
    case Prim::CrossEntropy: {  // (softmax(logits) - one_hot(labels)) c[..., None]
      Node* n = C(Prim::GetItem, {C(Prim::Shape, {x[0]}), r.integer(-1)});
      Node* p = sub(C(Prim::Softmax, {x[0], r.integer(-1)}), C(Prim::OneHot, {x[1], n, r.m.constDType(DType::F32)}));
      return {ub(mul(p, C(Prim::ExpandDims, {c, r.integer(-1)})), x[0]), nullptr};
    }

    // ---- neural-network operations: one helper computes the cotangents of all arguments
    case Prim::Conv2d: case Prim::MaxPool2d: case Prim::AvgPool2d: case Prim::LayerNorm:
    case Prim::BatchNorm: case Prim::Gelu: case Prim::Clip: {
      Node* cts = C(Prim::NNBwd, {c, r.m.constStr(primName(p)), C(Prim::MakeTuple, x)});
      std::vector<Node*> out;
      for (size_t i = 0; i < x.size(); ++i) out.push_back(C(Prim::CtIndex, {cts, r.integer((int64_t)i)}));
      return out;
    }
    case Prim::Embedding: return {C(Prim::GetItemBwd, {c, x[0], x[1]}), nullptr};  // table[ids]
    case Prim::Swapaxes: return {C(Prim::Swapaxes, {c, x[1], x[2]}), nullptr, nullptr};
    case Prim::Dropout: return {nullptr, C(Prim::Dropout, {x[0], c, x[2]}), nullptr};  // the same mask
    case Prim::Var:
    case Prim::Std: {
      // var = sum((x - m)^2) / (n - ddof): dx = 2 (x - m) c / (n - ddof), broadcast back;
      // std = sqrt(var): its c becomes c / (2 y) first.
      Node* d = sub(x[0], C(Prim::Mean, {x[0], x[1], r.m.constBool(true)}));
      Node* n = sub(div(C(Prim::Size, {x[0]}), C(Prim::Size, {y})), x[3]);
      Node* cv = p == Prim::Std ? div(c, mul(y, r.num(2.0))) : c;
      return {mul(C(Prim::SumBwd, {cv, x[0], x[1], x[2]}), mul(d, div(r.num(2.0), n))), nullptr, nullptr, nullptr};
    }

    // ---- shape
    case Prim::Reshape:
    case Prim::ExpandDims:
    case Prim::Squeeze:
    case Prim::Flatten: {  // c reshaped back
      std::vector<Node*> out(x.size(), nullptr);
      out[0] = C(Prim::Reshape, {c, C(Prim::Shape, {x[0]})});
      return out;
    }
    case Prim::BroadcastTo: return {ub(c, x[0]), nullptr};
    case Prim::Transpose: return {C(Prim::TransposeBwd, {c, x[1]}), nullptr};
    case Prim::TransposeT: return {C(Prim::TransposeT, {c})};
    case Prim::Concat: return {C(Prim::ConcatBwd, {c, x[0], x[1], r.m.constBool(false)}), nullptr};
    case Prim::Stack: return {C(Prim::ConcatBwd, {c, x[0], x[1], r.m.constBool(true)}), nullptr};
    case Prim::TensorGetItem: return {C(Prim::GetItemBwd, {c, x[0], x[1]}), nullptr};

    // ---- sequences made from iterables
    case Prim::Enumerate: return {C(Prim::SeqBwd, {c, x[0], r.m.constStr("enumerate")}), nullptr};
    case Prim::Zip: return {C(Prim::SeqBwd, {c, x[0], r.m.constStr("zip")})};
    case Prim::ListNew:
    case Prim::TupleNew: return {C(Prim::SeqBwd, {c, x[0], r.m.constStr("list")})};
    case Prim::Reversed: return {C(Prim::SeqBwd, {c, x[0], r.m.constStr("reversed")})};

    // ---- structure (core)
    case Prim::GetItem:
    case Prim::TupleGetItem: return {C(Prim::GetItemBwd, {c, x[0], x[1]}), nullptr};
    case Prim::GetAttr: return {C(Prim::GetAttrBwd, {c, x[0], x[1]}), nullptr};
    case Prim::Unpack: return {C(Prim::UnpackBwd, {c, x[0], x[2]}), nullptr, nullptr};
    case Prim::MakeTuple:
    case Prim::MakeList: {
      std::vector<Node*> out;
      for (size_t i = 0; i < x.size(); ++i) out.push_back(C(Prim::CtIndex, {c, r.integer((int64_t)i)}));
      return out;
    }
    case Prim::MakeDict: {  // (k0, v0, k1, v1, ...)
      std::vector<Node*> out;
      for (size_t i = 0; i + 1 < x.size(); i += 2) {
        out.push_back(nullptr);
        out.push_back(C(Prim::CtIndex, {c, x[i]}));
      }
      return out;
    }
    case Prim::Depend: return {c, nullptr};
    case Prim::CheckBound: return {c, nullptr};

    // ---- the helpers J emits are linear in their cotangent argument
    case Prim::CtAdd: return {ub(c, x[0]), ub(c, x[1])};
    case Prim::CtIndex: return {C(Prim::GetItemBwd, {c, x[0], x[1]}), nullptr};
    case Prim::Unbroadcast: return {ub(c, x[0]), nullptr};
    case Prim::CtFill: return {c, nullptr};  // ct (zeros when None) is linear in ct
    case Prim::GetItemBwd: return {C(Prim::CtIndex, {c, x[2]}), nullptr, nullptr};  // c[index]

    // ---- higher order: the pieces of grad's graph (runtime/AutodiffPrims.cpp)
    case Prim::Grad:
    case Prim::ValueAndGrad:  // a partial's cotangent is (ct_func, ct of each bound argument): f is bound first
      return {C(Prim::CtIndex, {c, r.integer(1)}), nullptr, nullptr};
    case Prim::GradPack: {  // linear in cts and in out: its transpose splits c back
      Node* t = C(Prim::GradPackBwd, {c, x[1], x[2], x[3], x[4], x[5]});
      return {C(Prim::CtIndex, {t, r.integer(0)}), C(Prim::CtIndex, {t, r.integer(1)}), nullptr, nullptr, nullptr, nullptr};
    }
    case Prim::VjpPack: return {C(Prim::VjpPackBwd, {c, x[1]}), nullptr};
    case Prim::JSiteArrange: return {C(Prim::JSiteArrangeBwd, {c, x[1], x[0]}), nullptr};  // a permutation
    default: break;
  }
  return {};
}

DiffKind diffKind(Prim p) {
  switch (p) {
    case Prim::Add: case Prim::Sub: case Prim::Mul: case Prim::Div: case Prim::Neg: case Prim::Pos:
    case Prim::Pow: case Prim::MatMul: case Prim::Dot: case Prim::Exp: case Prim::Log: case Prim::Log1p:
    case Prim::Sqrt: case Prim::Rsqrt: case Prim::Sin: case Prim::Cos: case Prim::Tanh: case Prim::Sigmoid:
    case Prim::Relu: case Prim::Softplus: case Prim::Abs: case Prim::TensorAbs: case Prim::Maximum:
    case Prim::Minimum: case Prim::Where: case Prim::AsType: case Prim::TensorNew: case Prim::Full: case Prim::FloatNew: case Prim::Item:
    case Prim::TensorSum: case Prim::Sum: case Prim::Mean: case Prim::TensorMax: case Prim::TensorMin:
    case Prim::Max: case Prim::Min: case Prim::Logsumexp: case Prim::Softmax: case Prim::LogSoftmax:
    case Prim::Mse: case Prim::CrossEntropy: case Prim::Reshape: case Prim::ExpandDims: case Prim::Squeeze:
    case Prim::Flatten: case Prim::BroadcastTo: case Prim::Transpose: case Prim::TransposeT:
    case Prim::Concat: case Prim::Stack: case Prim::TensorGetItem: case Prim::GetItem:
    case Prim::TupleGetItem: case Prim::GetAttr: case Prim::Unpack: case Prim::MakeTuple:
    case Prim::MakeList: case Prim::MakeDict: case Prim::Depend: case Prim::CheckBound:
    case Prim::CtAdd: case Prim::CtIndex: case Prim::Unbroadcast: case Prim::Enumerate: case Prim::Zip:
    case Prim::ListNew: case Prim::TupleNew: case Prim::Reversed: case Prim::Conv2d: case Prim::MaxPool2d:
    case Prim::AvgPool2d: case Prim::LayerNorm: case Prim::BatchNorm: case Prim::Gelu: case Prim::Clip:
    case Prim::Embedding: case Prim::Swapaxes: case Prim::Dropout: case Prim::Var: case Prim::Std:
    case Prim::CtFill: case Prim::GetItemBwd: case Prim::Grad: case Prim::ValueAndGrad: case Prim::GradPack: case Prim::VjpPack:
    case Prim::JSiteArrange:
      return DiffKind::Rule;

    case Prim::Switch: case Prim::JCall: case Prim::MethodCall: case Prim::Scan: case Prim::WhileLoop:
    case Prim::JEnter: case Prim::ScanJ: case Prim::ScanBwd: case Prim::WhileJ: case Prim::WhileBwd:
      return DiffKind::Structural;

    // Results without a derivative: comparisons and logic, integer-valued functions,
    // shapes and dtypes, host values, strings, effects.
    case Prim::Eq: case Prim::Ne: case Prim::Lt: case Prim::Le: case Prim::Gt: case Prim::Ge:
    case Prim::BitAnd: case Prim::BitOr: case Prim::BitXor: case Prim::Invert: case Prim::FloorDiv:
    case Prim::Mod: case Prim::Truth: case Prim::Not: case Prim::Is: case Prim::Contains:
    case Prim::Sign: case Prim::Floor: case Prim::Ceil: case Prim::TensorRound: case Prim::Round:
    case Prim::IsNan: case Prim::IsFinite: case Prim::Argmax: case Prim::Argmin: case Prim::TensorAll:
    case Prim::TensorAny: case Prim::All: case Prim::Any: case Prim::Shape: case Prim::DTypeOf:
    case Prim::NDim: case Prim::Size: case Prim::Len: case Prim::Range: case Prim::IntNew: case Prim::BoolNew:
    case Prim::StrNew: case Prim::Repr: case Prim::Isinstance: case Prim::FormatValue: case Prim::StrConcat:
    case Prim::Print: case Prim::Time: case Prim::Exit: case Prim::ReadText: case Prim::WriteText:
    case Prim::Exists: case Prim::Makedirs: case Prim::Isatty: case Prim::Raise: case Prim::Assert: case Prim::GlobalGet:
    case Prim::GlobalSet: case Prim::UpdateState: case Prim::ImportModule: case Prim::MakeSlice:
    case Prim::TreeSize: case Prim::TreeZerosLike: case Prim::MakeClass: case Prim::StopGradient: case Prim::CustomVjp: case Prim::CustomVjpWrap:
    case Prim::Jacobian: case Prim::Zeros: case Prim::Ones:
    case Prim::Arange: case Prim::Linspace: case Prim::Eye: case Prim::ZerosLike: case Prim::OnesLike:
    case Prim::OneHot: case Prim::Prng: case Prim::FoldIn: case Prim::Bits: case Prim::Uniform:
    case Prim::Normal: case Prim::Permutation: case Prim::Bernoulli: case Prim::Categorical:
    case Prim::LoadIdx: case Prim::LoadNpy: case Prim::SaveNpy: case Prim::LoadNpz: case Prim::SaveNpz:
    case Prim::LoadCsv: case Prim::ExcValueError: case Prim::ExcTypeError: case Prim::ExcRuntimeError:
    case Prim::ExcKeyError: case Prim::ExcIndexError: case Prim::ExcException: case Prim::ExcAssertionError:
    case Prim::ExcNotImplementedError: case Prim::StrSplit: case Prim::StrJoin: case Prim::StrStrip:
    case Prim::StrLstrip: case Prim::StrRstrip: case Prim::StrStartswith: case Prim::StrEndswith:
    case Prim::StrReplace: case Prim::StrFormat: case Prim::StrUpper: case Prim::StrLower: case Prim::StrFind:
    case Prim::StrCount: case Prim::StrIndex: case Prim::SeqIndex: case Prim::SeqCount: case Prim::DictKeys:
    case Prim::DictValues: case Prim::DictItems: case Prim::GradSeed:
      return DiffKind::Zero;
    default:
      return DiffKind::NotYet;
  }
}

}  // namespace msl::autodiff
