// The data loading and saving built-ins (runtime/DataIO.cpp): load_idx, load_npy/save_npy,
// load_npz/save_npz and load_csv, against hand-built byte arrays and, where Debian's
// /usr/bin/python3 has numpy, against files NumPy writes and reads.
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime_host_test_util.h"

namespace msl::test {
namespace {

class DataIO : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/msl-dataio-XXXXXX";
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
  Value call(Prim p, std::vector<Value> pos, Kwargs kw = {}) { return callPrim(cx, p, std::move(pos), std::move(kw)); }
  Tensor load(Prim p, const std::string& path) { return call(p, {S(path.c_str())}).as<TensorObj>()->t; }
  std::string err(Prim p, const std::string& path) {
    return errorOf([&] { call(p, {S(path.c_str())}); });
  }

  PrimContext cx;
  std::string dir;
};

std::vector<double> values(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.getF64(i));
  return v;
}

std::string le16s(uint16_t v) { return std::string{(char)(v & 0xff), (char)(v >> 8)}; }
std::string le32s(uint32_t v) { return le16s((uint16_t)v) + le16s((uint16_t)(v >> 16)); }
std::string be32s(uint32_t v) { return std::string{(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v}; }

// A .npy v1.0 file with header dict `dict` and data `data`.
std::string npy(const std::string& dict, const std::string& data, int major = 1) {
  std::string h = dict + "\n";
  std::string out = std::string("\x93NUMPY") + (char)major + '\0';
  out += major == 1 ? le16s((uint16_t)h.size()) : le32s((uint32_t)h.size());
  return out + h + data;
}

// gzip (windowBits 31) or raw deflate (-15) of `s`.
std::string deflateStr(const std::string& s, int windowBits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, s.size()) + 64, '\0');
  zs.next_in = (Bytef*)s.data();
  zs.avail_in = (uInt)s.size();
  zs.next_out = (Bytef*)out.data();
  zs.avail_out = (uInt)out.size();
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A one-member zip archive holding `name` (stored or deflated).
std::string zip1(const std::string& name, const std::string& content, bool deflated, uint32_t crcXor = 0) {
  std::string data = deflated ? deflateStr(content, -15) : content;
  uint32_t crc = (uint32_t)crc32(0, (const Bytef*)content.data(), (uInt)content.size()) ^ crcXor;
  uint16_t method = deflated ? 8 : 0;
  std::string local = le32s(0x04034b50) + le16s(20) + le16s(0) + le16s(method) + le16s(0) + le16s(0x21) + le32s(crc) +
                      le32s((uint32_t)data.size()) + le32s((uint32_t)content.size()) + le16s((uint16_t)name.size()) +
                      le16s(0) + name + data;
  std::string central = le32s(0x02014b50) + le16s(20) + le16s(20) + le16s(0) + le16s(method) + le16s(0) +
                        le16s(0x21) + le32s(crc) + le32s((uint32_t)data.size()) + le32s((uint32_t)content.size()) +
                        le16s((uint16_t)name.size()) + le16s(0) + le16s(0) + le16s(0) + le16s(0) + le32s(0) +
                        le32s(0) + name;
  std::string end = le32s(0x06054b50) + le16s(0) + le16s(0) + le16s(1) + le16s(1) +
                    le32s((uint32_t)central.size()) + le32s((uint32_t)local.size()) + le16s(0);
  return local + central + end;
}

// ------------------------------------------------------------------ IDX

std::string idx(uint8_t type, std::vector<uint32_t> dims, const std::string& data) {
  std::string out{'\0', '\0', (char)type, (char)dims.size()};
  for (uint32_t d : dims) out += be32s(d);
  return out + data;
}

TEST_F(DataIO, IdxDTypesAndShapes) {
  Tensor u8 = load(Prim::LoadIdx, file("u8", idx(0x08, {2, 2}, std::string("\x01\x02\x03\xff", 4))));
  EXPECT_EQ(u8.dtype(), DType::U8);
  EXPECT_EQ(shapeStr(u8.shape()), "(2, 2)");
  EXPECT_EQ(values(u8), (std::vector<double>{1, 2, 3, 255}));
  Tensor i8 = load(Prim::LoadIdx, file("i8", idx(0x09, {2}, "\xff\x05")));
  EXPECT_EQ(i8.dtype(), DType::I32);
  EXPECT_EQ(values(i8), (std::vector<double>{-1, 5}));
  Tensor i16 = load(Prim::LoadIdx, file("i16", idx(0x0B, {2}, std::string("\xfe\xd4\x01\x00", 4))));
  EXPECT_EQ(values(i16), (std::vector<double>{-300, 256}));
  Tensor i32 = load(Prim::LoadIdx, file("i32", idx(0x0C, {1}, be32s(0xfffffff6))));
  EXPECT_EQ(values(i32), (std::vector<double>{-10}));
  Tensor f32 = load(Prim::LoadIdx, file("f32", idx(0x0D, {1}, be32s(0x3fc00000))));
  EXPECT_EQ(f32.dtype(), DType::F32);
  EXPECT_EQ(values(f32), (std::vector<double>{1.5}));
  Tensor f64 = load(Prim::LoadIdx, file("f64", idx(0x0E, {1}, be32s(0xc0040000) + be32s(0))));
  EXPECT_EQ(f64.dtype(), DType::F64);
  EXPECT_EQ(values(f64), (std::vector<double>{-2.5}));
}

TEST_F(DataIO, IdxGzip) {
  std::string raw = idx(0x08, {3, 1}, "\x07\x08\x09");
  Tensor t = load(Prim::LoadIdx, file("g.gz", deflateStr(raw, 31)));
  EXPECT_EQ(shapeStr(t.shape()), "(3, 1)");
  EXPECT_EQ(values(t), (std::vector<double>{7, 8, 9}));
  // Two gzip members, one after the other, are one stream.
  std::string a = raw.substr(0, 7), b = raw.substr(7);
  Tensor t2 = load(Prim::LoadIdx, file("g2.gz", deflateStr(a, 31) + deflateStr(b, 31)));
  EXPECT_EQ(values(t2), (std::vector<double>{7, 8, 9}));
  std::string gz = deflateStr(raw, 31);
  std::string p = file("cut.gz", gz.substr(0, gz.size() - 10));
  EXPECT_EQ(err(Prim::LoadIdx, p), "load_idx '" + p + "': truncated compressed data");
  std::string bad = gz;
  bad[12] ^= 0x55;
  EXPECT_NE(err(Prim::LoadIdx, file("bad.gz", bad)), "");
}

TEST_F(DataIO, IdxErrors) {
  std::string p = file("e1", std::string(2, '\0'));
  EXPECT_EQ(err(Prim::LoadIdx, p), "load_idx '" + p + "': truncated IDX header (2 bytes)");
  p = file("e2", std::string("\0\0\x0a\x01", 4) + be32s(1) + "x");
  EXPECT_EQ(err(Prim::LoadIdx, p), "load_idx '" + p + "': unsupported IDX type byte 0x0a");
  p = file("e3", std::string("\0\0\x08\x03", 4) + be32s(1));
  EXPECT_EQ(err(Prim::LoadIdx, p), "load_idx '" + p + "': truncated IDX header: 3 dimensions announced");
  p = file("e4", idx(0x08, {2, 3}, "abc"));
  EXPECT_EQ(err(Prim::LoadIdx, p),
            "load_idx '" + p + "': truncated data: shape (2, 3) needs 6 data bytes, the file has 3");
  p = file("e5", idx(0x08, {1}, "ab"));
  EXPECT_EQ(err(Prim::LoadIdx, p), "load_idx '" + p + "': size mismatch: shape (1,) needs 1 data bytes, the file has 2");
  p = file("e6", idx(0x0E, {0xffffffff, 0xffffffff, 0xffffffff}, ""));
  EXPECT_EQ(err(Prim::LoadIdx, p),
            "load_idx '" + p + "': shape (4294967295, 4294967295, 4294967295) is too large");
  // A huge claimed shape that does not overflow: rejected by size, not allocated.
  p = file("e7", idx(0x0E, {0xffffffff, 0xffff}, ""));
  EXPECT_NE(err(Prim::LoadIdx, p).find("truncated data"), std::string::npos);
  p = dir + "/missing";
  EXPECT_EQ(err(Prim::LoadIdx, p), "load_idx '" + p + "': No such file or directory");
  EXPECT_EQ(err(Prim::LoadIdx, dir), "load_idx '" + dir + "': Is a directory");
}

// ------------------------------------------------------------------ NPY

TEST_F(DataIO, NpyRoundTripEveryDType) {
  std::vector<Tensor> xs;
  for (DType dt : {DType::Bool, DType::U8, DType::I32, DType::I64, DType::F16, DType::F32, DType::F64}) {
    Tensor t = Tensor::empty(dt, Shape{2, 3});
    for (int64_t i = 0; i < 6; ++i) {
      switch (dt) {
        case DType::Bool: t.ptr<uint8_t>()[i] = i % 2; break;
        case DType::U8: t.ptr<uint8_t>()[i] = (uint8_t)(250 + i); break;
        case DType::I32: t.ptr<int32_t>()[i] = (int32_t)(i * -1000); break;
        case DType::I64: t.ptr<int64_t>()[i] = (int64_t)i << 40; break;
        case DType::F16: t.ptr<uint16_t>()[i] = floatToHalf(0.5f * (float)i); break;
        case DType::F32: t.ptr<float>()[i] = 0.1f * (float)i; break;
        default: t.ptr<double>()[i] = -1.0 / (double)(i + 1); break;
      }
    }
    std::string p = dir + "/x.npy";
    call(Prim::SaveNpy, {S(p.c_str()), makeTensor(t)});
    std::string bytes = slurp(p);
    uint16_t hlen = (uint16_t)((uint8_t)bytes[8] | (uint8_t)bytes[9] << 8);
    EXPECT_EQ((10 + hlen) % 64, 0) << dtypeName(dt);
    EXPECT_EQ(bytes.size(), 10 + hlen + 6 * dtypeSize(dt));
    Tensor back = load(Prim::LoadNpy, p);
    EXPECT_EQ(back.dtype(), dt);
    EXPECT_EQ(shapeStr(back.shape()), "(2, 3)");
    EXPECT_EQ(values(back), values(t)) << dtypeName(dt);
  }
  // 0-d, empty and 1-d shapes.
  for (Shape s : {Shape{}, Shape{0, 4}, Shape{5}}) {
    Tensor t = Tensor::zeros(DType::F32, s);
    std::string p = dir + "/s.npy";
    call(Prim::SaveNpy, {S(p.c_str()), makeTensor(t)});
    EXPECT_EQ(shapeStr(load(Prim::LoadNpy, p).shape()), shapeStr(s));
  }
  Tensor bf = Tensor::zeros(DType::BF16, Shape{2});
  EXPECT_EQ(errorOf([&] { call(Prim::SaveNpy, {S((dir + "/b.npy").c_str()), makeTensor(bf)}); }),
            "save_npy: unsupported dtype bf16");
}

TEST_F(DataIO, NpyHandBuilt) {
  // Big-endian f8, converted.
  std::string be = std::string("\x3f\xf8\0\0\0\0\0\0", 8);
  Tensor t = load(Prim::LoadNpy, file("be.npy", npy("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", be)));
  EXPECT_EQ(values(t), (std::vector<double>{1.5}));
  // Fortran order: column-major data, transposed into C order.
  std::string d;
  for (int32_t v : {0, 3, 1, 4, 2, 5}) d += le32s((uint32_t)v);
  t = load(Prim::LoadNpy, file("f.npy", npy("{\"descr\": \"<i4\", \"fortran_order\": True, \"shape\": (2, 3)}", d)));
  EXPECT_EQ(shapeStr(t.shape()), "(2, 3)");
  EXPECT_EQ(values(t), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  EXPECT_TRUE(t.isContiguous());
  // Version 2.0 and 3.0 (4-byte header length).
  t = load(Prim::LoadNpy, file("v2.npy", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", "\x01\x02", 2)));
  EXPECT_EQ(values(t), (std::vector<double>{1, 2}));
  t = load(Prim::LoadNpy, file("v3.npy", npy("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", std::string(8, '\0'), 3)));
  EXPECT_EQ(t.ndim(), 0);
  // Bools other than 0/1 are normalised.
  t = load(Prim::LoadNpy, file("b.npy", npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", std::string("\x00\x07", 2))));
  EXPECT_EQ(values(t), (std::vector<double>{0, 1}));
}

TEST_F(DataIO, NpyErrors) {
  auto e = [&](const std::string& bytes) {
    std::string p = file("e.npy", bytes);
    std::string m = err(Prim::LoadNpy, p);
    std::string prefix = "load_npy '" + p + "': ";
    EXPECT_EQ(m.substr(0, prefix.size()), prefix);
    return m.substr(std::min(m.size(), prefix.size()));
  };
  const std::string ok = "'fortran_order': False, 'shape': (2,)";
  EXPECT_EQ(e("hello"), "bad magic: not a .npy file");
  EXPECT_EQ(e("\x93NUMPY"), "truncated .npy header");
  EXPECT_EQ(e(std::string("\x93NUMPY\x04\x00", 8)), "unsupported .npy version 4.0");
  EXPECT_EQ(e(std::string("\x93NUMPY\x01\x00\xff\x00{", 11)), "truncated .npy header (255 bytes announced)");
  EXPECT_EQ(e(npy("{'descr': '<f4', 'fortran_order': False}", "")), "bad .npy header: no 'shape'");
  EXPECT_EQ(e(npy("{'descr': '<f4', 'descr': '<f4', " + ok + "}", "")), "bad .npy header: unexpected key 'descr'");
  EXPECT_EQ(e(npy("{'descr': '<f4', " + ok + "} x", "")), "bad .npy header: text after the dict");
  EXPECT_EQ(e(npy("{'descr': '<f4', 'fortran_order': 1, 'shape': (2,)}", "")),
            "bad .npy header: 'fortran_order' is not True or False");
  EXPECT_EQ(e(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", "")), "bad .npy header: 'shape' is not a tuple");
  EXPECT_EQ(e(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", "")), "bad .npy header: bad dimension in 'shape'");
  EXPECT_EQ(e(npy("{'descr': [('a', '<f4')], " + ok + "}", "")), "bad .npy header: structured dtypes are not supported");
  EXPECT_EQ(e(npy("{'descr': '<c16', " + ok + "}", "")), "unsupported dtype '<c16'");
  EXPECT_EQ(e(npy("{'descr': '<f4', " + ok + "}", "1234")),
            "truncated data: shape (2,) of '<f4' needs 8 data bytes, the file has 4");
  EXPECT_EQ(e(npy("{'descr': '<f4', " + ok + "}", "123456789")),
            "size mismatch: shape (2,) of '<f4' needs 8 data bytes, the file has 9");
  EXPECT_EQ(e(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (9223372036854775807, 2)}", "")),
            "shape (9223372036854775807, 2) is too large");
  EXPECT_EQ(e(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,)}", "")),
            "bad .npy header: bad dimension in 'shape'");
}

// ------------------------------------------------------------------ NPZ

TEST_F(DataIO, NpzRoundTrip) {
  Value d = makeDict();
  Tensor a = Tensor::empty(DType::I64, Shape{3});
  for (int i = 0; i < 3; ++i) a.ptr<int64_t>()[i] = i * 7;
  d.as<DictObj>()->set(S("a"), makeTensor(a));
  d.as<DictObj>()->set(S("w/b"), makeTensor(Tensor::scalar(DType::F32, 2.5)));
  std::string p = dir + "/x.npz";
  call(Prim::SaveNpz, {S(p.c_str()), d});
  Value back = call(Prim::LoadNpz, {S(p.c_str())});
  auto& es = back.as<DictObj>()->entries;
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].first.as<StrObj>()->s, "a");
  EXPECT_EQ(values(es[0].second.as<TensorObj>()->t), (std::vector<double>{0, 7, 14}));
  EXPECT_EQ(es[1].first.as<StrObj>()->s, "w/b");
  EXPECT_EQ(values(es[1].second.as<TensorObj>()->t), (std::vector<double>{2.5}));
  EXPECT_NE(errorOf([&] { call(Prim::SaveNpz, {S(p.c_str()), I(3)}); }), "");
  Value bad = makeDict();
  bad.as<DictObj>()->set(I(1), makeTensor(a));
  EXPECT_EQ(errorOf([&] { call(Prim::SaveNpz, {S(p.c_str()), bad}); }), "save_npz: keys must be str, not 'int'");
}

TEST_F(DataIO, NpzHandBuilt) {
  std::string member = npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", le32s(5) + le32s(6));
  for (bool deflated : {false, true}) {
    std::string p = file("m.npz", zip1("k.npy", member, deflated));
    Value v = call(Prim::LoadNpz, {S(p.c_str())});
    const Value* t = v.as<DictObj>()->find(S("k"));
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(values(t->as<TensorObj>()->t), (std::vector<double>{5, 6}));
  }
  auto e = [&](const std::string& bytes) {
    std::string p = file("e.npz", bytes);
    std::string m = errorOf([&] { call(Prim::LoadNpz, {S(p.c_str())}); });
    std::string prefix = "load_npz '" + p + "': ";
    EXPECT_EQ(m.substr(0, prefix.size()), prefix);
    return m.substr(std::min(m.size(), prefix.size()));
  };
  std::string z = zip1("k.npy", member, false);
  EXPECT_EQ(e("not a zip file at all, just some text"), "bad magic: not a zip archive");
  EXPECT_EQ(e(z.substr(0, z.size() - 30)), "truncated zip archive (no end of central directory)");
  EXPECT_EQ(e(zip1("k.npy", member, false, 1)), "member 'k.npy': CRC-32 mismatch");
  EXPECT_EQ(e(zip1("k.npy", member, true, 1)), "member 'k.npy': CRC-32 mismatch");
  std::string m12 = z;
  m12[8] = 12;  // method 12 (bzip2) in the local header ...
  m12[z.size() - 22 - (46 + 5) + 10] = 12;  // ... and the central directory
  EXPECT_EQ(e(m12), "member 'k.npy': unsupported compression method 12");
  std::string z64 = z;
  for (int i = 0; i < 4; ++i) z64[z.size() - 22 + 16 + i] = '\xff';  // cd offset saturated
  EXPECT_EQ(e(z64), "ZIP64 archives (over 4 GiB or 65535 members) are not supported");
  std::string badMember = zip1("k.npy", "garbage", false);
  EXPECT_EQ(e(badMember), "member 'k.npy': bad magic: not a .npy file");
  // A deflated member claiming a size its compressed data cannot produce.
  std::string big = zip1("k.npy", member, true);
  size_t cdAt = big.size() - 22 - (46 + 5);
  for (int i = 0; i < 4; ++i) big[cdAt + 24 + i] = '\x7f';
  EXPECT_NE(e(big).find("member 'k.npy': claimed size"), std::string::npos);
}

// ------------------------------------------------------------------ CSV

TEST_F(DataIO, Csv) {
  std::string p = file("a.csv", "a,b\n1, 2.5\r\n\n-3,+4e1\n");
  Value v = call(Prim::LoadCsv, {S(p.c_str())}, {{"skip_header", Value::boolean(true)}});
  Tensor t = v.as<TensorObj>()->t;
  EXPECT_EQ(t.dtype(), DType::F32);
  EXPECT_EQ(shapeStr(t.shape()), "(2, 2)");
  EXPECT_EQ(values(t), (std::vector<double>{1, 2.5, -3, 40}));
  p = file("b.csv", "1\t2\n3\t4");
  t = call(Prim::LoadCsv, {S(p.c_str())}, {{"dtype", Value::dtype(DType::I32)}, {"delimiter", S("\t")}}).as<TensorObj>()->t;
  EXPECT_EQ(t.dtype(), DType::I32);
  EXPECT_EQ(values(t), (std::vector<double>{1, 2, 3, 4}));
  p = file("empty.csv", "");
  t = call(Prim::LoadCsv, {S(p.c_str())}).as<TensorObj>()->t;
  EXPECT_EQ(shapeStr(t.shape()), "(0, 0)");
  auto e = [&](const std::string& text, Kwargs kw = {}) {
    std::string q = file("e.csv", text);
    std::string m = errorOf([&] { call(Prim::LoadCsv, {S(q.c_str())}, kw); });
    std::string prefix = "load_csv '" + q + "': ";
    EXPECT_EQ(m.substr(0, prefix.size()), prefix);
    return m.substr(std::min(m.size(), prefix.size()));
  };
  EXPECT_EQ(e("1,2\n3,x\n"), "line 2, column 2: 'x' is not a number");
  EXPECT_EQ(e("1,2\n3,\n"), "line 2, column 2: empty field");
  EXPECT_EQ(e("1,2\n3,4,5\n"), "line 2, column 3: extra field (line 1 has 2 fields)");
  EXPECT_EQ(e("1,2\n3\n"), "line 2, column 2: missing field (line 1 has 2 fields)");
  EXPECT_EQ(e("1.5\n", {{"dtype", Value::dtype(DType::I64)}}), "line 1, column 1: '1.5' is not a number");
  EXPECT_EQ(e("256\n", {{"dtype", Value::dtype(DType::U8)}}), "line 1, column 1: '256' is out of range for u8");
  EXPECT_EQ(e("99999999999999999999\n", {{"dtype", Value::dtype(DType::I64)}}),
            "line 1, column 1: '99999999999999999999' is out of range for i64");
  EXPECT_NE(errorOf([&] { call(Prim::LoadCsv, {S(p.c_str())}, {{"delimiter", S("ab")}}); }), "");
}

// ------------------------------------------------------------------ robustness

// Every prefix of a valid file, and the file with any one byte changed, either loads or
// raises a user error (msl::Error): never another exception, a crash or a huge allocation.
TEST_F(DataIO, EveryTruncationAndByteFlipIsHandled) {
  std::string member = npy("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 1), }", le32s(5) + le32s(6));
  struct Case { Prim p; std::string bytes; };
  std::vector<Case> cases = {
      {Prim::LoadNpy, member},
      {Prim::LoadNpz, zip1("k.npy", member, false)},
      {Prim::LoadNpz, zip1("k.npy", member, true)},
      {Prim::LoadIdx, deflateStr(idx(0x0B, {2, 2}, "abcdefgh"), 31)},
      {Prim::LoadIdx, idx(0x0E, {1, 1}, "abcdefgh")},
      {Prim::LoadCsv, "1,2\n3,4\n"},
  };
  int loaded = 0, rejected = 0;
  for (const Case& c : cases) {
    std::vector<std::string> variants;
    for (size_t len = 0; len < c.bytes.size(); ++len) variants.push_back(c.bytes.substr(0, len));
    for (size_t i = 0; i < c.bytes.size(); ++i) {
      std::string v = c.bytes;
      v[i] ^= (char)0xa5;
      variants.push_back(v);
    }
    for (const std::string& v : variants) {
      std::string p = file("f", v);
      try {
        call(c.p, {S(p.c_str())});
        ++loaded;
      } catch (const Error&) {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(loaded, 0);  // e.g. a changed data byte still loads
}

// ------------------------------------------------------------------ NumPy interop

bool haveNumpy() {
  static int have = -1;
  if (have < 0) have = std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
  return have == 1;
}

TEST_F(DataIO, NumpyWritesMslReads) {
  if (!haveNumpy()) GTEST_SKIP() << "no /usr/bin/python3 with numpy";
  std::string script = dir + "/w.py";
  std::ofstream(script) << "import numpy as np, sys\n"
                           "d = sys.argv[1]\n"
                           "np.save(d + '/a.npy', np.arange(6, dtype=np.float32).reshape(2, 3) / 4)\n"
                           "np.save(d + '/f.npy', np.asfortranarray(np.arange(6).reshape(2, 3)))\n"
                           "np.save(d + '/be.npy', np.array([1.5, -2], dtype='>f8'))\n"
                           "np.save(d + '/h.npy', np.array([0.5, 65504], dtype=np.float16))\n"
                           "np.savez(d + '/z.npz', x=np.array([True, False]), y=np.uint8([9]))\n"
                           "np.savez_compressed(d + '/c.npz', w=np.ones((40, 40)))\n";
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " " + dir).c_str()), 0);
  EXPECT_EQ(values(load(Prim::LoadNpy, dir + "/a.npy")), (std::vector<double>{0, 0.25, 0.5, 0.75, 1, 1.25}));
  Tensor f = load(Prim::LoadNpy, dir + "/f.npy");
  EXPECT_EQ(f.dtype(), DType::I64);
  EXPECT_EQ(values(f), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(values(load(Prim::LoadNpy, dir + "/be.npy")), (std::vector<double>{1.5, -2}));
  Tensor h = load(Prim::LoadNpy, dir + "/h.npy");
  EXPECT_EQ(h.dtype(), DType::F16);
  EXPECT_EQ(values(h), (std::vector<double>{0.5, 65504}));
  Value z = call(Prim::LoadNpz, {S((dir + "/z.npz").c_str())});
  EXPECT_EQ(values(z.as<DictObj>()->find(S("x"))->as<TensorObj>()->t), (std::vector<double>{1, 0}));
  EXPECT_EQ(z.as<DictObj>()->find(S("y"))->as<TensorObj>()->t.dtype(), DType::U8);
  Value c = call(Prim::LoadNpz, {S((dir + "/c.npz").c_str())});
  Tensor w = c.as<DictObj>()->find(S("w"))->as<TensorObj>()->t;
  EXPECT_EQ(shapeStr(w.shape()), "(40, 40)");
  EXPECT_EQ(w.getF64(1599), 1.0);
}

TEST_F(DataIO, MslWritesNumpyReads) {
  if (!haveNumpy()) GTEST_SKIP() << "no /usr/bin/python3 with numpy";
  Tensor t = Tensor::empty(DType::F32, Shape{2, 2});
  for (int i = 0; i < 4; ++i) t.ptr<float>()[i] = 0.5f * (float)i;
  call(Prim::SaveNpy, {S((dir + "/t.npy").c_str()), makeTensor(t)});
  Value d = makeDict();
  d.as<DictObj>()->set(S("t"), makeTensor(t));
  d.as<DictObj>()->set(S("s"), makeTensor(Tensor::scalarInt(DType::I32, -4)));
  call(Prim::SaveNpz, {S((dir + "/d.npz").c_str()), d});
  std::string script = dir + "/r.py";
  std::ofstream(script) << "import numpy as np, sys\n"
                           "d = sys.argv[1]\n"
                           "a = np.load(d + '/t.npy')\n"
                           "z = np.load(d + '/d.npz')\n"
                           "open(d + '/out.txt', 'w').write(repr(a) + '|' + repr(sorted(z.files)) + '|' + repr(z['t']) + '|' + repr(z['s']))\n";
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " " + dir).c_str()), 0);
  EXPECT_EQ(slurp(dir + "/out.txt"),
            "array([[0. , 0.5],\n       [1. , 1.5]], dtype=float32)|['s', 't']|array([[0. , 0.5],\n       [1. , 1.5]], dtype=float32)|array(-4, dtype=int32)");
}

}  // namespace
}  // namespace msl::test
