// GPU dispatch of the attention statistics (host C++ compiler, no nvcc).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "attention_stats.cuh"
#include "attn/attention_stats_gpu.hpp"
#include "bo/gpu_stats.hpp"
#include "gpu_context.hpp"
#include "online_softmax.hpp"

namespace qk {

namespace {

// Every layer of q against k on ctx's stream; q and k in device memory (on_device) or
// uploaded a layer at a time. Outputs as attention_stats_gpu.
void run_layers(const HostCloud4& q, const HostCloud4& k, float scale, float softcap,
                const std::vector<AttentionMask>& masks, const std::vector<int64_t>& windows, bool on_device,
                GpuContext& ctx, double* entropy, double* logit_std, double* sink, double* distance) {
  const cudaStream_t stream = ctx.stream();
  const int hq = static_cast<int>(q.shape[1]), hkv = static_cast<int>(k.shape[1]);
  const int64_t seq = q.shape[2], dim = q.shape[3];
  const size_t q_layer = static_cast<size_t>(hq) * seq * dim;
  const size_t k_layer = static_cast<size_t>(hkv) * seq * dim;
  DeviceBuffer<float> dq(on_device ? 0 : q_layer, stream), dk(on_device ? 0 : k_layer, stream);
  DeviceBuffer<double> out(static_cast<size_t>(3 + kDistanceBuckets) * hq, stream);
  std::vector<double> host(out.size());
  for (int64_t l = 0; l < q.shape[0]; ++l) {
    const float* ql = q.data + l * q_layer;
    const float* kl = k.data + l * k_layer;
    if (!on_device) {
      dq.upload(ql, q_layer);
      dk.upload(kl, k_layer);
      ql = dq.data();
      kl = dk.data();
    }
    launch_attention_stats(ql, kl, hq, hkv, seq, dim, scale, masks[l], windows[l], out.data(),
                           out.data() + hq, out.data() + 2 * hq, stream, softcap, out.data() + 3 * hq);
    out.download(host.data(), host.size());  // one copy and one wait per layer
    const size_t at = static_cast<size_t>(l) * hq;
    const double* h = host.data();
    std::copy(h, h + hq, entropy + at);
    std::copy(h + hq, h + 2 * hq, logit_std + at);
    std::copy(h + 2 * hq, h + 3 * hq, sink + at);
    std::copy(h + 3 * hq, h + host.size(), distance + at * kDistanceBuckets);
  }
}

}  // namespace

void attention_stats_gpu(const HostCloud4& q, const HostCloud4& k, float scale, float softcap,
                         const std::vector<AttentionMask>& masks, const std::vector<int64_t>& windows,
                         int device, double* entropy, double* logit_std, double* sink, double* distance) {
  ScopedDevice on_device(device);
  GpuContext& ctx = thread_gpu_context(device);
  run_layers(q, k, scale, softcap, masks, windows, false, ctx, entropy, logit_std, sink, distance);
}

void attention_stats_on_device(const HostCloud4& q, const HostCloud4& k, float scale, float softcap,
                               const std::vector<AttentionMask>& masks, const std::vector<int64_t>& windows,
                               int device, void* producer, double* entropy, double* logit_std, double* sink,
                               double* distance) {
  ScopedDevice on_device(device);
  GpuContext& ctx = thread_gpu_context(device);
  wait_for_producer(ctx.stream(), producer);
  run_layers(q, k, scale, softcap, masks, windows, true, ctx, entropy, logit_std, sink, distance);
}

AttentionOutputs queue_attention_stats_on_device(const HostCloud4& q, const HostCloud4& k, float scale,
                                                 float softcap, const std::vector<AttentionMask>& masks,
                                                 const std::vector<int64_t>& windows,
                                                 DeviceResults& results) {
  ScopedDevice on_device(results.device());
  const cudaStream_t stream = thread_gpu_context(results.device()).stream();
  const int layers = q.layers(), hq = q.heads(), hkv = k.heads();
  const int64_t seq = q.seq(), dim = q.head_dim();
  const size_t q_layer = static_cast<size_t>(hq) * seq * dim, k_layer = static_cast<size_t>(hkv) * seq * dim;
  const size_t per_layer = static_cast<size_t>(3 + kDistanceBuckets) * hq;
  std::vector<DeviceResults::Slot> slots(static_cast<size_t>(layers));
  for (int l = 0; l < layers; ++l) {
    double* out = results.reserve(per_layer, &slots[static_cast<size_t>(l)]);
    launch_attention_stats(q.data + l * q_layer, k.data + l * k_layer, hq, hkv, seq, dim, scale, masks[l],
                           windows[l], out, out + hq, out + 2 * hq, stream, softcap, out + 3 * hq);
  }
  return [&results, slots, hq](double* entropy, double* logit_std, double* sink, double* distance) {
    for (size_t l = 0; l < slots.size(); ++l) {
      const double* h = results.host(slots[l]);
      const size_t at = l * static_cast<size_t>(hq);
      std::copy(h, h + hq, entropy + at);
      std::copy(h + hq, h + 2 * hq, logit_std + at);
      std::copy(h + 2 * hq, h + 3 * hq, sink + at);
      std::copy(h + 3 * hq, h + (3 + kDistanceBuckets) * static_cast<size_t>(hq),
                distance + at * kDistanceBuckets);
    }
  };
}

}  // namespace qk
