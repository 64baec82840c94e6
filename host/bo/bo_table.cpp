#include <cstdio>
#include <string>

#include "bo/bo_report.hpp"
#include "report_format.hpp"

namespace qk {

std::string bo_to_table(const BoResult& r) {
  std::string s;
  s += "Q/K Bone Orientation (" + r.mode + ", " + r.backend + ")\n";
  s += "  shape: " + std::to_string(r.layers) + " layers x " + std::to_string(r.kv_heads) + " KV heads x " +
       std::to_string(r.seq_len) + " positions x " + std::to_string(r.head_dim) + " dims";
  s += r.gqa ? "  [position-wise mode, " + std::to_string(r.analysed_heads) + " head(s)]\n"
             : "  [multi-head mode]\n";
  const char* coh = r.gqa ? "mean differentiation" : "mean coherence";
  s += "\n  " + std::string(coh) + std::string(24 - std::string(coh).size(), ' ') +
       fmt_double("%.6f", r.mean_coherence) + "\n";
  s += "  mean cross-alignment    " + fmt_double("%.6f", r.mean_cross_alignment) + "\n";
  s += "  mean head entropy       " + fmt_double("%.6f", r.mean_head_entropy) + "\n";
  s += "  phase-lock score        " + fmt_double("%.6f", r.phase_lock_score) + "\n";
  s += "  joint collapses         " + std::to_string(r.joint_collapse_count) + "\n";
  if (r.value) {
    s += "  mean value coherence    " + fmt_double("%.6f", r.value->mean_value_coherence) + "\n";
    s += "  value phase-lock        " + fmt_double("%.6f", r.value->value_phase_lock_score) + "\n";
    s += "  mean K-V coupling (CKA) " + fmt_double("%.6f", r.value->mean_kv_coupling) + "\n";
  }
  s += "  composite               " + std::to_string(r.composite) + " / 10000\n\n";
  s += "  layer  coherence   cross-align";
  if (r.value) s += "  value-coh   kv-coupling";
  s += "\n";
  for (int l = 0; l < r.layers; ++l) {
    s += fmt_double("  %5.0f", l) + fmt_double("  %9.6f", r.layer_coherence[l]);
    s += l + 1 < r.layers ? fmt_double("   %9.6f", r.layer_cross_alignment[l]) : "           -";
    if (r.value)
      s += fmt_double("  %9.6f", r.value->layer_value_coherence[l]) +
           fmt_double("   %9.6f", r.value->layer_kv_coupling[l]);
    s += "\n";
  }
  return s;
}

}  // namespace qk
