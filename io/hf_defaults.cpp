#include "hf_defaults.hpp"

namespace qk {

namespace {

using nlohmann::json;

// Keys every decoder shares, with LlamaConfig's values.
json decoder_base() {
  return json{{"hidden_size", 4096},         {"num_hidden_layers", 32},
              {"num_attention_heads", 32},   {"num_key_value_heads", nullptr},
              {"head_dim", nullptr},         {"intermediate_size", 11008},
              {"vocab_size", 32000},         {"max_position_embeddings", 2048},
              {"rms_norm_eps", 1e-6},        {"hidden_act", "silu"},
              {"attention_bias", false},     {"mlp_bias", false},
              {"tie_word_embeddings", false}};
}

// MistralConfig: Llama keys without attention/mlp bias (the modeling has none).
json mistral() {
  json d = decoder_base();
  d.update({{"num_key_value_heads", 8},
            {"intermediate_size", 14336},
            {"max_position_embeddings", 131072},
            {"sliding_window", 4096}});
  d.erase("attention_bias");
  d.erase("mlp_bias");
  return d;
}

// Qwen2Config: attention bias always on (no key); head_dim derived.
json qwen2() {
  json d = decoder_base();
  d.update({{"num_key_value_heads", 32},
            {"intermediate_size", 22016},
            {"vocab_size", 151936},
            {"max_position_embeddings", 32768},
            {"sliding_window", 4096},
            {"use_sliding_window", false},
            {"max_window_layers", 28},
            {"layer_types", nullptr}});
  d.erase("attention_bias");
  d.erase("mlp_bias");
  return d;
}

// Qwen3Config: Qwen2's keys plus head_dim 128 and an attention_bias key (default false).
json qwen3() {
  json d = qwen2();
  d["head_dim"] = 128;
  d["attention_bias"] = false;
  return d;
}

// Gemma3TextConfig: hidden_activation instead of hidden_act, tied embeddings.
json gemma3_text() {
  json d = decoder_base();
  d.update({{"hidden_size", 2304},
            {"num_hidden_layers", 26},
            {"num_attention_heads", 8},
            {"num_key_value_heads", 4},
            {"head_dim", 256},
            {"intermediate_size", 9216},
            {"vocab_size", 262208},
            {"max_position_embeddings", 131072},
            {"hidden_activation", "gelu_pytorch_tanh"},
            {"tie_word_embeddings", true},
            {"query_pre_attn_scalar", 256},
            {"sliding_window", 4096},
            {"sliding_window_pattern", 6},
            {"layer_types", nullptr},
            {"attn_logit_softcapping", nullptr},
            {"use_bidirectional_attention", false}});
  d.erase("hidden_act");
  d.erase("mlp_bias");
  return d;
}

// BertConfig's defaults.
json bert() {
  return json{{"hidden_size", 768},         {"num_hidden_layers", 12},
              {"num_attention_heads", 12},  {"intermediate_size", 3072},
              {"vocab_size", 30522},        {"max_position_embeddings", 512},
              {"layer_norm_eps", 1e-12},    {"hidden_act", "gelu"},
              {"type_vocab_size", 2},       {"position_embedding_type", "absolute"},
              {"tie_word_embeddings", true}};
}

// GPT2Config (n_* names; n_inner null: 4 x n_embd).
json gpt2() {
  return json{{"n_embd", 768},
              {"n_layer", 12},
              {"n_head", 12},
              {"n_positions", 1024},
              {"n_inner", nullptr},
              {"vocab_size", 50257},
              {"activation_function", "gelu_new"},
              {"layer_norm_epsilon", 1e-5},
              {"scale_attn_weights", true},
              {"scale_attn_by_inverse_layer_idx", false},
              {"reorder_and_upcast_attn", false},
              {"add_cross_attention", false},
              {"tie_word_embeddings", true}};
}

// GPTNeoXConfig (rotary_pct 0.25 and base 10000 in the RoPE).
json gpt_neox() {
  return json{{"hidden_size", 6144},        {"num_hidden_layers", 44},     {"num_attention_heads", 64},
              {"intermediate_size", 24576}, {"vocab_size", 50432},         {"max_position_embeddings", 2048},
              {"hidden_act", "gelu"},       {"layer_norm_eps", 1e-5},      {"use_parallel_residual", true},
              {"attention_bias", true},     {"tie_word_embeddings", false}};
}

// Gemma2Config: as Gemma 3's keys, plus both soft-capping caps; every other layer slides
// (no pattern key).
json gemma2() {
  json d = gemma3_text();
  d.update({{"vocab_size", 256000},
            {"max_position_embeddings", 8192},
            {"attn_logit_softcapping", 50.0},
            {"final_logit_softcapping", 30.0},
            {"use_bidirectional_attention", nullptr}});
  d.erase("sliding_window_pattern");
  return d;
}

// Olmo2Config: Llama's keys, rms_norm_eps 1e-5, vocab 50304 (head_dim derived).
json olmo2() {
  json d = decoder_base();
  d.update({{"vocab_size", 50304}, {"rms_norm_eps", 1e-5}});
  d.erase("mlp_bias");
  return d;
}

// Phi3Config: no bias keys (the modeling has none), sliding_window null (none).
json phi3() {
  json d = decoder_base();
  d.update({{"hidden_size", 3072},
            {"intermediate_size", 8192},
            {"vocab_size", 32064},
            {"max_position_embeddings", 4096},
            {"original_max_position_embeddings", 4096},
            {"rms_norm_eps", 1e-5},
            {"sliding_window", nullptr}});
  d.erase("attention_bias");
  d.erase("mlp_bias");
  return d;
}

// The HF config defaults of one architecture (keys absent from a config.json take these).
json make(Architecture arch) {
  switch (arch) {
    case Architecture::Llama:
      return decoder_base();
    case Architecture::Mistral:
      return mistral();
    case Architecture::Qwen2:
      return qwen2();
    case Architecture::Qwen3:
      return qwen3();
    case Architecture::Gemma3Text:
      return gemma3_text();
    case Architecture::Bert:
      return bert();
    case Architecture::Gpt2:
      return gpt2();
    case Architecture::GptNeoX:
      return gpt_neox();
    case Architecture::Gemma2:
      return gemma2();
    case Architecture::Olmo2:
      return olmo2();
    case Architecture::Phi3:
      return phi3();
  }
  return decoder_base();
}

}  // namespace

const nlohmann::json& hf_config_defaults(Architecture arch) {
  static const json tables[] = {
      make(Architecture::Llama), make(Architecture::Mistral),    make(Architecture::Qwen2),
      make(Architecture::Qwen3), make(Architecture::Gemma3Text), make(Architecture::Bert),
      make(Architecture::Gpt2),  make(Architecture::GptNeoX),    make(Architecture::Gemma2),
      make(Architecture::Olmo2), make(Architecture::Phi3)};
  return tables[static_cast<int>(arch)];
}

double hf_default_theta(Architecture arch, bool local_layers) {
  if (arch == Architecture::Gemma3Text) return local_layers ? 10000.0 : 1000000.0;
  return 10000.0;
}

}  // namespace qk
