#pragma once
// One chunk of a layer's head-mean vector and its alignment sums, shared by
// layer_alignment_cpu and multi_head_pass_cpu.
#include <cstdint>

namespace qk {

// cur[e] = mean over heads of base[h*n + e] for e < len (the seed's f32 sum in head order
// and f32 division when seed_f32_mean, else fp64). Returns |cur|^2 and, when prev is not
// null, sets *dot = prev . cur (fp64).
inline double head_mean_chunk(const float* base, int heads, int64_t n, int64_t len, bool seed_f32_mean,
                              const double* prev, double* cur, double* dot) {
  for (int64_t e = 0; e < len; ++e) {
    if (seed_f32_mean) {
      float s = 0.0f;
      for (int h = 0; h < heads; ++h) s += base[h * n + e];
      cur[e] = s / static_cast<float>(heads);
    } else {
      double s = 0.0;
      for (int h = 0; h < heads; ++h) s += base[h * n + e];
      cur[e] = s / heads;
    }
  }
  double nn = 0.0, dd = 0.0;
  for (int64_t e = 0; e < len; ++e) {
    nn += cur[e] * cur[e];
    if (prev != nullptr) dd += prev[e] * cur[e];
  }
  if (prev != nullptr) *dot = dd;
  return nn;
}

}  // namespace qk
