#pragma once
// CPU twin of launch_magnitude_entropy (kernels/magnitude_entropy.cuh).
#include <cstdint>

namespace qk {

// `count` matrices [seq][dim] at x + c*stride; entropy[c] in [0, 1].
void magnitude_entropy_cpu(const float* x, int64_t count, int64_t stride, int64_t seq, int64_t dim,
                           double* entropy);

}  // namespace qk
