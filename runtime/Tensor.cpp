// Tensors and their buffers.
//
// allocBuffer makes ONE heap block holding the Buffer header followed by the 64-byte
// aligned data, so a small tensor costs a single malloc. Such buffers are marked by their
// `release` function (releaseInline) and are the only ones the runtime writes into in
// place (runtimeAllocated); buffers made elsewhere (`new Buffer`, e.g. over a mapped file)
// are deleted normally and their data released by their own `release`.
#include "runtime/Tensor.h"

#include <malloc.h>
#include <sys/sysinfo.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "ir/Diagnostics.h"
#include "runtime/Kernels.h"

namespace msl {

namespace {
void releaseInline(Buffer*) {}  // marker: the data lives in the header's block

[[noreturn]] void raiseAllocFailure(const std::string& what) {
  raise(DiagId::ValueError, SourceLoc{}, {"out of memory: cannot allocate " + what});
}
}  // namespace

Buffer::~Buffer() {
  if (release && release != releaseInline) release(this);
}

void intrusive_ptr_add_ref(Buffer* b) { ++b->refs; }

uint64_t newBufferId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

namespace {

// ---- the cache of large blocks
// Large blocks (kCacheMin bytes or more) come from mmap in glibc and go back to the system
// when freed, so every new large tensor pays a page fault per 4 KiB page on first touch
// (about as long as writing the data). Freed large blocks are kept instead, by size class
// (sizes rounded up to 1/8 of their power of two), up to kCacheLimit bytes in all, and
// reused by the next allocation of the same class: `y = x + 1` in a loop touches fresh
// pages only once. Small blocks go to malloc as before (no cost added).
constexpr size_t kCacheMin = size_t(1) << 20;
constexpr size_t kCacheLimit = size_t(512) << 20;

// Blocks below kCacheMin come from malloc. Programs run on a thread of their own
// (tools/msl/Driver.cpp), whose glibc arena gives freed memory at the top of its heap back
// to the system (madvise) once it passes the trim threshold (128 KiB, adjusted as mmapped
// blocks are freed): a 128x256 f32 activation freed and made again at every step then
// costs a page fault per 4 KiB page, about a quarter of an MLP's gradient step. Fixed
// thresholds instead: blocks from kCacheMin up come from mmap (and stay in the cache
// above), and up to 64 MiB of free heap is kept.
#if defined(__GLIBC__)
[[maybe_unused]] const bool kMallocTuned = [] {
  mallopt(M_MMAP_THRESHOLD, (int)kCacheMin);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  return true;
}();
#endif

size_t sizeClass(size_t total) {
  if (total < kCacheMin) return total;
  size_t p = size_t(1) << (63 - __builtin_clzll(total));  // highest power of two <= total
  size_t step = p / 8;
  return (total + step - 1) / step * step;
}

struct BlockCache {
  std::mutex m;
  std::vector<std::pair<size_t, void*>> blocks;  // (size class, block)
  size_t bytes = 0;
};
BlockCache& blockCache() {
  static BlockCache* c = new BlockCache();  // never destroyed: blocks stay reachable
  return *c;
}

void* takeCached(size_t cls) {
  BlockCache& c = blockCache();
  std::lock_guard<std::mutex> g(c.m);
  for (size_t i = c.blocks.size(); i-- > 0;)
    if (c.blocks[i].first == cls) {
      void* raw = c.blocks[i].second;
      c.blocks.erase(c.blocks.begin() + i);
      c.bytes -= cls;
      return raw;
    }
  return nullptr;
}

void freeBlock(void* raw, size_t cls) {
  if (cls >= kCacheMin) {
    BlockCache& c = blockCache();
    std::lock_guard<std::mutex> g(c.m);
    // Keep it, dropping the oldest blocks if the cache would grow past its limit.
    while (!c.blocks.empty() && c.bytes + cls > kCacheLimit) {
      c.bytes -= c.blocks.front().first;
      std::free(c.blocks.front().second);
      c.blocks.erase(c.blocks.begin());
    }
    if (cls <= kCacheLimit) {
      c.blocks.push_back({cls, raw});
      c.bytes += cls;
      return;
    }
  }
  std::free(raw);
}

constexpr size_t kAlign = 64;
size_t blockBytes(size_t bytes) { return sizeof(Buffer) + (kAlign - 1) + bytes; }
}  // namespace

void intrusive_ptr_release(Buffer* b) {
  if (--b->refs != 0) return;
  if (b->release == releaseInline) {
    size_t cls = sizeClass(blockBytes(b->bytes));
    b->~Buffer();
    freeBlock(b, cls);
  } else {
    delete b;
  }
}

uint64_t maxAllocationBytes = (uint64_t)1 << 62;

// Tensor buffers are also refused past the machine's memory, so that
// `zeros((10**6, 10**6))` is a diagnostic whatever maxAllocationBytes is. RAM plus swap: a
// larger request cannot succeed (and sanitizers abort on a request far
// past it instead of failing it), so it is refused before malloc sees it.
static uint64_t machineMemory() {
  static const uint64_t bytes = [] {
    struct sysinfo si;
    if (sysinfo(&si) != 0) return ~(uint64_t)0;
    return ((uint64_t)si.totalram + (uint64_t)si.totalswap) * (uint64_t)si.mem_unit;
  }();
  return bytes;
}

static uint64_t allocationLimit() { return std::min(maxAllocationBytes, machineMemory()); }

static std::string limitNote() {
  if (maxAllocationBytes <= machineMemory()) return " (the limit is " + std::to_string(maxAllocationBytes) + " bytes)";
  return " (the machine has " + std::to_string(machineMemory()) + " bytes of memory)";
}

void allocationTooLarge(const char* kind, uint64_t n, const char* unit) {
  raiseAllocFailure(std::string(kind) + " of " + std::to_string(n) + " " + unit + limitNote());
}

BufferRef allocBuffer(size_t bytes) {
  if (bytes > allocationLimit()) raiseAllocFailure(std::to_string(bytes) + " bytes" + limitNote());
  size_t total = blockBytes(bytes);
  if (total < bytes) raiseAllocFailure(std::to_string(bytes) + " bytes");
  void* raw = nullptr;
  if (total >= kCacheMin) {
    size_t cls = sizeClass(total);
    if (cls < total) raiseAllocFailure(std::to_string(bytes) + " bytes");
    total = cls;
    raw = takeCached(total);
  }
  if (!raw) raw = std::malloc(total);
  if (!raw) raiseAllocFailure(std::to_string(bytes) + " bytes");
  Buffer* b = new (raw) Buffer();
  uintptr_t data = ((uintptr_t)raw + sizeof(Buffer) + (kAlign - 1)) & ~(uintptr_t)(kAlign - 1);
  b->data = (void*)data;
  b->bytes = bytes;
  b->release = releaseInline;
  return BufferRef(b);
}

bool runtimeAllocated(const Buffer& b) { return b.release == releaseInline; }

std::string shapeStr(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguousStrides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

uint64_t& tensorCopyCount() {
  static uint64_t count = 0;
  return count;
}

Tensor Tensor::empty(DType dt, const Shape& shape) {
  // Checked element count: shapes come from programs.
  uint64_t n = 1;
  bool overflow = false;
  for (int64_t d : shape) {
    MSL_ASSERT(d >= 0, "negative dimension in Tensor::empty");
    overflow |= __builtin_mul_overflow(n, (uint64_t)d, &n);
  }
  uint64_t bytes = 0;
  overflow |= __builtin_mul_overflow(n, (uint64_t)dtypeSize(dt), &bytes);
  if (overflow || bytes > allocationLimit())
    raiseAllocFailure(std::string("a tensor of shape ") + shapeStr(shape) + " and dtype " + dtypeName(dt) + limitNote());
  Tensor t;
  t.dtype_ = dt;
  t.shape_ = shape;
  t.strides_ = contiguousStrides(shape);
  t.offset_ = 0;
  t.buf_ = allocBuffer((size_t)bytes);
  return t;
}

Tensor Tensor::zeros(DType dt, const Shape& shape) {
  Tensor t = empty(dt, shape);
  if (t.buf_->bytes) std::memset(t.buf_->data, 0, t.buf_->bytes);  // all-zero bits is 0 in every dtype
  return t;
}

Tensor Tensor::scalar(DType dt, double v) {
  Tensor t = empty(dt, {});
  visitDType(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    *t.ptr<T>() = convertValue<T>(v);
  });
  return t;
}

Tensor Tensor::scalarInt(DType dt, int64_t v) {
  Tensor t = empty(dt, {});
  visitDType(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    *t.ptr<T>() = convertValue<T>(v);
  });
  return t;
}

bool Tensor::isContiguous() const {
  bool contiguous = true;
  int64_t expected = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    int64_t d = shape_[i];
    if (d == 0) return true;  // no elements: any layout will do
    if (d != 1) {
      contiguous &= strides_[i] == expected;
      expected *= d;
    }
  }
  return contiguous;
}

Tensor Tensor::view(const Shape& shape, const Shape& strides, int64_t offset) const {
  Tensor t;
  t.dtype_ = dtype_;
  t.shape_ = shape;
  t.strides_ = strides;
  t.offset_ = offset;
  t.buf_ = buf_;
  return t;
}

Tensor Tensor::contiguous() const {
  if (isContiguous()) {
    if (strides_ == contiguousStrides(shape_)) return *this;
    return view(shape_, contiguousStrides(shape_), offset_);  // only size-1 dims differ
  }
  Tensor t = empty(dtype_, shape_);
  assignInto(t, *this);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(dtype_, shape_);
  assignInto(t, *this);
  ++tensorCopyCount();
  return t;
}

// Offset (in elements, from data()) of element `flat` of the row-major flattening.
static int64_t flatOffset(const Shape& shape, const Shape& strides, int64_t flat) {
  int64_t off = 0;
  for (size_t i = shape.size(); i-- > 0;) {
    int64_t d = shape[i];
    off += (flat % d) * strides[i];
    flat /= d;
  }
  return off;
}

double Tensor::getF64(int64_t flatIndex) const {
  const char* p = static_cast<const char*>(data()) + flatOffset(shape_, strides_, flatIndex) * (int64_t)dtypeSize(dtype_);
  return visitDType(dtype_, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return convertValue<double>(*reinterpret_cast<const T*>(p));
  });
}

int64_t Tensor::getI64(int64_t flatIndex) const {
  const char* p = static_cast<const char*>(data()) + flatOffset(shape_, strides_, flatIndex) * (int64_t)dtypeSize(dtype_);
  return visitDType(dtype_, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return convertValue<int64_t>(*reinterpret_cast<const T*>(p));
  });
}

}  // namespace msl
