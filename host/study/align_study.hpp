#pragma once
// The seed's inter-layer operator alignment (shared/seeds/interlayer-operator-alignment.py)
// from a STATIC.h5 (docs/static-geometry.md): (a) operator cosines between layers,
// (b) the scalar-rescale residual, (c) curvature-sign agreement of the symmetric parts'
// top-k eigenvalues, the fraction of positive eigenvalues, (d) principal angles between
// top-K eigen-subspaces, and the verdict. Layer thirds come from the real layer count.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qk {

struct AlignResult {
  int layers = 0, heads = 0, head_dim = 0, topk = 0, anchor = 0;
  std::vector<double> cos_matrix;             // [L][L]: mean over heads of gram / (|g_l| |g_l'|)
  std::vector<double> adjacent_cos;           // [L-1]
  std::vector<double> to_anchor_cos;          // [L]
  std::vector<double> to_anchor_scale;        // [L]: mean over heads of gram[l, anchor] / |g_anchor|^2
  std::vector<double> to_anchor_residual;     // [L]: sqrt(1 - cos^2) of the head-mean cosine
  std::vector<double> rescale_mean_cos;       // [L]: per-head cosines to the anchor, mean
  std::vector<double> rescale_mean_residual;  // [L]: per-head sqrt(1 - cos^2), mean
  std::vector<int> sign_k;                    // top-k sizes used: 2, 4, ..., <= 2d and <= 256
  std::vector<double> sign_agree;             // [k]: mean over layers and heads
  std::vector<double> sign_agree_thirds;      // [k][3]: early, mid, late layers
  std::vector<double> frac_positive;          // [L]: eigenvalues > 0, over heads and all 2d
  std::vector<double> pa_mean_cos;            // [L]: mean over heads of the mean principal-angle cosine
  std::vector<double> pa_min_cos;             // [L]: ... of the smallest
  std::vector<double> pa_top1_overlap;        // [L]: ... of <a_0, b_0>^2
  double mean_cos_to_anchor = 0, mean_adjacent_cos = 0;
  std::string verdict;  // STRONG | MEDIUM | WEAK | REJECTED
};

// anchor < 0: the last layer. Throws InputError naming the file for a missing or
// ill-shaped dataset, std::invalid_argument naming --anchor for an anchor outside [0, L).
AlignResult align_study(const std::string& static_h5, int anchor);

// Writes the result into the file's group "align/" (replacing it).
void write_align(const std::string& static_h5, const AlignResult& r);

nlohmann::json align_json(const AlignResult& r);
std::string align_table(const AlignResult& r);

// The [lo, hi) layer ranges of the thirds of L layers: [0, L/3), [L/3, 2L/3), [2L/3, L).
std::vector<std::pair<int, int>> layer_thirds(int layers);

}  // namespace qk
