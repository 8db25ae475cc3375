// The persistent compile cache of the JIT (docs/graph_mode.md): object code of compiled
// modules on disk, so that a program run again skips LLVM's optimisation and code
// generation.
//
// An entry is named by a key the JIT computes (codegen/Jit.cpp: a SHA-1 of the module's
// bitcode before optimisation, the target triple, CPU, features, optimisation level, the
// LLVM version and the runtime ABI version). A file holds a header (magic, payload length,
// CRC-32 of the payload, the key) and the object code; an entry that is truncated, corrupt
// or for another key is a miss (counted in `corrupt`) and is rewritten by the next put.
// Writes go to a temporary file renamed over the entry, so processes that write the same
// entry at once leave one complete file. Failures to read or write the directory are
// misses, never errors: the cache only ever saves time.
//
// No LLVM here: the msl tool includes this header for --no-compile-cache.
#pragma once
#include <atomic>
#include <string>

namespace msl::codegen {

// The directory of the cache: $MSL_CACHE_DIR, else $XDG_CACHE_HOME/msl, else ~/.cache/msl.
// "" when the cache is off: MSL_CACHE_DIR=off (or empty), no HOME, or
// setCompileCacheDir("off") (msl --no-compile-cache).
std::string compileCacheDir();
// Overrides the environment for JITs created after this call ("off": no cache). The JIT
// reads it when it starts (on the first compile), so call it before.
void setCompileCacheDir(const std::string& dir);

class ObjectCache {
 public:
  // Entries live in `dir`/jit (made on the first put).
  explicit ObjectCache(std::string dir);

  // The entry of `key`, or false (absent, unreadable, truncated, corrupt).
  bool get(const std::string& key, std::string* bytes);
  // Stores `bytes` as the entry of `key` (temporary file + rename); false when it could not.
  bool put(const std::string& key, const std::string& bytes);

  const std::string& dir() const { return dir_; }
  std::string pathOf(const std::string& key) const;

  struct Stats {
    std::atomic<int> hits{0};
    std::atomic<int> misses{0};   // corrupt entries included
    std::atomic<int> corrupt{0};  // present but truncated, corrupt or for another key
    std::atomic<int> writes{0};
    std::atomic<int> writeFailures{0};
  };
  const Stats& stats() const { return stats_; }

 private:
  std::string dir_;      // the cache directory
  std::string objDir_;   // dir_/jit
  Stats stats_;
};

}  // namespace msl::codegen
