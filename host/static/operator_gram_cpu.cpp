#include "operator_gram_cpu.hpp"

#include <cblas.h>

#include <stdexcept>

#include "internal_error.hpp"

namespace qk {

namespace {

// Rows [head * d, head * d + d) of every layer's weights, stacked: [L * d][hidden] fp64.
std::vector<double> stacked_head(const std::vector<const float*>& w, int64_t head, const StaticDims& d) {
  std::vector<double> s;
  s.reserve(w.size() * static_cast<size_t>(d.head_dim * d.hidden));
  for (const float* p : w) {
    const float* rows = p + head * d.head_dim * d.hidden;
    s.insert(s.end(), rows, rows + d.head_dim * d.hidden);
  }
  return s;
}

// The full symmetric n x n Gram s s^T of the row-major s [n][k] (dsyrk, then mirrored).
std::vector<double> gram_of(const std::vector<double>& s, int64_t n, int64_t k) {
  std::vector<double> g(static_cast<size_t>(n * n));
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(n), static_cast<int>(k), 1.0,
              s.data(), static_cast<int>(k), 0.0, g.data(), static_cast<int>(n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) g[j * n + i] = g[i * n + j];
  return g;
}

}  // namespace

std::vector<double> operator_gram_cpu(const std::vector<const float*>& wq,
                                      const std::vector<const float*>& wk, const StaticDims& d) {
  const int64_t L = d.layers, H = d.q_heads, D = d.head_dim, LD = L * D;
  if (static_cast<int64_t>(wq.size()) != L || static_cast<int64_t>(wk.size()) != L)
    throw InternalError("operator_gram_cpu: need one wq and one wk per layer");
  if (H <= 0 || d.kv_heads <= 0 || H % d.kv_heads != 0) throw InternalError("operator_gram_cpu: bad dims");
  std::vector<double> gram(static_cast<size_t>(L * L * H));
  std::vector<double> gk;  // the current KV group's stacked Gram [L d][L d]
  int64_t group = -1;
  for (int64_t h = 0; h < H; ++h) {
    if (h / d.group() != group) {
      group = h / d.group();
      gk = gram_of(stacked_head(wk, group, d), LD, d.hidden);
    }
    const std::vector<double> gq = gram_of(stacked_head(wq, h, d), LD, d.hidden);
    // Blockwise sum of (Q Q^T) o (K K^T): [L, D, L, D] -> [L, L], symmetric.
    std::vector<double> sums(static_cast<size_t>(L * L), 0.0);
    for (int64_t i = 0; i < LD; ++i)
      for (int64_t j = 0; j < LD; ++j) sums[(i / D) * L + j / D] += gq[i * LD + j] * gk[i * LD + j];
    for (int64_t l = 0; l < L; ++l)
      for (int64_t lp = 0; lp < L; ++lp)
        gram[static_cast<size_t>((l * L + lp) * H + h)] = (sums[l * L + lp] + sums[lp * L + l]) * 0.5;
  }
  return gram;
}

}  // namespace qk
