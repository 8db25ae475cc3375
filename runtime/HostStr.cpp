// Methods of str: split join strip lstrip rstrip startswith endswith replace format upper
// lower find count index. Positions are counted in code points, as in Python.
#include <algorithm>

#include "runtime/Host.h"
#include "runtime/Iter.h"
#include "runtime/PrimImpl.h"
#include "runtime/Print.h"
#include "runtime/Utf8.h"

namespace msl {

namespace {

[[noreturn]] void typeError(const std::string& msg) { raise(DiagId::TypeError, SourceLoc{}, {msg}); }

const std::string& str(const Value& v) { return v.as<StrObj>()->s; }

// Code point index of byte offset `pos` in `s`.
int64_t cpIndex(const std::string& s, size_t pos) { return utf8Length(std::string_view(s).substr(0, pos)); }

// Byte offset of the code point that ends at byte `end` (> 0).
size_t prevCodePoint(std::string_view s, size_t end) {
  size_t i = end - 1;
  while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) --i;
  return i;
}

// Splits on runs of whitespace, at most `maxsplit` times (-1: no limit); the remainder
// keeps its trailing whitespace, as in Python.
std::vector<Value> splitSpace(std::string_view s, int64_t maxsplit) {
  std::vector<Value> out;
  size_t i = 0;
  auto skipSpace = [&] {
    while (i < s.size()) {
      size_t j = i;
      if (!isPySpace(utf8Next(s, &j))) break;
      i = j;
    }
  };
  while (true) {
    skipSpace();
    if (i >= s.size()) break;
    if (maxsplit >= 0 && (int64_t)out.size() == maxsplit) {
      out.push_back(makeStr(std::string(s.substr(i))));
      break;
    }
    size_t start = i;
    while (i < s.size()) {
      size_t j = i;
      if (isPySpace(utf8Next(s, &j))) break;
      i = j;
    }
    out.push_back(makeStr(std::string(s.substr(start, i - start))));
  }
  return out;
}

std::vector<Value> splitSep(const std::string& s, const std::string& sep, int64_t maxsplit) {
  if (sep.empty()) valueError("empty separator");
  std::vector<Value> out;
  size_t start = 0;
  while (maxsplit < 0 || (int64_t)out.size() < maxsplit) {
    size_t p = s.find(sep, start);
    if (p == std::string::npos) break;
    out.push_back(makeStr(s.substr(start, p - start)));
    start = p + sep.size();
  }
  out.push_back(makeStr(s.substr(start)));
  return out;
}

// strip/lstrip/rstrip: `chars` None strips whitespace, else the code points of `chars`.
Value stripImpl(const Value* args, bool left, bool right, const char* fn) {
  const std::string& s = str(args[0]);
  std::vector<uint32_t> set;
  if (!args[1].isNone()) {
    if (!args[1].is(VKind::Str)) typeError(std::string(fn) + " arg must be None or str");
    const std::string& chars = str(args[1]);
    for (size_t i = 0; i < chars.size();) set.push_back(utf8Next(chars, &i));
  }
  auto strip = [&](uint32_t c) {
    return args[1].isNone() ? isPySpace(c) : std::find(set.begin(), set.end(), c) != set.end();
  };
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e) {
      size_t j = b;
      if (!strip(utf8Next(s, &j))) break;
      b = j;
    }
  }
  if (right) {
    while (e > b) {
      size_t i = prevCodePoint(s, e), j = i;
      if (!strip(utf8Next(s, &j))) break;
      e = i;
    }
  }
  if (b == 0 && e == s.size()) return args[0];
  return makeStr(s.substr(b, e - b));
}

// startswith/endswith: a str or a tuple of str.
Value affixImpl(const Value* args, bool start, const char* fn) {
  const std::string& s = str(args[0]);
  auto test = [&](const Value& a) {
    if (!a.is(VKind::Str))
      typeError(std::string(fn) + " first arg must be str or a tuple of str, not " + a.typeName());
    const std::string& x = str(a);
    if (x.size() > s.size()) return false;
    return start ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (args[1].is(VKind::Tuple)) {
    for (const Value& a : args[1].as<TupleObj>()->items)
      if (test(a)) return Value::boolean(true);
    return Value::boolean(false);
  }
  return Value::boolean(test(args[1]));
}

const std::string& subArg(const Value& v) {
  if (!v.is(VKind::Str)) typeError(std::string("must be str, not ") + v.typeName());
  return str(v);
}

}  // namespace

Value prim_StrSplit(CallContext& cx, Value* args) {
  int64_t maxsplit = argInt(args[2], "split", "maxsplit");
  if (args[1].isNone()) return makeList(splitSpace(str(args[0]), maxsplit));
  return makeList(splitSep(str(args[0]), argStr(args[1], "split", "sep"), maxsplit));
}

Value prim_StrJoin(CallContext& cx, Value* args) {
  std::vector<Value> items = iterToVector(args[1], "join");
  const std::string& sep = str(args[0]);
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is(VKind::Str))
      typeError("sequence item " + std::to_string(i) + ": expected str instance, " + items[i].typeName() + " found");
    if (i) out += sep;
    out += str(items[i]);
  }
  return makeStr(std::move(out));
}

Value prim_StrStrip(CallContext& cx, Value* args) { return stripImpl(args, true, true, "strip"); }
Value prim_StrLstrip(CallContext& cx, Value* args) { return stripImpl(args, true, false, "lstrip"); }
Value prim_StrRstrip(CallContext& cx, Value* args) { return stripImpl(args, false, true, "rstrip"); }
Value prim_StrStartswith(CallContext& cx, Value* args) { return affixImpl(args, true, "startswith"); }
Value prim_StrEndswith(CallContext& cx, Value* args) { return affixImpl(args, false, "endswith"); }

Value prim_StrReplace(CallContext& cx, Value* args) {
  const std::string& s = str(args[0]);
  const std::string& old = argStr(args[1], "replace", "old");
  const std::string& rep = argStr(args[2], "replace", "new");
  int64_t count = argInt(args[3], "replace", "count");
  std::string out;
  int64_t done = 0;
  if (old.empty()) {
    // The new text goes before every code point and at the end.
    size_t i = 0;
    while (i < s.size() && (count < 0 || done < count)) {
      out += rep;
      ++done;
      size_t start = i;
      utf8Next(s, &i);
      out.append(s, start, i - start);
    }
    if (i == s.size() && (count < 0 || done < count)) out += rep;
    out.append(s, i, std::string::npos);
    return makeStr(std::move(out));
  }
  size_t start = 0;
  while (count < 0 || done < count) {
    size_t p = s.find(old, start);
    if (p == std::string::npos) break;
    out.append(s, start, p - start);
    out += rep;
    start = p + old.size();
    ++done;
  }
  out.append(s, start, std::string::npos);
  return makeStr(std::move(out));
}

Value prim_StrUpper(CallContext& cx, Value* args) {
  std::string s = str(args[0]);
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
  return makeStr(std::move(s));
}

Value prim_StrLower(CallContext& cx, Value* args) {
  std::string s = str(args[0]);
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
  return makeStr(std::move(s));
}

Value prim_StrFind(CallContext& cx, Value* args) {
  const std::string& s = str(args[0]);
  size_t p = s.find(subArg(args[1]));
  return Value::integer(p == std::string::npos ? -1 : cpIndex(s, p));
}

Value prim_StrIndex(CallContext& cx, Value* args) {
  const std::string& s = str(args[0]);
  size_t p = s.find(subArg(args[1]));
  if (p == std::string::npos) valueError("substring not found");
  return Value::integer(cpIndex(s, p));
}

Value prim_StrCount(CallContext& cx, Value* args) {
  const std::string& s = str(args[0]);
  const std::string& sub = subArg(args[1]);
  if (sub.empty()) return Value::integer(utf8Length(s) + 1);
  int64_t n = 0;
  for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
  return Value::integer(n);
}

// ------------------------------------------------------------------------ str.format
namespace {

// Python's ascii(): repr with every non-ASCII code point escaped.
std::string asciiRepr(const Value& v) {
  std::string r = reprOf(v), out;
  static const char* hex = "0123456789abcdef";
  for (size_t i = 0; i < r.size();) {
    uint32_t c = utf8Next(r, &i);
    if (c < 0x80) { out += (char)c; continue; }
    int digits = c < 0x100 ? 2 : c < 0x10000 ? 4 : 8;
    out += '\\';
    out += digits == 2 ? 'x' : digits == 4 ? 'u' : 'U';
    for (int k = digits - 1; k >= 0; --k) out += hex[(c >> (4 * k)) & 0xF];
  }
  return out;
}

class Formatter {
 public:
  Formatter(const std::vector<Value>& args, const DictObj& kwargs) : args_(args), kwargs_(kwargs) {}

  // Expands the replacement fields of `fmt`; `depth` counts nested specs ({:{w}}).
  std::string expand(const std::string& fmt, int depth) {
    if (depth > 2) valueError("Max string recursion exceeded");
    std::string out;
    for (size_t i = 0; i < fmt.size();) {
      char c = fmt[i];
      if (c == '}') {
        if (i + 1 < fmt.size() && fmt[i + 1] == '}') { out += '}'; i += 2; continue; }
        valueError("Single '}' encountered in format string");
      }
      if (c != '{') { out += c; ++i; continue; }
      if (i + 1 < fmt.size() && fmt[i + 1] == '{') { out += '{'; i += 2; continue; }
      // The field runs to the matching '}' (specs may nest fields).
      size_t j = i + 1;
      int level = 1;
      for (; j < fmt.size(); ++j) {
        if (fmt[j] == '[') {
          while (j < fmt.size() && fmt[j] != ']') ++j;
          if (j == fmt.size()) break;
        } else if (fmt[j] == '{') {
          ++level;
        } else if (fmt[j] == '}' && --level == 0) {
          break;
        }
      }
      if (j >= fmt.size()) valueError(level > 1 || j > i + 1 ? "expected '}' before end of string"
                                                           : "Single '{' encountered in format string");
      out += field(fmt.substr(i + 1, j - i - 1), depth);
      i = j + 1;
    }
    return out;
  }

 private:
  // One field: name[.attr|[key]]*[!conv][:spec].
  std::string field(const std::string& f, int depth) {
    size_t nameEnd = 0;
    while (nameEnd < f.size() && f[nameEnd] != '!' && f[nameEnd] != ':') {
      if (f[nameEnd] == '[') {
        while (nameEnd < f.size() && f[nameEnd] != ']') ++nameEnd;
        if (nameEnd == f.size()) valueError("expected '}' before end of string");
      }
      ++nameEnd;
    }
    Value v = lookup(f.substr(0, nameEnd));
    size_t i = nameEnd;
    if (i < f.size() && f[i] == '!') {
      if (i + 1 >= f.size()) valueError("end of string while looking for conversion specifier");
      char conv = f[i + 1];
      if (conv == 'r') v = makeStr(reprOf(v));
      else if (conv == 's') v = makeStr(strOf(v));
      else if (conv == 'a') v = makeStr(asciiRepr(v));
      else valueError(std::string("Unknown conversion specifier ") + conv);
      i += 2;
      if (i < f.size() && f[i] != ':') valueError("expected ':' after conversion specifier");
    }
    std::string spec = i < f.size() ? f.substr(i + 1) : std::string();
    if (spec.find('{') != std::string::npos) spec = expand(spec, depth + 1);
    return formatWithSpec(v, spec);
  }

  // The argument named by `name`: "" (next positional), a number or a keyword, then
  // `.field` and `[key]` accessors.
  Value lookup(const std::string& name) {
    size_t end = std::min(name.find('.'), name.find('['));
    if (end == std::string::npos) end = name.size();
    std::string first = name.substr(0, end);
    Value v;
    if (first.empty()) {
      if (numbering_ == Manual) valueError("cannot switch from manual field specification to automatic field numbering");
      numbering_ = Auto;
      v = positional(next_++);
    } else if (std::all_of(first.begin(), first.end(), [](char c) { return isdigit((unsigned char)c); })) {
      if (numbering_ == Auto) valueError("cannot switch from automatic field numbering to manual field specification");
      numbering_ = Manual;
      v = positional(first.size() > 9 ? INT64_MAX : std::stoll(first));
    } else {
      const Value* kv = kwargs_.find(makeStr(first));
      if (!kv) raise(DiagId::KeyError, SourceLoc{}, {strRepr(first)});
      v = *kv;
    }
    for (size_t i = end; i < name.size();) {
      if (name[i] == '.') {
        size_t j = std::min(name.find('.', i + 1), name.find('[', i + 1));
        if (j == std::string::npos) j = name.size();
        v = attribute(v, name.substr(i + 1, j - i - 1));
        i = j;
      } else if (name[i] == '[') {
        size_t j = name.find(']', i);
        v = item(v, name.substr(i + 1, j - i - 1));
        i = j + 1;
      } else {
        valueError("Only '.' or '[' may follow ']' in format field specifier");
      }
    }
    return v;
  }

  Value positional(int64_t i) {
    if (i >= (int64_t)args_.size())
      valueError("Replacement index " + std::to_string(i) + " out of range for positional args tuple");
    return args_[(size_t)i];
  }

  static Value attribute(const Value& v, const std::string& attr) {
    if (attr.empty()) valueError("Empty attribute in format string");
    if (!v.is(VKind::Record)) raise(DiagId::NoAttribute, SourceLoc{}, {v.typeName(), attr});
    const RecordObj* r = v.as<RecordObj>();
    int k = r->classObj()->fieldIndex(attr);
    if (k < 0) raise(DiagId::NoField, SourceLoc{}, {r->classObj()->name, attr});
    return r->fields[(size_t)k];
  }

  // `[key]`: digits index a list or tuple (or are an int key); anything else is a str key.
  static Value item(const Value& v, const std::string& key) {
    if (key.empty()) valueError("Empty attribute in format string");
    bool digits = key.size() < 19 && std::all_of(key.begin(), key.end(), [](char c) { return isdigit((unsigned char)c); });
    Value k = digits ? Value::integer(std::stoll(key)) : makeStr(key);
    if (v.is(VKind::Dict)) {
      const Value* x = v.as<DictObj>()->find(k);
      if (!x) raise(DiagId::KeyError, SourceLoc{}, {reprOf(k)});
      return *x;
    }
    if (v.is(VKind::List) || v.is(VKind::Tuple)) {
      if (!digits) raise(DiagId::BadIndexType, SourceLoc{}, {v.typeName(), "integers or slices", "str"});
      int64_t n;
      iterLength(v, &n);
      if (k.asInt() >= n) raise(DiagId::ListIndexOutOfRange, SourceLoc{}, {v.typeName(), key, std::to_string(n)});
      return iterItem(v, k.asInt());
    }
    typeError(std::string("'") + v.typeName() + "' object is not subscriptable");
  }

  const std::vector<Value>& args_;
  const DictObj& kwargs_;
  enum { Unknown, Auto, Manual } numbering_ = Unknown;
  int64_t next_ = 0;
};

}  // namespace

Value prim_StrFormat(CallContext& cx, Value* args) {
  Formatter f(args[1].as<TupleObj>()->items, *args[2].as<DictObj>());
  return makeStr(f.expand(str(args[0]), 0));
}

}  // namespace msl
