// Printing values as LANGUAGE.md section 7 says, and the program's standard output.
#pragma once
#include <string>

#include "runtime/Value.h"

namespace msl {

// str(v): what print shows at the top level (strings raw, tensors NumPy-style).
std::string strOf(const Value& v);
// repr(v): what containers and the REPL echo show (strings quoted, tensors as tensor(...)).
std::string reprOf(const Value& v);
// Python's repr of a string: quoted ('...' unless it holds ' and no "), with escapes.
std::string strRepr(const std::string& s);
// Python's repr of a float: shortest round-trip digits ("0.1", "2.0", "1e-05", "inf", "nan").
std::string floatRepr(double d);
// format(v, spec) with Python's format mini-language for int, float, str, bool, None
// (fill, align, sign, '#', '0', width, ',', '_', precision, types b c d e E f F g G n o s x X %).
// Tensors with one element format as their item; other values format their str with
// only fill/align/width allowed.
std::string formatWithSpec(const Value& v, const std::string& spec);

// NumPy 1.24 print(array) with default print options (runtime/TensorPrint.cpp).
std::string tensorStr(const Tensor& t);
// tensor([1., 2.]) with ", dtype=i64" for non-default dtypes (f32 and i64 omit it... see
// LANGUAGE.md section 7: only f32 floats and i64 ints are defaults; bool also omitted).
std::string tensorRepr(const Tensor& t);

// The program's standard output: buffered; flushed at each newline when stdout is a
// terminal, otherwise when full, before every diagnostic and at exit.
void outWrite(const std::string& s);
void errWrite(const std::string& s);  // stderr: flushes stdout first
void outFlush();
// When set, what outWrite and errWrite would write is dropped (the fuzz harness runs
// programs with their output going nowhere).
extern bool discardOutput;

}  // namespace msl
