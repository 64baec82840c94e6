#include "hf_tensor_names.hpp"

#include <algorithm>

namespace qk {

namespace {

bool is_bert(Architecture a) { return a == Architecture::Bert; }

// The names below the prefix, for layer l and prefix p.
std::string embed_name(Architecture a, const std::string& p) {
  if (a == Architecture::Gpt2) return p + "wte.weight";
  if (a == Architecture::GptNeoX) return p + "embed_in.weight";
  return p + (is_bert(a) ? "embeddings.word_embeddings.weight" : "embed_tokens.weight");
}

std::string layer_name(Architecture a, const std::string& p, int64_t l) {
  if (a == Architecture::Gpt2) return p + "h." + std::to_string(l) + ".";
  return p + (is_bert(a) ? "encoder.layer." : "layers.") + std::to_string(l) + ".";
}

std::string q_name(Architecture a, const std::string& layer) {
  if (a == Architecture::Gpt2) return layer + "attn.c_attn.weight";
  if (a == Architecture::GptNeoX) return layer + "attention.query_key_value.weight";
  if (a == Architecture::Phi3) return layer + "self_attn.qkv_proj.weight";
  return layer + (is_bert(a) ? "attention.self.query.weight" : "self_attn.q_proj.weight");
}

}  // namespace

std::vector<std::string> HfTensorNames::accepted_prefixes(Architecture arch) {
  // BertModel saves at the top, the task heads (BertFor...) under "bert."; the decoders'
  // ...ForCausalLM under "model.", their bare models at the top.
  if (is_bert(arch)) return {"", "bert."};
  // GPT2LMHeadModel under "transformer.", GPTNeoXForCausalLM under "gpt_neox.".
  if (arch == Architecture::Gpt2) return {"transformer.", ""};
  if (arch == Architecture::GptNeoX) return {"gpt_neox.", ""};
  return {"model.", ""};
}

HfTensorNames::HfTensorNames(Architecture arch, const std::function<bool(const std::string&)>& has)
    : arch_(arch), prefix_(is_bert(arch) ? "bert." : "") {
  for (const std::string& p : accepted_prefixes(arch))
    if (has(embed_name(arch, p)) || has(q_name(arch, layer_name(arch, p, 0)))) {
      prefix_ = p;
      return;
    }
}

std::string HfTensorNames::embed() const { return embed_name(arch_, prefix_); }

std::string HfTensorNames::layer_prefix(int64_t l) const { return layer_name(arch_, prefix_, l); }

HfAttentionNames HfTensorNames::attention(int64_t l) const {
  const std::string p = layer_prefix(l);
  if (arch_ == Architecture::Gpt2) {
    const std::string qkv = q_name(arch_, p);
    return {qkv, qkv, qkv, p + "attn.c_proj.weight", QkvLayout::Gpt2Conv1D, true};
  }
  if (arch_ == Architecture::GptNeoX) {
    const std::string qkv = q_name(arch_, p);
    return {qkv, qkv, qkv, p + "attention.dense.weight", QkvLayout::NeoXPerHead, false};
  }
  if (arch_ == Architecture::Phi3) {
    const std::string qkv = q_name(arch_, p);
    return {qkv, qkv, qkv, p + "self_attn.o_proj.weight", QkvLayout::Blocks, false};
  }
  if (is_bert(arch_))
    return {p + "attention.self.query.weight", p + "attention.self.key.weight",
            p + "attention.self.value.weight", p + "attention.output.dense.weight"};
  return {p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight",
          p + "self_attn.o_proj.weight"};
}

std::vector<float> split_fused_qkv(const std::vector<float>& w, QkvLayout layout, int which, int64_t q_heads,
                                   int64_t kv_heads, int64_t head_dim, int64_t hidden) {
  const int64_t heads = which == 0 ? q_heads : kv_heads;
  const int64_t out = heads * head_dim;
  std::vector<float> r(static_cast<size_t>(out * hidden));
  if (layout == QkvLayout::Blocks) {  // rows q | k | v
    const int64_t first = which == 0 ? 0 : (q_heads + (which - 1) * kv_heads) * head_dim;
    std::copy(w.begin() + first * hidden, w.begin() + (first + out) * hidden, r.begin());
    return r;
  }
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < head_dim; ++i) {
      const int64_t row = h * head_dim + i;
      float* dst = r.data() + row * hidden;
      if (layout == QkvLayout::NeoXPerHead) {
        const float* src = w.data() + (h * 3 * head_dim + which * head_dim + i) * hidden;
        std::copy(src, src + hidden, dst);
      } else {  // Gpt2Conv1D: column which x out + row of [hidden][3 x out]
        for (int64_t j = 0; j < hidden; ++j) dst[j] = w[static_cast<size_t>(j * 3 * out + which * out + row)];
      }
    }
  return r;
}

std::vector<float> transpose_rows_cols(const std::vector<float>& w, int64_t rows, int64_t cols) {
  std::vector<float> t(w.size());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      t[static_cast<size_t>(j * rows + i)] = w[static_cast<size_t>(i * cols + j)];
  return t;
}

std::vector<float> load_qkv_weight(const HfAttentionNames& a, int which, int64_t q_heads, int64_t kv_heads,
                                   int64_t head_dim, int64_t hidden, const WeightLoader& load) {
  const std::string& name = which == 0 ? a.q : which == 1 ? a.k : a.v;
  if (a.layout == QkvLayout::Separate)
    return load(name, {(which == 0 ? q_heads : kv_heads) * head_dim, hidden});
  const int64_t fused = (q_heads + 2 * kv_heads) * head_dim;  // GPT-2 and GPT-NeoX: kv == q heads
  const std::vector<float> w =
      a.layout == QkvLayout::Gpt2Conv1D ? load(name, {hidden, fused}) : load(name, {fused, hidden});
  return split_fused_qkv(w, a.layout, which, q_heads, kv_heads, head_dim, hidden);
}

std::vector<float> load_o_weight(const HfAttentionNames& a, int64_t hidden, int64_t q_dim,
                                 const WeightLoader& load) {
  if (!a.o_transposed) return load(a.o, {hidden, q_dim});
  return transpose_rows_cols(load(a.o, {q_dim, hidden}), q_dim, hidden);
}

}  // namespace qk
