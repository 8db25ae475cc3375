// Tensors made from Python values and turned back into them (runtime/ArgsTensor.cpp).
#pragma once
#include "runtime/Kernels.h"
#include "runtime/Value.h"

namespace msl {

// tensor(data, dtype): `data` is a number, a bool, a tensor, or nested lists/tuples of
// these. Without a dtype: floats give f32, ints i64, bools bool (a mix takes the highest
// kind); tensors inside promote with each other and weakly with the Python numbers; an
// empty list gives f32. Raises RaggedData for inconsistent nesting and TypeError for
// other element types, naming `fn`.
Tensor tensorFromData(const Value& data, const DType* dtype, const char* fn);

// A Python number as a weakly-typed scalar; false for other values.
inline bool asScalar(const Value& v, Scalar* out) {
  switch (v.kind()) {
    case VKind::Bool: *out = Scalar::boolean(v.asBool()); return true;
    case VKind::Int: *out = Scalar::integer(v.asInt()); return true;
    case VKind::Float: *out = Scalar::real(v.asFloat()); return true;
    default: return false;
  }
}

// t.tolist(): nested lists of Python numbers (a 0-d tensor gives its number).
Value tensorToList(const Tensor& t);

// The cotangent of x[index] (autodiff): zeros of x's shape in dtype dt (f32 or f64) with ct
// added at the indexed positions, repeated positions accumulating.
Tensor indexBackward(const Tensor& x, const Value& index, const Tensor& ct, DType dt);

// An integer index or dimension: an int, a bool, or a one-element integer tensor.
bool asIndexInt(const Value& v, int64_t* out);
// Such an index argument of a primitive; a TypeError naming fn and param otherwise.
int64_t intArg(const Value& v, const char* fn, const char* param);
// A spatial parameter: an int (both axes) or a pair (height, width) (runtime/NNPrims.cpp).
void pairArg(const Value& v, const char* fn, const char* param, int64_t* h, int64_t* w);
// A pooling window from kernel, stride (None: the kernel) and padding arguments.
struct Window2d;
void windowArg(const Value& kernel, const Value& stride, const Value& padding, const char* fn, Window2d* win);

// pad's widths argument (runtime/ShapeOpsPrims.cpp) as one (before, after) pair per axis of x.
std::vector<std::pair<int64_t, int64_t>> padWidths(const Value& widths, const Tensor& x);

}  // namespace msl
