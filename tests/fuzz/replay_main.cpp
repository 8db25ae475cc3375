// fuzz_msl_replay: runs the fuzz target (fuzz_msl.cpp) over saved inputs without
// libFuzzer, so that an ordinary (gcc, sanitizer) build replays the corpus in ctest.
// Arguments: files, or folders whose files (not recursively) are each one input.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "fuzz_msl_replay: cannot read %s\n", argv[i]);
      return 2;
    }
    if (!S_ISDIR(st.st_mode)) {
      files.push_back(argv[i]);
      continue;
    }
    DIR* d = opendir(argv[i]);
    if (!d) {
      fprintf(stderr, "fuzz_msl_replay: cannot list %s\n", argv[i]);
      return 2;
    }
    std::vector<std::string> inDir;
    while (dirent* e = readdir(d)) {
      std::string p = std::string(argv[i]) + "/" + e->d_name;
      if (e->d_name[0] != '.' && stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) inDir.push_back(p);
    }
    closedir(d);
    std::sort(inDir.begin(), inDir.end());
    files.insert(files.end(), inDir.begin(), inDir.end());
  }
  if (files.empty()) {
    fprintf(stderr, "usage: fuzz_msl_replay FILE_OR_FOLDER...\n");
    return 2;
  }
  auto t0 = std::chrono::steady_clock::now();
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (getenv("MSL_FUZZ_REPLAY_VERBOSE")) fprintf(stderr, "%s\n", f.c_str());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  printf("fuzz_msl_replay: %zu inputs in %.1f s, no finding\n", files.size(), s);
  return 0;
}
