#include "probe_analysis.hpp"

#include <optional>
#include <stdexcept>

#include "bo/bo_nonfinite.hpp"
#include "finite_check.hpp"

namespace qk {

OnNonFinite parse_on_nonfinite(const std::string& name) {
  if (name == "fail") return OnNonFinite::Fail;
  if (name == "skip") return OnNonFinite::Skip;
  if (name == "keep") return OnNonFinite::Keep;
  throw std::invalid_argument("--on-nonfinite: unknown '" + name + "'; use fail, skip or keep");
}

const char* on_nonfinite_name(OnNonFinite policy) {
  switch (policy) {
    case OnNonFinite::Skip:
      return "skip";
    case OnNonFinite::Keep:
      return "keep";
    default:
      return "fail";
  }
}

namespace {

// True when every q/k/v value of snap is finite: one pass over each layer tensor, the
// layers on all OpenMP threads (the details come from first_nonfinite, only on failure).
bool snapshot_finite(const Snapshot& snap) {
  const Tensor4f* tensors[] = {snap.q ? &*snap.q : nullptr, &snap.k, snap.v ? &*snap.v : nullptr};
  bool finite = true;
  for (const Tensor4f* t : tensors) {
    if (t == nullptr || t->shape[0] == 0) continue;
    const int64_t layers = t->shape[0], per_layer = t->numel() / layers;
#pragma omp parallel for reduction(&& : finite) schedule(static)
    for (int64_t l = 0; l < layers; ++l)
      finite = all_finite(t->data.data() + l * per_layer, per_layer) && finite;
  }
  return finite;
}

// The metrics m asks for, as computed; BO masked by the non-finite heads of k and v.
void compute(const Snapshot& snap, const ProbeMetrics& m, bool mask, ProbeOutcome& out) {
  if (m.bo) {
    out.bo = analyse_bo(snap, m.bo_options);
    if (mask) {
      const std::vector<uint8_t> v_bad = snap.v ? nonfinite_heads(*snap.v) : std::vector<uint8_t>{};
      mask_nonfinite_bo(*out.bo, nonfinite_heads(snap.k), &v_bad);
    }
  }
  if (m.attention) out.attention = attention_stats(snap, m.attention_options);
}

// Results without numbers for the metrics m asks for.
void without_numbers(const Snapshot& snap, const ProbeMetrics& m, ProbeOutcome& out) {
  if (m.bo) out.bo = nan_bo_result(snap.k.layers(), snap.k.heads(), m.bo_options.lem_compat);
  if (m.attention) out.attention = nan_attention_stats();
}

}  // namespace

void analyse_probe(const Snapshot& snap, const ProbeMetrics& m, ProbeOutcome& out) {
  out.status = ProbeStatus{};
  if (!snapshot_finite(snap)) {
    const std::optional<NonFiniteValue> v = first_nonfinite(snap);
    out.status = {"non_finite", static_cast<int32_t>(v->layer), v->tensor,
                  describe_nonfinite(*v, snap.q ? snap.q->heads() : 0, snap.k.heads())};
    if (m.policy == OnNonFinite::Skip) without_numbers(snap, m, out);
    if (m.policy == OnNonFinite::Keep) compute(snap, m, true, out);
    return;
  }
  compute(snap, m, false, out);
  std::optional<std::string> bad = out.bo ? first_nonfinite_bo(*out.bo) : std::nullopt;
  if (!bad && out.attention) bad = first_nonfinite_attention(*out.attention);
  if (!bad) return;
  out.status = {"non_finite_metric", -1, bad->substr(0, bad->find('[')),
                *bad + " is not finite although q, k and v are"};
  if (m.policy == OnNonFinite::Skip) without_numbers(snap, m, out);
  if (m.policy == OnNonFinite::Fail) {
    out.bo.reset();
    out.attention.reset();
  }
}

}  // namespace qk
