#pragma once
// Bone-Orientation results of clouds with NaN or Inf values (docs/metrics.md,
// "Non-finite values"): which values such input makes NaN, a result with no numbers,
// and the first non-finite value of a result.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bo/bo_metrics.hpp"

namespace qk {

// Sets to NaN every value of r computed from a non-finite k (v) value, as NaN
// propagation through the definitions gives. k_bad, v_bad: [layers][kv_heads], 1 where
// that head of that layer holds a NaN or Inf (v_bad may be null or empty). Per head:
// head_entropy, head_differentiation. Per layer: layer_coherence (any used head),
// layer_cross_alignment (either layer), layer_value_coherence, layer_kv_coupling (any
// head of k or v). Aggregates over layers (means, phase-lock score, composite_exact,
// features, features7, and through mean_cross_alignment the joint-collapse count): NaN
// when any layer they cover is. "Used heads": the analysed heads in position mode,
// every head otherwise.
void mask_nonfinite_bo(BoResult& r, const std::vector<uint8_t>& k_bad, const std::vector<uint8_t>* v_bad);

// A result without numbers for a cloud of `layers` x `kv_heads`: every value NaN, the
// per-layer and per-head arrays empty (writers pad them with NaN), the mode set.
BoResult nan_bo_result(int layers, int kv_heads, bool lem_compat);

// Name and position of the first NaN or Inf in r ("bo/layer_coherence[3]"); nullopt when
// every value is finite.
std::optional<std::string> first_nonfinite_bo(const BoResult& r);

// True when r has no composite score (composite_exact is NaN): stores write NaN for
// composite and joint_collapse_count then.
bool bo_without_score(const BoResult& r);

}  // namespace qk
