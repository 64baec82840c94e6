#include "depth_profile.hpp"

#include <algorithm>
#include <cmath>

namespace qk {

std::vector<double> depth_grid(int points) {
  std::vector<double> g(static_cast<size_t>(points));
  for (int i = 0; i < points; ++i) g[static_cast<size_t>(i)] = static_cast<double>(i) / (points - 1);
  return g;
}

std::vector<double> resample_depth(const std::vector<double>& v, const std::vector<double>& grid) {
  std::vector<double> out(grid.size(), NAN);
  if (v.empty()) return out;
  if (v.size() == 1) return std::vector<double>(grid.size(), v[0]);
  const double span = static_cast<double>(v.size() - 1);
  for (size_t i = 0; i < grid.size(); ++i) {
    const double pos = std::clamp(grid[i], 0.0, 1.0) * span;  // in layers
    const size_t lo = std::min(static_cast<size_t>(std::floor(pos)), v.size() - 2);
    const double w = pos - static_cast<double>(lo);
    out[i] = v[lo] + w * (v[lo + 1] - v[lo]);
  }
  return out;
}

}  // namespace qk
