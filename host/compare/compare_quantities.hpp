#pragma once
// What `qkgeom compare` compares: sweep columns named as in the registry of stored
// quantities (host/core/quantities.hpp), and how each is defined for a given run, so that
// a comparison across the composite's switch at 4 KV heads is flagged (docs/metrics.md,
// "Comparing models").
#include <string>
#include <vector>

namespace qk {

// A compared quantity: a per-probe column (scalar) or a per-layer one (a depth profile,
// averaged over its head axis when it has one).
struct ComparedQuantity {
  std::string path;     // the sweep dataset, e.g. "attention/mean_entropy"
  bool per_layer;       // rows [L] or [L, heads]: a depth profile
  bool mode_dependent;  // defined differently in the multi-head and position-wise modes
};

// The scalar quantities (summaries, paired tests, rank agreement), in output order.
const std::vector<ComparedQuantity>& scalar_quantities();
// The per-layer quantities (depth profiles).
const std::vector<ComparedQuantity>& layer_quantities();

// The scalar quantities defined the same way for every model: the columns of the
// "invariant" feature vector of CKA and RSA.
std::vector<std::string> invariant_paths();

// How quantity `q` is defined in a run with the given mode: "attention" for the attention
// statistics; "all kv heads" or "kv head 0" (--lem-compat, position-wise) for the key
// entropy and K-V coupling; "multi-head" or "position-wise", with "/lem-compat" for a
// --lem-compat run, for the mode-dependent ones.
std::string quantity_definition(const ComparedQuantity& q, bool position_mode, bool lem_compat);

}  // namespace qk
