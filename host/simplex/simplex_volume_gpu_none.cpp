// GPU dispatch of the pentachoron volumes for builds without CUDA: refuses to run.
#include <stdexcept>

#include "simplex_volume_gpu.hpp"

namespace qk {

void simplex_volumes_gpu(const float*, int64_t, int64_t, const int64_t*, int64_t, double*, int) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}

}  // namespace qk
