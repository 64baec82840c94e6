#pragma once
// Agreement between two models' per-probe values, in fp64 (docs/compare.md): rank
// correlations with scipy's p-values, linear CKA and RSA between per-probe feature vectors.
#include <cmath>
#include <cstddef>
#include <vector>

namespace qk {

struct Correlation {
  double r = NAN, p = NAN;
};

// scipy.stats.spearmanr(x, y): Pearson of the average ranks; p from Student's t with n - 2
// degrees of freedom, t = r sqrt((n - 2) / ((1 + r)(1 - r))), two-sided. r NaN for a
// constant side; p NaN for n < 3.
Correlation spearman_test(const std::vector<double>& x, const std::vector<double>& y);

// scipy.stats.kendalltau(x, y, variant="b", method="asymptotic"): tau-b =
// (C - D) / sqrt((n0 - n1)(n0 - n2)) over the n0 = n(n-1)/2 pairs, n1 (n2) of them tied
// in x (y); p = 2 P(Z > |C - D| / sqrt(var)) with scipy's tie-corrected variance. O(n^2).
// NaN when every pair is tied in x or in y; p NaN for n < 3.
Correlation kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y);

// Each column of x [n][p] (row-major) centred and divided by its population standard
// deviation; a constant column becomes zeros.
std::vector<double> zscore_columns(std::vector<double> x, size_t n, size_t p);

// Linear CKA of x [n][p] and y [n][q] (row-major), columns centred:
// |Yc^T Xc|_F^2 / (|Xc^T Xc|_F |Yc^T Yc|_F) (Kornblith et al. 2019); NaN when either is
// constant.
double linear_cka(const std::vector<double>& x, size_t p, const std::vector<double>& y, size_t q, size_t n);

// The upper triangle (i < j, row by row) of the n x n Euclidean distance matrix of the
// rows of x [n][p].
std::vector<double> distance_upper(const std::vector<double>& x, size_t n, size_t p);

// RSA: Spearman correlation of the two distance_upper vectors (no p-value: the pairs are
// not independent).
double rsa(const std::vector<double>& x, size_t p, const std::vector<double>& y, size_t q, size_t n);

}  // namespace qk
