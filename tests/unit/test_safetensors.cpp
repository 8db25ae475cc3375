// Checkpoints in the safetensors format (runtime/Checkpoint.cpp) and the JSON reader they
// use (runtime/Json.cpp): round trips, then one hand-built bad file per check that
// load_checkpoint makes, asserting that the error names the file and the failed check.
#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/Json.h"
#include "runtime_host_test_util.h"

namespace msl::test {
namespace {

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/msl-safetensors-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir + "'").c_str()); }

  std::string file(const std::string& name, const std::string& bytes) {
    std::string path = dir + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::vector<std::string> listDir() {
    std::vector<std::string> out;
    DIR* d = opendir(dir.c_str());
    while (dirent* e = readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
    closedir(d);
    return out;
  }
  Value call(Prim p, std::vector<Value> pos, Kwargs kw = {}) { return callPrim(cx, p, std::move(pos), std::move(kw)); }
  // The message of loading `bytes` as a checkpoint, after the "load_checkpoint 'PATH': " prefix
  // (which it must have).
  std::string loadError(const std::string& bytes, Kwargs kw = {}) {
    std::string p = file("bad.safetensors", bytes);
    std::string m = errorOf([&] { call(Prim::LoadCheckpoint, {S(p.c_str())}, kw); });
    std::string prefix = "load_checkpoint '" + p + "': ";
    EXPECT_EQ(m.substr(0, prefix.size()), prefix) << m;
    return m.size() >= prefix.size() ? m.substr(prefix.size()) : m;
  }

  PrimContext cx;
  std::string dir;
};

// A safetensors file: the 8-byte length of `header` (or `len` when given), the header, data.
std::string st(const std::string& header, const std::string& data = "", int64_t len = -1) {
  uint64_t n = len < 0 ? header.size() : (uint64_t)len;
  std::string out;
  for (int i = 0; i < 8; ++i) out += (char)(n >> (8 * i));
  return out + header + data;
}

Value tensorF32(std::vector<float> v, Shape shape) {
  Tensor t = Tensor::empty(DType::F32, shape);
  for (size_t i = 0; i < v.size(); ++i) t.ptr<float>()[i] = v[i];
  return makeTensor(t);
}

Value dict(std::vector<std::pair<const char*, Value>> kv) {
  Value d = makeDict();
  for (auto& [k, v] : kv) d.as<DictObj>()->set(S(k), v);
  return d;
}

const Value* get(const Value& d, const char* k) { return d.as<DictObj>()->find(S(k)); }

// ------------------------------------------------------------------ round trips

TEST_F(Safetensors, RoundTripWithoutLike) {
  std::string p = dir + "/c.safetensors";
  Value tree = dict({{"l1", dict({{"w", tensorF32({1, 2, 3, 4, 5, 6}, {2, 3})}, {"b", tensorF32({7}, {1})}})},
                     {"step", I(12)},
                     {"lr", F(0.5)},
                     {"flag", Value::boolean(true)},
                     {"keys", L({makeTensor(Tensor::scalarInt(DType::U32, 7)), S("adam")})}});
  call(Prim::SaveCheckpoint, {S(p.c_str()), tree});
  std::string bytes = slurp(p);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= (uint64_t)(uint8_t)bytes[i] << (8 * i);
  EXPECT_EQ((8 + n) % 8, 0u);  // the data buffer starts 8-byte aligned
  EXPECT_EQ(bytes[8], '{');
  // The header names tensors by path and keeps the string in __metadata__.
  std::string header = bytes.substr(8, n);
  EXPECT_NE(header.find("\"__metadata__\":{\"keys.1\":\"adam\"}"), std::string::npos) << header;
  EXPECT_NE(header.find("\"l1.w\":{\"dtype\":\"F32\",\"shape\":[2,3],"), std::string::npos) << header;
  EXPECT_NE(header.find("\"step\":{\"dtype\":\"I64\",\"shape\":[]"), std::string::npos) << header;

  Value d = call(Prim::LoadCheckpoint, {S(p.c_str())});
  std::vector<std::string> keys;
  for (auto& [k, v] : d.as<DictObj>()->entries) keys.push_back(k.as<StrObj>()->s);
  EXPECT_EQ(keys, (std::vector<std::string>{"l1.w", "l1.b", "step", "lr", "flag", "keys.0", "keys.1"}));
  const Tensor& w = get(d, "l1.w")->as<TensorObj>()->t;
  EXPECT_EQ(w.shape(), (Shape{2, 3}));
  EXPECT_EQ(w.getF64(5), 6.0);
  EXPECT_EQ(get(d, "step")->as<TensorObj>()->t.dtype(), DType::I64);
  EXPECT_EQ(get(d, "lr")->as<TensorObj>()->t.getF64(0), 0.5);
  EXPECT_EQ(get(d, "flag")->as<TensorObj>()->t.dtype(), DType::Bool);
  EXPECT_EQ(get(d, "keys.0")->as<TensorObj>()->t.dtype(), DType::U32);
  EXPECT_EQ(get(d, "keys.1")->as<StrObj>()->s, "adam");
  // No temporary file is left behind.
  EXPECT_EQ(listDir(), std::vector<std::string>{"c.safetensors"});
}

TEST_F(Safetensors, RoundTripWithLikeKeepsTypes) {
  std::string p = dir + "/c.safetensors";
  Value tree = dict({{"w", tensorF32({1, 2}, {2})}, {"step", I(3)}, {"lr", F(0.25)}, {"on", Value::boolean(false)}, {"name", S("x")}, {"none", Value::none()}});
  call(Prim::SaveCheckpoint, {S(p.c_str()), tree});
  Value like = dict({{"w", tensorF32({0, 0}, {2})}, {"step", I(0)}, {"lr", F(0)}, {"on", Value::boolean(true)}, {"name", S("")}, {"none", Value::none()}});
  Value back = call(Prim::LoadCheckpoint, {S(p.c_str())}, {{"like", like}});
  EXPECT_EQ(get(back, "step")->asInt(), 3);
  EXPECT_EQ(get(back, "lr")->asFloat(), 0.25);
  EXPECT_FALSE(get(back, "on")->asBool());
  EXPECT_EQ(get(back, "name")->as<StrObj>()->s, "x");
  EXPECT_TRUE(get(back, "none")->isNone());
  EXPECT_EQ(get(back, "w")->as<TensorObj>()->t.getF64(1), 2.0);
}

TEST_F(Safetensors, LikeMismatchesNameTheTensor) {
  std::string p = dir + "/c.safetensors";
  call(Prim::SaveCheckpoint, {S(p.c_str()), dict({{"w", tensorF32({1, 2}, {2})}, {"b", tensorF32({1}, {1})}})});
  auto err = [&](Value like) { return errorOf([&] { call(Prim::LoadCheckpoint, {S(p.c_str())}, {{"like", like}}); }); };
  std::string pre = "load_checkpoint '" + p + "': ";
  EXPECT_EQ(err(dict({{"w", tensorF32({1, 2, 3}, {3})}, {"b", tensorF32({1}, {1})}})),
            pre + "tensor 'w': expected f32 (3,), found f32 (2,)");
  EXPECT_EQ(err(dict({{"w", makeTensor(Tensor::zeros(DType::F64, {2}))}, {"b", tensorF32({1}, {1})}})),
            pre + "tensor 'w': expected f64 (2,), found f32 (2,)");
  EXPECT_EQ(err(dict({{"w", tensorF32({1, 2}, {2})}})), pre + "extra tensor 'b' not in like");
  EXPECT_EQ(err(dict({{"w", tensorF32({1, 2}, {2})}, {"b", tensorF32({1}, {1})}, {"c", tensorF32({1}, {1})}})),
            pre + "missing tensor 'c' (like has a tensor)");
}

TEST_F(Safetensors, SaveErrors) {
  std::string p = dir + "/c.safetensors";
  EXPECT_EQ(errorOf([&] { call(Prim::SaveCheckpoint, {S(p.c_str()), dict({{"a.b", I(1)}, {"a", dict({{"b", I(2)}})}})}); }),
            "save_checkpoint: two leaves of the tree are both named 'a.b'");
  EXPECT_EQ(errorOf([&] { call(Prim::SaveCheckpoint, {S(p.c_str()), dict({{"f", Value::dtype(DType::F32)}})}); }),
            "save_checkpoint: cannot save a value of type 'dtype' (at 'f'); trees hold tensors, numbers, strings and None");
  // A folder that does not exist: an IoError, and nothing written.
  std::string missing = dir + "/no/such/dir/c.safetensors";
  EXPECT_NE(errorOf([&] { call(Prim::SaveCheckpoint, {S(missing.c_str()), dict({{"a", I(1)}})}); }).find("save_checkpoint '" + missing + "'"),
            std::string::npos);
  EXPECT_TRUE(listDir().empty());
}

TEST_F(Safetensors, AFailedSaveKeepsTheOldCheckpoint) {
  std::string p = dir + "/c.safetensors";
  call(Prim::SaveCheckpoint, {S(p.c_str()), dict({{"a", I(1)}})});
  std::string before = slurp(p);
  EXPECT_NE(errorOf([&] { call(Prim::SaveCheckpoint, {S(p.c_str()), dict({{"f", Value::dtype(DType::F32)}})}); }), "");
  EXPECT_EQ(slurp(p), before);
}

// ------------------------------------------------------------------ one bad file per check

const std::string kF32x2 = std::string(8, '\0');  // two f32 zeros

TEST_F(Safetensors, Valid) {
  // The reference for the cases below: a well-formed file loads.
  std::string p = file("ok.safetensors", st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", kF32x2));
  EXPECT_EQ(errorOf([&] { call(Prim::LoadCheckpoint, {S(p.c_str())}); }), "");
}

TEST_F(Safetensors, HeaderLength) {
  EXPECT_EQ(loadError("abc"), "header length: the file has 3 bytes, fewer than the 8 of the header length");
  EXPECT_EQ(loadError(st("{")), "header length 1 is too small (a JSON object needs at least 2 bytes)");
  EXPECT_EQ(loadError(st("{}", "", 1000)), "header length 1000 is beyond the end of the file (2 bytes follow the length)");
  EXPECT_EQ(loadError(st("{}", "", (int64_t)1 << 62)), "header length 4611686018427387904 is over the limit of 100000000 bytes");
  // Truncated header: the file ends inside the JSON.
  EXPECT_EQ(loadError(st(R"({"a":{"dtype":"F32")", "", 40)), "header length 40 is beyond the end of the file (19 bytes follow the length)");
}

TEST_F(Safetensors, HeaderJson) {
  EXPECT_EQ(loadError(st(R"({"a":)")), "header JSON: unexpected end of the text at byte 5");
  EXPECT_EQ(loadError(st(R"({"a" 1})")), "header JSON: expected ':' at byte 5");
  EXPECT_EQ(loadError(st("{\"a\x01\":1}")), "header JSON: control character in a string at byte 3");
  EXPECT_EQ(loadError(st("{\"\xff\":1}")), "header JSON: invalid UTF-8 in a string at byte 2");
  EXPECT_EQ(loadError(st(R"({"\ud800":1})")), "header JSON: unpaired surrogate in a \\u escape at byte 8");
  EXPECT_EQ(loadError(st(R"({} x)")), "header JSON: text after the JSON value at byte 3");
  EXPECT_EQ(loadError(st(R"([])")), "header JSON: the header is not an object");
  std::string deep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_EQ(loadError(st(deep)), "header JSON: nesting deeper than 64 levels at byte 68");
  // Deep JSON is rejected without recursion, however deep.
  std::string deeper(1000000, '[');
  EXPECT_EQ(loadError(st(deeper)), "header JSON: nesting deeper than 64 levels at byte 64");
}

TEST_F(Safetensors, Entries) {
  auto one = [&](const std::string& entry, const std::string& data = kF32x2) {
    return loadError(st("{\"a\":" + entry + "}", data));
  };
  EXPECT_EQ(one("3"), "tensor 'a': entry is not an object");
  EXPECT_EQ(one(R"({"dtype":"F7","shape":[2],"data_offsets":[0,8]})"), "tensor 'a': unknown dtype 'F7'");
  EXPECT_EQ(one(R"({"dtype":"U64","shape":[1],"data_offsets":[0,8]})"), "tensor 'a': dtype U64 is not supported");
  EXPECT_EQ(one(R"({"dtype":3,"shape":[2],"data_offsets":[0,8]})"), "tensor 'a': dtype is not a string");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), "tensor 'a': shape: a dimension is not a non-negative integer");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"), "tensor 'a': shape: a dimension is not a non-negative integer");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]})"),
            "tensor 'a': shape: a dimension is not a non-negative integer");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]})"),
            "tensor 'a': shape (4611686018427387904, 4): the number of elements overflows");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[2305843009213693952],"data_offsets":[0,8]})"),
            "tensor 'a': shape (2305843009213693952,): the size in bytes overflows");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":"2","data_offsets":[0,8]})"), "tensor 'a': shape is not a list");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,100]})"),
            "tensor 'a': data_offsets [0, 100] are outside the data buffer (8 bytes)");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"),
            "tensor 'a': data_offsets [8, 0] are outside the data buffer (8 bytes)");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]})"),
            "tensor 'a': data_offsets [0, 18446744073709551615] are outside the data buffer (8 bytes)");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})"), "tensor 'a': data_offsets is not a pair of non-negative integers");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4,8]})"), "tensor 'a': data_offsets is not a pair of non-negative integers");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"),
            "tensor 'a': wrong size: data_offsets [0, 8] hold 8 bytes, shape (3,) of F32 needs 12");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[2]})"), "tensor 'a': no data_offsets");
  EXPECT_EQ(one(R"({"shape":[2],"data_offsets":[0,8]})"), "tensor 'a': no dtype");
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1})"), "tensor 'a': unexpected key 'x'");
  EXPECT_EQ(one(R"({"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]})"), "tensor 'a': duplicate key 'dtype'");
  EXPECT_EQ(one(R"({"dtype":"BOOL","shape":[8],"data_offsets":[0,8]})", std::string(7, '\0') + "\x02"),
            "tensor 'a': BOOL element 7 is 2, not 0 or 1");
}

TEST_F(Safetensors, Layout) {
  const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  EXPECT_EQ(loadError(st("{" + a + "," + a + "}", kF32x2)), "duplicate key 'a' in the header");
  EXPECT_EQ(loadError(st("{" + a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", std::string(12, '\0'))),
            "tensors 'a' and 'b' overlap (data_offsets [0, 8] and [4, 12])");
  EXPECT_EQ(loadError(st("{" + a + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})", std::string(16, '\0'))),
            "gap in the data buffer: bytes 8 to 12 belong to no tensor");
  EXPECT_EQ(loadError(st("{" + a + "}", std::string(12, '\0'))), "gap in the data buffer: bytes 8 to 12 at its end belong to no tensor");
  EXPECT_EQ(loadError(st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", kF32x2)),
            "gap in the data buffer: bytes 0 to 4 belong to no tensor");
  // A tensor of no elements may sit anywhere on a boundary.
  std::string p = file("empty.safetensors", st("{" + a + R"(,"e":{"dtype":"I64","shape":[0,3],"data_offsets":[8,8]}})", kF32x2));
  Value d = call(Prim::LoadCheckpoint, {S(p.c_str())});
  EXPECT_EQ(get(d, "e")->as<TensorObj>()->t.shape(), (Shape{0, 3}));
}

TEST_F(Safetensors, Metadata) {
  EXPECT_EQ(loadError(st(R"({"__metadata__":{"k":1}})")), "__metadata__ value of 'k' is not a string");
  EXPECT_EQ(loadError(st(R"({"__metadata__":[]})")), "__metadata__ is not an object");
  EXPECT_EQ(loadError(st(R"({"__metadata__":{"k":"a","k":"b"}})")), "duplicate key 'k' in __metadata__");
  std::string p = file("m.safetensors", st(R"({"__metadata__":{"format":"pt","n\u00e9":"\ud83d\ude00"}}   )"));
  Value d = call(Prim::LoadCheckpoint, {S(p.c_str())});
  EXPECT_EQ(get(d, "format")->as<StrObj>()->s, "pt");
  EXPECT_EQ(get(d, "n\xc3\xa9")->as<StrObj>()->s, "\xf0\x9f\x98\x80");
}

TEST_F(Safetensors, WidenedAndReinterpretedDTypes) {
  // I8, I16 and U16 load as i32; BF16 and F16 keep their bits.
  std::string h = R"({"a":{"dtype":"I8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"I16","shape":[1],"data_offsets":[2,4]},)"
                  R"("c":{"dtype":"U16","shape":[1],"data_offsets":[4,6]},"d":{"dtype":"BF16","shape":[1],"data_offsets":[6,8]}})";
  std::string data = "\xff\x05\xfe\xff\xfe\xff\x80\x3f";
  std::string p = file("w.safetensors", st(h, data));
  Value d = call(Prim::LoadCheckpoint, {S(p.c_str())});
  EXPECT_EQ(get(d, "a")->as<TensorObj>()->t.getI64(0), -1);
  EXPECT_EQ(get(d, "a")->as<TensorObj>()->t.getI64(1), 5);
  EXPECT_EQ(get(d, "b")->as<TensorObj>()->t.getI64(0), -2);
  EXPECT_EQ(get(d, "c")->as<TensorObj>()->t.getI64(0), 65534);
  EXPECT_EQ(get(d, "d")->as<TensorObj>()->t.dtype(), DType::BF16);
  EXPECT_EQ(get(d, "d")->as<TensorObj>()->t.getF64(0), 1.0);
}

TEST_F(Safetensors, NamesAndTranspose) {
  // A PyTorch-style file: fc1.weight is (out, in) = (3, 2).
  std::string h = R"({"__metadata__":{"format":"pt"},"fc1.weight":{"dtype":"F32","shape":[3,2],"data_offsets":[0,24]}})";
  std::string data;
  for (float v : {0.f, 1.f, 2.f, 3.f, 4.f, 5.f}) data.append((const char*)&v, 4);
  std::string p = file("pt.safetensors", st(h, data));
  Value like = dict({{"l1", dict({{"w", makeTensor(Tensor::zeros(DType::F32, {2, 3}))}})}});
  Value names = dict({{"fc1.weight", S("l1.w")}});
  Value got = call(Prim::LoadCheckpoint, {S(p.c_str())}, {{"like", like}, {"names", names}, {"transpose", L({S("l1.w")})}});
  const Tensor& w = get(*get(got, "l1"), "w")->as<TensorObj>()->t;
  ASSERT_EQ(w.shape(), (Shape{2, 3}));
  EXPECT_EQ(w.getF64(1), 2.0);  // w[0][1] = weight[1][0]
  EXPECT_EQ(w.getF64(3), 1.0);  // w[1][0] = weight[0][1]
  // Without like: the dict's keys are the new names.
  Value flat = call(Prim::LoadCheckpoint, {S(p.c_str())}, {{"names", names}, {"transpose", L({S("l1.w")})}});
  ASSERT_NE(get(flat, "l1.w"), nullptr);
  EXPECT_EQ(get(flat, "l1.w")->as<TensorObj>()->t.shape(), (Shape{2, 3}));
  EXPECT_EQ(get(flat, "fc1.weight"), nullptr);
  std::string pre = "load_checkpoint '" + p + "': ";
  EXPECT_EQ(errorOf([&] { call(Prim::LoadCheckpoint, {S(p.c_str())}, {{"transpose", L({S("format")})}}); }),
            pre + "transpose names 'format', which is not a tensor of the file");
  EXPECT_EQ(errorOf([&] { call(Prim::LoadCheckpoint, {S(p.c_str())}, {{"like", like}, {"names", names}}); }),
            pre + "tensor 'l1.w' ('fc1.weight' in the file): expected f32 (2, 3), found f32 (3, 2)");
  EXPECT_EQ(errorOf([&] { call(Prim::LoadCheckpoint, {S(p.c_str())}, {{"like", like}}); }),
            pre + "missing tensor 'l1.w' (like has a tensor)");
  EXPECT_EQ(errorOf([&] { call(Prim::LoadCheckpoint, {S(p.c_str())}, {{"names", dict({{"fc2.weight", S("x")}})}}); }),
            pre + "names maps 'fc2.weight', which is not a tensor of the file");
  EXPECT_EQ(errorOf([&] { call(Prim::LoadCheckpoint, {S(p.c_str())}, {{"like", like}, {"names", names}, {"transpose", L({S("l2.w")})}}); }),
            pre + "transpose names 'l2.w', which is not a tensor of like");
}

// ------------------------------------------------------------------ JSON

TEST(Json, QuoteRoundTrips) {
  for (std::string s : {std::string(""), std::string("a\"b\\c"), std::string("\x01\n\t\x1f"), std::string("caf\xc3\xa9")}) {
    std::string q = json::quote(s);
    EXPECT_EQ(json::validate(q, 1), "") << q;
    json::Cursor c(q);
    EXPECT_EQ(c.string(), s);
  }
}

TEST(Json, CursorWalksAndSkips) {
  std::string t = R"( {"a": [1, {"x": [true, null]}, "s"], "b": 7, "c": {}} )";
  ASSERT_EQ(json::validate(t, 8), "");
  EXPECT_NE(json::validate(t, 2), "");
  json::Cursor c(t);
  c.beginObject();
  std::string k;
  ASSERT_TRUE(c.nextMember(&k));
  EXPECT_EQ(k, "a");
  c.skip();
  ASSERT_TRUE(c.nextMember(&k));
  EXPECT_EQ(k, "b");
  uint64_t v = 0;
  EXPECT_TRUE(c.unsignedInt(100, &v));
  EXPECT_EQ(v, 7u);
  ASSERT_TRUE(c.nextMember(&k));
  EXPECT_EQ(k, "c");
  c.beginObject();
  EXPECT_FALSE(c.nextMember(&k));
  EXPECT_FALSE(c.nextMember(&k));
  for (const char* bad : {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "tru", "\"\\x\"", "{1:2}", "[1 2]"})
    EXPECT_NE(json::validate(bad, 8), "") << bad;
}

}  // namespace
}  // namespace msl::test
