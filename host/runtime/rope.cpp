#include "rope.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/ATen.h>

namespace qk {

namespace {

// Python's `a / t` for a float a and a tensor t is t.reciprocal() * a (Tensor.__rtruediv__).
at::Tensor rdiv(double a, const at::Tensor& t) { return t.reciprocal() * a; }

// base ** (arange(0, dim, 2).float() / dim), in f32.
at::Tensor pos_freqs(double base, int64_t dim) {
  const at::Tensor e = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / dim;
  return at::pow(at::Scalar(base), e);
}

// _compute_llama3_parameters: long wavelengths divided by factor, short ones kept, the band
// between interpolated.
at::Tensor llama3(const RopeConfig& r, const at::Tensor& inv_freq) {
  const double old_ctx = static_cast<double>(r.original_max_position_embeddings);
  const double low_freq_wavelen = old_ctx / r.low_freq_factor;
  const double high_freq_wavelen = old_ctx / r.high_freq_factor;
  const at::Tensor wavelen = rdiv(2 * M_PI, inv_freq);
  at::Tensor inv_llama = at::where(wavelen > low_freq_wavelen, inv_freq / r.factor, inv_freq);
  const at::Tensor smooth =
      (rdiv(old_ctx, wavelen) - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
  const at::Tensor smoothed = at::rsub(smooth, 1) * inv_llama / r.factor + smooth * inv_llama;
  const at::Tensor medium =
      (wavelen < high_freq_wavelen).logical_not() * (wavelen > low_freq_wavelen).logical_not();
  return at::where(medium, smoothed, inv_llama);
}

// _compute_yarn_parameters: interpolated below the ramp, extrapolated above it, the ramp
// between the dimensions where beta_fast and beta_slow rotations fit the original context.
at::Tensor yarn(const RopeConfig& r, int64_t dim) {
  const double base = r.theta;
  const double ctx = static_cast<double>(r.original_max_position_embeddings);
  auto correction_dim = [&](double rotations) {
    return (static_cast<double>(dim) * std::log(ctx / (rotations * 2 * M_PI))) / (2 * std::log(base));
  };
  double low = correction_dim(r.beta_fast), high = correction_dim(r.beta_slow);
  if (r.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;
  const at::Tensor p = pos_freqs(base, dim);
  const at::Tensor extrapolation = rdiv(1.0, p);
  const at::Tensor interpolation = rdiv(1.0, r.factor * p);
  const at::Tensor ramp = at::clamp((at::arange(dim / 2, at::kFloat) - low) / (high - low), 0, 1);
  const at::Tensor extrapolation_factor = at::rsub(ramp.to(at::kFloat), 1);
  return interpolation * at::rsub(extrapolation_factor, 1) + extrapolation * extrapolation_factor;
}

// _compute_dynamic_ntk_parameters for a fresh model and a prompt of seq_len tokens:
// theta * (factor * len / max - (factor - 1))^(dim / (dim - 2)) with len = max(seq_len,
// max). Up to max positions HF keeps its initial frequencies (computed in float64 from
// len = max); beyond, dynamic_rope_update recomputes them from the 0-d int64 tensor
// seq_len, so theta is then a float32 tensor.
at::Tensor dynamic_ntk(const RopeConfig& r, int64_t dim, int64_t seq_len) {
  const int64_t max = r.max_position_embeddings;
  const double exponent = static_cast<double>(dim) / static_cast<double>(dim - 2);
  const at::Tensor e = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / dim;
  if (seq_len <= max) {
    const double m = static_cast<double>(max);
    const double base = r.theta * std::pow(r.factor * m / m - (r.factor - 1), exponent);
    return rdiv(1.0, at::pow(at::Scalar(base), e));
  }
  const at::Tensor len = at::scalar_tensor(seq_len, at::kLong);
  const at::Tensor base = at::pow(len * r.factor / max - (r.factor - 1), exponent) * r.theta;
  return rdiv(1.0, at::pow(base, e));
}

// _compute_longrope_parameters: 1 / (ext_factors * theta^(2i/dim)), ext_factors the
// long_factor list (f32) past the original context, else short_factor.
at::Tensor longrope(const RopeConfig& r, int64_t dim, int64_t seq_len) {
  const bool long_ctx = seq_len > r.original_max_position_embeddings;
  const std::vector<double>& f = long_ctx ? r.long_factor : r.short_factor;
  const at::Tensor ext = at::tensor(f, at::kDouble).to(at::kFloat);
  return rdiv(1.0, ext * pos_freqs(r.theta, dim));
}

}  // namespace

at::Tensor rope_inv_freq(const RopeConfig& rope, int64_t dim, int64_t seq_len) {
  if (rope.type == RopeType::Yarn) return yarn(rope, dim);
  if (rope.type == RopeType::Dynamic) return dynamic_ntk(rope, dim, seq_len);
  if (rope.type == RopeType::LongRope) return longrope(rope, dim, seq_len);
  at::Tensor inv_freq = rdiv(1.0, pos_freqs(rope.theta, dim));
  if (rope.type == RopeType::Linear) inv_freq /= rope.factor;
  if (rope.type == RopeType::Llama3) inv_freq = llama3(rope, inv_freq);
  return inv_freq;
}

bool rope_depends_on_length(const RopeConfig& rope) {
  return rope.type == RopeType::Dynamic || rope.type == RopeType::LongRope;
}

}  // namespace qk
