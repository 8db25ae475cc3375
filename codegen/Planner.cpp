// Buffer planning (codegen/Planner.h).
#include "codegen/Planner.h"

#include <algorithm>
#include <climits>
#include <unordered_map>

#include "ir/Abstract.h"

namespace msl::codegen {

using ir::Abstract;
using ir::AKind;
using ir::Graph;
using ir::Node;

namespace {

// Primitives whose result may share storage with their first argument: views of a
// tensor, and items taken out of a container (the container still holds them).
bool sharesWithFirstArg(Prim p) {
  switch (p) {
    case Prim::Reshape: case Prim::Transpose: case Prim::TransposeT: case Prim::Swapaxes:
    case Prim::ExpandDims: case Prim::Squeeze: case Prim::BroadcastTo: case Prim::Flatten:
    case Prim::Split: case Prim::GetItem: case Prim::TupleGetItem: case Prim::Unpack:
    case Prim::GetAttr: case Prim::Depend:
      return true;
    default:
      return false;
  }
}

// The abstract value of output o of fused node k (its tuple's item o when it has several).
const Abstract* outputAbs(const Node* k, size_t o, size_t* count) {
  const Abstract* a = k->abs;
  if (!a) {
    *count = 0;
    return nullptr;
  }
  if (a->is(AKind::Tuple) && !a->homogeneous) {
    *count = a->elems.size();
    return o < a->elems.size() ? a->elems[o] : nullptr;
  }
  *count = 1;
  return o == 0 ? a : nullptr;
}

bool sameTensorType(const Abstract* x, const Abstract* y) {
  if (!x || !y || !x->isTensor() || !y->isTensor()) return false;
  if (!x->dtypeKnown || !y->dtypeKnown || !x->rankKnown || !y->rankKnown) return false;
  return x->dtype == y->dtype && x->shape == y->shape;
}

}  // namespace

std::vector<FusedReuse> planBuffers(const Graph* g, const PlanOptions& opt) {
  std::vector<FusedReuse> out;
  const size_t n = g->nodes.size();
  bool anyFused = false;
  for (size_t i = 0; i < n; ++i) anyFused |= g->nodes[i]->isPrimApply(Prim::Fused);
  if (!anyFused) return out;
  constexpr size_t kForever = SIZE_MAX;
  // Liveness: the position of each value's last reader (kForever: it outlives the graph's
  // instructions: the output, a captured value, a default of a nested graph).
  std::unordered_map<const Node*, size_t> last;
  auto use = [&](const Node* v, size_t at) {
    size_t& l = last[v];
    l = std::max(l, at);
  };
  auto captures = [&](const Node* gc) {
    for (const Node* fv : gc->g->freeVars) use(fv, kForever);
    for (const Node* d : gc->g->defaults)
      if (d) use(d, kForever);
  };
  for (size_t i = 0; i < n; ++i)
    for (const Node* in : g->nodes[i]->inputs) {
      if (in->isGraphConst()) captures(in);
      else if (!in->isConst()) use(in, i);
    }
  if (g->output) {
    use(g->output, kForever);
    if (g->output->isGraphConst()) captures(g->output);
  }
  // Storage classes: each value's root through views and projections. The items of a
  // fused node's tuple are buffers of their own.
  std::unordered_map<const Node*, const Node*> rootOf;
  auto root = [&](const Node* v) {
    const Node* r = v;
    for (int guard = 0; guard < 1000; ++guard) {
      Prim p;
      if (!r->isApply() || !r->callsPrim(&p) || !sharesWithFirstArg(p) || r->inputs.size() < 2) break;
      if (p == Prim::TupleGetItem && r->inputs[1]->isPrimApply(Prim::Fused)) break;
      r = r->inputs[1];
    }
    return r;
  };
  // Per root, the latest last use of anything in its class.
  std::unordered_map<const Node*, size_t> classLast;
  auto noteClass = [&](const Node* v) {
    const Node* r = root(v);
    rootOf[v] = r;
    auto it = last.find(v);
    size_t l = it == last.end() ? 0 : it->second;
    size_t& cl = classLast[r];
    cl = std::max(cl, l);
  };
  for (const Node* p : g->params) noteClass(p);
  for (const Node* v : g->nodes) noteClass(v);

  auto isParamOf = [&](const Node* v, size_t* index) {
    for (size_t i = 0; i < g->params.size(); ++i)
      if (g->params[i] == v) {
        *index = i;
        return true;
      }
    return false;
  };
  auto donated = [&](const Node* v) {
    size_t pi;
    return isParamOf(v, &pi) && (opt.donateAllParams || (pi < opt.donated.size() && opt.donated[pi]));
  };
  for (size_t at = 0; at < n; ++at) {
    Node* k = g->nodes[at];
    if (!k->isPrimApply(Prim::Fused) || k->inputs.size() < 2) continue;
    FusedReuse r;
    r.fused = k;
    size_t nout = 0;
    outputAbs(k, 0, &nout);
    const size_t nin = k->inputs.size() - 2;
    // Which inputs may take which outputs' values.
    std::vector<bool> ok(nin, false);
    for (size_t i = 0; i < nin; ++i) {
      const Node* c = k->inputs[2 + i];
      if (c->isConst() || c->graph != g) continue;
      if (c->isParam() && !donated(c)) continue;
      // This node is c's last use, and nothing sharing c's storage is read later.
      auto lc = last.find(c);
      if (lc == last.end() || lc->second != at) continue;
      const Node* rc = rootOf.count(c) ? rootOf[c] : c;
      if (classLast[rc] > at) continue;
      if (rc != c && rc->isParam() && !donated(rc)) continue;  // a view of the caller's storage
      if (rc != c && !rc->isParam() && (rc->isConst() || rc->graph != g)) continue;
      // No other input of the node shares c's storage.
      bool shared = false;
      for (size_t j = 0; j < nin && !shared; ++j) {
        const Node* d = k->inputs[2 + j];
        if (j == i) continue;
        if (d == c) shared = true;
        else if (!d->isConst() && rootOf.count(d) && rootOf[d] == rc) shared = true;
      }
      ok[i] = !shared;
    }
    auto dist = opt.distance.find(k);
    // Output o's candidates, nearest first (then in input order).
    auto candidates = [&](size_t o) {
      std::vector<int> cs;
      const Abstract* oa = outputAbs(k, o, &nout);
      for (size_t i = 0; i < nin; ++i)
        if (ok[i] && sameTensorType(k->inputs[2 + i]->abs, oa)) cs.push_back((int)i);
      auto d = [&](int i) {
        if (dist == opt.distance.end() || o >= dist->second.size() || (size_t)i >= dist->second[o].size()) return INT_MAX;
        return dist->second[o][(size_t)i];
      };
      std::stable_sort(cs.begin(), cs.end(), [&](int a, int b) { return d(a) < d(b); });
      return cs;
    };
    if (nout == 1) {
      std::vector<int> cs = candidates(0);
      for (size_t v = 0; v < cs.size() && (int)v < opt.maxVariants; ++v) r.variants.push_back({cs[v]});
    } else if (nout > 1) {
      std::vector<int> pairing(nout, -1);
      std::vector<bool> taken(nin, false);
      bool any = false;
      for (size_t o = 0; o < nout; ++o)
        for (int i : candidates(o))
          if (!taken[(size_t)i]) {
            pairing[o] = i;
            taken[(size_t)i] = true;
            any = true;
            break;
          }
      if (any) r.variants.push_back(pairing);
    }
    r.alias = r.variants.empty() ? std::vector<int>(nout, -1) : r.variants[0];
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace msl::codegen
