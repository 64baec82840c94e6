#include "attn/model_attention.hpp"

#include <cmath>
#include <vector>

namespace qk {

AttentionStatsOptions attention_options_for(const ModelConfig& c, const std::string& device) {
  AttentionStatsOptions o;
  o.device = device;
  o.mask = c.arch == Architecture::Bert ? AttentionMask::Full : AttentionMask::Causal;
  o.scale = attention_scale(c, 0);
  o.softcap = c.attn_logit_softcapping;                          // Gemma 2; 0 elsewhere
  if (c.scale_by_inverse_layer && c.arch == Architecture::Gpt2)  // GPT-2: the scale varies per layer
    for (int64_t l = 0; l < c.num_layers; ++l) o.layer_scale.push_back(attention_scale(c, l));
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
