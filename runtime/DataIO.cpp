// Data loading and saving built-ins (LANGUAGE.md section 6, "Data and persistence"):
// load_idx (MNIST IDX, gzip or not), load_npy/save_npy (NumPy .npy v1-v3),
// load_npz/save_npz (a zip of .npy members) and load_csv.
//
// Every file is read whole into memory and parsed from there; every size a header claims is
// checked against the bytes actually present before anything is allocated from it, so a
// corrupt or hostile file costs at most memory proportional to its size (gzip/deflate
// output grows chunk by chunk, as it is produced). A bad file raises CorruptFile (or
// CsvField) naming the built-in, the file and the failed check; a missing or unreadable
// one IoError.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/Host.h"
#include "runtime/PrimImpl.h"

namespace msl {

static_assert(std::endian::native == std::endian::little, "DataIO assumes a little-endian host");

namespace {

using Bytes = std::vector<uint8_t>;

// The built-in and file being worked on, for messages.
struct Src {
  const char* fn;
  std::string path;
  std::string where;  // a part of the file, e.g. "member 'w.npy': ", before the check
};

[[noreturn]] void ioError(const Src& s, const std::string& why) {
  raise(DiagId::IoError, SourceLoc{}, {s.fn, s.path, why});
}
[[noreturn]] void corrupt(const Src& s, const std::string& why) {
  raise(DiagId::CorruptFile, SourceLoc{}, {s.fn, s.path, s.where + why});
}

// ------------------------------------------------------------------ files

Bytes readFile(const Src& s) {
  checkFileAccess(s.fn, s.path);
  int fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ioError(s, std::strerror(errno));
  struct stat st;
  int statErr = ::fstat(fd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
  if (statErr) {
    int err = statErr;
    ::close(fd);
    ioError(s, std::strerror(err));
  }
  // Read straight into the buffer, sized from fstat; a file that grows meanwhile is read
  // on in chunks, one that shrinks is cut at its end.
  Bytes out((size_t)std::max<off_t>(st.st_size, 0));
  size_t have = 0;
  while (true) {
    if (have == out.size()) out.resize(out.size() + (1 << 16));
    ssize_t n = ::read(fd, out.data() + have, out.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ioError(s, std::strerror(err));
    }
    if (n == 0) break;
    have += (size_t)n;
  }
  out.resize(have);
  ::close(fd);
  return out;
}

// Writes the pieces to `path` (created or truncated).
void writeFile(const Src& s, const std::vector<std::pair<const void*, size_t>>& pieces) {
  checkFileAccess(s.fn, s.path);
  int fd = ::open(s.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) ioError(s, std::strerror(errno));
  for (auto [ptr, size] : pieces) {
    const char* p = static_cast<const char*>(ptr);
    for (size_t done = 0; done < size;) {
      ssize_t n = ::write(fd, p + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        ioError(s, std::strerror(err));
      }
      done += (size_t)n;
    }
  }
  if (::close(fd) != 0) ioError(s, std::strerror(errno));
}

// ------------------------------------------------------------------ helpers

uint16_t le16(const uint8_t* p) { return (uint16_t)(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t* p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
uint64_t le64(const uint8_t* p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }
uint32_t be32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3]; }

void put16(std::string& o, uint16_t v) { o += (char)(v & 0xff); o += (char)(v >> 8); }
void put32(std::string& o, uint32_t v) { put16(o, (uint16_t)v); put16(o, (uint16_t)(v >> 16)); }

// Number of bytes of a tensor with `shape` and `itemSize`, or -1 on overflow.
int64_t checkedBytes(const Shape& shape, size_t itemSize) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return -1;
  if (__builtin_mul_overflow(n, (int64_t)itemSize, &n)) return -1;
  return n;
}

// Inflates `n` bytes at `p` (gzip when `gzip`, possibly several members; raw deflate
// otherwise). The output grows as it is produced and may not exceed `limit` bytes.
// Returns false with `*why` set on a bad stream.
bool inflateAll(const uint8_t* p, size_t n, bool gzip, size_t limit, Bytes* out, std::string* why) {
  z_stream zs{};
  if (inflateInit2(&zs, gzip ? 15 + 16 : -15) != Z_OK) {
    *why = "cannot start zlib";
    return false;
  }
  out->clear();
  zs.next_in = const_cast<uint8_t*>(p);
  zs.avail_in = 0;
  size_t fed = 0;
  bool ok = true;
  while (true) {
    if (zs.avail_in == 0 && fed < n) {
      size_t chunk = std::min<size_t>(n - fed, 1u << 30);
      zs.next_in = const_cast<uint8_t*>(p + fed);
      zs.avail_in = (uInt)chunk;
      fed += chunk;
    }
    size_t have = out->size();
    if (have >= limit) {
      // Full: any further output means the data is larger than allowed.
      uint8_t probe;
      zs.next_out = &probe;
      zs.avail_out = 1;
      int r = inflate(&zs, Z_NO_FLUSH);
      if (zs.avail_out == 0) { *why = "decompressed data is larger than expected"; ok = false; break; }
      if (r == Z_STREAM_END) {
        if (gzip && (zs.avail_in > 0 || fed < n)) { inflateReset(&zs); continue; }
        break;
      }
      if ((r == Z_OK || r == Z_BUF_ERROR) && zs.avail_in == 0 && fed >= n) {
        *why = "truncated compressed data";
        ok = false;
        break;
      }
      if (r != Z_OK) { *why = std::string("bad compressed data: ") + (zs.msg ? zs.msg : "zlib error"); ok = false; break; }
      continue;
    }
    size_t grow = std::min<size_t>(limit - have, std::max<size_t>(have, 1 << 16));
    out->resize(have + grow);
    zs.next_out = out->data() + have;
    zs.avail_out = (uInt)std::min<size_t>(grow, 1u << 30);
    size_t before = zs.avail_out;
    int r = inflate(&zs, Z_NO_FLUSH);
    out->resize(have + (before - zs.avail_out));
    if (r == Z_STREAM_END) {
      // gzip files may hold several members, one after the other.
      if (gzip && (zs.avail_in > 0 || fed < n)) {
        inflateReset(&zs);
        continue;
      }
      if (!gzip && (zs.avail_in > 0 || fed < n)) { *why = "data after the end of the compressed stream"; ok = false; }
      break;
    }
    if (r == Z_BUF_ERROR && zs.avail_in == 0 && fed >= n) { *why = "truncated compressed data"; ok = false; break; }
    if (r != Z_OK && r != Z_BUF_ERROR) {
      *why = std::string("bad compressed data: ") + (zs.msg ? zs.msg : "zlib error");
      ok = false;
      break;
    }
  }
  inflateEnd(&zs);
  return ok;
}

// The worst-case expansion of deflate is about 1032:1; a larger claim is corrupt.
constexpr size_t kMaxInflateRatio = 1100;

size_t inflateLimit(size_t compressed) {
  if (compressed > std::numeric_limits<size_t>::max() / kMaxInflateRatio) return std::numeric_limits<size_t>::max();
  return compressed * kMaxInflateRatio + 1024;
}

// ------------------------------------------------------------------ IDX

Tensor parseIdx(const Src& s, const uint8_t* p, size_t n) {
  if (n < 4) corrupt(s, "truncated IDX header (" + std::to_string(n) + " bytes)");
  if (p[0] != 0 || p[1] != 0) corrupt(s, "bad magic: not an IDX file");
  DType dt;
  size_t item;
  switch (p[2]) {
    case 0x08: dt = DType::U8; item = 1; break;
    case 0x09: dt = DType::I32; item = 1; break;
    case 0x0B: dt = DType::I32; item = 2; break;
    case 0x0C: dt = DType::I32; item = 4; break;
    case 0x0D: dt = DType::F32; item = 4; break;
    case 0x0E: dt = DType::F64; item = 8; break;
    default: {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", p[2]);
      corrupt(s, std::string("unsupported IDX type byte ") + hex);
    }
  }
  size_t ndim = p[3];
  if (n < 4 + 4 * ndim) corrupt(s, "truncated IDX header: " + std::to_string(ndim) + " dimensions announced");
  Shape shape;
  for (size_t i = 0; i < ndim; ++i) shape.push_back((int64_t)be32(p + 4 + 4 * i));
  int64_t bytes = checkedBytes(shape, item);
  size_t have = n - 4 - 4 * ndim;
  if (bytes < 0) corrupt(s, "shape " + shapeStr(shape) + " is too large");
  if ((uint64_t)bytes != have)
    corrupt(s, std::string((uint64_t)bytes > have ? "truncated data" : "size mismatch") + ": shape " + shapeStr(shape) + " needs " + std::to_string(bytes) + " data bytes, the file has " +
                   std::to_string(have));
  Tensor t = Tensor::empty(dt, shape);
  const uint8_t* d = p + 4 + 4 * ndim;
  int64_t count = t.numel();
  switch (p[2]) {
    case 0x08: if (count) std::memcpy(t.data(), d, (size_t)count); break;
    case 0x09: for (int64_t i = 0; i < count; ++i) t.ptr<int32_t>()[i] = (int8_t)d[i]; break;
    case 0x0B:
      for (int64_t i = 0; i < count; ++i) t.ptr<int32_t>()[i] = (int16_t)(uint16_t)(d[2 * i] << 8 | d[2 * i + 1]);
      break;
    case 0x0C: for (int64_t i = 0; i < count; ++i) t.ptr<int32_t>()[i] = (int32_t)be32(d + 4 * i); break;
    case 0x0D: for (int64_t i = 0; i < count; ++i) t.ptr<uint32_t>()[i] = be32(d + 4 * i); break;
    case 0x0E:
      for (int64_t i = 0; i < count; ++i)
        t.ptr<uint64_t>()[i] = (uint64_t)be32(d + 8 * i) << 32 | be32(d + 8 * i + 4);
      break;
  }
  return t;
}

// ------------------------------------------------------------------ NPY

// The element type of a .npy descr: our dtype, the file's item size, its byte order, and
// how elements are converted.
enum class NpyKind { Same, Bool, I8, I16, U16 };
struct NpyType {
  DType dt;
  size_t item;
  bool bigEndian;
  NpyKind kind;
};

bool npyType(const std::string& descr, NpyType* out) {
  if (descr.size() < 3) return false;
  char order = descr[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') return false;
  std::string code = descr.substr(1);
  static const struct { const char* code; DType dt; size_t item; NpyKind kind; } kTypes[] = {
      {"f4", DType::F32, 4, NpyKind::Same}, {"f8", DType::F64, 8, NpyKind::Same},
      {"f2", DType::F16, 2, NpyKind::Same}, {"i4", DType::I32, 4, NpyKind::Same},
      {"i8", DType::I64, 8, NpyKind::Same}, {"u1", DType::U8, 1, NpyKind::Same},
      {"b1", DType::Bool, 1, NpyKind::Bool}, {"i1", DType::I32, 1, NpyKind::I8},
      {"i2", DType::I32, 2, NpyKind::I16},   {"u2", DType::I32, 2, NpyKind::U16},
      {"u4", DType::U32, 4, NpyKind::Same},
  };
  for (const auto& t : kTypes) {
    if (code != t.code) continue;
    // Single-byte types have no byte order ('|'); numpy also accepts '<'/'>' for them.
    *out = NpyType{t.dt, t.item, order == '>' && t.item > 1, t.kind};
    return true;
  }
  return false;
}

// A strict parser of the .npy header: a Python dict literal with exactly the keys
// 'descr' (a string), 'fortran_order' (True/False) and 'shape' (a tuple of ints).
class NpyHeader {
 public:
  NpyHeader(const Src& s, std::string_view text) : s_(s), t_(text) {}

  void parse(std::string* descr, bool* fortran, Shape* shape) {
    bool seenDescr = false, seenFortran = false, seenShape = false;
    expect('{');
    while (true) {
      ws();
      if (peek() == '}') break;
      std::string key = str();
      ws();
      expect(':');
      ws();
      if (key == "descr" && !seenDescr) {
        if (peek() == '[') bad("structured dtypes are not supported");
        *descr = str();
        seenDescr = true;
      } else if (key == "fortran_order" && !seenFortran) {
        if (word("True")) *fortran = true;
        else if (word("False")) *fortran = false;
        else bad("'fortran_order' is not True or False");
        seenFortran = true;
      } else if (key == "shape" && !seenShape) {
        parseShape(shape);
        seenShape = true;
      } else {
        bad("unexpected key '" + key + "'");
      }
      ws();
      if (peek() == ',') { ++i_; continue; }
      if (peek() != '}') bad("expected ',' or '}'");
    }
    ++i_;
    for (; i_ < t_.size(); ++i_)
      if (t_[i_] != ' ' && t_[i_] != '\n' && t_[i_] != '\t' && t_[i_] != '\r' && t_[i_] != '\0')
        bad("text after the dict");
    if (!seenDescr) bad("no 'descr'");
    if (!seenFortran) bad("no 'fortran_order'");
    if (!seenShape) bad("no 'shape'");
  }

 private:
  [[noreturn]] void bad(const std::string& why) { corrupt(s_, "bad .npy header: " + why); }
  char peek() const { return i_ < t_.size() ? t_[i_] : '\0'; }
  void ws() { while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\t' || t_[i_] == '\r')) ++i_; }
  void expect(char c) {
    ws();
    if (peek() != c) bad(std::string("expected '") + c + "'");
    ++i_;
  }
  bool word(std::string_view w) {
    if (t_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  std::string str() {
    char q = peek();
    if (q != '\'' && q != '"') bad("expected a string");
    size_t end = t_.find(q, i_ + 1);
    if (end == std::string_view::npos) bad("unterminated string");
    std::string v(t_.substr(i_ + 1, end - i_ - 1));
    if (v.find('\\') != std::string::npos) bad("escapes in strings are not supported");
    i_ = end + 1;
    return v;
  }
  void parseShape(Shape* shape) {
    expect('(');
    shape->clear();
    bool comma = false;  // after the last dimension: (5,) is a tuple, (5) is not
    while (true) {
      ws();
      if (peek() == ')') break;
      size_t start = i_;
      while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') ++i_;
      int64_t d = 0;
      auto [ptr, ec] = std::from_chars(t_.data() + start, t_.data() + i_, d);
      if (i_ == start || ec != std::errc() || ptr != t_.data() + i_) bad("bad dimension in 'shape'");
      if (peek() == 'L') ++i_;  // Python 2 longs
      shape->push_back(d);
      if (shape->size() > 64) bad("too many dimensions");
      ws();
      comma = peek() == ',';
      if (comma) { ++i_; continue; }
      if (peek() != ')') bad("expected ',' or ')' in 'shape'");
    }
    ++i_;
    if (shape->size() == 1 && !comma) bad("'shape' is not a tuple");
  }

  const Src& s_;
  std::string_view t_;
  size_t i_ = 0;
};

Tensor parseNpy(const Src& s, const uint8_t* p, size_t n) {
  static const uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (n < 6 || std::memcmp(p, kMagic, 6) != 0) corrupt(s, "bad magic: not a .npy file");
  if (n < 8) corrupt(s, "truncated .npy header");
  uint8_t major = p[6], minor = p[7];
  if (major < 1 || major > 3 || minor != 0)
    corrupt(s, "unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor));
  size_t lenBytes = major == 1 ? 2 : 4;
  if (n < 8 + lenBytes) corrupt(s, "truncated .npy header");
  size_t hlen = major == 1 ? le16(p + 8) : le32(p + 8);
  size_t start = 8 + lenBytes;
  if (hlen > n - start) corrupt(s, "truncated .npy header (" + std::to_string(hlen) + " bytes announced)");
  std::string descr;
  bool fortran = false;
  Shape shape;
  NpyHeader(s, std::string_view((const char*)p + start, hlen)).parse(&descr, &fortran, &shape);
  NpyType ty;
  if (!npyType(descr, &ty)) corrupt(s, "unsupported dtype '" + descr + "'");
  int64_t bytes = checkedBytes(shape, ty.item);
  if (bytes < 0) corrupt(s, "shape " + shapeStr(shape) + " is too large");
  size_t have = n - start - hlen;
  if ((uint64_t)bytes != have)
    corrupt(s, std::string((uint64_t)bytes > have ? "truncated data" : "size mismatch") + ": shape " + shapeStr(shape) + " of '" + descr + "' needs " + std::to_string(bytes) +
                   " data bytes, the file has " + std::to_string(have));
  const uint8_t* d = p + start + hlen;
  // Fortran order: the data is the C-order array of the reversed shape, transposed.
  Shape stored = shape;
  if (fortran) std::reverse(stored.begin(), stored.end());
  Tensor t = Tensor::empty(ty.dt, stored);
  int64_t count = t.numel();
  auto load = [&](size_t i) -> uint64_t {  // element i of the file, as unsigned bits
    const uint8_t* e = d + i * ty.item;
    uint64_t v = 0;
    for (size_t b = 0; b < ty.item; ++b) v |= (uint64_t)e[ty.bigEndian ? ty.item - 1 - b : b] << (8 * b);
    return v;
  };
  switch (ty.kind) {
    case NpyKind::Same:
      if (!ty.bigEndian) {
        if (bytes) std::memcpy(t.data(), d, (size_t)bytes);
      } else {
        uint8_t* o = static_cast<uint8_t*>(t.data());
        for (int64_t i = 0; i < count; ++i) {
          uint64_t v = load((size_t)i);
          std::memcpy(o + i * ty.item, &v, ty.item);
        }
      }
      break;
    case NpyKind::Bool:
      for (int64_t i = 0; i < count; ++i) t.ptr<uint8_t>()[i] = d[i] != 0;
      break;
    case NpyKind::I8: for (int64_t i = 0; i < count; ++i) t.ptr<int32_t>()[i] = (int8_t)d[i]; break;
    case NpyKind::I16: for (int64_t i = 0; i < count; ++i) t.ptr<int32_t>()[i] = (int16_t)load((size_t)i); break;
    case NpyKind::U16: for (int64_t i = 0; i < count; ++i) t.ptr<int32_t>()[i] = (int32_t)load((size_t)i); break;
  }
  if (fortran && shape.size() > 1) {
    Shape strides = contiguousStrides(stored);
    std::reverse(strides.begin(), strides.end());
    t = t.view(shape, strides, 0).contiguous();
  }
  return t;
}

// The .npy descr of a dtype we can save, or nullptr.
const char* npyDescr(DType dt) {
  switch (dt) {
    case DType::Bool: return "|b1";
    case DType::U8: return "|u1";
    case DType::U32: return "<u4";
    case DType::I32: return "<i4";
    case DType::I64: return "<i8";
    case DType::F16: return "<f2";
    case DType::F32: return "<f4";
    case DType::F64: return "<f8";
    case DType::BF16: return nullptr;
  }
  return nullptr;
}

// The header of a .npy file (magic, version, length and the padded dict), numpy-style:
// version 1.0 unless the dict needs more than 65535 bytes; the data starts 64-aligned.
std::string npyHeader(const char* fn, const Tensor& t) {
  const char* descr = npyDescr(t.dtype());
  if (!descr) raise(DiagId::DTypeError, SourceLoc{}, {fn, dtypeName(t.dtype())});
  std::string shape = "(";
  for (int i = 0; i < t.ndim(); ++i) {
    if (i) shape += ", ";
    shape += std::to_string(t.dim(i));
  }
  shape += t.ndim() == 1 ? ",)" : ")";
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  int major = dict.size() + 1 + 10 <= 65535 ? 1 : 2;
  size_t prefix = major == 1 ? 10 : 12;
  size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += (char)major;
  out += '\0';
  if (major == 1) put16(out, (uint16_t)dict.size());
  else put32(out, (uint32_t)dict.size());
  return out + dict;
}

// ------------------------------------------------------------------ NPZ (zip)

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;

Value parseNpz(const Src& s, const Bytes& file) {
  const uint8_t* p = file.data();
  size_t n = file.size();
  if (n < 22) corrupt(s, n >= 4 && le32(p) == kLocalSig ? "truncated zip archive" : "not a zip archive (too short)");
  // The end-of-central-directory record: the last 22 bytes plus a comment of up to 64 KiB.
  size_t end = std::string::npos;
  for (size_t i = n - 22 + 1; i-- > 0 && n - i <= 22 + 65535;) {
    if (le32(p + i) == kEndSig && i + 22 + le16(p + i + 20) == n) { end = i; break; }
  }
  if (end == std::string::npos)
    corrupt(s, le32(p) == kLocalSig ? "truncated zip archive (no end of central directory)" : "bad magic: not a zip archive");
  const uint8_t* e = p + end;
  if (le16(e + 4) != 0 || le16(e + 6) != 0) corrupt(s, "multi-disk zip archives are not supported");
  uint16_t entries = le16(e + 10);
  uint32_t cdSize = le32(e + 12), cdOffset = le32(e + 16);
  if (entries == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF)
    corrupt(s, "ZIP64 archives (over 4 GiB or 65535 members) are not supported");
  if ((uint64_t)cdOffset + cdSize > end) corrupt(s, "central directory out of bounds");
  Value result = makeDict();
  DictObj* d = result.as<DictObj>();
  size_t at = cdOffset;
  for (uint16_t k = 0; k < entries; ++k) {
    if (at + 46 > (size_t)cdOffset + cdSize || le32(p + at) != kCentralSig) corrupt(s, "bad central directory entry");
    const uint8_t* c = p + at;
    uint16_t flags = le16(c + 8), method = le16(c + 10);
    uint32_t crc = le32(c + 16);
    uint64_t csize = le32(c + 20), usize = le32(c + 24);
    uint16_t nameLen = le16(c + 28), extraLen = le16(c + 30), commentLen = le16(c + 32);
    uint64_t local = le32(c + 42);
    size_t next = at + 46 + nameLen + extraLen + commentLen;
    if (next > (size_t)cdOffset + cdSize) corrupt(s, "bad central directory entry");
    std::string name((const char*)c + 46, nameLen);
    // Sizes and offsets come from the central directory (numpy's savez leaves ZIP64
    // placeholders in the local headers). A ZIP64 extra field (members over 4 GiB) holds
    // those whose 32-bit fields are saturated, in this order.
    const uint8_t* x = c + 46 + nameLen;
    for (size_t j = 0; j + 4 <= extraLen;) {
      uint16_t id = le16(x + j), len = le16(x + j + 2);
      if (j + 4 + len > extraLen) corrupt(s, "member '" + name + "': bad extra field");
      if (id == 0x0001) {
        size_t q = j + 4, qend = j + 4 + len;
        auto take = [&](uint64_t* v) {
          if (*v != 0xFFFFFFFF) return;
          if (q + 8 > qend) corrupt(s, "member '" + name + "': bad ZIP64 extra field");
          *v = le64(x + q);
          q += 8;
        };
        take(&usize);
        take(&csize);
        take(&local);
      }
      j += 4 + len;
    }
    std::string where = "member '" + name + "': ";
    if (flags & 1) corrupt(s, where + "encrypted members are not supported");
    if (method != 0 && method != 8) corrupt(s, where + "unsupported compression method " + std::to_string(method));
    if (local + 30 > n || le32(p + local) != kLocalSig) corrupt(s, where + "bad local header");
    uint64_t dataAt = local + 30 + le16(p + local + 26) + le16(p + local + 28);
    if (dataAt > n || csize > n - dataAt) corrupt(s, where + "truncated data");
    const uint8_t* data = p + dataAt;
    Bytes inflated;
    const uint8_t* raw = data;
    size_t rawSize = (size_t)csize;
    if (method == 8) {
      if (usize > inflateLimit(csize)) corrupt(s, where + "claimed size " + std::to_string(usize) + " is impossible");
      std::string why;
      if (!inflateAll(data, (size_t)csize, false, (size_t)usize, &inflated, &why)) corrupt(s, where + why);
      raw = inflated.data();
      rawSize = inflated.size();
    }
    if (rawSize != usize) corrupt(s, where + "size mismatch");
    uLong sum = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < rawSize;) {
      size_t chunk = std::min<size_t>(rawSize - off, 1u << 30);
      sum = crc32(sum, raw + off, (uInt)chunk);
      off += chunk;
    }
    if ((uint32_t)sum != crc) corrupt(s, where + "CRC-32 mismatch");
    std::string key = name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0 ? name.substr(0, name.size() - 4) : name;
    Src member{s.fn, s.path, where};
    Tensor t = parseNpy(member, raw, rawSize);
    Value kv = makeStr(key);
    if (d->find(kv)) corrupt(s, "member '" + key + "' appears twice");
    d->entries.emplace_back(std::move(kv), makeTensor(std::move(t)));
    at = next;
  }
  return result;
}

// ------------------------------------------------------------------ CSV

[[noreturn]] void csvError(const Src& s, size_t line, size_t col, const std::string& why) {
  raise(DiagId::CsvField, SourceLoc{}, {s.fn, s.path, std::to_string(line), std::to_string(col), why});
}

std::string_view trim(std::string_view f) {
  while (!f.empty() && (f.front() == ' ' || f.front() == '\t')) f.remove_prefix(1);
  while (!f.empty() && (f.back() == ' ' || f.back() == '\t' || f.back() == '\r')) f.remove_suffix(1);
  return f;
}

// Parses one field as `dt` and stores it at `out[i]`.
void storeField(const Src& s, size_t line, size_t col, std::string_view f, DType dt, Tensor& out, int64_t i) {
  if (f.empty()) csvError(s, line, col, "empty field");
  std::string_view num = f;
  if (num.front() == '+') num.remove_prefix(1);
  auto notNumber = [&]() { csvError(s, line, col, "'" + std::string(f) + "' is not a number"); };
  if (isFloat(dt)) {
    double v = 0;
    auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (ptr != num.data() + num.size() || (ec != std::errc() && ec != std::errc::result_out_of_range)) notNumber();
    if (ec == std::errc::result_out_of_range) v = std::strtod(std::string(num).c_str(), nullptr);
    switch (dt) {
      case DType::F64: out.ptr<double>()[i] = v; break;
      case DType::F32: out.ptr<float>()[i] = (float)v; break;
      case DType::F16: out.ptr<uint16_t>()[i] = floatToHalf((float)v); break;
      default: out.ptr<uint16_t>()[i] = floatToBf16((float)v); break;
    }
    return;
  }
  if (dt == DType::Bool) {
    bool v;
    if (f == "1" || f == "True" || f == "true") v = true;
    else if (f == "0" || f == "False" || f == "false") v = false;
    else csvError(s, line, col, "'" + std::string(f) + "' is not a boolean (0, 1, True or False)");
    out.ptr<uint8_t>()[i] = v;
    return;
  }
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ptr != num.data() + num.size() || (ec != std::errc() && ec != std::errc::result_out_of_range)) notNumber();
  bool range = ec != std::errc::result_out_of_range;
  if (dt == DType::U8) range = range && v >= 0 && v <= 255;
  if (dt == DType::U32) range = range && v >= 0 && v <= (int64_t)UINT32_MAX;
  if (dt == DType::I32) range = range && v >= INT32_MIN && v <= INT32_MAX;
  if (!range) csvError(s, line, col, "'" + std::string(f) + "' is out of range for " + dtypeName(dt));
  switch (dt) {
    case DType::U8: out.ptr<uint8_t>()[i] = (uint8_t)v; break;
    case DType::U32: out.ptr<uint32_t>()[i] = (uint32_t)v; break;
    case DType::I32: out.ptr<int32_t>()[i] = (int32_t)v; break;
    default: out.ptr<int64_t>()[i] = v; break;
  }
}

}  // namespace

// ------------------------------------------------------------------ primitives

Value prim_LoadIdx(CallContext& cx, Value* args) {
  Src s{"load_idx", argStr(args[0], "load_idx", "path"), ""};
  Bytes file = readFile(s);
  if (file.size() >= 2 && file[0] == 0x1f && file[1] == 0x8b) {
    Bytes raw;
    std::string why;
    if (!inflateAll(file.data(), file.size(), true, inflateLimit(file.size()), &raw, &why)) corrupt(s, why);
    return makeTensor(parseIdx(s, raw.data(), raw.size()));
  }
  return makeTensor(parseIdx(s, file.data(), file.size()));
}

Value prim_LoadNpy(CallContext& cx, Value* args) {
  Src s{"load_npy", argStr(args[0], "load_npy", "path"), ""};
  Bytes file = readFile(s);
  return makeTensor(parseNpy(s, file.data(), file.size()));
}

Value prim_SaveNpy(CallContext& cx, Value* args) {
  Src s{"save_npy", argStr(args[0], "save_npy", "path"), ""};
  Tensor t = argTensor(args[1], "save_npy", "x").contiguous();
  std::string header = npyHeader("save_npy", t);
  size_t bytes = (size_t)t.numel() * dtypeSize(t.dtype());
  writeFile(s, {{header.data(), header.size()}, {bytes ? t.data() : nullptr, bytes}});
  return Value::none();
}

Value prim_LoadNpz(CallContext& cx, Value* args) {
  Src s{"load_npz", argStr(args[0], "load_npz", "path"), ""};
  Bytes file = readFile(s);
  return parseNpz(s, file);
}

// save_npz(path, d): a zip of stored (uncompressed) members NAME.npy, as numpy.savez.
Value prim_SaveNpz(CallContext& cx, Value* args) {
  Src s{"save_npz", argStr(args[0], "save_npz", "path"), ""};
  if (!args[1].is(VKind::Dict))
    raise(DiagId::TypeError, SourceLoc{}, {std::string("save_npz() argument 'd' must be a dict of str to tensors, not '") +
                                               typeNameOf(args[1]) + "'"});
  const DictObj* d = args[1].as<DictObj>();
  if (d->entries.size() > 0xFFFF) raise(DiagId::ValueError, SourceLoc{}, {"save_npz: more than 65535 arrays"});
  std::string out, central;
  for (const auto& [k, v] : d->entries) {
    if (!k.is(VKind::Str))
      raise(DiagId::TypeError, SourceLoc{}, {std::string("save_npz: keys must be str, not '") + typeNameOf(k) + "'"});
    std::string name = k.as<StrObj>()->s + ".npy";
    if (name.size() > 0xFFFF) raise(DiagId::ValueError, SourceLoc{}, {"save_npz: name too long"});
    Tensor t = argTensor(v, "save_npz", "d").contiguous();
    std::string member = npyHeader("save_npz", t);
    member.append(static_cast<const char*>(t.numel() ? t.data() : ""), (size_t)t.numel() * dtypeSize(t.dtype()));
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < member.size();) {
      size_t chunk = std::min<size_t>(member.size() - off, 1u << 30);
      crc = crc32(crc, (const Bytef*)member.data() + off, (uInt)chunk);
      off += chunk;
    }
    size_t offset = out.size();
    if (member.size() >= 0xFFFFFFFFu || offset >= 0xFFFFFFFFu)
      raise(DiagId::ValueError, SourceLoc{}, {"save_npz: archives over 4 GiB (ZIP64) are not supported"});
    // local file header
    put32(out, kLocalSig);
    put16(out, 20); put16(out, 0); put16(out, 0);      // version, flags, method: stored
    put16(out, 0); put16(out, 0x21);                   // time, date: 1980-01-01
    put32(out, (uint32_t)crc); put32(out, (uint32_t)member.size()); put32(out, (uint32_t)member.size());
    put16(out, (uint16_t)name.size()); put16(out, 0);
    out += name;
    out += member;
    // central directory entry
    put32(central, kCentralSig);
    put16(central, 20); put16(central, 20); put16(central, 0); put16(central, 0);
    put16(central, 0); put16(central, 0x21);
    put32(central, (uint32_t)crc); put32(central, (uint32_t)member.size()); put32(central, (uint32_t)member.size());
    put16(central, (uint16_t)name.size()); put16(central, 0); put16(central, 0);  // name, extra, comment
    put16(central, 0); put16(central, 0); put32(central, 0);                       // disk, attributes
    put32(central, (uint32_t)offset);
    central += name;
  }
  if (out.size() + central.size() >= 0xFFFFFFFFu)
    raise(DiagId::ValueError, SourceLoc{}, {"save_npz: archives over 4 GiB (ZIP64) are not supported"});
  uint32_t cdOffset = (uint32_t)out.size();
  out += central;
  put32(out, kEndSig);
  put16(out, 0); put16(out, 0);
  put16(out, (uint16_t)d->entries.size()); put16(out, (uint16_t)d->entries.size());
  put32(out, (uint32_t)central.size()); put32(out, cdOffset);
  put16(out, 0);
  writeFile(s, {{out.data(), out.size()}});
  return Value::none();
}

// load_csv(path, skip_header=False, dtype=f32, delimiter=','): a 2-D tensor, one row per
// non-empty line; every row must have the same number of fields.
Value prim_LoadCsv(CallContext& cx, Value* args) {
  Src s{"load_csv", argStr(args[0], "load_csv", "path"), ""};
  bool skipHeader = argBool(args[1], "load_csv", "skip_header");
  DType dt = argDType(args[2], "load_csv", "dtype");
  const std::string& delim = argStr(args[3], "load_csv", "delimiter");
  if (delim.size() != 1 || delim[0] == '\n' || delim[0] == '\r')
    raise(DiagId::ValueError, SourceLoc{}, {"load_csv: delimiter must be one character other than a newline, not '" + delim + "'"});
  Bytes file = readFile(s);
  std::string_view text((const char*)file.data(), file.size());
  // First pass: count rows and columns (checking every row has as many fields).
  struct Row { size_t line; std::string_view text; };
  std::vector<Row> rows;
  size_t lineNo = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineNo;
    if (lineNo == 1 && skipHeader) continue;
    if (trim(line).empty()) continue;
    rows.push_back({lineNo, line});
  }
  size_t cols = 0;
  if (!rows.empty()) {
    cols = 1;
    for (char c : rows[0].text) cols += c == delim[0];
  }
  Tensor t = Tensor::empty(dt, Shape{(int64_t)rows.size(), (int64_t)cols});
  int64_t i = 0;
  for (const Row& r : rows) {
    size_t col = 0, start = 0;
    while (true) {
      size_t stop = r.text.find(delim[0], start);
      if (stop == std::string_view::npos) stop = r.text.size();
      ++col;
      if (col > cols)
        csvError(s, r.line, col, "extra field (line " + std::to_string(rows[0].line) + " has " + std::to_string(cols) + " fields)");
      storeField(s, r.line, col, trim(r.text.substr(start, stop - start)), dt, t, i++);
      if (stop == r.text.size()) break;
      start = stop + 1;
    }
    if (col < cols)
      csvError(s, r.line, col + 1, "missing field (line " + std::to_string(rows[0].line) + " has " + std::to_string(cols) + " fields)");
  }
  return makeTensor(std::move(t));
}

}  // namespace msl
