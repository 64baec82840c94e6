#pragma once
// `qkgeom simplex`: the simplex CV of a checkpoint's weight matrices (embeddings, per layer the
// full and per-head q/k/v projections, o_proj per head) and, from a sweep store saved with
// --save-kv qkv, of the per-(layer, head) q/k/v activation clouds; written as one HDF5 table.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "simplex_cv.hpp"

namespace qk {

struct SimplexJobOptions {
  std::string model;  // HF model directory
  std::string from;   // optional RESULTS.h5 with kv/q, kv/k, kv/v
  SimplexOptions simplex;
  bool progress = true;  // a line per matrix group on stderr
};

struct SimplexRow {
  std::string name;  // embed_tokens, q_proj, k_proj, v_proj, q_proj.head, ..., o_proj.head, act.q, ...
  int64_t layer = -1, head = -1;
  std::string kind;  // weight | activation
  int64_t rows = 0, dim = 0;
  SimplexCv r;
};

struct SimplexJobResult {
  std::vector<SimplexRow> rows;
  std::string device = "cpu", gpu_name, started_at, finished_at;
  double seconds = 0;
};

// Throws InputError for a missing or mis-shaped tensor or dataset, std::invalid_argument for
// bad options, std::runtime_error for an unusable GPU.
SimplexJobResult simplex_model(const SimplexJobOptions& o);

// Writes `path` (via path.tmp and a rename): datasets name, layer, head, kind, rows, dim, cv,
// valid, null_mean, null_std, z, band (one entry per row), root attributes with the options
// and provenance.
void write_simplex_h5(const std::string& path, const SimplexJobResult& r, const SimplexJobOptions& o,
                      const std::string& command_line);

nlohmann::json simplex_json(const SimplexJobResult& r);

}  // namespace qk
