// config.json parsing: the transformers 4.x spelling that real checkpoints carry (the 5.x
// one is covered by the fixtures of test_model_runtime), RoPE scaling and sliding layers.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "expect_input_error.hpp"
#include "hf_config.hpp"
#include "input_error.hpp"

namespace {

qk::ModelConfig parse(const std::string& text) { return qk::parse_hf_config(text, "config.json"); }

void expect_error(const std::string& text, const std::string& needle) {
  expect_input_error([&](const std::string&) { parse(text); }, "config.json", needle);
}

// Llama 3.1 8B's config.json (4.x spelling).
const char* const kLlama31 = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
  "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 8, "max_position_embeddings": 131072, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "torch_dtype": "bfloat16", "vocab_size": 128256,
  "hidden_act": "silu", "tie_word_embeddings": false, "attention_bias": false})";

TEST(HfConfig, Llama31FourXSpelling) {
  const qk::ModelConfig c = parse(kLlama31);
  EXPECT_EQ(c.arch, qk::Architecture::Llama);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_EQ(c.dtype, qk::DType::BF16);
  EXPECT_EQ(c.rope.type, qk::RopeType::Llama3);
  EXPECT_EQ(c.rope.theta, 500000.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 8192);
  EXPECT_FALSE(c.sliding_window.has_value());
}

TEST(HfConfig, Llama2DerivesHeadDimAndDefaults) {
  const qk::ModelConfig c = parse(R"({"model_type": "llama", "hidden_size": 4096,
    "intermediate_size": 11008, "num_attention_heads": 32, "num_hidden_layers": 32,
    "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "rope_scaling": null,
    "torch_dtype": "float16", "vocab_size": 32000})");
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.num_kv_heads, 32);
  EXPECT_EQ(c.dtype, qk::DType::F16);
  EXPECT_EQ(c.rope.type, qk::RopeType::Default);
  EXPECT_EQ(c.rope.theta, 10000.0);
  EXPECT_EQ(c.hidden_act, "silu");
}

TEST(HfConfig, LinearScalingFourX) {
  const qk::ModelConfig c = parse(R"({"model_type": "llama", "hidden_size": 64,
    "intermediate_size": 96, "num_attention_heads": 4, "num_hidden_layers": 2,
    "max_position_embeddings": 64, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
    "rope_scaling": {"type": "linear", "factor": 4.0}, "vocab_size": 128})");
  EXPECT_EQ(c.rope.type, qk::RopeType::Linear);
  EXPECT_EQ(c.rope.factor, 4.0);
}

// Qwen2.5 ships sliding_window with use_sliding_window false: full attention everywhere.
TEST(HfConfig, Qwen2SlidingOnlyWhenEnabled) {
  const std::string base = R"({"model_type": "qwen2", "hidden_size": 64,
    "intermediate_size": 96, "num_attention_heads": 4, "num_key_value_heads": 2,
    "num_hidden_layers": 4, "max_position_embeddings": 64, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "sliding_window": 32, "max_window_layers": 2, "vocab_size": 128,)";
  const qk::ModelConfig off = parse(base + R"("use_sliding_window": false})");
  EXPECT_FALSE(off.sliding_window.has_value());
  EXPECT_TRUE(off.attention_bias);
  const qk::ModelConfig on = parse(base + R"("use_sliding_window": true})");
  ASSERT_TRUE(on.sliding_window.has_value());
  EXPECT_EQ(on.sliding_layers, (std::vector<bool>{false, false, true, true}));
}

// Gemma 3 1B's 4.x config: sliding_window_pattern 6 and rope_local_base_freq.
TEST(HfConfig, Gemma3FourXSpelling) {
  const qk::ModelConfig c = parse(R"({"architectures": ["Gemma3ForCausalLM"],
    "model_type": "gemma3_text", "hidden_size": 1152, "intermediate_size": 6912,
    "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
    "num_hidden_layers": 8, "max_position_embeddings": 32768, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000, "rope_local_base_freq": 10000, "rope_scaling": null,
    "sliding_window": 512, "sliding_window_pattern": 6, "query_pre_attn_scalar": 256,
    "attn_logit_softcapping": null, "hidden_activation": "gelu_pytorch_tanh",
    "torch_dtype": "bfloat16", "vocab_size": 262144})");
  EXPECT_EQ(c.arch, qk::Architecture::Gemma3Text);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_EQ(c.rope.theta, 1000000.0);
  EXPECT_EQ(c.rope_local.theta, 10000.0);
  EXPECT_EQ(*c.sliding_window, 512);
  EXPECT_EQ(c.sliding_layers, (std::vector<bool>{true, true, true, true, true, false, true, true}));
  EXPECT_EQ(c.query_pre_attn_scalar, 256.0);
}

TEST(HfConfig, Errors) {
  expect_error(R"({"model_type": "llama", "num_hidden_layers": "2"})",
               "field 'num_hidden_layers': is not an integer");
  expect_error(R"({"model_type": "llama", "num_hidden_layers": 18446744073709551615})",
               "field 'num_hidden_layers': is out of range");
  expect_error(R"({"model_type": "mamba"})", "unsupported architecture 'mamba'; supported: llama");
  expect_error(R"({"architectures": ["FalconForCausalLM"]})", "unsupported architecture 'Falcon");
  expect_error(R"({"model_type": "llama", "hidden_size": -1})", "field 'hidden_size': must be positive");
  expect_error("[1, 2]", "not a JSON object");
  expect_error("{", "not valid JSON");
  expect_error(R"({"model_type": "llama", "rms_norm_eps": 1e999})", "not valid JSON");  // overflows a double
  expect_error(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 96,
    "num_attention_heads": 4, "num_key_value_heads": 3, "num_hidden_layers": 2,
    "max_position_embeddings": 64, "rms_norm_eps": 1e-06, "vocab_size": 128})",
               "field 'num_key_value_heads': does not divide num_attention_heads");
  expect_error(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 96,
    "num_attention_heads": 4, "num_hidden_layers": 2, "max_position_embeddings": 64,
    "rms_norm_eps": 1e-06, "vocab_size": 128, "rope_scaling": {"rope_type": "proportional", "factor": 2}})",
               "field 'rope_scaling.rope_type': unsupported rope type 'proportional'; supported: default, "
               "linear, dynamic, llama3, yarn, longrope");
  expect_error(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 96,
    "num_attention_heads": 4, "num_hidden_layers": 2, "max_position_embeddings": 64,
    "rms_norm_eps": 1e-06, "vocab_size": 128, "rope_scaling": {"rope_type": "yarn", "factor": 2, "truncate": 1}})",
               "field 'rope_scaling.truncate': is not a boolean");
  expect_error(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 96,
    "num_attention_heads": 4, "num_hidden_layers": 2, "max_position_embeddings": 64,
    "rms_norm_eps": 1e-06, "vocab_size": 128, "rope_scaling": {"rope_type": "llama3", "factor": 8}})",
               "field 'rope_scaling.low_freq_factor': missing");
}

// A tiny Llama (head_dim 16: 8 frequencies) with the rope object `rope`.
std::string tiny_llama_rope(const std::string& rope) {
  return R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 96,
    "num_attention_heads": 4, "num_hidden_layers": 2, "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-06, "vocab_size": 128, "rope_parameters": )" +
         rope + "}";
}

TEST(HfConfig, DynamicAndLongRope) {
  const qk::ModelConfig d = parse(tiny_llama_rope(R"({"rope_type": "dynamic", "factor": 2.5})"));
  EXPECT_EQ(d.rope.type, qk::RopeType::Dynamic);
  EXPECT_EQ(d.rope.factor, 2.5);
  EXPECT_EQ(d.rope.max_position_embeddings, 2048);
  const std::string lists =
      R"("short_factor": [1, 1, 1, 1, 1, 1, 1, 1.5], "long_factor": [2, 2, 2, 2, 2, 2, 2, 3])";
  const qk::ModelConfig l = parse(
      tiny_llama_rope(R"({"rope_type": "longrope", "original_max_position_embeddings": 32, )" + lists + "}"));
  EXPECT_EQ(l.rope.type, qk::RopeType::LongRope);
  EXPECT_EQ(l.rope.long_factor.back(), 3.0);
  EXPECT_EQ(l.rope.factor, 64.0);  // max_position_embeddings / original
  // transformers' default: sqrt(1 + ln(factor) / ln(original)).
  EXPECT_EQ(l.rope.attention_factor, std::sqrt(1 + std::log(64.0) / std::log(32.0)));
  expect_error(tiny_llama_rope(R"({"rope_type": "longrope", "long_factor": [1]})"),
               "field 'rope_parameters.short_factor': missing");
  expect_error(tiny_llama_rope(R"({"rope_type": "longrope", "short_factor": [1, "a"], "long_factor": [1]})"),
               "field 'rope_parameters.short_factor': is not a list of numbers");
  expect_error(tiny_llama_rope(R"({"rope_type": "longrope", "short_factor": [1], "long_factor": [1]})"),
               "field 'rope_parameters.short_factor': has 1 entries; the 16 rotary dims need 8");
  expect_error(tiny_llama_rope(R"({"rope_type": "dynamic"})"), "field 'rope_parameters.factor': missing");
}

// Keys left out get transformers 5.23's config-class defaults (values checked against
// AutoConfig by tests/reference/test_hf_config_defaults.py).
const char* const kTinyQwen = R"({"model_type": "qwen2", "hidden_size": 64,
  "intermediate_size": 96, "num_attention_heads": 4, "num_key_value_heads": 2,
  "num_hidden_layers": 30, "max_position_embeddings": 64, "rms_norm_eps": 1e-06,
  "vocab_size": 128, "use_sliding_window": true)";

TEST(HfConfig, QwenMaxWindowLayersDefaultsTo28) {
  const qk::ModelConfig c = parse(std::string(kTinyQwen) + "}");
  ASSERT_TRUE(c.sliding_window.has_value());
  EXPECT_EQ(*c.sliding_window, 4096);  // Qwen2Config.sliding_window
  for (int64_t i = 0; i < 30; ++i) EXPECT_EQ(c.sliding_layers[i], i >= 28) << i;
  EXPECT_EQ(c.rope.theta, 10000.0);
}

TEST(HfConfig, MistralWindowDefaultsTo4096UnlessNull) {
  const std::string base = R"({"model_type": "mistral", "hidden_size": 64,
    "intermediate_size": 96, "num_attention_heads": 4, "num_key_value_heads": 2,
    "num_hidden_layers": 2, "max_position_embeddings": 8192, "rms_norm_eps": 1e-06,
    "vocab_size": 128)";
  const qk::ModelConfig absent = parse(base + "}");
  ASSERT_TRUE(absent.sliding_window.has_value());
  EXPECT_EQ(*absent.sliding_window, 4096);
  EXPECT_FALSE(parse(base + R"(, "sliding_window": null})").sliding_window.has_value());
  EXPECT_EQ(parse(base + "}").head_dim, 16);  // hidden_size / heads
}

TEST(HfConfig, Gemma3DefaultsForEveryOptionalKey) {
  const qk::ModelConfig c = parse(R"({"model_type": "gemma3_text", "hidden_size": 64,
    "num_hidden_layers": 7})");
  EXPECT_EQ(c.rope.theta, 1e6);
  EXPECT_EQ(c.rope_local.theta, 1e4);
  EXPECT_EQ(*c.sliding_window, 4096);
  EXPECT_EQ(c.sliding_layers, (std::vector<bool>{true, true, true, true, true, false, true}));
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_EQ(c.query_pre_attn_scalar, 256.0);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_FALSE(c.dtype_declared);
}

// HF 5.x precedence: a non-empty rope_scaling wins over rope_parameters; rope_type over
// type; the object's rope_theta over the top-level one.
TEST(HfConfig, RopeSpellingPrecedence) {
  const std::string base = R"({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
    "num_hidden_layers": 2, "rope_theta": 5.0, )";
  const qk::ModelConfig a = parse(base + R"("rope_parameters": {"rope_type": "default", "rope_theta": 7.0},
    "rope_scaling": {"rope_type": "linear", "factor": 3.0}})");
  EXPECT_EQ(a.rope.type, qk::RopeType::Linear);
  EXPECT_EQ(a.rope.factor, 3.0);
  EXPECT_EQ(a.rope.theta, 5.0);
  const qk::ModelConfig b = parse(base + R"("rope_parameters": {"rope_theta": 7.0}, "rope_scaling": {}})");
  EXPECT_EQ(b.rope.type, qk::RopeType::Default);
  EXPECT_EQ(b.rope.theta, 7.0);
  const qk::ModelConfig t = parse(base + R"("rope_parameters": {"type": "linear", "rope_type": "default",
    "factor": 2.0}})");
  EXPECT_EQ(t.rope.type, qk::RopeType::Default);
}

// Gemma 3's 4.x rope_scaling merges into the global layers' RoPE; a bare `type` key does
// not replace the default rope_type there (as Gemma3TextConfig.convert_rope_params_to_dict).
TEST(HfConfig, Gemma3RopeScalingMergesIntoFullAttention) {
  const std::string base = R"({"model_type": "gemma3_text", "hidden_size": 64, "num_hidden_layers": 2, )";
  const qk::ModelConfig a = parse(base + R"("rope_scaling": {"rope_type": "linear", "factor": 8.0}})");
  EXPECT_EQ(a.rope.type, qk::RopeType::Linear);
  EXPECT_EQ(a.rope.factor, 8.0);
  EXPECT_EQ(a.rope_local.type, qk::RopeType::Default);
  const qk::ModelConfig b = parse(base + R"("rope_scaling": {"type": "linear", "factor": 8.0}})");
  EXPECT_EQ(b.rope.type, qk::RopeType::Default);
}

}  // namespace
