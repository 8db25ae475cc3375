// Tangents at run time, for forward mode (autodiff/Jvp.h): shared by the jvp primitives
// (runtime/JvpPrims.cpp) and the interpreter's jvpcall (runtime/InterpreterJvp.cpp).
#pragma once
#include "runtime/Value.h"

namespace msl {

// t with the structure of its primal: None (the symbolic zero), and None items of a
// container, become zeros (tensors of the primal's dtype and shape, 0.0 for floats, 0 for
// ints and bools); other leaves (strings, functions, None) stay None.
Value jvpFill(const Value& t, const Value& primal);

}  // namespace msl
