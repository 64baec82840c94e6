#pragma once
// RoPE-aware operator geometry of one layer (`qkgeom rope-geometry`, definitions in
// docs/static-geometry.md, "RoPE-aware operator"). For query head h of KV group g, with
// Q = W_Q^h and K = W_K^g (d x hidden), the operator at offset D (query position minus
// key position) is B(D) = Q^T R(-D) K (hidden x hidden, never formed), R block-diagonal
// over the rotary pairs (i, i + r/2), i < r/2, rotating pair i by the angle D inv_freq[i]
// (radians); dims r .. d-1 are not rotated. All math in fp64.
#include <cstdint>
#include <vector>

#include "static_types.hpp"

namespace qk {

struct RopeSpec {
  int64_t rotary_dim = 0;        // r: even, 2 <= r <= head_dim
  std::vector<double> inv_freq;  // [r / 2] radians per position
  std::vector<int64_t> offsets;  // [O] query position minus key position
};

// One layer's results, P = r / 2 bands, O offsets.
struct RopeLayer {
  std::vector<double> sv;                  // [Hq][O][d] singular values of B(D), descending
  std::vector<double> signed_trace;        // [Hq][O]    tr B(D)
  std::vector<double> band_energy;         // [Hq][O][P] ||Q_p^T R_p(-D) K_p||_F^2 of pair p
  std::vector<double> band_mean_energy;    // [Hq][P]    its mean over offsets
  std::vector<double> band_share;          // [Hq][P]    mean energy / total mean energy
  std::vector<double> invariant_fraction;  // [Hq][P]    min over offsets / mean, in [0, 1]
  std::vector<double> unrotated_energy;    // [Hq]       ||Q_u^T K_u||_F^2 of dims r .. d-1
  std::vector<double> unrotated_share;     // [Hq]       its share of the total mean energy
};

// wq: [Hq * d][hidden], wk: [Hkv * d][hidden] (f32, row-major). Heads in parallel (OpenMP).
RopeLayer rope_layer_cpu(const float* wq, const float* wk, const StaticDims& d, const RopeSpec& s);

}  // namespace qk
