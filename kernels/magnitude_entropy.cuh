#pragma once
// K-magnitude entropy: normalised Shannon entropy of per-position L2 norms.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace qk {

// x: device, `count` matrices of [seq][dim] f32, matrix c at x + c * stride.
// entropy[c] = -sum_i p_i ln p_i / ln seq with p_i = |x_i| / sum_j |x_j|; in [0, 1],
// 0 when seq < 2 or every row is zero. entropy: device array of `count` f64.
void launch_magnitude_entropy(const float* x, int64_t count, int64_t stride, int64_t seq, int64_t dim,
                              double* entropy, cudaStream_t stream);

}  // namespace qk
