#include "bo/cloud_stats.hpp"

#include <cstddef>
#include <stdexcept>
#include <vector>

#include "internal_error.hpp"
#include "ops/head_gram_cpu.hpp"
#include "ops/kv_cka_cpu.hpp"
#include "ops/layer_alignment_cpu.hpp"
#include "ops/magnitude_entropy_cpu.hpp"
#include "ops/multi_head_pass_cpu.hpp"
#include "ops/position_cosine_cpu.hpp"

namespace qk {

namespace {

// Runs a per-matrix op over heads [0, nh) of every layer, writing [layers][nh].
// Matrix (l, h) starts at x + (l*heads + h) * seq*dim; when nh == heads the whole
// tensor is one strided batch, otherwise each head index is a batch over layers.
template <typename Op>
void per_head(const float* x, const CloudDims& d, int nh, Op op) {
  const int64_t m = d.head_elems();
  if (nh == d.heads) {
    op(x, static_cast<int64_t>(d.layers) * nh, m, 0, 1);
    return;
  }
  for (int h = 0; h < nh; ++h) op(x + h * m, d.layers, d.heads * m, h, nh);
}

}  // namespace

CloudStats compute_cloud_stats_cpu(const float* x, const CloudDims& d, const StatsPlan& plan) {
  if (plan.position_heads > d.heads || plan.entropy_heads > d.heads)
    throw InternalError("StatsPlan asks for more heads than the cloud has");
  CloudStats s;
  bool plan_done = false;  // head Gram, entropy and alignment already computed
  const size_t L = static_cast<size_t>(d.layers);
  if (plan.head_gram && plan.layer_alignment && plan.entropy_heads == d.heads) {
    // The multi-head mode's reductions share one pass over memory.
    s.head_gram.resize(L * d.heads * d.heads);
    s.entropy.resize(L * d.heads);
    s.layer_align.resize(L > 0 ? L - 1 : 0);
    multi_head_pass_cpu(x, d.layers, d.heads, d.seq, d.head_dim, plan.seed_f32_mean, s.head_gram.data(),
                        s.entropy.data(), s.layer_align.data());
    plan_done = true;
  }
  if (plan.head_gram && !plan_done) {
    s.head_gram.resize(L * d.heads * d.heads);
    head_gram_cpu(x, d.layers, d.heads, d.head_elems(), s.head_gram.data());
  }
  if (plan.position_heads > 0) {
    const int nh = plan.position_heads;
    s.pos_sum_cos.resize(L * nh);
    s.pos_below.resize(L * nh);
    per_head(x, d, nh, [&](const float* base, int64_t count, int64_t stride, int h0, int step) {
      std::vector<double> sums(static_cast<size_t>(count));
      std::vector<uint64_t> below(static_cast<size_t>(count));
      position_cosine_cpu(base, count, stride, d.seq, d.head_dim, plan.below_threshold, sums.data(),
                          below.data());
      for (int64_t c = 0; c < count; ++c) {
        s.pos_sum_cos[h0 + c * step] = sums[c];
        s.pos_below[h0 + c * step] = below[c];
      }
    });
  }
  if (plan.entropy_heads > 0 && !plan_done) {
    s.entropy.resize(L * plan.entropy_heads);
    per_head(x, d, plan.entropy_heads,
             [&](const float* base, int64_t count, int64_t stride, int h0, int step) {
               std::vector<double> e(static_cast<size_t>(count));
               magnitude_entropy_cpu(base, count, stride, d.seq, d.head_dim, e.data());
               for (int64_t c = 0; c < count; ++c) s.entropy[h0 + c * step] = e[c];
             });
  }
  if (plan.layer_alignment && d.layers > 1 && !plan_done) {
    s.layer_align.resize(L - 1);
    layer_alignment_cpu(x, d.layers, d.heads, d.head_elems(), plan.seed_f32_mean, s.layer_align.data());
  }
  return s;
}

std::vector<double> compute_kv_cka_cpu(const float* k, const float* v, const CloudDims& d) {
  std::vector<double> out(static_cast<size_t>(d.layers) * d.heads);
  kv_cka_cpu(k, v, static_cast<int64_t>(d.layers) * d.heads, d.head_elems(), d.seq, d.head_dim, out.data());
  return out;
}

}  // namespace qk
