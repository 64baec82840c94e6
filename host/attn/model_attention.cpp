#include "attn/model_attention.hpp"

#include <cmath>

namespace qk {

AttentionStatsOptions attention_options_for(const ModelConfig& c, const std::string& device) {
  AttentionStatsOptions o;
  o.device = device;
  o.mask = c.arch == Architecture::Bert ? AttentionMask::Full : AttentionMask::Causal;
  const double d = c.arch == Architecture::Gemma3Text ? c.query_pre_attn_scalar
                                                      : static_cast<double>(c.head_dim);
  o.scale = 1.0 / std::sqrt(d);
  if (c.sliding_window && c.arch != Architecture::Bert) {
    o.layer_window.assign(static_cast<size_t>(c.num_layers), 0);
    for (size_t l = 0; l < o.layer_window.size() && l < c.sliding_layers.size(); ++l)
      if (c.sliding_layers[l]) o.layer_window[l] = *c.sliding_window;
  }
  return o;
}

}  // namespace qk
