#pragma once
// Q/K Bone-Orientation metrics of one snapshot (spec: shared/seeds/lem-attention.go;
// definitions: docs/metrics.md).
#include <array>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bo/cloud_stats.hpp"
#include "exec_context.hpp"
#include "snapshot.hpp"
#include "tensor_view.hpp"

namespace qk {

class DeviceResults;  // bo/gpu_stats.hpp

struct BoOptions {
  bool lem_compat = false;          // reproduce the seed exactly, quirks included
  double lock_threshold = 0.7;      // phase-lock cosine threshold (seed: 0.7)
  double collapse_threshold = 0.5;  // joint-collapse threshold (seed: 0.5)
  std::string device = "auto";      // auto | cpu | cuda | cuda:N
};

// Value-side analogues, present when the snapshot has v.
struct BoValueResult {
  double mean_value_coherence = 0;            // V analogue of mean_coherence
  std::vector<double> layer_value_coherence;  // [layers]
  double value_phase_lock_score = 0;          // V analogue of phase_lock_score
  double mean_kv_coupling = 0;                // mean linear CKA(K, V) over layers x kv heads
  std::vector<double> layer_kv_coupling;      // [layers], mean over kv heads
  std::array<double, 7> features7{};          // features + value coherence + kv coupling
};

struct BoResult {
  // The seed's fields (BOResult), same names in JSON.
  double mean_coherence = 0;
  double mean_cross_alignment = 0;
  double mean_head_entropy = 0;
  double phase_lock_score = 0;
  int joint_collapse_count = 0;
  std::vector<double> layer_coherence;        // [layers]
  std::vector<double> layer_cross_alignment;  // [layers-1]
  bool gqa = false;                           // position-wise mode
  int composite = 0;                          // 0..10000
  double composite_exact = 0;                 // before truncation / rounding
  std::array<double, 5> features{};           // the seed's 5-D attention vector

  // Context and per-head detail.
  std::string mode;     // "lem-compat" or "default"
  std::string backend;  // "cpu" or "cuda:N"
  int layers = 0, kv_heads = 0, q_heads = 0;
  int64_t seq_len = 0, head_dim = 0;
  int analysed_heads = 0;                    // KV heads in the position-wise analysis / entropy
  std::vector<double> head_differentiation;  // [layers][analysed_heads], position mode
  std::vector<double> head_entropy;          // [layers][analysed_heads]
  std::optional<BoValueResult> value;
};

// The clouds analyse_bo reads, as views: k f32 [layers, kv_heads, seq, head_dim], v (when
// present) the same shape; q_heads: the query heads reported (0: unknown).
struct BoInput {
  TensorView k;
  std::optional<TensorView> v;
  int q_heads = 0;
};

// The metrics of `in` on ctx.device (opts.device is not read): bo_from_stats(bo_stats()).
// A view the analysis cannot read (not f32 rank 4, not contiguous, in the memory of
// another device) throws std::invalid_argument.
BoResult analyse_bo(const BoInput& in, const BoOptions& opts, const ExecContext& ctx);

// The reductions the metrics read, per layer: every array of k, v and kv_cka is
// [layers][...] but k.layer_align [layers - 1], so the stats of one-layer clouds append
// into those of the whole (bo_append_layer).
struct BoStats {
  CloudDims dims;  // of k (v has the same)
  int q_heads = 0;
  bool has_v = false;
  CloudStats k;                // the key plan's reductions
  CloudStats v;                // with v: head Gram or position cosines only
  std::vector<double> kv_cka;  // with v: [layers][kv_heads]
};

// The reductions of `in` on ctx.device: a view in host memory, or (on CUDA) in the memory
// of ctx.device, read after the work queued on ctx.stream.
BoStats bo_stats(const BoInput& in, const BoOptions& opts, const ExecContext& ctx);
// bo_stats queued for a batch: views on the CUDA device of `results` are reduced on its
// analysis stream (after results.after(ctx.stream)) and the returned function, called
// after results.wait(), gives the stats; host views are reduced at once by bo_stats.
std::function<BoStats()> queue_bo_stats(const BoInput& in, const BoOptions& opts, const ExecContext& ctx,
                                        DeviceResults& results);
// The metrics from the reductions (host arithmetic, the same for every backend).
BoResult bo_from_stats(const BoStats& s, const BoOptions& opts, const Device& backend);
// Appends the one-layer stats `layer` to `all` (dims.layers grows by one); `align`, the
// alignment of the previous layer's key cloud with this one's, when the mode has it.
void bo_append_layer(BoStats& all, const BoStats& layer, std::optional<double> align);
// Whether the key plan of a cloud of `kv_heads` heads has cross-layer alignment.
bool bo_needs_alignment(int kv_heads);
// The cross-layer alignment of two one-layer key clouds [1, kv_heads, seq, head_dim]
// (views as bo_stats reads), as bo_stats gives for them stacked.
double bo_layer_alignment(const TensorView& prev_k, const TensorView& k, const BoOptions& opts,
                          const ExecContext& ctx);

// bo_layer_alignment queued for a batch, as queue_bo_stats.
std::function<double()> queue_bo_layer_alignment(const TensorView& prev_k, const TensorView& k,
                                                 const BoOptions& opts, const ExecContext& ctx,
                                                 DeviceResults& results);

// The same for a snapshot in host memory on opts.device.
BoResult analyse_bo(const Snapshot& snap, const BoOptions& opts);

// The views of snap's k and v (host memory) and its query heads.
BoInput bo_input(const Snapshot& snap);

// True when a cloud of `kv_heads` KV heads gets the seed's position-wise analysis.
bool bo_position_mode(int kv_heads);

// The seed's composite formulas on a filled result (both modes); returns the
// unclamped score in 0..10000 units before integer conversion.
double composite_score(const BoResult& r);

// 5-D feature vector of the seed: coherence, cross, entropy, phase lock, joint stability.
std::array<double, 5> attention_features(const BoResult& r);

}  // namespace qk
