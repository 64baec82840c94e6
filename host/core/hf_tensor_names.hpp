#pragma once
// The Hugging Face tensor names of each architecture's checkpoint, written once for every
// reader (the model runtime, `weights`, `simplex`): the accepted key prefixes and, per
// layer, the attention projections. Names of the other per-layer tensors (norms, MLP) are
// relative to layer_prefix().
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hf_config.hpp"

namespace qk {

// How a checkpoint stores the q/k/v projections.
enum class QkvLayout {
  Separate,     // q, k, v: three [out][in] tensors
  Gpt2Conv1D,   // GPT-2 c_attn: one [in][3 x hidden] Conv1D weight, columns q | k | v
  NeoXPerHead,  // GPT-NeoX query_key_value: [heads x 3 x head_dim][in], per head q, k, v
  Blocks        // Phi-3 qkv_proj: [(q_heads + 2 kv_heads) x head_dim][in], rows q | k | v
};

struct HfAttentionNames {
  std::string q, k, v, o;  // the q/k/v/o weights ([out][in]); fused: q == k == v
  QkvLayout layout = QkvLayout::Separate;
  bool o_transposed = false;  // GPT-2 c_proj: Conv1D [in][out]
};

// One of q (which 0), k (1), v (2) taken out of a fused weight `w` (its layout; q_heads
// query and kv_heads key/value heads of head_dim, hidden inputs) as [heads x head_dim][hidden]
// row-major, the nn.Linear layout: row h x head_dim + i is head h's output i, as the model
// runtime splits the fused projection's output (GPT-2: split(hidden); GPT-NeoX:
// view(heads, 3 x head_dim).chunk(3); Phi-3: rows [0, q_dim), then k_dim, then v_dim).
std::vector<float> split_fused_qkv(const std::vector<float>& w, QkvLayout layout, int which, int64_t q_heads,
                                   int64_t kv_heads, int64_t head_dim, int64_t hidden);
// Reads a tensor of the given shape as f32 (e.g. HfWeights::load_f32).
using WeightLoader = std::function<std::vector<float>(const std::string&, const std::vector<int64_t>&)>;
// Layer names `a`'s q (which 0, q_heads heads), k (1) or v (2, kv_heads heads) weight as
// [heads x head_dim][hidden] (nn.Linear layout) through `load`: the tensor itself, or split
// out of the fused one.
std::vector<float> load_qkv_weight(const HfAttentionNames& a, int which, int64_t q_heads, int64_t kv_heads,
                                   int64_t head_dim, int64_t hidden, const WeightLoader& load);
// Its o weight as [hidden][q_dim] (GPT-2's Conv1D c_proj transposed).
std::vector<float> load_o_weight(const HfAttentionNames& a, int64_t hidden, int64_t q_dim,
                                 const WeightLoader& load);
// The [in][out] Conv1D weight `w` ([rows][cols]) as [out][in].
std::vector<float> transpose_rows_cols(const std::vector<float>& w, int64_t rows, int64_t cols);

class HfTensorNames {
 public:
  // Picks the key prefix of this checkpoint: the first of accepted_prefixes(arch) under
  // which the token embedding or layer 0's q projection exists (`has` tells), else the
  // architecture's fallback (whose names the missing-tensor messages then show).
  HfTensorNames(Architecture arch, const std::function<bool(const std::string&)>& has);

  // Every key prefix a checkpoint of `arch` may use, in order of preference.
  static std::vector<std::string> accepted_prefixes(Architecture arch);

  const std::string& prefix() const { return prefix_; }
  std::string embed() const;                  // the token embedding [vocab][hidden]
  std::string layer_prefix(int64_t l) const;  // e.g. "model.layers.3."
  HfAttentionNames attention(int64_t l) const;

 private:
  Architecture arch_;
  std::string prefix_;
};

}  // namespace qk
