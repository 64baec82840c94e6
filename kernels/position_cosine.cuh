#pragma once
// Position x position cosine reductions of [seq][dim] matrices, without S x S storage.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace qk {

// x: device, `count` matrices of [seq][dim] f32, matrix c at x + c * stride.
// sum_cos[c] = sum over pairs i<j of cos(x_i, x_j), f64 (zero rows have cosine 0).
// below[c]   = number of pairs i<j with cos(x_i, x_j) < threshold, decided on the
//              seed's fp64 cosine (pairs near the threshold are re-checked in fp64).
// sum_cos, below: device arrays of `count`.
void launch_position_cosine(const float* x, int64_t count, int64_t stride, int64_t seq, int64_t dim,
                            double threshold, double* sum_cos, uint64_t* below, cudaStream_t stream);

}  // namespace qk
