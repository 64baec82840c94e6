#include "rope.hpp"

#include <algorithm>
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
  } else if (rope.type == RopeType::Yarn) {
    // YaRN: interpolated (divided by factor) below the ramp, extrapolated (kept) above it,
    // the ramp between the dimensions where beta_fast and beta_slow rotations fit into the
    // original context (transformers' _compute_yarn_parameters).
    const double dim = static_cast<double>(head_dim), pi = 3.14159265358979323846;
    const double ctx = static_cast<double>(rope.original_max_position_embeddings);
    auto correction_dim = [&](double rotations) {
      return dim * std::log(ctx / (rotations * 2.0 * pi)) / (2.0 * std::log(rope.theta));
    };
    double low = correction_dim(rope.beta_fast), high = correction_dim(rope.beta_slow);
    if (rope.truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, dim - 1);
    if (low == high) high += 0.001;
    for (int64_t i = 0; i < half; ++i) {
      const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
      const double extrapolation = 1.0 - ramp;
      f[i] = f[i] / rope.factor * (1.0 - extrapolation) + f[i] * extrapolation;
    }
  }
  return f;
}

}  // namespace qk
