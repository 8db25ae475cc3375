// Building a record in differentiated code (docs/autodiff.md): a call of a class under J,
// JVP or vmap runs as a closure that writes the call's keyword arguments into a template
// record, one `setattr` each, so the transforms differentiate it like any function.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/IR.h"
#include "runtime/Value.h"

namespace msl {

// The closure standing for cls(**kwargs) called with these keyword names: it captures
// `tmpl` (the record the plain call builds) and returns it with each named field set to
// its argument. Its graph depends only on the names and is cached in `cache`.
Value recordCtorClosure(std::unique_ptr<ir::Module>& module, std::unordered_map<std::string, ir::Graph*>& cache,
                        const Value& tmpl, const std::vector<std::string>& kwnames);

}  // namespace msl
