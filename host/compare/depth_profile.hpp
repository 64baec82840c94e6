#pragma once
// Per-layer curves on relative depth, so that models of different depth line up
// (docs/compare.md, "Depth profiles").
#include <vector>

namespace qk {

// The grid of relative depths: `points` >= 2 values i / (points - 1), 0 .. 1.
std::vector<double> depth_grid(int points);

// A per-layer curve v [L] resampled on `grid`: layer l sits at relative depth l / (L - 1)
// (a single layer: a constant curve) and values in between are linearly interpolated, as
// numpy.interp(grid, arange(L) / (L - 1), v). Empty v gives NaNs.
std::vector<double> resample_depth(const std::vector<double>& v, const std::vector<double>& grid);

}  // namespace qk
