// The plan of a graph's host code (runtime/GraphMode.h, codegen/HostGen.h): what each node
// of a graph becomes in compiled code — a runtime step, a branch, a while loop or a scan.
// The plan decides everything about a graph's host code but its function's name, so it is
// what compiled host code is keyed on: the compile cache (codegen/Compiler.cpp) and the
// table of code compiled ahead of time (runtime/AotCode.h, docs/aot.md). It lives in the IR
// library, without LLVM, so that AOT executables can plan a graph to find its code.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace msl::ir {
class Graph;

struct HostOp {
  enum Kind : uint8_t { Step, If, While, Scan } kind;  // If: switch node i, its call i + 1
  uint32_t i;
};
std::vector<HostOp> planHostGraph(const Graph* g);
std::string hostPlanText(const std::vector<HostOp>& plan);  // compact, one text per plan
// The plan of hostPlanText's text (`msl build` reads the plans a profile run recorded);
// false for a text hostPlanText does not make.
bool parseHostPlanText(const std::string& text, std::vector<HostOp>* plan);

}  // namespace msl::ir
