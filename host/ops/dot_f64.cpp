#include "ops/dot_f64.hpp"

namespace qk {

__attribute__((target_clones("avx2", "default"))) double dot_f64(const float* a, const float* b, int64_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t e = 0; e < n; ++e) s += static_cast<double>(a[e]) * static_cast<double>(b[e]);
  return s;
}

}  // namespace qk
