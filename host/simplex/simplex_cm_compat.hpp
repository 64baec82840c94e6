#pragma once
// The seed's cv_metric (--cm-compat, docs/simplex.md): libtorch's randperm sampler over
// the first min(n, kCmPool) rows and fp32 Cayley-Menger determinants. The engine links
// simplex_cm_compat.cpp (libtorch); the front end, which hands --cm-compat to the engine,
// links simplex_cm_compat_none.cpp, which throws InternalError.
#include <cstdint>

#include "simplex_cv.hpp"

namespace qk {

inline constexpr int64_t kMinValid = 10;  // fewer valid volumes than this: no CV
inline constexpr int64_t kCmPool = 512;

// The seed's statistic of rows [n][dim] (f32, row-major).
SimplexStat cm_statistic(const float* rows, int64_t n, int64_t dim, const SimplexOptions& o);

}  // namespace qk
