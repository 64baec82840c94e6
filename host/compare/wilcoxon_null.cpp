#include "wilcoxon_null.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>

#include "stats.hpp"

namespace qk {

double wilcoxon_exact_p(int n, double r_plus) {
  const int max_sum = n * (n + 1) / 2;
  std::vector<double> count(static_cast<size_t>(max_sum) + 1, 0.0);  // sign patterns per R+
  count[0] = 1;
  for (int rank = 1; rank <= n; ++rank)
    for (int s = rank * (rank + 1) / 2; s >= rank; --s) count[s] += count[s - rank];
  const double total = std::ldexp(1.0, n);
  const int hi = static_cast<int>(std::floor(r_plus)), lo = static_cast<int>(std::ceil(r_plus));
  double sf = 0, cdf = 0;  // P(R+ >= hi), P(R+ <= lo)
  for (int s = 0; s <= max_sum; ++s) {
    if (s >= hi) sf += count[s];
    if (s <= lo) cdf += count[s];
  }
  return std::min(1.0, 2 * std::min(sf, cdf) / total);
}

double wilcoxon_sign_flip_p(const std::vector<double>& d) {
  // Zeros have no rank in any pattern, so flipping them only repeats each pattern of the
  // nonzero signs 2^zeros times: enumerating the nonzero ones gives the same fractions.
  std::vector<double> nonzero_abs;
  std::vector<bool> positive;
  for (double v : d)
    if (v != 0) {
      nonzero_abs.push_back(std::fabs(v));
      positive.push_back(v > 0);
    }
  const std::vector<double> r = ranks(nonzero_abs);
  const size_t m = r.size();
  double observed = 0;
  for (size_t j = 0; j < m; ++j)
    if (positive[j]) observed += r[j];
  const double tol = 100 * DBL_EPSILON * std::fabs(observed);  // scipy's gamma
  double less = 0, greater = 0;
  for (uint64_t pattern = 0; pattern < (uint64_t{1} << m); ++pattern) {
    double stat = 0;
    for (size_t j = 0; j < m; ++j)
      if (positive[j] != (((pattern >> j) & 1U) != 0)) stat += r[j];
    less += stat <= observed + tol;
    greater += stat >= observed - tol;
  }
  const double total = std::ldexp(1.0, static_cast<int>(m));
  return std::min(1.0, 2 * std::min(less, greater) / total);
}

}  // namespace qk
