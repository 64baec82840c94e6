#pragma once
// CPU twin of launch_position_cosine (kernels/position_cosine.cuh).
#include <cstdint>

namespace qk {

// `count` matrices [seq][dim] at x + c*stride; sum_cos[c] = sum_{i<j} cos(x_i, x_j);
// below[c] = #{i<j : cos < threshold} on the seed's fp64 cosine. Tiles of fp32
// GEMM (OpenBLAS) reduced on the fly; never stores S x S.
void position_cosine_cpu(const float* x, int64_t count, int64_t stride, int64_t seq, int64_t dim,
                         double threshold, double* sum_cos, uint64_t* below);

}  // namespace qk
