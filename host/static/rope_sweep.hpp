#pragma once
// The RoPE-aware expected logit of a sweep's mean query and key, and its comparison with
// the sweep's measured attention by distance (`qkgeom rope-geometry --sweep`,
// docs/static-geometry.md, "Expected logit of a sweep"). All math in fp64.
#include <cstdint>
#include <string>
#include <vector>

#include "hf_config.hpp"
#include "static_types.hpp"

namespace qk {

constexpr int64_t kDistanceBuckets = 16;  // attention/distance_mass buckets (docs/metrics.md)

// The distance bucket of D >= 0: 0 for D = 0, else min(15, floor(log2 D) + 1).
int64_t distance_bucket(int64_t D);

// What the sweep store gives: the means of its ok probes.
struct SweepMeans {
  int64_t probes = 0, tokens = 0;  // ok probes, their tokens
  int64_t max_len = 0;             // longest ok probe (tokens)
  int64_t query_len = 0;           // n: round(mean ok probe length)
  std::vector<double> mean_query;  // [L][Hq][d] mean of R(-pos) q_post over tokens
  std::vector<double> mean_key;    // [L][Hkv][d] mean of R(-pos) k_post
  std::vector<double> measured;    // [L][Hq][16] mean attention/distance_mass over ok probes
};

struct RopeSweep {
  std::string path;  // the sweep store
  SweepMeans m;
  std::vector<double> expected_logit;   // [L][Hq][max_len] E(D), D = 0 .. max_len - 1, logits (soft-capped)
  std::vector<double> implied_mass;     // [L][Hq][16] probability
  std::vector<double> spearman;         // [L][Hq] over buckets with mass; NaN when undefined
  std::vector<double> total_variation;  // [L][Hq] 0.5 sum |implied - measured|
  std::vector<int64_t> window;          // [L] the layer's sliding window (SweepRope)
  std::vector<double> softcap;          // [L] the logit soft-cap applied (0: none)
};

// Per layer: the r / 2 inverse frequencies (radians per position), the logit scale and
// the sliding window; the model's attention-logit soft-cap. As the model runtime applies
// them: logit = softcap tanh(scale q.k / softcap) when softcap > 0, and in a layer with a
// window w the query at i sees the keys j with 0 <= i - j < w.
struct SweepRope {
  int64_t rotary_dim = 0;
  std::vector<std::vector<double>> inv_freq;  // [L][r / 2]
  std::vector<double> scale;                  // [L]
  std::vector<int64_t> window;                // [L] w in positions; 0: the layer does not slide
  double softcap = 0;                         // attn_logit_softcapping (Gemma 2); 0: none
};

// InputError (exit 3) naming `path` when it is not a sweep of `model_dir` (model_config_sha256
// of config.json, shapes) or lacks kv/q, kv/k (--save-kv qkv) or attention/distance_mass.
void check_rope_sweep(const std::string& path, const std::string& model_dir, const StaticDims& d);

// Reads the store (checked as above) and un-rotates and averages its q and k.
SweepMeans read_sweep_means(const std::string& path, const StaticDims& d, const SweepRope& rope);

// E(D), the implied masses and their agreement with the measured ones.
RopeSweep compare_rope_sweep(const std::string& path, SweepMeans m, const StaticDims& d,
                             const SweepRope& rope);

}  // namespace qk
