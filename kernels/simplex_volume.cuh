#pragma once
// Pentachoron volumes: one warp per simplex, the 4x4 edge Gram accumulated in fp64.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace qk {

// rows: device [n][dim] f32; idx: device [count][5] row indices (checked by the caller);
// vol: device [count] f64 (0 for a degenerate simplex), as simplex_volumes_cpu.
void launch_simplex_volumes(const float* rows, int64_t dim, const int64_t* idx, int64_t count, double* vol,
                            cudaStream_t stream);

}  // namespace qk
