// The HF tensor-name table (host/core/hf_tensor_names.hpp) against checkpoints written by
// HF transformers (tests/fixtures/models, tests/fixtures/make_tiny_checkpoints.py) and the
// prefixes each architecture's classes save under.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "hf_tensor_names.hpp"
#include "hf_weights.hpp"

namespace qk {
namespace {

HfTensorNames names_over(Architecture arch, const std::set<std::string>& keys) {
  return HfTensorNames(arch, [&](const std::string& n) { return keys.count(n) != 0; });
}

TEST(HfTensorNames, EveryFixtureHasTheNamedTensors) {
  for (const char* m : {"bert", "gemma3_text", "llama3", "llama_linear", "mistral", "qwen2", "qwen3",
                        "qwen3_yarn", "gemma2", "olmo2", "phi3"}) {
    HfWeights w(std::string(QK_SOURCE_DIR) + "/tests/fixtures/models/" + m);
    const HfTensorNames names(w.config().arch, [&](const std::string& n) { return w.has(n); });
    EXPECT_TRUE(w.has(names.embed())) << m << ": " << names.embed();
    for (int64_t l = 0; l < w.config().num_layers; ++l) {
      const HfAttentionNames a = names.attention(l);
      for (const std::string& n : {a.q, a.k, a.v, a.o}) EXPECT_TRUE(w.has(n)) << m << ": " << n;
    }
  }
}

TEST(HfTensorNames, DecoderPrefixes) {
  EXPECT_EQ(names_over(Architecture::Llama, {"model.embed_tokens.weight"}).prefix(), "model.");
  EXPECT_EQ(names_over(Architecture::Qwen3, {"model.layers.0.self_attn.q_proj.weight"}).prefix(), "model.");
  EXPECT_EQ(names_over(Architecture::Mistral, {"layers.0.self_attn.q_proj.weight"}).prefix(), "");
  EXPECT_EQ(names_over(Architecture::Gemma3Text, {}).prefix(), "");  // the fallback: bare names
  const HfAttentionNames a = names_over(Architecture::Llama, {"model.embed_tokens.weight"}).attention(3);
  EXPECT_EQ(a.q, "model.layers.3.self_attn.q_proj.weight");
  EXPECT_EQ(a.o, "model.layers.3.self_attn.o_proj.weight");
}

TEST(HfTensorNames, BertPrefixes) {
  EXPECT_EQ(names_over(Architecture::Bert, {"embeddings.word_embeddings.weight"}).prefix(), "");
  EXPECT_EQ(names_over(Architecture::Bert, {"encoder.layer.0.attention.self.query.weight"}).prefix(), "");
  EXPECT_EQ(names_over(Architecture::Bert, {"bert.embeddings.word_embeddings.weight"}).prefix(), "bert.");
  EXPECT_EQ(names_over(Architecture::Bert, {}).prefix(), "bert.");  // the task heads' layout
  const HfTensorNames n = names_over(Architecture::Bert, {"bert.embeddings.word_embeddings.weight"});
  EXPECT_EQ(n.embed(), "bert.embeddings.word_embeddings.weight");
  EXPECT_EQ(n.attention(1).k, "bert.encoder.layer.1.attention.self.key.weight");
  EXPECT_EQ(n.attention(1).o, "bert.encoder.layer.1.attention.output.dense.weight");
}

// Phi-3's qkv_proj: rows q (q_heads x head_dim), then k, then v (kv_heads x head_dim each),
// as Phi3Attention slices its output; a GQA layout of 4 query and 2 KV heads of dim 2.
TEST(HfTensorNames, Phi3BlocksSplitAsHfSlices) {
  const HfTensorNames n = names_over(Architecture::Phi3, {"model.embed_tokens.weight"});
  const HfAttentionNames a = n.attention(2);
  EXPECT_EQ(a.q, "model.layers.2.self_attn.qkv_proj.weight");
  EXPECT_EQ(a.k, a.q);
  EXPECT_EQ(a.o, "model.layers.2.self_attn.o_proj.weight");
  EXPECT_EQ(a.layout, QkvLayout::Blocks);
  const int64_t q_heads = 4, kv_heads = 2, d = 2, hidden = 3, rows = (q_heads + 2 * kv_heads) * d;
  std::vector<float> w(static_cast<size_t>(rows * hidden));
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i);  // row r holds 3r, 3r+1, 3r+2
  const WeightLoader load = [&](const std::string& name, const std::vector<int64_t>& shape) {
    EXPECT_EQ(name, a.q);
    EXPECT_EQ(shape, (std::vector<int64_t>{rows, hidden}));
    return w;
  };
  const std::vector<float> q = load_qkv_weight(a, 0, q_heads, kv_heads, d, hidden, load);
  const std::vector<float> k = load_qkv_weight(a, 1, q_heads, kv_heads, d, hidden, load);
  const std::vector<float> v = load_qkv_weight(a, 2, q_heads, kv_heads, d, hidden, load);
  ASSERT_EQ(q.size(), 24u);
  ASSERT_EQ(k.size(), 12u);
  ASSERT_EQ(v.size(), 12u);
  EXPECT_EQ(q.front(), 0.0f);   // row 0
  EXPECT_EQ(q.back(), 23.0f);   // row 7
  EXPECT_EQ(k.front(), 24.0f);  // row 8
  EXPECT_EQ(v.front(), 36.0f);  // row 12
  EXPECT_EQ(v.back(), 47.0f);   // row 15
  EXPECT_EQ(names_over(Architecture::Phi3, {"model.layers.0.self_attn.qkv_proj.weight"}).prefix(), "model.");
  EXPECT_EQ(names_over(Architecture::Olmo2, {"layers.0.self_attn.q_proj.weight"}).prefix(), "");
}

}  // namespace
}  // namespace qk
