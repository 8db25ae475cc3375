// The persistent compile cache (codegen/ObjectCache.h, docs/graph_mode.md): a module
// compiled again is linked from the cache (counted hits) with the same results; a
// truncated, corrupt or foreign entry is a miss, never a crash, and is rewritten; writers
// racing on one entry leave a complete file; and graph mode run twice by the msl tool
// takes its graphs from the cache and prints the same output.
#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <llvm/IR/IRBuilder.h>

#include "codegen/Jit.h"
#include "codegen/ObjectCache.h"
#include "process_test_util.h"

using namespace msl::codegen;
using msl::test::readFile;
using msl::test::tempDir;
using msl::test::writeFile;

namespace {

std::vector<std::string> entries(const std::string& dir) {  // file names in dir/jit
  std::vector<std::string> out;
  if (DIR* d = opendir((dir + "/jit").c_str())) {
    while (dirent* e = readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
    closedir(d);
  }
  return out;
}

// i32 NAME(i32 x) { return x * 3 + 1 }: the same module for the same name.
std::unique_ptr<llvm::Module> affine(Jit& jit, const std::string& name, llvm::LLVMContext& ctx) {
  auto m = jit.newModule(name, ctx);
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* f = llvm::Function::Create(llvm::FunctionType::get(i32, {i32}, false), llvm::Function::ExternalLinkage, name, *m);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", f));
  b.CreateRet(b.CreateAdd(b.CreateMul(f->getArg(0), b.getInt32(3)), b.getInt32(1)));
  return m;
}

using Fn = int32_t (*)(int32_t);

// Compiles affine(name) at `level`, calls it on 5, frees it.
int32_t compileAndRun(const std::string& name, OptLevel level) {
  Jit& jit = Jit::get();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto m = affine(jit, name, *ctx);
  auto rt = jit.add(std::move(m), std::move(ctx), level);
  auto fn = reinterpret_cast<Fn>(jit.lookup(name));
  EXPECT_NE(fn, nullptr);
  int32_t r = fn ? fn(5) : -1;
  EXPECT_FALSE((bool)rt->remove());  // the name can be defined again
  return r;
}

// Installs a cache in a fresh folder for one test; puts the JIT's own back after.
struct WithCache {
  std::string dir = tempDir();
  std::shared_ptr<ObjectCache> cache = std::make_shared<ObjectCache>(dir);
  WithCache() { Jit::get().setCache(cache); }
  ~WithCache() {
    Jit::get().setCache(nullptr);
    std::string cmd = "rm -rf '" + dir + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }
};

}  // namespace

TEST(CompileCache, SecondCompileHitsTheCache) {
  WithCache c;
  std::string name = Jit::get().uniqueName("cached");
  EXPECT_EQ(compileAndRun(name, OptLevel::O2), 16);
  EXPECT_EQ(c.cache->stats().hits, 0);
  EXPECT_EQ(c.cache->stats().writes, 1);
  ASSERT_EQ(entries(c.dir).size(), 1u);
  int hitsBefore = Jit::get().stats().cacheHits;
  EXPECT_EQ(compileAndRun(name, OptLevel::O2), 16);
  EXPECT_EQ(c.cache->stats().hits, 1);
  EXPECT_EQ(c.cache->stats().writes, 1);  // nothing new to write
  EXPECT_EQ(Jit::get().stats().cacheHits, hitsBefore + 1);
  // Another opt level is another key: a miss, a second entry.
  EXPECT_EQ(compileAndRun(name, OptLevel::O0), 16);
  EXPECT_EQ(c.cache->stats().hits, 1);
  EXPECT_EQ(entries(c.dir).size(), 2u);
}

TEST(CompileCache, CorruptEntriesAreRecompiledAndRewritten) {
  WithCache c;
  std::string name = Jit::get().uniqueName("cached");
  EXPECT_EQ(compileAndRun(name, OptLevel::O1), 16);
  ASSERT_EQ(entries(c.dir).size(), 1u);
  std::string path = c.dir + "/jit/" + entries(c.dir)[0];
  const std::string good = readFile(path);
  ASSERT_GT(good.size(), 64u);
  std::string flipped = good;
  flipped[flipped.size() - 7] ^= 0x5a;  // in the object code: the CRC no longer matches
  const std::vector<std::string> bad = {good.substr(0, good.size() / 2), good.substr(0, 10), "", flipped,
                                        std::string(good.size(), '\0')};
  int corrupt = 0;
  for (const std::string& b : bad) {
    writeFile(path, b);
    EXPECT_EQ(compileAndRun(name, OptLevel::O1), 16);  // recompiled, same result
    EXPECT_EQ(c.cache->stats().corrupt, ++corrupt);
    EXPECT_EQ(readFile(path), good) << "the entry is rewritten";
  }
  EXPECT_EQ(c.cache->stats().hits, 0);
  EXPECT_EQ(compileAndRun(name, OptLevel::O1), 16);  // and the rewritten entry hits
  EXPECT_EQ(c.cache->stats().hits, 1);
}

// Host code is keyed on its lowering plan (Jit::addKeyed): a hit builds no module.
TEST(CompileCache, KeyedModuleIsNotBuiltOnAHit) {
  WithCache c;
  Jit& jit = Jit::get();
  std::string name = jit.uniqueName("keyed");
  int builds = 0;
  Jit::ModuleBuilder build = [&](llvm::LLVMContext& ctx) {
    ++builds;
    return affine(jit, name, ctx);
  };
  for (int round = 0; round < 2; ++round) {
    auto rt = jit.addKeyed("plan of " + name, build, OptLevel::O0);
    auto fn = reinterpret_cast<Fn>(jit.lookup(name));
    ASSERT_NE(fn, nullptr);
    EXPECT_EQ(fn(5), 16);
    EXPECT_FALSE((bool)rt->remove());
  }
  EXPECT_EQ(builds, 1);
  EXPECT_EQ(c.cache->stats().hits, 1);
  // Without a cache the module is built every time.
  jit.setCache(nullptr);
  auto rt = jit.addKeyed("plan of " + name, build, OptLevel::O0);
  EXPECT_EQ(reinterpret_cast<Fn>(jit.lookup(name))(5), 16);
  EXPECT_FALSE((bool)rt->remove());
  EXPECT_EQ(builds, 2);
}

TEST(CompileCache, EntryOfAnotherKeyIsAMiss) {
  std::string dir = tempDir();
  ObjectCache cache(dir);
  ASSERT_TRUE(cache.put("aaaa", "object code of aaaa"));
  std::string got;
  ASSERT_TRUE(cache.get("aaaa", &got));
  EXPECT_EQ(got, "object code of aaaa");
  // A file copied under another key's name (or a hash collision of file names) is not it.
  writeFile(cache.pathOf("bbbb"), readFile(cache.pathOf("aaaa")));
  EXPECT_FALSE(cache.get("bbbb", &got));
  EXPECT_EQ(cache.stats().corrupt, 1);
  EXPECT_FALSE(cache.get("cccc", &got));  // absent
  EXPECT_EQ(cache.stats().corrupt, 1);
  EXPECT_EQ(cache.stats().misses, 2);
  EXPECT_EQ(std::system(("rm -rf '" + dir + "'").c_str()), 0);
}

TEST(CompileCache, ConcurrentWritersLeaveOneCompleteEntry) {
  std::string dir = tempDir();
  ObjectCache cache(dir);
  std::string payload(1 << 18, 'x');
  for (size_t i = 0; i < payload.size(); i += 97) payload[i] = char(i);
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&] {
      ObjectCache mine(dir);  // as another process would
      for (int k = 0; k < 5; ++k) {
        EXPECT_TRUE(mine.put("same", payload));
        std::string got;
        if (mine.get("same", &got)) {
          EXPECT_EQ(got, payload);  // never a torn file
        }
      }
    });
  for (auto& t : ts) t.join();
  std::string got;
  ASSERT_TRUE(cache.get("same", &got));
  EXPECT_EQ(got, payload);
  EXPECT_EQ(entries(dir), std::vector<std::string>{"same.o"});  // no temporary files left
  EXPECT_EQ(std::system(("rm -rf '" + dir + "'").c_str()), 0);
}

TEST(CompileCache, DirectoryFromTheEnvironment) {
  // (Before any setCompileCacheDir: that overrides the environment for the process.)
  setenv("MSL_CACHE_DIR", "/some/where", 1);
  EXPECT_EQ(compileCacheDir(), "/some/where");
  setenv("MSL_CACHE_DIR", "off", 1);
  EXPECT_EQ(compileCacheDir(), "");
  unsetenv("MSL_CACHE_DIR");
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  EXPECT_EQ(compileCacheDir(), "/xdg/msl");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(compileCacheDir(), "/home/someone/.cache/msl");
  setCompileCacheDir("off");  // msl --no-compile-cache
  EXPECT_EQ(compileCacheDir(), "");
}

// The msl tool in graph mode, twice on one cache folder: the second run compiles nothing
// (every module a hit) and prints the same output.
TEST(CompileCache, GraphModeRunsFromTheCache) {
  std::string dir = tempDir();
  std::string prog = dir + "/prog.msl";
  writeFile(prog,
            "def f(x, n):\n"
            "    s = x\n"
            "    for i in range(n):\n"
            "        s = s * 0.5 + exp(x) * 2.0 - 1.0\n"
            "    return s.sum()\n"
            "x = ones((4, 3))\n"
            "print(f(x, 3))\n"
            "print(grad(f)(x, 2))\n");
  auto run = [&](std::string* err) {
    std::string cmd = "MSL_CACHE_DIR='" + dir + "/cache' MSL_NUM_THREADS=1 " MSL_BINARY " run --mode=graph --stats '" +
                      prog + "' 2>'" + dir + "/err'";
    int status;
    std::string out = msl::test::run(cmd, &status);
    *err = readFile(dir + "/err");
    EXPECT_EQ(status, 0) << *err;
    return out;
  };
  std::string err1, err2;
  std::string out1 = run(&err1);
  std::string out2 = run(&err2);
  EXPECT_FALSE(out1.empty());
  EXPECT_EQ(out1, out2);
  EXPECT_NE(err1.find("compile cache: 0 hits"), std::string::npos) << err1;
  // The second run: as many hits as modules, no misses.
  size_t at = err2.find("LLVM: ");
  ASSERT_NE(at, std::string::npos) << err2;
  int modules = std::atoi(err2.c_str() + at + 6);
  EXPECT_GT(modules, 0);
  EXPECT_NE(err2.find("compile cache: " + std::to_string(modules) + " hits, 0 misses"), std::string::npos) << err2;
  EXPECT_EQ(std::system(("rm -rf '" + dir + "'").c_str()), 0);
}
