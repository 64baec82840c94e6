#pragma once
// Tensor operations particular to one architecture, written as transformers 5.23's modeling
// files compute them (same ops, order and dtypes), for the model runtime's prefill.
#include <array>
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace qk {

// OLMo 2's RMSNorm (Olmo2RMSNorm): (w * x32 * rsqrt(mean(x32^2) + eps)) in float32, then
// x's dtype; the weight multiplies before the cast (Llama's multiplies after it).
// x [..., n], w [n].
at::Tensor rms_norm_weight_first(const at::Tensor& x, const at::Tensor& w, double eps);

// Gemma 2's attention-logit soft-capping: tanh(scores / cap) * cap, in the scores' dtype
// (HF's eager_attention_forward, after the scale and before the mask).
at::Tensor soft_cap(const at::Tensor& scores, double cap);

// Phi-3's fused projection output `out` [len, (q_heads + 2 kv_heads) head_dim] as q
// [len, q_heads, head_dim], k and v [len, kv_heads, head_dim]: columns q | k | v, as HF
// slices qkv_proj's output.
std::array<at::Tensor, 3> split_qkv_blocks(const at::Tensor& out, int64_t q_heads, int64_t kv_heads,
                                           int64_t head_dim);

// Phi-3's MLP (Phi3MLP): gate, up = (h gate_up_w^T).chunk(2); down_w (up * silu(gate)).
// h [len, hidden], gate_up_w [2 intermediate, hidden], down_w [hidden, intermediate].
at::Tensor fused_gate_up_mlp(const at::Tensor& h, const at::Tensor& gate_up_w, const at::Tensor& down_w);

}  // namespace qk
