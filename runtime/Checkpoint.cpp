// save_checkpoint(path, tree) and load_checkpoint(path, like=None, names=None,
// transpose=None) in the safetensors format (LANGUAGE.md section 6; docs/checkpoints.md).
//
// The format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]},
// "__metadata__": {str: str}} padded with spaces, then the data buffer, the offsets being
// relative to its start. Tensors are named by their path in the tree (`l1.w`,
// `opt.m.l1.w`, `layers.0.b`); Python floats, ints and bools are 0-d F64, I64 and BOOL
// tensors; strings go to `__metadata__` under their path.
//
// Saving writes a temporary file next to the target (`PATH.tmp`), fsyncs it, renames it
// over the target and fsyncs the directory, so a crash leaves the old checkpoint or the
// new one, and at most one temporary file.
//
// Loading reads the header, checks all of it (length, JSON, dtypes, shapes, offsets tiling
// the data buffer exactly) before allocating anything, then reads each tensor straight
// into its own storage: memory stays within the file's size. Every failure is CorruptFile
// ("load_checkpoint 'PATH': <the failed check>"), IoError, or CheckpointMismatch for a file
// that does not fit `like`.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "runtime/Host.h"
#include "runtime/Json.h"
#include "runtime/Kernels.h"
#include "runtime/PrimImpl.h"
#include "runtime/Print.h"

namespace msl {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace {

// Limits of what a header may claim (safetensors' own reader caps the header at 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr int kMaxJsonDepth = 64;
constexpr size_t kMaxRank = 64;

// ------------------------------------------------------------------ dtypes

// safetensors' dtype names. I8, I16 and U16 load as i32 (as .npy files do); the others
// that msl has no dtype for are rejected by name.
struct StDType {
  const char* name;
  DType dt;      // what it loads as
  size_t item;   // bytes per element in the file
  bool widen;    // converted on load (I8, I16, U16 -> i32)
};
const StDType kStDTypes[] = {
    {"BOOL", DType::Bool, 1, false}, {"U8", DType::U8, 1, false},   {"U32", DType::U32, 4, false},
    {"I32", DType::I32, 4, false},   {"I64", DType::I64, 8, false}, {"F16", DType::F16, 2, false},
    {"BF16", DType::BF16, 2, false}, {"F32", DType::F32, 4, false}, {"F64", DType::F64, 8, false},
    {"I8", DType::I32, 1, true},     {"I16", DType::I32, 2, true},  {"U16", DType::I32, 2, true},
};
const char* const kUnsupported[] = {"U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64", "C128"};

const char* stName(DType dt) {
  for (const StDType& d : kStDTypes)
    if (d.dt == dt && !d.widen) return d.name;
  return nullptr;
}

// ------------------------------------------------------------------ errors

struct Src {
  const char* fn;
  std::string path;
};
[[noreturn]] void ioError(const Src& s, const std::string& why) { raise(DiagId::IoError, SourceLoc{}, {s.fn, s.path, why}); }
[[noreturn]] void corrupt(const Src& s, const std::string& why) { raise(DiagId::CorruptFile, SourceLoc{}, {s.fn, s.path, why}); }
[[noreturn]] void mismatch(const Src& s, const std::string& why) {
  raise(DiagId::CheckpointMismatch, SourceLoc{}, {s.path, why});
}
[[noreturn]] void typeError(const std::string& msg) { raise(DiagId::TypeError, SourceLoc{}, {msg}); }

std::string q(const std::string& name) { return "'" + name + "'"; }

// ------------------------------------------------------------------ trees -> entries

struct Entry {
  std::string name;
  Tensor t;  // contiguous
};

std::string join(const std::string& path, const std::string& comp) { return path.empty() ? comp : path + "." + comp; }

// The path component of a dict key (str, or int written in decimal).
std::string keyComp(const Value& k, const char* fn, const std::string& path) {
  if (k.is(VKind::Str)) return k.as<StrObj>()->s;
  if (k.is(VKind::Int)) return std::to_string(k.asInt());
  typeError(std::string(fn) + ": dict keys must be str or int, not '" + typeNameOf(k) + "' (at " +
            (path.empty() ? "the root" : q(path)) + ")");
}

void collect(const Value& t, const std::string& path, std::vector<Entry>& tensors,
             std::vector<std::pair<std::string, std::string>>& meta) {
  switch (t.kind()) {
    case VKind::None: return;  // an empty subtree, as in tree_leaves
    case VKind::Tuple:
    case VKind::List: {
      const auto& items = seqItems(t);
      for (size_t i = 0; i < items.size(); ++i) collect(items[i], join(path, std::to_string(i)), tensors, meta);
      return;
    }
    case VKind::Dict:
      for (const auto& [k, v] : t.as<DictObj>()->entries) collect(v, join(path, keyComp(k, "save_checkpoint", path)), tensors, meta);
      return;
    case VKind::Record: {
      const RecordObj* r = t.as<RecordObj>();
      const ClassObj* cls = r->classObj();
      for (size_t i = 0; i < r->fields.size(); ++i) collect(r->fields[i], join(path, cls->fields[i]), tensors, meta);
      return;
    }
    case VKind::Tensor: tensors.push_back({path, t.as<TensorObj>()->t.contiguous()}); return;
    case VKind::Float: tensors.push_back({path, Tensor::scalar(DType::F64, t.asFloat())}); return;
    case VKind::Int: tensors.push_back({path, Tensor::scalarInt(DType::I64, t.asInt())}); return;
    case VKind::Bool: tensors.push_back({path, Tensor::scalarInt(DType::Bool, t.asBool())}); return;
    case VKind::Str: meta.emplace_back(path, t.as<StrObj>()->s); return;
    default:
      typeError("save_checkpoint: cannot save a value of type '" + typeNameOf(t) + "' (at " +
                (path.empty() ? "the root" : q(path)) + "); trees hold tensors, numbers, strings and None");
  }
}

// ------------------------------------------------------------------ writing

void writeAll(int fd, const void* data, size_t n, const Src& s, const std::string& tmp) {
  const char* p = static_cast<const char*>(data);
  for (size_t done = 0; done < n;) {
    ssize_t w = ::write(fd, p + done, std::min<size_t>(n - done, 1u << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      ioError(s, std::strerror(err));
    }
    done += (size_t)w;
  }
}

// Writes the file atomically: PATH.tmp, fsync, rename over PATH, fsync of the directory.
void writeAtomic(const Src& s, const std::string& header, const std::vector<const Entry*>& order) {
  checkFileAccess(s.fn, s.path);
  std::string tmp = s.path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) ioError(s, std::string("cannot create the temporary file '") + tmp + "': " + std::strerror(errno));
  uint64_t n = header.size();
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = (uint8_t)(n >> (8 * i));
  writeAll(fd, len, 8, s, tmp);
  writeAll(fd, header.data(), header.size(), s, tmp);
  for (const Entry* e : order) {
    size_t bytes = (size_t)e->t.numel() * dtypeSize(e->t.dtype());
    if (bytes) writeAll(fd, e->t.data(), bytes, s, tmp);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    ioError(s, std::string("cannot write the temporary file: ") + std::strerror(err));
  }
  if (::rename(tmp.c_str(), s.path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    ioError(s, std::strerror(err));
  }
  size_t slash = s.path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : s.path.substr(0, slash);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {  // the rename is durable once the directory is
    ::fsync(dfd);
    ::close(dfd);
  }
}

// ------------------------------------------------------------------ reading

struct FileEntry {
  std::string name;
  const StDType* type = nullptr;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

struct Header {
  std::vector<FileEntry> entries;  // in header order
  std::vector<std::pair<std::string, std::string>> meta;
  uint64_t dataStart = 0;  // 8 + N
};

class File {
 public:
  explicit File(const Src& s) : s_(s) {
    checkFileAccess(s.fn, s.path);
    fd_ = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) ioError(s, std::strerror(errno));
    struct stat st;
    int err = ::fstat(fd_, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (err) {
      ::close(fd_);
      ioError(s, std::strerror(err));
    }
    size_ = (uint64_t)std::max<off_t>(st.st_size, 0);
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  uint64_t size() const { return size_; }
  // Reads exactly n bytes at `at` (the file shrinking meanwhile is a truncation).
  void read(uint64_t at, void* out, size_t n) {
    char* p = static_cast<char*>(out);
    for (size_t done = 0; done < n;) {
      ssize_t r = ::pread(fd_, p + done, std::min<size_t>(n - done, 1u << 30), (off_t)(at + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) ioError(s_, std::strerror(errno));
      if (r == 0) corrupt(s_, "truncated file: it shrank while being read");
      done += (size_t)r;
    }
  }

 private:
  const Src& s_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Parses and checks the header; afterwards every entry's bytes lie inside the file, the
// entries tile the data buffer exactly, and each holds numel * itemsize bytes.
Header readHeader(const Src& s, File& f) {
  if (f.size() < 8) corrupt(s, "header length: the file has " + std::to_string(f.size()) + " bytes, fewer than the 8 of the header length");
  uint8_t len[8];
  f.read(0, len, 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= (uint64_t)len[i] << (8 * i);
  if (n < 2) corrupt(s, "header length " + std::to_string(n) + " is too small (a JSON object needs at least 2 bytes)");
  if (n > kMaxHeaderBytes)
    corrupt(s, "header length " + std::to_string(n) + " is over the limit of " + std::to_string(kMaxHeaderBytes) + " bytes");
  if (n > f.size() - 8)
    corrupt(s, "header length " + std::to_string(n) + " is beyond the end of the file (" + std::to_string(f.size() - 8) +
                   " bytes follow the length)");
  std::string text(n, '\0');
  f.read(8, text.data(), n);
  std::string why = json::validate(text, kMaxJsonDepth);
  if (!why.empty()) corrupt(s, "header JSON: " + why);

  Header h;
  h.dataStart = 8 + n;
  uint64_t bufSize = f.size() - h.dataStart;
  json::Cursor c(text);
  if (c.peek() != '{') corrupt(s, "header JSON: the header is not an object");
  c.beginObject();
  std::unordered_set<std::string> seen;
  std::string key;
  while (c.nextMember(&key)) {
    if (!seen.insert(key).second) corrupt(s, "duplicate key " + q(key) + " in the header");
    if (key == "__metadata__") {
      if (c.peek() != '{') corrupt(s, "__metadata__ is not an object");
      c.beginObject();
      std::unordered_set<std::string> metaSeen;
      std::string mk;
      while (c.nextMember(&mk)) {
        if (!metaSeen.insert(mk).second) corrupt(s, "duplicate key " + q(mk) + " in __metadata__");
        if (c.peek() != '"') corrupt(s, "__metadata__ value of " + q(mk) + " is not a string");
        h.meta.emplace_back(mk, c.string());
      }
      continue;
    }
    FileEntry e;
    e.name = key;
    std::string where = "tensor " + q(key) + ": ";
    if (c.peek() != '{') corrupt(s, where + "entry is not an object");
    c.beginObject();
    bool hasDtype = false, hasShape = false, hasOffsets = false;
    std::string field;
    while (c.nextMember(&field)) {
      if (field == "dtype" && !hasDtype) {
        hasDtype = true;
        if (c.peek() != '"') corrupt(s, where + "dtype is not a string");
        std::string dt = c.string();
        for (const StDType& d : kStDTypes)
          if (dt == d.name) e.type = &d;
        if (!e.type) {
          for (const char* u : kUnsupported)
            if (dt == u) corrupt(s, where + "dtype " + dt + " is not supported");
          corrupt(s, where + "unknown dtype " + q(dt));
        }
      } else if (field == "shape" && !hasShape) {
        hasShape = true;
        if (c.peek() != '[') corrupt(s, where + "shape is not a list");
        c.beginArray();
        while (c.nextElement()) {
          uint64_t d;
          if (c.peek() < '0' || c.peek() > '9' || !c.unsignedInt((uint64_t)INT64_MAX, &d))
            corrupt(s, where + "shape: a dimension is not a non-negative integer");
          if (e.shape.size() == kMaxRank) corrupt(s, where + "shape has more than " + std::to_string(kMaxRank) + " dimensions");
          e.shape.push_back((int64_t)d);
        }
      } else if (field == "data_offsets" && !hasOffsets) {
        hasOffsets = true;
        if (c.peek() != '[') corrupt(s, where + "data_offsets is not a list");
        c.beginArray();
        uint64_t v[2];
        int k = 0;
        while (c.nextElement()) {
          uint64_t x;
          if (k == 2 || c.peek() < '0' || c.peek() > '9' || !c.unsignedInt(UINT64_MAX, &x))
            corrupt(s, where + "data_offsets is not a pair of non-negative integers");
          v[k++] = x;
        }
        if (k != 2) corrupt(s, where + "data_offsets is not a pair of non-negative integers");
        e.begin = v[0];
        e.end = v[1];
      } else if (field == "dtype" || field == "shape" || field == "data_offsets") {
        corrupt(s, where + "duplicate key " + q(field));
      } else {
        corrupt(s, where + "unexpected key " + q(field));
      }
    }
    if (!hasDtype) corrupt(s, where + "no dtype");
    if (!hasShape) corrupt(s, where + "no shape");
    if (!hasOffsets) corrupt(s, where + "no data_offsets");
    int64_t elems = 1;
    for (int64_t d : e.shape)
      if (__builtin_mul_overflow(elems, d, &elems)) corrupt(s, where + "shape " + shapeStr(e.shape) + ": the number of elements overflows");
    int64_t bytes;
    if (__builtin_mul_overflow(elems, (int64_t)e.type->item, &bytes))
      corrupt(s, where + "shape " + shapeStr(e.shape) + ": the size in bytes overflows");
    std::string offs = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.begin > e.end || e.end > bufSize)
      corrupt(s, where + offs + " are outside the data buffer (" + std::to_string(bufSize) + " bytes)");
    if (e.end - e.begin != (uint64_t)bytes)
      corrupt(s, where + "wrong size: " + offs + " hold " + std::to_string(e.end - e.begin) + " bytes, shape " +
                     shapeStr(e.shape) + " of " + e.type->name + " needs " + std::to_string(bytes));
    h.entries.push_back(std::move(e));
  }
  // The entries, in the order of their offsets, must cover the buffer with no overlap and
  // no gap (as safetensors' own reader demands).
  std::vector<const FileEntry*> byOffset;
  for (const FileEntry& e : h.entries) byOffset.push_back(&e);
  std::sort(byOffset.begin(), byOffset.end(), [](const FileEntry* a, const FileEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t at = 0;
  const FileEntry* prev = nullptr;
  for (const FileEntry* e : byOffset) {
    if (e->begin < at)
      corrupt(s, "tensors " + q(prev->name) + " and " + q(e->name) + " overlap (data_offsets [" + std::to_string(prev->begin) +
                     ", " + std::to_string(prev->end) + "] and [" + std::to_string(e->begin) + ", " + std::to_string(e->end) + "])");
    if (e->begin > at)
      corrupt(s, "gap in the data buffer: bytes " + std::to_string(at) + " to " + std::to_string(e->begin) + " belong to no tensor");
    at = e->end;
    if (e->end > e->begin) prev = e;
    else if (!prev) prev = e;
  }
  if (at != bufSize)
    corrupt(s, "gap in the data buffer: bytes " + std::to_string(at) + " to " + std::to_string(bufSize) +
                   " at its end belong to no tensor");
  return h;
}

// Reads one checked entry into a new tensor.
Tensor readTensor(const Src& s, File& f, const Header& h, const FileEntry& e) {
  Tensor t = Tensor::empty(e.type->dt, e.shape);
  size_t bytes = (size_t)(e.end - e.begin);
  if (bytes == 0) return t;
  uint64_t at = h.dataStart + e.begin;
  if (!e.type->widen) {
    f.read(at, t.data(), bytes);
    if (t.dtype() == DType::Bool) {
      uint8_t* p = t.ptr<uint8_t>();
      for (size_t i = 0; i < bytes; ++i)
        if (p[i] > 1) corrupt(s, "tensor " + q(e.name) + ": BOOL element " + std::to_string(i) + " is " + std::to_string(p[i]) + ", not 0 or 1");
    }
    return t;
  }
  std::vector<uint8_t> raw(bytes);
  f.read(at, raw.data(), bytes);
  int32_t* out = t.ptr<int32_t>();
  int64_t count = t.numel();
  for (int64_t i = 0; i < count; ++i) {
    if (e.type->item == 1) {
      out[i] = (int8_t)raw[i];
    } else {
      uint16_t u = (uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8);
      out[i] = std::strcmp(e.type->name, "I16") == 0 ? (int32_t)(int16_t)u : (int32_t)u;
    }
  }
  return t;
}

Tensor transposed(const Src& s, const std::string& name, const Tensor& t) {
  if (t.ndim() != 2)
    mismatch(s, "transpose: tensor " + q(name) + " has shape " + shapeStr(t.shape()) + ", not 2 dimensions");
  return permute(t, {1, 0}).contiguous();
}

// ------------------------------------------------------------------ like

// Builds the result with like's structure from the file's tensors (looked up by like path,
// after `names`), marking each tensor used.
struct Loader {
  const Src& s;
  File& f;
  const Header& h;
  std::unordered_map<std::string, size_t> byPath;  // like path -> entry index
  std::unordered_map<std::string, const std::string*> meta;
  std::unordered_map<std::string, std::string> fileNameOf;  // like path -> file name (names)
  std::set<std::string> transpose;                         // like paths
  std::vector<bool> used;

  std::string label(const std::string& path) const {
    auto it = fileNameOf.find(path);
    return it == fileNameOf.end() ? q(path) : q(path) + " (" + q(it->second) + " in the file)";
  }

  Tensor fetch(const std::string& path, DType dt, const Shape& shape, const char* what) {
    auto it = byPath.find(path);
    if (it == byPath.end()) mismatch(s, "missing tensor " + label(path) + " (like has " + what + ")");
    const FileEntry& e = h.entries[it->second];
    used[it->second] = true;
    Tensor t = readTensor(s, f, h, e);
    if (transpose.count(path)) t = transposed(s, path, t);
    if (t.dtype() != dt || t.shape() != shape)
      mismatch(s, "tensor " + label(path) + ": expected " + dtypeName(dt) + " " + shapeStr(shape) + ", found " +
                      dtypeName(t.dtype()) + " " + shapeStr(t.shape()) + (transpose.count(path) ? " (transposed)" : ""));
    return t;
  }

  Value build(const Value& like, const std::string& path) {
    switch (like.kind()) {
      case VKind::Tuple:
      case VKind::List: {
        const auto& items = seqItems(like);
        std::vector<Value> out;
        out.reserve(items.size());
        for (size_t i = 0; i < items.size(); ++i) out.push_back(build(items[i], join(path, std::to_string(i))));
        return like.is(VKind::Tuple) ? makeTuple(std::move(out)) : makeList(std::move(out));
      }
      case VKind::Dict: {
        Value out = makeDict();
        for (const auto& [k, v] : like.as<DictObj>()->entries)
          out.as<DictObj>()->set(k, build(v, join(path, keyComp(k, "load_checkpoint", path))));
        return out;
      }
      case VKind::Record: {
        const RecordObj* r0 = like.as<RecordObj>();
        const ClassObj* cls = r0->classObj();
        auto* r = new RecordObj();
        Value out = Value::object(r);
        r->cls = r0->cls;
        for (size_t i = 0; i < r0->fields.size(); ++i) r->fields.push_back(build(r0->fields[i], join(path, cls->fields[i])));
        return out;
      }
      case VKind::Tensor: {
        const Tensor& x = like.as<TensorObj>()->t;
        return makeTensor(fetch(path, x.dtype(), x.shape(), "a tensor"));
      }
      case VKind::Float: return Value::real(fetch(path, DType::F64, {}, "a float").getF64(0));
      case VKind::Int: return Value::integer(fetch(path, DType::I64, {}, "an int").getI64(0));
      case VKind::Bool: return Value::boolean(fetch(path, DType::Bool, {}, "a bool").getI64(0) != 0);
      case VKind::Str: {
        auto it = meta.find(path);
        if (it == meta.end()) mismatch(s, "missing string " + q(path) + " in __metadata__ (like has a str)");
        return makeStr(*it->second);
      }
      default: return like;  // None and static leaves (functions, dtypes) come from like
    }
  }
};

// names: a dict of str to str (file name -> path); transpose: a list or tuple of str.
std::vector<std::pair<std::string, std::string>> argNames(const Value& v) {
  std::vector<std::pair<std::string, std::string>> out;
  if (v.isNone()) return out;
  if (!v.is(VKind::Dict)) typeError("load_checkpoint() argument 'names' must be a dict of str to str, not '" + typeNameOf(v) + "'");
  for (const auto& [k, x] : v.as<DictObj>()->entries) {
    if (!k.is(VKind::Str) || !x.is(VKind::Str))
      typeError("load_checkpoint() argument 'names' must be a dict of str to str, found the entry " + reprOf(k) + ": " + reprOf(x));
    out.emplace_back(k.as<StrObj>()->s, x.as<StrObj>()->s);
  }
  return out;
}

std::vector<std::string> argTranspose(const Value& v) {
  std::vector<std::string> out;
  if (v.isNone()) return out;
  if (!isSeq(v)) typeError("load_checkpoint() argument 'transpose' must be a list of str, not '" + typeNameOf(v) + "'");
  for (const Value& x : seqItems(v)) {
    if (!x.is(VKind::Str)) typeError("load_checkpoint() argument 'transpose' must be a list of str, found " + reprOf(x));
    out.push_back(x.as<StrObj>()->s);
  }
  return out;
}

bool validUtf8(const std::string& str) { return json::validate(json::quote(str), 1).empty(); }

}  // namespace

// ------------------------------------------------------------------ primitives

Value prim_SaveCheckpoint(CallContext&, Value* args) {
  Src s{"save_checkpoint", argStr(args[0], "save_checkpoint", "path")};
  const Value& tree = args[1];
  std::vector<Entry> tensors;
  std::vector<std::pair<std::string, std::string>> meta;
  collect(tree, "", tensors, meta);
  // Names must be distinct ({'a.b': x} and {'a': {'b': y}} would collide) and valid UTF-8.
  std::unordered_set<std::string> names;
  auto check = [&](const std::string& name) {
    if (name == "__metadata__") valueError("save_checkpoint: '__metadata__' is reserved and cannot name a leaf");
    if (!names.insert(name).second) valueError("save_checkpoint: two leaves of the tree are both named " + q(name));
    if (!validUtf8(name)) valueError("save_checkpoint: the name " + q(name) + " is not valid UTF-8");
  };
  for (const Entry& e : tensors) check(e.name);
  for (const auto& [k, v] : meta) {
    check(k);
    if (!validUtf8(v)) valueError("save_checkpoint: the string at " + q(k) + " is not valid UTF-8");
  }
  for (const Entry& e : tensors)
    if (!stName(e.t.dtype())) raise(DiagId::DTypeError, SourceLoc{}, {"save_checkpoint", dtypeName(e.t.dtype())});
  // The data is laid out by decreasing item size, so that every tensor is aligned to its
  // item size in the (8-byte aligned) buffer; the header lists the tensors in tree order.
  std::vector<const Entry*> order;
  for (const Entry& e : tensors) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(),
                   [](const Entry* a, const Entry* b) { return dtypeSize(a->t.dtype()) > dtypeSize(b->t.dtype()); });
  std::unordered_map<const Entry*, std::pair<uint64_t, uint64_t>> offsets;
  uint64_t at = 0;
  for (const Entry* e : order) {
    uint64_t bytes = (uint64_t)e->t.numel() * dtypeSize(e->t.dtype());
    offsets[e] = {at, at + bytes};
    at += bytes;
  }
  std::string header = "{";
  if (!meta.empty()) {
    header += "\"__metadata__\":{";
    for (size_t i = 0; i < meta.size(); ++i)
      header += (i ? "," : "") + json::quote(meta[i].first) + ":" + json::quote(meta[i].second);
    header += "}";
  }
  for (const Entry& e : tensors) {
    if (header.size() > 1) header += ",";
    header += json::quote(e.name) + ":{\"dtype\":\"" + stName(e.t.dtype()) + "\",\"shape\":[";
    for (int i = 0; i < e.t.ndim(); ++i) header += (i ? "," : "") + std::to_string(e.t.dim(i));
    auto [b, end] = offsets[&e];
    header += "],\"data_offsets\":[" + std::to_string(b) + "," + std::to_string(end) + "]}";
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // the buffer starts 8-byte aligned
  if (header.size() > kMaxHeaderBytes)
    valueError("save_checkpoint: the header would be " + std::to_string(header.size()) + " bytes, over the limit of " +
               std::to_string(kMaxHeaderBytes) + " that readers accept (too many leaves or long strings)");
  writeAtomic(s, header, order);
  return Value::none();
}

Value prim_LoadCheckpoint(CallContext&, Value* args) {
  Src s{"load_checkpoint", argStr(args[0], "load_checkpoint", "path")};
  const Value& like = args[1];
  auto names = argNames(args[2]);
  auto transpose = argTranspose(args[3]);
  File f(s);
  Header h = readHeader(s, f);

  std::unordered_map<std::string, size_t> fileIndex;
  for (size_t i = 0; i < h.entries.size(); ++i) fileIndex[h.entries[i].name] = i;
  // Every name `names` maps must be in the file; the new names must be distinct.
  std::unordered_map<std::string, std::string> renamed;  // file name -> path
  std::unordered_set<std::string> targets;
  for (const auto& [from, to] : names) {
    if (!fileIndex.count(from)) mismatch(s, "names maps " + q(from) + ", which is not a tensor of the file");
    if (!targets.insert(to).second) mismatch(s, "names maps two tensors to " + q(to));
    renamed[from] = to;
  }
  auto pathOf = [&](const FileEntry& e) {
    auto it = renamed.find(e.name);
    return it == renamed.end() ? e.name : it->second;
  };

  if (like.isNone()) {
    // A dict of path -> tensor in header order, then the metadata strings.
    std::set<std::string> tp(transpose.begin(), transpose.end());
    std::unordered_set<std::string> paths;
    Value out = makeDict();
    DictObj* d = out.as<DictObj>();
    for (const FileEntry& e : h.entries) {
      std::string path = pathOf(e);
      if (!paths.insert(path).second) mismatch(s, "names maps a tensor to " + q(path) + ", which another tensor of the file is named");
      Tensor t = readTensor(s, f, h, e);
      if (tp.erase(path)) t = transposed(s, path, t);
      d->entries.emplace_back(makeStr(path), makeTensor(std::move(t)));
    }
    if (!tp.empty()) mismatch(s, "transpose names " + q(*tp.begin()) + ", which is not a tensor of the file");
    for (const auto& [k, v] : h.meta) {
      if (paths.count(k)) corrupt(s, "__metadata__ key " + q(k) + " is also the name of a tensor");
      d->entries.emplace_back(makeStr(k), makeStr(v));
    }
    return out;
  }

  Loader L{s, f, h, {}, {}, {}, {}, std::vector<bool>(h.entries.size(), false)};
  for (size_t i = 0; i < h.entries.size(); ++i) {
    std::string path = pathOf(h.entries[i]);
    if (!L.byPath.emplace(path, i).second) mismatch(s, "names maps a tensor to " + q(path) + ", which another tensor of the file is named");
    if (path != h.entries[i].name) L.fileNameOf[path] = h.entries[i].name;
  }
  for (const auto& [k, v] : h.meta) L.meta[k] = &v;
  // transpose must name tensors of like.
  std::vector<Entry> likeTensors;
  {
    // The paths like has (the same walk as save_checkpoint's, without copying data).
    std::function<void(const Value&, const std::string&)> walk = [&](const Value& t, const std::string& path) {
      switch (t.kind()) {
        case VKind::Tuple:
        case VKind::List:
          for (size_t i = 0; i < seqItems(t).size(); ++i) walk(seqItems(t)[i], join(path, std::to_string(i)));
          return;
        case VKind::Dict:
          for (const auto& [k, v] : t.as<DictObj>()->entries) walk(v, join(path, keyComp(k, "load_checkpoint", path)));
          return;
        case VKind::Record:
          for (size_t i = 0; i < t.as<RecordObj>()->fields.size(); ++i)
            walk(t.as<RecordObj>()->fields[i], join(path, t.as<RecordObj>()->classObj()->fields[i]));
          return;
        case VKind::Tensor: likeTensors.push_back({path, Tensor()}); return;
        default: return;
      }
    };
    walk(like, "");
  }
  std::unordered_set<std::string> likePaths;
  for (const Entry& e : likeTensors) likePaths.insert(e.name);
  for (const std::string& p : transpose) {
    if (!likePaths.count(p)) mismatch(s, "transpose names " + q(p) + ", which is not a tensor of like");
    L.transpose.insert(p);
  }
  Value out = L.build(like, "");
  std::vector<std::string> extra;
  for (size_t i = 0; i < h.entries.size(); ++i)
    if (!L.used[i]) extra.push_back(pathOf(h.entries[i]));
  if (!extra.empty()) {
    std::string list;
    for (size_t i = 0; i < extra.size() && i < 5; ++i) list += (i ? ", " : "") + q(extra[i]);
    if (extra.size() > 5) list += ", ... (" + std::to_string(extra.size()) + " in all)";
    mismatch(s, std::string(extra.size() == 1 ? "extra tensor " : "extra tensors ") + list + " not in like");
  }
  return out;
}

}  // namespace msl
