#include "descriptors.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

namespace qk {

SpectrumDescriptors describe_spectrum(const double* s, int64_t n) {
  double mx = s[0], mn = s[0], sum = 0, sum_sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    mx = std::max(mx, s[i]);
    mn = std::min(mn, s[i]);
    sum += s[i];
    sum_sq += s[i] * s[i];
  }
  SpectrumDescriptors d;
  d.op = mx;
  d.fro = std::sqrt(sum_sq);
  d.trace = sum;
  d.rank_eff = sum / std::max(mx, 1e-12);
  const double denom = std::max(sum_sq, 1e-12);
  for (int64_t i = 0; i < n; ++i) {
    const double p = std::clamp(s[i] * s[i] / denom, 1e-12, 1.0);
    d.spec_ent -= p * std::log(p);
  }
  d.anisotropy = mx / std::max(sum / static_cast<double>(n), 1e-12);
  d.condition = mx / std::max(mn, 1e-12);
  return d;
}

double descriptor_value(const SpectrumDescriptors& d, int i) {
  switch (i) {
    case 0:
      return d.op;
    case 1:
      return d.fro;
    case 2:
      return d.trace;
    case 3:
      return d.rank_eff;
    case 4:
      return d.spec_ent;
    case 5:
      return d.anisotropy;
    default:
      return d.condition;
  }
}

std::array<std::vector<double>, 7> describe_spectra(const std::vector<double>& spectra, int64_t n) {
  const int64_t count = n > 0 ? static_cast<int64_t>(spectra.size()) / n : 0;
  std::array<std::vector<double>, 7> out;
  for (auto& v : out) v.resize(static_cast<size_t>(count));
  for (int64_t c = 0; c < count; ++c) {
    const SpectrumDescriptors d = describe_spectrum(spectra.data() + c * n, n);
    for (int i = 0; i < 7; ++i) out[i][static_cast<size_t>(c)] = descriptor_value(d, i);
  }
  return out;
}

double exact_condition(const double* s, int64_t n, int64_t hidden) {
  const auto [mn, mx] = std::minmax_element(s, s + n);
  if (*mn <= *mx * static_cast<double>(hidden) * DBL_EPSILON) return std::numeric_limits<double>::infinity();
  return *mx / *mn;
}

std::array<std::vector<double>, 7> describe_exact_spectra(const std::vector<double>& spectra, int64_t n,
                                                          int64_t hidden) {
  std::array<std::vector<double>, 7> out = describe_spectra(spectra, n);
  for (size_t c = 0; c < out[6].size(); ++c)
    out[6][c] = exact_condition(spectra.data() + static_cast<int64_t>(c) * n, n, hidden);
  return out;
}

}  // namespace qk
