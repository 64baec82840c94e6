#pragma once
// GPU dispatch of the attention statistics: uploads each layer's q and k, runs
// launch_attention_stats, downloads the [q_heads] results.
#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "attention_mask.hpp"

namespace qk {

class DeviceResults;  // bo/gpu_stats.hpp

// A row-major f32 [layers, heads, seq, head_dim] array in host memory (device memory for
// attention_stats_on_device).
struct HostCloud4 {
  const float* data = nullptr;
  std::array<int64_t, 4> shape{};
  int layers() const { return static_cast<int>(shape[0]); }
  int heads() const { return static_cast<int>(shape[1]); }
  int64_t seq() const { return shape[2]; }
  int64_t head_dim() const { return shape[3]; }
};

// Layer l uses masks[l] and windows[l]; softcap > 0 soft-caps the logits. Outputs
// [layers][q_heads] each, distance [layers][q_heads][kDistanceBuckets] (host arrays), as
// attention_stats_cpu per layer.
void attention_stats_gpu(const HostCloud4& q, const HostCloud4& k, float scale, float softcap,
                         const std::vector<AttentionMask>& masks, const std::vector<int64_t>& windows,
                         int device, double* entropy, double* logit_std, double* sink, double* distance);

// The same for q and k whose `data` is already in the memory of `device` (device
// pointers, same shapes), read after the work queued on `producer` (a cudaStream_t that
// wrote them; null: none pending); every read has finished when it returns.
void attention_stats_on_device(const HostCloud4& q, const HostCloud4& k, float scale, float softcap,
                               const std::vector<AttentionMask>& masks, const std::vector<int64_t>& windows,
                               int device, void* producer, double* entropy, double* logit_std, double* sink,
                               double* distance);

// The same queued for a batch (bo/gpu_stats.hpp, DeviceResults): the device q and k are read
// on the analysis stream after results.after(producer); the returned function, called after
// results.wait(), writes the outputs.
using AttentionOutputs =
    std::function<void(double* entropy, double* logit_std, double* sink, double* distance)>;
AttentionOutputs queue_attention_stats_on_device(const HostCloud4& q, const HostCloud4& k, float scale,
                                                 float softcap, const std::vector<AttentionMask>& masks,
                                                 const std::vector<int64_t>& windows, DeviceResults& results);

}  // namespace qk
