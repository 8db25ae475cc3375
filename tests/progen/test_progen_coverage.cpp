// The generator meets the coverage requirements on the programs CI runs
// (progen/1-250 ... 751-1000: seeds 1..1000): every primitive of the stated set appears in at least 20
// programs, at least 30% of programs contain if/while/for with break, a closure, a record
// or grad, and programs have 10 to 60 operations. Programs depend on their seed alone.
#include <gtest/gtest.h>

#include <map>

#include "tests/progen/Gen.h"

using namespace msl::progen;

namespace {

struct Stats {
  std::map<std::string, int> perPrim;
  int withConstruct = 0, minOps = 1 << 30, maxOps = 0;
};

const Stats& ciStats() {
  static const Stats s = [] {
    Stats s;
    for (uint64_t seed = 1; seed <= 1000; ++seed) {
      GenProgram p = generate(seed);
      for (const auto& n : p.prims) s.perPrim[n]++;
      s.withConstruct += p.anyConstruct();
      s.minOps = std::min(s.minOps, p.ops);
      s.maxOps = std::max(s.maxOps, p.ops);
    }
    return s;
  }();
  return s;
}

TEST(ProgenCoverage, EveryPrimitiveInAtLeast20Of1000) {
  const Stats& s = ciStats();
  EXPECT_GE(primitiveSet().size(), 100u);
  for (const auto& n : primitiveSet()) {
    auto it = s.perPrim.find(n);
    int c = it == s.perPrim.end() ? 0 : it->second;
    EXPECT_GE(c, 20) << n;
  }
  // The set names everything the generator emits.
  for (const auto& [n, c] : s.perPrim)
    EXPECT_NE(std::find(primitiveSet().begin(), primitiveSet().end(), n), primitiveSet().end()) << n;
}

TEST(ProgenCoverage, ThirtyPercentHaveConstructs) { EXPECT_GE(ciStats().withConstruct, 300); }

TEST(ProgenCoverage, TenToSixtyOperations) {
  EXPECT_GE(ciStats().minOps, 10);
  EXPECT_LE(ciStats().maxOps, 60);
}

TEST(ProgenCoverage, Deterministic) {
  for (uint64_t seed : {1, 77, 123456789}) {
    GenProgram a = generate(seed), b = generate(seed);
    EXPECT_EQ(a.text, b.text);
    EXPECT_EQ(a.prims, b.prims);
  }
  EXPECT_NE(generate(1).text, generate(2).text);
}

}  // namespace
