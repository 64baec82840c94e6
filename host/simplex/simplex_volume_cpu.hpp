#pragma once
// Batched pentachoron volumes on the CPU (the GPU kernel's twin): Gram determinants in fp64.
#include <cstdint>

namespace qk {

// rows: [n][dim] f32; idx: [count][5] row indices (each in [0, n)); vol: [count] f64,
// 0 for a degenerate simplex. Throws std::invalid_argument for an index out of range.
void simplex_volumes_cpu(const float* rows, int64_t n, int64_t dim, const int64_t* idx, int64_t count,
                         double* vol);

}  // namespace qk
