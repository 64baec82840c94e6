#pragma once
// One probe's metrics fed layer by layer (docs/sweep.md, "Layer by layer"): as each layer
// of the model finishes, its q/k/v views, in host or device memory as the model left
// them, go through the engine core's device-aware entry points (bo_stats,
// attention_stats with an ExecContext); only the per-layer reductions are kept, and
// finish() turns them into the probe's metrics and status (as probe_analysis.hpp says).
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "attn/attention_stats.hpp"
#include "bo/bo_metrics.hpp"
#include "exec_context.hpp"
#include "finite_check.hpp"
#include "probe_analysis.hpp"
#include "tensor_view.hpp"

namespace qk {

// One layer of one probe: views [1, heads, seq, head_dim] f32 (q absent when neither
// the attention statistics nor the caller need it).
struct LayerQkv {
  std::optional<TensorView> q;
  TensorView k;
  std::optional<TensorView> v;
  // The previous layer's k (same shape, still alive), for the cross-layer alignment of
  // the multi-head mode (probe_needs_previous_k); absent on layer 0.
  std::optional<TensorView> prev_k;
  bool finite = true;  // every value of q, k and v is finite
  // When !finite: this layer's q/k/v in host memory (a one-layer f32 snapshot), for
  // where the first non-finite value is and which heads hold any.
  const Snapshot* host = nullptr;
};

// True when the BO metrics of a model with `kv_heads` KV heads read the previous layer's
// k with each layer (LayerQkv::prev_k).
bool probe_needs_previous_k(const ProbeMetrics& m, int kv_heads);

class ProbeLayers {
 public:
  // A probe of `layers` layers with `q_heads` query heads (0: q not captured) and
  // `kv_heads` KV heads, analysed on ctx.device.
  ProbeLayers(const ProbeMetrics& m, const ExecContext& ctx, int layers, int q_heads, int kv_heads);

  // The next layer's reductions (layers in order 0, 1, ...): queue, then complete.
  void add(const LayerQkv& layer);

  // Queues the next layer's reductions of layer.q/k/v/prev_k (layer.finite and layer.host
  // are not read): with `results`, views on its CUDA device go on its analysis stream, to be
  // read after results->wait() (the views must stay alive until then); otherwise, and for
  // host views, they are computed now. Several layers may be queued before the first is
  // completed (the sweep keeps two: layer l queued while layer l-1 is read).
  void queue(const LayerQkv& layer, DeviceResults* results);
  // Completes the oldest queued layer once its results are on the host; finite, host as
  // LayerQkv's.
  void complete(bool finite, const Snapshot* host);

  // The probe's status and metrics into out (status, bo, attention), as analyse_probe.
  void finish(ProbeOutcome& out) const;

  // Whether add() reads LayerQkv::prev_k (probe_needs_previous_k).
  bool keeps_previous_k() const { return probe_needs_previous_k(m_, kv_heads_); }

 private:
  void note_nonfinite(const Snapshot& host);
  void metrics(bool mask, ProbeOutcome& out) const;

  const ProbeMetrics& m_;
  ExecContext ctx_;
  int layers_, q_heads_, kv_heads_;
  // One queued layer's results, read by complete().
  struct Pending {
    std::function<BoStats()> bo;
    std::function<double()> align;  // empty: no alignment for this layer
    std::function<AttentionStats()> attention;
    bool has_v = false;
  };
  int next_ = 0;                 // the next layer to complete
  std::deque<Pending> pending_;  // layers next_, next_ + 1, ... queued, oldest first
  BoStats bo_;
  AttentionStats attention_;
  std::optional<NonFiniteValue> first_bad_;
  std::vector<uint8_t> k_bad_, v_bad_;  // [layers][kv_heads]: heads holding a non-finite value
};

}  // namespace qk
