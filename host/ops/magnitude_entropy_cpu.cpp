#include "ops/magnitude_entropy_cpu.hpp"

#include <cmath>

#include "seed_math.hpp"

namespace qk {

void magnitude_entropy_cpu(const float* x, int64_t count, int64_t stride, int64_t seq, int64_t dim,
                           double* entropy) {
#pragma omp parallel for schedule(dynamic)
  for (int64_t c = 0; c < count; ++c) {
    const float* m = x + c * stride;
    double total = 0.0, mlogm = 0.0;
    for (int64_t i = 0; i < seq; ++i) {
      double ss = 0.0;
      for (int64_t d = 0; d < dim; ++d) {
        const double v = m[i * dim + d];
        ss += v * v;
      }
      const double mag = std::sqrt(ss);
      total += mag;
      if (mag > 0.0) mlogm += mag * std::log(mag);
    }
    entropy[c] = normalized_entropy_from_sums(total, mlogm, seq);
  }
}

}  // namespace qk
