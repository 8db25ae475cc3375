// Tests of tensor printing: tensorStr must equal NumPy 1.24's str(array) and tensorRepr
// NumPy's repr layout with "tensor(" and msl's dtype names. Fixed examples, then a few
// hundred random arrays printed by Debian's python3-numpy (skipped when unavailable).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <sstream>

#include "runtime/Print.h"
#include "runtime_tensor_test_util.h"

namespace msl {
namespace {

using namespace msl::test;

TEST(TensorPrint, Examples) {
  EXPECT_EQ(tensorStr(makeT(DType::F32, {3}, {4, 10, 18})), "[ 4. 10. 18.]");
  EXPECT_EQ(tensorStr(makeT(DType::I64, {2, 2}, {1, 2, 3, 4})), "[[1 2]\n [3 4]]");
  EXPECT_EQ(tensorStr(makeT(DType::Bool, {2}, {1, 0})), "[ True False]");
  EXPECT_EQ(tensorStr(makeT(DType::F32, {}, {21})), "21.0");
  EXPECT_EQ(tensorStr(makeT(DType::I64, {}, {3})), "3");
  EXPECT_EQ(tensorStr(makeT(DType::Bool, {}, {1})), "True");
  EXPECT_EQ(tensorStr(makeT(DType::F32, {}, {1e-5})), "1e-05");
  EXPECT_EQ(tensorStr(makeT(DType::F32, {2}, {0.1, 1.5})), "[0.1 1.5]");
  EXPECT_EQ(tensorStr(makeT(DType::F32, {2}, {0.3, 1.23456789e-5})), "[3.0000001e-01 1.2345679e-05]");
  EXPECT_EQ(tensorStr(makeT(DType::F64, {2}, {NAN, -INFINITY})), "[ nan -inf]");
  EXPECT_EQ(tensorStr(makeT(DType::F32, {0, 3}, {})), "[]");
  EXPECT_EQ(tensorRepr(makeT(DType::F32, {2}, {1, 2})), "tensor([1., 2.])");
  EXPECT_EQ(tensorRepr(makeT(DType::I64, {2}, {1, 2})), "tensor([1, 2])");
  EXPECT_EQ(tensorRepr(makeT(DType::I32, {2}, {1, 2})), "tensor([1, 2], dtype=i32)");
  EXPECT_EQ(tensorRepr(makeT(DType::F64, {}, {21})), "tensor(21., dtype=f64)");
  EXPECT_EQ(tensorRepr(makeT(DType::F32, {0}, {})), "tensor([], dtype=f32)");
  EXPECT_EQ(tensorRepr(makeT(DType::F32, {2, 0}, {})), "tensor([], shape=(2, 0), dtype=f32)");
  EXPECT_EQ(tensorRepr(makeT(DType::Bool, {}, {0})), "tensor(False)");
  EXPECT_EQ(tensorRepr(makeT(DType::BF16, {2}, {1, 0.1})), "tensor([1. , 0.1], dtype=bf16)");
  Tensor big = Tensor::zeros(DType::I64, {2000});
  EXPECT_EQ(tensorStr(big), "[0 0 0 ... 0 0 0]");
}

// ------------------------------------------------------------------------ against NumPy
// Generates random arrays, printing per line: dtype, shape, data (hex bytes), and the hex
// of str(a) and of the msl-style repr.
const char* kGenerator = R"PY(
import numpy as np, sys
rng = np.random.default_rng(12345)
def msl_repr(a, name):
    prefix = "tensor("
    skip = name in ("f32", "i64", "bool") and a.size > 0
    suffix = ")" if skip else ","
    if a.size > 0 or a.shape == (0,):
        lst = np.array2string(a, separator=", ", prefix=prefix, suffix=suffix)
    else:
        lst = "[], shape=%s" % (repr(a.shape),)
    s = prefix + lst + suffix
    if skip:
        return s
    d = "dtype=%s)" % name
    last = len(s) - (s.rfind("\n") + 1)
    return s + ("\n" + " " * len(prefix) if last + len(d) + 1 > 75 else " ") + d
types = [("f16", np.float16), ("f32", np.float32), ("f64", np.float64), ("u8", np.uint8),
         ("u32", np.uint32), ("i32", np.int32), ("i64", np.int64), ("bool", np.bool_)]
def floats(n):
    kind = rng.integers(0, 7)
    scale = 10.0 ** rng.integers(-12, 13)
    if kind == 0: x = rng.standard_normal(n) * scale
    elif kind == 1: x = np.round(rng.standard_normal(n) * 100)
    elif kind == 2: x = rng.uniform(0, 1, n) * 10.0 ** rng.integers(-6, 10, n)
    elif kind == 3: x = rng.integers(-5, 5, n) / 4.0
    elif kind == 4: x = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4)
    elif kind == 5: x = np.round(rng.standard_normal(n), int(rng.integers(0, 4)))
    else: x = rng.uniform(-1e5, 1e5, n)
    if rng.random() < 0.2:
        m = rng.random(n) < 0.15
        x[m] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0], m.sum())
    return x
for case in range(400):
    name, t = types[case % len(types)]
    r = rng.random()
    if r < 0.08: shape = ()
    elif r < 0.15: shape = tuple(int(v) for v in rng.integers(0, 3, rng.integers(1, 3)))
    elif r < 0.25: shape = [(1001,), (2000,), (40, 30), (3, 500), (11, 12, 13), (2, 3, 4, 50)][case % 6]
    else: shape = tuple(int(v) for v in rng.integers(1, 7, rng.integers(1, 5)))
    n = int(np.prod(shape))
    if name.startswith("f"):
        data = floats(n)
    elif name == "bool":
        data = rng.random(n) < 0.5
    elif name == "u8":
        data = rng.integers(0, 256, n)
    elif name == "u32":
        data = rng.integers(0, 2 ** 32, n) // (10 ** rng.integers(0, 9))
    else:
        lim = 2 ** 31 - 1 if name == "i32" else 2 ** 63 - 1
        data = rng.integers(-lim, lim, n) // (10 ** rng.integers(0, 18))
        data = np.clip(data, -lim, lim)
    with np.errstate(all="ignore"):
        a = np.asarray(data).astype(t).reshape(shape)
    sys.stdout.write("%s %s %s %s %s\n" % (name, "x".join(map(str, shape)) or "-",
        a.tobytes().hex() or "-", str(a).encode().hex(), msl_repr(a, name).encode().hex()))
)PY";

std::string unhex(const std::string& h) {
  std::string out;
  if (h == "-") return out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out += (char)std::stoi(h.substr(i, 2), nullptr, 16);
  return out;
}

bool haveNumpy() { return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0; }

TEST(TensorPrint, MatchesNumpy) {
  if (!haveNumpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  std::string script = ::testing::TempDir() + "msl_print_gen.py";
  FILE* f = std::fopen(script.c_str(), "w");
  ASSERT_TRUE(f);
  std::fputs(kGenerator, f);
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
    std::istringstream fields(line);
    std::string name, shapeText, dataHex, strHex, reprHex;
    fields >> name >> shapeText >> dataHex >> strHex >> reprHex;
    DType dt;
    ASSERT_TRUE(dtypeFromName(name, &dt)) << name;
    Shape shape;
    if (shapeText != "-") {
      std::istringstream dims(shapeText);
      std::string d;
      while (std::getline(dims, d, 'x')) shape.push_back(std::stoll(d));
    }
    Tensor t = Tensor::empty(dt, shape);
    std::string bytes = unhex(dataHex);
    ASSERT_EQ(bytes.size(), (size_t)t.numel() * dtypeSize(dt));
    if (!bytes.empty()) std::memcpy(t.data(), bytes.data(), bytes.size());
    ++cases;
    std::string wantStr = unhex(strHex), wantRepr = unhex(reprHex);
    std::string gotStr = tensorStr(t), gotRepr = tensorRepr(t);
    if (gotStr != wantStr && ++failures <= 10)
      ADD_FAILURE() << name << " " << shapeStr(shape) << "\nnumpy:\n" << wantStr << "\nmsl:\n" << gotStr;
    if (gotRepr != wantRepr && ++failures <= 10)
      ADD_FAILURE() << name << " " << shapeStr(shape) << "\nnumpy:\n" << wantRepr << "\nmsl:\n" << gotRepr;
  }
  EXPECT_EQ(cases, 400);
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace msl
