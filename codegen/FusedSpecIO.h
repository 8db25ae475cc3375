// Fused kernel specs (codegen/KernelGen.h) as text, and the record of what a graph-mode
// run compiled: how `msl build --profile` carries the kernels and plans of a profile run
// into an executable (docs/aot.md, "Profile-guided kernels").
//
// No LLVM here: the executable computes a chain's kernel key at run time to find its
// code in the table (codegen/AotPasses.h).
//
// The text of a spec is written and read by one list of its fields (fieldsOf in
// FusedSpecIO.cpp): a field added to FusedSpec, FusedOp or FusedKernel::Input must be
// added there too (a static_assert on the structs' sizes stops the build until it is).
#pragma once
#include <set>
#include <string>
#include <vector>

#include "codegen/KernelGen.h"

namespace msl::codegen {

// One line (no newline): every field of the spec, enums by name, doubles by their bits.
std::string specToText(const FusedSpec& spec);
// The spec of specToText's text; false (with `err`) for a text that is not one: unknown
// names, counts or operand indices out of range, trailing text.
bool specFromText(const std::string& text, FusedSpec* spec, std::string* err);

// What identifies a kernel's machine code: the spec without its name and its in-place
// variants (neither changes the code: KernelGen.h), and the kernel options that change
// code (fastExp). The fusion pass asks for a kernel by this key before the buffer plan
// sets the variants.
std::string kernelKey(const FusedSpec& spec, const KernelOptions& opt);

// What a graph-mode run compiled (`msl run --mode=graph --record-compiled=FILE`): the
// spec of every fused kernel (one per key) and the plan of every graph compiled
// (ir/HostPlan.h), each once, in order of first use.
struct CompiledRecord {
  struct Kernel {
    FusedSpec spec;
    bool fastExp = false;  // KernelOptions::fastExp it was compiled with
    KernelOptions options() const {
      KernelOptions o;
      o.fastExp = fastExp;
      return o;
    }
  };
  std::vector<Kernel> kernels;
  std::vector<std::string> plans;

  void addKernel(const FusedSpec& spec, const KernelOptions& opt);
  void addPlan(const std::string& plan);
  // The file's text: a header line, `kernel ...` and `plan ...` lines, and an `end` line
  // with a checksum of what precedes it.
  std::string text() const;
  // Reads text(); false (with `err`: "line N: WHAT") for a truncated, altered or foreign file.
  static bool parse(const std::string& text, CompiledRecord* out, std::string* err);

 private:
  std::set<std::string> keys_, planSet_;
};

}  // namespace msl::codegen
