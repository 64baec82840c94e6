#pragma once
// Rotary position embedding frequencies (HF's rotate-half convention: the first and the
// second half of each head are the two coordinates of each rotated pair).
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "hf_config.hpp"

namespace qk {

// The head_dim / 2 inverse frequencies (radians per position) of `rope`: f32 [head_dim / 2]
// on the CPU, theta^(-2i/head_dim) with linear, llama3 or yarn scaling applied. Computed
// with the same torch operations, order and dtype (f32) as transformers 5.x
// (modeling_rope_utils.py: _compute_linear_scaling_rope_parameters,
// _compute_llama3_parameters, _compute_yarn_parameters; the models'
// compute_default_rope_parameters), so the values are HF's bit for bit. YaRN also scales
// cos and sin by rope.attention_factor; the caller applies that.
at::Tensor rope_inv_freq(const RopeConfig& rope, int64_t head_dim);

}  // namespace qk
