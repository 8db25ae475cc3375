// A stable text form of IR graphs (msl --emit=ir, lit golden tests, :ir in the REPL).
//
//   graph @f(%x, %y = %main.3) [free: %outer.2] {
//     %1 = add(%x, %y)                       ; f.msl:2:14
//     %2 = @f.if_true                        (graph constants print as @qualname)
//     return %1
//   }
//
// Applies are numbered per graph in creation order; a node of another graph prints as
// %<graph>.<number>; constants inline (1, 2.5, 'str', None, f32, prim names, $global).
#pragma once
#include <string>

#include "ir/IR.h"

namespace msl::ir {

struct PrintOptions {
  bool locations = true;   // "; file:line:col" after each node
  bool types = true;       // ": f32[2,3]" after nodes that have an abstract value
};

// One graph (not the graphs it references).
std::string printGraph(const Graph* g, const PrintOptions& o = {});
// A graph and every graph it references, transitively, each once.
std::string printGraphTree(const Graph* g, const PrintOptions& o = {});
// All statement graphs of a module and everything they reference.
std::string printModule(const Module& m, const PrintOptions& o = {});

// Literal text shared by the printer and ir/Abstract's toString: a string in single
// quotes with \n \t \\ \' escaped; a float as its shortest round-trip digits with ".0"
// added when it would read as an integer.
std::string quoteLiteral(const std::string& s);
std::string floatLiteral(double d);

// Hook for printing abstract values without ir depending on ir/Abstract (set by Abstract.cpp).
extern std::string (*abstractToString)(const Abstract*);

}  // namespace msl::ir
