#pragma once
// Rotary position embedding frequencies (HF's rotate-half convention: the first and the
// second half of each head are the two coordinates of each rotated pair).
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "hf_config.hpp"

namespace qk {

// The dim / 2 inverse frequencies (radians per position) of `rope` over `dim` rotary dims
// (head_dim, or GPT-NeoX's rotary_dim): f32 [dim / 2] on the CPU, theta^(-2i/dim) with
// linear, dynamic, llama3, yarn or longrope scaling applied. Computed with the same torch
// operations, order and dtypes as transformers 5.x (modeling_rope_utils.py: the
// _compute_*_parameters functions and dynamic_rope_update; the models'
// compute_default_rope_parameters), so the values are HF's bit for bit.
//
// `seq_len` is the prompt's length: the frequencies are those a fresh HF model uses for a
// prompt of seq_len tokens at prefill (0: the model's initial ones). Only dynamic and
// longrope read it: dynamic NTK recomputes theta when seq_len > max_position_embeddings
// (HF does that in float32 from the tensor seq_len, else keeps its initial float64
// theta); longrope takes long_factor when seq_len > original_max_position_embeddings,
// else short_factor. YaRN and longrope also scale cos and sin by rope.attention_factor;
// the caller applies that.
at::Tensor rope_inv_freq(const RopeConfig& rope, int64_t dim, int64_t seq_len = 0);

// True when rope_inv_freq depends on seq_len (dynamic and longrope).
bool rope_depends_on_length(const RopeConfig& rope);

}  // namespace qk
