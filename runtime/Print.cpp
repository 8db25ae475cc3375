// str(), repr(), Python's float repr and format mini-language, and the program's stdout.
#include "runtime/Print.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "ir/Diagnostics.h"
#include "ir/IR.h"
#include "ir/Prim.h"
#include "runtime/Host.h"
#include "runtime/Utf8.h"

namespace msl {

// ====================================================================== float digits
namespace {

// The decimal digits of a finite, non-negative double: `digits` without leading or
// trailing zeros ("0" for zero) and the position of the decimal point, so that the value
// is 0.<digits> * 10^decpt.
struct Decimal {
  std::string digits;
  int decpt = 1;
};

// Parses to_chars' scientific output "d[.ddd]e[+-]XX".
Decimal fromScientific(std::string_view s) {
  Decimal d;
  size_t e = s.find('e');
  for (size_t i = 0; i < e; ++i)
    if (s[i] != '.') d.digits += s[i];
  int exp = 0;
  std::from_chars(s.data() + e + 1 + (s[e + 1] == '+'), s.data() + s.size(), exp);
  d.decpt = exp + 1;
  while (d.digits.size() > 1 && d.digits.back() == '0') d.digits.pop_back();
  if (d.digits == "0") d.decpt = 1;
  return d;
}

// Shortest digits that round-trip (Python's repr).
Decimal shortestDigits(double ax) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, ax, std::chars_format::scientific);
  return fromScientific(std::string_view(buf, r.ptr - buf));
}

// `n` >= 1 significant digits, correctly rounded.
Decimal significantDigits(double ax, int n) {
  std::string buf(n + 16, '\0');
  auto r = std::to_chars(buf.data(), buf.data() + buf.size(), ax, std::chars_format::scientific, n - 1);
  return fromScientific(std::string_view(buf.data(), r.ptr - buf.data()));
}

// Digits up to `n` places after the decimal point, correctly rounded.
Decimal fixedDigits(double ax, int n) {
  std::string buf(n + 330, '\0');
  auto r = std::to_chars(buf.data(), buf.data() + buf.size(), ax, std::chars_format::fixed, n);
  std::string_view s(buf.data(), r.ptr - buf.data());
  size_t dot = s.find('.');
  Decimal d;
  d.decpt = (int)(dot == std::string_view::npos ? s.size() : dot);
  for (char c : s)
    if (c != '.') d.digits += c;
  size_t lead = d.digits.find_first_not_of('0');
  if (lead == std::string::npos) return Decimal{"0", 1};
  d.digits.erase(0, lead);
  d.decpt -= (int)lead;
  while (d.digits.size() > 1 && d.digits.back() == '0') d.digits.pop_back();
  return d;
}

// Lays out |x| as CPython's format_float_short does. code: 'r' (shortest, exponent outside
// 1e-4 <= x < 1e16), 'e', 'f', 'g' with `prec`. addDot0: a fixed-notation integer gets
// ".0" (repr, and the format type ''); alt: the '#' option (keep the point and zeros).
std::string floatBody(double ax, char code, int prec, bool addDot0, bool alt, char expChar) {
  Decimal d;
  switch (code) {
    case 'r': d = shortestDigits(ax); break;
    case 'e': d = significantDigits(ax, prec + 1); break;
    case 'g': if (prec == 0) prec = 1; d = significantDigits(ax, prec); break;
    default: d = fixedDigits(ax, prec); break;
  }
  int ndig = (int)d.digits.size();
  int decpt = d.decpt;
  int vend = ndig;
  bool useExp = false;
  switch (code) {
    case 'e': useExp = true; vend = prec + 1; break;
    case 'f': vend = decpt + prec; break;
    case 'g':
      useExp = decpt <= -4 || decpt > (addDot0 ? prec - 1 : prec);
      if (alt) vend = prec;
      break;
    default: useExp = decpt <= -4 || decpt > 16; break;
  }
  int exp = 0;
  if (useExp) { exp = decpt - 1; decpt = 1; }
  int vstart = decpt <= 0 ? decpt - 1 : 0;
  vend = std::max(vend, (!useExp && addDot0) ? decpt + 1 : decpt);

  std::string out;
  if (decpt <= 0) {
    out.append(decpt - vstart, '0');
    out += '.';
    out.append(-decpt, '0');
    out += d.digits;
  } else {
    out.append(-vstart, '0');
    if (decpt <= ndig) {
      out.append(d.digits, 0, decpt);
      out += '.';
      out.append(d.digits, decpt, std::string::npos);
    } else {
      out += d.digits;
    }
  }
  if (ndig < decpt) {
    out.append(decpt - ndig, '0');
    out += '.';
    out.append(vend - decpt, '0');
  } else {
    out.append(vend - ndig, '0');
  }
  if (out.back() == '.' && !alt) out.pop_back();
  if (useExp) {
    char buf[16];
    snprintf(buf, sizeof buf, "%c%+.02d", expChar, exp);
    out += buf;
  }
  return out;
}

}  // namespace

std::string floatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  std::string body = floatBody(std::fabs(d), 'r', 0, true, false, 'e');
  return std::signbit(d) ? "-" + body : body;
}

// ====================================================================== format specs
namespace {

[[noreturn]] void formatError(const std::string& msg) { raise(DiagId::ValueError, SourceLoc{}, {msg}); }

struct FormatSpec {
  std::string fill = " ";
  bool fillGiven = false;
  char align = 0;     // '<' '>' '^' '=' or 0 (the type's default)
  char sign = 0;      // '+' '-' ' ' or 0
  bool noNegZero = false;  // 'z'
  bool alt = false;        // '#'
  int64_t width = -1;
  char grouping = 0;       // ',' '_' or 0
  int64_t precision = -1;
  char type = 0;
};

bool isAlign(uint32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; }

// Parses [[fill]align][sign][z][#][0][width][grouping][.precision][type] for a value
// whose type is `typeName` (used in messages); `numeric` picks the default alignment
// that a '0' flag turns into '='.
FormatSpec parseSpec(const std::string& spec, const char* typeName, bool numeric) {
  FormatSpec f;
  size_t i = 0, n = spec.size();
  size_t second = 0;
  if (n > 0) { utf8Next(spec, &second); }
  if (second < n && isAlign((unsigned char)spec[second])) {
    f.fill = spec.substr(0, second);
    f.fillGiven = true;
    f.align = spec[second];
    i = second + 1;
  } else if (n > 0 && isAlign((unsigned char)spec[0])) {
    f.align = spec[0];
    i = 1;
  }
  if (i < n && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) f.sign = spec[i++];
  if (i < n && spec[i] == 'z') { f.noNegZero = true; ++i; }
  if (i < n && spec[i] == '#') { f.alt = true; ++i; }
  if (!f.fillGiven && i < n && spec[i] == '0') {
    f.fill = "0";
    if (!f.align && numeric) f.align = '=';
    ++i;
  }
  auto readNumber = [&](int64_t* out) {
    size_t start = i;
    int64_t v = 0;
    while (i < n && spec[i] >= '0' && spec[i] <= '9') {
      if (v > 100000000) formatError("Too many decimal digits in format string");
      v = v * 10 + (spec[i++] - '0');
    }
    if (i > start) *out = v;
    return i > start;
  };
  readNumber(&f.width);
  if (i < n && (spec[i] == ',' || spec[i] == '_')) {
    f.grouping = spec[i++];
    if (i < n && (spec[i] == ',' || spec[i] == '_')) formatError("Cannot specify both ',' and '_'.");
  }
  if (i < n && spec[i] == '.') {
    ++i;
    if (!readNumber(&f.precision)) formatError("Format specifier missing precision");
  }
  if (n - i > 1) formatError("Invalid format specifier '" + spec + "' for object of type '" + typeName + "'");
  if (i < n) f.type = spec[i];
  if (f.grouping) {
    // Grouping applies to decimal numbers (no type included: strchr finds the NUL); '_'
    // also to b, o, x, X (every four digits).
    bool ok = strchr("deEfFgG%", f.type) != nullptr || (f.grouping == '_' && strchr("boxX", f.type));
    if (!ok) formatError(std::string("Cannot specify '") + f.grouping + "' with '" + f.type + "'.");
  }
  return f;
}

// Pads `body` (whose sign and prefix come first) to the spec's width. '=' pads between
// `lead` (sign and prefix) and the rest.
std::string pad(const FormatSpec& f, const std::string& lead, const std::string& body, char defaultAlign) {
  int64_t len = utf8Length(lead) + utf8Length(body);
  if (f.width <= len) return lead + body;
  int64_t padding = f.width - len;
  char align = f.align ? f.align : defaultAlign;
  auto fill = [&](int64_t k) {
    std::string s;
    for (int64_t j = 0; j < k; ++j) s += f.fill;
    return s;
  };
  switch (align) {
    case '<': return lead + body + fill(padding);
    case '^': return fill(padding / 2) + lead + body + fill(padding - padding / 2);
    case '=': return lead + fill(padding) + body;
    default: return fill(padding) + lead + body;
  }
}

// Inserts `sep` every `group` digits from the right, padding with zeros to at least
// `minWidth` characters as CPython does for '0' fill with '=' alignment.
std::string groupDigits(const std::string& digits, char sep, int group, int64_t minWidth) {
  std::string out;  // built right to left
  int64_t remaining = (int64_t)digits.size();
  bool useSep = false;
  while (true) {
    int64_t l = std::min<int64_t>(group, std::max<int64_t>(std::max(remaining, minWidth), 1));
    int64_t zeros = std::max<int64_t>(0, l - remaining);
    int64_t chars = std::max<int64_t>(0, std::min(remaining, l));
    if (useSep) out += sep;
    for (int64_t k = 0; k < chars; ++k) out += digits[remaining - 1 - k];
    out.append(zeros, '0');
    useSep = true;
    remaining -= chars;
    minWidth -= group;
    if (remaining <= 0 && minWidth <= 0) break;
    minWidth -= 1;
  }
  return std::string(out.rbegin(), out.rend());
}

// Assembles sign, prefix, digits (grouped if asked) and the remainder (point, fraction,
// exponent, '%'), then pads.
std::string assembleNumber(const FormatSpec& f, bool negative, const std::string& prefix,
                           const std::string& intDigits, const std::string& rest, int group) {
  std::string lead;
  if (negative) lead = "-";
  else if (f.sign == '+' || f.sign == ' ') lead = std::string(1, f.sign);
  lead += prefix;
  std::string digits = intDigits;
  bool zeroPad = f.fill == "0" && f.align == '=';
  if (f.grouping && !intDigits.empty()) {  // "inf" and "nan" have no digits to group
    int64_t minWidth = zeroPad ? f.width - (int64_t)lead.size() - (int64_t)rest.size() : 0;
    digits = groupDigits(intDigits, f.grouping, group, minWidth);
  }
  return pad(f, lead, digits + rest, '>');
}

std::string formatFloat(double x, const FormatSpec& f) {
  char type = f.type;
  switch (type) {
    case 0: case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'n': case '%': break;
    default: formatError(std::string("Unknown format code '") + type + "' for object of type 'float'");
  }
  bool upper = type == 'E' || type == 'F' || type == 'G';
  bool negative = std::signbit(x) && !std::isnan(x);
  double ax = std::fabs(x);
  std::string body;
  std::string suffix;
  if (type == '%') { ax *= 100; suffix = "%"; }
  if (std::isnan(x) || std::isinf(x)) {
    body = std::isnan(x) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf");
  } else {
    int prec = f.precision < 0 ? 6 : (int)f.precision;
    char expChar = upper ? 'E' : 'e';
    switch (type) {
      case 0:
        body = f.precision < 0 ? floatBody(ax, 'r', 0, true, f.alt, expChar)
                               : floatBody(ax, 'g', prec, true, f.alt, expChar);
        break;
      case 'e': case 'E': body = floatBody(ax, 'e', prec, false, f.alt, expChar); break;
      case 'f': case 'F': case '%': body = floatBody(ax, 'f', prec, false, f.alt, expChar); break;
      default: body = floatBody(ax, 'g', prec, false, f.alt, expChar); break;  // g G n
    }
    if (negative && f.noNegZero && body.find_first_of("123456789") >= body.find_first_of("eE"))
      negative = false;  // 'z': a value that rounds to zero loses its sign
  }
  size_t intEnd = body.find_first_not_of("0123456789");
  if (intEnd == std::string::npos) intEnd = body.size();
  return assembleNumber(f, negative, "", body.substr(0, intEnd), body.substr(intEnd) + suffix, 3);
}

std::string formatInt(int64_t v, const FormatSpec& f) {
  char type = f.type;
  switch (type) {
    case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case '%':
      return formatFloat((double)v, f);
    case 0: case 'd': case 'n': case 'b': case 'o': case 'x': case 'X': case 'c': break;
    default: formatError(std::string("Unknown format code '") + type + "' for object of type 'int'");
  }
  if (f.precision >= 0) formatError("Precision not allowed in integer format specifier");
  if (f.noNegZero) formatError("Negative zero coercion (z) not allowed in integer format specifier");
  uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  if (type == 'c') {
    if (f.sign) formatError("Sign not allowed with integer format specifier 'c'");
    if (f.alt) formatError("Alternate form (#) not allowed with integer format specifier 'c'");
    if (v < 0 || v > 0x10FFFF) formatError("%c arg not in range(0x110000)");
    std::string ch;
    utf8Append(ch, (uint32_t)v);
    return pad(f, "", ch, '>');
  }
  int base = 10;
  std::string prefix;
  switch (type) {
    case 'b': base = 2; prefix = "0b"; break;
    case 'o': base = 8; prefix = "0o"; break;
    case 'x': base = 16; prefix = "0x"; break;
    case 'X': base = 16; prefix = "0X"; break;
    default: break;
  }
  char buf[72];
  auto r = std::to_chars(buf, buf + sizeof buf, mag, base);
  std::string digits(buf, r.ptr);
  if (type == 'X')
    for (char& c : digits) c = (char)toupper((unsigned char)c);
  return assembleNumber(f, v < 0, f.alt ? prefix : "", digits, "", base == 10 ? 3 : 4);
}

std::string formatStr(const std::string& s, const FormatSpec& f) {
  if (f.type && f.type != 's') formatError(std::string("Unknown format code '") + f.type + "' for object of type 'str'");
  if (f.sign) formatError("Sign not allowed in string format specifier");
  if (f.noNegZero) formatError("Negative zero coercion (z) not allowed in string format specifier");
  if (f.alt) formatError("Alternate form (#) not allowed in string format specifier");
  if (f.align == '=') formatError("'=' alignment not allowed in string format specifier");
  if (f.grouping) formatError(std::string("Cannot specify '") + f.grouping + "' with 's'.");
  std::string body = f.precision >= 0 ? s.substr(0, utf8Offset(s, f.precision)) : s;
  return pad(f, "", body, '<');
}

}  // namespace

std::string formatWithSpec(const Value& v, const std::string& spec) {
  if (spec.empty()) return strOf(v);
  switch (v.kind()) {
    case VKind::Int: return formatInt(v.asInt(), parseSpec(spec, "int", true));
    case VKind::Bool: return formatInt(v.asBool(), parseSpec(spec, "int", true));
    case VKind::Float: return formatFloat(v.asFloat(), parseSpec(spec, "float", true));
    case VKind::Str: return formatStr(v.as<StrObj>()->s, parseSpec(spec, "str", false));
    case VKind::Tensor: {
      const Tensor& t = v.as<TensorObj>()->t;
      if (t.numel() == 1) return formatWithSpec(tensorElement(t, 0), spec);
      break;
    }
    default: break;
  }
  // Other values: their str, with fill, alignment and width only.
  FormatSpec f = parseSpec(spec, v.typeName(), false);
  if (f.sign || f.noNegZero || f.alt || f.grouping || f.precision >= 0 || f.type || f.align == '=')
    raise(DiagId::TypeError, SourceLoc{},
          {std::string("unsupported format string passed to ") + v.typeName() + ".__format__"});
  return pad(f, "", strOf(v), '<');
}

// ====================================================================== str and repr
namespace {

// Python's str.isprintable() for a code point outside ASCII (approximate: the separator,
// format and private-use code points Python escapes; unassigned ones are kept).
bool isPrintableNonAscii(uint32_t c) {
  if (c < 0xA1) return false;  // C1 controls and U+00A0
  if (c == 0xAD || c == 0x061C || c == 0x06DD || c == 0x070F || c == 0x180E || c == 0x1680 ||
      c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF)
    return false;
  if ((c >= 0x0600 && c <= 0x0605) || (c >= 0x2000 && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
      (c >= 0x2060 && c <= 0x206F) || (c >= 0xD800 && c <= 0xF8FF) || (c >= 0xFFF9 && c <= 0xFFFB) ||
      c == 0xFFFE || c == 0xFFFF || (c >= 0xE0000 && c <= 0xE007F) || c >= 0xF0000)
    return false;
  return true;
}

void appendHexEscape(std::string& out, char kind, uint32_t c, int digits) {
  static const char* hex = "0123456789abcdef";
  out += '\\';
  out += kind;
  for (int k = digits - 1; k >= 0; --k) out += hex[(c >> (4 * k)) & 0xF];
}

}  // namespace

std::string strRepr(const std::string& s) {
  bool hasSingle = s.find('\'') != std::string::npos;
  bool hasDouble = s.find('"') != std::string::npos;
  char quote = hasSingle && !hasDouble ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    uint32_t c = utf8Next(s, &i);
    if (c == (uint32_t)quote || c == '\\') { out += '\\'; out += (char)c; }
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7F) appendHexEscape(out, 'x', c, 2);
    else if (c < 0x80 || isPrintableNonAscii(c)) utf8Append(out, c);
    else if (c < 0x100) appendHexEscape(out, 'x', c, 2);
    else if (c < 0x10000) appendHexEscape(out, 'u', c, 4);
    else appendHexEscape(out, 'U', c, 8);
  }
  out += quote;
  return out;
}

namespace {

void appendRepr(std::string& out, const Value& v);

void appendItems(std::string& out, const std::vector<Value>& items) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    appendRepr(out, items[i]);
  }
}

std::string closureName(const Value& f) {
  const ir::Graph* g = f.as<ClosureObj>()->graph;
  return g ? g->name : "<lambda>";
}

// The text shared by str and repr for values that are not strings, tensors or containers.
void appendAtom(std::string& out, const Value& v) {
  switch (v.kind()) {
    case VKind::None: out += "None"; return;
    case VKind::Bool: out += v.asBool() ? "True" : "False"; return;
    case VKind::Int: out += std::to_string(v.asInt()); return;
    case VKind::Float: out += floatRepr(v.asFloat()); return;
    case VKind::DTypeV: out += dtypeName(v.asDType()); return;
    case VKind::Prim: out += "<built-in function "; out += primName((Prim)v.primId()); out += '>'; return;
    case VKind::Undef: out += "<undefined>"; return;
    case VKind::Token: out += "<state>"; return;
    case VKind::Class: out += "<class '" + v.as<ClassObj>()->name + "'>"; return;
    case VKind::Closure: out += "<function " + closureName(v) + ">"; return;
    case VKind::BoundMethod: {
      const BoundMethodObj* m = v.as<BoundMethodObj>();
      out += "<bound method ";
      out += m->self.typeName();
      out += "." + m->name + ">";
      return;
    }
    case VKind::Partial: {
      const PartialObj* p = v.as<PartialObj>();
      out += "partial(";
      appendRepr(out, p->func);
      for (const Value& a : p->args) { out += ", "; appendRepr(out, a); }
      for (const auto& [k, a] : p->kwargs) { out += ", " + k + "="; appendRepr(out, a); }
      out += ')';
      return;
    }
    case VKind::Module: out += "<module>"; return;
    case VKind::Ellipsis: out += "Ellipsis"; return;
    case VKind::Range: {
      const RangeObj* r = v.as<RangeObj>();
      out += "range(" + std::to_string(r->start) + ", " + std::to_string(r->stop);
      if (r->step != 1) out += ", " + std::to_string(r->step);
      out += ')';
      return;
    }
    case VKind::Slice: {
      const SliceObj* s = v.as<SliceObj>();
      out += "slice(";
      appendRepr(out, s->lower);
      out += ", ";
      appendRepr(out, s->upper);
      out += ", ";
      appendRepr(out, s->step);
      out += ')';
      return;
    }
    default: MSL_ASSERT(false, "appendAtom: not an atom");
  }
}

void appendRepr(std::string& out, const Value& v) {
  switch (v.kind()) {
    case VKind::Str: out += strRepr(v.as<StrObj>()->s); return;
    case VKind::Tensor: out += tensorRepr(v.as<TensorObj>()->t); return;
    case VKind::Tuple: {
      const auto& items = v.as<TupleObj>()->items;
      out += '(';
      appendItems(out, items);
      if (items.size() == 1) out += ',';
      out += ')';
      return;
    }
    case VKind::List:
      out += '[';
      appendItems(out, v.as<ListObj>()->items);
      out += ']';
      return;
    case VKind::Dict: {
      out += '{';
      bool first = true;
      for (const auto& [k, x] : v.as<DictObj>()->entries) {
        if (!first) out += ", ";
        first = false;
        appendRepr(out, k);
        out += ": ";
        appendRepr(out, x);
      }
      out += '}';
      return;
    }
    case VKind::Record: {
      const RecordObj* r = v.as<RecordObj>();
      const ClassObj* c = r->classObj();
      out += c->name + "(";
      for (size_t i = 0; i < r->fields.size(); ++i) {
        if (i) out += ", ";
        out += (i < c->fields.size() ? c->fields[i] : "?") + "=";
        appendRepr(out, r->fields[i]);
      }
      out += ')';
      return;
    }
    case VKind::Exception: {
      const ExceptionObj* e = v.as<ExceptionObj>();
      out += e->type + "(";
      if (!e->message.empty()) out += strRepr(e->message);
      out += ')';
      return;
    }
    default: appendAtom(out, v);
  }
}

}  // namespace

std::string reprOf(const Value& v) {
  std::string out;
  appendRepr(out, v);
  return out;
}

std::string strOf(const Value& v) {
  switch (v.kind()) {
    case VKind::Str: return v.as<StrObj>()->s;
    case VKind::Tensor: return tensorStr(v.as<TensorObj>()->t);
    case VKind::Exception: return v.as<ExceptionObj>()->message;
    default: return reprOf(v);
  }
}

// ====================================================================== standard output
namespace {

// Writes all of `n` bytes to `fd`, retrying after signals and partial writes. Errors
// (a closed pipe) are dropped: there is nowhere left to report them.
void writeAll(int fd, const char* p, size_t n) {
  if (discardOutput) return;
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    n -= (size_t)w;
  }
}

constexpr size_t kOutBufferLimit = 64 * 1024;

struct StdoutBuffer {
  std::string data;
  bool tty = isatty(1) == 1;
};

// Never destroyed, so the exit-time flush can still use it.
StdoutBuffer& stdoutBuffer() {
  static StdoutBuffer* b = [] {
    auto* buf = new StdoutBuffer();
    std::atexit([] { outFlush(); });
    return buf;
  }();
  return *b;
}

}  // namespace

bool discardOutput = false;

void outWrite(const std::string& s) {
  StdoutBuffer& b = stdoutBuffer();
  b.data += s;
  if (b.data.size() > kOutBufferLimit || (b.tty && s.find('\n') != std::string::npos)) outFlush();
}

void outFlush() {
  StdoutBuffer& b = stdoutBuffer();
  if (b.data.empty()) return;
  std::string pending;
  pending.swap(b.data);
  writeAll(1, pending.data(), pending.size());
}

void errWrite(const std::string& s) {
  outFlush();
  writeAll(2, s.data(), s.size());
}

}  // namespace msl
