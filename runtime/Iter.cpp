// Iteration over host values and tensors (see runtime/Iter.h).
#include "runtime/Iter.h"

#include "ir/Diagnostics.h"
#include "runtime/Utf8.h"

namespace msl {

bool iterLength(const Value& v, int64_t* n) {
  switch (v.kind()) {
    case VKind::List: *n = (int64_t)v.as<ListObj>()->items.size(); return true;
    case VKind::Tuple: *n = (int64_t)v.as<TupleObj>()->items.size(); return true;
    case VKind::Dict: *n = (int64_t)v.as<DictObj>()->entries.size(); return true;
    case VKind::Str: *n = utf8Length(v.as<StrObj>()->s); return true;
    case VKind::Range: *n = v.as<RangeObj>()->length(); return true;
    case VKind::Tensor: {
      const Tensor& t = v.as<TensorObj>()->t;
      if (t.ndim() == 0) return false;
      *n = t.dim(0);
      return true;
    }
    default: return false;
  }
}

// Slice `i` of a tensor along axis 0, sharing its buffer.
static Value tensorRow(const Tensor& t, int64_t i) {
  Shape shape(t.shape().begin() + 1, t.shape().end());
  Shape strides(t.strides().begin() + 1, t.strides().end());
  return makeTensor(t.view(shape, strides, t.offset() + i * t.strides()[0]));
}

static Value codePointStr(std::string_view s, size_t* pos) {
  size_t start = *pos;
  utf8Next(s, pos);
  return makeStr(std::string(s.substr(start, *pos - start)));
}

Value iterItem(const Value& v, int64_t i) {
  switch (v.kind()) {
    case VKind::List: return v.as<ListObj>()->items[(size_t)i];
    case VKind::Tuple: return v.as<TupleObj>()->items[(size_t)i];
    case VKind::Dict: return v.as<DictObj>()->entries[(size_t)i].first;
    case VKind::Str: {
      const std::string& s = v.as<StrObj>()->s;
      size_t pos = utf8Offset(s, i);
      return codePointStr(s, &pos);
    }
    case VKind::Range: {
      const RangeObj* r = v.as<RangeObj>();
      return Value::integer(r->start + i * r->step);
    }
    case VKind::Tensor: return tensorRow(v.as<TensorObj>()->t, i);
    default: internalError(std::string("iterItem on ") + v.typeName());
  }
}

std::vector<Value> iterPrefix(const Value& v, int64_t n) {
  // list(range(10**18)): a diagnostic, not a failed reserve (maxAllocationBytes).
  if ((uint64_t)n > maxAllocationBytes / sizeof(Value)) allocationTooLarge("a sequence", (uint64_t)n, "items");
  switch (v.kind()) {
    case VKind::List: {
      const auto& items = v.as<ListObj>()->items;
      return std::vector<Value>(items.begin(), items.begin() + n);
    }
    case VKind::Tuple: {
      const auto& items = v.as<TupleObj>()->items;
      return std::vector<Value>(items.begin(), items.begin() + n);
    }
    case VKind::Str: {
      const std::string& s = v.as<StrObj>()->s;
      std::vector<Value> out;
      out.reserve((size_t)n);
      for (size_t pos = 0; (int64_t)out.size() < n;) out.push_back(codePointStr(s, &pos));
      return out;
    }
    default: {
      std::vector<Value> out;
      out.reserve((size_t)n);
      for (int64_t i = 0; i < n; ++i) out.push_back(iterItem(v, i));
      return out;
    }
  }
}

std::vector<Value> iterToVector(const Value& v, const char* fnForErrors) {
  int64_t n;
  if (!iterLength(v, &n)) raise(DiagId::NotIterable, SourceLoc{}, {v.typeName()});
  return iterPrefix(v, n);
}

}  // namespace msl
