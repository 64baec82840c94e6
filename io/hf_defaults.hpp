#pragma once
// The values transformers gives the config.json keys qkgeom's runtime reads when a
// config.json leaves them out, per architecture: the dataclass defaults of transformers
// 5.23's LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config, Gemma3TextConfig,
// BertConfig, GPT2Config, GPTNeoXConfig, Gemma2Config, Olmo2Config and Phi3Config
// (configuration_<model>.py). A null default means "derived": HF computes it in
// __post_init__ from other keys (head_dim = hidden_size / num_attention_heads,
// num_key_value_heads = num_attention_heads, layer_types from the window keys); the
// parser derives it the same way.
#include <nlohmann/json.hpp>

#include "hf_config.hpp"

namespace qk {

// {key: default} for `arch`; every key parse_hf_config reads from the top level is listed.
const nlohmann::json& hf_config_defaults(Architecture arch);

// The base RoPE theta of `arch` when neither rope_parameters nor rope_theta gives one
// (RotaryEmbeddingConfigMixin.default_theta; Gemma 3: 1e6 global, 1e4 local layers).
double hf_default_theta(Architecture arch, bool local_layers);

}  // namespace qk
