#include "arch_ops.hpp"

#include <cmath>

#include <ATen/ATen.h>

namespace qk {

ArchRules arch_rules(Architecture a) {
  ArchRules r;
  switch (a) {
    case Architecture::Gemma2:
    case Architecture::Gemma3Text:
      r.norm = NormKind::RmsOffset;
      r.scale_embeddings = true;
      r.local_rope = true;
      break;
    case Architecture::Olmo2:
      r.norm = NormKind::RmsWeightFirst;
      r.rope_tables_f32 = true;
      r.attention_pre_norm = false;
      r.qk_norm_all_heads = true;
      break;
    case Architecture::Phi3:
      r.positions = PositionKind::PartialRope;
      break;
    case Architecture::GptNeoX:
      r.norm = NormKind::Layer;
      r.positions = PositionKind::PartialRope;
      break;
    case Architecture::Gpt2:
      r.norm = NormKind::Layer;
      r.conv1d_weights = true;
      r.positions = PositionKind::Learned;
      r.softmax_in_scores_dtype = true;
      break;
    case Architecture::Bert:
      r.norm = NormKind::Layer;
      r.encoder_embeddings = true;
      r.positions = PositionKind::Learned;
      r.causal = false;
      r.attention_pre_norm = false;
      r.softmax_in_scores_dtype = true;
      break;
    case Architecture::Llama:
    case Architecture::Mistral:
    case Architecture::Qwen2:
    case Architecture::Qwen3:
      break;
  }
  return r;
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, NormKind kind) {
  const at::Tensor x32 = x.to(at::kFloat);
  const at::Tensor normed = x32 * at::rsqrt(x32.pow(2).mean({-1}, true) + eps);
  switch (kind) {
    case NormKind::RmsOffset:  // all in float32, then x's dtype
      return (normed * w).to(x.scalar_type());
    case NormKind::RmsWeightFirst:  // w multiplies before the cast
      return (w * normed).to(x.scalar_type());
    default:  // Llama: w multiplies after the cast, in x's dtype
      return w * normed.to(x.scalar_type());
  }
}

at::Tensor norm_weight(const at::Tensor& w, NormKind kind) {
  return kind == NormKind::RmsOffset ? w.to(at::kFloat) + 1.0 : w;
}

at::Tensor soft_cap(const at::Tensor& scores, double cap) { return at::tanh(scores / cap) * cap; }

std::array<at::Tensor, 3> split_fused_qkv_output(const at::Tensor& out, QkvLayout layout, int64_t q_heads,
                                                 int64_t kv_heads, int64_t head_dim) {
  const int64_t S = out.size(0), QD = q_heads * head_dim, KD = kv_heads * head_dim;
  if (layout == QkvLayout::NeoXPerHead) {
    const std::vector<at::Tensor> p = out.view({S, q_heads, 3 * head_dim}).chunk(3, -1);
    return {p[0], p[1], p[2]};
  }
  return {out.narrow(-1, 0, QD).view({S, q_heads, head_dim}),
          out.narrow(-1, QD, KD).view({S, kv_heads, head_dim}),
          out.narrow(-1, QD + KD, KD).view({S, kv_heads, head_dim})};
}

const char* supported_activations() {
  return "silu, swish, gelu, gelu_pytorch_tanh, gelu_new, gelu_fast, quick_gelu, relu";
}

bool activation_supported(const std::string& name) {
  for (const char* n :
       {"silu", "swish", "gelu", "gelu_pytorch_tanh", "gelu_new", "gelu_fast", "quick_gelu", "relu"})
    if (name == n) return true;
  return false;
}

at::Tensor hf_activation(const at::Tensor& x, const std::string& name) {
  if (name == "gelu") return at::gelu(x);
  if (name == "gelu_pytorch_tanh") return at::gelu(x, "tanh");
  if (name == "gelu_new")  // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
    return x * 0.5 * (at::tanh((x + at::pow(x, 3.0) * 0.044715) * std::sqrt(2.0 / M_PI)) + 1.0);
  if (name == "gelu_fast")  // 0.5 x (1 + tanh(x 0.7978845608 (1 + 0.044715 x x)))
    return x * 0.5 * (at::tanh(x * 0.7978845608 * (x * 0.044715 * x + 1.0)) + 1.0);
  if (name == "quick_gelu") return x * at::sigmoid(x * 1.702);
  if (name == "relu") return at::relu(x);
  return at::silu(x);  // silu, swish
}

at::Tensor fused_gate_up_mlp(const at::Tensor& h, const at::Tensor& gate_up_w, const at::Tensor& down_w,
                             const std::string& act) {
  const std::vector<at::Tensor> gate_up = at::linear(h, gate_up_w).chunk(2, -1);
  return at::linear(gate_up[1] * hf_activation(gate_up[0], act), down_w);
}

}  // namespace qk
