// The GPU twins in a build without CUDA: they throw.
#include <stdexcept>

#include "rope_operator.hpp"
#include "static_gpu.hpp"

namespace qk {

LayerStatic layer_static_gpu(const float*, const float*, const StaticDims&, int) {
  throw std::runtime_error("this build has no CUDA");
}

std::vector<double> operator_gram_gpu(const std::vector<const float*>&, const std::vector<const float*>&,
                                      const StaticDims&, int) {
  throw std::runtime_error("this build has no CUDA");
}

RopeLayer rope_layer_gpu(const float*, const float*, const StaticDims&, const RopeSpec&, int) {
  throw std::runtime_error("this build has no CUDA");
}

}  // namespace qk
