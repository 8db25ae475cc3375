// The random program generator (Gen.h, docs/progen.md).
//
// Every variable has a static type: a kind (f32, i64 or bool tensor, Python float or int,
// PRNG key), a shape, and an interval [lo, hi] that contains all its values. Each emitter
// of the op table picks operands whose types fit (or makes fresh inputs that do), writes
// one statement and registers its result with the result's type. Intervals keep values
// finite: an operand that could overflow is squashed first (tanh or clip), and operations
// with a pole or a branch cut get arguments bounded away from it.
#include "tests/progen/Gen.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>

namespace msl::progen {
namespace {

struct Rng {
  uint64_t s;
  uint64_t next() {  // splitmix64: the same numbers on every platform
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  int below(int n) { return n <= 1 ? 0 : int(next() % uint64_t(n)); }
  int range(int a, int b) { return a + below(b - a + 1); }  // inclusive
  bool chance(double p) { return double(next() >> 11) * (1.0 / 9007199254740992.0) < p; }
  double unit() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  template <class T> const T& pick(const std::vector<T>& v) { return v[below(int(v.size()))]; }
};

enum class K { F, I, B, PF, PI, Key };
using Shape = std::vector<int>;

struct Ty {
  K k = K::F;
  Shape shape;
  double lo = 0, hi = 0;
  double bound() const { return std::max(std::fabs(lo), std::fabs(hi)); }
};

struct Var {
  std::string name;
  Ty ty;
};

int numel(const Shape& s) {
  int n = 1;
  for (int d : s) n *= d;
  return n;
}

std::string shapeStr(const Shape& s) {
  if (s.empty()) return "()";
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + (s.size() == 1 ? ",)" : ")");
}

std::string lit(double v) {  // a float literal that always has a '.'
  char b[32];
  snprintf(b, sizeof b, "%.2f", v);
  std::string s = b;
  if (s == "-0.00") s = "0.00";
  while (s.size() > 1 && s.back() == '0' && s[s.size() - 2] != '.') s.pop_back();
  return s;
}

bool isTensor(K k) { return k == K::F || k == K::I || k == K::B; }

// Broadcast of two shapes; false when they do not broadcast.
bool broadcast(const Shape& a, const Shape& b, Shape* out) {
  size_t n = std::max(a.size(), b.size());
  Shape r(n);
  for (size_t i = 0; i < n; ++i) {
    int da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    r[i] = std::max(da, db);
  }
  *out = r;
  return true;
}

constexpr double kMax = 1e6;
constexpr int kOpsCap = 50;  // bodies stop growing here, so that a program stays within 60 operations  // no tracked value leaves [-kMax, kMax]

class Gen {
 public:
  explicit Gen(uint64_t seed) { r_.s = seed * 0x2545f4914f6cdd1dull + 0x1234567ull; P_.seed = seed; }

  GenProgram run() {
    scopes_.push_back({});
    line("# msl_progen program, seed " + std::to_string(P_.seed));
    int target = r_.range(10, 45);
    for (int i = r_.range(1, 2); i > 0; --i) freshF(randShape(1, 3));
    while (P_.ops < target) {
      if (P_.ops + 16 < 60 && r_.chance(0.15)) construct();
      else tableOp();
    }
    for (const Var& v : scopes_[0])
      if (!printed_.count(v.name) && v.ty.k != K::Key) line("print(\"" + v.name + "\", " + v.name + ")");
    for (auto& l : lines_) P_.text += l + "\n";
    return P_;
  }

  // ------------------------------------------------------------ the op table
  struct Op {
    const char* name;
    bool smooth;  // allowed in a function that grad differentiates
    std::function<bool(Gen&)> emit;
  };
  static const std::vector<Op>& table();

 private:
  Rng r_;
  GenProgram P_;
  std::vector<std::string> lines_;
  int ind_ = 0;
  // deques: references to variables stay valid while others are added
  std::deque<std::deque<Var>> scopes_;
  std::set<std::string> printed_;
  int counter_ = 0;
  int depth_ = 0;       // constructs nested
  int fnDepth_ = 0;     // inside a function body (no prints: grad traces them)
  bool smooth_ = false;  // inside a function grad differentiates

  void line(const std::string& s) { lines_.push_back(std::string(ind_ * 4, ' ') + s); }
  void use(const char* prim) { P_.prims.insert(prim); ++P_.ops; }
  // A new name; never a dtype's (f32, i64, ...: a function f32 would hide the dtype).
  std::string fresh(const char* p) {
    static const std::set<std::string> dtypes = {"f16", "f32", "f64", "i32", "i64", "u8", "u32", "bf16"};
    std::string n;
    do n = p + std::to_string(counter_++);
    while (dtypes.count(n));
    return n;
  }

  Var& add(const std::string& name, Ty ty) {
    ty.lo = std::max(ty.lo, -kMax * 100);
    ty.hi = std::min(ty.hi, kMax * 100);
    scopes_.back().push_back({name, ty});
    return scopes_.back().back();
  }
  // vN = expr, maybe printed right away.
  Var& assign(const std::string& expr, Ty ty) {
    std::string n = fresh("v");
    line(n + " = " + expr);
    Var& v = add(n, ty);
    maybePrint(v);
    return v;
  }
  void maybePrint(const Var& v) {
    if (fnDepth_ == 0 && v.ty.k != K::Key && r_.chance(0.45)) {
      line("print(\"" + v.name + "\", " + v.name + ")");
      printed_.insert(v.name);
    }
  }

  std::vector<const Var*> visible(const std::function<bool(const Var&)>& pred) {
    std::vector<const Var*> r;
    for (auto& s : scopes_)
      for (auto& v : s)
        if (pred(v)) r.push_back(&v);
    return r;
  }
  const Var* pickVar(const std::function<bool(const Var&)>& pred) {
    auto vs = visible(pred);
    if (vs.empty()) return nullptr;
    // Prefer recent values: programs are chains, not a cloud of inputs.
    int n = int(vs.size());
    int i = r_.chance(0.6) ? n - 1 - r_.below(std::min(n, 4)) : r_.below(n);
    return vs[i];
  }

  Shape randShape(int minRank, int maxRank) {
    int rank = r_.range(minRank, maxRank);
    Shape s;
    for (int i = 0; i < rank; ++i) s.push_back(r_.range(1, 4));
    return s;
  }

  // ------------------------------------------------------------ fresh inputs
  std::string nested(const Shape& s, size_t axis, const std::function<std::string()>& elem) {
    if (axis == s.size()) return elem();
    std::string r = "[";
    for (int i = 0; i < s[axis]; ++i) r += (i ? ", " : "") + nested(s, axis + 1, elem);
    return r + "]";
  }
  int keySeed() { return r_.range(0, 999); }

  const Var& freshF(const Shape& s) {
    int c = r_.below(numel(s) <= 12 ? 4 : 2);
    if (s.empty()) c = 2;
    if (c == 0) {
      use("uniform");
      use("prng");
      double lo = -r_.range(1, 3), hi = r_.range(1, 3);
      return assign("uniform(prng(" + std::to_string(keySeed()) + "), " + shapeStr(s) + ", minval=" + lit(lo) +
                        ", maxval=" + lit(hi) + ")",
                    {K::F, s, lo, hi});
    }
    if (c == 1) {
      use("normal");
      use("prng");
      return assign("normal(prng(" + std::to_string(keySeed()) + "), " + shapeStr(s) + ")", {K::F, s, -7, 7});
    }
    use("tensor");
    return assign("tensor(" + nested(s, 0, [&] { return lit((r_.unit() * 4 - 2)); }) + ")", {K::F, s, -2, 2});
  }
  // i64 values in [lo, hi]
  const Var& freshI(const Shape& s, int lo, int hi) {
    if (s.size() == 1 && lo == 0 && hi == s[0] - 1 && r_.chance(0.5)) {
      use("arange");
      return assign("arange(" + std::to_string(s[0]) + ")", {K::I, s, 0, double(hi)});
    }
    use("tensor");
    std::string dt = r_.chance(0.5) ? ", dtype=i64" : "";
    return assign("tensor(" + nested(s, 0, [&] { return std::to_string(r_.range(lo, hi)); }) + dt + ")",
                  {K::I, s, double(lo), double(hi)});
  }
  const Var& freshB(const Shape& s) {
    use("tensor");
    return assign("tensor(" + nested(s, 0, [&] { return std::string(r_.chance(0.5) ? "True" : "False"); }) + ")",
                  {K::B, s, 0, 1});
  }

  // An f32 tensor of rank in [lo, hi] (an existing one or a fresh input).
  const Var& anyF(int lo = 0, int hi = 3) {
    const Var* v = pickVar([&](const Var& v) {
      return v.ty.k == K::F && int(v.ty.shape.size()) >= lo && int(v.ty.shape.size()) <= hi;
    });
    if (v && r_.chance(0.9)) return *v;
    return freshF(randShape(std::max(lo, std::min(1, hi)), hi));
  }
  const Var& fOfShape(const Shape& s) {
    const Var* v = pickVar([&](const Var& v) { return v.ty.k == K::F && v.ty.shape == s; });
    if (v && r_.chance(0.8)) return *v;
    return freshF(s);
  }
  // i64 tensor of shape s with values in [0, n): an existing one reduced mod n, or fresh.
  std::string indices(const Shape& s, int n, Ty* ty) {
    *ty = {K::I, s, 0, double(n - 1)};
    const Var* v = pickVar([&](const Var& v) { return v.ty.k == K::I && v.ty.shape == s; });
    if (v && r_.chance(0.6)) {
      if (v->ty.lo >= 0 && v->ty.hi <= n - 1) return v->name;
      use("mod");
      return "(" + v->name + " % " + std::to_string(n) + ")";
    }
    return freshI(s, 0, n - 1).name;
  }

  // v as an expression whose values lie in [-m, m] (m >= 1).
  std::string sq(const Var& v, double m, double* lo, double* hi) {
    *lo = v.ty.lo;
    *hi = v.ty.hi;
    if (v.ty.bound() <= m) return v.name;
    if (v.ty.k == K::I) {
      use("mod");
      int q = std::max(2, int(std::min(m, 1000.0)));
      *lo = 0;
      *hi = q - 1;
      return "(" + v.name + " % " + std::to_string(q) + ")";
    }
    if (r_.chance(0.5)) {
      use("tanh");
      *lo = -1;
      *hi = 1;
      return "tanh(" + v.name + ")";
    }
    use("clip");
    double c = std::floor(std::min(m, 50.0));
    *lo = std::max(v.ty.lo, -c);
    *hi = std::min(v.ty.hi, c);
    return "clip(" + v.name + ", " + lit(-c) + ", " + lit(c) + ")";
  }
  std::string sq(const Var& v, double m, Ty* t) {
    *t = v.ty;
    return sq(v, m, &t->lo, &t->hi);
  }

  // A partner for a binary elementwise op with x: a broadcast-compatible tensor, a Python
  // number variable or a literal. Sets its type.
  std::string partner(const Var& x, bool allowInt, Ty* t) {
    int c = r_.below(10);
    if (c < 2) {
      double v = (r_.unit() * 4 - 2);
      if (std::fabs(v) < 0.1) v = 0.5;
      *t = {K::PF, {}, v, v};
      return lit(v);
    }
    if (c == 2) {
      const Var* p = pickVar([&](const Var& v) {
        return (v.ty.k == K::PF || (allowInt && v.ty.k == K::PI)) && v.ty.bound() <= kMax;
      });
      if (p) {
        *t = p->ty;
        return p->name;
      }
    }
    const Var* p = pickVar([&](const Var& v) {
      Shape o;
      return (v.ty.k == K::F || (allowInt && v.ty.k == K::I)) && broadcast(v.ty.shape, x.ty.shape, &o) &&
             numel(o) <= 256 && o.size() <= 4;
    });
    if (p && r_.chance(0.85)) {
      *t = p->ty;
      return p->name;
    }
    // A fresh one, shaped like x or like a suffix of it.
    Shape s = x.ty.shape;
    if (!s.empty() && r_.chance(0.3)) s.erase(s.begin());
    const Var& f = freshF(s);
    *t = f.ty;
    return f.name;
  }

  static K promote(K a, K b) {
    if (a == K::F || b == K::F) return K::F;
    if (a == K::PF || b == K::PF) return (isTensor(a) || isTensor(b)) ? K::F : K::PF;
    if (a == K::I || b == K::I) return K::I;
    return K::PI;
  }
  static Shape bshape(const Ty& a, const Ty& b) {
    Shape o;
    broadcast(isTensor(a.k) ? a.shape : Shape{}, isTensor(b.k) ? b.shape : Shape{}, &o);
    return o;
  }

  // ------------------------------------------------------------ emitters
  const Var* numericX(bool allowInt) {
    const Var* x = pickVar([&](const Var& v) { return v.ty.k == K::F || (allowInt && v.ty.k == K::I); });
    if (!x || r_.chance(0.08)) x = &freshF(randShape(0, 3));
    return x;
  }

  bool binArith(const char* name) {
    std::string nm = name;
    bool allowInt = nm != "divide" && nm != "pow";
    const Var& x = *numericX(allowInt);
    Ty ty, tx, tyy;
    std::string ys = partner(x, allowInt, &ty);
    Var yv{ys, ty};
    double m = nm == "multiply" ? 1000 : kMax;
    std::string xs = sq(x, m, &tx);
    ys = sq(yv, m, &tyy);
    K k = promote(tx.k, tyy.k);
    Shape s = bshape(tx, tyy);
    double lo, hi;
    std::string e;
    bool fn = r_.chance(0.3);
    auto sym = [&](const char* op) {
      return fn ? std::string(name) + "(" + xs + ", " + ys + ")" : xs + " " + op + " " + ys;
    };
    if (nm == "add") { e = sym("+"); lo = tx.lo + tyy.lo; hi = tx.hi + tyy.hi; }
    else if (nm == "subtract") { e = sym("-"); lo = tx.lo - tyy.hi; hi = tx.hi - tyy.lo; }
    else if (nm == "multiply") {
      e = sym("*");
      double c[4] = {tx.lo * tyy.lo, tx.lo * tyy.hi, tx.hi * tyy.lo, tx.hi * tyy.hi};
      lo = *std::min_element(c, c + 4);
      hi = *std::max_element(c, c + 4);
    } else if (nm == "maximum" || nm == "minimum") {
      e = std::string(name) + "(" + xs + ", " + ys + ")";
      lo = nm == "maximum" ? std::max(tx.lo, tyy.lo) : std::min(tx.lo, tyy.lo);
      hi = nm == "maximum" ? std::max(tx.hi, tyy.hi) : std::min(tx.hi, tyy.hi);
    } else {
      return false;
    }
    use(name);
    assign(e, {k, s, lo, hi});
    return true;
  }

  // A divisor expression built from y, bounded away from 0 (|d| >= dmin), int when y is.
  std::string divisor(const Ty& ty, const std::string& ys, double* dmin, double* dmax) {
    bool isInt = ty.k == K::I || ty.k == K::PI;
    if (ty.lo == ty.hi && std::fabs(ty.lo) >= 0.1) {  // a constant
      *dmin = *dmax = std::fabs(ty.lo);
      return ys;
    }
    if (ty.lo >= 1 || ty.hi <= -1) {
      *dmin = std::min(std::fabs(ty.lo), std::fabs(ty.hi));
      *dmax = ty.bound();
      return ys;
    }
    use("abs");
    use("add");
    if (isInt) {
      *dmin = 1;
      *dmax = ty.bound() + 1;
      return "(abs(" + ys + ") + 1)";
    }
    double c = r_.chance(0.5) ? 0.5 : 1.0;
    *dmin = c;
    *dmax = ty.bound() + c;
    return "(abs(" + ys + ") + " + lit(c) + ")";
  }

  bool divLike(const char* name) {
    std::string nm = name;
    bool allowInt = nm != "divide";
    const Var& x0 = *numericX(allowInt);
    Ty tx, ty;
    std::string xs = sq(x0, kMax / 10, &tx);
    std::string ys;
    if (r_.chance(0.25)) {
      bool intLit = allowInt && (tx.k == K::I) && r_.chance(0.5);
      int iv = r_.range(2, 5);
      double fv = r_.range(5, 30) / 10.0 * (r_.chance(0.3) ? -1 : 1);
      ty = intLit ? Ty{K::PI, {}, double(iv), double(iv)} : Ty{K::PF, {}, fv, fv};
      ys = intLit ? std::to_string(iv) : lit(fv);
    } else {
      ys = partner(x0, allowInt, &ty);
      Var yv{ys, ty};
      ys = sq(yv, kMax / 10, &ty);
      if (ty.k == K::PF && ys.find_first_not_of("0123456789.-") == std::string::npos) ty.lo = ty.hi = std::stod(ys);
    }
    double dmin, dmax;
    std::string d = divisor(ty, ys, &dmin, &dmax);
    K k = promote(tx.k, ty.k);
    Shape s = bshape(tx, ty);
    double b = tx.bound();
    bool fn = r_.chance(0.3);
    if (nm == "divide") {
      use("divide");
      assign(fn ? "divide(" + xs + ", " + d + ")" : xs + " / " + d, {k == K::I ? K::F : (k == K::PI ? K::PF : k), s, -b / dmin, b / dmin});
    } else if (nm == "floor_divide") {
      use("floor_divide");
      assign(fn ? "floor_divide(" + xs + ", " + d + ")" : xs + " // " + d, {k, s, -b / dmin - 1, b / dmin + 1});
    } else {
      use("mod");
      assign(fn ? "mod(" + xs + ", " + d + ")" : xs + " % " + d, {k, s, -dmax, dmax});
    }
    return true;
  }

  bool powOp() {
    const Var& x = anyF();
    Ty t;
    int c = r_.below(3);
    use("pow");
    bool fn = r_.chance(0.3);
    if (c == 0) {  // integer exponent
      int p = r_.range(2, 3);
      std::string xs = sq(x, p == 2 ? 100 : 20, &t);
      double b = std::pow(t.bound(), p);
      std::string e = fn ? "pow(" + xs + ", " + std::to_string(p) + ")" : xs + " ** " + std::to_string(p);
      assign(e, {K::F, x.ty.shape, p == 2 ? 0 : -b, b});
    } else {  // positive base, exponent in [-1.5, 1.5]
      std::string xs = sq(x, 100, &t);
      use("abs");
      std::string base = "(abs(" + xs + ") + 0.5)";
      if (c == 1) {
        double p = r_.pick(std::vector<double>{0.5, 1.5, -0.5, -1.0, 2.5});
        std::string e = fn ? "pow(" + base + ", " + lit(p) + ")" : base + " ** " + lit(p);
        double b = std::pow(t.bound() + 0.5, std::fabs(p)) + std::pow(0.5, -std::fabs(p));
        assign(e, {K::F, x.ty.shape, 0, b});
      } else {
        Ty ty;
        std::string ys = partner(x, false, &ty);
        Var yv{ys, ty};
        use("tanh");
        std::string ex = ty.k == K::PF ? lit(std::max(-1.0, std::min(1.0, ty.lo))) : "tanh(" + ys + ")";
        if (ty.k == K::PF && ys.find_first_not_of("0123456789.-") != std::string::npos) ex = lit(0.5);
        Shape s = bshape(x.ty, ty);
        double b = (t.bound() + 0.5) + 2;
        assign("pow(" + base + ", " + ex + ")", {K::F, s, 0, b});
      }
    }
    return true;
  }

  bool compare(const char* name) {
    static const std::map<std::string, const char*> sym = {{"equal", "=="},      {"not_equal", "!="},
                                                            {"less", "<"},       {"less_equal", "<="},
                                                            {"greater", ">"},    {"greater_equal", ">="}};
    const Var& x = *numericX(true);
    Ty ty;
    std::string ys = partner(x, true, &ty);
    if (!isTensor(ty.k) && !isTensor(x.ty.k)) return false;
    use(name);
    bool fn = r_.chance(0.3);
    std::string e = fn ? std::string(name) + "(" + x.name + ", " + ys + ")" : x.name + " " + sym.at(name) + " " + ys;
    assign(e, {K::B, bshape(x.ty, ty), 0, 1});
    return true;
  }

  const Var& boolTensor() {
    const Var* b = pickVar([](const Var& v) { return v.ty.k == K::B; });
    if (b && r_.chance(0.85)) return *b;
    if (r_.chance(0.5)) {
      const Var& x = anyF();
      use("greater");
      return assign(x.name + " > " + lit(r_.unit() - 0.5), {K::B, x.ty.shape, 0, 1});
    }
    return freshB(randShape(1, 2));
  }

  bool bitwise(const char* name) {
    std::string nm = name;
    const Var& a = boolTensor();
    if (nm == "invert") {
      use("invert");
      assign(r_.chance(0.5) ? "~" + a.name : "invert(" + a.name + ")", {K::B, a.ty.shape, 0, 1});
      return true;
    }
    const Var* b = pickVar([&](const Var& v) {
      Shape o;
      return v.ty.k == K::B && broadcast(v.ty.shape, a.ty.shape, &o);
    });
    std::string bs = b ? b->name : freshB(a.ty.shape).name;
    Shape s = b ? bshape(a.ty, b->ty) : a.ty.shape;
    use(name);
    const char* op = nm == "bitwise_and" ? "&" : nm == "bitwise_or" ? "|" : "^";
    assign(r_.chance(0.3) ? nm + "(" + a.name + ", " + bs + ")" : a.name + " " + op + " " + bs, {K::B, s, 0, 1});
    return true;
  }

  bool unary(const char* name) {
    std::string nm = name;
    const Var& x = anyF();
    Ty t = x.ty;
    std::string xs = x.name;
    double lo = x.ty.lo, hi = x.ty.hi;
    std::string e;
    bool meth = r_.chance(0.25);
    auto call = [&](const std::string& arg) { return meth && arg == x.name ? arg + "." + nm + "()" : nm + "(" + arg + ")"; };
    if (nm == "exp") {
      xs = sq(x, 8, &t);
      e = call(xs);
      lo = std::exp(t.lo);
      hi = std::exp(t.hi);
    } else if (nm == "log" || nm == "log1p" || nm == "sqrt" || nm == "rsqrt") {
      double need = nm == "log1p" ? -0.9 : 0.1;
      if (x.ty.lo >= need && x.ty.bound() <= kMax) {
        e = call(x.name);
      } else {
        xs = sq(x, kMax, &t);
        use("abs");
        double c = nm == "log1p" ? 0.0 : (nm == "log" ? 1.0 : 0.5);
        std::string a = "abs(" + xs + ")" + (c > 0 ? " + " + lit(c) : "");
        if (c > 0) use("add");
        e = nm + "(" + a + ")";
        lo = c;
        hi = t.bound() + c;
      }
      if (nm == "log") { lo = std::log(std::max(lo, 0.1)); hi = std::log(std::max(hi, 0.2)); }
      else if (nm == "log1p") { lo = std::log1p(std::max(lo, -0.9)); hi = std::log1p(std::max(hi, 0.1)); }
      else if (nm == "sqrt") { lo = 0; hi = std::sqrt(std::max(hi, 0.0)); }
      else { lo = 0; hi = 1 / std::sqrt(std::max(lo, 0.1)) + 1; hi = std::max(hi, 3.2); }
    } else if (nm == "sin" || nm == "cos") {
      xs = sq(x, 100, &t);
      e = call(xs); lo = -1; hi = 1;
    } else if (nm == "tanh" || nm == "sign") { e = call(xs); lo = -1; hi = 1; }
    else if (nm == "sigmoid") { e = call(xs); lo = 0; hi = 1; }
    else if (nm == "relu") { e = call(xs); lo = 0; hi = std::max(hi, 0.0); }
    else if (nm == "softplus") { e = call(xs); lo = 0; hi = std::max(hi, 0.0) + 0.7; }
    else if (nm == "gelu") {
      e = r_.chance(0.5) ? "gelu(" + xs + ", approximate=True)" : call(xs);
      lo = -0.2; hi = std::max(hi, 0.0);
    } else if (nm == "floor" || nm == "ceil" || nm == "round") {
      e = nm == "round" ? (r_.chance(0.5) ? "round(" + xs + ")" : xs + ".round()") : call(xs);
      lo -= 1; hi += 1;
    } else if (nm == "abs") {
      e = r_.chance(0.5) ? "abs(" + xs + ")" : xs + ".abs()";
      lo = 0; hi = x.ty.bound();
    } else if (nm == "negative") {
      e = r_.chance(0.5) ? "-" + xs : "negative(" + xs + ")";
      lo = -x.ty.hi; hi = -x.ty.lo;
    } else if (nm == "positive") {
      e = r_.chance(0.5) ? "+" + xs : "positive(" + xs + ")";
    } else if (nm == "isnan" || nm == "isfinite") {
      use(name);
      assign(call(xs), {K::B, x.ty.shape, 0, 1});
      return true;
    } else if (nm == "stop_gradient") {
      e = "stop_gradient(" + xs + ")";
    } else if (nm == "clip") {
      double a = std::floor(r_.unit() * 4 - 3), b = a + r_.range(1, 4);
      int f = r_.below(3);
      if (f == 0) { e = "clip(" + xs + ", " + lit(a) + ", " + lit(b) + ")"; lo = a; hi = b; }
      else if (f == 1) { e = "clip(" + xs + ", hi=" + lit(b) + ")"; hi = std::min(hi, b); lo = std::min(lo, b); }
      else { e = "clip(" + xs + ", lo=" + lit(a) + ")"; lo = std::max(lo, a); hi = std::max(hi, a); }
    } else {
      return false;
    }
    use(name);
    assign(e, {K::F, x.ty.shape, lo, hi});
    return true;
  }

  bool whereOp() {
    const Var& c = boolTensor();
    const Var& x = anyF();
    Ty ty;
    std::string ys = partner(x, false, &ty);
    Shape s;
    if (!broadcast(c.ty.shape, bshape(x.ty, ty), &s) || numel(s) > 256) return false;
    use("where");
    assign("where(" + c.name + ", " + x.name + ", " + ys + ")",
           {K::F, s, std::min(x.ty.lo, ty.lo), std::max(x.ty.hi, ty.hi)});
    return true;
  }

  bool astypeOp() {
    const Var* x = pickVar([](const Var& v) { return isTensor(v.ty.k); });
    if (!x) x = &anyF();
    use("astype");
    int c = r_.below(3);
    bool meth = r_.chance(0.6);
    auto e = [&](const std::string& xs, const char* dt) {
      return meth ? xs + ".astype(" + dt + ")" : "astype(" + xs + ", " + dt + ")";
    };
    if (x->ty.k == K::F && c == 0) {
      Ty t;
      std::string xs = sq(*x, 1e5, &t);
      assign(e(xs, "i64"), {K::I, x->ty.shape, std::floor(t.lo), std::ceil(t.hi)});
    } else if (c == 1) {
      assign(e(x->name, "bool"), {K::B, x->ty.shape, 0, 1});
    } else {
      assign(e(x->name, "f32"), {K::F, x->ty.shape, x->ty.lo, x->ty.hi});
    }
    return true;
  }

  // Reductions. axis: None, an int, or (sum/mean) a pair.
  bool reduce(const char* name) {
    std::string nm = name;
    const Var* xp;
    if (nm == "all" || nm == "any") xp = &boolTensor();
    else if ((nm == "sum" || nm == "max" || nm == "min" || nm == "argmax" || nm == "argmin" || nm == "cumsum") &&
             r_.chance(0.25))
      xp = numericX(true);
    else
      xp = &anyF();
    const Var& x = *xp;
    int r = int(x.ty.shape.size());
    int n = numel(x.ty.shape);
    Ty t;
    double lim = nm == "prod" ? 1.2 : (nm == "var" || nm == "std" || nm == "logsumexp") ? 1000
                 : (nm == "sum" || nm == "cumsum") ? kMax / 256 : 1e300;
    std::string xs = sq(x, lim, &t);
    std::vector<int> axes;
    std::string axisArg;
    int c = r == 0 ? 0 : r_.below(5);
    bool keep = nm != "cumsum" && r_.chance(0.3);
    if (c == 1 || c == 2 || (c == 3 && (r < 2 || (nm != "sum" && nm != "mean")))) {
      int a = r_.below(r);
      axes.push_back(a);
      int shown = r_.chance(0.3) ? a - r : a;
      axisArg = "axis=" + std::to_string(shown);
    } else if (c == 3) {
      int a = r_.below(r), b = (a + 1 + r_.below(r - 1)) % r;
      axes = {a, b};
      axisArg = "axis=(" + std::to_string(a) + ", " + std::to_string(b) + ")";
    } else if (c == 4) {
      axisArg = "axis=None";
    }
    if (nm == "cumsum" && axes.size() > 1) return false;
    int m = n;  // reduced count
    Shape s;
    if (axisArg.empty() || axes.empty()) {
      m = n;
      s = keep ? Shape(r, 1) : Shape{};
      if (nm == "cumsum") s = {n};
    } else {
      m = 1;
      for (int a : axes) m *= x.ty.shape[a];
      for (int i = 0; i < r; ++i) {
        bool red = std::find(axes.begin(), axes.end(), i) != axes.end();
        if (!red) s.push_back(x.ty.shape[i]);
        else if (keep) s.push_back(1);
      }
      if (nm == "cumsum") s = x.ty.shape;
    }
    std::string args = xs;
    if (!axisArg.empty()) args += ", " + axisArg;
    if (keep) args += ", keepdims=True";
    bool meth = xs == x.name && r_.chance(0.4) && nm != "logsumexp" && nm != "cumsum";
    std::string e = meth ? xs + "." + nm + "(" + args.substr(xs.size() + (args.size() > xs.size() ? 2 : 0)) + ")"
                         : nm + "(" + args + ")";
    use(name);
    K k = x.ty.k;
    double lo = t.lo, hi = t.hi;
    if (nm == "sum" || nm == "cumsum") { lo = std::min(0.0, t.lo) * m; hi = std::max(0.0, t.hi) * m; if (k == K::B) { k = K::I; lo = 0; hi = m; } }
    else if (nm == "prod") { hi = std::pow(1.2, m); lo = -hi; }
    else if (nm == "argmax" || nm == "argmin") { k = K::I; lo = 0; hi = m - 1; }
    else if (nm == "logsumexp") { hi = t.hi + std::log(m) + 1; }
    else if (nm == "var") { lo = 0; hi = t.bound() * t.bound() * 4; }
    else if (nm == "std") { lo = 0; hi = t.bound() * 2; }
    else if (nm == "all" || nm == "any") { k = K::B; lo = 0; hi = 1; }
    if (k == K::I && x.ty.k == K::I && nm == "mean") k = K::F;
    assign(e, {k, s, lo, hi});
    return true;
  }

  bool pyScalar(const char* name) {  // item / float / int / len / shape
    std::string nm = name;
    if (nm == "item") {
      const Var& x = anyF();
      use("item");
      if (numel(x.ty.shape) == 1) {
        assign(x.name + ".item()", {K::PF, {}, x.ty.lo, x.ty.hi});
      } else {
        Ty t;
        std::string xs = sq(x, 1000, &t);
        use("mean");
        assign(r_.chance(0.5) ? "mean(" + xs + ").item()" : "float(mean(" + xs + "))", {K::PF, {}, t.lo, t.hi});
      }
      return true;
    }
    const Var* x = pickVar([](const Var& v) { return isTensor(v.ty.k) && !v.ty.shape.empty(); });
    if (!x) x = &freshF(randShape(1, 3));
    use("shape");
    int c = r_.below(4);
    const Shape& s = x->ty.shape;
    if (c == 0) assign("len(" + x->name + ")", {K::PI, {}, double(s[0]), double(s[0])});
    else if (c == 1) { int a = r_.below(int(s.size())); assign(x->name + ".shape[" + std::to_string(a) + "]", {K::PI, {}, double(s[a]), double(s[a])}); }
    else if (c == 2) assign(x->name + ".ndim", {K::PI, {}, double(s.size()), double(s.size())});
    else assign(x->name + ".size", {K::PI, {}, double(numel(s)), double(numel(s))});
    return true;
  }

  bool tolistOp() {
    const Var* x = pickVar([](const Var& v) { return isTensor(v.ty.k) && numel(v.ty.shape) <= 16; });
    if (!x) return false;
    if (fnDepth_ > 0) return false;
    use("tolist");
    line("print(\"" + x->name + ".tolist()\", " + x->name + ".tolist())");
    return true;
  }

  // ---------------------------------------------------------------- construction
  bool construct(const char* name) {
    std::string nm = name;
    Shape s = randShape(0, 3);
    use(name);
    if (nm == "zeros" || nm == "ones") {
      std::string dt = r_.chance(0.3) ? ", dtype=i64" : "";
      K k = dt.empty() ? K::F : K::I;
      double v = nm == "ones" ? 1 : 0;
      std::string sh = r_.chance(0.2) && s.size() == 1 ? std::to_string(s[0]) : shapeStr(s);
      assign(nm + "(" + sh + dt + ")", {k, s, v, v});
    } else if (nm == "full") {
      double v = std::round((r_.unit() * 6 - 3) * 4) / 4;
      assign("full(" + shapeStr(s) + ", " + lit(v) + ")", {K::F, s, v, v});
    } else if (nm == "arange") {
      int c = r_.below(3);
      if (c == 0) { int n = r_.range(1, 8); assign("arange(" + std::to_string(n) + ")", {K::I, {n}, 0, double(n - 1)}); }
      else if (c == 1) { int a = r_.range(-3, 2), b = a + r_.range(1, 6); assign("arange(" + std::to_string(a) + ", " + std::to_string(b) + ")", {K::I, {b - a}, double(a), double(b - 1)}); }
      else { int n = r_.range(1, 6); assign("arange(0.0, " + lit(n * 0.5) + ", 0.5)", {K::F, {n}, 0, n * 0.5}); }
    } else if (nm == "linspace") {
      int n = r_.range(2, 6);
      double a = r_.range(-4, 0), b = r_.range(1, 4);
      assign("linspace(" + lit(a) + ", " + lit(b) + ", " + std::to_string(n) + ")", {K::F, {n}, a, b});
    } else if (nm == "eye") {
      int n = r_.range(1, 4);
      if (r_.chance(0.5)) assign("eye(" + std::to_string(n) + ")", {K::F, {n, n}, 0, 1});
      else { int m = r_.range(1, 4); assign("eye(" + std::to_string(n) + ", " + std::to_string(m) + ")", {K::F, {n, m}, 0, 1}); }
    } else if (nm == "zeros_like" || nm == "ones_like") {
      const Var* x = pickVar([](const Var& v) { return isTensor(v.ty.k); });
      if (!x) x = &anyF();
      double v = nm == "ones_like" ? 1 : 0;
      K k = x->ty.k;
      if (k == K::B) k = K::B;
      assign(nm + "(" + x->name + ")", {k, x->ty.shape, v, v});
    } else if (nm == "tensor") {
      if (r_.chance(0.5)) freshF(s);
      else freshI(s.empty() ? Shape{3} : s, -5, 5);
      --P_.ops;
    }
    return true;
  }

  // ---------------------------------------------------------------- shape ops
  bool shapeOp(const char* name) {
    std::string nm = name;
    const Var* xp = pickVar([](const Var& v) { return isTensor(v.ty.k); });
    if (!xp || r_.chance(0.3)) xp = &anyF();
    const Var& x = *xp;
    const Shape& s = x.ty.shape;
    int r = int(s.size());
    Ty t = x.ty;
    if (nm == "reshape" || nm == "flatten") {
      int n = numel(s);
      if (nm == "flatten") {
        use(name);
        assign(r_.chance(0.5) ? "flatten(" + x.name + ")" : x.name + ".flatten()", {t.k, {n}, t.lo, t.hi});
        return true;
      }
      Shape ns;
      int left = n;
      while (left > 1 && ns.size() < 3) {
        std::vector<int> ds;
        for (int d = 1; d <= left; ++d) if (left % d == 0 && d <= 6) ds.push_back(d);
        int d = r_.pick(ds);
        if (d == 1 && r_.chance(0.5)) continue;
        ns.push_back(d);
        left /= d;
      }
      if (left > 1) ns.push_back(left);
      std::string dims;
      int minus = ns.empty() || !r_.chance(0.3) ? -1 : r_.below(int(ns.size()));
      for (size_t i = 0; i < ns.size(); ++i) dims += (i ? ", " : "") + (int(i) == minus ? std::string("-1") : std::to_string(ns[i]));
      use(name);
      std::string e = r_.chance(0.5) ? x.name + ".reshape(" + dims + ")" : "reshape(" + x.name + ", " + shapeStr(ns) + ")";
      if (ns.empty()) e = "reshape(" + x.name + ", ())";
      assign(e, {t.k, ns, t.lo, t.hi});
      return true;
    }
    if (nm == "transpose" || nm == "T" || nm == "swapaxes") {
      if (r < 2) return false;
      use(name);
      if (nm == "T") { Shape ns(s.rbegin(), s.rend()); assign(x.name + ".T", {t.k, ns, t.lo, t.hi}); return true; }
      if (nm == "swapaxes") {
        int a = r_.below(r), b = r_.below(r);
        Shape ns = s;
        std::swap(ns[a], ns[b]);
        assign("swapaxes(" + x.name + ", " + std::to_string(a) + ", " + std::to_string(b) + ")", {t.k, ns, t.lo, t.hi});
        return true;
      }
      if (r_.chance(0.4)) { Shape ns(s.rbegin(), s.rend()); assign("transpose(" + x.name + ")", {t.k, ns, t.lo, t.hi}); return true; }
      std::vector<int> perm(r);
      for (int i = 0; i < r; ++i) perm[i] = i;
      for (int i = r - 1; i > 0; --i) std::swap(perm[i], perm[r_.below(i + 1)]);
      Shape ns;
      std::string ps;
      for (int i = 0; i < r; ++i) { ns.push_back(s[perm[i]]); ps += (i ? ", " : "") + std::to_string(perm[i]); }
      assign(r_.chance(0.5) ? x.name + ".transpose(" + ps + ")" : "transpose(" + x.name + ", " + ps + ")", {t.k, ns, t.lo, t.hi});
      return true;
    }
    if (nm == "expand_dims") {
      if (r >= 4) return false;
      int a = r_.below(r + 1);
      Shape ns = s;
      ns.insert(ns.begin() + a, 1);
      use(name);
      assign("expand_dims(" + x.name + ", " + std::to_string(a) + ")", {t.k, ns, t.lo, t.hi});
      return true;
    }
    if (nm == "squeeze") {
      std::vector<int> ones;
      for (int i = 0; i < r; ++i) if (s[i] == 1) ones.push_back(i);
      if (ones.empty()) return false;
      use(name);
      Shape ns;
      if (r_.chance(0.5)) {
        for (int d : s) if (d != 1) ns.push_back(d);
        assign("squeeze(" + x.name + ")", {t.k, ns, t.lo, t.hi});
      } else {
        int a = r_.pick(ones);
        ns = s;
        ns.erase(ns.begin() + a);
        assign("squeeze(" + x.name + ", " + std::to_string(a) + ")", {t.k, ns, t.lo, t.hi});
      }
      return true;
    }
    if (nm == "broadcast_to") {
      Shape ns = s;
      for (int& d : ns) if (d == 1) d = r_.range(1, 3);
      if (ns.size() < 3 && r_.chance(0.6)) ns.insert(ns.begin(), r_.range(1, 3));
      use(name);
      assign("broadcast_to(" + x.name + ", " + shapeStr(ns) + ")", {t.k, ns, t.lo, t.hi});
      return true;
    }
    if (nm == "concat" || nm == "stack") {
      if (t.k != K::F) return false;
      int a = nm == "concat" ? (r == 0 ? -1 : r_.below(r)) : r_.below(r + 1);
      if (a < 0) return false;
      Shape ys = s;
      if (nm == "concat") ys[a] = r_.range(1, 3);
      const Var& y = fOfShape(ys);
      Shape ns = s;
      if (nm == "concat") ns[a] += ys[a];
      else ns.insert(ns.begin() + a, 2);
      use(name);
      std::string lst = r_.chance(0.5) ? "[" + x.name + ", " + y.name + "]" : "(" + x.name + ", " + y.name + ")";
      std::string ax = r_.chance(0.3) && a == 0 ? "" : ", axis=" + std::to_string(a);
      assign(nm + "(" + lst + ax + ")", {K::F, ns, std::min(t.lo, y.ty.lo), std::max(t.hi, y.ty.hi)});
      return true;
    }
    if (nm == "softmax" || nm == "log_softmax") {
      if (t.k != K::F || r == 0) return false;
      int a = r_.below(r);
      Ty q;
      std::string xs = sq(x, 1e4, &q);
      use(name);
      std::string ax = r_.chance(0.3) ? "" : ", axis=" + std::to_string(a - (r_.chance(0.5) ? r : 0));
      if (ax.empty()) a = r - 1;
      double lo = nm == "softmax" ? 0 : -(q.hi - q.lo) - std::log(s[a]) - 1;
      assign(nm + "(" + xs + ax + ")", {K::F, s, lo, nm == "softmax" ? 1.0 : 0.0});
      return true;
    }
    if (nm == "sort") {
      if (r == 0 || t.k == K::B) return false;
      int a = r_.below(r);
      use(name);
      assign(r_.chance(0.3) ? "sort(" + x.name + ")" : "sort(" + x.name + ", axis=" + std::to_string(a) + ")", {t.k, s, t.lo, t.hi});
      return true;
    }
    if (nm == "topk") {
      if (r == 0 || t.k != K::F) return false;
      int k = r_.range(1, s.back());
      Shape ns = s;
      ns.back() = k;
      use(name);
      std::string a = fresh("v"), b = fresh("v");
      line(a + ", " + b + " = topk(" + x.name + ", " + std::to_string(k) + ")");
      Var& va = add(a, {K::F, ns, t.lo, t.hi});
      maybePrint(va);
      Var& vb = add(b, {K::I, ns, 0, double(s.back() - 1)});
      maybePrint(vb);
      return true;
    }
    if (nm == "tile") {
      if (r == 0) return false;
      Shape ns = s;
      std::string reps;
      for (int i = 0; i < r; ++i) { int k = r_.range(1, 2); ns[i] *= k; reps += (i ? ", " : "") + std::to_string(k); }
      if (numel(ns) > 256) return false;
      use(name);
      assign("tile(" + x.name + ", (" + reps + (r == 1 ? ",)" : ")") + ")", {t.k, ns, t.lo, t.hi});
      return true;
    }
    if (nm == "pad") {
      if (r == 0 || t.k != K::F) return false;
      use(name);
      double v = r_.chance(0.5) ? 0.0 : std::round(r_.unit() * 4 - 2);
      Shape ns = s;
      if (r_.chance(0.5)) {
        int p = r_.range(1, 2);
        for (int& d : ns) d += 2 * p;
        if (numel(ns) > 512) return false;
        assign("pad(" + x.name + ", " + std::to_string(p) + (v != 0 ? ", value=" + lit(v) : "") + ")",
               {K::F, ns, std::min(t.lo, v), std::max(t.hi, v)});
      } else {
        std::string w = "(";
        for (int i = 0; i < r; ++i) {
          int a = r_.below(2), b = r_.below(3);
          ns[i] += a + b;
          w += (i ? ", " : "") + std::string("(") + std::to_string(a) + ", " + std::to_string(b) + ")";
        }
        w += r == 1 ? ",)" : ")";
        assign("pad(" + x.name + ", " + w + (v != 0 ? ", value=" + lit(v) : "") + ")",
               {K::F, ns, std::min(t.lo, v), std::max(t.hi, v)});
      }
      return true;
    }
    if (nm == "split") {
      if (r == 0) return false;
      int a = r_.below(r);
      int d = s[a];
      if (d < 2) return false;
      use(name);
      std::string ax = a == 0 && r_.chance(0.4) ? "" : ", axis=" + std::to_string(a);
      Shape ps = s;
      if (d % 2 == 0 && r_.chance(0.6)) {
        ps[a] = d / 2;
        std::string p = fresh("v"), q = fresh("v");
        line(p + ", " + q + " = split(" + x.name + ", 2" + ax + ")");
        Var& vp = add(p, {t.k, ps, t.lo, t.hi});
        maybePrint(vp);
        Var& vq = add(q, {t.k, ps, t.lo, t.hi});
        maybePrint(vq);
      } else {
        int cut = r_.range(1, d - 1);
        bool first = r_.chance(0.5);
        ps[a] = first ? cut : d - cut;
        assign("split(" + x.name + ", [" + std::to_string(cut) + "]" + ax + ")[" + (first ? "0" : "1") + "]", {t.k, ps, t.lo, t.hi});
      }
      return true;
    }
    if (nm == "take") {
      if (r == 0) return false;
      Shape is = randShape(1, 2);
      Ty it;
      if (r_.chance(0.4)) {
        std::string ix = indices(is, numel(s), &it);
        use(name);
        assign("take(" + x.name + ", " + ix + ")", {t.k, is, t.lo, t.hi});
      } else {
        int a = r_.below(r);
        std::string ix = indices(is, s[a], &it);
        Shape ns(s.begin(), s.begin() + a);
        ns.insert(ns.end(), is.begin(), is.end());
        ns.insert(ns.end(), s.begin() + a + 1, s.end());
        if (numel(ns) > 256) return false;
        use(name);
        assign("take(" + x.name + ", " + ix + ", axis=" + std::to_string(a) + ")", {t.k, ns, t.lo, t.hi});
      }
      return true;
    }
    return false;
  }

  bool getitem() {
    const Var* xp = pickVar([](const Var& v) { return isTensor(v.ty.k) && !v.ty.shape.empty(); });
    if (!xp || r_.chance(0.2)) xp = &freshF(randShape(1, 3));
    const Var& x = *xp;
    const Shape& s = x.ty.shape;
    int r = int(s.size());
    Ty t = x.ty;
    int c = r_.below(6);
    std::string e;
    Shape ns;
    if (c == 0) {
      int i = r_.below(s[0]);
      if (r_.chance(0.3)) i -= s[0];
      e = x.name + "[" + std::to_string(i) + "]";
      ns.assign(s.begin() + 1, s.end());
    } else if (c == 1) {
      int a = r_.below(s[0]), b = r_.range(a + 1, s[0]);
      e = x.name + "[" + std::to_string(a) + ":" + std::to_string(b) + "]";
      ns = s;
      ns[0] = b - a;
    } else if (c == 2 && r >= 2) {
      int i = r_.below(s[1]);
      e = x.name + "[:, " + std::to_string(i) + "]";
      ns = s;
      ns.erase(ns.begin() + 1);
    } else if (c == 3) {
      int d = s.back();
      int a = r_.below(d);
      e = x.name + "[..., " + std::to_string(a) + "::2]";
      ns = s;
      ns.back() = (d - a + 1) / 2;
    } else if (c == 4) {
      e = x.name + "[None]";
      ns = s;
      ns.insert(ns.begin(), 1);
    } else {
      Shape is = {r_.range(1, 4)};
      Ty it;
      std::string ix = indices(is, s[0], &it);
      e = x.name + "[" + ix + "]";
      ns = is;
      ns.insert(ns.end(), s.begin() + 1, s.end());
    }
    use("getitem");
    assign(e, {t.k, ns, t.lo, t.hi});
    return true;
  }

  bool setitem() {
    const Var* xp = pickVar([](const Var& v) { return v.ty.k == K::F && !v.ty.shape.empty(); });
    if (!xp) xp = &freshF(randShape(1, 3));
    const Var& x = *xp;
    const Shape& s = x.ty.shape;
    std::string n = fresh("v");
    line(n + " = " + x.name);
    Ty t = x.ty;
    int i = r_.below(s[0]);
    int c = r_.below(3);
    use("setitem");
    if (c == 0) {
      double v = std::round(r_.unit() * 8 - 4) / 2;
      line(n + "[" + std::to_string(i) + "] = " + lit(v));
      t.lo = std::min(t.lo, v);
      t.hi = std::max(t.hi, v);
    } else if (c == 1 && s.size() >= 2) {
      int j = r_.below(s[1]);
      Shape vs(s.begin() + 2, s.end());
      vs.insert(vs.begin(), s[0]);
      const Var& v = fOfShape(vs);
      line(n + "[:, " + std::to_string(j) + "] = " + v.name);
      t.lo = std::min(t.lo, v.ty.lo);
      t.hi = std::max(t.hi, v.ty.hi);
    } else {
      Shape vs(s.begin() + 1, s.end());
      const Var& v = fOfShape(vs);
      Ty q;
      std::string vsx = sq(v, 100, &q);
      line(n + "[" + std::to_string(i) + "] += " + vsx);
      t.lo += q.lo;
      t.hi += q.hi;
    }
    Var& nv = add(n, t);
    maybePrint(nv);
    return true;
  }

  bool linalg(const char* name) {
    std::string nm = name;
    if (nm == "einsum") {
      int c = r_.below(5);
      int a = r_.range(1, 4), b = r_.range(1, 4), d = r_.range(1, 4);
      Ty t1, t2;
      use("einsum");
      if (c == 0) {
        std::string x = sq(fOfShape({a, b}), 100, &t1), y = sq(fOfShape({b, d}), 100, &t2);
        assign("einsum(\"ij,jk->ik\", " + x + ", " + y + ")", {K::F, {a, d}, -1e4 * b, 1e4 * b});
      } else if (c == 1) {
        const Var& x = fOfShape({a, b});
        assign("einsum(\"ij->ji\", " + x.name + ")", {K::F, {b, a}, x.ty.lo, x.ty.hi});
      } else if (c == 2) {
        std::string x = sq(fOfShape({a, b}), 1000, &t1);
        assign("einsum(\"ij->i\", " + x + ")", {K::F, {a}, -1000.0 * b, 1000.0 * b});
      } else if (c == 3) {
        std::string x = sq(fOfShape({a}), 100, &t1), y = sq(fOfShape({a}), 100, &t2);
        assign("einsum(\"i,i->\", " + x + ", " + y + ")", {K::F, {}, -1e4 * a, 1e4 * a});
      } else {
        std::string x = sq(fOfShape({2, a, b}), 100, &t1), y = sq(fOfShape({2, b, d}), 100, &t2);
        assign("einsum(\"bij,bjk->bik\", " + x + ", " + y + ")", {K::F, {2, a, d}, -1e4 * b, 1e4 * b});
      }
      return true;
    }
    // matmul / dot: x (.., n) with y (n, m) or (n,)
    const Var& x = anyF(1, 3);
    Shape s = x.ty.shape;
    int n = s.back();
    Shape ys;
    int c = r_.below(3);
    if (nm == "dot") c = s.size() == 1 ? r_.below(2) : 0;
    if (nm == "dot" && s.size() > 2) return false;
    if (c == 0) ys = {n, r_.range(1, 4)};
    else if (c == 1) ys = {n};
    else { if (s.size() < 2) return false; ys = {s.size() == 3 ? s[0] : 1, n, r_.range(1, 3)}; if (s.size() == 2) ys.erase(ys.begin()); }
    const Var& y = fOfShape(ys);
    Ty t1, t2;
    std::string xs = sq(x, 100, &t1), yss = sq(y, 100, &t2);
    Shape ns = s;
    ns.pop_back();
    if (ys.size() >= 2) ns.push_back(ys.back());
    double b = t1.bound() * t2.bound() * n;
    use(name);
    std::string e = nm == "dot" ? "dot(" + xs + ", " + yss + ")" : (r_.chance(0.6) ? xs + " @ " + yss : "matmul(" + xs + ", " + yss + ")");
    assign(e, {K::F, ns, -b, b});
    return true;
  }

  // ---------------------------------------------------------------- nn
  bool nnOp(const char* name) {
    std::string nm = name;
    if (nm == "conv2d" || nm == "max_pool2d" || nm == "avg_pool2d") {
      const Var* x = pickVar([](const Var& v) {
        return v.ty.k == K::F && v.ty.shape.size() == 4 && v.ty.shape[2] >= 2 && v.ty.shape[3] >= 2 && numel(v.ty.shape) <= 128;
      });
      if (!x || r_.chance(0.3)) x = &freshF({r_.range(1, 2), r_.range(1, 3), r_.range(3, 5), r_.range(3, 5)});
      Shape s = x->ty.shape;
      if (nm == "conv2d") {
        int o = r_.range(1, 3), k = r_.range(1, std::min(3, std::min(s[2], s[3])));
        int stride = r_.range(1, 2), pad = r_.range(0, 1);
        const Var& w = fOfShape({o, s[1], k, k});
        std::string b;
        Ty t1, t2;
        std::string xs = sq(*x, 100, &t1), ws = sq(w, 100, &t2);
        double bnd = t1.bound() * t2.bound() * s[1] * k * k;
        if (r_.chance(0.5)) { const Var& bv = fOfShape({o}); Ty t3; b = ", " + sq(bv, 100, &t3); bnd += 100; }
        use("conv2d");
        int ho = (s[2] + 2 * pad - k) / stride + 1, wo = (s[3] + 2 * pad - k) / stride + 1;
        assign("conv2d(" + xs + ", " + ws + b + (stride > 1 ? ", stride=" + std::to_string(stride) : "") +
                   (pad ? ", padding=" + std::to_string(pad) : "") + ")",
               {K::F, {s[0], o, ho, wo}, -bnd, bnd});
        return true;
      }
      int k = 2, stride = r_.chance(0.5) ? 1 : 2;
      int pad = (stride == 1 && r_.chance(0.3)) ? 1 : 0;
      int ho = (s[2] + 2 * pad - k) / stride + 1, wo = (s[3] + 2 * pad - k) / stride + 1;
      use(name);
      std::string args = x->name + ", " + std::to_string(k) + (stride != 2 ? ", stride=" + std::to_string(stride) : "") +
                         (pad ? ", padding=" + std::to_string(pad) : "");
      double lo = x->ty.lo, hi = x->ty.hi;
      if (pad) { lo = std::min(lo, nm == "max_pool2d" ? lo : 0.0); hi = std::max(hi, 0.0); lo = std::min(lo, 0.0); }
      assign(nm + "(" + args + ")", {K::F, {s[0], s[1], ho, wo}, lo, hi});
      return true;
    }
    if (nm == "cross_entropy") {
      const Var& x = anyF(2, 2);
      Shape s = x.ty.shape;
      Ty it, t;
      std::string xs = sq(x, 100, &t);
      std::string lab = indices({s[0]}, s[1], &it);
      use(name);
      assign("cross_entropy(" + xs + ", " + lab + ")", {K::F, {s[0]}, 0, 2 * t.bound() + std::log(s[1]) + 1});
      return true;
    }
    if (nm == "mse") {
      const Var& x = anyF();
      const Var& y = fOfShape(x.ty.shape);
      Ty t1, t2;
      std::string xs = sq(x, 1000, &t1), ys = sq(y, 1000, &t2);
      use(name);
      double b = t1.bound() + t2.bound();
      assign("mse(" + xs + ", " + ys + ")", {K::F, {}, 0, b * b});
      return true;
    }
    if (nm == "layer_norm") {
      const Var& x = anyF(1, 3);
      Shape s = x.ty.shape;
      int d = s.back();
      Ty t;
      std::string xs = sq(x, 1e4, &t);
      use(name);
      double b = std::sqrt(double(d)) + 1;
      if (r_.chance(0.5)) {
        Ty tg, tb;
        std::string g = sq(fOfShape({d}), 10, &tg), bb = sq(fOfShape({d}), 10, &tb);
        assign("layer_norm(" + xs + ", " + g + ", " + bb + ")", {K::F, s, -b * 10 - 10, b * 10 + 10});
      } else {
        assign("layer_norm(" + xs + ")", {K::F, s, -b, b});
      }
      return true;
    }
    if (nm == "batch_norm") {
      const Var& x = anyF(2, 4);
      Shape s = x.ty.shape;
      int c = s[1];
      Ty t, tm, tv;
      std::string xs = sq(x, 100, &t);
      std::string m = sq(fOfShape({c}), 100, &tm);
      const Var& vv = fOfShape({c});
      std::string v = "abs(" + vv.name + ") + 0.5";
      if (vv.ty.bound() > 1e4) return false;
      use("abs");
      use(name);
      double b = (200) / std::sqrt(0.5);
      if (r_.chance(0.5)) {
        Ty tg, tb;
        std::string g = sq(fOfShape({c}), 10, &tg), bb = sq(fOfShape({c}), 10, &tb);
        assign("batch_norm(" + xs + ", " + m + ", " + v + ", " + g + ", " + bb + ")", {K::F, s, -b * 10 - 10, b * 10 + 10});
      } else {
        assign("batch_norm(" + xs + ", " + m + ", " + v + ")", {K::F, s, -b, b});
      }
      return true;
    }
    if (nm == "embedding") {
      int v = r_.range(2, 6), d = r_.range(1, 4);
      const Var& tb = fOfShape({v, d});
      Shape is = randShape(1, 2);
      Ty it;
      std::string ix = indices(is, v, &it);
      Shape ns = is;
      ns.push_back(d);
      use(name);
      assign("embedding(" + tb.name + ", " + ix + ")", {K::F, ns, tb.ty.lo, tb.ty.hi});
      return true;
    }
    if (nm == "one_hot") {
      int n = r_.range(2, 5);
      Shape is = randShape(1, 2);
      Ty it;
      std::string ix = indices(is, n, &it);
      Shape ns = is;
      ns.push_back(n);
      use(name);
      assign("one_hot(" + ix + ", " + std::to_string(n) + ")", {K::F, ns, 0, 1});
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- random
  const Var& key() {
    const Var* k = pickVar([](const Var& v) { return v.ty.k == K::Key; });
    if (k && r_.chance(0.7)) return *k;
    use("prng");
    std::string n = fresh("k");
    line(n + " = prng(" + std::to_string(keySeed()) + ")");
    return add(n, {K::Key, {2}, 0, 0});
  }
  bool randomOp(const char* name) {
    std::string nm = name;
    if (nm == "split_key") {
      const Var& k = key();
      std::string a = fresh("k"), b = fresh("k");
      use("split");
      line(a + ", " + b + " = split(" + k.name + ")");
      add(a, {K::Key, {2}, 0, 0});
      add(b, {K::Key, {2}, 0, 0});
      return true;
    }
    if (nm == "fold_in") {
      const Var& k = key();
      std::string n = fresh("k");
      use("fold_in");
      line(n + " = fold_in(" + k.name + ", " + std::to_string(r_.range(0, 99)) + ")");
      add(n, {K::Key, {2}, 0, 0});
      return true;
    }
    std::string kn = key().name;
    Shape s = randShape(0, 3);
    use(name);
    if (nm == "uniform") {
      double lo = -r_.range(0, 3), hi = r_.range(1, 3);
      if (r_.chance(0.4)) assign("uniform(" + kn + ", " + shapeStr(s) + ")", {K::F, s, 0, 1});
      else assign("uniform(" + kn + ", " + shapeStr(s) + ", minval=" + lit(lo) + ", maxval=" + lit(hi) + ")", {K::F, s, lo, hi});
    } else if (nm == "normal") {
      assign("normal(" + kn + ", " + shapeStr(s) + ")", {K::F, s, -7, 7});
    } else if (nm == "bernoulli") {
      assign("bernoulli(" + kn + ", " + lit(r_.range(1, 9) / 10.0) + ", " + shapeStr(s) + ")", {K::B, s, 0, 1});
    } else if (nm == "permutation") {
      int n = r_.range(1, 6);
      assign("permutation(" + kn + ", " + std::to_string(n) + ")", {K::I, {n}, 0, double(n - 1)});
    } else if (nm == "categorical") {
      const Var& x = anyF(1, 2);
      Ty t;
      std::string xs = sq(x, 50, &t);
      Shape ns(x.ty.shape.begin(), x.ty.shape.end() - 1);
      assign("categorical(" + kn + ", " + xs + ")", {K::I, ns, 0, double(x.ty.shape.back() - 1)});
    } else if (nm == "dropout") {
      const Var& x = anyF();
      double p = r_.range(1, 5) / 10.0;
      assign("dropout(" + kn + ", " + x.name + ", " + lit(p) + ")", {K::F, x.ty.shape, std::min(0.0, x.ty.lo / (1 - p)), std::max(0.0, x.ty.hi / (1 - p))});
    } else {
      return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- trees
  bool treeOp(const char* name) {
    std::string nm = name;
    const Var& x = anyF();
    const Var& y = anyF();
    if (nm == "tree_map") {
      std::string a = fresh("v"), b = fresh("v");
      use("tree_map");
      use("multiply");
      double c = r_.range(1, 9) / 4.0;
      if (r_.chance(0.5)) {
        line(a + ", " + b + " = tree_map(lambda t: t * " + lit(c) + ", (" + x.name + ", " + y.name + "))");
      } else {
        line(a + ", " + b + " = tree_map(lambda t, u: t * " + lit(c) + ", (" + x.name + ", " + y.name + "), (" + x.name + ", " + y.name + "))");
      }
      Var& va = add(a, {K::F, x.ty.shape, std::min(0.0, x.ty.lo * c), std::max(0.0, x.ty.hi * c)});
      maybePrint(va);
      Var& vb = add(b, {K::F, y.ty.shape, std::min(0.0, y.ty.lo * c), std::max(0.0, y.ty.hi * c)});
      maybePrint(vb);
      return true;
    }
    if (nm == "tree_leaves") {
      use("tree_leaves");
      int i = r_.below(2);
      const Var& z = i ? y : x;
      assign("tree_leaves({\"a\": " + x.name + ", \"b\": [" + y.name + "]})[" + std::to_string(i) + "]", z.ty);
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- constructs
  // A shape-keeping expression of v (f32): its range in lo, hi.
  std::string keepShape(const Var& v, double* lo, double* hi) {
    int c = r_.below(6);
    Ty t;
    switch (c) {
      case 0: use("tanh"); *lo = -1; *hi = 1; return "tanh(" + v.name + ")";
      case 1: use("sigmoid"); *lo = 0; *hi = 1; return "sigmoid(" + v.name + ")";
      case 2: {
        std::string s = sq(v, 1000, &t);
        use("multiply"); use("add");
        double a = r_.range(1, 8) / 4.0, b = r_.range(-4, 4) / 2.0;
        *lo = std::min(t.lo * a, t.hi * a) + b;
        *hi = std::max(t.lo * a, t.hi * a) + b;
        return s + " * " + lit(a) + " + " + lit(b);
      }
      case 3: use("relu"); *lo = 0; *hi = std::max(0.0, v.ty.hi); return "relu(" + v.name + ")";
      case 4: {
        std::string s = sq(v, 1e5, &t);
        use("negative");
        *lo = -t.hi; *hi = -t.lo;
        return "-" + s;
      }
      default: {
        std::string s = sq(v, 5, &t);
        use("exp");
        *lo = std::exp(t.lo); *hi = std::exp(t.hi);
        return "exp(" + s + ")";
      }
    }
  }

  void block(int nOps) {
    scopes_.push_back({});
    ++depth_;
    for (int i = 0; i < nOps && P_.ops < kOpsCap; ++i) {
      if (depth_ < 2 && P_.ops + 16 < kOpsCap && r_.chance(0.1)) construct();
      else tableOp();
    }
    --depth_;
  }
  void endBlock() { scopes_.pop_back(); }
  // A value of x's type at the end of a block: a shape-keeping expression of x or of a
  // block-local value of the same shape.
  std::string blockResult(const Var& x, double* lo, double* hi) {
    const Var* v = pickVar([&](const Var& v) { return v.ty.k == K::F && v.ty.shape == x.ty.shape; });
    if (!v) v = &x;
    return keepShape(*v, lo, hi);
  }
  // A condition; with noEmit it writes no statement (between an if's branches).
  std::string condition(bool noEmit = false) {
    int c = r_.below(4);
    const Var* xp = noEmit ? pickVar([](const Var& v) { return v.ty.k == K::F; }) : &anyF();
    const Var& x = *xp;
    switch (c) {
      case 0: use("sum"); use("greater"); return "float(" + x.name + ".sum()) > " + lit(r_.unit() * 2 - 1);
      case 1: use("mean"); use("less"); return "mean(" + x.name + ") < " + lit(r_.unit() * 2 - 1);
      case 2: use("greater"); use("any"); return "(" + x.name + " > " + lit(r_.unit() * 2) + ").any()";
      default: use("max"); use("greater_equal"); return x.name + ".max() >= " + lit(r_.unit() * 2 - 1);
    }
  }

  void ifStmt() {
    P_.control = true;
    const Var& x = anyF();
    Var xv = x;
    std::string t = fresh("v");
    double lo = 1e300, hi = -1e300;
    line("if " + condition() + ":");
    int branches = r_.range(2, 3);
    for (int b = 0; b < branches; ++b) {
      if (b > 0) line(b + 1 < branches ? "elif " + condition(true) + ":" : "else:");
      ++ind_;
      block(r_.range(0, 3));
      double l, h;
      std::string e = blockResult(xv, &l, &h);
      line(t + " = " + e);
      lo = std::min(lo, l);
      hi = std::max(hi, h);
      endBlock();
      --ind_;
    }
    Var& v = add(t, {K::F, xv.ty.shape, lo, hi});
    maybePrint(v);
  }

  void forStmt() {
    P_.control = true;
    const Var& x = anyF();
    Var xv = x;
    std::string acc = fresh("v");
    line(acc + " = " + xv.name);
    int c = r_.below(3);
    std::string i = fresh("i");
    int n = r_.range(1, 5);
    use("range");
    if (c == 0) line("for " + i + " in range(" + std::to_string(n) + "):");
    else if (c == 1) line("for " + i + ", " + fresh("j") + " in enumerate(range(" + std::to_string(n) + ", 0, -1)):");
    else line("for " + i + " in [" + std::to_string(r_.range(0, 3)) + ", " + std::to_string(r_.range(0, 3)) + ", " + std::to_string(r_.range(0, 3)) + "]:");
    ++ind_;
    scopes_.push_back({});
    add(acc, xv.ty);
    add(i, {K::PI, {}, 0, double(n)});
    block(r_.range(0, 3));
    double lo, hi;
    const Var* v = pickVar([&](const Var& v) { return v.ty.k == K::F && v.ty.shape == xv.ty.shape; });
    Ty t;
    std::string other = sq(*v, 10, &t);
    use("tanh");
    use("add");
    line(acc + " = tanh(" + acc + " * 0.5 + " + other + " + " + i + " * 0.1)");
    lo = -1, hi = 1;
    line("if " + condition() + ":");
    line("    break");
    endBlock();
    scopes_.pop_back();
    --ind_;
    Var& a = add(acc, {K::F, xv.ty.shape, std::min(lo, xv.ty.lo), std::max(hi, xv.ty.hi)});
    maybePrint(a);
  }

  void whileStmt() {
    P_.control = true;
    const Var& x = anyF();
    Var xv = x;
    std::string acc = fresh("v"), i = fresh("i");
    int n = r_.range(1, 6);
    line(acc + " = " + xv.name);
    line(i + " = 0");
    line("while " + i + " < " + std::to_string(n) + ":");
    ++ind_;
    scopes_.push_back({});
    add(acc, xv.ty);
    add(i, {K::PI, {}, 0, double(n)});
    block(r_.range(0, 3));
    const Var* v = pickVar([&](const Var& v) { return v.ty.k == K::F && v.ty.shape == xv.ty.shape; });
    Ty t;
    std::string other = sq(*v, 10, &t);
    use("clip");
    line(acc + " = clip(" + acc + " + " + other + " * 0.25, -3.0, 3.0)");
    line(i + " += 1");
    if (r_.chance(0.7)) {
      line("if " + condition() + ":");
      line("    break");
    }
    endBlock();
    scopes_.pop_back();
    --ind_;
    Var& a = add(acc, {K::F, xv.ty.shape, std::min(-3.0, xv.ty.lo), std::max(3.0, xv.ty.hi)});
    maybePrint(a);
    Var& iv = add(i, {K::PI, {}, 0, double(n)});
    (void)iv;
  }

  // A function body over params (only they are visible): nOps table ops, and the f32
  // value it returns (the latest one, preferring those that depend on the params).
  Var functionBody(const std::vector<Var>& params, int nOps) {
    auto saved = std::move(scopes_);
    scopes_.clear();
    scopes_.emplace_back(params.begin(), params.end());
    ++fnDepth_;
    ++depth_;
    ++ind_;
    if (params.size() == 2) {  // the first value depends on both parameters (grad: w)
      const Var& w = scopes_.back()[0];
      const Var& a = scopes_.back()[1];
      Shape s;
      Ty t;
      std::string as = sq(a, 10, &t);
      if (broadcast(w.ty.shape, a.ty.shape, &s) && numel(s) <= 256) {
        use("multiply");
        use("tanh");
        assign("tanh(w) * " + as, {K::F, s, -10, 10});
      } else {
        use("sin");
        assign("sin(w)", {K::F, w.ty.shape, -1, 1});
      }
    }
    for (int i = 0; i < nOps && P_.ops < kOpsCap; ++i) tableOp();
    const Var* res = nullptr;
    for (auto& v : scopes_.back())
      if (v.ty.k == K::F) res = &v;
    Var out = *res;
    --ind_;
    --depth_;
    --fnDepth_;
    scopes_ = std::move(saved);
    return out;
  }

  void closure() {
    P_.closure = true;
    const Var& c = anyF();
    Var cv = c;
    const Var& a = anyF();
    Var av = a;
    std::string f = fresh("f"), g = fresh("g"), h = fresh("h");
    line("def " + f + "(c):");
    Var cp{"c", cv.ty};
    Var ap{"a", av.ty};
    if (r_.chance(0.35)) {  // a lambda capturing c
      Shape s;
      if (!broadcast(cv.ty.shape, av.ty.shape, &s) || numel(s) > 256) { cp.ty = av.ty; cv = av; }
      broadcast(cp.ty.shape, av.ty.shape, &s);
      Ty t1, t2;
      ++ind_;
      std::string cs = sq(cp, 30, &t1), as = sq(ap, 30, &t2);
      use("multiply");
      use("sin");
      line("return lambda a: sin(" + as + ") * " + cs);
      --ind_;
      line(h + " = " + f + "(" + cv.name + ")");
      assign(h + "(" + av.name + ")", {K::F, s, -30, 30});
      return;
    }
    // def g(a) inside f, using a, c and f's locals
    auto saved = std::move(scopes_);
    scopes_.clear();
    scopes_.push_back({cp});
    ++fnDepth_;
    ++depth_;
    ++ind_;
    for (int i = r_.range(0, 2); i > 0 && P_.ops < kOpsCap; --i) tableOp();
    line("def " + g + "(a):");
    scopes_.push_back({ap});
    ++ind_;
    for (int i = r_.range(1, 3); i > 0 && (P_.ops < kOpsCap || i == 3); --i) tableOp();
    const Var* res = nullptr;
    for (auto& v : scopes_.back()) if (v.ty.k == K::F) res = &v;
    if (!res) res = &scopes_.back()[0];
    Var out = *res;
    line("return " + out.name);
    --ind_;
    line("return " + g);
    --ind_;
    --depth_;
    --fnDepth_;
    scopes_ = std::move(saved);
    line(h + " = " + f + "(" + cv.name + ")");
    assign(h + "(" + av.name + ")", out.ty);
    if (r_.chance(0.4)) {  // again, with another value of a's type
      const Var* b = pickVar([&](const Var& v) { return v.ty.k == K::F && v.ty.shape == av.ty.shape && v.name != av.name; });
      if (b && b->ty.bound() <= av.ty.bound()) assign(h + "(" + b->name + ")", out.ty);
    }
  }

  void record() {
    P_.record = true;
    std::string R = fresh("R"), m = fresh("m");
    int in = r_.range(1, 4), out = r_.range(1, 4);
    bool dense = r_.chance(0.6);
    const Var& x = dense ? fOfShape({r_.range(1, 3), in}) : anyF(1, 2);
    Var xv = x;
    Shape ws = dense ? Shape{in, out} : xv.ty.shape;
    Shape bs = dense ? Shape{out} : Shape{xv.ty.shape.back()};
    const Var& w = fOfShape(ws);
    Var wv = w;
    const Var& b = fOfShape(bs);
    Var bv = b;
    line("class " + R + ":");
    line("    w: Tensor");
    line("    b: Tensor");
    bool withS = r_.chance(0.5);
    if (withS) line("    s: float = 0.5");
    line("    def __call__(self, x):");
    use("tanh");
    use("add");
    std::string sc = withS ? " * self.s" : "";
    if (dense) { use("matmul"); line("        return tanh(x @ self.w + self.b)" + sc); }
    else { use("multiply"); line("        return tanh(x * self.w + self.b)" + sc); }
    line("    def scaled(self, k):");
    line("        return " + R + "(w=self.w * k, b=self.b)");
    Ty tw, tb;
    std::string wsx = sq(wv, 100, &tw), bsx = sq(bv, 100, &tb);
    line(m + " = " + R + "(w=" + wsx + ", b=" + bsx + ")");
    Shape ys = xv.ty.shape;
    if (dense) ys.back() = out;
    assign(m + "(" + xv.name + ")", {K::F, ys, -1, 1});
    int c = r_.below(3);
    if (c == 0) {
      use("setattr");
      line(m + ".b = " + m + ".b * 0.5");
      assign(m + "(" + xv.name + ")", {K::F, ys, -1, 1});
    } else if (c == 1) {
      assign(m + ".scaled(" + lit(r_.range(1, 4) * 0.5) + ").w", {K::F, ws, -200, 200});
    }
    if (fnDepth_ == 0) line("print(" + m + ")");
    if (r_.chance(0.4) && depth_ == 0) {  // the gradient of a record
      P_.grad = true;
      std::string L = fresh("loss"), g = fresh("g");
      use("grad");
      use("mean");
      line("def " + L + "(model, x):");
      line("    return mean(model(x) ** 2)");
      line(g + " = grad(" + L + ")(" + m + ", " + xv.name + ")");
      line("print(" + g + ")");
      assign(g + ".w", {K::F, ws, -1e3, 1e3});
    }
  }

  void gradStmt() {
    P_.grad = true;
    const Var& w = anyF();
    Var wv = w;
    const Var& a = anyF();
    Var av = a;
    std::string L = fresh("loss");
    Var wp{"w", wv.ty}, ap{"a", av.ty};
    line("def " + L + "(w, a):");
    bool saved = smooth_;
    smooth_ = true;
    Var res = functionBody({wp, ap}, r_.range(1, 5));
    smooth_ = saved;
    Ty t;
    std::string rs = sq(res, 1000, &t);
    int c = r_.below(3);
    use(c == 0 ? "sum" : c == 1 ? "mean" : "logsumexp");
    std::string red = c == 0 ? "sum(" + rs + ")" : c == 1 ? "mean(" + rs + " * " + rs + ")" : "logsumexp(" + rs + ")";
    line("    return " + red);
    int k = r_.below(3);
    if (k == 0) {
      use("grad");
      assign("grad(" + L + ")(" + wv.name + ", " + av.name + ")", {K::F, wv.ty.shape, -1e4, 1e4});
    } else if (k == 1) {
      use("value_and_grad");
      std::string l = fresh("v"), g = fresh("v");
      line(l + ", " + g + " = value_and_grad(" + L + ")(" + wv.name + ", " + av.name + ")");
      Var& lv = add(l, {K::F, {}, -1e6, 1e6});
      maybePrint(lv);
      Var& gv = add(g, {K::F, wv.ty.shape, -1e4, 1e4});
      maybePrint(gv);
    } else {
      use("grad");
      std::string g1 = fresh("v"), g2 = fresh("v");
      line(g1 + ", " + g2 + " = grad(" + L + ", argnums=(0, 1))(" + wv.name + ", " + av.name + ")");
      Var& v1 = add(g1, {K::F, wv.ty.shape, -1e4, 1e4});
      maybePrint(v1);
      Var& v2 = add(g2, {K::F, av.ty.shape, -1e4, 1e4});
      maybePrint(v2);
    }
  }

  void construct() {
    int c = r_.below(depth_ == 0 ? 6 : 3);
    switch (c) {
      case 0: ifStmt(); break;
      case 1: forStmt(); break;
      case 2: whileStmt(); break;
      case 3: closure(); break;
      case 4: record(); break;
      default: gradStmt(); break;
    }
  }

  void tableOp() {
    const auto& t = table();
    for (int tries = 0; tries < 50; ++tries) {
      const Op& op = r_.pick(t);
      if (smooth_ && !op.smooth) continue;
      if (op.emit(*this)) return;
    }
    unary("tanh");
  }
};

const std::vector<Gen::Op>& Gen::table() {
  static const std::vector<Op> t = [] {
    std::vector<Op> t;
    auto add = [&](const char* n, bool smooth, std::function<bool(Gen&)> f) { t.push_back({n, smooth, std::move(f)}); };
    for (const char* n : {"add", "subtract", "multiply", "maximum", "minimum"})
      add(n, true, [n](Gen& g) { return g.binArith(n); });
    for (const char* n : {"divide", "floor_divide", "mod"}) add(n, true, [n](Gen& g) { return g.divLike(n); });
    add("pow", true, [](Gen& g) { return g.powOp(); });
    for (const char* n : {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"})
      add(n, true, [n](Gen& g) { return g.compare(n); });
    for (const char* n : {"bitwise_and", "bitwise_or", "bitwise_xor", "invert"})
      add(n, true, [n](Gen& g) { return g.bitwise(n); });
    for (const char* n : {"exp", "log", "log1p", "sqrt", "rsqrt", "sign", "floor", "ceil", "sin", "cos", "tanh",
                          "sigmoid", "relu", "gelu", "softplus", "isnan", "isfinite", "abs", "round", "negative",
                          "positive", "clip", "stop_gradient"})
      add(n, true, [n](Gen& g) { return g.unary(n); });
    add("where", true, [](Gen& g) { return g.whereOp(); });
    add("astype", true, [](Gen& g) { return g.astypeOp(); });
    for (const char* n : {"sum", "mean", "max", "min", "prod", "argmax", "argmin", "logsumexp", "var", "all", "any",
                          "cumsum"})
      add(n, true, [n](Gen& g) { return g.reduce(n); });
    add("std", false, [](Gen& g) { return g.reduce("std"); });  // d std / dx is inf where the variance is 0
    add("item", false, [](Gen& g) { return g.pyScalar("item"); });
    add("shape", true, [](Gen& g) { return g.pyScalar("shape"); });
    add("tolist", false, [](Gen& g) { return g.tolistOp(); });
    for (const char* n : {"zeros", "ones", "full", "arange", "linspace", "eye", "zeros_like", "ones_like", "tensor"})
      add(n, true, [n](Gen& g) { return g.construct(n); });
    for (const char* n : {"reshape", "flatten", "transpose", "T", "swapaxes", "expand_dims", "squeeze",
                          "broadcast_to", "concat", "stack", "softmax", "log_softmax", "sort", "topk", "tile", "pad",
                          "split", "take"})
      add(n, true, [n](Gen& g) { return g.shapeOp(n); });
    add("getitem", true, [](Gen& g) { return g.getitem(); });
    add("setitem", true, [](Gen& g) { return g.setitem(); });
    for (const char* n : {"matmul", "dot", "einsum"}) add(n, true, [n](Gen& g) { return g.linalg(n); });
    for (const char* n : {"conv2d", "max_pool2d", "avg_pool2d", "cross_entropy", "mse", "layer_norm", "batch_norm",
                          "embedding", "one_hot"})
      add(n, true, [n](Gen& g) { return g.nnOp(n); });
    for (const char* n : {"uniform", "normal", "bernoulli", "permutation", "categorical", "dropout", "fold_in"})
      add(n, false, [n](Gen& g) { return g.randomOp(n); });
    add("split", false, [](Gen& g) { return g.randomOp("split_key"); });
    for (const char* n : {"tree_map", "tree_leaves"}) add(n, true, [n](Gen& g) { return g.treeOp(n); });
    return t;
  }();
  return t;
}

}  // namespace

GenProgram generate(uint64_t seed) { return Gen(seed).run(); }

const std::vector<std::string>& primitiveSet() {
  static const std::vector<std::string> s = [] {
    std::set<std::string> names;
    for (const auto& op : Gen::table()) names.insert(op.name);
    // Emitted only by constructs (grad) or as parts of other emitters.
    for (const char* n : {"grad", "value_and_grad", "prng", "range", "setattr"}) names.insert(n);
    return std::vector<std::string>(names.begin(), names.end());
  }();
  return s;
}

}  // namespace msl::progen
