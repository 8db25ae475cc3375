// Helpers for tests that work with files and child processes (program images, AOT
// executables): a fresh temporary folder, whole-file reads and writes, and a shell
// command's stdout with its exit status.
#pragma once
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

namespace msl::test {

inline std::string tempDir() {
  char tmpl[] = "/tmp/msl_test_XXXXXX";
  const char* d = mkdtemp(tmpl);
  return d ? d : "";
}

inline void writeFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

inline std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Runs `cmd` through the shell; its stdout, with pclose's status in *status.
inline std::string run(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[512];
  size_t n;
  while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = p ? pclose(p) : -1;
  return out;
}

}  // namespace msl::test
