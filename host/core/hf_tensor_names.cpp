#include "hf_tensor_names.hpp"

namespace qk {

namespace {

bool is_bert(Architecture a) { return a == Architecture::Bert; }

// The names below the prefix, for layer l and prefix p.
std::string embed_name(Architecture a, const std::string& p) {
  return p + (is_bert(a) ? "embeddings.word_embeddings.weight" : "embed_tokens.weight");
}

std::string layer_name(Architecture a, const std::string& p, int64_t l) {
  return p + (is_bert(a) ? "encoder.layer." : "layers.") + std::to_string(l) + ".";
}

std::string q_name(Architecture a, const std::string& layer) {
  return layer + (is_bert(a) ? "attention.self.query.weight" : "self_attn.q_proj.weight");
}

}  // namespace

std::vector<std::string> HfTensorNames::accepted_prefixes(Architecture arch) {
  // BertModel saves at the top, the task heads (BertFor...) under "bert."; the decoders'
  // ...ForCausalLM under "model.", their bare models at the top.
  if (is_bert(arch)) return {"", "bert."};
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
  if (is_bert(arch_))
    return {p + "attention.self.query.weight", p + "attention.self.key.weight", p + "attention.self.value.weight",
            p + "attention.output.dense.weight"};
  return {p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight",
          p + "self_attn.o_proj.weight"};
}

}  // namespace qk
