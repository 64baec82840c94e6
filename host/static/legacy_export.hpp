#pragma once
// `--export-legacy DIR`: the seed scripts' inputs (docs/static-geometry.md):
//   DIR/grams.json            num_layers, num_heads, head_dim, hidden_size, gram [L][L][H],
//                             fro_sq [L][H] (the shortcut's, as the seed's JSON), eigdirs_path
//   DIR/grams-eigdirs.pt      {"eig_dirs": f32 [L, H, topk, hidden], "sym_eigs": f64 [L, H, 2d]},
//                             readable by torch.load(..., weights_only=True)
//   DIR/static-singvals.json  {num_layers, num_heads, static: [{metric_singvals_per_head}]}
//                             with the shortcut spectra
#include <string>

#include "static_weights.hpp"

namespace qk {

// Creates DIR when absent. StoreError naming the file on a write failure.
void export_legacy(const std::string& dir, const StaticResult& r);

}  // namespace qk
