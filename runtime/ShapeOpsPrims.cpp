// Shape and selection primitives of ir/Primitives.def with NumPy's semantics: take, tile,
// split, pad, sort, topk and einsum. Tensors are values: results are new tensors (split
// gives views, which are never written).
//
// einsum parses its spec ("ij,jk->ik"; without "->" the output is the letters used once,
// in alphabetical order, as in NumPy); two operands whose letters map onto a batched
// matrix product go through matmul (oneDNN for f32), anything else through a loop over
// every letter that accumulates in f64 (floats) or i64 (integers).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <string>

#include "ir/Diagnostics.h"
#include "runtime/Host.h"
#include "runtime/PrimImpl.h"
#include "runtime/TensorValues.h"

namespace msl {

namespace {

// The integers of an int-or-sequence argument.
std::vector<int64_t> intList(const Value& v, const char* fn, const char* param) {
  std::vector<int64_t> out;
  if (isSeq(v))
    for (const Value& e : seqItems(v)) out.push_back(intArg(e, fn, param));
  else
    out.push_back(intArg(v, fn, param));
  return out;
}

Tensor indexTensor(const Value& v, const char* fn, const char* param) {
  Tensor t = argTensor(v, fn, param);
  if (!isInteger(t.dtype()) && !(t.numel() == 0 && isFloat(t.dtype()) && !v.is(VKind::Tensor)))
    raise(DiagId::TypeError, SourceLoc{}, {std::string(fn) + ": " + param + " must be integers, not " + dtypeName(t.dtype())});
  return astype(t, DType::I64).contiguous();
}

// Moves `axis` of x to the end: the permutation and its inverse.
std::vector<int> axisLast(int ndim, int axis, std::vector<int>* inverse) {
  std::vector<int> perm;
  for (int d = 0; d < ndim; ++d)
    if (d != axis) perm.push_back(d);
  perm.push_back(axis);
  inverse->assign(ndim, 0);
  for (int d = 0; d < ndim; ++d) (*inverse)[perm[d]] = d;
  return perm;
}

// a < b for sorting with NumPy's order: NaN after everything.
template <class C> bool lessNanLast(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (b != b) return a == a;
    if (a != a) return false;
  }
  return a < b;
}

}  // namespace

// ================================================================== take
Value prim_Take(CallContext&, Value* args) {
  const char* fn = "take";
  Tensor x = argTensor(args[0], fn, "x");
  Tensor idx = indexTensor(args[1], fn, "indices");
  int axis = 0;
  if (args[2].isNone()) x = reshapeTo(x, {x.numel()});
  else axis = normAxis(intArg(args[2], fn, "axis"), x.ndim());
  if (x.ndim() == 0) valueError("take: cannot take from a 0-d tensor along an axis");
  int64_t n = x.dim(axis);
  Shape outer(x.shape().begin(), x.shape().begin() + axis), inner(x.shape().begin() + axis + 1, x.shape().end());
  Shape outShape = outer;
  outShape.insert(outShape.end(), idx.shape().begin(), idx.shape().end());
  outShape.insert(outShape.end(), inner.begin(), inner.end());
  Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.dtype(), outShape);
  int64_t no = numel(outer), ni = numel(inner), nk = idx.numel();
  size_t es = dtypeSize(x.dtype());
  const int64_t* pi = idx.ptr<int64_t>();
  for (int64_t k = 0; k < nk; ++k)
    if (pi[k] < -n || pi[k] >= n)
      raise(DiagId::IndexOutOfRange, SourceLoc{}, {std::to_string(pi[k]), std::to_string(axis), std::to_string(n)});
  const char* src = static_cast<const char*>(xc.data());
  char* dst = static_cast<char*>(out.data());
  for (int64_t o = 0; o < no; ++o)
    for (int64_t k = 0; k < nk; ++k) {
      int64_t i = pi[k] < 0 ? pi[k] + n : pi[k];
      if (ni > 0) std::memcpy(dst + (o * nk + k) * ni * es, src + (o * n + i) * ni * es, ni * es);
    }
  return makeTensor(std::move(out));
}

// ================================================================== tile
Value prim_Tile(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "tile", "x");
  std::vector<int64_t> reps = intList(args[1], "tile", "reps");
  for (int64_t r : reps)
    if (r < 0) valueError("tile: repetitions must not be negative, got " + std::to_string(r));
  size_t nd = std::max(reps.size(), (size_t)x.ndim());
  reps.insert(reps.begin(), nd - reps.size(), 1);
  Shape xs = x.shape(), st = x.strides();
  xs.insert(xs.begin(), nd - xs.size(), 1);
  st.insert(st.begin(), nd - st.size(), 0);
  // A broadcast view (rep0, d0, rep1, d1, ...) with stride 0 along each repetition axis.
  Shape vshape, vstrides, outShape;
  for (size_t d = 0; d < nd; ++d) {
    vshape.push_back(reps[d]);
    vstrides.push_back(0);
    vshape.push_back(xs[d]);
    vstrides.push_back(st[d]);
    outShape.push_back(reps[d] * xs[d]);
  }
  Tensor out = Tensor::empty(x.dtype(), vshape);
  if (out.numel() > 0) assignInto(out, x.view(vshape, vstrides, x.offset()));
  return makeTensor(reshapeTo(out, outShape));
}

// ================================================================== split
// split(x, sections, axis=0) of a tensor; prim_Split (runtime/RandomPrims.cpp) sends keys
// elsewhere.
Value splitTensor(Value* args) {
  const char* fn = "split";
  Tensor x = argTensor(args[0], fn, "x");
  if (args[1].is(VKind::None)) raise(DiagId::MissingArgument, SourceLoc{}, {"split", "sections"});
  if (x.ndim() == 0) valueError("split: cannot split a 0-d tensor");
  int axis = normAxis(intArg(args[2], fn, "axis"), x.ndim());
  int64_t n = x.dim(axis);
  std::vector<int64_t> bounds{0};
  if (isSeq(args[1])) {
    // Split points, clamped to [0, n] as NumPy does.
    for (int64_t p : intList(args[1], fn, "sections")) {
      if (p < 0) p = std::max<int64_t>(p + n, 0);
      bounds.push_back(std::min(p, n));
    }
  } else {
    int64_t parts = intArg(args[1], fn, "sections");
    if (parts <= 0) valueError("split: the number of sections must be positive, got " + std::to_string(parts));
    if (n % parts != 0)
      valueError("split: axis " + std::to_string(axis) + " of shape " + shapeStr(x.shape()) + " does not divide into " +
                 std::to_string(parts) + " equal sections");
    for (int64_t k = 1; k < parts; ++k) bounds.push_back(k * (n / parts));
  }
  bounds.push_back(n);
  std::vector<Value> parts;
  for (size_t k = 0; k + 1 < bounds.size(); ++k) {
    int64_t lo = bounds[k], hi = std::max(bounds[k], bounds[k + 1]);
    Shape s = x.shape();
    s[axis] = hi - lo;
    parts.push_back(makeTensor(x.view(s, x.strides(), x.offset() + lo * x.strides()[axis])));
  }
  return makeList(std::move(parts));
}

// ================================================================== pad
// pad's widths: n (all sides), (before, after) for every axis, or one pair per axis.
std::vector<std::pair<int64_t, int64_t>> padWidths(const Value& wv, const Tensor& x) {
  const char* fn = "pad";
  int nd = x.ndim();
  std::vector<std::pair<int64_t, int64_t>> w;
  if (!isSeq(wv)) {
    int64_t p = intArg(wv, fn, "widths");
    w.assign(nd, {p, p});
  } else {
    const auto& items = seqItems(wv);
    bool nested = !items.empty() && isSeq(items[0]);
    if (!nested) {
      std::vector<int64_t> v = intList(wv, fn, "widths");
      if (v.size() == 1) w.assign(nd, {v[0], v[0]});
      else if (v.size() == 2) w.assign(nd, {v[0], v[1]});
      else valueError("pad: widths must be an int, a pair or one pair per axis; got " + std::to_string(v.size()) + " values");
    } else {
      if (items.size() != (size_t)nd && items.size() != 1)
        valueError("pad: " + std::to_string(items.size()) + " pairs of widths for a tensor of shape " + shapeStr(x.shape()));
      for (const Value& it : items) {
        std::vector<int64_t> v = intList(it, fn, "widths");
        if (v.size() == 1) v.push_back(v[0]);
        if (v.size() != 2) valueError("pad: each width must be an int or a pair (before, after)");
        w.push_back({v[0], v[1]});
      }
      if (w.size() == 1) w.assign(nd, w[0]);
    }
  }
  return w;
}

Value prim_Pad(CallContext&, Value* args) {
  const char* fn = "pad";
  Tensor x = argTensor(args[0], fn, "x");
  int nd = x.ndim();
  std::vector<std::pair<int64_t, int64_t>> w = padWidths(args[1], x);
  Shape outShape;
  int64_t off = 0;
  for (int d = 0; d < nd; ++d) {
    if (w[d].first < 0 || w[d].second < 0) valueError("pad: widths must not be negative");
    outShape.push_back(x.dim(d) + w[d].first + w[d].second);
  }
  Tensor out = Tensor::empty(x.dtype(), outShape);
  Scalar s;
  if (!asScalar(args[2], &s)) s = Scalar::real(argFloat(args[2], fn, "value"));
  if (out.numel() > 0) assignInto(out, scalarTensor(x.dtype(), s));
  Shape strides = out.strides();
  for (int d = 0; d < nd; ++d) off += w[d].first * strides[d];
  if (x.numel() > 0) assignInto(out.view(x.shape(), strides, off), x);
  return makeTensor(std::move(out));
}

// ================================================================== sort, topk
Value prim_Sort(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "sort", "x");
  int axis;
  if (args[1].isNone() || x.ndim() == 0) {
    x = reshapeTo(x, {x.numel()});
    axis = 0;
  } else {
    axis = normAxis(intArg(args[1], "sort", "axis"), x.ndim());
  }
  std::vector<int> inv;
  std::vector<int> perm = axisLast(x.ndim(), axis, &inv);
  Tensor moved = permute(x, perm).clone();
  int64_t n = x.dim(axis), rows = n ? moved.numel() / n : 0;
  visitDType(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = ComputeT<T>;
    T* p = moved.ptr<T>();
    for (int64_t r = 0; r < rows; ++r)
      std::stable_sort(p + r * n, p + (r + 1) * n,
                       [](T a, T b) { return lessNanLast(convertValue<C>(a), convertValue<C>(b)); });
  });
  return makeTensor(permute(moved, inv).contiguous());
}

Value prim_Topk(CallContext&, Value* args) {
  Tensor x = argTensor(args[0], "topk", "x");
  if (x.ndim() == 0) valueError("topk: expects a tensor with at least one axis, got shape ()");
  int64_t k = intArg(args[1], "topk", "k"), n = x.dim(x.ndim() - 1);
  if (k < 0 || k > n)
    valueError("topk: k = " + std::to_string(k) + " is out of range for the last axis of shape " + shapeStr(x.shape()));
  Tensor xc = x.contiguous();
  Shape outShape = x.shape();
  outShape.back() = k;
  Tensor vals = Tensor::empty(x.dtype(), outShape), idx = Tensor::empty(DType::I64, outShape);
  int64_t rows = n ? x.numel() / n : 0;
  std::vector<int64_t> order((size_t)n);
  visitDType(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = ComputeT<T>;
    const T* px = xc.ptr<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = px + r * n;
      std::iota(order.begin(), order.end(), 0);
      // Largest first (NaN counts as the largest); ties keep the lower index first.
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
        C va = convertValue<C>(row[a]), vb = convertValue<C>(row[b]);
        if (lessNanLast(vb, va)) return true;
        if (lessNanLast(va, vb)) return false;
        return a < b;
      });
      for (int64_t j = 0; j < k; ++j) {
        vals.ptr<T>()[r * k + j] = row[order[j]];
        idx.ptr<int64_t>()[r * k + j] = order[j];
      }
    }
  });
  return makeTuple({makeTensor(std::move(vals)), makeTensor(std::move(idx))});
}

// ================================================================== einsum
namespace {

struct EinsumSpec {
  std::vector<std::string> inputs;
  std::string output;
};

EinsumSpec parseEinsum(const std::string& spec, size_t nOperands) {
  EinsumSpec s;
  std::string lhs = spec, rhs;
  bool explicitOut = false;
  size_t arrow = spec.find("->");
  if (arrow != std::string::npos) {
    lhs = spec.substr(0, arrow);
    rhs = spec.substr(arrow + 2);
    explicitOut = true;
  }
  std::string cur;
  for (char c : lhs + ",") {
    if (c == ' ') continue;
    if (c == ',') {
      s.inputs.push_back(cur);
      cur.clear();
    } else if (std::isalpha((unsigned char)c)) {
      cur += c;
    } else {
      valueError(std::string("einsum: unsupported character '") + c + "' in the spec '" + spec + "' (letters only)");
    }
  }
  if (s.inputs.size() != nOperands)
    valueError("einsum: the spec '" + spec + "' names " + std::to_string(s.inputs.size()) + " operand" +
               (s.inputs.size() == 1 ? "" : "s") + " but " + std::to_string(nOperands) + " were given");
  std::map<char, int> count;
  for (const auto& in : s.inputs)
    for (char c : in) count[c]++;
  if (explicitOut) {
    for (char c : rhs) {
      if (c == ' ') continue;
      if (!std::isalpha((unsigned char)c) || !count.count(c))
        valueError(std::string("einsum: output letter '") + c + "' does not appear in the inputs of '" + spec + "'");
      if (s.output.find(c) != std::string::npos)
        valueError(std::string("einsum: output letter '") + c + "' appears twice in '" + spec + "'");
      s.output += c;
    }
  } else {
    for (auto& [c, n] : count)
      if (n == 1) s.output += c;
  }
  return s;
}

// Two operands without repeated letters, every letter shared or in the output:
// a batched matrix product, permuted into place.
bool einsumMatmul(const EinsumSpec& s, const std::vector<Tensor>& ops, Tensor* result) {
  if (ops.size() != 2) return false;
  const std::string &a = s.inputs[0], &b = s.inputs[1], &o = s.output;
  auto has = [](const std::string& str, char c) { return str.find(c) != std::string::npos; };
  for (const std::string* str : {&a, &b, &o})
    for (size_t i = 0; i < str->size(); ++i)
      if (str->find((*str)[i], i + 1) != std::string::npos) return false;
  std::string batch, m, n, k;
  for (char c : a) {
    if (has(b, c) && has(o, c)) batch += c;
    else if (has(b, c)) k += c;
    else if (has(o, c)) m += c;
    else return false;  // summed over in a alone
  }
  for (char c : b)
    if (!has(a, c)) {
      if (!has(o, c)) return false;
      n += c;
    }
  auto sizeOf = [&](char c) {
    size_t p = a.find(c);
    return p != std::string::npos ? ops[0].dim((int)p) : ops[1].dim((int)b.find(c));
  };
  auto arrange = [&](const Tensor& t, const std::string& letters, const std::string& g1, const std::string& g2,
                     const std::string& g3) {
    std::vector<int> perm;
    for (const std::string* g : {&g1, &g2, &g3})
      for (char c : *g) perm.push_back((int)letters.find(c));
    int64_t s1 = 1, s2 = 1, s3 = 1;
    for (char c : g1) s1 *= sizeOf(c);
    for (char c : g2) s2 *= sizeOf(c);
    for (char c : g3) s3 *= sizeOf(c);
    return reshapeTo(permute(t, perm), {s1, s2, s3});
  };
  Tensor A = arrange(ops[0], a, batch, m, k), B = arrange(ops[1], b, batch, k, n);
  Tensor C = matmul(A, B);  // (batch, M, N)
  Shape full;
  std::string order = batch + m + n;
  for (char c : order) full.push_back(sizeOf(c));
  Tensor r = reshapeTo(C, full);
  std::vector<int> perm;
  for (char c : o) perm.push_back((int)order.find(c));
  *result = permute(r, perm).contiguous();
  return true;
}

// The general case: a loop over every combination of letters.
Tensor einsumLoop(const EinsumSpec& s, const std::vector<Tensor>& ops, const std::map<char, int64_t>& sizes) {
  DType rt = ops[0].dtype();
  for (const Tensor& t : ops) rt = promote(rt, t.dtype());
  std::string letters = s.output;
  for (auto& [c, n] : sizes)
    if (letters.find(c) == std::string::npos) letters += c;
  size_t nl = letters.size(), no = s.output.size();
  std::vector<int64_t> dims(nl);
  for (size_t i = 0; i < nl; ++i) dims[i] = sizes.at(letters[i]);
  // Per operand, the stride of each letter (summed when a letter repeats: a diagonal).
  std::vector<std::vector<int64_t>> strides(ops.size(), std::vector<int64_t>(nl, 0));
  std::vector<Tensor> cast;
  for (size_t k = 0; k < ops.size(); ++k) {
    cast.push_back(astype(ops[k], isFloat(rt) ? DType::F64 : DType::I64));
    for (size_t p = 0; p < s.inputs[k].size(); ++p) strides[k][letters.find(s.inputs[k][p])] += cast[k].strides()[p];
  }
  Shape outShape;
  for (size_t i = 0; i < no; ++i) outShape.push_back(dims[i]);
  int64_t outN = numel(outShape), inner = 1;
  for (size_t i = no; i < nl; ++i) inner *= dims[i];
  auto run = [&](auto zero) {
    using Acc = decltype(zero);
    Tensor out = Tensor::empty(isFloat(rt) ? DType::F64 : DType::I64, outShape);
    Acc* po = out.ptr<Acc>();
    std::vector<int64_t> idx(nl, 0);
    for (int64_t f = 0; f < outN; ++f) {
      int64_t rem = f;
      for (size_t i = no; i-- > 0;) idx[i] = rem % dims[i], rem /= dims[i];
      Acc acc = 0;
      for (int64_t g = 0; g < inner; ++g) {
        int64_t r2 = g;
        for (size_t i = nl; i-- > no;) idx[i] = r2 % dims[i], r2 /= dims[i];
        Acc prod = 1;
        for (size_t k = 0; k < ops.size(); ++k) {
          int64_t off = 0;
          for (size_t i = 0; i < nl; ++i) off += idx[i] * strides[k][i];
          prod *= cast[k].template ptr<Acc>()[off];
        }
        acc += prod;
      }
      po[f] = acc;
    }
    return out;
  };
  Tensor out = isFloat(rt) ? run(0.0) : run((int64_t)0);
  return astype(out, rt);
}

}  // namespace

Value prim_Einsum(CallContext&, Value* args) {
  const std::string& spec = argStr(args[0], "einsum", "spec");
  std::vector<Tensor> ops;
  for (const Value& v : args[1].as<TupleObj>()->items) ops.push_back(argTensor(v, "einsum", "operands"));
  if (ops.empty()) valueError("einsum: needs at least one operand");
  EinsumSpec s = parseEinsum(spec, ops.size());
  std::map<char, int64_t> sizes;
  std::map<char, size_t> first;  // the operand that fixed each letter's size
  for (size_t k = 0; k < ops.size(); ++k) {
    if ((int)s.inputs[k].size() != ops[k].ndim())
      valueError("einsum: operand " + std::to_string(k) + " of shape " + shapeStr(ops[k].shape()) + " has " +
                 std::to_string(ops[k].ndim()) + " axes but '" + s.inputs[k] + "' names " +
                 std::to_string(s.inputs[k].size()));
    for (size_t p = 0; p < s.inputs[k].size(); ++p) {
      char c = s.inputs[k][p];
      int64_t d = ops[k].dim((int)p);
      auto it = sizes.find(c);
      if (it == sizes.end()) {
        sizes[c] = d;
        first[c] = k;
      } else if (it->second != d) {
        valueError(std::string("einsum: letter '") + c + "' has size " + std::to_string(it->second) + " in operand " +
                   std::to_string(first[c]) + " of shape " + shapeStr(ops[first[c]].shape()) + " but " +
                   std::to_string(d) + " in operand " + std::to_string(k) + " of shape " + shapeStr(ops[k].shape()));
      }
    }
  }
  Tensor r;
  if (einsumMatmul(s, ops, &r)) return makeTensor(std::move(r));
  return makeTensor(einsumLoop(s, ops, sizes));
}

}  // namespace msl
