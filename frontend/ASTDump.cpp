// The stable text dump of the AST (msl --emit=ast, lit golden tests) and the names of
// node kinds and operators.
//
// Format: one node per line, children indented by two spaces under their parent:
//
//   [role: ]Kind[ attributes] @LINE:COL[ other@LINE:COL]
//
// `@LINE:COL` is the node's loc() (the start of its range); secondary places follow as
// `op@` (BinOp, AugAssign, BoolOp, Compare: one per operator), `attr@` (Attribute),
// `bracket@` (Subscript), `name@` (FunctionDef, ClassDef), `module@` (ImportFrom).
// A child whose role is not obvious carries a `role: ` prefix (test:, value:, index:,
// kw NAME:, *arg:, ...); a list of statements is a `body:` / `orelse:` line with the
// statements indented below it. Strings are printed in double quotes with C-style
// escapes for quotes, backslashes and control characters; non-ASCII text is kept.
#include <charconv>
#include <string>

#include "frontend/AST.h"

namespace msl::ast {

const char* exprKindName(ExprKind k) {
  switch (k) {
#define X(K) case ExprKind::K: return #K;
    MSL_EXPR_KINDS(X)
#undef X
  }
  return "?";
}

const char* stmtKindName(StmtKind k) {
  switch (k) {
#define X(K) case StmtKind::K: return #K;
    MSL_STMT_KINDS(X)
#undef X
  }
  return "?";
}

const char* binOpSymbol(BinOpKind k) {
  switch (k) {
    case BinOpKind::Add: return "+";
    case BinOpKind::Sub: return "-";
    case BinOpKind::Mul: return "*";
    case BinOpKind::Div: return "/";
    case BinOpKind::FloorDiv: return "//";
    case BinOpKind::Mod: return "%";
    case BinOpKind::Pow: return "**";
    case BinOpKind::MatMul: return "@";
    case BinOpKind::BitAnd: return "&";
    case BinOpKind::BitOr: return "|";
    case BinOpKind::BitXor: return "^";
  }
  return "?";
}

const char* unaryOpSymbol(UnaryOpKind k) {
  switch (k) {
    case UnaryOpKind::Neg: return "-";
    case UnaryOpKind::Pos: return "+";
    case UnaryOpKind::Not: return "not";
    case UnaryOpKind::Invert: return "~";
  }
  return "?";
}

const char* cmpOpSymbol(CmpOpKind k) {
  switch (k) {
    case CmpOpKind::Lt: return "<";
    case CmpOpKind::Gt: return ">";
    case CmpOpKind::Le: return "<=";
    case CmpOpKind::Ge: return ">=";
    case CmpOpKind::Eq: return "==";
    case CmpOpKind::Ne: return "!=";
    case CmpOpKind::Is: return "is";
    case CmpOpKind::IsNot: return "is not";
    case CmpOpKind::In: return "in";
    case CmpOpKind::NotIn: return "not in";
  }
  return "?";
}

namespace {

std::string place(SourceLoc l) { return std::to_string(l.line) + ":" + std::to_string(l.col); }
std::string at(SourceLoc l) { return " @" + place(l); }

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          const char* digits = "0123456789abcdef";
          out += "\\x";
          out += digits[c >> 4];
          out += digits[c & 15];
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

std::string floatText(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".eni") == std::string::npos) s += ".0";  // 3 -> 3.0; not inf, nan
  return s;
}

class Dumper {
 public:
  std::string out;

  void module(const Module& m) {
    line(0, "Module");
    if (!m.docstring.empty()) line(1, "doc: " + quoted(m.docstring));
    for (const StmtP& s : m.body) stmt(*s, 1);
  }

 private:
  void line(int indent, const std::string& text) {
    out.append(size_t(indent) * 2, ' ');
    out += text;
    out += '\n';
  }

  void optional(const Expr* e, int indent, const char* role) {
    if (e) expr(*e, indent, role);
  }

  void body(const Body& b, int indent, const char* role) {
    line(indent, std::string(role) + ":");
    for (const StmtP& s : b) stmt(*s, indent + 1);
  }

  void params(const std::vector<Param>& ps, int indent) {
    for (const Param& p : ps) {
      std::string text = "Param ";
      switch (p.kind) {
        case ParamKind::Positional: text += p.name; break;
        case ParamKind::VarArgs: text += "*" + p.name; break;
        case ParamKind::KwOnly: text += p.name + " kwonly"; break;
        case ParamKind::VarKw: text += "**" + p.name; break;
      }
      line(indent, text + at(p.range.begin));
      optional(p.annotation.get(), indent + 1, "annotation");
      optional(p.defaultValue.get(), indent + 1, "default");
    }
  }

  void comprehensions(const std::vector<Comprehension>& gens, int indent) {
    for (const Comprehension& g : gens) {
      line(indent, "comprehension" + at(g.range.begin));
      expr(*g.target, indent + 1, "target");
      expr(*g.iter, indent + 1, "iter");
      for (const ExprP& i : g.ifs) expr(*i, indent + 1, "if");
    }
  }

  void fstringParts(const std::vector<FStringPart>& parts, int indent) {
    for (const FStringPart& p : parts) {
      if (!p.expr) {
        line(indent, "text " + quoted(p.literal));
        continue;
      }
      std::string text = "Field";
      if (p.conversion) text += std::string(" !") + p.conversion;
      if (p.selfDocumenting) text += " =";
      line(indent, text);
      expr(*p.expr, indent + 1);
      if (!p.spec.empty()) {
        line(indent + 1, "spec:");
        fstringParts(p.spec, indent + 2);
      }
    }
  }

  void expr(const Expr& e, int indent, const char* role = nullptr) {
    std::string head = role ? std::string(role) + ": " : std::string();
    head += exprKindName(e.kind);
    std::string where = at(e.loc());
    int in = indent + 1;
    switch (e.kind) {
      case ExprKind::Name: line(indent, head + " " + static_cast<const Name&>(e).id + where); break;
      case ExprKind::Int: line(indent, head + " " + std::to_string(static_cast<const Int&>(e).value) + where); break;
      case ExprKind::Float: line(indent, head + " " + floatText(static_cast<const Float&>(e).value) + where); break;
      case ExprKind::Bool: line(indent, head + (static_cast<const Bool&>(e).value ? " True" : " False") + where); break;
      case ExprKind::NoneLit: case ExprKind::EllipsisLit: line(indent, head + where); break;
      case ExprKind::Str: line(indent, head + " " + quoted(static_cast<const Str&>(e).value) + where); break;
      case ExprKind::FString:
        line(indent, head + where);
        fstringParts(static_cast<const FString&>(e).parts, in);
        break;
      case ExprKind::Tuple:
        line(indent, head + where);
        for (const ExprP& x : static_cast<const Tuple&>(e).elts) expr(*x, in);
        break;
      case ExprKind::List:
        line(indent, head + where);
        for (const ExprP& x : static_cast<const List&>(e).elts) expr(*x, in);
        break;
      case ExprKind::Dict: {
        auto& d = static_cast<const Dict&>(e);
        line(indent, head + where);
        for (size_t i = 0; i < d.values.size(); ++i) {
          if (d.keys[i]) {
            expr(*d.keys[i], in, "key");
            expr(*d.values[i], in, "value");
          } else {
            expr(*d.values[i], in, "**");
          }
        }
        break;
      }
      case ExprKind::BinOp: {
        auto& b = static_cast<const BinOp&>(e);
        line(indent, head + " " + binOpSymbol(b.op) + where + " op@" + place(b.opLoc));
        expr(*b.lhs, in);
        expr(*b.rhs, in);
        break;
      }
      case ExprKind::UnaryOp: {
        auto& u = static_cast<const UnaryOp&>(e);
        line(indent, head + " " + unaryOpSymbol(u.op) + where);
        expr(*u.operand, in);
        break;
      }
      case ExprKind::BoolOp: {
        auto& b = static_cast<const BoolOp&>(e);
        std::string ops;
        for (SourceLoc l : b.opLocs) ops += " op@" + place(l);
        line(indent, head + (b.op == BoolOpKind::And ? " and" : " or") + where + ops);
        for (const ExprP& x : b.values) expr(*x, in);
        break;
      }
      case ExprKind::Compare: {
        auto& c = static_cast<const Compare&>(e);
        std::string ops, locs;
        for (CmpOpKind k : c.ops) ops += std::string(" ") + cmpOpSymbol(k);
        for (SourceLoc l : c.opLocs) locs += " op@" + place(l);
        line(indent, head + ops + where + locs);
        expr(*c.left, in);
        for (const ExprP& x : c.comparators) expr(*x, in);
        break;
      }
      case ExprKind::IfExp: {
        auto& i = static_cast<const IfExp&>(e);
        line(indent, head + where);
        expr(*i.test, in, "test");
        expr(*i.body, in, "body");
        expr(*i.orelse, in, "orelse");
        break;
      }
      case ExprKind::Lambda: {
        auto& l = static_cast<const Lambda&>(e);
        line(indent, head + where);
        params(l.params, in);
        expr(*l.body, in, "body");
        break;
      }
      case ExprKind::Call: {
        auto& c = static_cast<const Call&>(e);
        line(indent, head + where);
        expr(*c.func, in, "func");
        for (const Arg& a : c.args) {
          switch (a.kind) {
            case ArgKind::Positional: expr(*a.value, in, "arg"); break;
            case ArgKind::Star: expr(*a.value, in, "*arg"); break;
            case ArgKind::Keyword: expr(*a.value, in, ("kw " + a.name).c_str()); break;
            case ArgKind::DoubleStar: expr(*a.value, in, "**arg"); break;
          }
        }
        break;
      }
      case ExprKind::Attribute: {
        auto& a = static_cast<const Attribute&>(e);
        line(indent, head + " ." + a.attr + where + " attr@" + place(a.attrLoc));
        expr(*a.value, in);
        break;
      }
      case ExprKind::Subscript: {
        auto& s = static_cast<const Subscript&>(e);
        line(indent, head + where + " bracket@" + place(s.bracketLoc));
        expr(*s.value, in);
        expr(*s.index, in, "index");
        break;
      }
      case ExprKind::Slice: {
        auto& s = static_cast<const Slice&>(e);
        line(indent, head + where);
        optional(s.lower.get(), in, "lower");
        optional(s.upper.get(), in, "upper");
        optional(s.step.get(), in, "step");
        break;
      }
      case ExprKind::ListComp: {
        auto& c = static_cast<const ListComp&>(e);
        line(indent, head + where);
        expr(*c.elt, in, "elt");
        comprehensions(c.generators, in);
        break;
      }
      case ExprKind::GeneratorExp: {
        auto& c = static_cast<const GeneratorExp&>(e);
        line(indent, head + where);
        expr(*c.elt, in, "elt");
        comprehensions(c.generators, in);
        break;
      }
      case ExprKind::DictComp: {
        auto& c = static_cast<const DictComp&>(e);
        line(indent, head + where);
        expr(*c.key, in, "key");
        expr(*c.value, in, "value");
        comprehensions(c.generators, in);
        break;
      }
      case ExprKind::Starred:
        line(indent, head + where);
        expr(*static_cast<const Starred&>(e).value, in);
        break;
    }
  }

  void aliases(const std::vector<ImportAlias>& names, int indent) {
    for (const ImportAlias& a : names)
      line(indent, "alias " + a.name + (a.asname.empty() ? "" : " as " + a.asname) + at(a.range.begin));
  }

  void stmt(const Stmt& s, int indent) {
    std::string head = stmtKindName(s.kind);
    std::string where = at(s.loc());
    int in = indent + 1;
    switch (s.kind) {
      case StmtKind::ExprStmt:
        line(indent, head + where);
        expr(*static_cast<const ExprStmt&>(s).value, in);
        break;
      case StmtKind::Assign: {
        auto& a = static_cast<const Assign&>(s);
        line(indent, head + where);
        for (const ExprP& t : a.targets) expr(*t, in, "target");
        expr(*a.value, in, "value");
        break;
      }
      case StmtKind::AugAssign: {
        auto& a = static_cast<const AugAssign&>(s);
        line(indent, head + " " + binOpSymbol(a.op) + "=" + where + " op@" + place(a.opLoc));
        expr(*a.target, in, "target");
        expr(*a.value, in, "value");
        break;
      }
      case StmtKind::AnnAssign: {
        auto& a = static_cast<const AnnAssign&>(s);
        line(indent, head + where);
        expr(*a.target, in, "target");
        expr(*a.annotation, in, "annotation");
        optional(a.value.get(), in, "value");
        break;
      }
      case StmtKind::If: {
        auto& i = static_cast<const If&>(s);
        line(indent, head + where);
        expr(*i.test, in, "test");
        body(i.body, in, "body");
        if (!i.orelse.empty()) body(i.orelse, in, "orelse");
        break;
      }
      case StmtKind::While: {
        auto& w = static_cast<const While&>(s);
        line(indent, head + where);
        expr(*w.test, in, "test");
        body(w.body, in, "body");
        break;
      }
      case StmtKind::For: {
        auto& f = static_cast<const For&>(s);
        line(indent, head + where);
        expr(*f.target, in, "target");
        expr(*f.iter, in, "iter");
        body(f.body, in, "body");
        break;
      }
      case StmtKind::Break: case StmtKind::Continue: case StmtKind::Pass:
        line(indent, head + where);
        break;
      case StmtKind::Return:
        line(indent, head + where);
        optional(static_cast<const Return&>(s).value.get(), in, "value");
        break;
      case StmtKind::Assert: {
        auto& a = static_cast<const Assert&>(s);
        line(indent, head + where);
        expr(*a.test, in, "test");
        optional(a.msg.get(), in, "msg");
        break;
      }
      case StmtKind::Raise:
        line(indent, head + where);
        optional(static_cast<const Raise&>(s).exc.get(), in, "exc");
        break;
      case StmtKind::FunctionDef: {
        auto& f = static_cast<const FunctionDef&>(s);
        line(indent, head + " " + f.name + where + " name@" + place(f.nameLoc));
        if (!f.docstring.empty()) line(in, "doc: " + quoted(f.docstring));
        for (const ExprP& d : f.decorators) expr(*d, in, "decorator");
        params(f.params, in);
        body(f.body, in, "body");
        break;
      }
      case StmtKind::ClassDef: {
        auto& c = static_cast<const ClassDef&>(s);
        line(indent, head + " " + c.name + where + " name@" + place(c.nameLoc));
        if (!c.docstring.empty()) line(in, "doc: " + quoted(c.docstring));
        for (const ExprP& d : c.decorators) expr(*d, in, "decorator");
        body(c.body, in, "body");
        break;
      }
      case StmtKind::Import:
        line(indent, head + where);
        aliases(static_cast<const Import&>(s).names, in);
        break;
      case StmtKind::ImportFrom: {
        auto& i = static_cast<const ImportFrom&>(s);
        line(indent, head + " " + i.module + where + " module@" + place(i.moduleRange.begin));
        aliases(i.names, in);
        break;
      }
    }
  }
};

}  // namespace

std::string dump(const Module& m) {
  Dumper d;
  d.module(m);
  return d.out;
}

}  // namespace msl::ast
