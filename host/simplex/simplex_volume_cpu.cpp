#include "simplex_volume_cpu.hpp"

#include <stdexcept>
#include <string>

#include "internal_error.hpp"
#include "simplex_volume.hpp"

namespace qk {

void simplex_volumes_cpu(const float* rows, int64_t n, int64_t dim, const int64_t* idx, int64_t count,
                         double* vol) {
  for (int64_t i = 0; i < count * simplex::kVerts; ++i)
    if (idx[i] < 0 || idx[i] >= n)
      throw InternalError("simplex index " + std::to_string(idx[i]) + " outside [0, " + std::to_string(n) +
                          ")");
#pragma omp parallel for schedule(static)
  for (int64_t s = 0; s < count; ++s) {
    const float* p[simplex::kVerts];
    for (int v = 0; v < simplex::kVerts; ++v) p[v] = rows + idx[s * simplex::kVerts + v] * dim;
    double g[simplex::kGram] = {};
    simplex::gram_accumulate(p, dim, 0, 1, g);
    vol[s] = simplex::volume_from_gram(g);
  }
}

}  // namespace qk
