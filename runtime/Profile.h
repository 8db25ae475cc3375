// `msl run --profile`: where a program's time goes, by primitive and by source line.
//
// The interpreter (eager and graph mode alike: compiled code runs each primitive through
// the same step) reports every primitive call as a ProfileScope. Time is charged as *self
// time*: the time between two events (a call starting or ending) goes to the innermost
// primitive call open at that moment, or to the interpreter when none is open. So a
// higher-order primitive (while_loop, scan, a transform's call, tree_map) is charged the
// interpreter's own work in the functions it calls, but not the primitives they call;
// kernels are charged to their primitive; what happens outside every primitive (binding
// arguments, making closures, control flow, specialising and compiling functions) is the
// interpreter's row. The clock is read twice per call (steady_clock), which costs about
// 40 ns a call, so profiled runs are slower only where calls are tiny.
//
// One profiler per process, installed by tools/msl (`--profile`); none by default, and then
// the cost of the hooks is one predictable branch per call.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/Prim.h"
#include "ir/Source.h"

namespace msl {

namespace ir {
struct Node;
}

class Profiler {
 public:
  Profiler();
  void enter(Prim p, const ir::Node* site);  // site: the node applying p (nullptr: unknown)
  void leave();
  // The report (on stderr at exit): self time by primitive, then the `topSites` source
  // places with the most self time.
  std::string report(size_t topSites = 15) const;

 private:
  struct Stat {
    uint64_t calls = 0;
    uint64_t ns = 0;
  };
  struct Open {
    Prim prim;
    Stat* site;  // its row in bySite_ (node-based containers keep element addresses)
  };
  void charge();  // the time since the last event, to the innermost open call
  uint64_t start_ = 0, last_ = 0;
  std::vector<Open> open_;
  std::vector<Stat> byPrim_;
  // By source place and primitive: the specialisations and gradient graphs of one
  // line of source share its row.
  struct SiteKey {
    const SourceFile* file;
    uint32_t line, col;
    Prim prim;
    bool operator==(const SiteKey& o) const {
      return file == o.file && line == o.line && col == o.col && prim == o.prim;
    }
  };
  struct SiteHash {
    size_t operator()(const SiteKey& k) const {
      return std::hash<const SourceFile*>()(k.file) ^ ((size_t)k.line << 20) ^ ((size_t)k.col << 8) ^ (size_t)k.prim;
    }
  };
  std::unordered_map<SiteKey, Stat, SiteHash> bySite_;
  SiteKey keyOf(const ir::Node* site, Prim p) const;
  uint64_t interpNs_ = 0;
};

// The installed profiler, or nullptr.
Profiler* activeProfiler();
void setActiveProfiler(Profiler* p);

// One primitive call, timed when a profiler is installed.
class ProfileScope {
 public:
  ProfileScope(Prim p, const ir::Node* site) : prof_(activeProfiler()) {
    if (__builtin_expect(prof_ != nullptr, 0)) prof_->enter(p, site);
  }
  ~ProfileScope() {
    if (__builtin_expect(prof_ != nullptr, 0)) prof_->leave();
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  Profiler* prof_;
};

}  // namespace msl
