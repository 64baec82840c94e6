#pragma once
// Per-layer Gram of flattened head vectors (pairwise head coherence).
#include <cuda_runtime_api.h>

#include <cstdint>

namespace qk {

// x: device [layers][heads][n] f32 (n = seq * head_dim), any number of heads.
// gram: device [layers][heads][heads] f64, gram[l][i][j] = sum_e x[l][i][e] x[l][j][e].
// Deterministic (fixed reduction order). Throws std::invalid_argument on a negative size,
// a null pointer, or a head count past the launch grid (over 700,000 heads).
void launch_head_gram(const float* x, int layers, int heads, int64_t n, double* gram, cudaStream_t stream);

}  // namespace qk
