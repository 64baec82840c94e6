#pragma once
// The GPU twins of layer_static_cpu and operator_gram_cpu: same arguments and results,
// on CUDA device `device`. Builds without CUDA get stubs that throw (static_gpu_none.cpp).
#include <vector>

#include "static_types.hpp"

namespace qk {

LayerStatic layer_static_gpu(const float* wq, const float* wk, const StaticDims& d, int device);
std::vector<double> operator_gram_gpu(const std::vector<const float*>& wq,
                                      const std::vector<const float*>& wk, const StaticDims& d, int device);

}  // namespace qk
