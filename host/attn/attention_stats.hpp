#pragma once
// Attention statistics per (layer, query head) of a snapshot with q (docs/metrics.md,
// "Attention statistics"): mean softmax entropy, mean logit std, mean sink mass, mean
// attention mass per key-distance bucket.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attention_mask.hpp"
#include "exec_context.hpp"
#include "snapshot.hpp"
#include "tensor_view.hpp"

namespace qk {

class DeviceResults;  // bo/gpu_stats.hpp

struct AttentionStatsOptions {
  AttentionMask mask = AttentionMask::Causal;
  int64_t window = 0;           // keys per sliding window (SlidingWindow only, >= 1)
  std::optional<double> scale;  // logit scale; default 1 / sqrt(head_dim)
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  // Per layer (empty: every layer uses mask/window): > 0, a sliding window of that many
  // keys on that layer; 0, the base mask. Models that alternate (Gemma 3, Mistral) set it.
  std::vector<int64_t> layer_window;
  // Per layer logit scales (empty: every layer uses scale). GPT-2's
  // scale_attn_by_inverse_layer_idx sets it.
  std::vector<double> layer_scale;
  // Logit soft-cap (Gemma 2's attn_logit_softcapping): > 0 replaces each scaled logit s
  // by softcap tanh(s / softcap) before the mask; 0, none.
  double softcap = 0;
};

struct AttentionStats {
  std::string backend;                // "cpu" or "cuda:N"
  std::string mask;                   // "causal", "full" or "sliding"
  int64_t window = 0;                 // 0 unless sliding
  std::vector<int64_t> layer_window;  // per-layer windows when the options set them
  double scale = 0;
  std::vector<double> layer_scale;  // per-layer scales when the options set them
  double softcap = 0;               // the logit soft-cap; 0: none
  int layers = 0, q_heads = 0;
  std::vector<double> entropy_nats;  // [layers][q_heads], nats
  std::vector<double> logit_std;     // [layers][q_heads], logit units
  std::vector<double> sink_mass;     // [layers][q_heads], probability in [0, 1]
  // [layers][q_heads][kDistanceBuckets = 16] (kernels/common/online_softmax.hpp), probability;
  // each (layer, head) sums to 1.
  std::vector<double> distance_mass;
  double mean_entropy_nats = 0, mean_logit_std = 0, mean_sink_mass = 0;
};

// "causal" | "full" | "sliding" <-> AttentionMask; parse throws std::invalid_argument.
AttentionMask parse_attention_mask(const std::string& name);
std::string attention_mask_name(AttentionMask mask);

// The arrays attention_stats reads, as views: q f32 [layers, q_heads, seq, head_dim],
// k f32 [layers, kv_heads, seq, head_dim].
struct AttentionInput {
  TensorView q, k;
};

// Every layer of q against k on ctx.device (opts.device is not read). A view the
// analysis cannot read (not f32 rank 4, not contiguous, in device memory) throws
// std::invalid_argument.
AttentionStats attention_stats(const AttentionInput& in, const AttentionStatsOptions& opts,
                               const ExecContext& ctx);
// attention_stats queued for a batch: views on the CUDA device of `results` are read on its
// analysis stream (after results.after(ctx.stream)) and the returned function, called
// after results.wait(), gives the stats; host views are computed at once.
std::function<AttentionStats()> queue_attention_stats(const AttentionInput& in,
                                                      const AttentionStatsOptions& opts,
                                                      const ExecContext& ctx, DeviceResults& results);

// The options for layer `layer` alone (a one-layer input): its window and scale when
// opts has per-layer ones.
AttentionStatsOptions layer_options(const AttentionStatsOptions& opts, int layer);

// Appends the statistics of one more layer (attention_stats of a one-layer input with
// layer_options) to `all`, whose header takes opts' per-layer windows and scales; the
// means cover every layer appended, as attention_stats of all the layers at once gives.
void append_attention_layer(AttentionStats& all, const AttentionStats& layer,
                            const AttentionStatsOptions& opts);

// The views of snap's q and k (host memory); throws std::invalid_argument without q.
AttentionInput attention_input(const Snapshot& snap);

// Every layer of snap.q against snap.k on opts.device; throws std::invalid_argument without q.
AttentionStats attention_stats(const Snapshot& snap, const AttentionStatsOptions& opts);

// Name and (layer, head) of the first NaN or Inf of s ("attention/entropy[layer 1, head
// 0]"); nullopt when every value is finite.
std::optional<std::string> first_nonfinite_attention(const AttentionStats& s);

// Statistics without numbers: the means NaN, the per-head arrays empty (writers pad
// them with NaN).
AttentionStats nan_attention_stats();

// JSON object `attention` merged into `j`: entropy (nats), logit_std, sink_mass
// ([layers][q_heads]), distance_mass ([layers][q_heads][bucket]) with distance_buckets
// (each bucket's smallest distance), mean_entropy, mean_logit_std, mean_sink_mass (the names of the
// stored quantities attention/*) and the options used (mask, window, scale, backend;
// logit_softcap when one is set).
void add_attention_stats_json(const AttentionStats& s, nlohmann::json& j);

// The smallest distance of each distance bucket: 0, 1, 2, 4, ..., 16384.
std::vector<int64_t> distance_bucket_lower_edges();

// A short table: the means and one line per layer (means over query heads).
std::string attention_stats_table(const AttentionStats& s);

}  // namespace qk
