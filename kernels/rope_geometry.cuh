#pragma once
// RoPE-aware operator geometry (docs/static-geometry.md, "RoPE-aware operator", "GPU
// path"): the fp64 device steps of rope_layer_gpu between its cuBLAS GEMMs and cuSOLVER
// SVDs. Column-major matrices; every launcher only enqueues work on `stream`. CPU twins:
// host/static/rope_operator.cpp.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace qk {

// y_c = x_c R for the rows x cols column-major x_c = x + c * stride_x (ld rows), c < count:
// column pair (i, i + pairs), i < pairs, becomes (cs[2i] x_i + cs[2i+1] x_{i+pairs},
// -cs[2i+1] x_i + cs[2i] x_{i+pairs}); columns 2 pairs .. cols - 1 are copied. y_c at
// y + c * rows * cols (ld rows). cs: device [pairs][2] {cos, sin} of one offset's angles.
// CPU twin: rotate_columns (row-major X R(D)). Requires 2 pairs <= cols.
void launch_rotate_column_pairs(const double* x, int64_t rows, int64_t cols, int64_t stride_x, int64_t pairs,
                                const double* cs, int64_t count, double* y, cudaStream_t stream);

// Band profiles of `count` heads from their head-space Grams gq_c = gq + c d^2 and
// gk_c = gk + c d^2 (d x d, symmetric), r rotary dims (P = r / 2 pairs), O offsets with
// cs [O][P][2] {cos, sin} (device). Writes, as rope_head_bands does for head c:
// energy [count][O][P], mean [count][P], invariant [count][P], share [count][P],
// unrot [count], unrot_share [count]. One CUDA block per head.
struct RopeBandsOut {
  double *energy, *mean, *invariant, *share, *unrot, *unrot_share;
};
void launch_rope_bands(const double* gq, const double* gk, int64_t d, int64_t r, int64_t offsets,
                       const double* cs, int64_t count, const RopeBandsOut& out, cudaStream_t stream);

}  // namespace qk
