#pragma once
// Prefill with libtorch in inference mode: decoders (Llama 2/3, Mistral, Qwen2, Qwen3,
// Gemma 2, Gemma 3 text, OLMo 2, Phi-3, GPT-2, GPT-NeoX) with causal / sliding-window masks,
// RoPE and Gemma 2's logit soft-capping, and BERT encoders with
// absolute positions and full (bidirectional) attention. Eager attention with an explicit
// mask and a float32 softmax, GQA, batches of variable-length prompts. Each layer's
// post-RoPE (post-qk-norm) Q, K and V are handed to a capture callback as the layer
// finishes; for BERT they are the projections' outputs (no RoPE).
//
// A batch is never padded. BatchMode::Lone: every prompt runs through the same per-prompt
// operations with the same shapes as when it runs alone, so its numbers are bitwise
// identical alone or in any batch (same device, dtype and thread count). BatchMode::Packed:
// the row-wise ops run on the batch's concatenated rows and attention per prompt, equal to
// lone within f32 rounding.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "batch_mode.hpp"
#include "hf_config.hpp"
#include "snapshot.hpp"

namespace qk {

// One layer's attention inputs for every prompt of the batch, as the layer finishes.
struct LayerCapture {
  int layer = 0;
  std::vector<at::Tensor> q;  // per prompt [q_heads, len, head_dim], post-RoPE (post-qk-norm)
  std::vector<at::Tensor> k;  // per prompt [kv_heads, len, head_dim], post-RoPE, no GQA repeat
  std::vector<at::Tensor> v;  // per prompt [kv_heads, len, head_dim]
};
using CaptureFn = std::function<void(const LayerCapture&)>;

struct PrefillResult {
  std::vector<at::Tensor> hidden;  // per prompt [len, hidden]: the final norm's output
};

struct RuntimeOptions {
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  std::string dtype;            // bf16 | f16 | f32; empty: the checkpoint's dtype
  int64_t query_block = 0;      // query rows per attention step: scores held are
                                // [q_heads, query_block, len] at a time. 0 (auto): all
                                // rows in one step, as HF eager (same matmul shapes, so
                                // the same rounding), while the f32 scores stay within
                                // 1 GiB; else the most rows that do
  // lone: bitwise batch identity; packed: the batch's rows concatenated (batch_mode.hpp)
  BatchMode batch_mode = BatchMode::Lone;
};

// "auto" -> the first CUDA device when libtorch sees one, else the CPU. Throws
// std::invalid_argument on a malformed name and std::runtime_error when CUDA is asked
// for but unavailable.
c10::Device resolve_device(const std::string& name);
// "bf16" | "f16" | "f32"; empty -> the config's dtype. std::invalid_argument naming --dtype
// (a usage error) otherwise.
c10::ScalarType resolve_dtype(const std::string& name, const ModelConfig& config);

class TransformerModel {
 public:
  // Loads config.json and the weights of `dir` onto the device in the dtype. Throws
  // InputError for an unsupported architecture, a missing or mis-shaped tensor, a
  // missing or corrupt shard.
  TransformerModel(const std::string& dir, const RuntimeOptions& options);
  ~TransformerModel();
  TransformerModel(const TransformerModel&) = delete;
  TransformerModel& operator=(const TransformerModel&) = delete;

  const ModelConfig& config() const;
  c10::Device device() const;
  c10::ScalarType dtype() const;

  // Runs prefill over `prompts` (token ids), layer by layer for the whole batch.
  // Positions count each prompt's own tokens from 0. Throws InputError for an empty
  // prompt, an id outside the vocabulary or a prompt longer than max_position_embeddings.
  PrefillResult prefill(const std::vector<std::vector<int64_t>>& prompts, const CaptureFn& capture = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The architectures TransformerModel runs, comma-separated.
std::string runtime_supported_model_types();

// Each prompt's k and v (and q when with_q) of every layer as a snapshot (f32, host),
// filled layer by layer from one batched prefill.
std::vector<Snapshot> capture_snapshots(TransformerModel& model,
                                        const std::vector<std::vector<int64_t>>& prompts, bool with_q);

// One prompt's q, k and v of every layer as a snapshot (f32).
Snapshot capture_snapshot(TransformerModel& model, const std::vector<int64_t>& ids);

}  // namespace qk
