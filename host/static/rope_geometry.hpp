#pragma once
// `qkgeom rope-geometry`: a checkpoint's q/k projection weights and RoPE frequencies ->
// the RoPE-aware operator geometry of every (layer, query head), layer by layer
// (docs/static-geometry.md, "RoPE-aware operator"). libtorch-free: the caller supplies
// the inverse frequencies (the engine: rope_inv_freq, HF's values).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hf_config.hpp"
#include "rope_operator.hpp"
#include "rope_sweep.hpp"

namespace qk {

// The r / 2 inverse frequencies (radians per position) of `rope` over r rotary dims.
using InvFreqFn = std::function<std::vector<double>(const RopeConfig& rope, int64_t r)>;

struct RopeGeometryOptions {
  std::string model;             // HF model directory
  std::vector<int64_t> offsets;  // empty: 0, 1, 2, 4, ... below max_position_embeddings
  std::string sweep;             // --sweep RESULTS.h5 (with --save-kv qkv); empty: none
  std::string device = "auto";   // auto | cpu | cuda | cuda:N (static_backend)
  bool progress = true;          // per-layer progress on stderr
};

struct RopeGeometryResult {
  StaticDims dims;  // topk unused (0)
  int64_t rotary_dim = 0;
  std::vector<int64_t> offsets;     // [O]
  std::vector<double> inv_freq;     // [L][r / 2] each layer's frequencies
  std::vector<int64_t> local_rope;  // [L] 1: the layer uses the sliding layers' RoPE (Gemma)
  std::vector<RopeLayer> layers;    // [L]
  std::optional<RopeSweep> sweep;   // with --sweep
  std::string device = "cpu";       // "cpu" or "cuda:N": where the layers were computed
  std::string gpu_name;
  std::string started_at, finished_at;
  double seconds = 0;
};

// The offsets used when none are given: 0 and the powers of two below max_positions.
std::vector<int64_t> default_rope_offsets(int64_t max_positions);

// InputError naming config.json for a model without RoPE (BERT, GPT-2) or without rotary
// dims, and naming the file and tensor for a missing, mis-shaped or non-finite weight;
// InputError naming the sweep store that check_rope_sweep or read_sweep_means refuses
// (before any weight is read);
// std::runtime_error / std::invalid_argument from static_backend for an unusable --device.
RopeGeometryResult compute_rope_geometry(const RopeGeometryOptions& o, const InvFreqFn& inv_freq);

}  // namespace qk
