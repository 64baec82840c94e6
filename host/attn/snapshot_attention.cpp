#include "attn/snapshot_attention.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <vector>

#include "input_error.hpp"
#include "internal_error.hpp"

namespace qk {

namespace {

constexpr const char* kMasks = "attention_masks";
constexpr const char* kWindows = "attention_windows";
constexpr const char* kScale = "attention_scale";
constexpr const char* kLayerScales = "attention_layer_scales";  // optional: per-layer scales
constexpr const char* kSoftcap = "attention_logit_softcap";     // optional: the logit soft-cap

std::string where_key(const std::string& path, const char* key) { return path + ": metadata '" + key + "'"; }

// The value of `key`; InputError when it is absent.
const std::string& value_of(const std::map<std::string, std::string>& meta, const char* key,
                            const std::string& path) {
  const auto it = meta.find(key);
  if (it == meta.end())
    throw InputError(where_key(path, key),
                     "is missing (the snapshot has other attention_* keys; all three go together)");
  return it->second;
}

// The value of `key` split at commas; InputError unless it has `layers` items.
std::vector<std::string> layer_list(const std::map<std::string, std::string>& meta, const char* key,
                                    int layers, const std::string& path) {
  const std::string& text = value_of(meta, key, path);
  std::vector<std::string> items;
  for (size_t at = 0;;) {
    const size_t comma = text.find(',', at);
    items.push_back(text.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  if (items.size() != static_cast<size_t>(layers))
    throw InputError(where_key(path, key), "lists " + std::to_string(items.size()) +
                                               " entries for a snapshot of " + std::to_string(layers) +
                                               " layers");
  return items;
}

int64_t parse_window(const std::string& item, int layer, const std::string& where) {
  if (item.empty() || item.size() > 18 || item.find_first_not_of("0123456789") != std::string::npos)
    throw InputError(where, "layer " + std::to_string(layer) + ": '" + item +
                                "' is not a window (a non-negative integer)");
  return std::stoll(item);
}

double parse_scale(const std::string& text, const std::string& where) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v) || v <= 0.0)
    throw InputError(where, "'" + text + "' is not a positive finite number");
  return v;
}

// "causal on 2 layers, sliding on 4 layers" for stored options over `layers` layers.
std::string describe_masks(const AttentionStatsOptions& o, int layers) {
  int sliding = 0;
  for (int64_t w : o.layer_window) sliding += w > 0 ? 1 : 0;
  const std::string base = attention_mask_name(o.mask);
  if (sliding == 0) return base + " on every layer";
  if (sliding == layers) return "sliding on every layer";
  return "sliding on " + std::to_string(sliding) + " of " + std::to_string(layers) + " layers, " + base +
         " on the rest";
}

}  // namespace

std::map<std::string, std::string> attention_metadata(const AttentionStatsOptions& o, int layers) {
  if (!o.scale) throw InternalError("attention_metadata: the logit scale is not set");
  std::string masks, windows;
  for (int l = 0; l < layers; ++l) {
    const size_t at = static_cast<size_t>(l);
    const int64_t own = at < o.layer_window.size() ? o.layer_window[at] : 0;
    const bool base_slides = o.mask == AttentionMask::SlidingWindow;
    masks += (l ? "," : "") + (own > 0 ? std::string("sliding") : attention_mask_name(o.mask));
    windows += (l ? "," : "") + std::to_string(own > 0 ? own : base_slides ? o.window : 0);
  }
  char scale[40];
  std::snprintf(scale, sizeof scale, "%.17g", *o.scale);
  std::map<std::string, std::string> meta{{kMasks, masks}, {kWindows, windows}, {kScale, scale}};
  if (!o.layer_scale.empty()) {
    std::string scales;
    for (size_t l = 0; l < o.layer_scale.size(); ++l) {
      std::snprintf(scale, sizeof scale, "%.17g", o.layer_scale[l]);
      scales += (l ? "," : "") + std::string(scale);
    }
    meta[kLayerScales] = scales;
  }
  if (o.softcap > 0) {
    std::snprintf(scale, sizeof scale, "%.17g", o.softcap);
    meta[kSoftcap] = scale;
  }
  return meta;
}

std::optional<AttentionStatsOptions> attention_options_from_metadata(
    const std::map<std::string, std::string>& meta, int layers, const std::string& path) {
  if (!meta.count(kMasks) && !meta.count(kWindows) && !meta.count(kScale)) return std::nullopt;
  const std::vector<std::string> masks = layer_list(meta, kMasks, layers, path);
  const std::vector<std::string> windows = layer_list(meta, kWindows, layers, path);
  AttentionStatsOptions o;
  o.scale = parse_scale(value_of(meta, kScale, path), where_key(path, kScale));
  if (meta.count(kLayerScales))
    for (const std::string& item : layer_list(meta, kLayerScales, layers, path))
      o.layer_scale.push_back(parse_scale(item, where_key(path, kLayerScales)));
  if (meta.count(kSoftcap)) o.softcap = parse_scale(meta.at(kSoftcap), where_key(path, kSoftcap));
  std::set<AttentionMask> base;  // the masks of the layers that do not slide
  std::vector<int64_t> layer_window(static_cast<size_t>(layers), 0);
  bool slides = false;
  for (int l = 0; l < layers; ++l) {
    const std::string& name = masks[static_cast<size_t>(l)];
    if (name != "causal" && name != "full" && name != "sliding")
      throw InputError(where_key(path, kMasks),
                       "layer " + std::to_string(l) + ": '" + name + "' is not causal, full or sliding");
    const AttentionMask m = parse_attention_mask(name);
    const int64_t w = parse_window(windows[static_cast<size_t>(l)], l, where_key(path, kWindows));
    if ((m == AttentionMask::SlidingWindow) != (w > 0))
      throw InputError(where_key(path, kWindows), "layer " + std::to_string(l) + ": window " +
                                                      std::to_string(w) + " with mask " + name +
                                                      " (sliding needs a window >= 1, others 0)");
    if (w > 0) {
      layer_window[static_cast<size_t>(l)] = w;
      slides = true;
    } else {
      base.insert(m);
    }
  }
  if (base.size() > 1)
    throw InputError(where_key(path, kMasks),
                     "mixes causal and full layers, which the attention statistics do not "
                     "support in one run (give --mask)");
  o.mask = base.empty() ? AttentionMask::Causal : *base.begin();
  if (slides) o.layer_window = layer_window;
  return o;
}

AttentionStatsOptions snapshot_attention_options(const Snapshot& snap, const AttentionFlags& flags,
                                                 const std::string& device, std::string* note) {
  const int layers = snap.k.layers();
  const std::optional<AttentionStatsOptions> stored =
      attention_options_from_metadata(snap.metadata, layers, snap.path);
  if (flags.window != 0 && flags.mask != "sliding")
    throw std::invalid_argument("--window applies to --mask sliding only");
  AttentionStatsOptions o = stored.value_or(AttentionStatsOptions{});
  o.device = device;
  std::string replaced, defaulted;
  if (!flags.mask.empty()) {
    if (stored) replaced = "--mask " + flags.mask + " replaces its masks (" + describe_masks(o, layers) + ")";
    o.mask = parse_attention_mask(flags.mask);
    o.window = flags.window;
    o.layer_window.clear();
  } else {
    defaulted = "a causal mask";
  }
  if (flags.scale) {
    if (stored) {
      char was[40];
      std::snprintf(was, sizeof was, "%.9g", *o.scale);
      replaced += (replaced.empty() ? "" : "; ") + std::string("--attn-scale replaces its scale ") + was;
    }
    o.scale = flags.scale;
    o.layer_scale.clear();
  } else {
    defaulted += (defaulted.empty() ? "" : " and ") + std::string("scale 1/sqrt(head_dim)");
  }
  *note = "";
  if (stored && !replaced.empty())
    *note = "qkgeom score: " + snap.path + " records the model's attention; " + replaced;
  if (!stored && !defaulted.empty())
    *note = "qkgeom score: " + snap.path +
            " records no attention masks or scale (an older or foreign snapshot); using " + defaulted +
            " (set --mask, --window, --attn-scale to match the model)";
  return o;
}

}  // namespace qk
