#include "runtime/Profile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "ir/IR.h"

namespace msl {

namespace {
Profiler* g_active = nullptr;

uint64_t nowNs() {
  return (uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string fmt(const char* f, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, a);
  return buf;
}

// 1234567 -> "1,234,567"
std::string grouped(uint64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

std::string pad(std::string s, size_t w, bool left = false) {
  if (s.size() >= w) return s;
  return left ? s + std::string(w - s.size(), ' ') : std::string(w - s.size(), ' ') + s;
}
}  // namespace

Profiler* activeProfiler() { return g_active; }
void setActiveProfiler(Profiler* p) { g_active = p; }

Profiler::Profiler() : start_(nowNs()), last_(start_), byPrim_(kNumPrims) {}

Profiler::SiteKey Profiler::keyOf(const ir::Node* site, Prim p) const {
  if (!site || !site->loc.valid()) return {nullptr, 0, 0, p};
  return {site->loc.file, site->loc.line, site->loc.col, p};
}

void Profiler::charge() {
  uint64_t t = nowNs();
  uint64_t dt = t - last_;
  last_ = t;
  if (open_.empty()) {
    interpNs_ += dt;
    return;
  }
  const Open& o = open_.back();
  byPrim_[(size_t)o.prim].ns += dt;
  o.site->ns += dt;
}

void Profiler::enter(Prim p, const ir::Node* site) {
  charge();
  Stat* at = &bySite_[keyOf(site, p)];
  ++at->calls;
  open_.push_back({p, at});
  ++byPrim_[(size_t)p].calls;
}

void Profiler::leave() {
  charge();
  if (!open_.empty()) open_.pop_back();
}

std::string Profiler::report(size_t topSites) const {
  uint64_t total = nowNs() - start_;
  uint64_t calls = 0;
  for (const Stat& s : byPrim_) calls += s.calls;
  double tot = total ? (double)total : 1.0;
  auto ms = [](uint64_t ns) { return fmt("%.1f", ns / 1e6); };
  auto pct = [&](uint64_t ns) { return fmt("%.1f%%", 100.0 * ns / tot); };
  std::string out = "msl profile: " + fmt("%.3f", total / 1e9) + " s, " + grouped(calls) +
                    " primitive calls (self time; see `msl --help`)\n";
  out += "      ms       %       calls   us/call  primitive\n";
  std::vector<size_t> order;
  for (size_t i = 0; i < byPrim_.size(); ++i)
    if (byPrim_[i].calls) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return byPrim_[a].ns > byPrim_[b].ns; });
  // The interpreter's row sorts among the primitives by its time.
  bool interpShown = false;
  auto interpRow = [&] {
    out += pad(ms(interpNs_), 8) + pad(pct(interpNs_), 8) + pad("-", 12) + pad("-", 10) +
           "  (interpreter: binding, calls, control flow, specialising, compiling)\n";
    interpShown = true;
  };
  for (size_t i : order) {
    const Stat& s = byPrim_[i];
    if (!interpShown && interpNs_ >= s.ns) interpRow();
    out += pad(ms(s.ns), 8) + pad(pct(s.ns), 8) + pad(grouped(s.calls), 12) +
           pad(fmt("%.2f", s.ns / 1e3 / (double)s.calls), 10) + "  " + primName((Prim)i) + "\n";
  }
  if (!interpShown) interpRow();
  std::vector<std::pair<SiteKey, Stat>> sites(bySite_.begin(), bySite_.end());
  std::sort(sites.begin(), sites.end(), [](const auto& a, const auto& b) {
    if (a.second.ns != b.second.ns) return a.second.ns > b.second.ns;
    return a.second.calls > b.second.calls;
  });
  if (sites.size() > topSites) sites.resize(topSites);
  out += "self time by place (the " + std::to_string(sites.size()) + " costliest):\n";
  out += "      ms       %       calls  place\n";
  for (const auto& [k, s] : sites) {
    std::string where = k.file ? k.file->name + ":" + std::to_string(k.line) + ":" + std::to_string(k.col) : "(no place)";
    out += pad(ms(s.ns), 8) + pad(pct(s.ns), 8) + pad(grouped(s.calls), 12) + "  " + where + "  " + primName(k.prim) + "\n";
  }
  return out;
}

}  // namespace msl
