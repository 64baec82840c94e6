#include "operator_gram_cpu.hpp"

#include <stdexcept>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "internal_error.hpp"

namespace qk {

namespace {

// Rows [head * d, head * d + d) of every layer's weights, stacked: [L * d, hidden] fp64.
at::Tensor stacked_head(const std::vector<const float*>& w, int64_t head, const StaticDims& d) {
  std::vector<at::Tensor> parts;
  parts.reserve(w.size());
  for (const float* p : w)
    parts.push_back(at::from_blob(const_cast<float*>(p) + head * d.head_dim * d.hidden,
                                  {d.head_dim, d.hidden}, at::kFloat));
  return at::cat(parts, 0).to(at::kDouble);
}

}  // namespace

std::vector<double> operator_gram_cpu(const std::vector<const float*>& wq,
                                      const std::vector<const float*>& wk, const StaticDims& d) {
  const int64_t L = d.layers, H = d.q_heads, D = d.head_dim;
  if (static_cast<int64_t>(wq.size()) != L || static_cast<int64_t>(wk.size()) != L)
    throw InternalError("operator_gram_cpu: need one wq and one wk per layer");
  if (H <= 0 || d.kv_heads <= 0 || H % d.kv_heads != 0)
    throw InternalError("operator_gram_cpu: bad dims");
  c10::InferenceMode guard;
  std::vector<double> gram(static_cast<size_t>(L * L * H));
  at::Tensor gk;  // the current KV group's stacked Gram [L d, L d]
  int64_t group = -1;
  for (int64_t h = 0; h < H; ++h) {
    if (h / d.group() != group) {
      group = h / d.group();
      const at::Tensor ks = stacked_head(wk, group, d);
      gk = at::matmul(ks, ks.t());
    }
    const at::Tensor qs = stacked_head(wq, h, d);
    // Blockwise sum of (Q Q^T) o (K K^T): [L, D, L, D] -> [L, L].
    const at::Tensor sums = (at::matmul(qs, qs.t()) * gk).view({L, D, L, D}).sum({1, 3});
    const at::Tensor blocks = ((sums + sums.t()) * 0.5).contiguous();
    const double* b = blocks.data_ptr<double>();
    for (int64_t l = 0; l < L; ++l)
      for (int64_t lp = 0; lp < L; ++lp) gram[static_cast<size_t>((l * L + lp) * H + h)] = b[l * L + lp];
  }
  return gram;
}

}  // namespace qk
