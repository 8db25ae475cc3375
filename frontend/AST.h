// The msl abstract syntax tree. Produced by frontend/Parser from the ANTLR parse tree,
// consumed by frontend/Resolve and frontend/LowerToIR. Every node has a SourceRange;
// `loc()` is the place carets point at for errors about the node as a whole, and nodes
// with an operator also record `opLoc` (the operator of a failing operation, the `[` of a
// subscript, the `(` is NOT used for calls: a failing call points at its callee).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/Source.h"

namespace msl::ast {

#define MSL_EXPR_KINDS(X) \
  X(Name) X(Int) X(Float) X(Bool) X(NoneLit) X(Str) X(FString) X(EllipsisLit) \
  X(Tuple) X(List) X(Dict) X(BinOp) X(UnaryOp) X(BoolOp) X(Compare) X(IfExp) \
  X(Lambda) X(Call) X(Attribute) X(Subscript) X(Slice) X(ListComp) X(DictComp) \
  X(GeneratorExp) X(Starred)

#define MSL_STMT_KINDS(X) \
  X(ExprStmt) X(Assign) X(AugAssign) X(AnnAssign) X(If) X(While) X(For) X(Break) \
  X(Continue) X(Return) X(Pass) X(Assert) X(Raise) X(FunctionDef) X(ClassDef) \
  X(Import) X(ImportFrom)

enum class ExprKind {
#define X(K) K,
  MSL_EXPR_KINDS(X)
#undef X
};
enum class StmtKind {
#define X(K) K,
  MSL_STMT_KINDS(X)
#undef X
};
const char* exprKindName(ExprKind k);
const char* stmtKindName(StmtKind k);

enum class BinOpKind { Add, Sub, Mul, Div, FloorDiv, Mod, Pow, MatMul, BitAnd, BitOr, BitXor };
enum class UnaryOpKind { Neg, Pos, Not, Invert };
enum class BoolOpKind { And, Or };
enum class CmpOpKind { Lt, Gt, Le, Ge, Eq, Ne, Is, IsNot, In, NotIn };
const char* binOpSymbol(BinOpKind k);    // "+", "@", ...
const char* unaryOpSymbol(UnaryOpKind k);  // "-", "+", "not", "~"
const char* cmpOpSymbol(CmpOpKind k);    // "<", "is not", "not in", ...

struct Expr;
struct Stmt;
using ExprP = std::unique_ptr<Expr>;
using StmtP = std::unique_ptr<Stmt>;
using Body = std::vector<StmtP>;

struct Expr {
  ExprKind kind;
  SourceRange range;
  explicit Expr(ExprKind k) : kind(k) {}
  virtual ~Expr() = default;
  SourceLoc loc() const { return range.begin; }
};

struct Stmt {
  StmtKind kind;
  SourceRange range;
  explicit Stmt(StmtKind k) : kind(k) {}
  virtual ~Stmt() = default;
  SourceLoc loc() const { return range.begin; }
};

// Checked downcast: `as<Call>(e)` asserts e->kind == ExprKind::Call.
#define MSL_AST_NODE(Base, K) \
  static constexpr Base##Kind Kind = Base##Kind::K; \
  K() : Base(Base##Kind::K) {}

// ---------------------------------------------------------------------- expressions
struct Name : Expr { MSL_AST_NODE(Expr, Name) std::string id; };
struct Int : Expr { MSL_AST_NODE(Expr, Int) int64_t value = 0; };
struct Float : Expr { MSL_AST_NODE(Expr, Float) double value = 0; };
struct Bool : Expr { MSL_AST_NODE(Expr, Bool) bool value = false; };
struct NoneLit : Expr { MSL_AST_NODE(Expr, NoneLit) };
struct Str : Expr { MSL_AST_NODE(Expr, Str) std::string value; };  // escapes decoded; adjacent literals joined
struct EllipsisLit : Expr { MSL_AST_NODE(Expr, EllipsisLit) };

// f"a{x!r:>{w}}b": parts alternate literal text and replacement fields.
struct FStringPart {
  std::string literal;      // used when expr == nullptr (escapes decoded, {{ }} collapsed)
  ExprP expr;               // the replacement field's expression
  char conversion = 0;      // 0, 'r', 's' or 'a'
  std::vector<FStringPart> spec;  // format spec, itself literal text and nested fields
  bool selfDocumenting = false;   // f"{x=}": literal "x=" precedes, repr conversion default
};
struct FString : Expr { MSL_AST_NODE(Expr, FString) std::vector<FStringPart> parts; };

struct Tuple : Expr { MSL_AST_NODE(Expr, Tuple) std::vector<ExprP> elts; };
struct List : Expr { MSL_AST_NODE(Expr, List) std::vector<ExprP> elts; };
// {k: v, **d}: a `**d` entry has key == nullptr and value == d.
struct Dict : Expr { MSL_AST_NODE(Expr, Dict) std::vector<ExprP> keys; std::vector<ExprP> values; };

struct BinOp : Expr { MSL_AST_NODE(Expr, BinOp) BinOpKind op; SourceLoc opLoc; ExprP lhs, rhs; };
struct UnaryOp : Expr { MSL_AST_NODE(Expr, UnaryOp) UnaryOpKind op; SourceLoc opLoc; ExprP operand; };
// a and b and c: values = [a, b, c]; opLocs[i] is the operator between values[i] and [i+1].
struct BoolOp : Expr { MSL_AST_NODE(Expr, BoolOp) BoolOpKind op; std::vector<ExprP> values; std::vector<SourceLoc> opLocs; };
// a < b <= c: left = a, ops = [<, <=], comparators = [b, c], opLocs one per op.
struct Compare : Expr {
  MSL_AST_NODE(Expr, Compare)
  ExprP left;
  std::vector<CmpOpKind> ops;
  std::vector<SourceLoc> opLocs;
  std::vector<ExprP> comparators;
};
struct IfExp : Expr { MSL_AST_NODE(Expr, IfExp) ExprP test, body, orelse; };

enum class ParamKind { Positional, VarArgs, KwOnly, VarKw };
struct Param {
  std::string name;
  ParamKind kind = ParamKind::Positional;
  ExprP defaultValue;  // may be null
  ExprP annotation;    // may be null; ignored except in class fields
  SourceRange range;
};
struct Lambda : Expr { MSL_AST_NODE(Expr, Lambda) std::vector<Param> params; ExprP body; };

enum class ArgKind { Positional, Star, Keyword, DoubleStar };
struct Arg {
  ArgKind kind = ArgKind::Positional;
  std::string name;  // for Keyword
  ExprP value;
  SourceRange range;
};
struct Call : Expr { MSL_AST_NODE(Expr, Call) ExprP func; std::vector<Arg> args; };
struct Attribute : Expr { MSL_AST_NODE(Expr, Attribute) ExprP value; std::string attr; SourceLoc attrLoc; };
// x[i], x[i, j], x[a:b], x[None, ..., 1:]: `index` is one expression; several
// comma-separated indices form a Tuple; a slice is a Slice node.
struct Subscript : Expr { MSL_AST_NODE(Expr, Subscript) ExprP value; ExprP index; SourceLoc bracketLoc; };
struct Slice : Expr { MSL_AST_NODE(Expr, Slice) ExprP lower, upper, step; };  // each may be null

struct Comprehension {
  ExprP target;  // Name or Tuple of names
  ExprP iter;
  std::vector<ExprP> ifs;
  SourceRange range;
};
struct ListComp : Expr { MSL_AST_NODE(Expr, ListComp) ExprP elt; std::vector<Comprehension> generators; };
struct DictComp : Expr { MSL_AST_NODE(Expr, DictComp) ExprP key, value; std::vector<Comprehension> generators; };
struct GeneratorExp : Expr { MSL_AST_NODE(Expr, GeneratorExp) ExprP elt; std::vector<Comprehension> generators; };
// *xs inside a tuple/list display or an assignment target.
struct Starred : Expr { MSL_AST_NODE(Expr, Starred) ExprP value; };

// ---------------------------------------------------------------------- statements
struct ExprStmt : Stmt { MSL_AST_NODE(Stmt, ExprStmt) ExprP value; };
// a = b = value: targets = [a, b]. Targets are Name, Tuple/List of targets, Attribute,
// Subscript, Starred (inside a Tuple/List).
struct Assign : Stmt { MSL_AST_NODE(Stmt, Assign) std::vector<ExprP> targets; ExprP value; };
struct AugAssign : Stmt { MSL_AST_NODE(Stmt, AugAssign) ExprP target; BinOpKind op; SourceLoc opLoc; ExprP value; };
// `name: annotation [= value]`; in a class body it declares a field.
struct AnnAssign : Stmt { MSL_AST_NODE(Stmt, AnnAssign) ExprP target; ExprP annotation; ExprP value; };
// if/elif/else: an elif chain is an If whose orelse holds one If.
struct If : Stmt { MSL_AST_NODE(Stmt, If) ExprP test; Body body; Body orelse; };
struct While : Stmt { MSL_AST_NODE(Stmt, While) ExprP test; Body body; };
struct For : Stmt { MSL_AST_NODE(Stmt, For) ExprP target; ExprP iter; Body body; };
struct Break : Stmt { MSL_AST_NODE(Stmt, Break) };
struct Continue : Stmt { MSL_AST_NODE(Stmt, Continue) };
struct Return : Stmt { MSL_AST_NODE(Stmt, Return) ExprP value; };  // value may be null
struct Pass : Stmt { MSL_AST_NODE(Stmt, Pass) };
struct Assert : Stmt { MSL_AST_NODE(Stmt, Assert) ExprP test; ExprP msg; };
struct Raise : Stmt { MSL_AST_NODE(Stmt, Raise) ExprP exc; };  // exc may be null
struct FunctionDef : Stmt {
  MSL_AST_NODE(Stmt, FunctionDef)
  std::string name;
  SourceLoc nameLoc;
  std::vector<Param> params;
  Body body;
  std::vector<ExprP> decorators;
  std::string docstring;
};
struct ClassDef : Stmt {
  MSL_AST_NODE(Stmt, ClassDef)
  std::string name;
  SourceLoc nameLoc;
  Body body;  // AnnAssign fields, FunctionDef methods, Pass (docstring removed)
  std::vector<ExprP> decorators;
  std::string docstring;
};
struct ImportAlias {
  std::string name;    // dotted: "optim.adam"
  std::string asname;  // empty if none
  SourceRange range;
};
struct Import : Stmt { MSL_AST_NODE(Stmt, Import) std::vector<ImportAlias> names; };
struct ImportFrom : Stmt { MSL_AST_NODE(Stmt, ImportFrom) std::string module; SourceRange moduleRange; std::vector<ImportAlias> names; };

struct Module {
  const SourceFile* file = nullptr;
  Body body;
  std::string docstring;
};

template <class T> T* as(Expr* e) { return e && e->kind == T::Kind ? static_cast<T*>(e) : nullptr; }
template <class T> const T* as(const Expr* e) { return e && e->kind == T::Kind ? static_cast<const T*>(e) : nullptr; }
template <class T> T* as(Stmt* s) { return s && s->kind == T::Kind ? static_cast<T*>(s) : nullptr; }
template <class T> const T* as(const Stmt* s) { return s && s->kind == T::Kind ? static_cast<const T*>(s) : nullptr; }

// A stable, indented text dump of a module (msl --emit=ast), one node per line with its
// kind, attributes and `@line:col`.
std::string dump(const Module& m);

}  // namespace msl::ast
