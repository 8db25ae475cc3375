// A whole program's IR as bytes, and back (docs/aot.md): what an executable made by
// `msl build` carries instead of the frontend, the standard library's sources and the
// .msl files.
//
// An image holds the modules of a loaded program as the frontend left them (lowered,
// free variables computed, verified; before anything runs): every graph with its
// parameters, kinds, defaults, nodes, output and free variables; every node with its id,
// source location, name, inputs and keyword names; every constant; the classes; the
// module-level variables in order; and the text of every source file a location names, so
// that run-time errors print file:line:col, the source line, the caret and the traceback
// as `msl run` does. Caches filled at run time (inferred abstract values, interpreter code,
// autodiff and batching variants) are not part of it.
//
// Layout (all integers little-endian):
//   magic    8 bytes  "MSLIMG\r\n"
//   version  u32      kImageVersion
//   length   u64      bytes of the payload
//   checksum u32      CRC-32 (Boost.CRC's crc_32_type) of the payload
//   payload  `length` bytes (the sections are described in Serialize.cpp)
// Deserialising checks the header, the checksum, and then every count, index, kind and
// cross-reference of the payload, and runs the IR verifier on each module: a corrupt or
// truncated image raises ImageError naming the failed check, never crashes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ir/Diagnostics.h"
#include "ir/IR.h"

namespace msl::ir {

constexpr uint32_t kImageVersion = 1;
constexpr size_t kImageHeaderSize = 24;  // magic, version, length, checksum

// A loaded program.
struct ProgramImage {
  std::vector<Module*> modules;  // in load order (imports before their importers)
  Module* main = nullptr;        // one of `modules`
  // The runtime's module-level names (argv; frontend/LowerToIR.h's builtinsModule), or
  // nullptr. Serialised with the program: a deserialised image has its own copy, whose
  // `argv` variable the runner binds.
  Module* builtins = nullptr;
  // Set by deserialize: the modules it made (modules, builtins and any other module the
  // program refers to). Source files are registered with the SourceManager.
  std::vector<std::unique_ptr<Module>> owned;
};

// A corrupt, truncated or incompatible image. An internal error: images are made by msl.
class ImageError : public InternalError {
 public:
  explicit ImageError(const std::string& check) : InternalError("corrupt program image: " + check) {}
};

// The bytes of `p`. Modules that p's modules refer to (by import, module-level variable,
// graph or class) are included even when not listed. Deterministic: the same program
// gives the same bytes. Raises InternalError for IR it cannot represent.
std::string serialize(const ProgramImage& p);

// The program of an image made by serialize (raises ImageError otherwise).
ProgramImage deserialize(std::string_view bytes);

// For tests that corrupt an image's payload on purpose: `image` with its header's length
// and checksum recomputed from the payload after the header.
std::string resealImage(std::string image);

}  // namespace msl::ir
