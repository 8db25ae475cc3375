// msl_progen: generates random programs (Gen.h) and runs each in several execution modes
// in this process (Harness.h), reporting every program whose modes disagree or that
// crashes, times out, gives an internal error, a user error or a non-finite value.
// docs/progen.md explains the options; `msl_progen --help` lists them.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "tests/progen/Gen.h"
#include "tests/progen/Harness.h"

using namespace msl::progen;

namespace {

const char* kUsage =
    "usage: msl_progen [--count N] [--seed S] [--modes M1,M2,...] [--out DIR] [--reduce]\n"
    "                  [--timeout-ms T] [--lenient] [--quiet]\n"
    "       msl_progen --emit --seed S           print the program of seed S\n"
    "       msl_progen --replay FILE...          run saved programs in every mode of --modes\n"
    "                                            (strict unless a file has `# progen-lenient`)\n"
    "Programs S, S+1, ..., S+N-1 (default: 100 programs from seed 1) run in each mode (default\n"
    "eager,graph: the interpreter, then graph mode, each run from a fresh state; modes: eager,\n"
    "graph, aot — built by `msl build` into an executable, run as a process — and\n"
    "aot-profile — the same after a profile run in graph mode, as `msl build --profile`: the\n"
    "executable fuses with its table's kernels); the first mode is the reference. A finding\n"
    "is a mismatch, an internal error, a\n"
    "timeout and (unless --lenient) a user error or a non-finite printed value. --out DIR\n"
    "keeps each failing program as DIR/seed_S.msl and, with --reduce, its reduction as\n"
    "DIR/seed_S.reduced.msl. Exit status 0 when nothing was found, 1 otherwise; --replay\n"
    "exits 77 when every failing file is marked `# progen-known-bug: REASON`.\n";

std::string readFile(const std::string& p, bool* ok) {
  std::ifstream in(p, std::ios::binary);
  *ok = bool(in);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void writeFile(const std::string& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

// What must stay true while a failing program is reduced: the same kind of finding; the
// same message for internal and user errors.
std::string signature(const std::string& f) {
  std::string k = findingKind(f);
  if (k.rfind("internal error", 0) == 0 || k == "user error") return f;
  return k;
}

struct Runner {
  std::vector<const Mode*> modes;
  int timeoutMs = 20000;
  bool strict = true;
  std::string run(const std::string& name, const std::string& text, std::vector<RunResult>* out = nullptr) {
    std::vector<RunResult> rs;
    for (const Mode* m : modes) rs.push_back(runIn(*m, name, text, timeoutMs));
    if (out) *out = rs;
    return finding(modes, rs, strict);
  }
};

// Comment lines for the top of a kept program.
std::string commented(const std::string& f) {
  std::string s;
  size_t a = 0;
  while (a <= f.size()) {
    size_t b = f.find('\n', a);
    if (b == std::string::npos) b = f.size();
    s += "# " + f.substr(a, b - a) + "\n";
    a = b + 1;
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  long count = 100;
  uint64_t seed = 1;
  std::string modeList = "eager,graph", outDir;
  bool doReduce = false, emit = false, replay = false, quiet = false;
  Runner R;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        fprintf(stderr, "msl_progen: %s needs a value\n%s", a.c_str(), kUsage);
        exit(2);
      }
      return argv[++i];
    };
    if (a == "--count") count = atol(val().c_str());
    else if (a == "--seed") seed = strtoull(val().c_str(), nullptr, 10);
    else if (a == "--modes") modeList = val();
    else if (a == "--out") outDir = val();
    else if (a == "--timeout-ms") R.timeoutMs = atoi(val().c_str());
    else if (a == "--reduce") doReduce = true;
    else if (a == "--lenient") R.strict = false;
    else if (a == "--quiet") quiet = true;
    else if (a == "--emit") emit = true;
    else if (a == "--replay") replay = true;
    else if (a == "--help" || a == "-h") { fputs(kUsage, stdout); return 0; }
    else if (replay && a[0] != '-') files.push_back(a);
    else {
      fprintf(stderr, "msl_progen: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (emit) {
    fputs(generate(seed).text.c_str(), stdout);
    return 0;
  }
  for (size_t a = 0; a <= modeList.size();) {
    size_t b = modeList.find(',', a);
    if (b == std::string::npos) b = modeList.size();
    std::string n = modeList.substr(a, b - a);
    const Mode* m = findMode(n);
    if (!m) {
      std::string all;
      for (auto& x : modeNames()) all += (all.empty() ? "" : ", ") + x;
      fprintf(stderr, "msl_progen: unknown mode '%s' (modes: %s)\n", n.c_str(), all.c_str());
      return 2;
    }
    R.modes.push_back(m);
    a = b + 1;
  }
  if (R.modes.size() < 2) {
    fprintf(stderr, "msl_progen: --modes needs at least two modes to compare\n");
    return 2;
  }

  if (replay) {
    // A saved program must run without an error in every mode, unless it has a line
    // `# progen-lenient` (a reduction that ends in an error): then only internal errors,
    // timeouts and mismatches count.
    int failed = 0, known = 0;
    for (const std::string& f : files) {
      bool ok;
      std::string text = readFile(f, &ok);
      if (!ok) {
        fprintf(stderr, "msl_progen: cannot read %s\n", f.c_str());
        return 2;
      }
      std::string base = f.substr(f.find_last_of('/') + 1);
      R.strict = text.find("# progen-lenient") == std::string::npos;
      std::string fd = R.run(base, text);
      if (fd.empty()) continue;
      bool isKnown = text.find("# progen-known-bug:") != std::string::npos;
      printf("%s: %s%s\n", f.c_str(), fd.c_str(), isKnown ? " (known bug)" : "");
      (isKnown ? known : failed)++;
    }
    if (failed) return 1;
    return known ? 77 : 0;
  }

  if (!outDir.empty()) mkdir(outDir.c_str(), 0777);
  std::map<std::string, int> perPrim;
  for (const auto& p : primitiveSet()) perPrim[p] = 0;
  int nControl = 0, nClosure = 0, nRecord = 0, nGrad = 0, nAny = 0, minOps = 1 << 30, maxOps = 0;
  long totalOps = 0;
  int findings = 0;
  std::map<std::string, int> byKind;
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < count; ++i) {
    uint64_t s = seed + uint64_t(i);
    GenProgram p = generate(s);
    for (const auto& n : p.prims) perPrim[n]++;
    nControl += p.control;
    nClosure += p.closure;
    nRecord += p.record;
    nGrad += p.grad;
    nAny += p.anyConstruct();
    minOps = std::min(minOps, p.ops);
    maxOps = std::max(maxOps, p.ops);
    totalOps += p.ops;
    std::string name = "seed_" + std::to_string(s) + ".msl";
    if (!outDir.empty()) writeFile(outDir + "/last.msl", p.text);  // what was running if the process dies
    std::string f = R.run(name, p.text);
    if (f.empty()) continue;
    ++findings;
    byKind[findingKind(f)]++;
    printf("seed %llu: %s\n", (unsigned long long)s, f.c_str());
    fflush(stdout);
    if (!outDir.empty()) {
      std::string header = commented("msl_progen finding, seed " + std::to_string(s) + ", modes " + modeList + "\n" + f);
      writeFile(outDir + "/" + name, header + p.text);
      if (doReduce) {
        std::string sig = signature(f);
        std::string red = reduce(p.text, [&](const std::string& t) { return signature(R.run(name, t)) == sig; });
        std::string rf = R.run(name, red);
        writeFile(outDir + "/seed_" + std::to_string(s) + ".reduced.msl",
                  commented("msl_progen finding, seed " + std::to_string(s) + ", modes " + modeList +
                            ", reduced\n" + rf) +
                      red);
        printf("  reduced to %zu lines: %s/seed_%llu.reduced.msl\n", size_t(std::count(red.begin(), red.end(), '\n')),
               outDir.c_str(), (unsigned long long)s);
      }
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!quiet && count > 0) {
    printf("coverage: programs (of %ld) using each primitive:\n", count);
    std::vector<std::pair<int, std::string>> sorted;
    for (auto& [n, c] : perPrim) sorted.push_back({c, n});
    std::sort(sorted.begin(), sorted.end());
    std::string row;
    for (size_t i = 0; i < sorted.size(); ++i) {
      char b[64];
      snprintf(b, sizeof b, "  %-15s %5d", sorted[i].second.c_str(), sorted[i].first);
      row += b;
      if (i % 4 == 3 || i + 1 == sorted.size()) {
        printf("%s\n", row.c_str());
        row.clear();
      }
    }
    auto pct = [&](int n) { return 100.0 * n / double(count); };
    printf("constructs: control flow %.1f%%, closures %.1f%%, records %.1f%%, grad %.1f%%, any %.1f%%\n",
           pct(nControl), pct(nClosure), pct(nRecord), pct(nGrad), pct(nAny));
    printf("operations per program: min %d, mean %.1f, max %d\n", minOps, double(totalOps) / double(count), maxOps);
  }
  printf("msl_progen: %ld programs (seeds %llu..%llu), modes %s, %d findings", count, (unsigned long long)seed,
         (unsigned long long)(seed + uint64_t(count) - 1), modeList.c_str(), findings);
  for (auto& [k, n] : byKind) printf(", %s: %d", k.c_str(), n);
  printf(", %.1f s\n", secs);
  return findings ? 1 : 0;
}
