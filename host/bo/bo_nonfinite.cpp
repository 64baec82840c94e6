#include "bo/bo_nonfinite.hpp"

#include <cmath>
#include <limits>

namespace qk {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Per layer: 1 when any of the first `heads` heads of that layer is flagged.
std::vector<uint8_t> any_per_layer(const std::vector<uint8_t>& bad, int layers, int stride, int heads) {
  std::vector<uint8_t> out(static_cast<size_t>(layers), 0);
  for (int l = 0; l < layers; ++l)
    for (int h = 0; h < heads; ++h)
      if (bad[static_cast<size_t>(l) * stride + h]) out[static_cast<size_t>(l)] = 1;
  return out;
}

bool any_of(const std::vector<uint8_t>& v) {
  for (uint8_t x : v)
    if (x) return true;
  return false;
}

// x[l][h] <- NaN where bad[l][h], for the `heads` heads x holds per layer.
void mask_heads(std::vector<double>& x, const std::vector<uint8_t>& bad, int stride, int heads) {
  if (heads == 0) return;
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t l = i / static_cast<size_t>(heads), h = i % static_cast<size_t>(heads);
    if (bad[l * static_cast<size_t>(stride) + h]) x[i] = kNaN;
  }
}

void mask_value_side(BoValueResult& v, const std::vector<uint8_t>& v_layer,
                     const std::vector<uint8_t>& kv_layer) {
  for (size_t l = 0; l < v.layer_value_coherence.size(); ++l)
    if (v_layer[l]) v.layer_value_coherence[l] = kNaN;
  for (size_t l = 0; l < v.layer_kv_coupling.size(); ++l)
    if (kv_layer[l]) v.layer_kv_coupling[l] = kNaN;
  if (any_of(v_layer)) v.mean_value_coherence = v.value_phase_lock_score = v.features7[5] = kNaN;
  if (any_of(kv_layer)) v.mean_kv_coupling = v.features7[6] = kNaN;
}

}  // namespace

void mask_nonfinite_bo(BoResult& r, const std::vector<uint8_t>& k_bad, const std::vector<uint8_t>* v_bad) {
  const int L = r.layers, H = r.kv_heads;
  const int used = r.gqa ? r.analysed_heads : H;
  const std::vector<uint8_t> k_layer = any_per_layer(k_bad, L, H, used);
  mask_heads(r.head_entropy, k_bad, H, r.analysed_heads);
  if (r.gqa) mask_heads(r.head_differentiation, k_bad, H, r.analysed_heads);
  for (int l = 0; l < L; ++l) {
    if (!k_layer[static_cast<size_t>(l)]) continue;
    r.layer_coherence[static_cast<size_t>(l)] = kNaN;
    if (l > 0) r.layer_cross_alignment[static_cast<size_t>(l - 1)] = kNaN;
    if (l + 1 < L) r.layer_cross_alignment[static_cast<size_t>(l)] = kNaN;
  }
  if (any_of(k_layer)) {
    r.mean_coherence = r.mean_cross_alignment = r.mean_head_entropy = r.phase_lock_score = kNaN;
    r.composite_exact = kNaN;
    r.features.fill(kNaN);
    if (r.value)
      for (int i = 0; i < 5; ++i) r.value->features7[static_cast<size_t>(i)] = kNaN;
  }
  if (!r.value) return;
  const bool have_v = v_bad != nullptr && !v_bad->empty();
  const std::vector<uint8_t> none(static_cast<size_t>(L) * H, 0);
  const std::vector<uint8_t>& vb = have_v ? *v_bad : none;
  std::vector<uint8_t> kv_layer = any_per_layer(k_bad, L, H, H);
  const std::vector<uint8_t> v_all = any_per_layer(vb, L, H, H);
  for (size_t l = 0; l < kv_layer.size(); ++l) kv_layer[l] |= v_all[l];
  mask_value_side(*r.value, any_per_layer(vb, L, H, used), kv_layer);
}

BoResult nan_bo_result(int layers, int kv_heads, bool lem_compat) {
  BoResult r;
  r.mode = lem_compat ? "lem-compat" : "default";
  r.layers = layers;
  r.kv_heads = kv_heads;
  r.gqa = bo_position_mode(kv_heads);
  r.analysed_heads = r.gqa && lem_compat ? 1 : kv_heads;
  r.mean_coherence = r.mean_cross_alignment = r.mean_head_entropy = r.phase_lock_score = kNaN;
  r.composite_exact = kNaN;
  r.features.fill(kNaN);
  return r;
}

std::optional<std::string> first_nonfinite_bo(const BoResult& r) {
  const auto bad = [](double x) { return !std::isfinite(x); };
  const std::pair<const char*, double> scalars[] = {{"bo/mean_coherence", r.mean_coherence},
                                                    {"bo/mean_cross_alignment", r.mean_cross_alignment},
                                                    {"bo/mean_head_entropy", r.mean_head_entropy},
                                                    {"bo/phase_lock_score", r.phase_lock_score},
                                                    {"bo/composite_exact", r.composite_exact}};
  for (const auto& [name, x] : scalars)
    if (bad(x)) return std::string(name);
  const std::pair<const char*, const std::vector<double>*> arrays[] = {
      {"bo/layer_coherence", &r.layer_coherence},
      {"bo/layer_cross_alignment", &r.layer_cross_alignment},
      {"bo/head_entropy", &r.head_entropy},
      {"bo/head_differentiation", &r.head_differentiation},
      {"bo/layer_value_coherence", r.value ? &r.value->layer_value_coherence : nullptr},
      {"bo/layer_kv_coupling", r.value ? &r.value->layer_kv_coupling : nullptr}};
  for (const auto& [name, v] : arrays)
    if (v != nullptr)
      for (size_t i = 0; i < v->size(); ++i)
        if (bad((*v)[i])) return std::string(name) + "[" + std::to_string(i) + "]";
  if (r.value) {
    if (bad(r.value->mean_value_coherence)) return std::string("bo/mean_value_coherence");
    if (bad(r.value->value_phase_lock_score)) return std::string("bo/value_phase_lock_score");
    if (bad(r.value->mean_kv_coupling)) return std::string("bo/mean_kv_coupling");
  }
  return std::nullopt;
}

bool bo_without_score(const BoResult& r) { return std::isnan(r.composite_exact); }

}  // namespace qk
