#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/lapack.hpp"

namespace qk {

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = std::min(x.size(), y.size());
  if (n < 2) return NAN;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) return NAN;
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

std::vector<double> ranks(const std::vector<double>& x) {
  // (value, index) pairs sorted by value: ties are averaged, so their order does not matter.
  std::vector<std::pair<double, size_t>> order(x.size());
  for (size_t i = 0; i < x.size(); ++i) order[i] = {x[i], i};
  std::sort(order.begin(), order.end(),
            [](const std::pair<double, size_t>& a, const std::pair<double, size_t>& b) {
              return a.first < b.first;
            });
  std::vector<double> r(x.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && order[j + 1].first == order[i].first) ++j;
    const double avg = 0.5 * static_cast<double>(i + j) + 1.0;
    for (size_t k = i; k <= j; ++k) r[order[k].second] = avg;
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  return pearson(ranks(x), ranks(y));
}

double quantile(std::vector<double> v, double q) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double a) { return std::isnan(a); }), v.end());
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

Regression standardized_regression(const std::vector<std::vector<double>>& x, const std::vector<double>& y) {
  const int64_t n = static_cast<int64_t>(y.size()), p = static_cast<int64_t>(x.size());
  auto standardize = [&](const std::vector<double>& v) {
    double m = 0, s = 0;
    for (double a : v) m += a;
    m /= static_cast<double>(n);
    for (double a : v) s += (a - m) * (a - m);
    s = std::sqrt(s / static_cast<double>(n));
    std::vector<double> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = (v[i] - m) / (s + 1e-12);
    return out;
  };
  // X [n][p + 1] column-major: the standardized predictors, then the intercept's ones.
  std::vector<double> X(static_cast<size_t>(n * (p + 1)), 1.0);
  for (int64_t j = 0; j < p; ++j) {
    const std::vector<double> c = standardize(x[static_cast<size_t>(j)]);
    std::copy(c.begin(), c.end(), X.begin() + j * n);
  }
  const std::vector<double> Y = standardize(y);
  // gelsd: the minimum-norm solution, as numpy.linalg.lstsq.
  std::vector<double> A = X, coef = Y;
  coef.resize(static_cast<size_t>(std::max(n, p + 1)), 0.0);
  lapack::least_squares(n, p + 1, 1, A.data(), n, coef.data(), static_cast<int64_t>(coef.size()));
  coef.resize(static_cast<size_t>(p + 1));
  double ss_res = 0, y_mean = 0, ss_tot = 0;
  for (int64_t i = 0; i < n; ++i) {
    double pred = 0;
    for (int64_t j = 0; j <= p; ++j) pred += X[static_cast<size_t>(j * n + i)] * coef[static_cast<size_t>(j)];
    ss_res += (Y[i] - pred) * (Y[i] - pred);
    y_mean += Y[i];
  }
  y_mean /= static_cast<double>(n);
  for (double v : Y) ss_tot += (v - y_mean) * (v - y_mean);
  Regression r;
  r.r2 = 1.0 - ss_res / ss_tot;
  r.coef = coef;
  return r;
}

}  // namespace qk
