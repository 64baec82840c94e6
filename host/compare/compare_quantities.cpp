#include "compare_quantities.hpp"

namespace qk {

const std::vector<ComparedQuantity>& scalar_quantities() {
  static const std::vector<ComparedQuantity> list = {
      {"bo/composite", false, true},
      {"bo/mean_coherence", false, true},
      {"bo/mean_cross_alignment", false, true},
      {"bo/phase_lock_score", false, true},
      {"bo/joint_collapse_count", false, true},
      {"bo/mean_head_entropy", false, false},
      {"bo/mean_kv_coupling", false, false},
      {"attention/mean_entropy", false, false},
      {"attention/mean_logit_std", false, false},
      {"attention/mean_sink_mass", false, false},
  };
  return list;
}

const std::vector<ComparedQuantity>& layer_quantities() {
  static const std::vector<ComparedQuantity> list = {
      {"attention/entropy", true, false},    {"attention/logit_std", true, false},
      {"attention/sink_mass", true, false},  {"bo/head_entropy", true, false},
      {"bo/layer_kv_coupling", true, false}, {"bo/layer_coherence", true, true},
  };
  return list;
}

std::vector<std::string> invariant_paths() {
  std::vector<std::string> out;
  for (const ComparedQuantity& q : scalar_quantities())
    if (!q.mode_dependent) out.push_back(q.path);
  return out;
}

std::string quantity_definition(const ComparedQuantity& q, bool position_mode, bool lem_compat) {
  if (q.path.rfind("attention/", 0) == 0) return "attention";
  if (!q.mode_dependent)
    return position_mode && lem_compat && q.path.find("entropy") != std::string::npos ? "kv head 0"
                                                                                      : "all kv heads";
  return std::string(position_mode ? "position-wise" : "multi-head") + (lem_compat ? "/lem-compat" : "");
}

}  // namespace qk
