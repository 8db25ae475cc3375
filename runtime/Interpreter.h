// The eager interpreter: executes IR graphs (never the AST).
//
// Each graph is compiled once into a Code object: one slot per parameter and per Apply
// node, operands that name a slot, a constant, a captured free variable or a nested graph
// (which becomes a closure when evaluated), and the last use of every slot, where the
// value is moved out so that functional updates of uniquely-owned values happen in place.
// Frames live on a heap-allocated value stack; the depth of calls is limited (reported as
// an error, never a crash).
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/IR.h"
#include "ir/Specialize.h"
#include "runtime/PrimImpl.h"

namespace msl {

struct Code;
struct Frame;
struct CallCache;

// Thrown (not an msl::Error: no program can catch it) when an interrupt was requested:
// a Ctrl-C handler (the REPL's, or `msl run`'s and executables', runtime/AotMain.h)
// sets Interpreter::interruptRequested, and the interpreter checks it at every kernel
// call and loop back-edge (eager and compiled), unwinding to whoever runs the program.
// `diag` is "KeyboardInterrupt" at the place and with the traceback of that check.
struct Interrupted {
  Diagnostic diag;
};

// The value of a constant node of the kinds that hold their value (None, bool, int,
// float, str, dtype, primitive, ...); None for graph, global, class and module constants,
// which the interpreter resolves itself.
Value constValue(const ir::Node* n);

// --debug-nans (runtime/DebugNans.cpp): raises DebugNan when `out`, the result of
// primitive p on `inputs`, holds a NaN or Inf that no input held.
void checkNonFinite(Prim p, const Value* inputs, size_t n, const Value& out);

class Interpreter : public CallContext {
 public:
  // User-visible recursion limit (function calls), documented in docs/limits.md.
  static constexpr int kMaxCallDepth = 1000;  // as Python's default

  Interpreter();
  ~Interpreter() override;

  void setArgv(std::vector<std::string> argv);
  const std::vector<std::string>& argv() const override { return argv_; }

  // Runs the top level of `m` statement by statement (once: a second call returns the
  // module value without running it again).
  Value runModule(const ir::Module* m);
  // Runs one top-level statement graph; returns the value of an expression statement.
  Value runStatement(const ir::Graph* g);

  Value call(const Value& fn, std::vector<Value> args,
             std::vector<std::pair<std::string, Value>> kwargs = {}) override;
  Value jcall(const Value& fn, Value* args, size_t npos, const std::vector<std::string>* kwnames,
              uint64_t skipArgs = 0, uint32_t world = 0) override;
  Value jcallOuter(const Value& fn, Value* args, size_t npos, const std::vector<std::string>* kwnames,
                   uint64_t skipArgs, uint32_t inner) override;
  uint32_t jinnerWorld() const override { return frameJInner(); }
  // Forward mode (runtime/InterpreterJvp.cpp).
  Value jvpcall(const Value& fn, const Value& tfn, Value* args, Value* targs, size_t npos,
                const std::vector<std::string>* kwnames) override;
  Value jcallJvp(const Value& fn, const Value& tfn, Value* args, Value* targs, size_t npos,
                 const std::vector<std::string>* kwnames, uint64_t skipArgs, uint32_t world) override;
  // runtime/InterpreterVmap.cpp
  Value vmapcall(const Value& fn, int64_t size, const std::vector<bool>& mask, Value* args, size_t npos,
                 const std::vector<std::string>* kwnames) override;

  // The current value of a module-level variable (Undef if unset).
  Value& global(int id);
  // Set from a signal handler to interrupt the running evaluation (see Interrupted).
  static std::atomic<bool> interruptRequested;
  // Number of primitive kernel calls made so far (benchmarks confirm work done with it).
  uint64_t dispatchCount() const { return dispatches_; }
  // --debug-nans: after every kernel call, a float result (tensor or Python float) holding
  // a NaN (or an Inf) that none of its inputs held is an error naming the operation.
  void setDebugNans(bool on) { debugNans_ = on; }
  // --emit=grad: called with the text of every gradient graph J builds (autodiff/J.h).
  void setEmitGrad(std::function<void(const std::string&)> f) { emitGrad_ = std::move(f); }
  bool debugNans() const { return debugNans_; }
  // --mode=graph: every graph runs as code compiled by the GraphCompiler of
  // runtime/GraphMode.h (on its first run, per specialisation). Calls of a jit(f) closure
  // run compiled in either mode (jitDepth_ counts them on the stack).
  void setGraphMode(bool on) { graphMode_ = on; }
  bool graphMode() const { return graphMode_; }

  // One typed clone of each function per signature of its arguments (ir/Specialize.h);
  // the interpreter runs the clones.
  ir::Specializer& specializer() { return *specializer_; }

  // Implementation (public for the helpers in Interpreter.cpp).
  Value callValue(const Value& fn, Value* args, size_t npos, const std::vector<std::string>* kwnames);
  Value callClosure(const ClosureObj* cl, Value* args, size_t npos, const std::vector<std::string>* kwnames);
  const Code& codeFor(const ir::Graph* g);
  // The specialisation g belongs to (graph passes read its captured values' types): a
  // clone's, or for a J graph (and its bprop) that of the clone it differentiates.
  const ir::Specialisation* specialisationOf(const ir::Graph* g) const;
  Value exec(const Code& c, Frame& f);
  // Runs g with its parameters bound (moved from `bound`) and cl's captured values.
  Value runGraph(const ir::Graph* g, const ClosureObj* cl, Value* bound);
  [[noreturn]] void fail(Error& e);
  // Throws Interrupted at the current place (clearing interruptRequested).
  [[noreturn]] void interrupt();
  void checkInterrupt() {
    if (__builtin_expect(interruptRequested.load(std::memory_order_relaxed), 0)) interrupt();
  }

 private:
  friend struct InterpAccess;
  // Sets d's place (if unset) and traceback from the running frames.
  void locate(Diagnostic& d) const;
  std::vector<std::string> argv_;
  std::vector<Value> globals_;
  std::vector<uint64_t> globalSets_;  // per variable id: global_set runs (InferHooks::globalVersion)
  std::vector<std::unique_ptr<Code>> codes_;
  std::vector<Frame*> stack_;
  std::vector<std::pair<const ir::Module*, Value>> modules_;  // run or running
  std::unique_ptr<ir::Specializer> specializer_;
  // The specialisations closure calls found, per graph and signature (Interpreter.cpp).
  std::unique_ptr<CallCache> callCache_;
  std::function<void(const std::string&)> emitGrad_;
  std::unique_ptr<ir::Module> adModule_;  // graphs wrapping primitives called as values under J
  // adModule_, made on first use.
  ir::Module& adModule() {
    if (!adModule_) adModule_ = std::make_unique<ir::Module>("<autodiff>", nullptr);
    return *adModule_;
  }
  std::unordered_map<std::string, ir::Graph*> primWrappers_;  // their J graphs
  uint32_t lastJWorld_ = 0;  // J expansions started so far (docs/autodiff.md, higher order)
  // The world of the code running now (0: primal code), and its inner world.
  uint32_t frameJWorld() const;
  uint32_t frameJInner() const;
  // The J closure, in `world`, of a primitive called as a value with this signature.
  Value liftJ(const Value& fn, Value* args, size_t npos, const std::vector<std::string>* kwnames, uint64_t skip,
              uint32_t world);
  // The graph standing for primitive p called as a value with this signature, under J.
  ir::Graph* primWrapper(Prim p, size_t nargs, const std::vector<std::string>* kwnames);
  // A new graph of the autodiff module whose parameters a0.. are p's arguments (the last
  // ones by keyword) and whose output is the call: how the transforms see a primitive
  // called as a value.
  ir::Graph* primCallGraph(Prim p, size_t nargs, const std::vector<std::string>* kwnames);
  Value runJClosure(ir::Graph* jg, const ClosureObj* src, const ir::Graph* s, Value* bound, uint32_t world,
                    uint32_t inner);
  // jcallOuter's pieces (runtime/Interpreter.cpp): a closure with its parameters bound, a
  // call site's arrangement, a custom_vjp call as a graph.
  Value jjBound(const ClosureObj* cl, Value* bound, uint64_t skip, uint32_t outer, uint32_t inner);
  Value jjSite(const Value& r, Value plan);
  // J of the J graph jg (cached on it; printed by --emit=grad when first made).
  ir::Graph* jjGraph(const ir::Graph* jg);
  // jcall of the transforms that run when called (docs/autodiff.md, "grad of vmap and
  // jvp"): vmap_call, __vmapcall and __vmap_loop (runtime/InterpreterVmap.cpp), jvp and
  // __jvpcall (runtime/InterpreterJvp.cpp). args as jcall's of the primitive p. With
  // inner != 0, jcallOuter's: J (`world`, the outer one) of the call that jcall in world
  // `inner` makes, ((out, bprop), bprop').
  Value jcallVmap(Prim p, Value* args, size_t npos, const std::vector<std::string>* kwnames, uint32_t world,
                  uint32_t inner = 0);
  Value jcallJvpOf(Prim p, Value* args, size_t npos, const std::vector<std::string>* kwnames, uint32_t world,
                   uint32_t inner = 0);
  // The primal function value a value of J world `world` stands for: a closure the
  // differentiated code made becomes its source's closure over the primal values
  // (autodiff::jCaptures); partials and containers are mapped through. Raises where none.
  // inner != 0: a value of the outer expansion `world` of the second order, whose code is
  // J (world) of the code of `inner`; closures of J(J(h)) stand for closures of h.
  Value jPrimal(const Value& v, uint32_t world, uint32_t inner = 0);
  ir::Graph* customVjpLift(size_t npos, const std::vector<std::string>* kwnames);
  std::unordered_map<std::string, ir::Graph*> jvpPrimWrappers_;  // their JVP graphs
  // JVP of J(g) (runtime/InterpreterJvp.cpp): g with captured values `vals` (by
  // g->freeVars) and their tangents, called with args and their tangents in `world`.
  Value jvpOfJ(const ir::Graph* g, const std::vector<Value>& vals, const std::vector<Value>& tans,
               const std::vector<Value>& defaults, Value* args, Value* targs, size_t npos,
               const std::vector<std::string>* kwnames, uint64_t skip, uint32_t world);
  std::unordered_map<std::string, ir::Graph*> vmapWrappers_;  // graphs calling primitives batched by vmapcall
  int callDepth_ = 0;
  uint64_t dispatches_ = 0;
  bool debugNans_ = false;
  bool graphMode_ = false;
  int jitDepth_ = 0;
  // Heap value stack for frame slots, in chunks so that pointers stay valid.
  std::vector<std::unique_ptr<Value[]>> chunks_;
  size_t chunkIndex_ = 0, chunkUsed_ = 0;
  Value* allocSlots(size_t n, size_t* mark);
  void freeSlots(Value* p, size_t n, size_t mark);
};

}  // namespace msl
