#include "arch_ops.hpp"

#include <ATen/ATen.h>

namespace qk {

at::Tensor rms_norm_weight_first(const at::Tensor& x, const at::Tensor& w, double eps) {
  const at::Tensor x32 = x.to(at::kFloat);
  const at::Tensor var = x32.pow(2).mean({-1}, true);
  return (w * (x32 * at::rsqrt(var + eps))).to(x.scalar_type());
}

at::Tensor soft_cap(const at::Tensor& scores, double cap) { return at::tanh(scores / cap) * cap; }

std::array<at::Tensor, 3> split_qkv_blocks(const at::Tensor& out, int64_t q_heads, int64_t kv_heads,
                                           int64_t head_dim) {
  const int64_t S = out.size(0), QD = q_heads * head_dim, KD = kv_heads * head_dim;
  return {out.narrow(-1, 0, QD).view({S, q_heads, head_dim}),
          out.narrow(-1, QD, KD).view({S, kv_heads, head_dim}),
          out.narrow(-1, QD + KD, KD).view({S, kv_heads, head_dim})};
}

at::Tensor fused_gate_up_mlp(const at::Tensor& h, const at::Tensor& gate_up_w, const at::Tensor& down_w) {
  const std::vector<at::Tensor> gate_up = at::linear(h, gate_up_w).chunk(2, -1);
  return at::linear(gate_up[1] * at::silu(gate_up[0]), down_w);
}

}  // namespace qk
