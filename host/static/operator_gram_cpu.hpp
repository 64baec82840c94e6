#pragma once
// The operator Gram over layer pairs on the CPU (LAPACK and BLAS from OpenBLAS, fp64;
// docs/static-geometry.md).
#include <vector>

#include "static_types.hpp"

namespace qk {

// wq[l]: [Hq * d][hidden], wk[l]: [Hkv * d][hidden] (f32, host), l < d.layers.
// Returns gram [L][L][Hq]: <Q_l^T K_l, Q_l'^T K_l'>_F per query head.
std::vector<double> operator_gram_cpu(const std::vector<const float*>& wq,
                                      const std::vector<const float*>& wk, const StaticDims& d);

}  // namespace qk
