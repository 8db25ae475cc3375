// The abstract value of a literal: what inference (ir/Infer) gives a constant node that
// holds its value. Passes that read abstracts of graphs whose constants carry none (the
// graphs autodiff builds: autodiff/Clean, codegen/Fusion) use it.
#pragma once
#include "ir/Abstract.h"
#include "ir/IR.h"

namespace msl::ir {

// None, bool, int, float, str, dtype and primitive constants: their abstract (with the
// value); nullptr for other nodes.
const Abstract* literalAbstract(const Node* n);

}  // namespace msl::ir
