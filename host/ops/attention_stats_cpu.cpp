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

// Per-task output: sums over the block's queries of H_i, std_i and p_i0.
struct BlockSums {
  double entropy = 0, logit_std = 0, sink = 0;
};

// The logit soft-capping of Gemma 2 on n logits s: s <- cap tanh(s / cap) (cap > 0).
void soft_cap(double* s, int64_t n, double cap) {
  for (int64_t i = 0; i < n; ++i) s[i] = cap * std::tanh(s[i] / cap);
}

// Statistics of queries [q0, q0 + nq) of one head: q block and key rows in fp64,
// logits of one key tile at a time from dgemm (soft-capped when softcap > 0), each
// query's online state updated over the keys it may see.
BlockSums query_block(const float* qh, const float* kh, int64_t q0, int64_t nq, int64_t seq, int64_t dim,
                      double scale, double softcap, AttentionMask mask, int64_t window,
                      std::vector<double>& qd, std::vector<double>& kd, std::vector<double>& s) {
  for (int64_t r = 0; r < nq; ++r)
    for (int64_t d = 0; d < dim; ++d) qd[r * dim + d] = qh[(q0 + r) * dim + d];
  std::vector<SoftmaxEntropyState<double>> ent(static_cast<size_t>(nq));
  std::vector<RunningMoments<double>> mom(static_cast<size_t>(nq));
  std::vector<double> s0(static_cast<size_t>(nq), 0.0);
  std::vector<char> has0(static_cast<size_t>(nq), 0);

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
      if (a >= b) continue;
      const double* row = s.data() + r * nk;
      attention_row_tile(ent[r], mom[r], row + (a - k0), static_cast<int>(b - a));
      if (a == 0) {
        s0[r] = row[0];
        has0[r] = 1;
      }
    }
  }
  BlockSums out;
  for (int64_t r = 0; r < nq; ++r) {
    out.entropy += softmax_entropy_value(ent[r]);
    out.logit_std += moments_population_std(mom[r]);
    out.sink += has0[r] ? softmax_probability(ent[r], s0[r]) : softmax_masked_probability(ent[r]);
  }
  return out;
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
                         double* logit_std, double* sink, float softcap) {
  check_attention_stats_args(q_heads, kv_heads, seq, head_dim, scale, mask, window, softcap);
  if (q_heads == 0) return;
  if (seq == 0) {
    std::fill(entropy, entropy + q_heads, 0.0);
    std::fill(logit_std, logit_std + q_heads, 0.0);
    std::fill(sink, sink + q_heads, 0.0);
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
      sums[static_cast<size_t>(t)] =
          query_block(qh, kh, q0, nq, seq, head_dim, scale, softcap, mask, window, qd, kd, s);
    }
  }
  for (int h = 0; h < q_heads; ++h) {
    BlockSums total;
    for (int64_t b = 0; b < blocks; ++b) {
      const BlockSums& x = sums[static_cast<size_t>(h * blocks + b)];
      total.entropy += x.entropy;
      total.logit_std += x.logit_std;
      total.sink += x.sink;
    }
    entropy[h] = total.entropy / static_cast<double>(seq);
    logit_std[h] = total.logit_std / static_cast<double>(seq);
    sink[h] = total.sink / static_cast<double>(seq);
  }
}

}  // namespace qk
