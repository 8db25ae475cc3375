// Host values: Python semantics shared by the interpreter and the host built-ins
// (runtime/HostPrims*.cpp), and the hooks the driver may replace.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/Value.h"

namespace msl {

// Called by exit(code) after stdout is flushed. The default flushes stdout and calls
// _exit(code); the driver may install its own (e.g. to unwind the REPL instead).
extern void (*exitHook)(int code);

// A sandbox for untrusted programs (the fuzz harness, tests/fuzz): when set, every
// built-in that reads, writes or creates a file or folder (read_text, write_text,
// makedirs, load_*/save_*) raises IoError "file access is disabled" instead; exists()
// still answers.
extern bool fileAccessDisabled;
// Raises that IoError for built-in `fn` and `path` when file access is disabled.
void checkFileAccess(const std::string& fn, const std::string& path);

// Python truthiness: None, False, 0, 0.0, empty containers and empty ranges are false. A
// tensor is its one element's truth; any other number of elements raises TruthOfTensor.
bool valueTruth(const Value& v);

// Python's `a < b` on host values: numbers (int, float, bool), strings (code point order),
// tuples and lists (lexicographic, same kind only); a one-element tensor compares as its
// item. Anything else raises TypeError "'<' not supported between instances of ...".
bool valueLess(const Value& a, const Value& b);

// Functional updates of lists and dicts. Returns the object of `v`, first replacing `v` by
// a copy when `v` does not hold the only reference (copies of lists are counted in
// listCopyCount(), for tests).
ListObj* uniqueList(Value& v);
DictObj* uniqueDict(Value& v);
uint64_t& listCopyCount();

// Adds the items of `src` (a dict, or an iterable of key/value pairs) to `d` in place, as
// dict(src) and d.update(src) do.
void dictAddAll(DictObj* d, const Value& src);

// The Python value of element `flatIndex` of a tensor: float for float dtypes, bool for
// bool, int otherwise.
Value tensorElement(const Tensor& t, int64_t flatIndex);

}  // namespace msl
