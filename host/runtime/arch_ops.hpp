#pragma once
// Where each architecture's prefill departs from Llama's, as transformers 5.23's modeling
// files compute it: its rules (properties the shared prefill code reads in place of
// architecture names) and the tensor operations particular to some architectures (same
// ops, order and dtypes as HF).
#include <array>
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "hf_config.hpp"
#include "hf_tensor_names.hpp"

namespace qk {

// The hidden-state norm: Llama's RMSNorm (w times the normed x cast to x's dtype), OLMo 2's
// (w first, in float32), Gemma's (times 1 + w in float32, w rounded to the compute dtype
// first: the norm weight offset), or LayerNorm with a bias (BERT, GPT-2, GPT-NeoX).
enum class NormKind { Rms, RmsWeightFirst, RmsOffset, Layer };

// Where positions come from: RoPE over each head's dims, RoPE over its first rotary_dim
// (GPT-NeoX, Phi-3), or learned absolute embeddings (GPT-2, BERT).
enum class PositionKind { Rope, PartialRope, Learned };

// One architecture's rules; the defaults are Llama's.
struct ArchRules {
  NormKind norm = NormKind::Rms;
  bool conv1d_weights = false;      // GPT-2: projections stored [in][out], applied by addmm
  bool encoder_embeddings = false;  // BERT: word + token type 0 + position, then LayerNorm
  bool scale_embeddings = false;    // Gemma: embeddings times sqrt(hidden) rounded to float32
  PositionKind positions = PositionKind::Rope;
  bool local_rope = false;               // Gemma: sliding layers have their own RoPE table
  bool rope_tables_f32 = false;          // RoPE table dtype float32 (OLMo 2: q, k rotate in float32,
                                         // then round to the compute dtype); else the compute dtype
  bool causal = true;                    // false: BERT attends both ways, with no mask
  bool attention_pre_norm = true;        // false: BERT and OLMo 2 attend on x itself
  bool qk_norm_all_heads = false;        // OLMo 2: q/k RMSNorm over all heads, before the reshape
  bool softmax_in_scores_dtype = false;  // softmax dtype: the scores' (BERT, GPT-2: bf16
                                         // under bf16), else float32
};

// The rules of architecture `a`.
ArchRules arch_rules(Architecture a);

// RMSNorm of x [..., n] with weight w [n] (as norm_weight holds it) as `kind` computes it;
// kind is not NormKind::Layer.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, NormKind kind);

// A norm weight w [n] as `kind` holds it: w itself, or for RmsOffset the float32 1 + w.
at::Tensor norm_weight(const at::Tensor& w, NormKind kind);

// Gemma 2's attention-logit soft-capping: tanh(scores / cap) * cap, in the scores' dtype
// (HF's eager_attention_forward, after the scale and before the mask).
at::Tensor soft_cap(const at::Tensor& scores, double cap);

// The fused projection's output `out` [len, (q_heads + 2 kv_heads) head_dim] split as HF
// splits it for `layout` (not Separate) into q [len, q_heads, head_dim], k and v [len,
// kv_heads, head_dim]: columns q | k | v (GPT-2's c_attn(h).split(hidden), Phi-3's
// qkv_proj), or per head q k v triples (GPT-NeoX's view(heads, 3 head_dim).chunk(3)).
std::array<at::Tensor, 3> split_fused_qkv_output(const at::Tensor& out, QkvLayout layout, int64_t q_heads,
                                                 int64_t kv_heads, int64_t head_dim);

// The names of transformers' ACT2FN the runtime computes, comma-separated.
const char* supported_activations();

// True when `name` (config.json's hidden_act, hidden_activation or activation_function) is
// one of supported_activations().
bool activation_supported(const std::string& name);

// ACT2FN[name](x) op for op as transformers 5.23's activations.py, in x's dtype: silu and
// swish, gelu (erf), gelu_pytorch_tanh, gelu_new, gelu_fast, quick_gelu, relu. `name` is
// supported (activation_supported).
at::Tensor hf_activation(const at::Tensor& x, const std::string& name);

// Phi-3's MLP (Phi3MLP): gate, up = (h gate_up_w^T).chunk(2); down_w (up * act(gate)).
// h [len, hidden], gate_up_w [2 intermediate, hidden], down_w [hidden, intermediate].
at::Tensor fused_gate_up_mlp(const at::Tensor& h, const at::Tensor& gate_up_w, const at::Tensor& down_w,
                             const std::string& act);

}  // namespace qk
