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
  for (const char* m :
       {"bert", "gemma3_text", "llama3", "llama_linear", "mistral", "qwen2", "qwen3", "qwen3_yarn"}) {
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

}  // namespace
}  // namespace qk
