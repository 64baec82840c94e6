#include "paired_tests.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "special_functions.hpp"
#include "stats.hpp"
#include "wilcoxon_null.hpp"

namespace qk {

Wilcoxon wilcoxon_signed_rank(const std::vector<double>& d) {
  Wilcoxon w;
  std::vector<double> nz, abs_nz;
  for (double v : d)
    if (v != 0 && !std::isnan(v)) {
      nz.push_back(v);
      abs_nz.push_back(std::fabs(v));
    }
  w.n = static_cast<int64_t>(nz.size());
  if (w.n == 0) return w;
  const std::vector<double> r = ranks(abs_nz);
  w.r_plus = w.r_minus = 0;
  for (size_t i = 0; i < nz.size(); ++i) (nz[i] > 0 ? w.r_plus : w.r_minus) += r[i];
  std::map<double, double> tie;  // |d| -> group size
  for (double a : abs_nz) tie[a] += 1;
  double tie_sum = 0;
  for (const auto& [value, t] : tie) tie_sum += t * t * t - t;
  const double n = static_cast<double>(w.n);
  const double se = std::sqrt((n * (n + 1) * (2 * n + 1) - tie_sum / 2) / 24);
  const double z = (w.r_plus - n * (n + 1) * 0.25) / se;
  w.statistic = std::min(w.r_plus, w.r_minus);
  w.z = -std::fabs(z);
  w.p = std::min(1.0, 2 * normal_sf(std::fabs(z)));
  const size_t n_all =
      static_cast<size_t>(std::count_if(d.begin(), d.end(), [](double v) { return !std::isnan(v); }));
  const bool ties_or_zeros = tie_sum > 0 || nz.size() < n_all;
  if (n_all <= 50 && !ties_or_zeros) {  // scipy's method="auto"
    w.p = wilcoxon_exact_p(static_cast<int>(w.n), w.r_plus);
    w.method = "exact";
  } else if (n_all <= 13) {
    std::vector<double> finite;
    for (double v : d)
      if (!std::isnan(v)) finite.push_back(v);
    w.p = wilcoxon_sign_flip_p(finite);
    w.method = "permutation";
  }
  w.rank_biserial = (w.r_plus - w.r_minus) / (w.r_plus + w.r_minus);
  return w;
}

double mean_of(const std::vector<double>& v) {
  if (v.empty()) return NAN;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double sd_of(const std::vector<double>& v) {
  if (v.size() < 2) return NAN;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

double cohen_dz(const std::vector<double>& d) {
  const double sd = sd_of(d);
  return sd > 0 ? mean_of(d) / sd : NAN;
}

uint32_t numpy_randint(std::mt19937& rng, uint32_t n) {
  const uint32_t max = n - 1;
  if (max == 0) return 0;  // numpy draws nothing for a range of one value
  uint32_t mask = max;
  for (int s = 1; s < 32; s <<= 1) mask |= mask >> s;
  uint32_t v;
  do v = static_cast<uint32_t>(rng()) & mask;
  while (v > max);
  return v;
}

Interval bootstrap_mean_ci(const std::vector<double>& d, int resamples, uint32_t seed, double level) {
  Interval ci;
  if (d.empty() || resamples <= 0) return ci;
  std::mt19937 rng(seed);
  const uint32_t n = static_cast<uint32_t>(d.size());
  std::vector<double> means(static_cast<size_t>(resamples));
  for (double& m : means) {
    double s = 0;
    for (uint32_t i = 0; i < n; ++i) s += d[numpy_randint(rng, n)];
    m = s / n;
  }
  ci.lo = quantile(means, (1 - level) / 2);
  ci.hi = quantile(means, (1 + level) / 2);
  return ci;
}

}  // namespace qk
