#include "codegen/ObjectCache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace msl::codegen {

namespace {

std::mutex gDirMu;
bool gDirSet = false;
std::string gDir;

// The file format: this magic, the payload's length (u64, little-endian as the host),
// its CRC-32 (u32), the key's length (u32), the key, the payload.
constexpr char kMagic[8] = {'M', 'S', 'L', 'O', 'B', 'J', '0', '1'};
constexpr size_t kHeader = 8 + 8 + 4 + 4;

// CRC-32 (IEEE, as boost::crc_32_type) by zlib, several times faster than a table-driven
// byte loop: checked on every hit, on the compile-latency path of a cached program.
uint32_t crcOf(const char* p, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    uInt chunk = (uInt)std::min<size_t>(n, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(p), chunk);
    p += chunk;
    n -= chunk;
  }
  return (uint32_t)crc;
}

bool readAll(int fd, std::string* out) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  out->resize((size_t)st.st_size);
  size_t got = 0;
  while (got < out->size()) {
    ssize_t r = ::read(fd, out->data() + got, out->size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += (size_t)r;
  }
  return true;
}

bool writeAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

// mkdir -p (mode 0755); true when `dir` is a directory afterwards.
bool makeDirs(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) return S_ISDIR(st.st_mode);
  size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0 && !makeDirs(dir.substr(0, slash))) return false;
  if (mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  return false;
}

}  // namespace

std::string compileCacheDir() {
  std::string d;
  bool set = false;
  {
    std::lock_guard<std::mutex> lock(gDirMu);
    set = gDirSet;
    d = gDir;
  }
  if (!set) {
    const char* e = std::getenv("MSL_CACHE_DIR");
    const char* x = std::getenv("XDG_CACHE_HOME");
    const char* h = std::getenv("HOME");
    if (e) d = e;
    else if (x && *x) d = std::string(x) + "/msl";
    else if (h && *h) d = std::string(h) + "/.cache/msl";
  }
  return d == "off" ? "" : d;
}

void setCompileCacheDir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(gDirMu);
  gDirSet = true;
  gDir = dir.empty() ? "off" : dir;
}

ObjectCache::ObjectCache(std::string dir) : dir_(std::move(dir)), objDir_(dir_ + "/jit") {}

std::string ObjectCache::pathOf(const std::string& key) const { return objDir_ + "/" + key + ".o"; }

bool ObjectCache::get(const std::string& key, std::string* bytes) {
  int fd = ::open(pathOf(key).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    stats_.misses++;
    return false;
  }
  std::string file;
  bool ok = readAll(fd, &file);
  ::close(fd);
  if (ok) {
    uint64_t len = 0;
    uint32_t crc = 0, klen = 0;
    ok = file.size() >= kHeader && std::memcmp(file.data(), kMagic, 8) == 0;
    if (ok) {
      std::memcpy(&len, file.data() + 8, 8);
      std::memcpy(&crc, file.data() + 16, 4);
      std::memcpy(&klen, file.data() + 20, 4);
      ok = klen == key.size() && file.size() - kHeader >= klen && file.size() - kHeader - klen == len &&
           file.compare(kHeader, klen, key) == 0;
    }
    if (ok) {
      const char* payload = file.data() + kHeader + klen;
      ok = crcOf(payload, (size_t)len) == crc;
      if (ok) bytes->assign(payload, (size_t)len);
    }
  }
  if (!ok) {
    stats_.corrupt++;
    stats_.misses++;
    return false;
  }
  stats_.hits++;
  return true;
}

bool ObjectCache::put(const std::string& key, const std::string& bytes) {
  if (!makeDirs(objDir_)) {
    stats_.writeFailures++;
    return false;
  }
  static std::atomic<uint64_t> counter{0};
  std::string tmp = objDir_ + "/.tmp." + key + "." + std::to_string(getpid()) + "." +
                    std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()) % 1000000) + "." +
                    std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    stats_.writeFailures++;
    return false;
  }
  char head[kHeader];
  uint64_t len = bytes.size();
  uint32_t crc = crcOf(bytes.data(), bytes.size());
  uint32_t klen = (uint32_t)key.size();
  std::memcpy(head, kMagic, 8);
  std::memcpy(head + 8, &len, 8);
  std::memcpy(head + 16, &crc, 4);
  std::memcpy(head + 20, &klen, 4);
  bool ok = writeAll(fd, head, kHeader) && writeAll(fd, key.data(), key.size()) &&
            writeAll(fd, bytes.data(), bytes.size());
  ok = (::close(fd) == 0) && ok;
  // rename() replaces the entry atomically: a reader sees the old file or the new one.
  if (!ok || ::rename(tmp.c_str(), pathOf(key).c_str()) != 0) {
    ::unlink(tmp.c_str());
    stats_.writeFailures++;
    return false;
  }
  stats_.writes++;
  return true;
}

}  // namespace msl::codegen
