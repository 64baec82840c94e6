#include "attn/model_attention.hpp"

#include <cmath>
#include <vector>

namespace qk {

AttentionStatsOptions attention_options_for(const ModelConfig& c, const std::string& device) {
  AttentionStatsOptions o;
  o.device = device;
  o.mask = c.arch == Architecture::Bert ? AttentionMask::Full : AttentionMask::Causal;
  const double d = c.arch == Architecture::Gemma3Text ? c.query_pre_attn_scalar
                                                      : static_cast<double>(c.head_dim);
  o.scale = 1.0 / std::sqrt(d);
  if (c.sliding_window && c.arch != Architecture::Bert) {
    std::vector<int64_t> windows(static_cast<size_t>(c.num_layers), 0);
    bool slides = false;
    for (size_t l = 0; l < windows.size() && l < c.sliding_layers.size(); ++l)
      if (c.sliding_layers[l]) {
        windows[l] = *c.sliding_window;
        slides = true;
      }
    if (slides) o.layer_window = windows;  // empty when no layer slides
  }
  return o;
}

}  // namespace qk
