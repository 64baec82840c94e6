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

struct HfAttentionNames {
  std::string q, k, v, o;  // the q/k/v/o projection weights ([out][in])
};

class HfTensorNames {
 public:
  // Picks the key prefix of this checkpoint: the first of accepted_prefixes(arch) under
  // which the token embedding or layer 0's q projection exists (`has` tells), else the
  // architecture's fallback (whose names the missing-tensor messages then show).
  HfTensorNames(Architecture arch, const std::function<bool(const std::string&)>& has);

  // Every key prefix a checkpoint of `arch` may use, in order of preference.
  static std::vector<std::string> accepted_prefixes(Architecture arch);

  const std::string& prefix() const { return prefix_; }
  std::string embed() const;                   // the token embedding [vocab][hidden]
  std::string layer_prefix(int64_t l) const;   // e.g. "model.layers.3."
  HfAttentionNames attention(int64_t l) const;

 private:
  Architecture arch_;
  std::string prefix_;
};

}  // namespace qk
