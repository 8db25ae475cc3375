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
#include <cstdint>
#include <vector>

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
// The signature of a value as abstractOf sees it, appended to `out`: words holding all
// that abstractOf reads of the value (kinds, the structure and sizes of containers, the
// dtypes and shapes of tensors, the bytes of strings and dict keys, dtypes, primitives,
// and the identity of classes, graphs and modules), so that two values with the same
// signature have the same abstract; computing it makes and interns no abstract. With
// `eager`, the abstract eager mode keys calls on (a string is a str of unknown value, as
// at the top level of a call's signature; nested strings keep their bytes). False for
// values it does not describe: tuples, lists and dicts of more than kMaxStructural items,
// dicts with keys that are not strings, and past kMaxSignatureWords words in `out`.
// `keep`, when given, receives the classes it names (held, their addresses are not
// reused while the signature is kept).
constexpr size_t kMaxSignatureWords = 4096;
bool appendSignature(const Value& v, bool eager, std::vector<uint64_t>& out, std::vector<Value>* keep = nullptr);
// Drops the abstracts of class objects, which abstractOf keeps (with a reference to each
// class) for the life of the process. For the fuzz harness, between programs.
void clearClassAbstractCache();

// Several programs run in one process (the fuzzer, the program generator's harness,
// `msl run --check-modes`): a RunMark taken before a run notes how far the process-wide
// tables reach (global variable ids, interned abstracts, with `sources` the source files)
// and restore() drops what the run added, and the class abstracts, so that the next run
// starts alike. The destructor restores if restore() was not called. What a run makes once
// for the process must exist before the mark: the builtins module (frontend/LowerToIR.h
// builtinsModule(), made where a program first reads `argv`), made inside a first run,
// kept argv's global id, which the next run gave to a global of its own (check-modes of
// the training examples: "'type' object is not subscriptable" at argv[0]).
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
