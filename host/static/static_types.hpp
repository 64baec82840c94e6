#pragma once
// Static operator geometry of one checkpoint's attention weights (issue 5; definitions in
// docs/static-geometry.md). For layer l and query head h of KV group g = h / (Hq / Hkv):
//   Q = W_Q^h (d x hidden), K = W_K^g (d x hidden), the bilinear operator g = Q^T K
//   (hidden x hidden, rank <= d), never formed.
// Shapes are row-major; all math in fp64.
#include <cstdint>
#include <vector>

namespace qk {

struct StaticDims {
  int64_t layers = 0, q_heads = 0, kv_heads = 0, head_dim = 0, hidden = 0;
  int64_t topk = 0;  // eigenvectors of the symmetric part kept per head (<= 2 * head_dim)
  int64_t group() const { return q_heads / kv_heads; }
};

// One layer's per-head results.
struct LayerStatic {
  std::vector<double> exact_sv;  // [Hq][d]     singular values of Q^T K, descending
  std::vector<double>
      shortcut_sv;  // [Hq][d]     singular values of K Q^T (the seed's d x d shortcut), descending
  std::vector<double> sym_eig;  // [Hq][2d]    eigenvalues of (g + g^T)/2, by |value| descending, signs kept
  std::vector<float> sym_vec;   // [Hq][topk][hidden] unit eigenvectors of those first topk eigenvalues
  std::vector<double> fro_sq;   // [Hq]        ||Q^T K||_F^2
  std::vector<double> fro_sq_shortcut;  // [Hq]    ||K Q^T||_F^2
};

}  // namespace qk
