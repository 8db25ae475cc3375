// The abstract value (ir/Abstract.h) of a run-time value, as specialisation sees it: the
// signature of a call is made of the abstracts of its arguments (ir/Specialize.h).
//
// What is kept: the structure of tuples, lists, dicts and records, the dtypes and shapes
// of tensors, strings, dtypes, None, primitives, classes and closures (by graph, with the
// abstracts of their captured values and defaults). Python bool/int/float are dynamic:
// their abstracts carry no value. Bounds keep signatures small: a string longer than
// kMaxStaticStr bytes is a str of unknown value, and a tuple, list or dict of more than
// kMaxStructural items is homogeneous (the join of its items, Any as soon as they differ
// in kind).
#pragma once
#include <cstddef>

#include "ir/Abstract.h"
#include "runtime/Value.h"

namespace msl {

constexpr size_t kMaxStaticStr = 256;
constexpr size_t kMaxStructural = 32;

const ir::Abstract* abstractOf(const Value& v);
// The abstract of a static argument (jit(f, static_argnums=...)): as abstractOf, but a
// Python bool, int or float keeps its value, a string its value (up to kMaxStaticStr
// bytes), and so do those inside tuples and lists. A NaN stays dynamic.
const ir::Abstract* staticAbstractOf(const Value& v);
// Drops the abstracts of class objects, which abstractOf keeps (with a reference to each
// class) for the life of the process. For the fuzz harness, between programs.
void clearClassAbstractCache();

// Several programs run in one process (the fuzzer, the program generator's harness,
// `msl run --check-modes`): a RunMark taken before a run notes how far the process-wide
// tables reach (global variable ids, interned abstracts, with `sources` the source files)
// and restore() drops what the run added, and the class abstracts, so that the next run
// starts alike. The destructor restores if restore() was not called.
class RunMark {
 public:
  explicit RunMark(bool sources);
  RunMark(const RunMark&) = delete;
  RunMark& operator=(const RunMark&) = delete;
  ~RunMark() { restore(); }
  void restore();

 private:
  bool sources_, done_ = false;
  size_t fileMark_ = 0, abstractMark_;
  int idMark_;
};

}  // namespace msl
