#pragma once
// The sweep's prefill with the analysis inside it (docs/sweep.md, "Layer by layer"): each
// layer's q/k/v of each prompt go, where the model left them (CPU tensors or CUDA
// tensors, converted to f32 on the device), to that probe's ProbeLayers as the layer
// finishes; nothing but the per-layer reductions and the --save-kv copies outlives the
// layer (and, in the multi-head BO mode, the previous layer's k; on CUDA, a layer lives
// until the next layer's callback has queued that one and read it).
#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "bo/gpu_stats.hpp"
#include "decoder.hpp"
#include "layer_analysis.hpp"
#include "sweep_schema.hpp"

namespace qk {

// A CUDA batch's --save-kv tensors staged in one pinned buffer (from FeedBuffers's pool):
// prompt b's saved k, v, q [layers, heads, len, head_dim] f32 start at at[b][0], [1], [2].
struct StagedSaves {
  std::shared_ptr<float> data;  // empty: nothing staged
  std::vector<std::array<size_t, 3>> at;
};

struct FedBatch {
  // --save-kv k|qkv: each prompt's k (q, v) on the host, f32, shaped [layers, heads, len,
  // head_dim]; after a CUDA prefill their values are in `staged` until unstage().
  std::vector<Snapshot> saved;
  StagedSaves staged;
  double analysis_s = 0;  // seconds spent in the analysis, inside prefill
  // Copies the staged tensors into `saved` and releases the pinned buffer to its pool
  // (nothing to do when none is staged): the sweep's writer thread calls it, so neither the
  // copy nor the allocation of `saved` costs the prefill.
  void unstage();
};

// What a sweep's CUDA batches reuse from batch to batch, made on first use: BatchFeed's two
// result blocks (their events, device blocks and pinned host copies) and the pinned pool of
// the --save-kv staging, which keeps at most kKeptStaging free buffers (one buffer per
// batch). Pinned memory held: the result blocks (a few doubles per head and layer of a
// batch), and the staging buffers of the batches not yet written (the one in prefill, the
// writer's queue and the one it writes: BatchWriter's depth + 2) plus kKeptStaging free,
// each at most twice the largest batch's saved tensors. One per sweep thread (the
// result blocks use that thread's analysis stream).
class FeedBuffers {
 public:
  static constexpr size_t kKeptStaging = 2;
  FeedBuffers();
  ~FeedBuffers();
  FeedBuffers(const FeedBuffers&) = delete;
  FeedBuffers& operator=(const FeedBuffers&) = delete;

  // Result block `which` (0 or 1) on `device`, made on first use.
  DeviceResults& results(int device, int which);
  PinnedPool& staging() { return staging_; }

 private:
  std::array<std::unique_ptr<DeviceResults>, 2> results_;
  PinnedPool staging_{kKeptStaging};
};

// One layer's f32 q (when captured), k and v of one prompt, [1, heads, len, head_dim].
struct LayerTensors {
  at::Tensor q, k, v;
};

// The analysis of one batch fed layer by layer: what prefill_and_analyse hands the model's
// prefill. Host layers are analysed and saved at once. CUDA layers: the finite flags and the
// --save-kv copies go to pinned host memory on torch's current stream, and every prompt's
// reductions on the analysis stream after it, all without a wait, into one of two result
// blocks (ping-pong); then the host waits for the previous layer's block alone and reads
// it, so the GPU runs layer l while the host reads layer l-1 (finish() reads the last).
// Allocations: torch's caching allocators (device, and pinned host for the finite flags),
// the analysis's stream-ordered pool, and `buffers`: the two result blocks and the staging.
class BatchFeed {
 public:
  // probes[b] takes prompt b's layers (q read when with_q); `saved`: each prompt's
  // [layers, heads, len, head_dim] tensors for what `save` keeps (none for SaveKv::None),
  // their data allocated here when empty; `buffers` outlives the feed.
  BatchFeed(std::vector<ProbeLayers>& probes, bool with_q, SaveKv save, std::vector<Snapshot> saved,
            FeedBuffers& buffers);
  ~BatchFeed();  // after a failure: waits for torch's stream and the analysis stream
  BatchFeed(const BatchFeed&) = delete;
  BatchFeed& operator=(const BatchFeed&) = delete;

  // The next layer of every prompt (lc.k[b] is prompt b's), host or CUDA tensors.
  void add(const LayerCapture& lc);
  // After the last layer: the saved tensors (on CUDA staged, once the last layer's wait is
  // over: FedBatch::unstage) and the time.
  FedBatch finish();

 private:
  // One CUDA layer queued on the analysis stream into `results`, not yet read: what its
  // reads use stays alive until its wait.
  struct InFlight {
    DeviceResults* results = nullptr;
    at::Tensor finite;               // pinned [prompts] bool: each prompt's q/k/v finite
    std::vector<LayerTensors> t;     // each prompt's f32 q, k, v
    std::vector<at::Tensor> prev_k;  // each prompt's previous-layer k, when read
  };
  void add_host(const LayerCapture& lc);
  void add_device(const LayerCapture& lc);
  void read_oldest();
  void finish_device();

  bool with_q_;
  SaveKv save_;
  std::vector<ProbeLayers>& probes_;
  FedBatch fed_;
  std::vector<at::Tensor> prev_k_;  // per prompt: the last queued layer's f32 k, when kept
  FeedBuffers& buffers_;
  // CUDA only, set on the first layer: the device, the two result blocks (turn_: the next
  // one to fill); fed_.staged holds the --save-kv staging.
  c10::Device device_ = c10::Device(c10::kCPU);
  std::array<DeviceResults*, 2> results_{};
  int turn_ = 0;
  std::deque<InFlight> in_flight_;  // at most two between add() calls: at most one
};

// Runs prefill of `prompts`, feeding prompt b's layers to probes[b] (q captured when
// with_q); keeps the tensors `save` asks for on the host (on CUDA staged: FedBatch::unstage).
FedBatch prefill_and_analyse(TransformerModel& model, const std::vector<std::vector<int64_t>>& prompts,
                             bool with_q, SaveKv save, std::vector<ProbeLayers>& probes,
                             FeedBuffers& buffers);

}  // namespace qk
