#include "rope.hpp"

#include <cmath>

namespace qk {

std::vector<double> rope_inv_freq(const RopeConfig& rope, int64_t head_dim) {
  const int64_t half = head_dim / 2;
  std::vector<double> f(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    f[i] = 1.0 / std::pow(rope.theta, static_cast<double>(2 * i) / static_cast<double>(head_dim));
  if (rope.type == RopeType::Linear) {
    for (double& x : f) x /= rope.factor;
  } else if (rope.type == RopeType::Llama3) {
    // Llama 3.1: long wavelengths are divided by factor, short ones kept, and the band
    // between low_freq_wavelen and high_freq_wavelen interpolated smoothly.
    const double old_ctx = static_cast<double>(rope.original_max_position_embeddings);
    const double low_freq_wavelen = old_ctx / rope.low_freq_factor;
    const double high_freq_wavelen = old_ctx / rope.high_freq_factor;
    const double pi = 3.14159265358979323846;
    for (double& x : f) {
      const double wavelen = 2.0 * pi / x;
      if (wavelen > low_freq_wavelen) {
        x /= rope.factor;
      } else if (wavelen >= high_freq_wavelen) {
        const double smooth = (old_ctx / wavelen - rope.low_freq_factor) /
                              (rope.high_freq_factor - rope.low_freq_factor);
        x = (1.0 - smooth) * x / rope.factor + smooth * x;
      }
    }
  }
  return f;
}

}  // namespace qk
