#include "agreement.hpp"

#include <cmath>
#include <map>

#include "special_functions.hpp"
#include "stats.hpp"

namespace qk {

Correlation spearman_test(const std::vector<double>& x, const std::vector<double>& y) {
  Correlation c;
  c.r = spearman(x, y);
  const double n = static_cast<double>(x.size());
  if (x.size() < 3 || std::isnan(c.r)) return c;
  const double dof = n - 2;
  const double t = c.r * std::sqrt(dof / ((c.r + 1.0) * (1.0 - c.r)));
  c.p = std::min(1.0, 2 * student_t_sf(std::fabs(t), dof));
  return c;
}

namespace {

// Tie statistics of one side: sum t(t-1)/2, sum t(t-1)(t-2), sum t(t-1)(2t+5) over tie groups.
struct Ties {
  double pairs = 0, v0 = 0, v1 = 0;
};

Ties tie_stats(const std::vector<double>& v) {
  std::map<double, double> groups;
  for (double a : v) groups[a] += 1;
  Ties t;
  for (const auto& [value, c] : groups) {
    t.pairs += c * (c - 1) / 2;
    t.v0 += c * (c - 1) * (c - 2);
    t.v1 += c * (c - 1) * (2 * c + 5);
  }
  return t;
}

double sign_of(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }

}  // namespace

Correlation kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y) {
  Correlation c;
  const size_t n = x.size();
  if (n < 2) return c;
  double s = 0;  // concordant - discordant
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) s += sign_of(x[i] - x[j]) * sign_of(y[i] - y[j]);
  const Ties tx = tie_stats(x), ty = tie_stats(y);
  const double nn = static_cast<double>(n), tot = nn * (nn - 1) / 2;
  if (tx.pairs == tot || ty.pairs == tot) return c;
  c.r = s / std::sqrt(tot - tx.pairs) / std::sqrt(tot - ty.pairs);
  if (n < 3) return c;
  const double m = nn * (nn - 1);
  const double var = (m * (2 * nn + 5) - tx.v1 - ty.v1) / 18 + (2 * tx.pairs * ty.pairs) / m +
                     tx.v0 * ty.v0 / (9 * m * (nn - 2));
  c.p = std::min(1.0, 2 * normal_sf(std::fabs(s) / std::sqrt(var)));
  return c;
}

std::vector<double> zscore_columns(std::vector<double> x, size_t n, size_t p) {
  for (size_t j = 0; j < p; ++j) {
    double m = 0, s = 0;
    for (size_t i = 0; i < n; ++i) m += x[i * p + j];
    m /= static_cast<double>(n);
    for (size_t i = 0; i < n; ++i) s += (x[i * p + j] - m) * (x[i * p + j] - m);
    s = std::sqrt(s / static_cast<double>(n));
    for (size_t i = 0; i < n; ++i) x[i * p + j] = s > 0 ? (x[i * p + j] - m) / s : 0.0;
  }
  return x;
}

namespace {

// Columns of x [n][p] centred (row-major copy).
std::vector<double> centred(std::vector<double> x, size_t n, size_t p) {
  for (size_t j = 0; j < p; ++j) {
    double m = 0;
    for (size_t i = 0; i < n; ++i) m += x[i * p + j];
    m /= static_cast<double>(n);
    for (size_t i = 0; i < n; ++i) x[i * p + j] -= m;
  }
  return x;
}

// |A^T B|_F^2 for A [n][p], B [n][q] (row-major).
double cross_fro_sq(const std::vector<double>& a, size_t p, const std::vector<double>& b, size_t q,
                    size_t n) {
  double total = 0;
  for (size_t j = 0; j < p; ++j)
    for (size_t k = 0; k < q; ++k) {
      double s = 0;
      for (size_t i = 0; i < n; ++i) s += a[i * p + j] * b[i * q + k];
      total += s * s;
    }
  return total;
}

}  // namespace

double linear_cka(const std::vector<double>& x, size_t p, const std::vector<double>& y, size_t q, size_t n) {
  const std::vector<double> xc = centred(x, n, p), yc = centred(y, n, q);
  const double xx = std::sqrt(cross_fro_sq(xc, p, xc, p, n)), yy = std::sqrt(cross_fro_sq(yc, q, yc, q, n));
  if (!(xx > 0) || !(yy > 0)) return NAN;
  return cross_fro_sq(xc, p, yc, q, n) / (xx * yy);
}

std::vector<double> distance_upper(const std::vector<double>& x, size_t n, size_t p) {
  std::vector<double> d;
  if (n < 2) return d;
  d.reserve(n * (n - 1) / 2);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      double s = 0;
      for (size_t k = 0; k < p; ++k) s += (x[i * p + k] - x[j * p + k]) * (x[i * p + k] - x[j * p + k]);
      d.push_back(std::sqrt(s));
    }
  return d;
}

double rsa(const std::vector<double>& x, size_t p, const std::vector<double>& y, size_t q, size_t n) {
  if (n < 3) return NAN;
  return spearman(distance_upper(x, n, p), distance_upper(y, n, q));
}

}  // namespace qk
