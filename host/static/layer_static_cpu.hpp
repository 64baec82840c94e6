#pragma once
// One layer's static operator geometry on the CPU (LAPACK and BLAS from OpenBLAS, fp64;
// docs/static-geometry.md).
#include "static_types.hpp"

namespace qk {

// wq: [Hq * d][hidden], wk: [Hkv * d][hidden] (f32, row-major, host). Every field of
// LayerStatic; d.topk <= 2 * d.head_dim. Rank-deficient weights give zeros, never NaN.
LayerStatic layer_static_cpu(const float* wq, const float* wk, const StaticDims& d);

}  // namespace qk
