#pragma once
// The attention a snapshot's layers ran, stored in its metadata (docs/snapshot-format.md)
// so that `score --snapshot` computes what `score --model` computes, and the flags that
// replace it.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "attn/attention_stats.hpp"
#include "snapshot.hpp"

namespace qk {

// Metadata keys for options `o` over `layers` layers: attention_masks ("causal", "full"
// or "sliding" per layer, comma-separated), attention_windows (keys per window per
// layer, 0 unless sliding) and attention_scale (%.17g: exact round trip), plus
// attention_layer_scales (per layer, comma-separated) when o.layer_scale is set, and
// attention_logit_softcap (%.17g) when o.softcap > 0. o.scale must be set
// (std::invalid_argument otherwise).
std::map<std::string, std::string> attention_metadata(const AttentionStatsOptions& o, int layers);

// The options attention_metadata stored, in the form attention_options_for gives
// (a base mask, per-layer windows when a layer slides); nullopt when `meta` has none of
// the three keys. InputError naming `path` and the key when one is missing, malformed, or
// lists other than `layers` entries, or when layers mix causal and full attention.
std::optional<AttentionStatsOptions> attention_options_from_metadata(
    const std::map<std::string, std::string>& meta, int layers, const std::string& path);

// The flags of `score --snapshot` that replace what a snapshot stores.
struct AttentionFlags {
  std::string mask;             // "" when not given
  int64_t window = 0;           // 0 when not given
  std::optional<double> scale;  // unset when not given
};

// The options `score --snapshot` uses: the snapshot's stored ones (without them, causal
// and 1/sqrt(head_dim)), where --mask (with --window) replaces every layer's mask and
// window and --attn-scale the scale. `note` gets one line for stderr saying which flags
// override stored values, or that defaults stand in for missing metadata ("" otherwise).
AttentionStatsOptions snapshot_attention_options(const Snapshot& snap, const AttentionFlags& flags,
                                                 const std::string& device, std::string* note);

}  // namespace qk
