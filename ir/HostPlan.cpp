#include "ir/HostPlan.h"

#include "ir/IR.h"
#include "ir/Prim.h"

namespace msl::ir {

namespace {

// As the interpreter sees a callee: depend(...) wrappers only order effects.
const Node* stripDepend(const Node* n) {
  while (n->isPrimApply(Prim::Depend)) n = n->inputs[1];
  return n;
}

// The core primitive node n applies (the interpreter's Instr::Core), if any.
bool corePrim(const Node* n, Prim* p) {
  const Node* callee = stripDepend(n->inputs[0]);
  if (!callee->isConst() || callee->ckind != ConstKind::Prim) return false;
  if (primInfo(callee->prim).group != PrimGroup::Core) return false;
  *p = callee->prim;
  return true;
}

// Whether node `x` of g is read anywhere but as input `except` (input 0 of node `at`):
// by other nodes, the output, or as a value captured by a nested graph.
bool usedElsewhere(const Graph* g, const Node* x, const Node* at) {
  if (g->output == x) return true;
  for (const Node* n : g->nodes)
    for (size_t k = 0; k < n->inputs.size(); ++k) {
      const Node* in = n->inputs[k];
      if (in == x && !(n == at && k == 0)) return true;
      if (in->isGraphConst()) {
        for (const Node* fv : in->g->freeVars)
          if (fv == x) return true;
        for (const Node* d : in->g->defaults)
          if (d == x) return true;
      }
    }
  return false;
}

}  // namespace

std::vector<HostOp> planHostGraph(const Graph* g) {
  std::vector<HostOp> plan;
  const auto& nodes = g->nodes;
  plan.reserve(nodes.size());
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    const Node* n = nodes[i];
    Prim p;
    if (!corePrim(n, &p)) {
      plan.push_back({HostOp::Step, i});
      continue;
    }
    if (p == Prim::Switch && i + 1 < nodes.size() && n->inputs.size() == 4 && n->inputs[2]->isGraphConst() &&
        n->inputs[3]->isGraphConst()) {
      const Node* c = nodes[i + 1];
      if (c->inputs.size() == 1 && c->kwnames.empty() && c->inputs[0] == n && !usedElsewhere(g, n, c)) {
        plan.push_back({HostOp::If, i});
        ++i;
        continue;
      }
    }
    plan.push_back({p == Prim::WhileLoop ? HostOp::While : p == Prim::Scan ? HostOp::Scan : HostOp::Step, i});
  }
  return plan;
}

std::string hostPlanText(const std::vector<HostOp>& plan) {
  // Runs of steps are what most of a graph is: "s12" for 12 steps in a row (node indices
  // follow from the counts).
  std::string s;
  uint32_t next = 0;  // the node index the text implies next
  size_t k = 0;
  while (k < plan.size()) {
    const HostOp& op = plan[k];
    if (op.i != next) s += "@" + std::to_string(op.i);
    if (op.kind == HostOp::Step) {
      size_t j = k;
      while (j + 1 < plan.size() && plan[j + 1].kind == HostOp::Step && plan[j + 1].i == plan[j].i + 1) ++j;
      s += "s" + std::to_string(j - k + 1);
      next = plan[j].i + 1;
      k = j + 1;
      continue;
    }
    s += op.kind == HostOp::If ? "i" : op.kind == HostOp::While ? "w" : "c";
    next = op.i + (op.kind == HostOp::If ? 2 : 1);
    ++k;
  }
  return s;
}

bool parseHostPlanText(const std::string& text, std::vector<HostOp>* plan) {
  std::vector<HostOp> out;
  uint64_t next = 0;
  size_t k = 0;
  // A number after position k (digits only, below 2^31): false when there is none.
  auto number = [&](uint64_t* v) {
    size_t j = k;
    *v = 0;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9' && j - k < 10) *v = *v * 10 + (uint64_t)(text[j++] - '0');
    if (j == k || *v >= (1u << 31)) return false;
    k = j;
    return true;
  };
  while (k < text.size()) {
    char c = text[k++];
    uint64_t v;
    if (c == '@') {
      if (!number(&v)) return false;
      next = v;
    } else if (c == 's') {
      if (!number(&v) || v == 0 || next + v >= (1u << 24)) return false;  // (a corrupt count: no huge plan)
      for (uint64_t q = 0; q < v; ++q) out.push_back({HostOp::Step, (uint32_t)(next + q)});
      next += v;
    } else if (c == 'i' || c == 'w' || c == 'c') {
      if (next >= (1u << 31)) return false;
      out.push_back({c == 'i' ? HostOp::If : c == 'w' ? HostOp::While : HostOp::Scan, (uint32_t)next});
      next += c == 'i' ? 2 : 1;
    } else {
      return false;
    }
  }
  // Only the texts hostPlanText makes (one text per plan).
  if (hostPlanText(out) != text) return false;
  *plan = std::move(out);
  return true;
}

}  // namespace msl::ir
