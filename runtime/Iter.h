// The iteration protocol shared by the interpreter (for loops, unpacking) and the host
// built-ins. Iterables: list, tuple, str (code points as one-character strings), range,
// dict (its keys) and tensor (views of the slices along axis 0). zip(), enumerate(),
// dict.items() and friends return lists, so they iterate as lists.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/Value.h"

namespace msl {

// The number of items of `v`; false when `v` is not iterable (a 0-d tensor is not).
bool iterLength(const Value& v, int64_t* n);
// Item `i` (0 <= i < length) of an iterable. For a str this costs O(i): to walk a string,
// use iterToVector.
Value iterItem(const Value& v, int64_t i);
// All items of `v`; raises NotIterable ("'int' object is not iterable") otherwise.
// `fnForErrors` names the consumer; the message, like Python's, names only the type.
std::vector<Value> iterToVector(const Value& v, const char* fnForErrors);
// The first `n` items (n <= length) of an iterable.
std::vector<Value> iterPrefix(const Value& v, int64_t n);

}  // namespace msl
