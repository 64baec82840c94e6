#pragma once
// GPU dispatch of the attention statistics: uploads each layer's q and k, runs
// launch_attention_stats, downloads the [q_heads] results.
#include <cstdint>
#include <vector>

#include "attention_mask.hpp"
#include "snapshot.hpp"

namespace qk {

// Layer l uses masks[l] and windows[l]. Outputs [layers][q_heads] each (host arrays),
// as attention_stats_cpu per layer.
void attention_stats_gpu(const Tensor4f& q, const Tensor4f& k, float scale,
                         const std::vector<AttentionMask>& masks,
                         const std::vector<int64_t>& windows, int device, double* entropy,
                         double* logit_std, double* sink);

}  // namespace qk
