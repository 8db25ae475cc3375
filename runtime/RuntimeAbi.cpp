#include "runtime/RuntimeAbi.h"

#include "runtime/FusedKernel.h"  // msl_rt_parallel_for

#include <cmath>
#include <cstring>

extern "C" int32_t msl_rt_abi_version(void) { return 1; }

namespace msl {

const RuntimeSymbol* runtimeSymbols(size_t* count) {
  // The casts pick the C declarations (cmath also declares C++ overloads).
  static const RuntimeSymbol table[] = {
#define MSL_RT_SYMBOL(name) {#name, reinterpret_cast<void*>(&::name)},
#include "runtime/RuntimeSymbols.def"
#undef MSL_RT_SYMBOL
  };
  *count = sizeof(table) / sizeof(table[0]);
  return table;
}

}  // namespace msl
