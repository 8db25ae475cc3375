// Tensors: dtype, shape, strides (in elements), offset and a reference-counted buffer.
//
// Tensors are values: a kernel never writes into an input. A functional update
// (x[i] = v) may write in place only when `uniquelyOwned()` says nobody else can see the
// buffer; otherwise it copies (and counts the copy in tensorCopyCount(), for tests).
#pragma once
#include <boost/container/small_vector.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <cstdint>
#include <string>

#include "runtime/DType.h"

namespace msl {

using Shape = boost::container::small_vector<int64_t, 6>;
std::string shapeStr(const Shape& s);  // "(2, 3)", "(5,)", "()"
int64_t numel(const Shape& s);

// A number never given to another buffer of this process (__storage_id: is a buffer reused?).
uint64_t newBufferId();

struct Buffer {
  uint32_t refs = 0;  // intrusive count; tensors are used from one interpreter thread
  uint64_t id = newBufferId();
  size_t bytes = 0;
  void* data = nullptr;
  void (*release)(Buffer*) = nullptr;  // frees data (default: aligned free); null = not owned
  void* owner = nullptr;               // e.g. a mapped file
  ~Buffer();
};
void intrusive_ptr_add_ref(Buffer* b);
void intrusive_ptr_release(Buffer* b);
using BufferRef = boost::intrusive_ptr<Buffer>;
// A new 64-byte aligned, uninitialised buffer.
BufferRef allocBuffer(size_t bytes);
// The largest single piece of a program's data that the runtime makes: a tensor's buffer,
// a string, the items of a repeated list or tuple. Past it (and when malloc fails),
// ValueError "out of memory: cannot allocate ...". Unlimited (2^62 bytes) by default; the
// fuzz harness lowers it to 256 MiB so that `zeros((10**6, 10**6))` is a diagnostic.
extern uint64_t maxAllocationBytes;
// Raises that ValueError ("... cannot allocate KIND of N UNIT") when `bytes` is over the limit.
[[noreturn]] void allocationTooLarge(const char* kind, uint64_t n, const char* unit);
inline void checkAllocation(uint64_t bytes, const char* kind, uint64_t n, const char* unit) {
  if (bytes > maxAllocationBytes) allocationTooLarge(kind, n, unit);
}

class Tensor {
 public:
  Tensor() = default;
  // A new contiguous, uninitialised tensor.
  static Tensor empty(DType dt, const Shape& shape);
  static Tensor zeros(DType dt, const Shape& shape);
  // 0-d tensors.
  static Tensor scalar(DType dt, double v);
  static Tensor scalarInt(DType dt, int64_t v);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int ndim() const { return (int)shape_.size(); }
  int64_t numel() const { return msl::numel(shape_); }
  int64_t dim(int i) const { return shape_[i]; }
  bool isContiguous() const;
  bool defined() const { return (bool)buf_; }
  const BufferRef& buffer() const { return buf_; }
  bool uniquelyOwned() const { return buf_ && buf_->refs == 1; }

  // Pointer to the first element (buffer + offset). Typed access for kernels.
  void* data() const { return static_cast<char*>(buf_->data) + offset_ * dtypeSize(dtype_); }
  template <class T> T* ptr() const { return static_cast<T*>(data()); }

  // A view sharing the buffer.
  Tensor view(const Shape& shape, const Shape& strides, int64_t offset) const;
  // This tensor if contiguous, else a contiguous copy.
  Tensor contiguous() const;
  // A contiguous copy that owns a fresh buffer (counts in tensorCopyCount()).
  Tensor clone() const;

  // Element i of the flattened (row-major) tensor, converted.
  double getF64(int64_t flatIndex) const;
  int64_t getI64(int64_t flatIndex) const;

 private:
  DType dtype_ = DType::F32;
  Shape shape_, strides_;
  int64_t offset_ = 0;
  BufferRef buf_;
};

Shape contiguousStrides(const Shape& shape);
// Number of tensor copies made by functional updates (Tensor::clone) since start.
uint64_t& tensorCopyCount();

}  // namespace msl
