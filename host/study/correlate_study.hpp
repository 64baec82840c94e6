#pragma once
// The seed's static-vs-dynamic study (shared/seeds/head-geometry-vs-entropy.py): per-head
// spectral descriptors of W_Q^T W_K (from a STATIC.h5) against per-head attention entropy
// and logit std averaged over a sweep's probes (RESULTS.h5). Pearson as the seed, plus
// Spearman and bootstrap confidence intervals over probes, for the exact spectra and the
// seed's shortcut spectra side by side.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stats.hpp"

namespace qk {

struct CorrelateOptions {
  int bootstrap = 1000;  // resamples of the probes (0: no intervals)
  uint64_t seed = 0;
  double level = 0.95;  // confidence level of the intervals
};

struct DescriptorCorrelation {
  std::string name;  // op, fro, trace, rank_eff, spec_ent, anisotropy, condition
  double pearson_entropy = 0, pearson_logit_std = 0;
  double spearman_entropy = 0, spearman_logit_std = 0;
  double pearson_entropy_lo = 0, pearson_entropy_hi = 0;  // bootstrap interval
  double spearman_entropy_lo = 0, spearman_entropy_hi = 0;
  std::vector<double> pearson_entropy_thirds;  // early, mid, late layers
};

struct SpectrumStudy {
  std::string spectrum;  // "exact" or "shortcut"
  std::vector<DescriptorCorrelation> descriptors;
  std::string best;  // largest |Pearson| with entropy
  double best_r = 0;
  Regression regression;  // entropy on op, spec_ent, rank_eff, anisotropy
};

struct CorrelateResult {
  int layers = 0, heads = 0;
  int64_t probes = 0;                  // probes used: probe/status ok (all without the column)
  int64_t excluded = 0;                // committed probes left out (status other than ok)
  std::vector<double> entropy;         // [L][H] mean over probes, nats
  std::vector<double> logit_std;       // [L][H]
  std::vector<SpectrumStudy> studies;  // exact, shortcut
  CorrelateOptions options;
};

// Throws InputError naming a file when a dataset is missing, the shapes disagree, the
// two files come from different models (config hashes), a used probe's attention
// statistics or a static descriptor are not finite (file, dataset, row, layer, head),
// or no probe has status ok. Probes whose probe/status is not "ok" are left out.
CorrelateResult correlate_study(const std::string& static_h5, const std::string& sweep_h5,
                                const CorrelateOptions& opts);

nlohmann::json correlate_json(const CorrelateResult& r);
std::string correlate_table(const CorrelateResult& r);

// The seed's input JSON (num_layers, num_heads, static[].metric_singvals_per_head with the
// shortcut spectra, dynamic[].mean_attention_entropy_per_head / mean_logit_std_per_head).
void write_correlate_legacy(const std::string& static_h5, const CorrelateResult& r, const std::string& path);

}  // namespace qk
