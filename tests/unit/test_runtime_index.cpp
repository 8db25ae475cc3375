// Tests of tensor indexing: tensor_getitem and tensor_setitem by hand, against NumPy for
// random index expressions (ints, slices, None, ..., integer arrays, boolean masks), and
// the copy counting of functional updates.
#include <gtest/gtest.h>

#include <sstream>

#include "runtime/Print.h"
#include "runtime_tensor_test_util.h"

namespace msl {
namespace {

using namespace msl::test;

Value call(Prim p, std::vector<Value> pos) {
  static PrimContext cx;
  return callPrim(cx, p, std::move(pos));
}
Value arange(const Shape& shape) {
  std::vector<double> v((size_t)numel(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = (double)i;
  return TV(makeT(DType::I64, shape, v));
}
Value N() { return Value::none(); }
Value Sl(Value lo, Value hi, Value step = Value::none()) { return makeSlice(lo, hi, step); }
std::string get(const Value& x, Value index) { return reprOf(call(Prim::TensorGetItem, {x, std::move(index)})); }

TEST(TensorIndex, Basic) {
  Value x = arange({3, 4});
  EXPECT_EQ(get(x, I(1)), "tensor([4, 5, 6, 7])");
  EXPECT_EQ(get(x, I(-1)), "tensor([ 8,  9, 10, 11])");
  EXPECT_EQ(get(x, T({I(1), I(-2)})), "tensor(6)");
  EXPECT_EQ(get(x, T({Sl(N(), N()), I(0)})), "tensor([0, 4, 8])");
  EXPECT_EQ(get(x, T({Sl(I(1), N()), Sl(N(), N(), I(-2))})), "tensor([[ 7,  5],\n        [11,  9]])");
  EXPECT_EQ(get(x, T({makeEllipsis(), I(1)})), "tensor([1, 5, 9])");
  EXPECT_EQ(get(x, T({N(), I(0)})), "tensor([[0, 1, 2, 3]])");
  EXPECT_EQ(get(x, T({I(0), N(), Sl(I(-100), I(100))})), "tensor([[0, 1, 2, 3]])");
  EXPECT_EQ(get(x, Sl(I(2), I(1))), "tensor([], shape=(0, 4), dtype=i64)");
  // Basic indexing gives views.
  Value v = call(Prim::TensorGetItem, {x, Sl(I(1), N())});
  EXPECT_EQ(TOf(v).buffer(), TOf(x).buffer());
}

TEST(TensorIndex, Advanced) {
  Value x = arange({3, 4});
  EXPECT_EQ(get(x, L({I(2), I(0), I(-1)})), "tensor([[ 8,  9, 10, 11],\n        [ 0,  1,  2,  3],\n        [ 8,  9, 10, 11]])");
  EXPECT_EQ(get(x, T({L({I(0), I(2)}), L({I(1), I(3)})})), "tensor([ 1, 11])");
  EXPECT_EQ(get(x, T({Sl(N(), N()), L({I(3), I(0)})})), "tensor([[ 3,  0],\n        [ 7,  4],\n        [11,  8]])");
  Value mask = call(Prim::Gt, {x, I(6)});
  EXPECT_EQ(get(x, mask), "tensor([ 7,  8,  9, 10, 11])");
  EXPECT_EQ(get(x, TV(makeT(DType::Bool, {3}, {1, 0, 1}))), "tensor([[ 0,  1,  2,  3],\n        [ 8,  9, 10, 11]])");
  // Non-adjacent advanced indices put the broadcast dimensions first.
  Value y = arange({2, 3, 4});
  EXPECT_EQ(TOf(call(Prim::TensorGetItem, {y, T({L({I(0), I(1)}), Sl(N(), N()), L({I(0), I(3)})})})).shape(), (Shape{2, 3}));
  EXPECT_EQ(TOf(call(Prim::TensorGetItem, {y, T({I(0), Sl(N(), N()), L({I(0), I(3)})})})).shape(), (Shape{2, 3}));
  EXPECT_EQ(TOf(call(Prim::TensorGetItem, {y, T({Sl(N(), N()), I(0), L({I(0), I(3)})})})).shape(), (Shape{2, 2}));
}

TEST(TensorIndex, Errors) {
  Value x = arange({3, 4});
  EXPECT_EQ(errorOf([&] { get(x, I(3)); }), "index 3 is out of range for axis 0 with size 3");
  EXPECT_EQ(errorOf([&] { get(x, T({I(0), I(-5)})); }), "index -5 is out of range for axis 1 with size 4");
  EXPECT_EQ(errorOf([&] { get(x, T({I(0), I(0), I(0)})); }), "too many indices: tensor has 2 dimensions but 3 were indexed");
  EXPECT_EQ(errorOf([&] { get(arange({3}), T({I(0), I(0)})); }), "too many indices: tensor has 1 dimension but 2 were indexed");
  EXPECT_EQ(errorOf([&] { get(x, L({I(0), I(7)})); }), "index 7 is out of range for axis 0 with size 3");
  EXPECT_EQ(errorOf([&] { get(x, S("a")); }),
            "tensor indices must be integers, slices, None, ..., or integer or boolean tensors, not 'str'");
  EXPECT_NE(errorOf([&] { get(x, F(1.0)); }), "");
  EXPECT_NE(errorOf([&] { get(x, TV(makeT(DType::F32, {1}, {0}))); }), "");
  EXPECT_EQ(errorOf([&] { get(x, TV(makeT(DType::Bool, {2}, {1, 0}))); }),
            "boolean index of shape (2,) does not match the indexed shape (3,)");
  EXPECT_EQ(errorOf([&] { get(x, Sl(N(), N(), I(0))); }), "slice step cannot be zero");
  EXPECT_NE(errorOf([&] { get(x, T({makeEllipsis(), makeEllipsis()})); }), "");
}

TEST(TensorIndex, SetItem) {
  Value x = TV(makeT(DType::F32, {2, 3}, {0, 0, 0, 0, 0, 0}));
  Value y = call(Prim::TensorSetItem, {x, I(0), F(1.5)});
  EXPECT_EQ(reprOf(y), "tensor([[1.5, 1.5, 1.5],\n        [0. , 0. , 0. ]])");
  EXPECT_EQ(reprOf(x), "tensor([[0., 0., 0.],\n        [0., 0., 0.]])");  // x is unchanged: value semantics
  y = call(Prim::TensorSetItem, {y, T({Sl(N(), N()), I(1)}), L({I(7), I(8)})});
  EXPECT_EQ(reprOf(y), "tensor([[1.5, 7. , 1.5],\n        [0. , 8. , 0. ]])");
  y = call(Prim::TensorSetItem, {y, call(Prim::Gt, {y, F(1.0)}), I(-1)});
  EXPECT_EQ(reprOf(y), "tensor([[-1., -1., -1.],\n        [ 0., -1.,  0.]])");
  y = call(Prim::TensorSetItem, {y, T({L({I(0), I(1)}), L({I(2), I(0)})}), TV(makeT(DType::F64, {2}, {5, 6}))});
  EXPECT_EQ(reprOf(y), "tensor([[-1., -1.,  5.],\n        [ 6., -1.,  0.]])");  // keeps x's dtype
  y = call(Prim::TensorSetItem, {y, I(1), TV(makeT(DType::F32, {1, 3}, {1, 2, 3}))});  // leading 1 dropped
  EXPECT_EQ(reprOf(y), "tensor([[-1., -1.,  5.],\n        [ 1.,  2.,  3.]])");
  EXPECT_EQ(errorOf([&] { call(Prim::TensorSetItem, {y, I(0), L({I(1), I(2)})}); }),
            "shapes (2,) and (3,) cannot be broadcast together for assignment");
  EXPECT_EQ(errorOf([&] { call(Prim::TensorSetItem, {y, I(5), I(0)}); }), "index 5 is out of range for axis 0 with size 2");
}

TEST(TensorIndex, SetItemCopiesOnlyWhenShared) {
  // 10^5 updates of a uniquely owned tensor: no copy.
  Value x = TV(Tensor::zeros(DType::F32, {1000}));
  uint64_t before = tensorCopyCount();
  for (int i = 0; i < 100000; ++i) {
    Value args[3] = {std::move(x), I(i % 1000), F((double)i)};
    x = prim_TensorSetItem(testContext(), args);
  }
  EXPECT_EQ(tensorCopyCount(), before);
  EXPECT_EQ(TOf(x).getF64(999), 99999.0);
  // With a second reference, the update copies once and the other holder sees nothing.
  Value keep = x;
  Value args[3] = {std::move(x), I(0), F(-1.0)};
  Value y = prim_TensorSetItem(testContext(), args);
  EXPECT_EQ(tensorCopyCount(), before + 1);
  EXPECT_EQ(TOf(keep).getF64(0), 99000.0);
  EXPECT_EQ(TOf(y).getF64(0), -1.0);
  // A view shares its buffer: updating it copies.
  Value view = call(Prim::TensorGetItem, {y, Sl(I(0), I(10))});
  Value args2[3] = {std::move(view), I(0), F(5.0)};
  Value z = prim_TensorSetItem(testContext(), args2);
  EXPECT_EQ(tensorCopyCount(), before + 2);
  EXPECT_EQ(TOf(y).getF64(0), -1.0);
  EXPECT_EQ(TOf(z).getF64(0), 5.0);
  // A broadcast view is the only owner of its buffer, but its rows share memory.
  Value rows = call(Prim::BroadcastTo, {TV(makeT(DType::F32, {3}, {1, 2, 3})), T({I(2), I(3)})});
  Value args3[3] = {std::move(rows), T({I(0), I(0)}), F(9.0)};
  EXPECT_EQ(reprOf(prim_TensorSetItem(testContext(), args3)), "tensor([[9., 2., 3.],\n        [1., 2., 3.]])");
}

// ------------------------------------------------------------------------ against NumPy
// Each line: array shape | index items | result shape or ERR | result values | value
// assigned | array after the assignment (or ERR). Items: iN int, sA,B,C slice (n = None),
// n None, e Ellipsis, aSHAPE:VALS int array, bSHAPE:VALS bool mask; a leading T marks a
// tuple index.
const char* kIndexGenerator = R"PY(
import numpy as np, warnings
warnings.simplefilter("error")  # NumPy 1.24 only warns about some out-of-range indices
rng = np.random.default_rng(99)
def enc_shape(s): return "x".join(map(str, s)) or "-"
def enc_vals(a): return ",".join(str(int(v)) for v in a.ravel()) or "-"
def rand_item(dim):
    r = rng.random()
    if dim is None or r < 0.1: return ("n", None)
    if r < 0.3: return ("i", int(rng.integers(-dim - 1, dim + 1)))
    if r < 0.6:
        def b(): return None if rng.random() < 0.3 else int(rng.integers(-dim - 2, dim + 2))
        step = None if rng.random() < 0.4 else int(rng.choice([-3, -2, -1, 1, 2, 3]))
        return ("s", slice(b(), b(), step))
    if r < 0.85:
        shp = tuple(int(v) for v in rng.integers(1, 4, rng.integers(0, 3)))
        return ("a", rng.integers(-dim, dim, shp) if dim else np.zeros(shp, dtype=np.int64))
    return ("m", None)
for case in range(300):
    shape = tuple(int(v) for v in rng.integers(1, 5, rng.integers(1, 4)))
    a = np.arange(int(np.prod(shape))).reshape(shape)
    items, enc, d = [], [], 0
    for k in range(int(rng.integers(1, 4))):
        dim = shape[d] if d < len(shape) else None
        kind, v = rand_item(dim)
        if kind == "m" and dim is not None:
            span = int(rng.integers(1, min(2, len(shape) - d) + 1))
            m = rng.random(shape[d:d + span]) < 0.5
            items.append(m); enc.append("b%s:%s" % (enc_shape(m.shape), enc_vals(m.astype(int)))); d += span; continue
        if kind == "m": kind, v = "n", None
        if kind == "n": items.append(None); enc.append("n")
        elif kind == "i": items.append(v); enc.append("i%d" % v); d += 1
        elif kind == "s":
            items.append(v); d += 1
            f = lambda t: "n" if t is None else str(t)
            enc.append("s%s,%s,%s" % (f(v.start), f(v.stop), f(v.step)))
        else: items.append(v); enc.append("a%s:%s" % (enc_shape(v.shape), enc_vals(v))); d += 1
    if rng.random() < 0.2:
        p = int(rng.integers(0, len(items) + 1)); items.insert(p, Ellipsis); enc.insert(p, "e")
    tup = rng.random() < 0.7 or len(items) > 1
    idx = tuple(items) if tup else items[0]
    try:
        r = a[idx]; res = "%s|%s" % (enc_shape(r.shape), enc_vals(np.asarray(r)))
        val = -1 - np.arange(r.size).reshape(r.shape) if rng.random() < 0.5 else np.array(-7)
        b = a.copy(); b[idx] = val
        after = enc_vals(b)
        valenc = "%s:%s" % (enc_shape(val.shape), enc_vals(val))
    except (IndexError, DeprecationWarning):
        res, valenc, after = "ERR|-", "-", "-"
    print("%s|%s%s|%s|%s|%s" % (enc_shape(shape), "T" if tup else "S", ";".join(enc), res, valenc, after))
)PY";

Shape parseShape(const std::string& s) {
  Shape out;
  if (s == "-" || s.empty()) return out;
  std::istringstream in(s);
  std::string d;
  while (std::getline(in, d, 'x')) out.push_back(std::stoll(d));
  return out;
}
std::vector<double> parseVals(const std::string& s) {
  std::vector<double> out;
  if (s == "-" || s.empty()) return out;
  std::istringstream in(s);
  std::string v;
  while (std::getline(in, v, ',')) out.push_back((double)std::stoll(v));
  return out;
}
std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) { out.push_back(cur); cur.clear(); }
    else cur += c;
  }
  out.push_back(cur);
  return out;
}
Value parseItem(const std::string& it) {
  switch (it[0]) {
    case 'n': return Value::none();
    case 'e': return makeEllipsis();
    case 'i': return I(std::stoll(it.substr(1)));
    case 's': {
      auto parts = split(it.substr(1), ',');
      auto v = [](const std::string& p) { return p == "n" ? Value::none() : I(std::stoll(p)); };
      return makeSlice(v(parts[0]), v(parts[1]), v(parts[2]));
    }
    default: {  // a / b
      auto parts = split(it.substr(1), ':');
      return TV(makeT(it[0] == 'a' ? DType::I64 : DType::Bool, parseShape(parts[0]), parseVals(parts[1])));
    }
  }
}
std::vector<double> valuesOf(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back((double)t.getI64(i));
  return v;
}

TEST(TensorIndex, MatchesNumpy) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  std::string script = ::testing::TempDir() + "msl_index_gen.py";
  FILE* f = std::fopen(script.c_str(), "w");
  ASSERT_TRUE(f);
  std::fputs(kIndexGenerator, f);
  std::fclose(f);
  FILE* p = popen(("/usr/bin/python3 " + script).c_str(), "r");
  ASSERT_TRUE(p);
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0);
  std::istringstream lines(out);
  std::string line;
  int cases = 0, failures = 0;
  while (std::getline(lines, line)) {
    auto fields = split(line, '|');
    ASSERT_EQ(fields.size(), 6u) << line;
    ++cases;
    Shape shape = parseShape(fields[0]);
    Value x = arange(shape);
    std::vector<Value> items;
    for (const std::string& it : split(fields[1].substr(1), ';')) items.push_back(parseItem(it));
    Value index = fields[1][0] == 'T' ? makeTuple(items) : items[0];
    std::string got;
    Value r;
    try {
      r = call(Prim::TensorGetItem, {x, index});
    } catch (const Error& e) {
      got = "ERR";
    }
    bool ok;
    if (fields[2] == "ERR") {
      ok = got == "ERR";
    } else {
      ok = got.empty() && TOf(r).shape() == parseShape(fields[2]) && valuesOf(TOf(r)) == parseVals(fields[3]);
      if (ok) {
        auto vparts = split(fields[4], ':');
        Value val = TV(makeT(DType::I64, parseShape(vparts[0]), parseVals(vparts[1])));
        Value after = call(Prim::TensorSetItem, {x, index, val});
        ok = valuesOf(TOf(after)) == parseVals(fields[5]) && valuesOf(TOf(x)) == valuesOf(TOf(arange(shape)));
      }
    }
    if (!ok && ++failures <= 10) ADD_FAILURE() << line << "\ngot: " << (got.empty() ? reprOf(r) : got);
  }
  EXPECT_EQ(cases, 300);
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace msl
