#pragma once
// GPU dispatch of the pentachoron volumes: uploads the rows and indices, runs
// launch_simplex_volumes, downloads the volumes.
#include <cstdint>

namespace qk {

// As simplex_volumes_cpu, on CUDA device `device`. Builds without CUDA throw std::runtime_error.
void simplex_volumes_gpu(const float* rows, int64_t n, int64_t dim, const int64_t* idx, int64_t count,
                         double* vol, int device);

}  // namespace qk
