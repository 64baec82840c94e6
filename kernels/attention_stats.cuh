#pragma once
// Attention statistics of one layer per query head: mean softmax entropy (nats), mean
// logit standard deviation and mean attention mass on key 0 (docs/metrics.md).
#include <cuda_runtime_api.h>

#include <cstdint>

#include "attention_mask.hpp"

namespace qk {

// q: device [q_heads][seq][head_dim] f32, k: device [kv_heads][seq][head_dim] f32; query
// head h reads KV head h / (q_heads / kv_heads). Logits s_ij = scale q_i.k_j over the keys
// `mask` allows (window >= 1 for SlidingWindow: j <= i and i - j < window). Outputs,
// device arrays of q_heads f64, means over the seq queries: entropy (nats), population
// logit std, softmax mass on key 0 (0 where key 0 is not allowed). softcap > 0 (Gemma
// 2's attn_logit_softcapping) replaces each logit by softcap tanh(s_ij / softcap), in
// fp32, before all of them. distance (unless null), device [q_heads][kDistanceBuckets]
// f64: the mean softmax mass per key-distance bucket (online_softmax.hpp). Flash-style: key
// tiles stream through shared memory against a query tile; each query keeps an online
// state; no S x S matrix. Asynchronous on `stream` (allocates a small scratch there).
void launch_attention_stats(const float* q, const float* k, int q_heads, int kv_heads, int64_t seq,
                            int64_t head_dim, float scale, AttentionMask mask, int64_t window,
                            double* entropy, double* logit_std, double* sink, cudaStream_t stream,
                            float softcap = 0.0f, double* distance = nullptr);

}  // namespace qk
