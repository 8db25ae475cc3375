// The primitive enum and its static metadata, generated from ir/Primitives.def.
#pragma once
#include <string>
#include <vector>

#include "ir/Source.h"

namespace msl {

enum class Prim : uint16_t {
#define PRIM(Id, Name, Sig, Group, Effect) Id,
#include "ir/Primitives.def"
  NumPrims
};
constexpr int kNumPrims = (int)Prim::NumPrims;

enum class PrimGroup : uint8_t { Core, Builtin, Hidden };
enum class PrimEffect : uint8_t { Pure, Io, Reads };

// A parameter of a primitive's signature. Defaults are kept as source text and turned
// into values by the runtime (they are literals: None True False numbers 'strings' dtypes).
struct PrimParam {
  enum Kind : uint8_t { Positional, VarArgs, KwOnly, VarKw } kind = Positional;
  std::string name;
  bool hasDefault = false;
  std::string defaultText;
  std::string annotation;  // `x: Tensor` in the signature; "" when none
};

struct PrimInfo {
  Prim id;
  const char* name;
  const char* signature;
  PrimGroup group;
  PrimEffect effect;
  bool variadicNode;               // signature "...": no argument binding
  std::vector<PrimParam> params;   // parsed signature
  // A Builtin whose first parameter is annotated `Tensor` ("x: Tensor, ..."): also a method
  // of tensors, `x.name(args)` being `name(x, args)` (ir/Primitives.def, METHOD).
  bool tensorMethod = false;
};

const PrimInfo& primInfo(Prim p);
inline const char* primName(Prim p) { return primInfo(p).name; }
// The binary operator a primitive implements ("+", "@", "<=", ...), or nullptr.
const char* primOperator(Prim p);
// The Builtin primitive a program can call by `name`, if any.
bool builtinPrim(const std::string& name, Prim* out);
// The end of the message for an unknown method `name` of a receiver whose methods are
// `methods`: "; did you mean 'sum'?", "; concat() is a function: call concat(...)", or "".
std::string methodHint(const std::string& name, const std::vector<std::string>& methods);

}  // namespace msl
