// The table of interned abstracts (ir/Abstract.cpp), seen from a process that runs many
// independent programs (the fuzz harness, tests/fuzz). Abstracts live as long as the
// process; one that names a program's graphs, classes or source files is garbage once that
// program is gone, and a long fuzzing run would otherwise grow by kilobytes per input.
#pragma once
#include <cstddef>

namespace msl::ir {

// The number of abstracts interned so far, after creating those that live in statics (the
// factories' Abstract::none() and the like, the default values of primitives' parameters)
// and so must never be dropped.
size_t internedCount();
// Drops the abstracts interned after the first `n`. Only when nothing refers to them any
// more: the programs, interpreters and diagnostics of that time are all destroyed.
void dropInternedAfter(size_t n);

}  // namespace msl::ir
