#pragma once
// Small statistics over paired samples, in fp64.
#include <cstdint>
#include <vector>

namespace qk {

// Pearson correlation (NaN when either side is constant), as numpy.corrcoef.
double pearson(const std::vector<double>& x, const std::vector<double>& y);
// Spearman correlation: Pearson of the ranks (ties get their average rank).
double spearman(const std::vector<double>& x, const std::vector<double>& y);
std::vector<double> ranks(const std::vector<double>& x);
// The q-quantile (0..1) of v, linear interpolation between order statistics (numpy's
// default); NaNs are left out.
double quantile(std::vector<double> v, double q);

struct Regression {
  double r2 = 0;
  std::vector<double> coef;  // one per predictor, then the intercept
};
// Least squares of standardized y on standardized columns of x (each [n]) plus an
// intercept, as the seed: (v - mean) / (std + 1e-12) with the population std.
Regression standardized_regression(const std::vector<std::vector<double>>& x, const std::vector<double>& y);

}  // namespace qk
