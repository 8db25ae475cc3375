// NumPy 1.24's printing of arrays with default print options (threshold 1000, edgeitems 3,
// linewidth 75, precision 8, floatmode 'maxprec', sign '-'), as tensorStr (print(a),
// str(a)) and tensorRepr (repr(a) with "array(" spelled "tensor(").
//
// The structure follows numpy/core/arrayprint.py: a format function is chosen from the
// (summarised) data — BoolFormat, IntegerFormat or FloatingFormat — and _formatArray lays
// the elements out with line wrapping. Float digits are NumPy's Dragon4 in "unique" mode:
// the shortest digits that identify the value among values of its own dtype (to_chars for
// f32/f64, a search for f16/bf16), cut at `precision` fraction digits by correctly rounding
// the exact value when the shortest digits are longer.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>

#include "runtime/Kernels.h"
#include "runtime/Print.h"

namespace msl {

namespace {

// ------------------------------------------------------------------ decimal digits
// |x| = d.ddd * 10^exp with `digits` = "dddd" (no trailing zeros unless "0").
struct Decimal {
  std::string digits;
  int exp = 0;
};

// Parses to_chars' scientific output "d.ddde+XX" / "de-XX".
Decimal parseScientific(const char* s, const char* end) {
  Decimal d;
  const char* e = std::find(s, end, 'e');
  for (const char* p = s; p < e; ++p)
    if (*p != '.') d.digits += *p;
  const char* x = e + 1;
  if (x < end && *x == '+') ++x;
  std::from_chars(x, end, d.exp);
  return d;
}

Decimal sciDigits(double ax, int precision) {  // precision < 0: shortest for a double
  char buf[64];
  auto r = precision < 0 ? std::to_chars(buf, buf + sizeof buf, ax, std::chars_format::scientific)
                         : std::to_chars(buf, buf + sizeof buf, ax, std::chars_format::scientific, precision);
  return parseScientific(buf, r.ptr);
}

void stripTrailingZeros(std::string& s) {
  while (s.size() > 1 && s.back() == '0') s.pop_back();
}

// Rounds a double to the 16-bit float `dt` (via f32; exact for short decimals).
double roundTo16(double v, DType dt) {
  float f = (float)v;
  return dt == DType::F16 ? halfToFloat(floatToHalf(f)) : bf16ToFloat(floatToBf16(f));
}

// Shortest digits that read back as `ax` in dtype `dt` (ax finite, >= 0).
Decimal shortest(double ax, DType dt) {
  if (ax == 0) return {"0", 0};
  if (dt == DType::F64) return sciDigits(ax, -1);
  if (dt != DType::F16 && dt != DType::BF16) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, (float)ax, std::chars_format::scientific);
    return parseScientific(buf, r.ptr);
  }
  // f16/bf16: the first length at which a nearest-rounded candidate, or a neighbour one
  // unit away in the last digit, reads back as the value; the closest such candidate.
  for (int p = 0; p < 17; ++p) {
    Decimal near = sciDigits(ax, p);
    double best = -1, bestDist = INFINITY;
    Decimal bestDec;
    for (int delta : {0, -1, 1}) {  // the nearest first: it wins ties (half to even)
      double mant = std::stod(near.digits) + delta;
      if (mant <= 0) continue;
      double cand = std::stod(std::to_string((long long)mant) + "e" + std::to_string(near.exp - p));
      if (roundTo16(cand, dt) != ax) continue;
      double dist = std::fabs(cand - ax);
      if (dist < bestDist) {
        bestDist = dist;
        best = cand;
      }
    }
    if (best >= 0) {
      Decimal d = sciDigits(best, p);
      stripTrailingZeros(d.digits);
      return d;
    }
  }
  return sciDigits(ax, -1);
}

// Dragon4 trim modes (numpy/core/src/multiarray/dragon4.h).
enum class Trim { Keep /*'k'*/, Zeros /*'.'*/, LeaveOneZero /*'0'*/, DptZeros /*'-'*/ };

// NumPy's format_float_positional(x, precision, unique=True, fractional=True, trim,
// min_digits, pad_left, pad_right) for a finite x of dtype dt; precision < 0: unlimited,
// minDigits < 0: not given.
std::string positional(double x, DType dt, int precision, Trim trim, int minDigits = -1, int padLeft = -1,
                       int padRight = -1) {
  double ax = std::fabs(x);
  Decimal d = shortest(ax, dt);
  int n = (int)d.digits.size();
  int fracDigits = std::max(0, n - 1 - d.exp);
  std::string ip, fp;
  // Dragon4 stops at the shortest unique digits, but not before `precision` fraction
  // digits and, when min_digits is given, not before the units digit and min_digits
  // fraction digits; then the digits are those of the exact value, rounded there.
  int cut = -1;
  if (precision >= 0 && fracDigits > precision) cut = precision;
  else if (minDigits >= 0 && (minDigits > fracDigits || d.exp + 1 > n)) cut = std::max(minDigits, fracDigits);
  if (cut >= 0) {
    char buf[400];
    auto r = std::to_chars(buf, buf + sizeof buf, ax, std::chars_format::fixed, cut);
    std::string s(buf, r.ptr);
    size_t dot = s.find('.');
    ip = s.substr(0, dot);
    fp = dot == std::string::npos ? "" : s.substr(dot + 1);
  } else if (d.exp >= 0) {
    ip = d.digits.substr(0, std::min(n, d.exp + 1)) + std::string(std::max(0, d.exp + 1 - n), '0');
    fp = n > d.exp + 1 ? d.digits.substr(d.exp + 1) : "";
  } else {
    ip = "0";
    fp = std::string(-d.exp - 1, '0') + d.digits;
  }
  if (trim != Trim::Keep)
    while (!fp.empty() && fp.back() == '0') fp.pop_back();
  if (minDigits > 0 && (int)fp.size() < minDigits) fp.append(minDigits - fp.size(), '0');
  if (trim == Trim::LeaveOneZero && fp.empty()) fp = "0";
  std::string out = (std::signbit(x) ? "-" : "") + ip;
  if ((int)out.size() < padLeft) out.insert(0, padLeft - out.size(), ' ');
  if (!(trim == Trim::DptZeros && fp.empty())) out += "." + fp;
  if ((int)fp.size() < padRight) out.append(padRight - fp.size(), ' ');
  return out;
}

// NumPy's format_float_scientific(x, precision, unique=True, trim, min_digits, pad_left,
// exp_digits) for a finite x.
std::string scientific(double x, DType dt, int precision, Trim trim, int minDigits = -1, int padLeft = -1,
                       int expDigits = -1) {
  double ax = std::fabs(x);
  Decimal d = shortest(ax, dt);
  int fracDigits = (int)d.digits.size() - 1;
  if (precision >= 0 && fracDigits > precision) d = sciDigits(ax, precision);
  else if (minDigits > fracDigits) d = sciDigits(ax, minDigits);  // more digits of the exact value
  std::string fp = d.digits.substr(1);
  if (trim != Trim::Keep)
    while (!fp.empty() && fp.back() == '0') fp.pop_back();
  if (minDigits > 0 && (int)fp.size() < minDigits) fp.append(minDigits - fp.size(), '0');
  if (trim == Trim::LeaveOneZero && fp.empty()) fp = "0";
  std::string out = (std::signbit(x) ? "-" : "") + d.digits.substr(0, 1);
  if ((int)out.size() < padLeft) out.insert(0, padLeft - out.size(), ' ');
  if (!(trim == Trim::DptZeros && fp.empty())) out += "." + fp;
  int e = d.exp;
  std::string ed = std::to_string(e < 0 ? -e : e);
  int width = expDigits < 0 ? 2 : std::min(expDigits, 5);
  if ((int)ed.size() < width) ed.insert(0, width - ed.size(), '0');
  return out + "e" + (e < 0 ? "-" : "+") + ed;
}

std::string nonFinite(double x) { return x != x ? "nan" : x < 0 ? "-inf" : "inf"; }

// ------------------------------------------------------------------ format functions
// FloatingFormat(data, precision=8, floatmode='maxprec', suppress_small=False, sign='-').
struct FloatFormat {
  DType dt;
  bool expFormat = false;
  int padLeft = 0, padRight = 0, precision = 8, minDigits = 0, expSize = -1;
  Trim trim = Trim::Zeros;

  FloatFormat(const std::vector<double>& data, DType dtype) : dt(dtype) {
    std::vector<double> finite;
    for (double v : data)
      if (std::isfinite(v)) finite.push_back(v);
    double maxv = -1, minv = INFINITY;
    for (double v : finite)
      if (v != 0) {
        maxv = std::max(maxv, std::fabs(v));
        minv = std::min(minv, std::fabs(v));
      }
    if (maxv >= 0 && (maxv >= 1e8 || minv < 1e-4 || ratio(maxv, minv) > 1000.)) expFormat = true;
    if (finite.empty()) {
      trim = Trim::Zeros;
    } else if (expFormat) {
      int maxFrac = 0, maxInt = 0, maxExp = 0;
      for (double v : finite) {
        std::string s = scientific(v, dt, precision, Trim::Zeros);
        size_t dot = s.find('.'), e = s.find('e');
        maxInt = std::max(maxInt, (int)dot);
        maxFrac = std::max(maxFrac, (int)(e - dot - 1));
        maxExp = std::max(maxExp, (int)(s.size() - e - 1));
      }
      expSize = maxExp - 1;
      trim = Trim::Keep;
      precision = minDigits = maxFrac;
      padLeft = maxInt;
      padRight = expSize + 2 + precision;
    } else {
      for (double v : finite) {
        std::string s = positional(v, dt, precision, Trim::Zeros);
        size_t dot = s.find('.');
        padLeft = std::max(padLeft, (int)dot);
        padRight = std::max(padRight, (int)(s.size() - dot - 1));
      }
      trim = Trim::Zeros;
      minDigits = 0;
    }
    if (finite.size() != data.size()) {
      bool negInf = false;
      for (double v : data) negInf |= std::isinf(v) && v < 0;
      int offset = padRight + 1;
      padLeft = std::max({padLeft, 3 - offset, 3 + (int)negInf - offset});
    }
  }

  // max/min in the array's own float type, as NumPy divides its scalars.
  double ratio(double maxv, double minv) const {
    switch (dt) {
      case DType::F64: return maxv / minv;
      case DType::F32: return (double)((float)maxv / (float)minv);
      default: return roundTo16((double)((float)maxv / (float)minv), dt);
    }
  }

  std::string operator()(double x) const {
    if (!std::isfinite(x)) {
      std::string r = nonFinite(x);
      int width = padLeft + padRight + 1;
      return std::string(std::max(0, width - (int)r.size()), ' ') + r;
    }
    if (expFormat) return scientific(x, dt, precision, trim, minDigits, padLeft, expSize);
    return positional(x, dt, precision, trim, minDigits, padLeft, padRight);
  }
};

// ------------------------------------------------------------------ layout
bool isDefaultDType(DType dt) { return dt == DType::F32 || dt == DType::I64 || dt == DType::Bool; }

std::string rstrip(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
  return s;
}

// array2string for a tensor with at least one element and ndim >= 0.
class ArrayPrinter {
 public:
  ArrayPrinter(const Tensor& t, std::string separator, int lineWidth)
      : t_(t.contiguous()), sep_(std::move(separator)), width_(lineWidth) {
    strides_ = contiguousStrides(t_.shape());
    summarize_ = t_.numel() > kThreshold;
    std::vector<int64_t> shown;
    collect(0, 0, &shown);
    DType dt = t_.dtype();
    if (dt == DType::Bool) {
      trueStr_ = t_.ndim() > 0 ? " True" : "True";
    } else if (isFloat(dt)) {
      std::vector<double> vals;
      for (int64_t i : shown) vals.push_back(t_.getF64(i));
      floatFmt_.emplace(vals, dt);
    } else {
      size_t w = 0;
      int64_t mx = INT64_MIN, mn = INT64_MAX;
      for (int64_t i : shown) {
        mx = std::max(mx, t_.getI64(i));
        mn = std::min(mn, t_.getI64(i));
      }
      w = std::max(std::to_string(mx).size(), std::to_string(mn).size());
      intWidth_ = (int)w;
    }
  }

  // _formatArray with next_line_prefix of `prefixLen + 1` spaces.
  std::string format(size_t prefixLen) { return recurse(0, 0, std::string(prefixLen + 1, ' '), width_); }

 private:
  static constexpr int64_t kThreshold = 1000;
  static constexpr int64_t kEdge = 3;

  // Flat indices of the elements shown (NumPy's _leading_trailing).
  void collect(int64_t base, int axis, std::vector<int64_t>* out) {
    if (axis == t_.ndim()) {
      out->push_back(base);
      return;
    }
    int64_t n = t_.dim(axis);
    for (int64_t i = 0; i < n; ++i) {
      if (summarize_ && n > 2 * kEdge && i == kEdge) i = n - kEdge;
      collect(base + i * strides_[axis], axis + 1, out);
    }
  }

  std::string element(int64_t flat) const {
    DType dt = t_.dtype();
    if (dt == DType::Bool) return t_.getI64(flat) ? trueStr_ : "False";
    if (isFloat(dt)) return (*floatFmt_)(t_.getF64(flat));
    std::string s = std::to_string(t_.getI64(flat));
    return std::string(std::max(0, intWidth_ - (int)s.size()), ' ') + s;
  }

  static void extendLine(std::string& s, std::string& line, const std::string& word, int width,
                         const std::string& nextPrefix) {
    bool wrap = line.size() + word.size() > (size_t)width;
    if (line.size() <= nextPrefix.size()) wrap = false;  // wrapping would not help
    if (wrap) {
      s += rstrip(line) + "\n";
      line = nextPrefix;
    }
    line += word;
  }

  std::string recurse(int64_t base, int axis, const std::string& hanging, int width) {
    int axesLeft = t_.ndim() - axis;
    if (axesLeft == 0) return element(base);
    std::string nextHanging = hanging + " ";
    int nextWidth = width - 1;
    int64_t n = t_.dim(axis), st = strides_[axis];
    bool showSummary = summarize_ && 2 * kEdge < n;
    int64_t lead = showSummary ? kEdge : 0, trail = showSummary ? kEdge : n;
    std::string s;
    std::string sepStripped = rstrip(sep_);
    if (axesLeft == 1) {
      int elemWidth = width - std::max((int)sepStripped.size(), 1);
      std::string line = hanging;
      for (int64_t i = 0; i < lead; ++i) {
        extendLine(s, line, recurse(base + i * st, axis + 1, nextHanging, nextWidth), elemWidth, hanging);
        line += sep_;
      }
      if (showSummary) {
        extendLine(s, line, "...", elemWidth, hanging);
        line += sep_;
      }
      for (int64_t i = trail; i > 1; --i) {
        extendLine(s, line, recurse(base + (n - i) * st, axis + 1, nextHanging, nextWidth), elemWidth, hanging);
        line += sep_;
      }
      extendLine(s, line, recurse(base + (n - 1) * st, axis + 1, nextHanging, nextWidth), elemWidth, hanging);
      s += line;
    } else {
      std::string lineSep = sepStripped + std::string(axesLeft - 1, '\n');
      for (int64_t i = 0; i < lead; ++i) s += hanging + recurse(base + i * st, axis + 1, nextHanging, nextWidth) + lineSep;
      if (showSummary) s += hanging + "..." + lineSep;
      for (int64_t i = trail; i > 1; --i)
        s += hanging + recurse(base + (n - i) * st, axis + 1, nextHanging, nextWidth) + lineSep;
      s += hanging + recurse(base + (n - 1) * st, axis + 1, nextHanging, nextWidth);
    }
    return "[" + s.substr(hanging.size()) + "]";
  }

  Tensor t_;
  Shape strides_;
  std::string sep_;
  int width_;
  bool summarize_ = false;
  std::string trueStr_;
  std::optional<FloatFormat> floatFmt_;
  int intWidth_ = 0;
};

// str() of a NumPy scalar: what a 0-d tensor prints as.
std::string scalarStr(const Tensor& t) {
  DType dt = t.dtype();
  if (dt == DType::Bool) return t.getI64(0) ? "True" : "False";
  if (!isFloat(dt)) return std::to_string(t.getI64(0));
  double x = t.getF64(0);
  if (!std::isfinite(x)) return nonFinite(x);
  double ax = std::fabs(x);
  if (ax == 0 || (ax >= 1e-4 && ax < 1e16)) return positional(x, dt, -1, Trim::LeaveOneZero);
  return scientific(x, dt, -1, Trim::DptZeros);
}

}  // namespace

std::string tensorStr(const Tensor& t) {
  if (t.ndim() == 0) return scalarStr(t);
  if (t.numel() == 0) return "[]";
  return ArrayPrinter(t, " ", 75).format(0);
}

std::string tensorRepr(const Tensor& t) {
  const std::string prefix = "tensor(";
  bool skipDType = isDefaultDType(t.dtype()) && t.numel() > 0;
  std::string suffix = skipDType ? ")" : ",";
  std::string body;
  if (t.numel() > 0) body = ArrayPrinter(t, ", ", 75 - (int)suffix.size()).format(prefix.size());
  else if (t.shape() == Shape{0}) body = "[]";
  else body = "[], shape=" + shapeStr(t.shape());
  std::string out = prefix + body + suffix;
  if (skipDType) return out;
  std::string dtypeStr = std::string("dtype=") + dtypeName(t.dtype()) + ")";
  size_t nl = out.rfind('\n');
  size_t lastLine = out.size() - (nl == std::string::npos ? 0 : nl + 1);
  std::string spacer = lastLine + dtypeStr.size() + 1 > 75 ? "\n" + std::string(prefix.size(), ' ') : " ";
  return out + spacer + dtypeStr;
}

}  // namespace msl
