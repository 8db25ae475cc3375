// The process's oneDNN CPU engine and stream, shared by every kernel that uses oneDNN
// (matmul in runtime/Matmul.cpp, convolution in runtime/KernelsNN.cpp). Both are created
// on first use: oneDNN's initialisation costs tens of milliseconds, which programs that
// never multiply matrices should not pay.
#pragma once
#include <dnnl.hpp>

namespace msl {

dnnl::engine& dnnlEngine();
dnnl::stream& dnnlStream();

}  // namespace msl
