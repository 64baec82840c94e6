// GPU dispatch of the attention statistics for builds without CUDA: refuses to run.
#include <stdexcept>

#include "attn/attention_stats_gpu.hpp"

namespace qk {

void attention_stats_gpu(const HostCloud4&, const HostCloud4&, float, float,
                         const std::vector<AttentionMask>&, const std::vector<int64_t>&, int, double*,
                         double*, double*, double*) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}

void attention_stats_on_device(const HostCloud4&, const HostCloud4&, float, float,
                               const std::vector<AttentionMask>&, const std::vector<int64_t>&, int, void*,
                               double*, double*, double*, double*) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}

AttentionOutputs queue_attention_stats_on_device(const HostCloud4&, const HostCloud4&, float, float,
                                                 const std::vector<AttentionMask>&,
                                                 const std::vector<int64_t>&, DeviceResults&) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}

}  // namespace qk
