// The msl grammar: the Python subset of LANGUAGE.md sections 1-3.
//
// The lexer below emits NEWLINE for every line break and skips spaces and comments; the
// hand-written frontend/TokenSource sits between it and the parser: it drops NEWLINEs
// inside brackets and on blank lines, turns leading whitespace into INDENT / DEDENT, and
// rejects the Python tokens that msl leaves out. The parser rules mirror Python 3's
// grammar, rewritten so that every decision is LL(1) where Python's needs more (dict
// entries, subscripts, call arguments); frontend/Parser builds the AST and checks what the
// grammar accepts too generously (assignment targets, parameter order, set displays).
//
// Rules are named after Python's grammar so that a reader who knows it finds their way.
grammar Msl;

tokens { INDENT, DEDENT }

// ===================================================================== parser: statements

file_input: (NEWLINE | stmt)* EOF;

// One replacement field of an f-string, parsed separately (see frontend/Parser.cpp).
fstring_field: testlist_star_expr EOF;

stmt: simple_stmts | compound_stmt;

simple_stmts: simple_stmt (SEMI simple_stmt)* SEMI? NEWLINE;

simple_stmt
    : expr_stmt
    | pass_stmt
    | break_stmt
    | continue_stmt
    | return_stmt
    | raise_stmt
    | import_name
    | import_from
    | assert_stmt
    ;

// `a = b = value`, `x += 1`, `w: Tensor = None`, or an expression statement.
expr_stmt
    : testlist_star_expr
      ( annassign
      | augassign testlist
      | (ASSIGN testlist_star_expr)*
      )
    ;

annassign: COLON test (ASSIGN testlist_star_expr)?;

augassign
    : ADD_ASSIGN | SUB_ASSIGN | MULT_ASSIGN | AT_ASSIGN | DIV_ASSIGN | MOD_ASSIGN
    | AND_ASSIGN | OR_ASSIGN | XOR_ASSIGN | POWER_ASSIGN | IDIV_ASSIGN
    ;

pass_stmt: PASS;
break_stmt: BREAK;
continue_stmt: CONTINUE;
return_stmt: RETURN testlist_star_expr?;
raise_stmt: RAISE (test (FROM test)?)?;
assert_stmt: ASSERT test (COMMA test)?;

import_name: IMPORT dotted_as_name (COMMA dotted_as_name)*;
dotted_as_name: dotted_name (AS NAME)?;
// Relative imports and `import *` are parsed so that they get a clear diagnostic.
import_from
    : FROM (DOT | ELLIPSIS)* dotted_name? IMPORT
      ( STAR
      | OPEN_PAREN import_as_names COMMA? CLOSE_PAREN
      | import_as_names
      )
    ;
import_as_names: import_as_name (COMMA import_as_name)*;
import_as_name: NAME (AS NAME)?;
dotted_name: NAME (DOT NAME)*;

compound_stmt: if_stmt | while_stmt | for_stmt | funcdef | classdef | decorated;

if_stmt: IF test COLON suite (ELIF test COLON suite)* (ELSE COLON suite)?;
// `else` after a loop is parsed so that it gets a clear diagnostic.
while_stmt: WHILE test COLON suite (ELSE COLON suite)?;
for_stmt: FOR exprlist IN testlist COLON suite (ELSE COLON suite)?;

suite: simple_stmts | NEWLINE INDENT stmt+ DEDENT;

decorated: decorator+ (classdef | funcdef);
decorator: AT test NEWLINE;

funcdef: DEF NAME OPEN_PAREN paramlist? CLOSE_PAREN (ARROW test)? COLON suite;
// Parameters in any order; frontend/Parser checks Python's ordering rules.
paramlist: param (COMMA param)* COMMA?;
param
    : NAME (COLON test)? (ASSIGN test)?
    | STAR (NAME (COLON test)?)?
    | POWER NAME (COLON test)?
    | DIV
    ;

// Bases are parsed so that inheritance gets a clear diagnostic.
classdef: CLASS NAME (OPEN_PAREN arglist? CLOSE_PAREN)? COLON suite;

// ==================================================================== parser: expressions

test: or_test (IF or_test ELSE test)? | lambdef;
test_nocond: or_test | lambdef_nocond;
lambdef: LAMBDA lambda_params? COLON test;
lambdef_nocond: LAMBDA lambda_params? COLON test_nocond;
lambda_params: lambda_param (COMMA lambda_param)* COMMA?;
lambda_param: NAME (ASSIGN test)? | STAR NAME? | POWER NAME | DIV;

// Python's or_test / and_test / not_test / comparison, as one precedence-climbing rule
// (alternatives from the tightest binding to the loosest). Comparisons form a flat chain.
// The AST builder walks left-nested chains iteratively.
or_test
    : expr (comp_op expr)*          # compareTest
    | NOT or_test                   # notTest
    | or_test AND or_test           # andTest
    | or_test OR or_test            # orTest
    ;
comp_op
    : LESS_THAN | GREATER_THAN | EQUALS | GT_EQ | LT_EQ | NOT_EQ
    | IN | NOT IN | IS | IS NOT
    ;
star_expr: STAR expr;

// Python's expr (bitwise or) down to power, as one precedence-climbing rule. `**` is
// right-associative and binds tighter than a unary operator on its left (-2**2 == -4),
// while its right operand may itself be unary (2**-1).
expr
    : atom_expr                                             # atomExpr
    | <assoc=right> expr POWER expr                         # powerExpr
    | op=(ADD | MINUS | NOT_OP) expr                        # unaryExpr
    | expr op=(STAR | AT | DIV | MOD | IDIV) expr           # binaryExpr
    | expr op=(ADD | MINUS) expr                            # binaryExpr
    | expr op=AND_OP expr                                   # binaryExpr
    | expr op=XOR expr                                      # binaryExpr
    | expr op=OR_OP expr                                    # binaryExpr
    ;
atom_expr: atom trailer*;

atom
    : OPEN_PAREN testlist_comp? CLOSE_PAREN
    | OPEN_BRACK testlist_comp? CLOSE_BRACK
    | OPEN_BRACE dictorsetmaker? CLOSE_BRACE
    | NAME
    | INT_LIT
    | FLOAT_LIT
    | IMAG_LIT
    | STRING+
    | ELLIPSIS
    | NONE
    | TRUE
    | FALSE
    ;

testlist_comp: (test | star_expr) (comp_for | (COMMA (test | star_expr))* COMMA?);

trailer: OPEN_PAREN arglist? CLOSE_PAREN | OPEN_BRACK subscriptlist CLOSE_BRACK | DOT NAME;

subscriptlist: subscript (COMMA subscript)* COMMA?;
subscript: test (COLON test? sliceop?)? | COLON test? sliceop?;
sliceop: COLON test?;

exprlist: (expr | star_expr) (COMMA (expr | star_expr))* COMMA?;
testlist: test (COMMA test)* COMMA?;
testlist_star_expr: (test | star_expr) (COMMA (test | star_expr))* COMMA?;

// Dict displays and comprehensions; entries without ':' (set displays) are parsed so
// that they get a clear diagnostic.
dictorsetmaker: dict_entry (comp_for | (COMMA dict_entry)* COMMA?);
dict_entry: test (COLON test)? | POWER expr | STAR expr;

arglist: argument (COMMA argument)* COMMA?;
argument: test (comp_for | ASSIGN test)? | POWER test | STAR test;

comp_for: comp_clause+;
comp_clause: FOR exprlist IN or_test (IF test_nocond)*;

// ========================================================================== lexer

// Keywords of msl.
DEF: 'def';
RETURN: 'return';
RAISE: 'raise';
FROM: 'from';
IMPORT: 'import';
AS: 'as';
ASSERT: 'assert';
IF: 'if';
ELIF: 'elif';
ELSE: 'else';
WHILE: 'while';
FOR: 'for';
IN: 'in';
OR: 'or';
AND: 'and';
NOT: 'not';
IS: 'is';
NONE: 'None';
TRUE: 'True';
FALSE: 'False';
CLASS: 'class';
CONTINUE: 'continue';
BREAK: 'break';
PASS: 'pass';
LAMBDA: 'lambda';

// Python keywords that msl leaves out: reserved, and rejected by the token source with a
// diagnostic that says why.
GLOBAL: 'global';
NONLOCAL: 'nonlocal';
DEL: 'del';
WITH: 'with';
TRY: 'try';
EXCEPT: 'except';
FINALLY: 'finally';
YIELD: 'yield';
ASYNC: 'async';
AWAIT: 'await';

NEWLINE: '\n';

NAME: ID_START ID_CONTINUE*;

// A string literal, prefix and quotes included; frontend/Parser decodes it.
STRING: STRING_PREFIX? (SHORT_STRING | LONG_STRING);
// A string that is still open at the end of its line (or, triple-quoted, of the file).
UNTERMINATED_STRING: STRING_PREFIX? (SHORT_STRING_OPEN | LONG_STRING_OPEN);

INT_LIT
    : [1-9] ('_'? [0-9])*
    | '0'+ ('_'? '0')*
    | '0' [xX] ('_'? [0-9a-fA-F])+
    | '0' [oO] ('_'? [0-7])+
    | '0' [bB] ('_'? [01])+
    ;
FLOAT_LIT: POINT_FLOAT | EXPONENT_FLOAT;
IMAG_LIT: (POINT_FLOAT | EXPONENT_FLOAT | DIGIT_PART) [jJ];
// Digits run into letters or misplaced underscores: `1__0`, `0123`, `1e`, `0x`, `12ab`.
BAD_NUMBER: [0-9] [0-9a-zA-Z_]*;

ELLIPSIS: '...';
DOT: '.';
STAR: '*';
OPEN_PAREN: '(';
CLOSE_PAREN: ')';
COMMA: ',';
COLON: ':';
SEMI: ';';
POWER: '**';
ASSIGN: '=';
OPEN_BRACK: '[';
CLOSE_BRACK: ']';
OR_OP: '|';
XOR: '^';
AND_OP: '&';
ADD: '+';
MINUS: '-';
DIV: '/';
MOD: '%';
IDIV: '//';
NOT_OP: '~';
OPEN_BRACE: '{';
CLOSE_BRACE: '}';
LESS_THAN: '<';
GREATER_THAN: '>';
EQUALS: '==';
GT_EQ: '>=';
LT_EQ: '<=';
NOT_EQ: '!=';
AT: '@';
ARROW: '->';
ADD_ASSIGN: '+=';
SUB_ASSIGN: '-=';
MULT_ASSIGN: '*=';
AT_ASSIGN: '@=';
DIV_ASSIGN: '/=';
MOD_ASSIGN: '%=';
AND_ASSIGN: '&=';
OR_ASSIGN: '|=';
XOR_ASSIGN: '^=';
POWER_ASSIGN: '**=';
IDIV_ASSIGN: '//=';
// Python operators that msl leaves out (rejected by the token source).
LEFT_SHIFT: '<<';
RIGHT_SHIFT: '>>';
LEFT_SHIFT_ASSIGN: '<<=';
RIGHT_SHIFT_ASSIGN: '>>=';
WALRUS: ':=';

// A backslash at the end of a line joins it with the next. Kept on the hidden channel so
// that the token source can tell that the input ended inside a continuation.
LINE_JOIN: '\\' '\r'? '\n' -> channel(HIDDEN);
SPACES: [ \t\f\r]+ -> skip;
COMMENT: '#' ~[\n]* -> skip;

// Anything else is reported by the token source as an unexpected character.
ERROR_CHAR: .;

fragment STRING_PREFIX: [rRuUfFbB] | [fFbB] [rR] | [rR] [fFbB];

fragment SHORT_STRING
    : '\'' (~[\\\n'] | '\\' .)* '\''
    | '"' (~[\\\n"] | '\\' .)* '"'
    ;
fragment LONG_STRING
    : '\'\'\'' (~'\\' | '\\' .)*? '\'\'\''
    | '"""' (~'\\' | '\\' .)*? '"""'
    ;
fragment SHORT_STRING_OPEN
    : '\'' (~[\\\n'] | '\\' .)*
    | '"' (~[\\\n"] | '\\' .)*
    ;
// The body of an unterminated triple-quoted string: never contains the closing quotes, so
// that a terminated string is always the longer (preferred) match.
fragment LONG_STRING_OPEN
    : '\'\'\'' (~['\\] | '\\' . | '\'' ~['\\] | '\'' '\\' . | '\'\'' ~['\\] | '\'\'' '\\' .)*
    | '"""' (~["\\] | '\\' . | '"' ~["\\] | '"' '\\' . | '""' ~["\\] | '""' '\\' .)*
    ;

fragment DIGIT_PART: [0-9] ('_'? [0-9])*;
fragment POINT_FLOAT: DIGIT_PART? '.' DIGIT_PART | DIGIT_PART '.';
fragment EXPONENT_FLOAT: (DIGIT_PART | POINT_FLOAT) [eE] [+-]? DIGIT_PART;

// Identifiers as in Python (without NFKC normalisation).
fragment ID_START: [_\p{L}\p{Nl}];
fragment ID_CONTINUE: [\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}];
