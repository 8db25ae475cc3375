// The process's oneDNN CPU engine and stream, shared by every kernel that uses oneDNN
// (matmul in runtime/Matmul.cpp, convolution in runtime/KernelsNN.cpp). Both are created
// on first use: oneDNN's initialisation costs tens of milliseconds, which programs that
// never multiply matrices should not pay.
#pragma once
#include <dnnl.hpp>
#include <vector>

namespace msl {

dnnl::engine& dnnlEngine();
dnnl::stream& dnnlStream();

}  // namespace msl

namespace msl {

// A oneDNN primitive run on memory layouts of its own choice (created with
// format_tag::any: blocked layouts such as nChw16c, on which oneDNN's direct convolutions
// are several times faster than the im2col-and-GEMM one it picks for plain NCHW), between
// reorders from and to the plain layouts msl's tensors have. The staging buffers belong
// to the object and are reused by every run: one object per problem shape, kept in a
// cache by its kernel.
class StagedPrimitive {
 public:
  struct Arg {
    int id;                        // DNNL_ARG_SRC, DNNL_ARG_DIFF_WEIGHTS, ...
    dnnl::memory::desc plain;      // the tensor's layout
    dnnl::memory::desc chosen;     // the primitive's (from its primitive_desc)
    bool output;
  };
  StagedPrimitive() = default;
  StagedPrimitive(dnnl::primitive prim, const std::vector<Arg>& args);
  // Runs the primitive on plain-layout data, ptrs[i] for args[i]; waits for the result.
  void run(const std::vector<void*>& ptrs);

 private:
  struct Staged {
    Arg arg;
    bool reorder = false;
    dnnl::memory buffer;           // in the chosen layout, when it differs
    dnnl::reorder move;            // plain -> chosen for inputs, chosen -> plain for outputs
  };
  dnnl::primitive prim_;
  std::vector<Staged> args_;
};

}  // namespace msl
