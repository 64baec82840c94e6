#pragma once
// Rotary position embedding frequencies (HF's rotate-half convention: the first and the
// second half of each head are the two coordinates of each rotated pair).
#include <cstdint>
#include <vector>

#include "hf_config.hpp"

namespace qk {

// The head_dim / 2 inverse frequencies (radians per position) of `rope`, with linear,
// llama3 or yarn scaling applied: theta^(-2i/head_dim), i = 0 .. head_dim/2 - 1. (YaRN also
// scales cos and sin by rope.attention_factor; the caller applies that.)
std::vector<double> rope_inv_freq(const RopeConfig& rope, int64_t head_dim);

}  // namespace qk
