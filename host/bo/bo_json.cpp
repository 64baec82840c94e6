#include <array>

#include "bo/bo_report.hpp"
#include "quantities.hpp"
#include "report_format.hpp"

namespace qk {

nlohmann::json bo_to_json(const BoResult& r) {
  nlohmann::json j;
  j["mean_coherence"] = r.mean_coherence;
  j["mean_cross_alignment"] = r.mean_cross_alignment;
  j["mean_head_entropy"] = r.mean_head_entropy;
  j["phase_lock_score"] = r.phase_lock_score;
  j["joint_collapse_count"] = r.joint_collapse_count;
  j["layer_coherence"] = r.layer_coherence;
  j["layer_cross_alignment"] = r.layer_cross_alignment;
  j["gqa"] = r.gqa;
  j["composite"] = r.composite;
  j["composite_exact"] = r.composite_exact;
  j["features"] = r.features;
  j["feature_labels"] = quantity("bo/features").labels;
  j["mode"] = r.mode;
  j["backend"] = r.backend;
  j["layers"] = r.layers;
  j["kv_heads"] = r.kv_heads;
  j["q_heads"] = r.q_heads;
  j["seq_len"] = r.seq_len;
  j["head_dim"] = r.head_dim;
  j["analysed_heads"] = r.analysed_heads;
  j["head_differentiation"] = nested_rows(r.head_differentiation, r.layers);
  j["head_entropy"] = nested_rows(r.head_entropy, r.layers);
  if (r.value) {
    const BoValueResult& v = *r.value;
    j["mean_value_coherence"] = v.mean_value_coherence;
    j["layer_value_coherence"] = v.layer_value_coherence;
    j["value_phase_lock_score"] = v.value_phase_lock_score;
    j["mean_kv_coupling"] = v.mean_kv_coupling;
    j["layer_kv_coupling"] = v.layer_kv_coupling;
    j["features7"] = v.features7;
    j["feature7_labels"] = quantity("bo/features7").labels;
  }
  return j;
}

}  // namespace qk
