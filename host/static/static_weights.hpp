#pragma once
// `qkgeom weights`: a checkpoint's q/k projection weights -> static operator geometry
// (docs/static-geometry.md), layer by layer, then the operator Gram over layer pairs.
#include <cstdint>
#include <string>
#include <vector>

#include "bo/backend.hpp"
#include "hf_config.hpp"
#include "static_types.hpp"

namespace qk {

struct StaticOptions {
  std::string model;            // HF model directory
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  int64_t topk = 16;
  bool progress = true;  // per-layer progress on stderr
};

// Everything STATIC.h5 holds, plus where and how it was computed.
struct StaticResult {
  StaticDims dims;
  std::vector<LayerStatic> layers;  // [L]
  std::vector<double> gram;         // [L][L][Hq]
  std::string device = "cpu";       // "cpu" or "cuda:N"
  std::string gpu_name;
  std::string started_at, finished_at;
  double seconds = 0;          // wall time of the whole pass
  double read_seconds = 0;     // reading and converting the weights (the disk read)
  double spectra_seconds = 0;  // the per-layer spectra and eigen-structure
  double gram_seconds = 0;     // the operator Gram over layer pairs
};

// Reads the q/k projection weights layer by layer (f32 host copies of all of them are
// kept for the Gram: O(params of q and k) memory), computes on the chosen device, times.
// InputError names the file and tensor when one is missing or mis-shaped. Throws std::invalid_argument for a
// bad
// --topk or --device, std::runtime_error for an unusable GPU.
StaticResult compute_static_weights(const StaticOptions& options);

// Where the static passes (`weights`, `rope-geometry`) run for --device `spec`: auto
// picks the GPU twins only in a build that compiled them (QKGEOM_STATIC_GPU) and when a
// GPU answers, else the CPU; cuda[:N] without them or without that GPU throws
// std::runtime_error (exit 4); a bad spec std::invalid_argument (exit 2).
Backend static_backend(const std::string& spec);

// The checkpoint's attention dimensions (topk 0); InputError naming config.json unless
// layers, heads, kv heads, head_dim and hidden size are positive and the heads a
// multiple of the kv heads.
StaticDims attention_dims(const ModelConfig& c);

// One "<command>: layer l+1/L done, elapsed, ETA" line on stderr, `elapsed_s` seconds
// since the start.
void layer_progress(const char* command, int64_t l, int64_t layers, double elapsed_s);

}  // namespace qk
