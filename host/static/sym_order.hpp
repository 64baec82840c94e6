#pragma once
// The stored order of a symmetric part's eigenvalues (docs/static-geometry.md), shared by
// the CPU path and its GPU twin: header-only, so that a build without libtorch can compile
// the GPU twin alone.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace qk {

// For each of `heads` heads: its p eigenvalues at lam + h * p (ascending, as a symmetric
// solver returns them) and n - p zeros (p <= n: the rows of R below min(hidden, 2d) do
// not exist), sorted ascending, then by magnitude, descending, stably (equal magnitudes:
// the negative first). Writes the values to eig [heads][n] and, to top [heads][k], the
// index of each of the first k in lam's row (-1 for a padding zero).
inline void order_by_magnitude(const double* lam, int64_t heads, int64_t p, int64_t n, int64_t k, double* eig,
                               int64_t* top) {
  std::vector<double> v(static_cast<size_t>(n));
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i < p ? lam[h * p + i] : 0.0;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&v](int64_t a, int64_t b) { return v[a] < v[b]; });
    std::stable_sort(order.begin(), order.end(),
                     [&v](int64_t a, int64_t b) { return std::fabs(v[a]) > std::fabs(v[b]); });
    for (int64_t i = 0; i < n; ++i) eig[h * n + i] = v[static_cast<size_t>(order[i])];
    for (int64_t i = 0; i < k; ++i) top[h * k + i] = order[i] < p ? order[i] : -1;
  }
}

}  // namespace qk
