#pragma once
// CPU twin of launch_attention_stats (kernels/attention_stats.cuh), in fp64.
#include <cstdint>

#include "attention_mask.hpp"

namespace qk {

// One layer. q: [q_heads][seq][head_dim], k: [kv_heads][seq][head_dim] (f32, host);
// query head h reads KV head h / (q_heads / kv_heads). Logits s_ij = scale q_i.k_j over
// the keys `mask` allows (window >= 1 for SlidingWindow). Outputs, [q_heads] each, means
// over the seq query positions: entropy (nats) of softmax_j s_ij, population standard
// deviation of the allowed s_ij (logit units), softmax mass on key 0 (0 where not
// allowed). softcap > 0 (Gemma 2's attn_logit_softcapping) replaces every logit by
// softcap tanh(s_ij / softcap) before all of them. distance (unless null), [q_heads]
// [kDistanceBuckets]: the softmax mass per key-distance bucket (online_softmax.hpp; distance
// i - j, |i - j| under the full mask), mean over queries; each head's row sums to 1.
// Online over key tiles: never forms the S x S matrix.
void attention_stats_cpu(const float* q, const float* k, int q_heads, int kv_heads, int64_t seq,
                         int64_t head_dim, float scale, AttentionMask mask, int64_t window, double* entropy,
                         double* logit_std, double* sink, float softcap = 0.0f, double* distance = nullptr);

// Throws std::invalid_argument when the arguments are inconsistent (the same checks
// as launch_attention_stats, plus a finite scale and a finite softcap >= 0).
void check_attention_stats_args(int q_heads, int kv_heads, int64_t seq, int64_t head_dim, float scale,
                                AttentionMask mask, int64_t window, float softcap = 0.0f);

}  // namespace qk
