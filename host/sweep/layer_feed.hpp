#pragma once
// The sweep's prefill with the analysis inside it (docs/sweep.md, "Layer by layer"): each
// layer's q/k/v of each prompt go, where the model left them (CPU tensors or CUDA
// tensors, converted to f32 on the device), to that probe's ProbeLayers as the layer
// finishes; nothing but the per-layer reductions and the --save-kv copies outlives the
// layer (and, in the multi-head BO mode, the previous layer's k).
#include <cstdint>
#include <vector>

#include "decoder.hpp"
#include "layer_analysis.hpp"
#include "sweep_schema.hpp"

namespace qk {

struct FedBatch {
  std::vector<Snapshot> saved;  // --save-kv k|qkv: each prompt's k (q, v) on the host, f32
  double analysis_s = 0;        // seconds spent in the analysis, inside prefill
};

// Runs prefill of `prompts`, feeding prompt b's layers to probes[b] (q captured when
// with_q); keeps the tensors `save` asks for on the host.
FedBatch prefill_and_analyse(TransformerModel& model, const std::vector<std::vector<int64_t>>& prompts,
                             bool with_q, SaveKv save, std::vector<ProbeLayers>& probes);

}  // namespace qk
