#include "ops/attention_stats_cpu.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "online_softmax.hpp"
#include "ops/blas_threads.hpp"

namespace qk {

namespace {

constexpr int64_t kQueryBlock = 64;  // queries per task
constexpr int64_t kKeyTile = 256;    // keys per fp64 GEMM tile

// Per-task output: sums over the block's queries of H_i, std_i, p_i0 and the mass per
// distance bucket.
struct BlockSums {
  double entropy = 0, logit_std = 0, sink = 0;
  double distance[kDistanceBuckets] = {};
};

// One query's online state over the keys seen so far.
struct RowState {
  SoftmaxEntropyState<double> ent;
  RunningMoments<double> mom;
  DistanceMass<double> dist;
  double s0 = 0;  // the logit of key 0, when seen
  bool has0 = false;
};

// The logit soft-capping of Gemma 2 on n logits s: s <- cap tanh(s / cap) (cap > 0).
void soft_cap(double* s, int64_t n, double cap) {
  for (int64_t i = 0; i < n; ++i) s[i] = cap * std::tanh(s[i] / cap);
}

// Adds the logits x[0..n) of query i, keys j0 .. j0 + n - 1, to its state (the distance
// masses only when `distance`).
void row_tile(RowState& r, const double* x, int n, int64_t i, int64_t j0, bool distance) {
  attention_row_tile(r.ent, r.mom, x, n, distance ? &r.dist : nullptr, i, j0);
  if (j0 == 0) {
    r.s0 = x[0];
    r.has0 = true;
  }
}

// Adds query r's entropy, logit std, sink mass and distance masses to out.
void add_row(BlockSums& out, const RowState& r) {
  out.entropy += softmax_entropy_value(r.ent);
  out.logit_std += moments_population_std(r.mom);
  out.sink += r.has0 ? softmax_probability(r.ent, r.s0) : softmax_masked_probability(r.ent);
  for (int b = 0; b < kDistanceBuckets; ++b) out.distance[b] += distance_mass_value(r.dist, b, r.ent);
}

// Statistics of queries [q0, q0 + nq) of one head: q block and key rows in fp64,
// logits of one key tile at a time from dgemm (soft-capped when softcap > 0), each
// query's online state updated over the keys it may see (distance masses when `distance`).
BlockSums query_block(const float* qh, const float* kh, int64_t q0, int64_t nq, int64_t seq, int64_t dim,
                      double scale, double softcap, AttentionMask mask, int64_t window, bool distance,
                      std::vector<double>& qd, std::vector<double>& kd, std::vector<double>& s) {
  for (int64_t r = 0; r < nq; ++r)
    for (int64_t d = 0; d < dim; ++d) qd[r * dim + d] = qh[(q0 + r) * dim + d];
  std::vector<RowState> rows(static_cast<size_t>(nq));
  int64_t lo_first, hi_first, lo_last, hi_last;
  attention_allowed_keys(mask, q0, seq, window, &lo_first, &hi_first);
  attention_allowed_keys(mask, q0 + nq - 1, seq, window, &lo_last, &hi_last);
  for (int64_t k0 = lo_first; k0 < hi_last; k0 += kKeyTile) {
    const int64_t nk = std::min(kKeyTile, hi_last - k0);
    for (int64_t c = 0; c < nk; ++c)
      for (int64_t d = 0; d < dim; ++d) kd[c * dim + d] = kh[(k0 + c) * dim + d];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nq), static_cast<int>(nk),
                static_cast<int>(dim), scale, qd.data(), static_cast<int>(dim), kd.data(),
                static_cast<int>(dim), 0.0, s.data(), static_cast<int>(nk));
    if (softcap > 0) soft_cap(s.data(), nq * nk, softcap);
    for (int64_t r = 0; r < nq; ++r) {
      int64_t lo, hi;
      attention_allowed_keys(mask, q0 + r, seq, window, &lo, &hi);
      const int64_t a = std::max(lo, k0), b = std::min(hi, k0 + nk);
      if (a < b)
        row_tile(rows[r], s.data() + r * nk + (a - k0), static_cast<int>(b - a), q0 + r, a, distance);
    }
  }
  BlockSums out;
  for (const RowState& r : rows) add_row(out, r);
  return out;
}

// The per-head means over the seq queries of the per-task sums [q_heads][blocks], in
// block order (deterministic); distance [q_heads][kDistanceBuckets] unless null.
void write_head_means(const std::vector<BlockSums>& sums, int64_t blocks, int q_heads, int64_t seq,
                      double* entropy, double* logit_std, double* sink, double* distance) {
  const auto n = static_cast<double>(seq);
  for (int h = 0; h < q_heads; ++h) {
    BlockSums total;
    for (int64_t b = 0; b < blocks; ++b) {
      const BlockSums& x = sums[static_cast<size_t>(h * blocks + b)];
      total.entropy += x.entropy;
      total.logit_std += x.logit_std;
      total.sink += x.sink;
      for (int c = 0; c < kDistanceBuckets; ++c) total.distance[c] += x.distance[c];
    }
    entropy[h] = total.entropy / n;
    logit_std[h] = total.logit_std / n;
    sink[h] = total.sink / n;
    if (distance)
      for (int c = 0; c < kDistanceBuckets; ++c) distance[h * kDistanceBuckets + c] = total.distance[c] / n;
  }
}

}  // namespace

void check_attention_stats_args(int q_heads, int kv_heads, int64_t seq, int64_t head_dim, float scale,
                                AttentionMask mask, int64_t window, float softcap) {
  if (q_heads < 0 || kv_heads < 0 || seq < 0 || head_dim < 1)
    throw std::invalid_argument("attention_stats: negative size or head_dim < 1");
  if (q_heads > 0 && (kv_heads == 0 || q_heads % kv_heads != 0))
    throw std::invalid_argument("attention_stats: q_heads (" + std::to_string(q_heads) +
                                ") must be a positive multiple of kv_heads (" + std::to_string(kv_heads) +
                                ")");
  if (!std::isfinite(scale)) throw std::invalid_argument("attention_stats: scale is not finite");
  if (!std::isfinite(softcap) || softcap < 0)
    throw std::invalid_argument("attention_stats: the logit soft-cap must be finite and >= 0 (0: none)");
  if (mask == AttentionMask::SlidingWindow && window < 1)
    throw std::invalid_argument("attention_stats: a sliding window needs window >= 1, not " +
                                std::to_string(window));
}

void attention_stats_cpu(const float* q, const float* k, int q_heads, int kv_heads, int64_t seq,
                         int64_t head_dim, float scale, AttentionMask mask, int64_t window, double* entropy,
                         double* logit_std, double* sink, float softcap, double* distance) {
  check_attention_stats_args(q_heads, kv_heads, seq, head_dim, scale, mask, window, softcap);
  if (q_heads == 0) return;
  if (seq == 0) {
    std::fill(entropy, entropy + q_heads, 0.0);
    std::fill(logit_std, logit_std + q_heads, 0.0);
    std::fill(sink, sink + q_heads, 0.0);
    if (distance) std::fill(distance, distance + q_heads * kDistanceBuckets, 0.0);
    return;
  }
  use_single_threaded_blas();
  const int group = q_heads / kv_heads;
  const int64_t blocks = (seq + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = static_cast<int64_t>(q_heads) * blocks;
  std::vector<BlockSums> sums(static_cast<size_t>(tasks));
  const int64_t dim = head_dim;
#pragma omp parallel
  {
    std::vector<double> qd(static_cast<size_t>(kQueryBlock * dim), 0.0);
    std::vector<double> kd(static_cast<size_t>(kKeyTile * dim), 0.0);
    std::vector<double> s(static_cast<size_t>(kQueryBlock * kKeyTile));
#pragma omp for schedule(dynamic)
    for (int64_t t = 0; t < tasks; ++t) {
      const int h = static_cast<int>(t / blocks);
      const int64_t q0 = (t % blocks) * kQueryBlock;
      const int64_t nq = std::min(kQueryBlock, seq - q0);
      const float* qh = q + static_cast<int64_t>(h) * seq * head_dim;
      const float* kh = k + static_cast<int64_t>(h / group) * seq * head_dim;
      sums[static_cast<size_t>(t)] = query_block(qh, kh, q0, nq, seq, head_dim, scale, softcap, mask, window,
                                                 distance != nullptr, qd, kd, s);
    }
  }
  write_head_means(sums, blocks, q_heads, seq, entropy, logit_std, sink, distance);
}

}  // namespace qk
