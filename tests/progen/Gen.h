// The random program generator of msl_progen (docs/progen.md): NNSmith-style, well-typed
// .msl programs over the primitives, for differential testing of execution modes.
//
// A program is a function of its seed alone (no std:: distributions, whose output differs
// between standard libraries). The generator tracks the kind, dtype, shape and value range
// of every variable, so that each operation it emits is well typed and every value stays
// finite: arguments that could overflow are squashed first (tanh, clip), logarithms and
// roots see values bounded away from 0 (log(abs(x) + 1.0)), divisors are too.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace msl::progen {

struct GenProgram {
  uint64_t seed = 0;
  std::string text;                 // the .msl source; prints its results
  std::set<std::string> prims;      // names (of primitiveSet()) the program uses
  int ops = 0;                      // primitive operations emitted (10..60 by design)
  // The constructs the issue counts: if/while/for with break, closures, records, grad.
  bool control = false, closure = false, record = false, grad = false;
  bool anyConstruct() const { return control || closure || record || grad; }
};

// The program of this seed.
GenProgram generate(uint64_t seed);

// The stated set: every primitive (by the name programs call it, operators by their
// primitive's name: `+` is add) the generator emits. Each appears in at least 20 of any
// 1,000 consecutive seeds' programs (tests/unit/test_progen_coverage.cpp).
const std::vector<std::string>& primitiveSet();

}  // namespace msl::progen
