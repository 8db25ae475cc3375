// StagedPrimitive (runtime/Dnnl.h): a oneDNN primitive on the layouts it chose, fed and
// drained through reorders from and to plain layouts.
#include <unordered_map>

#include "runtime/Dnnl.h"

namespace msl {

StagedPrimitive::StagedPrimitive(dnnl::primitive prim, const std::vector<Arg>& args) : prim_(std::move(prim)) {
  dnnl::engine& eng = dnnlEngine();
  for (const Arg& a : args) {
    Staged s;
    s.arg = a;
    s.reorder = a.chosen != a.plain;
    if (s.reorder) {
      s.buffer = dnnl::memory(a.chosen, eng);
      s.move = a.output ? dnnl::reorder(dnnl::reorder::primitive_desc(eng, a.chosen, eng, a.plain))
                        : dnnl::reorder(dnnl::reorder::primitive_desc(eng, a.plain, eng, a.chosen));
    }
    args_.push_back(std::move(s));
  }
}

void StagedPrimitive::run(const std::vector<void*>& ptrs) {
  dnnl::engine& eng = dnnlEngine();
  dnnl::stream& st = dnnlStream();
  std::unordered_map<int, dnnl::memory> margs;
  std::vector<dnnl::memory> user(args_.size());
  for (size_t i = 0; i < args_.size(); ++i) {
    Staged& s = args_[i];
    user[i] = dnnl::memory(s.arg.plain, eng, ptrs[i]);
    if (!s.reorder) {
      margs.emplace(s.arg.id, user[i]);
      continue;
    }
    if (!s.arg.output) s.move.execute(st, {{DNNL_ARG_FROM, user[i]}, {DNNL_ARG_TO, s.buffer}});
    margs.emplace(s.arg.id, s.buffer);
  }
  prim_.execute(st, margs);
  for (size_t i = 0; i < args_.size(); ++i)
    if (args_[i].reorder && args_[i].arg.output)
      args_[i].move.execute(st, {{DNNL_ARG_FROM, args_[i].buffer}, {DNNL_ARG_TO, user[i]}});
  st.wait();
}

}  // namespace msl
