// Value semantics without copies: functional updates of uniquely-owned values happen in
// place (DESIGN.md section 4). The interpreter moves a value out of its slot at its last
// use, so `x[i] = v` and `l.append(v)` in a loop make no copy; an alias forces one.
#include <gtest/gtest.h>

#include "frontend/LowerToIR.h"
#include "ir/IR.h"
#include "runtime/Host.h"
#include "runtime/Interpreter.h"
#include "runtime/Tensor.h"
#include "tools/msl/Driver.h"

using namespace msl;

namespace {

Value runAndGet(const std::string& text, const std::string& name) {
  static std::vector<std::unique_ptr<Program>> keep;  // IR outlives the values
  keep.push_back(std::make_unique<Program>(std::vector<std::string>{}));
  ir::Module* m = keep.back()->loadText("<test>", text);
  static Interpreter interp;
  interp.runModule(m);
  return interp.global(m->findGlobal(name)->id);
}

}  // namespace

TEST(Copies, LoopOfSetItemAndAppendMakesNoCopy) {
  uint64_t t0 = tensorCopyCount(), l0 = listCopyCount();
  Value r = runAndGet(
      "def fill(n):\n"
      "    x = zeros((n,))\n"
      "    l = []\n"
      "    for i in range(n):\n"
      "        x[i] = 1.0\n"
      "        l.append(i)\n"
      "    return x, l\n"
      "r = fill(100000)\n",
      "r");
  EXPECT_EQ(tensorCopyCount() - t0, 0u);
  EXPECT_EQ(listCopyCount() - l0, 0u);
  ASSERT_TRUE(r.is(VKind::Tuple));
  const Tensor& x = r.as<TupleObj>()->items[0].as<TensorObj>()->t;
  const auto& l = r.as<TupleObj>()->items[1].as<ListObj>()->items;
  ASSERT_EQ(x.numel(), 100000);
  ASSERT_EQ(l.size(), 100000u);
  double s = 0;
  for (int64_t i = 0; i < x.numel(); ++i) s += x.getF64(i);
  EXPECT_EQ(s, 100000.0);
  EXPECT_EQ(l[99999].asInt(), 99999);
}

TEST(Copies, WhileLoopUpdatesInPlace) {
  uint64_t t0 = tensorCopyCount();
  Value r = runAndGet(
      "def f(n):\n"
      "    x = zeros((n,))\n"
      "    i = 0\n"
      "    while i < n:\n"
      "        x[i] = i\n"
      "        i += 1\n"
      "    return x\n"
      "w = f(1000)\n",
      "w");
  EXPECT_EQ(tensorCopyCount() - t0, 0u);
  EXPECT_EQ(r.as<TensorObj>()->t.getF64(999), 999.0);
}

TEST(Copies, AliasIsNotChangedAndCostsOneCopy) {
  uint64_t t0 = tensorCopyCount(), l0 = listCopyCount();
  Value r = runAndGet(
      "def g():\n"
      "    x = zeros((3,))\n"
      "    y = x\n"
      "    x[0] = 5.0\n"
      "    a = [1]\n"
      "    b = a\n"
      "    a.append(2)\n"
      "    return x, y, a, b\n"
      "q = g()\n",
      "q");
  EXPECT_EQ(tensorCopyCount() - t0, 1u);
  EXPECT_EQ(listCopyCount() - l0, 1u);
  auto& it = r.as<TupleObj>()->items;
  EXPECT_EQ(it[0].as<TensorObj>()->t.getF64(0), 5.0);
  EXPECT_EQ(it[1].as<TensorObj>()->t.getF64(0), 0.0);
  EXPECT_EQ(it[2].as<ListObj>()->items.size(), 2u);
  EXPECT_EQ(it[3].as<ListObj>()->items.size(), 1u);
}
