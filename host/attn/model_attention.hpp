#pragma once
// The attention a checkpoint's layers actually run, as attention-statistics options.
#include <string>

#include "attn/attention_stats.hpp"
#include "hf_config.hpp"

namespace qk {

// Full attention for encoders (BERT), causal for decoders, the config's sliding window on
// its sliding layers (Mistral, Gemma 3); scale query_pre_attn_scalar^-1/2 for Gemma 3,
// head_dim^-1/2 otherwise, as the runtime's own softmax uses; the logit soft-cap of
// attn_logit_softcapping (Gemma 2). layer_window is set (one entry per layer) only when
// some layer slides.
AttentionStatsOptions attention_options_for(const ModelConfig& config, const std::string& device);

}  // namespace qk
