#pragma once
// The sweep's prefill with the analysis inside it (docs/sweep.md, "Layer by layer"): each
// layer's q/k/v of each prompt go, where the model left them (CPU tensors or CUDA
// tensors, converted to f32 on the device), to that probe's ProbeLayers as the layer
// finishes; nothing but the per-layer reductions and the --save-kv copies outlives the
// layer (and, in the multi-head BO mode, the previous layer's k).
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "bo/gpu_stats.hpp"
#include "decoder.hpp"
#include "layer_analysis.hpp"
#include "sweep_schema.hpp"

namespace qk {

struct FedBatch {
  std::vector<Snapshot> saved;  // --save-kv k|qkv: each prompt's k (q, v) on the host, f32
  double analysis_s = 0;        // seconds spent in the analysis, inside prefill
};

// The analysis of one batch fed layer by layer: what prefill_and_analyse hands the model's
// prefill. Host layers are analysed and saved at once. CUDA layers: the finite flags and the
// --save-kv copies go to pinned host memory on torch's current stream, and every prompt's
// reductions on the analysis stream after it, all without a wait; then one host wait per
// layer for the whole batch. Allocations: torch's caching allocators (device and pinned
// host), the analysis's stream-ordered pool, one result block reused from layer to layer.
class BatchFeed {
 public:
  // probes[b] takes prompt b's layers (q read when with_q); `saved`: each prompt's empty
  // [layers, heads, len, head_dim] tensors for what `save` keeps (none for SaveKv::None).
  BatchFeed(std::vector<ProbeLayers>& probes, bool with_q, SaveKv save, std::vector<Snapshot> saved);
  ~BatchFeed();
  BatchFeed(const BatchFeed&) = delete;
  BatchFeed& operator=(const BatchFeed&) = delete;

  // The next layer of every prompt (lc.k[b] is prompt b's), host or CUDA tensors.
  void add(const LayerCapture& lc);
  // After the last layer: the saved tensors (complete: one last wait on CUDA) and the time.
  FedBatch finish();

 private:
  void add_host(const LayerCapture& lc);
  void add_device(const LayerCapture& lc);
  void finish_device();

  bool with_q_;
  SaveKv save_;
  std::vector<ProbeLayers>& probes_;
  FedBatch fed_;
  std::vector<at::Tensor> prev_k_;  // per prompt: the previous layer's f32 k, when kept
  // CUDA only, made on the first layer: the device, the analysis's result slots, and the
  // --save-kv staging per prompt (pinned host tensors like fed_.saved's k, v, q).
  c10::Device device_ = c10::Device(c10::kCPU);
  std::unique_ptr<DeviceResults> results_;
  std::vector<std::array<at::Tensor, 3>> pinned_;
};

// Runs prefill of `prompts`, feeding prompt b's layers to probes[b] (q captured when
// with_q); keeps the tensors `save` asks for on the host.
FedBatch prefill_and_analyse(TransformerModel& model, const std::vector<std::vector<int64_t>>& prompts,
                             bool with_q, SaveKv save, std::vector<ProbeLayers>& probes);

}  // namespace qk
