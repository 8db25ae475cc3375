#include "runtime/Interpreter.h"
#include "runtime/Profile.h"
#include "runtime/MethodParts.h"

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <cstdlib>
#include <unordered_map>

#include "autodiff/J.h"
#include "autodiff/Vmap.h"
#include "ir/Manager.h"
#include "ir/Printer.h"
#include "runtime/AbstractOf.h"
#include "runtime/GlobalAbstract.h"
#include "runtime/GraphMode.h"
#include "runtime/RuntimeAbi.h"
#include "runtime/Host.h"
#include "runtime/Iter.h"
#include "runtime/JvpRuntime.h"
#include "runtime/Print.h"
#include "runtime/PrintTrace.h"
#include "runtime/RecordAD.h"

namespace msl {

using ir::ConstKind;
using ir::Graph;
using ir::Node;

// ------------------------------------------------------------------ compiled graphs

enum class OpKind : uint8_t { Slot, Const, Free, Graph, Default };

struct Operand {
  OpKind kind = OpKind::Const;
  bool move = false;  // last use of a slot: move the value out
  uint32_t idx = 0;
};

// How one parameter of a callee is filled from a call's arguments (positional arguments
// first, then keyword arguments, as in an Apply node).
struct ParamSrc {
  enum Kind : uint8_t { One, Default, Tuple, Dict } kind = One;
  std::vector<uint16_t> srcs;  // argument indices (One: exactly one)
  std::vector<std::string> keys;  // Dict: the keyword names of srcs
};

struct GraphRef {
  const Graph* g;
  std::vector<Operand> captures;  // one per free variable of g
  std::vector<Operand> defaults;  // one per parameter; kind Default = none
  Value cached;                   // a closure made once when it captures nothing
};

struct Instr {
  enum Kind : uint8_t { Core, PrimCall, Dynamic } kind = Core;
  const Node* node = nullptr;
  Prim prim = Prim::MakeTuple;
  PrimFn fn = nullptr;
  uint32_t out = 0;
  boost::container::small_vector<Operand, 4> ops;  // Dynamic: callee first
  std::vector<ParamSrc> plan;                       // PrimCall: one per parameter
  bool planError = false;                           // PrimCall: binding fails when reached
};

struct Code {
  const Graph* g = nullptr;
  uint32_t nslots = 0;
  std::vector<Value> consts;
  std::vector<GraphRef> graphs;
  std::vector<Instr> instrs;
  Operand output;
  std::string funcName;  // for tracebacks: "<module>", "f", "<lambda>"
  bool isFunction = false;
  CompiledGraph compiled = nullptr;  // graph mode: its compiled code (runtime/GraphMode.h)
  bool interpreted = false;  // graph mode, but the compiler had no code for it: interpret
};

struct Frame {
  const Code* code;
  Value* slots;
  const ClosureObj* closure;
  const Instr* cur = nullptr;
  Interpreter* interp = nullptr;  // compiled code: the interpreter running it, and
  Value result;                   // the graph's output (msl_rt_return)
};

namespace {

// Signature of a callee for argument binding.
struct SigView {
  const char* fn;
  size_t n;
  std::function<const std::string&(size_t)> name;
  std::function<ir::ParamKind(size_t)> kind;
  std::function<bool(size_t)> hasDefault;
};

std::string plural(size_t n) { return n == 1 ? "" : "s"; }

// Python's binding rules; raises Arity, UnexpectedKeyword, MultipleValues, MissingArgument.
std::vector<ParamSrc> planBinding(const SigView& sig, size_t npos, const std::vector<std::string>* kwnames) {
  std::vector<ParamSrc> plan(sig.n);
  std::vector<bool> set(sig.n, false);
  std::vector<size_t> posParams;  // positional parameters, before any *args
  int varargs = -1, varkw = -1;
  for (size_t i = 0; i < sig.n; ++i) {
    ir::ParamKind k = sig.kind(i);
    if (k == ir::ParamKind::Positional && varargs < 0) posParams.push_back(i);
    if (k == ir::ParamKind::VarArgs) varargs = (int)i;
    if (k == ir::ParamKind::VarKw) varkw = (int)i;
  }
  if (varargs >= 0) { plan[varargs].kind = ParamSrc::Tuple; set[varargs] = true; }
  if (varkw >= 0) { plan[varkw].kind = ParamSrc::Dict; set[varkw] = true; }
  for (size_t a = 0; a < npos; ++a) {
    if (a < posParams.size()) {
      plan[posParams[a]].srcs = {(uint16_t)a};
      set[posParams[a]] = true;
    } else if (varargs >= 0) {
      plan[varargs].srcs.push_back((uint16_t)a);
    } else {
      size_t required = 0;
      for (size_t i : posParams)
        if (!sig.hasDefault(i)) ++required;
      size_t np = posParams.size();
      std::string takes = required == np ? std::to_string(np) : "from " + std::to_string(required) + " to " + std::to_string(np);
      raise(DiagId::Arity, SourceLoc{}, {sig.fn, takes, plural(np), std::to_string(npos), npos == 1 ? "was" : "were"});
    }
  }
  if (kwnames) {
    for (size_t k = 0; k < kwnames->size(); ++k) {
      const std::string& kw = (*kwnames)[k];
      size_t found = sig.n;
      for (size_t i = 0; i < sig.n; ++i)
        if ((sig.kind(i) == ir::ParamKind::Positional || sig.kind(i) == ir::ParamKind::KwOnly) && sig.name(i) == kw) found = i;
      if (found < sig.n) {
        if (set[found]) raise(DiagId::MultipleValues, SourceLoc{}, {sig.fn, kw});
        plan[found].srcs = {(uint16_t)(npos + k)};
        set[found] = true;
      } else if (varkw >= 0) {
        plan[varkw].srcs.push_back((uint16_t)(npos + k));
        plan[varkw].keys.push_back(kw);
      } else {
        raise(DiagId::UnexpectedKeyword, SourceLoc{}, {sig.fn, kw});
      }
    }
  }
  for (size_t i = 0; i < sig.n; ++i) {
    if (set[i]) continue;
    if (sig.hasDefault(i)) plan[i].kind = ParamSrc::Default;
    else raise(DiagId::MissingArgument, SourceLoc{}, {sig.fn, sig.name(i)});
  }
  return plan;
}

SigView primSig(Prim p) {
  const PrimInfo& info = primInfo(p);
  return SigView{info.name, info.params.size(),
                 [&info](size_t i) -> const std::string& { return info.params[i].name; },
                 [&info](size_t i) { return (ir::ParamKind)info.params[i].kind; },
                 [&info](size_t i) { return info.params[i].hasDefault; }};
}

SigView graphSig(const Graph* g) {
  return SigView{g->name.c_str(), g->params.size(),
                 [g](size_t i) -> const std::string& { return g->params[i]->name; },
                 [g](size_t i) { return g->paramKinds[i]; },
                 [g](size_t i) { return g->defaults[i] != nullptr; }};
}

// Materialises bound parameters from call arguments (moving them).
void applyPlan(const std::vector<ParamSrc>& plan, Value* args, Value* out, Prim prim, const ClosureObj* cl) {
  for (size_t i = 0; i < plan.size(); ++i) {
    const ParamSrc& s = plan[i];
    switch (s.kind) {
      case ParamSrc::One: out[i] = std::move(args[s.srcs[0]]); break;
      case ParamSrc::Default: out[i] = cl ? cl->defaults[i] : primDefault(prim, i); break;
      case ParamSrc::Tuple: {
        std::vector<Value> items;
        for (uint16_t a : s.srcs) items.push_back(std::move(args[a]));
        out[i] = makeTuple(std::move(items));
        break;
      }
      case ParamSrc::Dict: {
        Value d = makeDict();
        for (size_t k = 0; k < s.srcs.size(); ++k) d.as<DictObj>()->set(makeStr(s.keys[k]), std::move(args[s.srcs[k]]));
        out[i] = std::move(d);
        break;
      }
    }
  }
}

}  // namespace

// (runtime/Interpreter.h)
Value constValue(const Node* n) {
  switch (n->ckind) {
    case ConstKind::None: return Value::none();
    case ConstKind::Bool: return Value::boolean(n->b);
    case ConstKind::Int: return Value::integer(n->i);
    case ConstKind::Float: return Value::real(n->f);
    case ConstKind::Str: return makeStr(n->s);
    case ConstKind::DType: return Value::dtype(n->dtype);
    case ConstKind::Prim: return Value::prim((int)n->prim);
    case ConstKind::Undef: return Value::undef();
    case ConstKind::Ellipsis: return makeEllipsis();
    case ConstKind::Token: return Value::token();
    case ConstKind::Global:
    case ConstKind::Class:
    case ConstKind::Module:
    case ConstKind::Graph: break;  // carried by the node itself
  }
  return Value::none();
}

namespace {

// Strips depend(...) wrappers (ordering only) from a callee.
const Node* stripDepend(const Node* n) {
  while (n->isPrimApply(Prim::Depend)) n = n->inputs[1];
  return n;
}

const char* kUpdateMethods[] = {"append", "extend", "insert", "update"};
bool isUpdateMethod(const std::string& name) {
  for (const char* m : kUpdateMethods)
    if (name == m) return true;
  return false;
}

std::string functionNameOf(const Graph* g) {
  for (; g; g = g->parent)
    if (g->isFunction) return g->name;
  return "<module>";
}

// Autodiff's transformed graphs are not functions of the program (isFunction is false:
// the interpreter must not specialise them again), but a traceback shows the function of
// the program each one stands for: J(f) and vmap's batched f are "f", f's backpropagator
// "f (backward)"; the transformed graphs of branch and loop bodies are part of those
// (docs/autodiff.md, "Errors").
bool tracedFunction(const Graph* g, std::string* name) {
  if (g->isFunction) {
    *name = g->name;
    return true;
  }
  if (autodiff::vmapFunctionName(g, name)) return true;
  if (!g->madeByJ) return false;
  if (const Graph* src = autodiff::jSource(g)) return tracedFunction(src, name);
  if (autodiff::jCaptures(g)) {  // J of a local function without parameters
    *name = g->name;
    return true;
  }
  const Graph* p = g->parent;
  if (p && p->madeByJ && g->name == p->name + ".bprop" && tracedFunction(p, name)) {
    if (name->size() < 11 || name->compare(name->size() - 11, 11, " (backward)") != 0) *name += " (backward)";
    return true;
  }
  return false;
}

}  // namespace

// ------------------------------------------------------------------ compilation

struct Compiler {
  Code& c;
  std::unordered_map<const Node*, uint32_t> slotOf;
  std::unordered_map<const Node*, uint32_t> freeOf;
  std::unordered_map<const Graph*, uint32_t> graphOf;

  Operand operand(const Node* n) {
    Operand o;
    if (n->isConst()) {
      if (n->ckind == ConstKind::Graph) {
        o.kind = OpKind::Graph;
        o.idx = graphRef(n->g);
        return o;
      }
      o.kind = OpKind::Const;
      o.idx = (uint32_t)c.consts.size();
      c.consts.push_back(constValue(n));
      return o;
    }
    auto it = slotOf.find(n);
    if (it != slotOf.end()) { o.kind = OpKind::Slot; o.idx = it->second; return o; }
    auto jt = freeOf.find(n);
    if (jt != freeOf.end()) { o.kind = OpKind::Free; o.idx = jt->second; return o; }
    internalError("interpreter: node %" + std::to_string(n->id) + " is not available in graph " + c.g->qualname);
  }

  uint32_t graphRef(const Graph* g) {
    auto it = graphOf.find(g);
    if (it != graphOf.end()) return it->second;
    uint32_t idx = (uint32_t)c.graphs.size();
    graphOf[g] = idx;
    c.graphs.push_back(GraphRef{g, {}, {}, Value()});
    GraphRef ref{g, {}, {}, Value()};
    for (const Node* fv : g->freeVars) ref.captures.push_back(operand(fv));
    for (const Node* d : g->defaults) {
      if (d) ref.defaults.push_back(operand(d));
      else { Operand o; o.kind = OpKind::Default; ref.defaults.push_back(o); }
    }
    c.graphs[idx] = std::move(ref);
    return idx;
  }

  void build() {
    const Graph* g = c.g;
    uint32_t next = 0;
    for (const Node* p : g->params) slotOf[p] = next++;
    for (size_t i = 0; i < g->freeVars.size(); ++i) freeOf[g->freeVars[i]] = (uint32_t)i;
    for (const Node* n : g->nodes) slotOf[n] = next++;
    c.nslots = next;
    for (const Node* n : g->nodes) {
      Instr in;
      in.node = n;
      in.out = slotOf[n];
      const Node* callee = stripDepend(n->inputs[0]);
      Prim p;
      bool isPrim = callee->isConst() && callee->ckind == ConstKind::Prim && (p = callee->prim, true);
      if (isPrim && primInfo(p).group == PrimGroup::Core) {
        in.kind = Instr::Core;
        in.prim = p;
        for (size_t i = 1; i < n->inputs.size(); ++i) in.ops.push_back(operand(n->inputs[i]));
      } else if (isPrim && primImpl(p)) {
        in.kind = Instr::PrimCall;
        in.prim = p;
        in.fn = primImpl(p);
        for (size_t i = 1; i < n->inputs.size(); ++i) in.ops.push_back(operand(n->inputs[i]));
        try {
          in.plan = planBinding(primSig(p), n->numPositional(), &n->kwnames);
        } catch (Error&) {
          in.planError = true;  // raised again, with its place, when reached
        }
      } else {
        in.kind = Instr::Dynamic;
        in.ops.push_back(operand(callee));
        for (size_t i = 1; i < n->inputs.size(); ++i) in.ops.push_back(operand(n->inputs[i]));
      }
      c.instrs.push_back(std::move(in));
    }
    c.output = operand(g->output);
    markLastUses();
  }

  // A slot's last reader moves the value out (only at its last occurrence in that instr).
  void markLastUses() {
    std::vector<int64_t> last(c.nslots, -1);
    auto note = [&](const Operand& o, int64_t at) {
      if (o.kind == OpKind::Slot) last[o.idx] = std::max(last[o.idx], at);
    };
    for (size_t i = 0; i < c.instrs.size(); ++i)
      for (const Operand& o : c.instrs[i].ops) {
        note(o, (int64_t)i);
        if (o.kind == OpKind::Graph) {
          for (const Operand& x : c.graphs[o.idx].captures) note(x, (int64_t)i);
          for (const Operand& x : c.graphs[o.idx].defaults) note(x, (int64_t)i);
        }
      }
    // The output and anything captured by graphs used as the output stay alive to the end.
    int64_t end = (int64_t)c.instrs.size();
    note(c.output, end);
    if (c.output.kind == OpKind::Graph) {  // `return g`: g's closure is made after the last instr
      for (const Operand& x : c.graphs[c.output.idx].captures) note(x, end);
      for (const Operand& x : c.graphs[c.output.idx].defaults) note(x, end);
    }
    for (size_t i = 0; i < c.instrs.size(); ++i) {
      auto& ops = c.instrs[i].ops;
      for (size_t k = ops.size(); k-- > 0;) {
        Operand& o = ops[k];
        if (o.kind != OpKind::Slot || last[o.idx] != (int64_t)i) continue;
        // Not if a later operand, or a closure made by this instruction, still reads it.
        bool later = false;
        for (size_t j = k + 1; j < ops.size(); ++j) later |= ops[j].kind == OpKind::Slot && ops[j].idx == o.idx;
        for (const Operand& g : ops) {
          if (g.kind != OpKind::Graph) continue;
          for (const Operand& x : c.graphs[g.idx].captures) later |= x.kind == OpKind::Slot && x.idx == o.idx;
          for (const Operand& x : c.graphs[g.idx].defaults) later |= x.kind == OpKind::Slot && x.idx == o.idx;
        }
        if (!later) o.move = true;
      }
    }
    if (c.output.kind == OpKind::Slot) c.output.move = true;
  }
};

namespace {
// The interpreter whose codeFor is preparing a graph on this thread (GlobalAbstract.h).
thread_local Interpreter* preparing_ = nullptr;
}  // namespace

const ir::Abstract* preparingGlobalAbstract(const ir::GlobalVar* gv) {
  return preparing_ ? abstractOf(preparing_->global(gv->id)) : nullptr;
}

const ir::Specialisation* Interpreter::specialisationOf(const Graph* g) const {
  if (const ir::Specialisation* s = specializer_->info(g)) return s;
  // A J graph and the graphs nested in it (its bprop) read the captured values of the
  // clone it differentiates (autodiff/J.h): J(s)'s free variables are s's.
  for (const Graph* h = g; h && h->madeByJ; h = h->parent)
    if (const Graph* src = autodiff::jSource(h))
      if (const ir::Specialisation* s = specialisationOf(src)) return s;
  return nullptr;
}

const Code& Interpreter::codeFor(const Graph* g) {
  if (g->code) return *static_cast<const Code*>(g->code);
  // Graph mode: graph passes (fusion) run before the code of the graph is built; they may
  // read module-level values' abstracts (runtime/GlobalAbstract.h).
  if ((graphMode_ || jitDepth_ > 0) && graphCompiler()) {
    struct Preparing {
      Interpreter* saved = preparing_;
      explicit Preparing(Interpreter* it) { preparing_ = it; }
      ~Preparing() { preparing_ = saved; }
    } scope(this);
    graphCompiler()->prepare(const_cast<Graph*>(g), specialisationOf(g));
  }
  auto code = std::make_unique<Code>();
  code->g = g;
  code->isFunction = g->isFunction || g->parent == nullptr;
  code->funcName = functionNameOf(g);
  if (!code->isFunction) code->isFunction = tracedFunction(g, &code->funcName);
  Compiler comp{*code, {}, {}, {}};
  comp.build();
  g->code = code.get();
  codes_.push_back(std::move(code));
  return *codes_.back();
}

// ------------------------------------------------------------------ frames and stack

// The specialisations closure calls found, per graph called and signature of the call
// (docs/graph_mode.md, "Closure calls"). A call's signature is that of its bound arguments
// and of the closure's captured values (appendSignature: what eagerAbstract reads of
// them, without making abstracts), so a call with the signature of an earlier one has the
// same abstracts, hence the same SpecKey, and Specializer::get would find what it found
// then, unless a specialisation was forgotten since (its generation) or the one found is
// no longer current (a module-level variable its inference read was rebound to a value
// of another abstract): both are checked on every use. Calls with static arguments
// (jit(f, static_argnums=...)) and values appendSignature does not describe take
// Specializer::get every time. MSL_NO_CALL_CACHE=1 turns it off (A/B measurements).
struct CallCache {
  bool on = true;
  struct Entry {
    std::vector<uint64_t> sig;
    std::vector<Value> keep;  // the classes sig names
    const ir::Specialisation* spec = nullptr;
    uint64_t generation = 0;
  };
  static constexpr size_t kPerGraph = 4;  // signatures remembered per graph
  struct Slot {
    std::vector<Entry> entries;
    size_t next = 0;  // the entry to replace next when all are in use
  };
  std::unordered_map<const Graph*, Slot> slots;
  std::vector<uint64_t> sig;  // the signature of the call being looked up
};

std::atomic<bool> Interpreter::interruptRequested{false};

void Interpreter::interrupt() {
  interruptRequested = false;
  Interrupted in;
  in.diag.id = DiagId::Raised;
  in.diag.message = "KeyboardInterrupt";
  locate(in.diag);
  throw in;
}

Interpreter::Interpreter() {
  ir::InferHooks hooks;
  hooks.globalValue = [this](const ir::GlobalVar* gv) { return abstractOf(global(gv->id)); };
  hooks.globalVersion = [this](const ir::GlobalVar* gv) {
    return (size_t)gv->id < globalSets_.size() ? globalSets_[gv->id] : 0;
  };
  specializer_ = std::make_unique<ir::Specializer>(std::move(hooks));
  callCache_ = std::make_unique<CallCache>();
  if (const char* e = std::getenv("MSL_NO_CALL_CACHE")) callCache_->on = std::string(e) != "1";
}
Interpreter::~Interpreter() {
  for (auto& c : codes_) c->g->code = nullptr;
}

void Interpreter::setArgv(std::vector<std::string> argv) { argv_ = std::move(argv); }

Value& Interpreter::global(int id) {
  if ((size_t)id >= globals_.size()) globals_.resize(id + 64, Value::undef());
  return globals_[id];
}

static constexpr size_t kChunk = 1 << 16;

Value* Interpreter::allocSlots(size_t n, size_t* mark) {
  if (chunks_.empty()) chunks_.push_back(std::make_unique<Value[]>(std::max(kChunk, n)));
  if (chunkUsed_ + n > kChunk) {
    ++chunkIndex_;
    if (chunkIndex_ >= chunks_.size()) chunks_.push_back(std::make_unique<Value[]>(std::max(kChunk, n)));
    *mark = 0;
    chunkUsed_ = 0;
  }
  *mark = chunkUsed_ | (chunkIndex_ << 32);
  Value* p = chunks_[chunkIndex_].get() + chunkUsed_;
  chunkUsed_ += n;
  return p;
}

void Interpreter::freeSlots(Value* p, size_t n, size_t mark) {
  for (size_t i = 0; i < n; ++i) p[i] = Value();
  chunkIndex_ = mark >> 32;
  chunkUsed_ = mark & 0xffffffffu;
}

// RAII frame: slots on the heap stack, pushed on the interpreter's frame list.
struct FrameScope {
  Interpreter& it;
  std::vector<Frame*>& stack;
  Frame f;
  size_t mark = 0;
  FrameScope(Interpreter& it, std::vector<Frame*>& stack, const Code& c, const ClosureObj* cl, Value* slots)
      : it(it), stack(stack), f{&c, slots, cl, nullptr, nullptr, Value()} {
    stack.push_back(&f);
  }
  ~FrameScope() { stack.pop_back(); }
};

void Interpreter::locate(Diagnostic& d) const {
  if (stack_.empty()) return;
  Frame* top = stack_.back();
  if (!d.loc.valid() && top->cur) d.loc = top->cur->node->loc;
  if (!d.traceback.empty()) return;
  for (Frame* f : stack_) {
    SourceLoc loc = f->cur ? f->cur->node->loc : f->code->g->loc;
    if (f->code->g->module == adModule_.get() && adModule_) continue;  // autodiff's own glue graphs
    if (f == top && d.loc.valid() && d.callee.empty()) loc = d.loc;
    // Branch and loop bodies are part of the function that contains them.
    if (!f->code->isFunction && !d.traceback.empty()) d.traceback.back().loc = loc;
    else d.traceback.push_back(TraceEntry{loc, f->code->funcName});
  }
  if (!d.callee.empty() && d.loc.valid()) d.traceback.push_back(TraceEntry{d.loc, d.callee});
}

void Interpreter::fail(Error& e) {
  locate(e.diag);
  throw e;
}

// ------------------------------------------------------------------ calls

struct InterpAccess {
  static Value makeClosure(Interpreter& it, Frame& f, uint32_t graphIdx);
  static Value fetch(Interpreter& it, Frame& f, const Operand& o);
  static void step(Interpreter& self, const Code& c, Frame& f, const Instr* in);
  static Value execCompiled(Interpreter& it, const Code& c, Frame& f);
  // The specialisation of cl's graph (a function) that runs a call with these bound
  // arguments (callClosure).
  static const Graph* specialise(Interpreter& it, const ClosureObj* cl, const Value* bound, size_t n);
  static SourceLoc currentLoc(const Interpreter& it) {
    for (auto f = it.stack_.rbegin(); f != it.stack_.rend(); ++f)
      if ((*f)->cur && !(it.adModule_ && (*f)->code->g->module == it.adModule_.get())) return (*f)->cur->node->loc;
    return SourceLoc{};
  }
};

SourceLoc currentLoc(CallContext& cx) {
  auto* it = dynamic_cast<Interpreter*>(&cx);
  return it ? InterpAccess::currentLoc(*it) : SourceLoc{};
}

Value InterpAccess::fetch(Interpreter& it, Frame& f, const Operand& o) {
  switch (o.kind) {
    case OpKind::Slot: return o.move ? std::move(f.slots[o.idx]) : f.slots[o.idx];
    case OpKind::Const: return f.code->consts[o.idx];
    case OpKind::Free: return f.closure->captured[o.idx];
    case OpKind::Graph: return makeClosure(it, f, o.idx);
    case OpKind::Default: break;
  }
  return Value::undef();
}

Value InterpAccess::makeClosure(Interpreter& it, Frame& f, uint32_t graphIdx) {
  const GraphRef& r = f.code->graphs[graphIdx];
  // (a J graph's closure belongs to the world of the frame that makes it: reused while
  // that is the cached one's, e.g. a loop body's bprop that captures nothing)
  bool jWorld = r.g->madeByJ && f.closure;
  if (!r.cached.isNone() && (!r.g->madeByJ || (jWorld && r.cached.as<ClosureObj>()->jworld == f.closure->jworld &&
                                                 r.cached.as<ClosureObj>()->jinner == f.closure->jinner)))
    return r.cached;
  auto* cl = new ClosureObj();
  Value v = Value::object(cl);
  cl->graph = r.g;
  if (r.g->madeByJ && f.closure) {
    cl->jworld = f.closure->jworld;
    cl->jinner = f.closure->jinner;
  }
  cl->captured.reserve(r.captures.size());
  for (const Operand& o : r.captures) {
    Operand copy = o;
    copy.move = false;
    cl->captured.push_back(fetch(it, f, copy));
  }
  for (const Operand& o : r.defaults) {
    Operand copy = o;
    copy.move = false;
    cl->defaults.push_back(o.kind == OpKind::Default ? Value::undef() : fetch(it, f, copy));
  }
  bool constant = r.captures.empty() && (!r.g->madeByJ || jWorld);
  for (const Operand& o : r.defaults) constant &= o.kind == OpKind::Default || o.kind == OpKind::Const;
  if (constant) const_cast<GraphRef&>(r).cached = v;
  return v;
}

// Eager mode keys specialisations on types, not on string values: a function called with
// many different messages must not run into the specialisation cap.
static const ir::Abstract* eagerAbstract(const Value& v) {
  if (v.is(VKind::Str)) return ir::Abstract::str();
  return abstractOf(v);
}

// The signature of a call of cl with these bound arguments (eager mode's abstracts, as in
// callClosure); false when it has none.
static bool callSignature(const ClosureObj* cl, const Value* bound, size_t n, std::vector<uint64_t>& out,
                          std::vector<Value>* keep = nullptr) {
  out.clear();
  for (size_t i = 0; i < n; ++i)
    if (!appendSignature(bound[i], true, out, keep)) return false;
  out.push_back(cl->captured.size());
  for (const Value& v : cl->captured)
    if (!appendSignature(v, true, out, keep)) return false;
  return true;
}

const Graph* InterpAccess::specialise(Interpreter& it, const ClosureObj* cl, const Value* bound, size_t n) {
  const Graph* g = cl->graph;
  ir::Specializer& sp = *it.specializer_;
  uint64_t statics = cl->jit ? cl->staticArgs : 0;
  CallCache& cc = *it.callCache_;
  CallCache::Slot* slot = nullptr;
  if (cc.on && statics == 0 && callSignature(cl, bound, n, cc.sig)) {
    slot = &cc.slots[g];
    for (const CallCache::Entry& e : slot->entries)
      if (e.generation == sp.generation() && e.sig == cc.sig && sp.stillCurrent(e.spec)) return e.spec->graph;
  }
  std::vector<const ir::Abstract*> argAbs, capAbs;
  argAbs.reserve(n);
  for (size_t i = 0; i < n; ++i)
    argAbs.push_back(i < 64 && ((statics >> i) & 1) ? staticAbstractOf(bound[i]) : eagerAbstract(bound[i]));
  capAbs.reserve(cl->captured.size());
  for (const Value& v : cl->captured) capAbs.push_back(eagerAbstract(v));
  const Graph* s = sp.get(g, argAbs, capAbs, statics);
  const ir::Specialisation* spec = sp.info(s);
  if (slot && spec && spec->graph == s) {
    CallCache::Entry e;
    e.spec = spec;
    e.generation = sp.generation();
    callSignature(cl, bound, n, e.sig, &e.keep);
    auto stale = std::find_if(slot->entries.begin(), slot->entries.end(),
                              [&](const CallCache::Entry& x) { return x.generation != e.generation; });
    if (stale != slot->entries.end()) {
      *stale = std::move(e);
    } else if (slot->entries.size() < CallCache::kPerGraph) {
      slot->entries.push_back(std::move(e));
    } else {
      slot->entries[slot->next] = std::move(e);
      slot->next = (slot->next + 1) % CallCache::kPerGraph;
    }
  }
  return s;
}

Value Interpreter::callClosure(const ClosureObj* cl, Value* args, size_t npos, const std::vector<std::string>* kwnames) {
  const Graph* g = cl->graph;
  if (g->isFunction && ++callDepth_ > kMaxCallDepth) {
    --callDepth_;
    raise(DiagId::RecursionTooDeep, SourceLoc{}, {std::to_string(kMaxCallDepth)});
  }
  struct DepthGuard { Interpreter* it; bool on; ~DepthGuard() { if (on) --it->callDepth_; } } guard{this, g->isFunction};
  // A jit(f) closure: f and what it calls run compiled (runtime/GraphMode.h).
  struct JitGuard { int* d; bool on; ~JitGuard() { if (on) --*d; } } jitGuard{&jitDepth_, cl->jit};
  if (cl->jit) ++jitDepth_;
  // Bind the arguments to the parameters.
  size_t n = g->params.size();
  boost::container::small_vector<Value, 8> bound(n);
  bool simple = (!kwnames || kwnames->empty()) && npos <= n;
  for (size_t i = 0; simple && i < n; ++i) simple = g->paramKinds[i] == ir::ParamKind::Positional;
  if (simple) {
    for (size_t i = 0; i < npos; ++i) bound[i] = std::move(args[i]);
    for (size_t i = npos; i < n; ++i) {
      if (!g->defaults[i]) raise(DiagId::MissingArgument, SourceLoc{}, {g->name, g->params[i]->name});
      bound[i] = cl->defaults[i];
    }
  } else {
    auto plan = planBinding(graphSig(g), npos, kwnames);
    applyPlan(plan, args, bound.data(), Prim::MakeTuple, cl);
  }
  // Functions run as their specialisation to the signature of this call (static
  // arguments of a jit(f, static_argnums=...) closure with their values).
  if (g->isFunction) g = InterpAccess::specialise(*this, cl, bound.data(), n);
  const Code& code = codeFor(g);
  size_t mark;
  Value* slots = allocSlots(code.nslots, &mark);
  struct SlotGuard { Interpreter* it; Value* p; size_t n, mark; ~SlotGuard() { it->freeSlots(p, n, mark); } } sg{this, slots, code.nslots, mark};
  for (size_t i = 0; i < n; ++i) slots[i] = std::move(bound[i]);
  FrameScope fs(*this, stack_, code, cl, slots);
  return exec(code, fs.f);
}

// ------------------------------------------------------------------ differentiation

namespace {

// A binding plan as __jsite_bprop reads it (see runtime/AutodiffPrims.cpp) for a call of
// graph g; None when parameter i is argument i for every i.
Value planValue(const std::vector<ParamSrc>& plan, size_t nargs, const Graph* g) {
  bool trivial = plan.size() == nargs;
  for (size_t i = 0; trivial && i < plan.size(); ++i) trivial = plan[i].kind == ParamSrc::One && plan[i].srcs[0] == i;
  if (trivial) return Value::none();
  std::vector<Value> out;
  for (size_t i = 0; i < plan.size(); ++i) {
    const ParamSrc& s = plan[i];
    switch (s.kind) {
      case ParamSrc::One: out.push_back(Value::integer(s.srcs[0])); break;
      case ParamSrc::Default: out.push_back(defaultSiteEntry(g, i)); break;
      case ParamSrc::Tuple: {
        std::vector<Value> items;
        for (uint16_t a : s.srcs) items.push_back(Value::integer(a));
        out.push_back(makeTuple(std::move(items)));
        break;
      }
      case ParamSrc::Dict: {
        Value d = makeDict();
        for (size_t k = 0; k < s.srcs.size(); ++k) d.as<DictObj>()->set(makeStr(s.keys[k]), Value::integer(s.srcs[k]));
        out.push_back(std::move(d));
        break;
      }
    }
  }
  out.push_back(Value::integer((int64_t)nargs));
  return makeTuple(std::move(out));
}

// The arguments of partial po's call (bound ones, the call's own, bound keywords, own
// keywords: all and names) and the site plan ("pick", bound, bound keywords, own...) that
// gives the partial the cotangent (ct of its function, cts of its bound arguments, dict
// of cts of its bound keywords).
Value partialPlan(const PartialObj* po, Value* args, size_t npos, const std::vector<std::string>* kwnames,
                  std::vector<Value>& all, std::vector<std::string>& names) {
  all.assign(po->args.begin(), po->args.end());
  size_t nb = all.size(), nkw = kwnames ? kwnames->size() : 0;
  for (size_t i = 0; i < npos; ++i) all.push_back(std::move(args[i]));
  for (const auto& [k, v] : po->kwargs) {
    names.push_back(k);
    all.push_back(v);
  }
  for (size_t k = 0; k < nkw; ++k) {
    names.push_back((*kwnames)[k]);
    all.push_back(std::move(args[npos + k]));
  }
  std::vector<Value> bound;
  for (size_t i = 0; i < nb; ++i) bound.push_back(Value::integer((int64_t)(1 + i)));
  Value boundKw = makeDict();
  size_t j = 0;
  for (const auto& kv : po->kwargs) boundKw.as<DictObj>()->set(makeStr(kv.first), Value::integer((int64_t)(1 + nb + npos + j++)));
  std::vector<Value> pick{makeStr("pick"), makeTuple(std::move(bound)), boundKw};
  for (size_t i = 0; i < npos; ++i) pick.push_back(Value::integer((int64_t)(1 + nb + i)));
  for (size_t k = 0; k < nkw; ++k) pick.push_back(Value::integer((int64_t)(1 + nb + npos + po->kwargs.size() + k)));
  return makeTuple(std::move(pick));
}

Value sitePartial(Value bprop, Value plan) {
  auto* po = new PartialObj();
  Value v = Value::object(po);
  po->func = Value::prim((int)Prim::JSiteBprop);
  po->args = {std::move(bprop), std::move(plan)};
  return v;
}

}  // namespace

Value Interpreter::runGraph(const Graph* g, const ClosureObj* cl, Value* bound) {
  const Code& code = codeFor(g);
  size_t mark;
  Value* slots = allocSlots(code.nslots, &mark);
  struct SlotGuard { Interpreter* it; Value* p; size_t n, mark; ~SlotGuard() { it->freeSlots(p, n, mark); } } sg{this, slots, code.nslots, mark};
  for (size_t i = 0; i < g->params.size(); ++i) slots[i] = std::move(bound[i]);
  FrameScope fs(*this, stack_, code, cl, slots);
  return exec(code, fs.f);
}

uint32_t Interpreter::frameJWorld() const {
  return stack_.empty() || !stack_.back()->closure ? 0 : stack_.back()->closure->jworld;
}
uint32_t Interpreter::frameJInner() const {
  return stack_.empty() || !stack_.back()->closure ? 0 : stack_.back()->closure->jinner;
}

// Runs jg (J of s, the graph of src or its specialisation) as a closure of `world` over
// src's captured values.
Value Interpreter::runJClosure(Graph* jg, const ClosureObj* src, const Graph* s, Value* bound, uint32_t world,
                               uint32_t inner) {
  auto* jc = new ClosureObj();
  Value jv = Value::object(jc);
  jc->graph = jg;
  jc->defaults = src->defaults;
  jc->jworld = world;
  jc->jinner = inner;
  for (Node* fv : jg->freeVars) {
    auto at = std::find(s->freeVars.begin(), s->freeVars.end(), fv);
    jc->captured.push_back(at != s->freeVars.end() ? src->captured[(size_t)(at - s->freeVars.begin())] : Value::undef());
  }
  return runGraph(jg, jc, bound);
}

// jacobian(f, argnums)(*args, **kwargs) (jacobian_call) as IR, so that J and JVP see its
// calls: (out, bp) = __jenter(f, argnums, "jacobian", args, kwargs); one backward pass per
// seed (a one-hot cotangent of out, __grad_seed's list), in a loop whose carry is the
// chain ((((), bp(s_0)), bp(s_1)), ...); __grad_pack arranges the chain as the jacobian
// (runtime/AutodiffPrims.cpp).
static Graph* jacobianGraph(ir::Module& m, size_t npos, const std::vector<std::string>* kwnames) {
  size_t nkw = kwnames ? kwnames->size() : 0;
  Graph* w = m.newGraph("jacobian_call", nullptr, SourceLoc{});
  w->qualname = "jacobian_call";
  std::vector<Node*> ps;
  for (size_t i = 0; i < npos + nkw; ++i) ps.push_back(m.newParam(w, "a" + std::to_string(i), SourceLoc{}));
  auto prim = [&](Graph* g, Prim q, std::vector<Node*> in) {
    in.insert(in.begin(), m.constPrim(q));
    return m.newApply(g, std::move(in), SourceLoc{});
  };
  std::vector<Node*> items(ps.begin() + 2, ps.begin() + (long)npos), kv;
  for (size_t k = 0; k < nkw; ++k) {
    kv.push_back(m.constStr((*kwnames)[k]));
    kv.push_back(ps[npos + k]);
  }
  Node* kind = m.constStr("jacobian");
  Node* args = prim(w, Prim::MakeTuple, items);
  Node* r = prim(w, Prim::JEnter, {ps[0], ps[1], kind, args, prim(w, Prim::MakeDict, kv)});
  Node* out = prim(w, Prim::TupleGetItem, {r, m.constInt(0)});
  Node* bp = prim(w, Prim::TupleGetItem, {r, m.constInt(1)});
  Node* seeds = prim(w, Prim::GradSeed, {out, m.constBool(false), kind});
  // for s in seeds: chain = (chain, bp(s))   (a scan body returns (continue?, carry tuple))
  Graph* b = m.newGraph("jacobian_call.for_body", w, SourceLoc{});
  b->qualname = "jacobian_call.for_body";
  Node* carry = m.newParam(b, "carry", SourceLoc{});
  Node* s = m.newParam(b, "item", SourceLoc{});
  Node* chain = prim(b, Prim::TupleGetItem, {carry, m.constInt(0)});
  Node* ct = m.newApply(b, {bp, s}, SourceLoc{});
  b->output = prim(b, Prim::MakeTuple, {m.constBool(true), prim(b, Prim::MakeTuple, {prim(b, Prim::MakeTuple, {chain, ct})})});
  Node* loop = prim(w, Prim::Scan, {m.constGraph(b, SourceLoc{}), seeds, prim(w, Prim::MakeTuple, {prim(w, Prim::MakeTuple, {})})});
  Node* cts = prim(w, Prim::TupleGetItem, {loop, m.constInt(0)});
  Node* structure = prim(w, Prim::MakeTuple, {args, out});  // (no cotangent flows into the pack's args)
  w->output = prim(w, Prim::GradPack, {cts, m.constNone(), structure, ps[1], m.constBool(false), kind});
  ir::computeFreeVars(std::vector<Graph*>{w, b});
  return w;
}

// A graph calling primitive p with nargs arguments (the last ones by keyword). The
// primitives that call functions are written out as IR, so that J can see the calls:
// grad(f)(args) (grad_call), the backpropagator of a call site (__jsite_bprop) and
// vjp's f_vjp (vjp_call).
Graph* Interpreter::primWrapper(Prim p, size_t nargs, const std::vector<std::string>* kwnames) {
  std::string key = std::to_string((int)p) + "/" + std::to_string(nargs);
  if (kwnames)
    for (const auto& k : *kwnames) key += "/" + k;
  auto found = primWrappers_.find(key);
  if (found != primWrappers_.end()) return found->second;
  size_t nkw = kwnames ? kwnames->size() : 0, npos = nargs - nkw;
  bool grad = p == Prim::GradCall && npos >= 4;
  bool site = (p == Prim::JSiteBprop || p == Prim::VjpCall) && nargs == 3 && nkw == 0;
  if (p == Prim::JacobianCall && npos >= 2) {
    return primWrappers_.emplace(key, jacobianGraph(adModule(), npos, kwnames)).first->second;
  }
  if (!grad && !site) return primWrappers_.emplace(key, primCallGraph(p, nargs, kwnames)).first->second;
  ir::Module& m = adModule();
  Graph* w = m.newGraph(primName(p), nullptr, SourceLoc{});
  w->qualname = primName(p);
  std::vector<Node*> ps;
  for (size_t i = 0; i < nargs; ++i) ps.push_back(m.newParam(w, "a" + std::to_string(i), SourceLoc{}));
  auto app = [&](std::vector<Node*> in) { return m.newApply(w, std::move(in), SourceLoc{}); };
  auto prim = [&](Prim q, std::vector<Node*> in) {
    in.insert(in.begin(), m.constPrim(q));
    return app(std::move(in));
  };
  if (grad) {
    // (out, bp) = __jenter(f, argnums, kind, args, kwargs); cts = bp(seed); pack.
    std::vector<Node*> items(ps.begin() + 4, ps.begin() + (long)npos), kv;
    for (size_t k = 0; k < nkw; ++k) {
      kv.push_back(m.constStr((*kwnames)[k]));
      kv.push_back(ps[npos + k]);
    }
    Node* args = prim(Prim::MakeTuple, items);
    Node* kwargs = prim(Prim::MakeDict, kv);
    Node* r = prim(Prim::JEnter, {ps[0], ps[1], ps[3], args, kwargs});
    Node* out = prim(Prim::TupleGetItem, {r, m.constInt(0)});
    Node* bp = prim(Prim::TupleGetItem, {r, m.constInt(1)});
    Node* cts = app({bp, prim(Prim::GradSeed, {out, ps[2], ps[3]})});
    w->output = prim(Prim::GradPack, {cts, out, args, ps[1], ps[2], ps[3]});
  } else {
    // __jsite_bprop(bp, plan, ct) = __jsite_arrange(bp(ct), plan); vjp_call(bp, xs, ct) = __vjp_pack(bp(ct), xs)
    Node* cts = app({ps[0], ps[2]});
    w->output = prim(p == Prim::JSiteBprop ? Prim::JSiteArrange : Prim::VjpPack, {cts, ps[1]});
  }
  ir::computeFreeVars(std::vector<Graph*>{w});
  return primWrappers_.emplace(key, w).first->second;
}

Graph* Interpreter::primCallGraph(Prim p, size_t nargs, const std::vector<std::string>* kwnames) {
  ir::Module& m = adModule();
  Graph* w = m.newGraph(primName(p), nullptr, SourceLoc{});
  w->qualname = primName(p);
  std::vector<Node*> in{m.constPrim(p)};
  for (size_t i = 0; i < nargs; ++i) in.push_back(m.newParam(w, "a" + std::to_string(i), SourceLoc{}));
  w->output = m.newApply(w, in, SourceLoc{});
  if (kwnames) w->output->kwnames = *kwnames;
  return w;
}

Value Interpreter::liftJ(const Value& fn, Value* args, size_t npos, const std::vector<std::string>* kwnames,
                         uint64_t skip, uint32_t world) {
  size_t nargs = npos + (kwnames ? kwnames->size() : 0);
  auto* jc = new ClosureObj();
  Value jv = Value::object(jc);
  jc->jworld = world;
  if (fn.is(VKind::Prim) && primInfo((Prim)fn.asInt()).group != PrimGroup::Core) {
    jc->graph = autodiff::jGraph(primWrapper((Prim)fn.asInt(), nargs, kwnames));
    jc->defaults.assign(nargs, Value::undef());
    return jv;
  }
  raise(DiagId::NotSupportedYetPlural, SourceLoc{}, {"second-order derivatives through a call of a " + typeNameOf(fn)});
}

static Value constructRecord(const Value& clsv, Value* args, size_t npos, const std::vector<std::string>* kwnames);

Value Interpreter::jPrimal(const Value& v, uint32_t world, uint32_t inner) {
  // (jPrimal gives back v itself where nothing changes: same kind and bits)
  auto same = [](const Value& a, const Value& b) { return a.kind() == b.kind() && a.obj() == b.obj(); };
  auto mapped = [&](const std::vector<Value>& xs, std::vector<Value>* out) {
    bool changed = false;
    for (const Value& x : xs) {
      out->push_back(jPrimal(x, world, inner));
      changed = changed || !same(out->back(), x);
    }
    return changed;
  };
  switch (v.kind()) {
    case VKind::Closure: {
      const ClosureObj* cl = v.as<ClosureObj>();
      const Graph* g = cl->graph;
      if (!g->madeByJ) return v;  // a function of the program
      if (inner && cl->jworld == inner && cl->jinner == 0) return jPrimal(v, inner);  // made by the inner expansion
      // Made by the code of J(J(h)) (inner != 0): the primal closure of h. Its list of
      // captured values is J(h)'s, transformed: h's free variables, in order.
      bool twice = inner && cl->jworld == world && cl->jinner == inner;
      const Node* caps = autodiff::jCaptures(g);
      const Graph* src = autodiff::jSource(g);
      if (twice && src) src = src->madeByJ ? autodiff::jSource(src) : nullptr;
      if (!twice && (cl->jworld != world || cl->jinner != 0))
        raise(DiagId::NotSupportedYetPlural, SourceLoc{}, {"third-order derivatives (vmap or jvp inside a second derivative)"});
      if (src && src->madeByJ)
        raise(DiagId::NotSupportedYetPlural, SourceLoc{}, {"third-order derivatives (vmap or jvp inside a second derivative)"});
      if (!caps || !src || caps->inputs.size() != src->freeVars.size() + 1)
        raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating vmap or jvp of a function made by differentiated code"});
      auto* pc = new ClosureObj();
      Value pv = Value::object(pc);
      pc->graph = src;
      for (const Value& d : cl->defaults) pc->defaults.push_back(d.is(VKind::Undef) ? d : jPrimal(d, world, inner));
      for (size_t k = 1; k < caps->inputs.size(); ++k) {
        const Node* in = caps->inputs[k];
        if (in->isConst()) {
          if (in->ckind == ir::ConstKind::Graph || in->ckind == ir::ConstKind::Global || in->ckind == ir::ConstKind::Class ||
              in->ckind == ir::ConstKind::Module)
            raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating vmap or jvp of a function that captures a function"});
          pc->captured.push_back(constValue(in));
          continue;
        }
        auto at = std::find(g->freeVars.begin(), g->freeVars.end(), in);
        if (at == g->freeVars.end())
          raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating vmap or jvp of a function made by differentiated code"});
        pc->captured.push_back(jPrimal(cl->captured[(size_t)(at - g->freeVars.begin())], world, inner));
      }
      return pv;
    }
    case VKind::Partial: {
      const auto* po = v.as<PartialObj>();
      // A lifted local function (autodiff/Lift.h): partial(J(g'), captured values..., rest...)
      // is the primal closure of g over those values (its cotangent then a dict, which the
      // J code that made the partial also reads).
      if (po->func.is(VKind::Closure) && po->kwargs.empty()) {
        const ClosureObj* cl = po->func.as<ClosureObj>();
        const Node* caps = cl->graph->madeByJ ? autodiff::jCaptures(cl->graph) : nullptr;
        const Graph* src = caps && caps->jorigin ? autodiff::jSource(cl->graph) : nullptr;
        size_t k = caps ? caps->inputs.size() - 1 : 0;
        if (src && k <= po->args.size() && k == src->freeVars.size() && cl->defaults.size() >= k) {
          if (inner && cl->jworld == inner && cl->jinner == 0) return jPrimal(v, inner);  // made by the inner expansion
          if (cl->jworld != world || cl->jinner != 0 || src->madeByJ)
            raise(DiagId::NotSupportedYet, SourceLoc{}, {"third-order derivatives (vmap or jvp inside a second derivative)"});
          auto* pc = new ClosureObj();
          Value pv = Value::object(pc);
          pc->graph = src;
          for (size_t i = k; i < cl->defaults.size(); ++i)
            pc->defaults.push_back(cl->defaults[i].is(VKind::Undef) ? cl->defaults[i] : jPrimal(cl->defaults[i], world));
          for (size_t i = 0; i < k; ++i) pc->captured.push_back(jPrimal(po->args[i], world));
          if (po->args.size() == k) return pv;
          auto* p = new PartialObj();
          Value out = Value::object(p);
          p->func = pv;
          for (size_t i = k; i < po->args.size(); ++i) p->args.push_back(jPrimal(po->args[i], world));
          return out;
        }
      }
      std::vector<Value> args, kw;
      std::vector<Value> kwv;
      for (const auto& kv : po->kwargs) kwv.push_back(kv.second);
      Value f = jPrimal(po->func, world, inner);
      bool changed = mapped(po->args, &args);
      changed = mapped(kwv, &kw) || changed;
      if (!changed && same(f, po->func)) return v;
      auto* p = new PartialObj();
      Value out = Value::object(p);
      p->func = f;
      p->args = std::move(args);
      for (size_t i = 0; i < po->kwargs.size(); ++i) p->kwargs.emplace_back(po->kwargs[i].first, kw[i]);
      return out;
    }
    case VKind::Tuple: case VKind::List: {
      std::vector<Value> items;
      if (!mapped(seqItems(v), &items)) return v;
      return v.is(VKind::List) ? makeList(std::move(items)) : makeTuple(std::move(items));
    }
    default: return v;  // tensors, numbers, records, dicts (their functions are not mapped)
  }
}

// A call of a class under J: the closure that builds the record (runtime/RecordAD.h),
// after the plain call checked the arguments and made the template.
static Value recordCtor(std::unique_ptr<ir::Module>& module, std::unordered_map<std::string, Graph*>& cache,
                        const Value& cls, Value* args, size_t npos, const std::vector<std::string>* kwnames) {
  size_t nargs = npos + (kwnames ? kwnames->size() : 0);
  std::vector<Value> copy(args, args + nargs);
  Value tmpl = constructRecord(cls, copy.data(), npos, kwnames);
  return recordCtorClosure(module, cache, tmpl, kwnames ? *kwnames : std::vector<std::string>{});
}

// (out, bprop) of a call of a closure already differentiated (made by this expansion),
// with nparams arguments bound one to one: its bprop narrowed to the cotangents the caller
// reads (skip, bit k: argument k; item 0, the captured values', is kept), e.g. a lifted
// local function passed as a value (partial(J(g'), fvs...)) computes no cotangent of data
// it is called on.
static Value narrowedCall(Value r, uint64_t skip, size_t nparams) {
  if (!skip || nparams > 62) return r;
  uint64_t all = (uint64_t(2) << nparams) - 1;
  const Value& bp = seqItems(r)[1];
  Value nb = narrowedBprop(bp, all & ~(skip << 1), all);
  if (nb.obj() == bp.obj()) return r;
  return makeTuple({seqItems(r)[0], nb});
}

Value Interpreter::jcall(const Value& fn, Value* args, size_t npos, const std::vector<std::string>* kwnames,
                         uint64_t skipArgs, uint32_t world) {
  if (world == 0) world = frameJWorld();
  if (world == 0 || world == kNewJWorld) world = ++lastJWorld_;
  size_t nargs = npos + (kwnames ? kwnames->size() : 0);
  switch (fn.kind()) {
    case VKind::Closure: {
      const ClosureObj* cl = fn.as<ClosureObj>();
      const Graph* g = cl->graph;
      if (g->isFunction && ++callDepth_ > kMaxCallDepth) {
        --callDepth_;
        raise(DiagId::RecursionTooDeep, SourceLoc{}, {std::to_string(kMaxCallDepth)});
      }
      struct DepthGuard { Interpreter* it; bool on; ~DepthGuard() { if (on) --it->callDepth_; } } guard{this, g->isFunction};
      if (cl->jworld == world && nargs == npos && npos == g->params.size() &&
          std::all_of(g->paramKinds.begin(), g->paramKinds.end(), [](ir::ParamKind k) { return k == ir::ParamKind::Positional; }))
        return narrowedCall(runGraph(g, cl, args), skipArgs, npos);  // already differentiated, arguments one to one (a loop body's step)
      std::vector<Value> bound(g->params.size());
      auto plan = planBinding(graphSig(g), npos, kwnames);
      Value pv = planValue(plan, nargs, g);
      applyPlan(plan, args, bound.data(), Prim::MakeTuple, cl);
      Value result;
      if (cl->jworld == world) {
        // Made by the differentiated code of this very expansion: already differentiated.
        result = runGraph(g, cl, bound.data());
        if (pv.isNone()) result = narrowedCall(result, skipArgs, g->params.size());
      } else {
        if (cl->jinner) raise(DiagId::NotSupportedYetPlural, SourceLoc{}, {"third-order derivatives"});
        // A function of the primal program, or (differentiating again) the differentiated
        // code of another expansion.
        const Graph* s = g;
        if (g->isFunction && !g->madeByJ) s = InterpAccess::specialise(*this, cl, bound.data(), bound.size());
        // Arguments whose cotangents are not wanted map to parameters when bound one to one.
        uint64_t skip = pv.isNone() ? skipArgs : 0;
        bool fresh = skip ? std::none_of(s->jvariants.begin(), s->jvariants.end(), [&](auto& v) { return v.first == skip; })
                          : !s->jgraph;
        Graph* jg = autodiff::jGraph(const_cast<Graph*>(s), skip);
        if (fresh && emitGrad_) {
          ir::PrintOptions po;
          po.types = false;
          emitGrad_("# J(" + s->qualname + "): returns (out, bprop); bprop(ct) returns (ct of captured values, ct per parameter)\n" +
                    ir::printGraphTree(jg, po));
        }
        result = runJClosure(jg, cl, s, bound.data(), world, cl->jworld);
      }
      if (pv.isNone()) return result;
      return makeTuple({seqItems(result)[0], sitePartial(seqItems(result)[1], pv)});
    }
    case VKind::Class:  // building a record
      return jcall(recordCtor(adModule_, primWrappers_, fn, args, npos, kwnames), args, npos, kwnames, skipArgs, world);
    case VKind::BoundMethod:
    case VKind::Record: {
      // A method called with its receiver first; the receiver's cotangent is the callee's.
      Value func, self = fn;
      methodParts(fn, &func, &self);
      std::vector<Value> a{self};
      for (size_t i = 0; i < nargs; ++i) a.push_back(std::move(args[i]));
      // Argument k is the method's parameter k + 1.
      Value r = jcall(func, a.data(), npos + 1, kwnames, (skipArgs << 1) & ~(uint64_t(1) << 63), world);
      return makeTuple({seqItems(r)[0], sitePartial(seqItems(r)[1], makeStr("method"))});
    }
    case VKind::Prim: {
      // A primitive called as a value: differentiate a graph that calls it.
      Prim p = (Prim)fn.asInt();
      // vmap and jvp: the transformed graph of the primal function, differentiated.
      if (p == Prim::VmapCall || p == Prim::VmapFnCall || p == Prim::VmapLoop) return jcallVmap(p, args, npos, kwnames, world);
      if (p == Prim::Jvp || p == Prim::JvpCall) return jcallJvpOf(p, args, npos, kwnames, world);
      if (primInfo(p).group == PrimGroup::Core)
        raise(DiagId::NotSupportedYet, SourceLoc{}, {std::string("differentiating '") + primName(p) + "' called as a value"});
      // (a custom_vjp's bprop is a graph at second order: jcallOuter, customVjpLift)
      if (p == Prim::CustomVjpBprop) raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating a custom_vjp backward pass"});
      Graph* w = primWrapper(p, nargs, kwnames);
      Graph* jg = autodiff::jGraph(w);
      auto* jc = new ClosureObj();
      Value jv = Value::object(jc);
      jc->graph = jg;
      jc->jworld = world;
      jc->defaults.assign(nargs, Value::undef());
      return runGraph(jg, jc, args);
    }
    case VKind::Partial: {
      const auto* po = fn.as<PartialObj>();
      if (po->func.is(VKind::Prim) && (Prim)po->func.asInt() == Prim::CustomVjpCall) {
        // (out, residuals) = fwd(*args); bprop: bwd(residuals, ct), one cotangent per argument.
        std::vector<Value> a(args, args + nargs);
        std::vector<std::pair<std::string, Value>> kw;
        for (size_t k = 0; kwnames && k < kwnames->size(); ++k) kw.push_back({(*kwnames)[k], a[npos + k]});
        a.resize(npos);
        Value r = call(po->args[1], std::move(a), std::move(kw));
        if (!r.is(VKind::Tuple) || seqItems(r).size() != 2)
          raise(DiagId::TypeError, SourceLoc{}, {"custom_vjp: fwd must return a pair (out, residuals), got " + typeNameOf(r)});
        auto* bp = new PartialObj();
        Value bpv = Value::object(bp);
        bp->func = Value::prim((int)Prim::CustomVjpBprop);
        bp->args = {po->args[2], seqItems(r)[1]};
        return makeTuple({seqItems(r)[0], bpv});
      }
      // partial(f, *bound, **kw)(args, **kw2) is f(*bound, *args, **kw, **kw2): the call's
      // own arguments get their cotangents; the partial's is (ct_f, ct of each bound one).
      std::vector<Value> all;
      std::vector<std::string> names;
      size_t nb = po->args.size();
      // (the call's arguments, by position, follow the bound ones)
      uint64_t skip = po->kwargs.empty() && (!kwnames || kwnames->empty()) && nb + npos < 63 ? skipArgs << nb : 0;
      Value pick = partialPlan(po, args, npos, kwnames, all, names);
      Value r = jcall(po->func, all.data(), nb + npos, &names, skip, world);
      return makeTuple({seqItems(r)[0], sitePartial(seqItems(r)[1], pick)});
    }
    default:
      raise(DiagId::NotSupportedYet, SourceLoc{}, {"differentiating a call of a " + typeNameOf(fn)});
  }
}

// J (world `outer`, the current code's) of a call that differentiated code of world
// `inner` makes: fn is a value of the outer world, and the result is ((out, bprop),
// bprop'), (out, bprop) being what jcall (inner) of the call gives and bprop' taking its
// cotangent to those of (fn, args...). A closure is bound to its parameters first
// (jjBound); a method, a callable record or a partial is the call of its function with
// the receiver or the bound arguments added, its bprop arranged as jcall arranges it
// (jjSite); a custom_vjp function runs fwd and bwd as a graph (customVjpLift); any other
// value (a primitive) is differentiated (outer) after its J (inner) is made.
Value Interpreter::jcallOuter(const Value& fn, Value* args, size_t npos, const std::vector<std::string>* kwnames,
                              uint64_t skipArgs, uint32_t inner) {
  uint32_t outer = frameJWorld();
  if (inner == kNewJWorld) inner = ++lastJWorld_;
  if (fn.is(VKind::Class))
    return jcallOuter(recordCtor(adModule_, primWrappers_, fn, args, npos, kwnames), args, npos, kwnames, skipArgs, inner);
  size_t nargs = npos + (kwnames ? kwnames->size() : 0);
  switch (fn.kind()) {
    case VKind::Closure: {
      const ClosureObj* cl = fn.as<ClosureObj>();
      const Graph* g = cl->graph;
      auto plan = planBinding(graphSig(g), npos, kwnames);
      Value pv = planValue(plan, nargs, g);
      std::vector<Value> bound(g->params.size());
      applyPlan(plan, args, bound.data(), Prim::MakeTuple, cl);
      Value r = jjBound(cl, bound.data(), pv.isNone() ? skipArgs : 0, outer, inner);
      return pv.isNone() ? r : jjSite(r, pv);
    }
    case VKind::BoundMethod:
    case VKind::Record: {
      Value func, self = fn;
      methodParts(fn, &func, &self);
      std::vector<Value> a{self};
      for (size_t i = 0; i < nargs; ++i) a.push_back(std::move(args[i]));
      return jjSite(jcallOuter(func, a.data(), npos + 1, kwnames, 0, inner), makeStr("method"));
    }
    case VKind::Partial: {
      const auto* po = fn.as<PartialObj>();
      if (po->func.is(VKind::Prim) && (Prim)po->func.asInt() == Prim::CustomVjpCall) {
        // customVjpLift(fwd, bwd, args...) is jcall's (out, bprop) as a graph of `inner`;
        // the partial (a function of the program) gets no cotangent.
        auto* jc = new ClosureObj();
        Value jv = Value::object(jc);
        jc->graph = customVjpLift(npos, kwnames);
        jc->jworld = inner;
        jc->defaults.assign(nargs + 2, Value::undef());
        std::vector<Value> a{po->args[1], po->args[2]};
        for (size_t i = 0; i < nargs; ++i) a.push_back(std::move(args[i]));
        Value r = jcall(jv, a.data(), npos + 2, kwnames, 0, outer);
        std::vector<Value> plan{Value::none(), Value::none()};
        for (size_t i = 0; i < nargs; ++i) plan.push_back(Value::integer((int64_t)i));
        plan.push_back(Value::integer((int64_t)nargs));
        return makeTuple({seqItems(r)[0], sitePartial(seqItems(r)[1], makeTuple(std::move(plan)))});
      }
      std::vector<Value> all;
      std::vector<std::string> names;
      Value pick = partialPlan(po, args, npos, kwnames, all, names);
      return jjSite(jcallOuter(po->func, all.data(), po->args.size() + npos, &names, 0, inner), pick);
    }
    default: {  // (the graph standing for a primitive takes its arguments in order, as a0, a1, ...)
      if (fn.is(VKind::Prim)) {  // vmap and jvp: J of the transformed graph's J graph
        Prim p = (Prim)fn.asInt();
        if (p == Prim::VmapCall || p == Prim::VmapFnCall || p == Prim::VmapLoop)
          return jcallVmap(p, args, npos, kwnames, outer, inner);
        if (p == Prim::Jvp || p == Prim::JvpCall) return jcallJvpOf(p, args, npos, kwnames, outer, inner);
      }
      Value lifted = liftJ(fn, args, npos, kwnames, skipArgs, inner);
      return jcall(lifted, args, nargs, nullptr, 0, outer);
    }
  }
}

// J (outer) of J (inner) of closure cl's graph, run with its parameters bound: a closure
// the outer expansion made from J (inner) code runs directly; one the inner expansion
// made, or one the outer expansion made from a primal graph (its J, standing for that
// graph), runs as J of its graph; a primal closure runs as J(J(g)) of its specialisation.
Value Interpreter::jjBound(const ClosureObj* cl, Value* bound, uint64_t skip, uint32_t outer, uint32_t inner) {
  const Graph* g = cl->graph;
  if (g->isFunction && ++callDepth_ > kMaxCallDepth) {
    --callDepth_;
    raise(DiagId::RecursionTooDeep, SourceLoc{}, {std::to_string(kMaxCallDepth)});
  }
  struct DepthGuard { Interpreter* it; bool on; ~DepthGuard() { if (on) --it->callDepth_; } } guard{this, g->isFunction};
  if (cl->jworld == outer && cl->jinner == inner) return runGraph(g, cl, bound);
  if (cl->jinner == 0 && (cl->jworld == inner || cl->jworld == outer)) return runJClosure(jjGraph(g), cl, g, bound, outer, inner);
  if (cl->jworld != 0) raise(DiagId::NotSupportedYetPlural, SourceLoc{}, {"third-order derivatives"});
  const Graph* s = g;
  if (g->isFunction && !g->madeByJ) {
    std::vector<const ir::Abstract*> argAbs, capAbs;
    for (size_t i = 0; i < g->params.size(); ++i) argAbs.push_back(eagerAbstract(bound[i]));
    for (const Value& v : cl->captured) capAbs.push_back(eagerAbstract(v));
    s = specializer_->get(g, argAbs, capAbs);
  }
  return runJClosure(jjGraph(autodiff::jGraph(const_cast<Graph*>(s), skip)), cl, s, bound, outer, inner);
}

Graph* Interpreter::jjGraph(const Graph* jg) {
  bool fresh = !jg->jgraph;
  Graph* jj = autodiff::jGraph(const_cast<Graph*>(jg));
  if (fresh && emitGrad_) {
    ir::PrintOptions po;
    po.types = false;
    emitGrad_("# J(" + jg->qualname + "), second order: returns ((out, bprop), bprop')\n" + ir::printGraphTree(jj, po));
  }
  return jj;
}

// r = ((out, bprop), bprop') of the call of a callee through `plan` (a site plan of
// __jsite_arrange): ((out, __jsite_bprop(bprop, plan)), bprop'') as jcall (inner) arranges
// the site, bprop'' = jjsite(bprop', plan, ct) taking the cotangent of that arrangement,
// ct = (ct of out, ct of the partial = (ct_fn, (ct of bprop, ct of plan), {})).
Value Interpreter::jjSite(const Value& r, Value plan) {
  const Value& primal = seqItems(r)[0];
  Value site = makeTuple({seqItems(primal)[0], sitePartial(seqItems(primal)[1], plan)});
  auto found = primWrappers_.find("jjsite");
  Graph* w;
  if (found != primWrappers_.end()) {
    w = found->second;
  } else {
    // jjsite(bp2, plan, ct) = __jsite_arrange(bp2((ct[0], ct[1][1][0])), plan)
    ir::Module& m = adModule();
    w = m.newGraph("jjsite", nullptr, SourceLoc{});
    w->qualname = "jjsite";
    Node* bp2 = m.newParam(w, "bp2", SourceLoc{});
    Node* pl = m.newParam(w, "plan", SourceLoc{});
    Node* ct = m.newParam(w, "ct", SourceLoc{});
    auto prim = [&](Prim q, std::vector<Node*> in) {
      in.insert(in.begin(), m.constPrim(q));
      return m.newApply(w, std::move(in), SourceLoc{});
    };
    auto at = [&](Node* v, int64_t k) { return prim(Prim::CtIndex, {v, m.constInt(k)}); };
    Node* pair = prim(Prim::MakeTuple, {at(ct, 0), at(at(at(ct, 1), 1), 0)});
    Node* cts = m.newApply(w, {bp2, pair}, SourceLoc{});
    w->output = prim(Prim::JSiteArrange, {cts, pl});
    ir::computeFreeVars(std::vector<Graph*>{w});
    primWrappers_.emplace("jjsite", w);
  }
  auto* cl = new ClosureObj();
  Value cv = Value::object(cl);
  cl->graph = w;
  cl->defaults.assign(3, Value::undef());
  auto* po = new PartialObj();
  Value pv = Value::object(po);
  po->func = cv;
  po->args = {seqItems(r)[1], std::move(plan)};
  return makeTuple({site, pv});
}

// jcall's custom_vjp call as a graph of the autodiff module, (out, bprop) =
// lift(fwd, bwd, *args, **kwargs): (out, res) = fwd(*args, **kwargs); bprop(ct) =
// __jsite_arrange((None, bwd(res, ct)), ((0, ..., n - 1), n)) = (None, *bwd(res, ct)).
// Differentiated (outer), fwd and bwd are functions of the program called by it.
Graph* Interpreter::customVjpLift(size_t npos, const std::vector<std::string>* kwnames) {
  std::string key = "customvjp/" + std::to_string(npos);
  if (kwnames)
    for (const auto& k : *kwnames) key += "/" + k;
  auto found = primWrappers_.find(key);
  if (found != primWrappers_.end()) return found->second;
  ir::Module& m = adModule();
  size_t nkw = kwnames ? kwnames->size() : 0, nargs = npos + nkw;
  Graph* w = m.newGraph("custom_vjp", nullptr, SourceLoc{});
  w->qualname = "custom_vjp";
  w->madeByJ = true;
  Node* fwd = m.newParam(w, "fwd", SourceLoc{});
  Node* bwd = m.newParam(w, "bwd", SourceLoc{});
  std::vector<Node*> call{fwd};
  for (size_t i = 0; i < nargs; ++i)  // (keyword arguments bind to the parameters of their names)
    call.push_back(m.newParam(w, i < npos ? "a" + std::to_string(i) : (*kwnames)[i - npos], SourceLoc{}));
  Node* r = m.newApply(w, call, SourceLoc{});
  if (kwnames) r->kwnames = *kwnames;
  auto prim = [&](Graph* g, Prim q, std::vector<Node*> in) {
    in.insert(in.begin(), m.constPrim(q));
    return m.newApply(g, std::move(in), SourceLoc{});
  };
  Node* out = prim(w, Prim::TupleGetItem, {r, m.constInt(0)});
  Node* res = prim(w, Prim::TupleGetItem, {r, m.constInt(1)});
  Graph* b = m.newGraph("custom_vjp.bprop", w, SourceLoc{});
  b->qualname = "custom_vjp.bprop";
  b->madeByJ = true;
  Node* ct = m.newParam(b, "ct", SourceLoc{});
  Node* cts = m.newApply(b, {bwd, res, ct}, SourceLoc{});
  std::vector<Node*> srcs;
  for (size_t i = 0; i < nargs; ++i) srcs.push_back(m.constInt((int64_t)i));
  Node* plan = prim(b, Prim::MakeTuple, {prim(b, Prim::MakeTuple, srcs), m.constInt((int64_t)nargs)});
  b->output = prim(b, Prim::JSiteArrange, {prim(b, Prim::MakeTuple, {m.constNone(), cts}), plan});
  w->output = prim(w, Prim::MakeTuple, {out, m.constGraph(b, SourceLoc{})});
  ir::computeFreeVars(std::vector<Graph*>{w, b});
  primWrappers_.emplace(key, w);
  return w;
}

Value Interpreter::call(const Value& fn, std::vector<Value> args, std::vector<std::pair<std::string, Value>> kwargs) {
  std::vector<std::string> names;
  for (auto& [k, v] : kwargs) {
    names.push_back(k);
    args.push_back(std::move(v));
  }
  return callValue(fn, args.data(), args.size() - names.size(), &names);
}

static Value constructRecord(const Value& clsv, Value* args, size_t npos, const std::vector<std::string>* kwnames) {
  ClassObj* cls = clsv.as<ClassObj>();
  auto* r = new RecordObj();
  Value rv = Value::object(r);
  r->cls = clsv;
  size_t nf = cls->fields.size();
  r->fields.assign(nf, Value::undef());
  // The generated constructor takes keyword arguments only: Dense(w=..., b=...).
  if (npos > 0) raise(DiagId::Arity, SourceLoc{}, {cls->name, "0", "s", std::to_string(npos), npos == 1 ? "was" : "were"});
  size_t nkw = kwnames ? kwnames->size() : 0;
  for (size_t k = 0; k < nkw; ++k) {
    int fi = cls->fieldIndex((*kwnames)[k]);
    if (fi < 0) raise(DiagId::UnexpectedKeyword, SourceLoc{}, {cls->name, (*kwnames)[k]});
    if (!r->fields[fi].is(VKind::Undef)) raise(DiagId::MultipleValues, SourceLoc{}, {cls->name, (*kwnames)[k]});
    r->fields[fi] = std::move(args[npos + k]);
  }
  for (size_t i = 0; i < nf; ++i) {
    if (!r->fields[i].is(VKind::Undef)) continue;
    if (!cls->hasDefault[i]) raise(DiagId::MissingArgument, SourceLoc{}, {cls->name, cls->fields[i]});
    r->fields[i] = cls->defaults[i];
  }
  return rv;
}

Value Interpreter::callValue(const Value& fn, Value* args, size_t npos, const std::vector<std::string>* kwnames) {
  switch (fn.kind()) {
    case VKind::Closure: return callClosure(fn.as<ClosureObj>(), args, npos, kwnames);
    case VKind::Prim: {
      Prim p = (Prim)fn.primId();
      PrimFn impl = primImpl(p);
      if (!impl) internalError(std::string("primitive ") + primName(p) + " has no implementation");
      auto plan = planBinding(primSig(p), npos, kwnames);
      boost::container::small_vector<Value, 6> bound(plan.size());
      applyPlan(plan, args, bound.data(), p, nullptr);
      ++dispatches_;
      checkInterrupt();
      // A primitive called as a value: charged to the place of the call running it.
      ProfileScope prof(p, stack_.empty() || !stack_.back()->cur ? nullptr : stack_.back()->cur->node);
      if (__builtin_expect(debugNans_, 0)) {
        boost::container::small_vector<Value, 6> inputs(bound.begin(), bound.end());
        Value r = impl(*this, bound.data());
        checkNonFinite(p, inputs.data(), inputs.size(), r);
        return r;
      }
      return impl(*this, bound.data());
    }
    case VKind::Class: return constructRecord(fn, args, npos, kwnames);
    case VKind::BoundMethod: {
      auto* bm = fn.as<BoundMethodObj>();
      size_t nkw = kwnames ? kwnames->size() : 0;
      std::vector<Value> all;
      all.reserve(npos + nkw + 1);
      all.push_back(bm->self);
      for (size_t i = 0; i < npos + nkw; ++i) all.push_back(std::move(args[i]));
      return callValue(bm->func, all.data(), npos + 1, kwnames);
    }
    case VKind::Partial: {
      auto* pa = fn.as<PartialObj>();
      size_t nkw = kwnames ? kwnames->size() : 0;
      std::vector<Value> all(pa->args);
      for (size_t i = 0; i < npos; ++i) all.push_back(std::move(args[i]));
      std::vector<std::string> names;
      for (auto& [k, v] : pa->kwargs) {
        bool overridden = kwnames && std::find(kwnames->begin(), kwnames->end(), k) != kwnames->end();
        if (!overridden) { names.push_back(k); all.push_back(v); }
      }
      for (size_t k = 0; k < nkw; ++k) { names.push_back((*kwnames)[k]); all.push_back(std::move(args[npos + k])); }
      return callValue(pa->func, all.data(), all.size() - names.size(), &names);
    }
    case VKind::Record: {
      const Value* m = fn.as<RecordObj>()->classObj()->method("__call__");
      if (!m) break;
      size_t nkw = kwnames ? kwnames->size() : 0;
      std::vector<Value> all;
      all.reserve(npos + nkw + 1);
      all.push_back(fn);
      for (size_t i = 0; i < npos + nkw; ++i) all.push_back(std::move(args[i]));
      return callValue(*m, all.data(), npos + 1, kwnames);
    }
    default: break;
  }
  raise(DiagId::NotCallable, SourceLoc{}, {typeNameOf(fn)});
}

// ------------------------------------------------------------------ core primitives

namespace {

// Python's __qualname__ of a function's graph: "f", "C.m", "outer.<locals>.inner",
// "outer.<locals>.<lambda>" (branch and loop bodies are part of their function).
std::string qualnameOf(const ir::Graph* g) {
  const ir::Graph* outer = g->parent;
  while (outer && !outer->isFunction) outer = outer->parent;
  std::string own = g->isMethod ? g->qualname : g->name;
  return outer ? qualnameOf(outer) + ".<locals>." + own : own;
}

// f.__name__ and f.__qualname__ of a function, a bound method or a built-in (false for
// other values): the name of its def ("<lambda>" for a lambda), a built-in's name.
bool functionName(const Value& f, bool qual, std::string* out) {
  switch (f.kind()) {
    case VKind::Closure: {
      const ir::Graph* g = f.as<ClosureObj>()->graph;
      *out = !g ? "<lambda>" : qual ? qualnameOf(g) : g->name;
      return true;
    }
    case VKind::Prim: *out = primName((Prim)f.primId()); return true;
    case VKind::BoundMethod: {
      const BoundMethodObj* m = f.as<BoundMethodObj>();
      if (qual && m->func.is(VKind::Closure)) return functionName(m->func, true, out);
      *out = qual ? std::string(m->self.typeName()) + "." + m->name : m->name;
      return true;
    }
    default: return false;
  }
}

Value getAttr(Interpreter& it, const Value& obj, const std::string& name) {
  std::string fname;
  if ((name == "__name__" || name == "__qualname__") && functionName(obj, name == "__qualname__", &fname))
    return makeStr(std::move(fname));
  switch (obj.kind()) {
    case VKind::Record: {
      RecordObj* r = obj.as<RecordObj>();
      ClassObj* cls = r->classObj();
      int fi = cls->fieldIndex(name);
      if (fi >= 0) return r->fields[fi];
      if (const Value* m = cls->method(name)) {
        auto* bm = new BoundMethodObj();
        bm->self = obj;
        bm->func = *m;
        bm->name = name;
        return Value::object(bm);
      }
      raise(DiagId::NoAttribute, SourceLoc{}, {cls->name, name});
    }
    case VKind::Module: {
      auto* mo = obj.as<ModuleObj>();
      auto* m = static_cast<const ir::Module*>(mo->irModule);
      ir::GlobalVar* gv = m->findGlobal(name);
      if (!gv) raise(DiagId::NoSuchModuleMember, SourceLoc{}, {mo->name, name});
      const Value& v = it.global(gv->id);
      if (v.is(VKind::Undef)) raise(DiagId::UndefinedGlobal, SourceLoc{}, {mo->name + "." + name});
      return v;
    }
    case VKind::Class: {
      if (const Value* m = obj.as<ClassObj>()->method(name)) return *m;
      raise(DiagId::NoAttribute, SourceLoc{}, {"type", name});
    }
    default: break;
  }
  Prim p;
  bool property;
  if (lookupMethod(obj.kind(), name, &p, &property)) {
    if (property) {
      Value a = obj;
      return it.callValue(Value::prim((int)p), &a, 1, nullptr);
    }
    auto* bm = new BoundMethodObj();
    bm->self = obj;
    bm->func = Value::prim((int)p);
    bm->name = name;
    return Value::object(bm);
  }
  raise(DiagId::NoAttribute, SourceLoc{}, {typeNameOf(obj), name});
}

Value setAttr(Value obj, const std::string& name, Value v) {
  if (!obj.is(VKind::Record)) raise(DiagId::TypeError, SourceLoc{}, {"cannot set attribute '" + name + "' of a value of type '" + typeNameOf(obj) + "'"});
  RecordObj* r = obj.as<RecordObj>();
  int fi = r->classObj()->fieldIndex(name);
  if (fi < 0) raise(DiagId::NoField, SourceLoc{}, {r->classObj()->name, name});
  if (!obj.unique()) {
    auto* copy = new RecordObj();
    copy->cls = r->cls;
    copy->fields = r->fields;
    obj = Value::object(copy);
    r = copy;
  }
  r->fields[fi] = std::move(v);
  return obj;
}

int64_t seqIndex(const Value& idx, int64_t n, const char* what) {
  if (!idx.is(VKind::Int) && !idx.is(VKind::Bool))
    raise(DiagId::BadIndexType, SourceLoc{}, {what, "integers or slices", typeNameOf(idx)});
  int64_t i = idx.asInt();
  int64_t j = i < 0 ? i + n : i;
  if (j < 0 || j >= n) raise(DiagId::ListIndexOutOfRange, SourceLoc{}, {what, std::to_string(i), std::to_string(n)});
  return j;
}

// Python slice indices for a sequence of length n.
void sliceIndices(const SliceObj* s, int64_t n, int64_t* start, int64_t* stop, int64_t* step) {
  auto get = [](const Value& v, const char* what) -> std::pair<bool, int64_t> {
    if (v.isNone()) return {false, 0};
    if (!v.is(VKind::Int) && !v.is(VKind::Bool))
      raise(DiagId::TypeError, SourceLoc{}, {std::string("slice ") + what + " must be an integer or None"});
    return {true, v.asInt()};
  };
  auto [hs, st] = get(s->step, "step");
  *step = hs ? st : 1;
  if (*step == 0) raise(DiagId::ValueError, SourceLoc{}, {"slice step cannot be zero"});
  auto clamp = [&](std::pair<bool, int64_t> v, bool isStart) {
    if (!v.first) return *step > 0 ? (isStart ? 0 : n) : (isStart ? n - 1 : -1);
    int64_t x = v.second;
    if (x < 0) x += n;
    if (*step > 0) return std::clamp<int64_t>(x, 0, n);
    return std::clamp<int64_t>(x, -1, n - 1);
  };
  *start = clamp(get(s->lower, "start"), true);
  *stop = clamp(get(s->upper, "stop"), false);
}

Value getItem(Interpreter& it, Value obj, Value idx) {
  switch (obj.kind()) {
    case VKind::List:
    case VKind::Tuple: {
      const auto& items = obj.is(VKind::List) ? obj.as<ListObj>()->items : obj.as<TupleObj>()->items;
      const char* what = obj.is(VKind::List) ? "list" : "tuple";
      if (idx.is(VKind::Slice)) {
        int64_t a, b, s;
        sliceIndices(idx.as<SliceObj>(), (int64_t)items.size(), &a, &b, &s);
        std::vector<Value> out;
        for (int64_t i = a; s > 0 ? i < b : i > b; i += s) out.push_back(items[i]);
        return obj.is(VKind::List) ? makeList(std::move(out)) : makeTuple(std::move(out));
      }
      return items[seqIndex(idx, (int64_t)items.size(), what)];
    }
    case VKind::Str: {
      // Strings index by code point.
      const std::string& s = obj.as<StrObj>()->s;
      std::vector<std::string> cps;
      for (size_t i = 0; i < s.size();) {
        size_t len = 1;
        unsigned char c = s[i];
        if (c >= 0xF0) len = 4; else if (c >= 0xE0) len = 3; else if (c >= 0xC0) len = 2;
        cps.push_back(s.substr(i, len));
        i += len;
      }
      if (idx.is(VKind::Slice)) {
        int64_t a, b, st;
        sliceIndices(idx.as<SliceObj>(), (int64_t)cps.size(), &a, &b, &st);
        std::string out;
        for (int64_t i = a; st > 0 ? i < b : i > b; i += st) out += cps[i];
        return makeStr(out);
      }
      return makeStr(cps[seqIndex(idx, (int64_t)cps.size(), "string")]);
    }
    case VKind::Dict: {
      const Value* v = obj.as<DictObj>()->find(idx);
      if (!v) raise(DiagId::KeyError, SourceLoc{}, {reprOf(idx)});
      return *v;
    }
    case VKind::Range: {
      auto* r = obj.as<RangeObj>();
      int64_t i = seqIndex(idx, r->length(), "range object");
      return Value::integer(r->start + i * r->step);
    }
    case VKind::Tensor: {
      Value args[2] = {std::move(obj), std::move(idx)};
      return it.callValue(Value::prim((int)Prim::TensorGetItem), args, 2, nullptr);
    }
    default: break;
  }
  raise(DiagId::TypeError, SourceLoc{}, {"'" + typeNameOf(obj) + "' object is not subscriptable"});
}

Value setItem(Interpreter& it, Value obj, Value idx, Value v) {
  switch (obj.kind()) {
    case VKind::List: {
      auto& items = uniqueList(obj)->items;
      if (idx.is(VKind::Slice)) {
        int64_t a, b, s;
        sliceIndices(idx.as<SliceObj>(), (int64_t)items.size(), &a, &b, &s);
        if (s != 1) raise(DiagId::NotSupportedYet, SourceLoc{}, {"assignment to an extended slice of a list"});
        std::vector<Value> repl = iterToVector(v, "slice assignment");
        b = std::max(a, b);
        items.erase(items.begin() + a, items.begin() + b);
        items.insert(items.begin() + a, repl.begin(), repl.end());
        return obj;
      }
      items[seqIndex(idx, (int64_t)items.size(), "list assignment")] = std::move(v);
      return obj;
    }
    case VKind::Dict: {
      uniqueDict(obj)->set(idx, std::move(v));
      return obj;
    }
    case VKind::Tensor: {
      Value args[3] = {std::move(obj), std::move(idx), std::move(v)};
      return it.callValue(Value::prim((int)Prim::TensorSetItem), args, 3, nullptr);
    }
    case VKind::Tuple:
    case VKind::Str:
      raise(DiagId::TypeError, SourceLoc{}, {"'" + typeNameOf(obj) + "' object does not support item assignment"});
    default: break;
  }
  raise(DiagId::TypeError, SourceLoc{}, {"'" + typeNameOf(obj) + "' object does not support item assignment"});
}

bool containsOf(Interpreter& it, const Value& c, const Value& x) {
  switch (c.kind()) {
    case VKind::Str:
      if (!x.is(VKind::Str)) raise(DiagId::TypeError, SourceLoc{}, {"'in <string>' requires string as left operand, not " + typeNameOf(x)});
      return c.as<StrObj>()->s.find(x.as<StrObj>()->s) != std::string::npos;
    case VKind::Dict: return c.as<DictObj>()->find(x) != nullptr;
    case VKind::Range: {
      if (!x.is(VKind::Int)) return false;
      auto* r = c.as<RangeObj>();
      int64_t n = r->length(), d = x.asInt() - r->start;
      return n > 0 && d % r->step == 0 && d / r->step >= 0 && d / r->step < n;
    }
    default: {
      int64_t n;
      if (!iterLength(c, &n)) raise(DiagId::TypeError, SourceLoc{}, {"argument of type '" + typeNameOf(c) + "' is not iterable"});
      for (int64_t i = 0; i < n; ++i)
        if (valueEquals(iterItem(c, i), x)) return true;
      return false;
    }
  }
}

// A loop body returned (go_on, carry): takes the carry, says whether to go on.
bool loopStep(Value r, Value& carry) {
  auto& items = r.as<TupleObj>()->items;
  carry = std::move(items[1]);
  return items[0].asBool();
}

bool identical(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case VKind::None: return true;
    case VKind::Bool: return a.asBool() == b.asBool();
    case VKind::Int: return a.asInt() == b.asInt();
    case VKind::Float: return a.asFloat() == b.asFloat();
    case VKind::DTypeV: return a.asDType() == b.asDType();
    case VKind::Prim: return a.primId() == b.primId();
    case VKind::Undef:
    case VKind::Token: return true;
    default: return a.obj() == b.obj();
  }
}

}  // namespace

// ------------------------------------------------------------------ the execution loop

// One instruction of c, in frame f (the eager loop below and compiled code run the same
// semantics: runtime/GraphMode.h).
inline void InterpAccess::step(Interpreter& self, const Code& c, Frame& f, const Instr* in) {
  Value* slots = f.slots;
  auto fetch = [&](const Operand& o) { return InterpAccess::fetch(self, f, o); };
  switch (in->kind) {
    case Instr::PrimCall: {
      if (in->planError) (void)planBinding(primSig(in->prim), in->node->numPositional(), &in->node->kwnames);
      boost::container::small_vector<Value, 6> args;
      const size_t nops = in->ops.size();
      boost::container::small_vector<Value, 6> raw;
      raw.reserve(nops);
      for (size_t i = 0; i < nops; ++i) raw.push_back(fetch(in->ops[i]));
      args.resize(in->plan.size());
      applyPlan(in->plan, raw.data(), args.data(), in->prim, nullptr);
      ++self.dispatches_;
      self.checkInterrupt();
      ProfileScope prof(in->prim, in->node);
      if (__builtin_expect(self.debugNans_, 0)) {
        boost::container::small_vector<Value, 6> inputs(args.begin(), args.end());
        Value r = in->fn(self, args.data());
        checkNonFinite(in->prim, inputs.data(), inputs.size(), r);
        slots[in->out] = std::move(r);
        break;
      }
      slots[in->out] = in->fn(self, args.data());
      break;
    }
    case Instr::Dynamic: {
      Value callee = fetch(in->ops[0]);
      boost::container::small_vector<Value, 6> args;
      for (size_t i = 1; i < in->ops.size(); ++i) args.push_back(fetch(in->ops[i]));
      const auto* kw = in->node->kwnames.empty() ? nullptr : &in->node->kwnames;
      slots[in->out] = self.callValue(callee, args.data(), in->node->numPositional(), kw);
      break;
    }
    case Instr::Core: {
      const auto& ops = in->ops;
      Value& out = slots[in->out];
      switch (in->prim) {
        case Prim::MakeTuple:
        case Prim::MakeList: {
          std::vector<Value> items;
          items.reserve(ops.size());
          for (const Operand& o : ops) items.push_back(fetch(o));
          out = in->prim == Prim::MakeTuple ? makeTuple(std::move(items)) : makeList(std::move(items));
          break;
        }
        case Prim::MakeDict: {
          Value d = makeDict();
          for (size_t i = 0; i + 1 < ops.size(); i += 2) d.as<DictObj>()->set(fetch(ops[i]), fetch(ops[i + 1]));
          out = std::move(d);
          break;
        }
        case Prim::TupleGetItem: {
          Value t = fetch(ops[0]);
          int64_t i = c.consts[ops[1].idx].asInt();
          auto& items = t.as<TupleObj>()->items;
          out = t.unique() ? std::move(items[i]) : items[i];
          break;
        }
        case Prim::Unpack: {
          Value x = fetch(ops[0]);
          int64_t n = c.consts[ops[1].idx].asInt(), star = c.consts[ops[2].idx].asInt();
          std::vector<Value> items = x.is(VKind::Tuple) && x.unique() ? std::move(x.as<TupleObj>()->items)
                                                                      : iterToVector(x, "unpacking");
          int64_t have = (int64_t)items.size();
          if (star < 0 ? have != n : have < n - 1)
            raise(DiagId::UnpackCount, SourceLoc{}, {std::to_string(have), std::to_string(n)});
          if (star >= 0) {
            int64_t rest = have - (n - 1);
            std::vector<Value> mid(std::make_move_iterator(items.begin() + star),
                                   std::make_move_iterator(items.begin() + star + rest));
            items.erase(items.begin() + star, items.begin() + star + rest);
            items.insert(items.begin() + star, makeList(std::move(mid)));
          }
          out = makeTuple(std::move(items));
          break;
        }
        case Prim::GetAttr: {
          Value obj = fetch(ops[0]);
          out = getAttr(self, obj, c.consts[ops[1].idx].as<StrObj>()->s);
          break;
        }
        case Prim::SetAttr: {
          Value obj = fetch(ops[0]);
          Value v = fetch(ops[2]);
          out = setAttr(std::move(obj), c.consts[ops[1].idx].as<StrObj>()->s, std::move(v));
          break;
        }
        case Prim::GetItem: {
          Value obj = fetch(ops[0]);
          Value idx = fetch(ops[1]);
          out = getItem(self, std::move(obj), std::move(idx));
          break;
        }
        case Prim::SetItem: {
          Value obj = fetch(ops[0]);
          Value idx = fetch(ops[1]);
          Value v = fetch(ops[2]);
          out = setItem(self, std::move(obj), std::move(idx), std::move(v));
          break;
        }
        case Prim::MakeSlice: out = makeSlice(fetch(ops[0]), fetch(ops[1]), fetch(ops[2])); break;
        case Prim::Truth: out = Value::boolean(valueTruth(fetch(ops[0]))); break;
        case Prim::Not: out = Value::boolean(!valueTruth(fetch(ops[0]))); break;
        case Prim::Switch: {
          bool cnd = valueTruth(fetch(ops[0]));
          out = fetch(ops[cnd ? 1 : 2]);
          break;
        }
        case Prim::WhileLoop: {
          Value cond = fetch(ops[0]);
          Value body = fetch(ops[1]);
          Value carry = fetch(ops[2]);
          const ClosureObj* cc = cond.as<ClosureObj>();
          const ClosureObj* bc = body.as<ClosureObj>();
          while (true) {
            self.checkInterrupt();
            Value a = carry;
            if (!valueTruth(self.callClosure(cc, &a, 1, nullptr))) break;
            if (!loopStep(self.callClosure(bc, &carry, 1, nullptr), carry)) break;
          }
          out = std::move(carry);
          break;
        }
        case Prim::Scan: {
          Value body = fetch(ops[0]);
          Value iterable = fetch(ops[1]);
          Value carry = fetch(ops[2]);
          const ClosureObj* bc = body.as<ClosureObj>();
          // Strings index by code point in O(i): walk a vector of their characters.
          if (iterable.is(VKind::Str)) iterable = makeList(iterToVector(iterable, "for"));
          int64_t n;
          if (!iterLength(iterable, &n)) raise(DiagId::NotIterable, SourceLoc{}, {typeNameOf(iterable)});
          for (int64_t i = 0; i < n; ++i) {
            self.checkInterrupt();
            Value args[2] = {std::move(carry), iterItem(iterable, i)};
            if (!loopStep(self.callClosure(bc, args, 2, nullptr), carry)) break;
          }
          out = std::move(carry);
          break;
        }
        case Prim::CallEx: {
          Value fn = fetch(ops[0]);
          Value args = fetch(ops[1]);
          Value kw = fetch(ops[2]);
          std::vector<Value> all = args.as<TupleObj>()->items;
          std::vector<std::string> names;
          for (auto& [k, v] : kw.as<DictObj>()->entries) {
            if (!k.is(VKind::Str)) raise(DiagId::TypeError, SourceLoc{}, {"keywords must be strings"});
            names.push_back(k.as<StrObj>()->s);
            all.push_back(v);
          }
          out = self.callValue(fn, all.data(), all.size() - names.size(), &names);
          break;
        }
        case Prim::MethodCall:
        case Prim::MethodUpdate: {
          const std::string& name = c.consts[ops[0].idx].as<StrObj>()->s;
          Value recv = fetch(ops[1]);
          boost::container::small_vector<Value, 6> args;
          for (size_t i = 2; i < ops.size(); ++i) args.push_back(fetch(ops[i]));
          size_t nkw = in->node->kwnames.size();
          const auto* kw = nkw ? &in->node->kwnames : nullptr;
          size_t npos = args.size() - nkw;
          bool builtinUpdate = (recv.is(VKind::List) || recv.is(VKind::Dict)) && isUpdateMethod(name);
          if (builtinUpdate && in->prim == Prim::MethodCall)
            raise(DiagId::UpdateInExpression, SourceLoc{}, {typeNameOf(recv), name, typeNameOf(recv), name});
          Value result;
          if (recv.is(VKind::Record) || recv.is(VKind::Module) || recv.is(VKind::Class)) {
            const Value* m = recv.is(VKind::Record) ? recv.as<RecordObj>()->classObj()->method(name) : nullptr;
            if (m) {
              boost::container::small_vector<Value, 6> all;
              all.push_back(in->prim == Prim::MethodUpdate ? recv : std::move(recv));
              for (auto& a : args) all.push_back(std::move(a));
              result = self.callValue(*m, all.data(), npos + 1, kw);
            } else {
              Value fn = getAttr(self, recv, name);
              result = self.callValue(fn, args.data(), npos, kw);
            }
          } else {
            Prim p;
            bool property;
            if (!lookupMethod(recv.kind(), name, &p, &property))
              raise(DiagId::NoMethod, SourceLoc{}, {typeNameOf(recv), name, methodHintFor(recv.kind(), name)});
            if (property) raise(DiagId::NotCallable, SourceLoc{}, {typeNameOf(getAttr(self, recv, name))});
            boost::container::small_vector<Value, 6> all;
            all.push_back(builtinUpdate || in->prim == Prim::MethodCall ? std::move(recv) : recv);
            for (auto& a : args) all.push_back(std::move(a));
            result = self.callValue(Value::prim((int)p), all.data(), npos + 1, kw);
          }
          out = in->prim == Prim::MethodUpdate && !builtinUpdate ? std::move(recv) : std::move(result);
          break;
        }
        case Prim::Depend: out = fetch(ops[0]); break;
        case Prim::UpdateState: out = Value::token(); break;
        case Prim::GlobalGet: {
          const ir::GlobalVar* gv = in->node->inputs[1]->global;
          const Value& v = self.global(gv->id);
          if (v.is(VKind::Undef)) raise(DiagId::UnknownName, SourceLoc{}, {gv->name});
          out = v;
          break;
        }
        case Prim::GlobalSet: {
          int id = in->node->inputs[2]->global->id;
          self.global(id) = fetch(ops[2]);
          if ((size_t)id >= self.globalSets_.size()) self.globalSets_.resize(id + 64, 0);
          ++self.globalSets_[id];
          out = Value::token();
          break;
        }
        case Prim::MakeClass: {
          const ir::ClassInfo* ci = in->node->inputs[1]->cls;
          auto* cls = new ClassObj();
          Value cv = Value::object(cls);
          cls->name = ci->name;
          cls->loc = ci->loc;
          cls->fields = ci->fields;
          cls->hasDefault = ci->hasDefault;
          size_t k = 1;
          for (bool h : ci->hasDefault) cls->defaults.push_back(h ? fetch(ops[k++]) : Value::none());
          for (const std::string& m : ci->methods) cls->methods.push_back({m, fetch(ops[k++])});
          out = std::move(cv);
          break;
        }
        case Prim::Raise: {
          Value e = fetch(ops[1]);
          if (e.is(VKind::Exception)) {
            auto* ex = e.as<ExceptionObj>();
            raise(DiagId::Raised, SourceLoc{}, {ex->type, ex->message});
          }
          if (e.is(VKind::Prim)) {  // raise ValueError
            Value made = self.callValue(e, nullptr, 0, nullptr);
            if (made.is(VKind::Exception)) raise(DiagId::Raised, SourceLoc{}, {made.as<ExceptionObj>()->type, ""});
          }
          raise(DiagId::TypeError, SourceLoc{}, {"exceptions must be made by ValueError(...), RuntimeError(...) or another exception type, not '" + typeNameOf(e) + "'"});
        }
        case Prim::Assert: {
          if (valueTruth(fetch(ops[1]))) { out = Value::token(); break; }
          Value msg = fetch(ops[2]);
          raise(DiagId::AssertionFailed, SourceLoc{}, {msg.isNone() ? std::string() : ": " + strOf(msg)});
        }
        case Prim::FormatValue: {
          Value v = fetch(ops[0]);
          const std::string& conv = c.consts[ops[1].idx].as<StrObj>()->s;
          Value spec = fetch(ops[2]);
          if (conv == "r") v = makeStr(reprOf(v));
          else if (conv == "s") v = makeStr(strOf(v));
          else if (conv == "a") v = makeStr(reprOf(v));
          out = makeStr(formatWithSpec(v, spec.as<StrObj>()->s));
          break;
        }
        case Prim::StrConcat: {
          std::string s;
          for (const Operand& o : ops) s += fetch(o).as<StrObj>()->s;
          out = makeStr(std::move(s));
          break;
        }
        case Prim::Contains: {
          Value cont = fetch(ops[0]);
          Value x = fetch(ops[1]);
          out = Value::boolean(containsOf(self, cont, x));
          break;
        }
        case Prim::Is: out = Value::boolean(identical(fetch(ops[0]), fetch(ops[1]))); break;
        case Prim::ListAppendLocal: {
          Value l = fetch(ops[0]);
          Value v = fetch(ops[1]);
          uniqueList(l)->items.push_back(std::move(v));
          out = std::move(l);
          break;
        }
        case Prim::CheckBound: {
          Value v = fetch(ops[0]);
          if (v.is(VKind::Undef)) raise(DiagId::MaybeUnbound, SourceLoc{}, {c.consts[ops[1].idx].as<StrObj>()->s});
          out = std::move(v);
          break;
        }
        case Prim::ImportModule: {
          out = self.runModule(in->node->inputs[2]->module);
          break;
        }
        default: internalError(std::string("interpreter: core primitive ") + primName(in->prim) + " not handled");
      }
      break;
    }
  }
}

Value Interpreter::exec(const Code& c, Frame& f) {
  if (__builtin_expect((graphMode_ || jitDepth_ > 0) && !c.interpreted, 0))
    return InterpAccess::execCompiled(*this, c, f);
  try {
    for (const Instr& ins : c.instrs) {
      f.cur = &ins;
      InterpAccess::step(*this, c, f, &ins);
    }
    return InterpAccess::fetch(*this, f, c.output);
  } catch (Error& e) {
    fail(e);
  }
}

// ------------------------------------------------------------------ compiled code (graph mode)
//
// runtime/GraphMode.h: compiled code performs a graph's instructions through these C entry
// points, each the eager semantics of its instruction (InterpAccess::step and the loops of
// exec). They catch every exception: an msl::Error gets its place and traceback from the
// frame stack as in exec (the compiled frame is on it, its current instruction set before
// anything can fail), and is kept in `gPending` until execCompiled raises it again.

namespace {
thread_local std::exception_ptr gPending;

inline Frame& frameOf(void* f) { return *static_cast<Frame*>(f); }

// Runs `body` as instruction i of frame f would run in exec: a failure is kept, status 1.
template <class F>
int32_t guarded(void* frame, uint32_t i, F&& body) {
  Frame& f = frameOf(frame);
  f.cur = &f.code->instrs[i];
  try {
    try {
      return body(f, *f.cur);
    } catch (Error& e) {
      f.interp->fail(e);
    }
  } catch (...) {
    gPending = std::current_exception();
    return -1;
  }
}

// A running loop keeps (cond or body, body or iterable, carry) in its output slot.
inline std::vector<Value>& loopState(Frame& f, const Instr& in) { return f.slots[in.out].as<TupleObj>()->items; }
}  // namespace

Value InterpAccess::execCompiled(Interpreter& it, const Code& c, Frame& f) {
  if (!c.compiled) {
    GraphCompiler* gc = graphCompiler();
    if (!gc) raise(DiagId::NotSupportedYet, c.g->loc, {"compiling without the LLVM code generator"});
    const_cast<Code&>(c).compiled = gc->compile(c.g);
    // No code for it (an AOT executable's table lacks its plan): it runs in the
    // interpreter, with the same semantics (runtime/GraphMode.h).
    if (!c.compiled) {
      const_cast<Code&>(c).interpreted = true;
      return it.exec(c, f);
    }
  }
  f.interp = &it;
  if (c.compiled(&f) != 0) {
    std::exception_ptr e = std::move(gPending);
    gPending = nullptr;
    if (!e) internalError("compiled code of " + c.g->qualname + " failed without an error");
    std::rethrow_exception(e);
  }
  return std::move(f.result);
}

}  // namespace msl

using msl::Frame;
using msl::Instr;
using msl::InterpAccess;
using msl::Value;

extern "C" {

int32_t msl_rt_step(void* frame, uint32_t i) {
  return msl::guarded(frame, i, [](Frame& f, const Instr& in) {
    InterpAccess::step(*f.interp, *f.code, f, &in);
    return 0;
  });
}

int32_t msl_rt_truth(void* frame, uint32_t i) {
  return msl::guarded(frame, i, [](Frame& f, const Instr& in) {
    return msl::valueTruth(InterpAccess::fetch(*f.interp, f, in.ops[0])) ? 1 : 0;
  });
}

int32_t msl_rt_call_arm(void* frame, uint32_t sw, uint32_t call, uint32_t arm) {
  return msl::guarded(frame, call, [&](Frame& f, const Instr& in) {
    Value fn = InterpAccess::fetch(*f.interp, f, f.code->instrs[sw].ops[arm]);
    f.slots[in.out] = f.interp->callValue(fn, nullptr, 0, nullptr);
    return 0;
  });
}

int32_t msl_rt_loop_begin(void* frame, uint32_t i, int64_t* n) {
  return msl::guarded(frame, i, [&](Frame& f, const Instr& in) {
    std::vector<Value> st;
    for (int k = 0; k < 3; ++k) st.push_back(InterpAccess::fetch(*f.interp, f, in.ops[k]));
    *n = 0;
    if (in.prim == msl::Prim::Scan) {
      // Strings index by code point in O(i): walk a vector of their characters.
      if (st[1].is(msl::VKind::Str)) st[1] = msl::makeList(msl::iterToVector(st[1], "for"));
      if (!msl::iterLength(st[1], n)) msl::raise(msl::DiagId::NotIterable, msl::SourceLoc{}, {msl::typeNameOf(st[1])});
    }
    f.slots[in.out] = msl::makeTuple(std::move(st));
    return 0;
  });
}

int32_t msl_rt_loop_interrupt(void* frame, uint32_t i) {
  return msl::guarded(frame, i, [](Frame& f, const Instr&) {
    f.interp->checkInterrupt();
    return 0;
  });
}

int32_t msl_rt_while_cond(void* frame, uint32_t i) {
  return msl::guarded(frame, i, [](Frame& f, const Instr& in) {
    auto& st = msl::loopState(f, in);
    Value a = st[2];
    return msl::valueTruth(f.interp->callClosure(st[0].as<msl::ClosureObj>(), &a, 1, nullptr)) ? 1 : 0;
  });
}

int32_t msl_rt_loop_body(void* frame, uint32_t i, int64_t k) {
  return msl::guarded(frame, i, [&](Frame& f, const Instr& in) {
    auto& st = msl::loopState(f, in);
    if (in.prim == msl::Prim::WhileLoop)
      return msl::loopStep(f.interp->callClosure(st[1].as<msl::ClosureObj>(), &st[2], 1, nullptr), st[2]) ? 1 : 0;
    Value args[2] = {std::move(st[2]), msl::iterItem(st[1], k)};
    return msl::loopStep(f.interp->callClosure(st[0].as<msl::ClosureObj>(), args, 2, nullptr), st[2]) ? 1 : 0;
  });
}

int32_t msl_rt_loop_end(void* frame, uint32_t i) {
  return msl::guarded(frame, i, [](Frame& f, const Instr& in) {
    Value carry = std::move(msl::loopState(f, in)[2]);
    f.slots[in.out] = std::move(carry);
    return 0;
  });
}

int32_t msl_rt_return(void* frame) {
  Frame& f = msl::frameOf(frame);
  try {
    f.result = InterpAccess::fetch(*f.interp, f, f.code->output);
    return 0;
  } catch (...) {
    msl::gPending = std::current_exception();
    return -1;
  }
}

}  // extern "C"

namespace msl {

// ------------------------------------------------------------------ modules

Value Interpreter::runStatement(const Graph* g) {
  const Code& code = codeFor(g);
  size_t mark;
  Value* slots = allocSlots(code.nslots, &mark);
  struct SlotGuard { Interpreter* it; Value* p; size_t n, mark; ~SlotGuard() { it->freeSlots(p, n, mark); } } sg{this, slots, code.nslots, mark};
  FrameScope fs(*this, stack_, code, nullptr, slots);
  return exec(code, fs.f);
}

Value Interpreter::runModule(const ir::Module* m) {
  for (auto& [mod, v] : modules_)
    if (mod == m) return v;
  auto* mo = new ModuleObj();
  Value mv = Value::object(mo);
  mo->irModule = m;
  mo->name = m->name;
  modules_.push_back({m, mv});
  for (const Graph* g : m->statements) runStatement(g);
  return mv;
}

}  // namespace msl
