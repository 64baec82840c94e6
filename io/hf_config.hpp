#pragma once
// A Hugging Face config.json as the model runtime needs it, resolved as transformers 5.x
// resolves it: keys left out get the architecture's config-class defaults (hf_defaults.hpp),
// and both the 4.x spelling (rope_theta, rope_scaling, rope_local_base_freq,
// sliding_window_pattern, torch_dtype) and the 5.x one (rope_parameters, layer_types,
// dtype) are read with HF's precedence. An ill-typed or out-of-range field throws
// InputError naming config.json and the field.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dtype.hpp"

namespace qk {

enum class Architecture {
  Llama,
  Mistral,
  Qwen2,
  Qwen3,
  Gemma3Text,
  Bert,
  Gpt2,
  GptNeoX,
  Gemma2,
  Olmo2,
  Phi3
};

// The model_type names of the architectures config.json may name, comma-separated.
std::string supported_model_types();
const char* architecture_name(Architecture a);

// HF's rope_type: default, linear, dynamic (NTK), llama3, yarn, longrope.
enum class RopeType { Default, Linear, Dynamic, Llama3, Yarn, LongRope };

struct RopeConfig {
  RopeType type = RopeType::Default;
  double theta = 10000.0;
  double factor = 1.0;                           // linear, dynamic, llama3, yarn
  double low_freq_factor = 1.0;                  // llama3
  double high_freq_factor = 4.0;                 // llama3
  int64_t original_max_position_embeddings = 0;  // llama3, yarn, longrope
  int64_t max_position_embeddings = 0;           // dynamic: longer prompts raise theta
  double beta_fast = 32.0, beta_slow = 1.0;      // yarn: the ramp's rotation bounds
  bool truncate = true;                          // yarn: integer ramp bounds
  double attention_factor = 1.0;                 // cos and sin are scaled by it (yarn, longrope)
  // longrope: per-frequency divisors [rotary dims / 2], long_factor for prompts longer
  // than original_max_position_embeddings, short_factor otherwise.
  std::vector<double> short_factor, long_factor;
};

struct ModelConfig {
  std::string path;  // the config.json read
  Architecture arch = Architecture::Llama;
  std::string model_type;  // as written in config.json
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;     // query heads
  int64_t num_kv_heads = 0;  // key/value heads (GQA groups)
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double norm_eps = 1e-6;  // rms_norm_eps, or layer_norm_eps for BERT
  std::string hidden_act;
  bool attention_bias = false;  // biases on q/k/v projections
  bool o_bias = false;          // bias on the output projection
  bool mlp_bias = false;
  bool qk_norm = false;         // per-head RMSNorm of q and k before RoPE
  DType dtype = DType::F32;     // the checkpoint's declared dtype
  bool dtype_declared = false;  // config.json names it (else HF uses the weights')
  bool tie_word_embeddings = false;
  RopeConfig rope;  // global (full-attention) layers
  std::optional<int64_t> sliding_window;
  std::vector<bool> sliding_layers;  // per layer: attends within sliding_window
  // Gemma 3 text.
  RopeConfig rope_local;  // sliding layers' RoPE (rope_local_base_freq); Gemma 2: rope
  double query_pre_attn_scalar = 0.0;
  // Gemma 2: attention logits become cap * tanh(logits / cap) after the scale, before the
  // mask; the final (lm_head) logits likewise. 0: no soft-capping.
  double attn_logit_softcapping = 0.0;
  double final_logit_softcapping = 0.0;
  // Keys read but without effect, as in transformers (Gemma 3's attn_logit_softcapping);
  // one line each, printed when a model loads.
  std::vector<std::string> warnings;
  // BERT.
  int64_t type_vocab_size = 0;
  std::string position_embedding_type;
  // GPT-2 and GPT-NeoX (LayerNorm with biases, norm_eps from layer_norm_epsilon / _eps).
  int64_t rotary_dim = 0;               // GPT-NeoX, Phi-3: RoPE on each head's first rotary_dim dims
  bool parallel_residual = false;       // GPT-NeoX use_parallel_residual
  bool scale_attn_weights = true;       // GPT-2: logits times head_dim^-1/2
  bool scale_by_inverse_layer = false;  // GPT-2: logits also divided by layer + 1
  bool reorder_and_upcast = false;      // GPT-2: q.k in float32 (baddbmm) before the softmax
};

// The logit scale HF applies in `layer`: query_pre_attn_scalar^-1/2 (Gemma 2, 3); for GPT-2
// head_dim^-1/2 when scale_attn_weights (else 1), divided by layer + 1 when
// scale_attn_by_inverse_layer_idx; head_dim^-1/2 otherwise.
double attention_scale(const ModelConfig& c, int64_t layer);

// True when HF eager runs prompts longer than c's max_position_embeddings: every RoPE
// architecture (its rotary embedding is computed for any position; dynamic NTK and
// longrope switch frequencies past their lengths), so the runtime and the sweep allow them.
// False for BERT and GPT-2, whose learned position tables end there (HF raises).
bool runs_past_max_positions(const ModelConfig& c);

// Reads `dir`/config.json (or `dir` itself when it names a file).
ModelConfig load_hf_config(const std::string& dir);

// Parses the text of a config.json; `path` names it in errors.
ModelConfig parse_hf_config(const std::string& text, const std::string& path);

}  // namespace qk
