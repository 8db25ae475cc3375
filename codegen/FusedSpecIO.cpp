// Fused kernel specs as text, and the record of a graph-mode run (codegen/FusedSpecIO.h);
// also reserveFusedKernel (codegen/KernelGen.h), LLVM-free, which the fusion pass of AOT
// executables needs.
#include "codegen/FusedSpecIO.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "ir/Diagnostics.h"
#include "ir/HostPlan.h"

namespace msl::codegen {

// ------------------------------------------------------------------ KernelGen.h, LLVM-free

namespace {
std::unique_ptr<FusedKernel> kernelOf(const FusedSpec& spec) {
  auto k = std::make_unique<FusedKernel>();
  k->name = spec.name;
  k->inputs = spec.inputs;
  k->outDType = spec.outputs.empty() ? spec.outDType : spec.ops[(size_t)spec.outputs[0]].dt;
  k->outRank = spec.outRank;
  if (spec.outputs.size() > 1)  // (one output: __fused gives the tensor itself)
    for (int v : spec.outputs) k->outDTypes.push_back(spec.ops[(size_t)v].dt);
  k->inplace = spec.inplace;
  k->reduce = spec.reduce;
  return k;
}
}  // namespace

int reserveFusedKernel(const FusedSpec& spec) { return registerFusedKernel(kernelOf(spec)); }

// ------------------------------------------------------------------ the fields, once

namespace {

// Every field of the structs, in the order of the text. Writer and Reader below visit
// them: a new field is one line here (and a name table if it is a new enum).
template <class V> void fieldsOf(V& v, FusedKernel::Input& x) {
  v(x.kind);
  v(x.dtype);
  v(x.rank);
}
template <class V> void fieldsOf(V& v, FusedOp& x) {
  v(x.kind);
  v(x.dt);
  v(x.a);
  v(x.b);
  v(x.c);
  v(x.bin);
  v(x.un);
  v(x.i);
  v(x.f);
}
template <class V> void fieldsOf(V& v, FusedReduce& x) {
  v(x.op);
  v(x.lastAxis);
  v(x.keepdims);
}
template <class V> void fieldsOf(V& v, FusedSpec& x) {
  v(x.name);
  v(x.inputs);
  v(x.innerStride);
  v(x.ops);
  v(x.outDType);
  v(x.outRank);
  v(x.outputs);
  v(x.inplace);
  v(x.reduce);
}
// A field added to these structs changes their size: add it to fieldsOf above (and to
// validate() below when it indexes something), then update the size here.
static_assert(sizeof(FusedKernel::Input) == 8, "FusedKernel::Input changed: extend fieldsOf in FusedSpecIO.cpp");
static_assert(sizeof(FusedOp) == 40, "FusedOp changed: extend fieldsOf in FusedSpecIO.cpp");
static_assert(sizeof(FusedReduce) == 3, "FusedReduce changed: extend fieldsOf in FusedSpecIO.cpp");
static_assert(sizeof(FusedSpec) == 168, "FusedSpec changed: extend fieldsOf in FusedSpecIO.cpp");

// Enums by name (robust to reordering, and readable).
const char* kindName(FusedOp::Kind k) {
  static const char* const names[] = {"in", "ci", "cf", "cast", "bin", "un", "where"};
  return names[(int)k];
}
constexpr int kKinds = 7;
const char* inName(FusedKernel::In k) {
  static const char* const names[] = {"tensor", "int", "float"};
  return names[(int)k];
}
constexpr int kIns = 3;
const char* reduceName(FusedReduce::Op k) {
  static const char* const names[] = {"none", "sum", "mean", "max", "min"};
  return names[(int)k];
}
constexpr int kReduceOps = 5;
// Names of their own (messages' names are not unique: both gelus are "gelu"). An
// operation added to BinOp or UnOp needs its name here.
constexpr const char* kBinNames[] = {"add", "sub", "mul", "div", "floordiv", "mod", "pow", "max", "min",
                                     "and", "or",  "xor", "eq",  "ne",       "lt",  "le",  "gt",  "ge"};
constexpr const char* kUnNames[] = {"neg",  "invert", "abs",   "sign",    "floor",     "ceil",     "relu",
                                    "exp",  "log",    "log1p", "sqrt",    "rsqrt",     "sin",      "cos",
                                    "tanh", "sigmoid", "gelu", "gelu_tanh", "softplus", "isnan",   "isfinite"};
constexpr int kBinOps = (int)BinOp::Ge + 1;
constexpr int kUnOps = (int)UnOp::IsFinite + 1;
static_assert(sizeof(kBinNames) / sizeof(kBinNames[0]) == kBinOps, "a name per BinOp");
static_assert(sizeof(kUnNames) / sizeof(kUnNames[0]) == kUnOps, "a name per UnOp");
const char* binName(BinOp op) {
  if ((int)op >= kBinOps) internalError("fused spec: BinOp " + std::to_string((int)op) + " has no name in FusedSpecIO.cpp");
  return kBinNames[(int)op];
}
const char* unName(UnOp op) {
  if ((int)op >= kUnOps) internalError("fused spec: UnOp " + std::to_string((int)op) + " has no name in FusedSpecIO.cpp");
  return kUnNames[(int)op];
}

template <class E, class F> bool enumFromName(const std::string& s, int count, F name, E* out) {
  for (int k = 0; k < count; ++k)
    if (s == name((E)k)) {
      *out = (E)k;
      return true;
    }
  return false;
}

bool plainChar(char c) { return std::isalnum((unsigned char)c) || c == '_' || c == '.'; }

struct Writer {
  std::string s;
  void tok(const std::string& t) {
    if (!s.empty()) s += ' ';
    s += t;
  }
  void operator()(int& x) { tok(std::to_string(x)); }
  void operator()(int64_t& x) { tok(std::to_string(x)); }
  void operator()(double& x) {
    uint64_t bits;
    std::memcpy(&bits, &x, 8);
    char buf[24];
    std::snprintf(buf, sizeof buf, "x%016llx", (unsigned long long)bits);
    tok(buf);
  }
  void operator()(std::string& x) {
    std::string t = "s";
    for (char c : x) {
      if (plainChar(c)) {
        t += c;
      } else {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02x", (unsigned char)c);
        t += buf;
      }
    }
    tok(t);
  }
  void operator()(DType& x) { tok(dtypeName(x)); }
  void operator()(BinOp& x) { tok(binName(x)); }
  void operator()(UnOp& x) { tok(unName(x)); }
  void operator()(FusedOp::Kind& x) { tok(kindName(x)); }
  void operator()(FusedKernel::In& x) { tok(inName(x)); }
  void operator()(FusedReduce::Op& x) { tok(reduceName(x)); }
  void operator()(bool& x) { tok(x ? "1" : "0"); }
  template <class T> void operator()(std::vector<T>& xs) {
    tok(std::to_string(xs.size()));
    for (T& x : xs) (*this)(x);
  }
  template <class T> void structure(T& x) {
    tok("{");
    fieldsOf(*this, x);
    tok("}");
  }
  void operator()(FusedKernel::Input& x) { structure(x); }
  void operator()(FusedOp& x) { structure(x); }
  void operator()(FusedReduce& x) { structure(x); }
  void operator()(FusedSpec& x) { structure(x); }
};

struct Reader {
  std::vector<std::string> toks;
  size_t at = 0;
  std::string err;  // the first failure
  bool ok() const { return err.empty(); }
  void fail(const std::string& e) {
    if (err.empty()) err = e;
  }
  std::string next() {
    if (!ok()) return "";
    if (at >= toks.size()) {
      fail("the spec ends early");
      return "";
    }
    return toks[at++];
  }
  template <class I> void integer(I* x) {
    std::string t = next();
    if (!ok()) return;
    auto r = std::from_chars(t.data(), t.data() + t.size(), *x);
    if (r.ec != std::errc() || r.ptr != t.data() + t.size()) fail("'" + t + "' is not an integer");
  }
  void operator()(int& x) { integer(&x); }
  void operator()(int64_t& x) { integer(&x); }
  void operator()(double& x) {
    std::string t = next();
    if (!ok()) return;
    uint64_t bits = 0;
    auto r = std::from_chars(t.data() + 1, t.data() + t.size(), bits, 16);
    if (t.size() != 17 || t[0] != 'x' || r.ec != std::errc() || r.ptr != t.data() + t.size()) {
      fail("'" + t + "' is not a double's bits");
      return;
    }
    std::memcpy(&x, &bits, 8);
  }
  void operator()(std::string& x) {
    std::string t = next();
    if (!ok()) return;
    if (t.empty() || t[0] != 's') return fail("'" + t + "' is not a string");
    x.clear();
    for (size_t k = 1; k < t.size(); ++k) {
      if (t[k] != '%') {
        if (!plainChar(t[k])) return fail("'" + t + "' is not a string");
        x += t[k];
        continue;
      }
      unsigned v = 0;
      if (k + 2 >= t.size() || std::from_chars(t.data() + k + 1, t.data() + k + 3, v, 16).ptr != t.data() + k + 3)
        return fail("'" + t + "' is not a string");
      x += (char)v;
      k += 2;
    }
  }
  template <class E, class F> void named(E* x, int count, F name, const char* what) {
    std::string t = next();
    if (ok() && !enumFromName(t, count, name, x)) fail("unknown " + std::string(what) + " '" + t + "'");
  }
  void operator()(DType& x) {
    std::string t = next();
    if (ok() && !dtypeFromName(t, &x)) fail("unknown dtype '" + t + "'");
  }
  void operator()(BinOp& x) { named(&x, kBinOps, binName, "binary operation"); }
  void operator()(UnOp& x) { named(&x, kUnOps, unName, "unary operation"); }
  void operator()(FusedOp::Kind& x) { named(&x, kKinds, kindName, "operation kind"); }
  void operator()(FusedKernel::In& x) { named(&x, kIns, inName, "input kind"); }
  void operator()(FusedReduce::Op& x) { named(&x, kReduceOps, reduceName, "reduction"); }
  void operator()(bool& x) {
    std::string t = next();
    if (ok() && t != "0" && t != "1") fail("'" + t + "' is not a bool");
    x = t == "1";
  }
  template <class T> void operator()(std::vector<T>& xs) {
    size_t n = 0;
    integer(&n);
    // Each element is at least one token: a count beyond what is left is corrupt.
    if (ok() && n > toks.size() - at) fail("a count of " + std::to_string(n) + " beyond the spec's end");
    if (!ok()) return;
    xs.assign(n, T{});
    for (T& x : xs) (*this)(x);
  }
  void expect(const char* t) {
    std::string got = next();
    if (ok() && got != t) fail("'" + std::string(t) + "' expected, found '" + got + "'");
  }
  template <class T> void structure(T& x) {
    expect("{");
    fieldsOf(*this, x);
    expect("}");
  }
  void operator()(FusedKernel::Input& x) { structure(x); }
  void operator()(FusedOp& x) { structure(x); }
  void operator()(FusedReduce& x) { structure(x); }
  void operator()(FusedSpec& x) { structure(x); }
};

bool codegenDType(DType d) { return d != DType::F16 && d != DType::BF16; }

// What KernelGen relies on: operands of earlier values, inputs and outputs that exist,
// dtypes it has code for. "" when the spec is well formed.
std::string validate(const FusedSpec& s) {
  const int nin = (int)s.inputs.size(), nops = (int)s.ops.size();
  if (nops == 0) return "a spec without operations";
  if ((int)s.innerStride.size() != nin) return "an inner stride per input expected";
  for (int k = 0; k < nin; ++k) {
    const FusedKernel::Input& in = s.inputs[(size_t)k];
    if (!codegenDType(in.dtype) || in.rank < 0 || in.rank > 64) return "input " + std::to_string(k) + " is invalid";
    if (s.innerStride[(size_t)k] != 0 && s.innerStride[(size_t)k] != 1) return "an inner stride is not 0 or 1";
  }
  for (int k = 0; k < nops; ++k) {
    const FusedOp& o = s.ops[(size_t)k];
    auto val = [&](int v) { return v >= 0 && v < k; };
    bool ok = codegenDType(o.dt);
    switch (o.kind) {
      case FusedOp::Kind::Input: ok = ok && o.a >= 0 && o.a < nin; break;
      case FusedOp::Kind::ConstI: case FusedOp::Kind::ConstF: break;
      case FusedOp::Kind::Cast: case FusedOp::Kind::Un: ok = ok && val(o.a); break;
      case FusedOp::Kind::Bin: ok = ok && val(o.a) && val(o.b); break;
      case FusedOp::Kind::Where: ok = ok && val(o.a) && val(o.b) && val(o.c); break;
    }
    if (!ok) return "operation %" + std::to_string(k) + " is invalid";
  }
  if (!codegenDType(s.outDType) || s.outRank < 0 || s.outRank > 64) return "the output is invalid";
  for (int v : s.outputs)
    if (v < 0 || v >= nops) return "an output is not a value of the spec";
  size_t nout = s.outputValues().size();
  for (const auto& var : s.inplace) {
    if (var.size() != nout) return "an in-place variant has not one input per output";
    for (int q : var)
      if (q < -1 || q >= nin) return "an in-place variant names no input";
  }
  // A reduction epilogue reduces one float output and is never in place (FusedReduce).
  if (s.reduce.op != FusedReduce::Op::None) {
    if (nout != 1 || !s.inplace.empty()) return "a reduction with several outputs or in place";
    DType rd = s.ops[(size_t)s.outputValues()[0]].dt;
    if (rd != DType::F32 && rd != DType::F64) return "a reduction of a non-float output";
  }
  return "";
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

constexpr const char* kHeader = "msl compiled record 1";

}  // namespace

std::string specToText(const FusedSpec& spec) {
  FusedSpec copy = spec;
  Writer w;
  w(copy);
  return w.s;
}

bool specFromText(const std::string& text, FusedSpec* spec, std::string* err) {
  Reader r;
  size_t start = 0;
  while (start < text.size()) {
    size_t sp = text.find(' ', start);
    if (sp == std::string::npos) sp = text.size();
    r.toks.push_back(text.substr(start, sp - start));
    start = sp + 1;
  }
  FusedSpec s;
  r(s);
  if (r.ok() && r.at != r.toks.size()) r.fail("text after the spec");
  if (r.ok()) r.err = validate(s);
  if (!r.ok()) {
    *err = r.err;
    return false;
  }
  *spec = std::move(s);
  return true;
}

std::string kernelKey(const FusedSpec& spec, const KernelOptions& opt) {
  FusedSpec s = spec;
  s.name.clear();
  s.inplace.clear();
  return std::string(opt.fastExp ? "fastexp " : "") + specToText(s);
}

void CompiledRecord::addKernel(const FusedSpec& spec, const KernelOptions& opt) {
  if (!keys_.insert(kernelKey(spec, opt)).second) return;
  kernels.push_back({spec, opt.fastExp});
}

void CompiledRecord::addPlan(const std::string& plan) {
  if (planSet_.insert(plan).second) plans.push_back(plan);
}

std::string CompiledRecord::text() const {
  std::string s = std::string(kHeader) + "\n";
  for (const Kernel& k : kernels) s += std::string("kernel ") + (k.fastExp ? "1 " : "0 ") + specToText(k.spec) + "\n";
  for (const std::string& p : plans) s += "plan " + p + "\n";
  char buf[40];
  std::snprintf(buf, sizeof buf, "end %016llx\n", (unsigned long long)fnv1a(s));
  return s + buf;
}

bool CompiledRecord::parse(const std::string& text, CompiledRecord* out, std::string* err) {
  CompiledRecord r;
  size_t start = 0;
  int line = 0;
  auto fail = [&](const std::string& what) {
    *err = "line " + std::to_string(line) + ": " + what;
    return false;
  };
  bool ended = false;
  while (start < text.size()) {
    ++line;
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) return fail("the file ends in the middle of a line");
    std::string l = text.substr(start, nl - start);
    if (ended) return fail("text after the end line");
    if (line == 1) {
      if (l != kHeader) return fail("not a record of msl run --record-compiled (header '" + std::string(kHeader) + "' expected)");
    } else if (l.rfind("kernel ", 0) == 0) {
      if (l.size() < 9 || (l[7] != '0' && l[7] != '1') || l[8] != ' ') return fail("a kernel line without its options");
      FusedSpec spec;
      std::string why;
      if (!specFromText(l.substr(9), &spec, &why)) return fail("corrupt kernel spec: " + why);
      KernelOptions o;
      o.fastExp = l[7] == '1';
      r.addKernel(spec, o);
    } else if (l.rfind("plan ", 0) == 0) {
      std::string p = l.substr(5);
      std::vector<ir::HostOp> ops;
      if (!ir::parseHostPlanText(p, &ops)) return fail("corrupt plan '" + p.substr(0, 40) + "'");
      r.addPlan(p);
    } else if (l.rfind("end ", 0) == 0) {
      char buf[24];
      std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)fnv1a(text.substr(0, start)));
      if (l.substr(4) != buf) return fail("the checksum does not match: the file was altered");
      ended = true;
    } else {
      return fail("unknown line '" + l.substr(0, 40) + "'");
    }
    start = nl + 1;
  }
  if (line == 0) return fail("the file is empty");
  if (!ended) return fail("the file ends before its end line (truncated)");
  *out = std::move(r);
  return true;
}

}  // namespace msl::codegen
