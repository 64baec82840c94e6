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
// InternalError for dims that check_rope_dims refuses.
RopeLayer rope_layer_cpu(const float* wq, const float* wk, const StaticDims& d, const RopeSpec& s);

// The GPU twin (host/static/rope_gpu_cuda.cpp) on CUDA device `device`: same arguments and
// results; builds without the CUDA static path get a stub that throws.
RopeLayer rope_layer_gpu(const float* wq, const float* wk, const StaticDims& d, const RopeSpec& s,
                         int device);

// InternalError naming `who` unless the dims are positive, the heads a multiple of the KV
// heads, r even in [2, head_dim] and inv_freq of length r / 2.
void check_rope_dims(const StaticDims& d, const RopeSpec& s, const char* who);

// Every field of a RopeLayer sized for d and s (zeros).
RopeLayer sized_rope_layer(const StaticDims& d, const RopeSpec& s);

// {cos, sin} of offsets[o] * inv_freq[i] (fp64), [O][r / 2][2]: the rotations of every offset.
std::vector<double> rope_cos_sin(const RopeSpec& s);

// Head h's band fields of out (band_energy, band_mean_energy, band_share,
// invariant_fraction, unrotated_energy, unrotated_share) from its head-space Grams
// gq = Q Q^T, gk = K K^T (d x d, symmetric), r rotary dims, O offsets, cs = rope_cos_sin.
// The CPU twin of launch_rope_bands (kernels/rope_geometry.cuh).
void rope_head_bands(const double* gq, const double* gk, int64_t d, int64_t r, int64_t O, const double* cs,
                     int64_t h, RopeLayer& out);

}  // namespace qk
