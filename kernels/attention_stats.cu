// Attention statistics, flash-style. Grid (query tiles, q heads); a block of 256
// threads owns 64 queries. Per key tile of 64: the 64 x 64 logits from fp32 dot
// products over 32-dim chunks of Q and K in shared memory (4 x 4 per thread), then
// four threads per query each fold 16 of the tile's logits into their own online
// state (attention_row_tile: fp32 tile sums, fp64 running l, w, mean, M2) and its
// fp64 softmax numerators per distance bucket. At the end the four
// states merge by shuffles, the block sums its queries in a fixed order (shared memory:
// 3 + 16 doubles per query), and a second kernel sums the tiles of each head in order
// (deterministic).
#include "attention_stats.cuh"

#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "cuda_check.hpp"
#include "gpu_context.hpp"
#include "online_softmax.hpp"

namespace qk {
namespace {

constexpr int kThreads = 256;
constexpr int kBQ = 64;                       // queries per block
constexpr int kBK = 64;                       // keys per tile
constexpr int kDK = 32;                       // head dims per shared chunk
constexpr int kPartsPerRow = kThreads / kBQ;  // threads per query in the row stage
constexpr int kColsPerPart = kBK / kPartsPerRow;
constexpr int kStats = 3 + kDistanceBuckets;  // entropy, logit std, sink, distance buckets

__device__ __forceinline__ void shfl_merge(SoftmaxEntropyState<double>& st, RunningMoments<double>& mom,
                                           float& s0, int& has0, int lane_mask) {
  SoftmaxEntropyState<double> o;
  o.m = __shfl_xor_sync(0xffffffffu, st.m, lane_mask);
  o.l = __shfl_xor_sync(0xffffffffu, st.l, lane_mask);
  o.w = __shfl_xor_sync(0xffffffffu, st.w, lane_mask);
  RunningMoments<double> om;
  om.n = __shfl_xor_sync(0xffffffffu, mom.n, lane_mask);
  om.mean = __shfl_xor_sync(0xffffffffu, mom.mean, lane_mask);
  om.m2 = __shfl_xor_sync(0xffffffffu, mom.m2, lane_mask);
  const float os0 = __shfl_xor_sync(0xffffffffu, s0, lane_mask);
  const int ohas = __shfl_xor_sync(0xffffffffu, has0, lane_mask);
  const int lane = threadIdx.x % 32;
  // The lower lane of each pair merges (self, other); the result is kept by part 0.
  if ((lane & lane_mask) == 0) {
    softmax_entropy_merge(st, o);
    moments_merge(mom, om);
    if (ohas) {
      s0 = os0;
      has0 = 1;
    }
  }
}

// Each query's distance masses into rows[3 + b][row]: the four parts' numerators, kept
// at their own references m_own, rescaled to the merged state (m, l) of part 0 and summed
// by shuffles (0 for a query past seq; NaN when its logits hold a NaN).
__device__ void distance_rows(const DistanceMass<double>& dm, double m_own, bool own_empty,
                              const SoftmaxEntropyState<double>& st, int row, int part, double (*rows)[kBQ]) {
  const int lane = threadIdx.x % 32;
  const double m = __shfl_sync(0xffffffffu, st.m, lane & ~3);
  const double l = __shfl_sync(0xffffffffu, st.l, lane & ~3);
  const double scale = own_empty || l == 0.0 ? 0.0 : ::exp(m_own - m) / l;
  for (int b = 0; b < kDistanceBuckets; ++b) {
    double v = own_empty || l == 0.0 ? 0.0 : dm.e[b] * scale;
    if (isnan(l)) v = l;  // a NaN row stays NaN in every bucket
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    v += __shfl_xor_sync(0xffffffffu, v, 2);
    if (part == 0) rows[3 + b][row] = v;
  }
}

// partial[(h * gridDim.x + tile) * kStats + c]: sums over the tile's queries of H_i,
// std_i, p_i0 and the mass of each distance bucket.
__global__ void __launch_bounds__(kThreads)
    attention_stats_tile_kernel(const float* __restrict__ q, const float* __restrict__ k, int group,
                                int64_t seq, int64_t dim, float scale, float softcap, AttentionMask mask,
                                int64_t window, double* __restrict__ partial) {
  __shared__ float qs[kBQ][kDK + 1];
  __shared__ float ks[kBK][kDK + 1];
  __shared__ float ss[kBQ][kBK + 1];
  __shared__ double rows[kStats][kBQ];

  const int h = blockIdx.y;
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kBQ;
  const float* qh = q + static_cast<int64_t>(h) * seq * dim;
  const float* kh = k + static_cast<int64_t>(h / group) * seq * dim;
  const int t = threadIdx.x;
  const int ty = t / 16, tx = t % 16;
  const int row = t / kPartsPerRow, part = t % kPartsPerRow;
  const int64_t i = q0 + row;

  int64_t lo = 0, hi = 0;
  if (i < seq) attention_allowed_keys(mask, i, seq, window, &lo, &hi);
  const int64_t q_last = (q0 + kBQ < seq ? q0 + kBQ : seq) - 1;
  int64_t k_begin, k_tmp, k_end;
  attention_allowed_keys(mask, q0, seq, window, &k_begin, &k_tmp);
  attention_allowed_keys(mask, q_last, seq, window, &k_tmp, &k_end);

  SoftmaxEntropyState<double> st;
  RunningMoments<double> mom;
  DistanceMass<double> dm;
  float s0 = 0.0f;
  int has0 = 0;

  for (int64_t kt = k_begin; kt < k_end; kt += kBK) {
    float acc[4][4] = {};
    for (int64_t d0 = 0; d0 < dim; d0 += kDK) {
      for (int e = t; e < kBQ * kDK; e += kThreads) {
        const int r = e / kDK, c = e % kDK;
        const int64_t qi = q0 + r, kj = kt + r, dd = d0 + c;
        qs[r][c] = (qi < seq && dd < dim) ? qh[qi * dim + dd] : 0.0f;
        ks[r][c] = (kj < seq && dd < dim) ? kh[kj * dim + dd] : 0.0f;
      }
      __syncthreads();
#pragma unroll 8
      for (int kk = 0; kk < kDK; ++kk) {
        float a[4], b[4];
#pragma unroll
        for (int x = 0; x < 4; ++x) a[x] = qs[ty * 4 + x][kk];
#pragma unroll
        for (int y = 0; y < 4; ++y) b[y] = ks[tx + 16 * y][kk];
#pragma unroll
        for (int x = 0; x < 4; ++x)
#pragma unroll
          for (int y = 0; y < 4; ++y) acc[x][y] = fmaf(a[x], b[y], acc[x][y]);
      }
      __syncthreads();
    }
#pragma unroll
    for (int x = 0; x < 4; ++x)
#pragma unroll
      for (int y = 0; y < 4; ++y) {
        const float s = acc[x][y] * scale;
        ss[ty * 4 + x][tx + 16 * y] = softcap > 0.0f ? softcap * tanhf(s / softcap) : s;
      }
    __syncthreads();

    if (i < seq) {
      const int64_t c0 = kt + part * kColsPerPart;
      const int64_t a = lo > c0 ? lo : c0;
      const int64_t b = hi < c0 + kColsPerPart ? hi : c0 + kColsPerPart;
      if (a < b) {
        const float* x = &ss[row][part * kColsPerPart + static_cast<int>(a - c0)];
        attention_row_tile(st, mom, x, static_cast<int>(b - a), &dm, i, a);
        if (a == 0) {
          s0 = x[0];
          has0 = 1;
        }
      }
    }
    __syncthreads();
  }

  const double m_own = st.m;
  const bool own_empty = st.l == 0.0;
  shfl_merge(st, mom, s0, has0, 1);
  shfl_merge(st, mom, s0, has0, 2);
  distance_rows(dm, m_own, own_empty, st, row, part, rows);
  if (part == 0) {
    double hv = 0.0, sv = 0.0, pv = 0.0;
    if (i < seq) {
      hv = softmax_entropy_value(st);
      sv = moments_population_std(mom);
      pv = has0 ? softmax_probability(st, static_cast<double>(s0)) : softmax_masked_probability(st);
    }
    rows[0][row] = hv;
    rows[1][row] = sv;
    rows[2][row] = pv;
  }
  __syncthreads();
  if (t < kStats) {
    double total = 0.0;
    for (int r = 0; r < kBQ; ++r) total += rows[t][r];
    partial[(static_cast<int64_t>(h) * gridDim.x + blockIdx.x) * kStats + t] = total;
  }
}

// out_c[h] = (sum over tiles of partial[h][tile][c]) / seq, tiles in order; the distance
// buckets (c >= 3) go to distance[h][c - 3] unless it is null.
__global__ void attention_stats_finish_kernel(const double* __restrict__ partial, int q_heads, int tiles,
                                              int64_t seq, double* entropy, double* logit_std, double* sink,
                                              double* distance) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= q_heads * kStats) return;
  const int h = idx / kStats, c = idx % kStats;
  if (c >= 3 && distance == nullptr) return;
  double total = 0.0;
  for (int b = 0; b < tiles; ++b) total += partial[(static_cast<int64_t>(h) * tiles + b) * kStats + c];
  double* out =
      c == 0 ? entropy + h
             : (c == 1 ? logit_std + h : (c == 2 ? sink + h : distance + h * kDistanceBuckets + c - 3));
  *out = total / static_cast<double>(seq);
}

}  // namespace

void launch_attention_stats(const float* q, const float* k, int q_heads, int kv_heads, int64_t seq,
                            int64_t head_dim, float scale, AttentionMask mask, int64_t window,
                            double* entropy, double* logit_std, double* sink, cudaStream_t stream,
                            float softcap, double* distance) {
  if (q_heads < 0 || kv_heads < 0 || seq < 0 || head_dim < 1)
    throw std::invalid_argument("launch_attention_stats: negative size or head_dim < 1");
  if (q_heads > 0 && (kv_heads == 0 || q_heads % kv_heads != 0))
    throw std::invalid_argument("launch_attention_stats: q_heads (" + std::to_string(q_heads) +
                                ") must be a positive multiple of kv_heads (" + std::to_string(kv_heads) +
                                ")");
  if (mask == AttentionMask::SlidingWindow && window < 1)
    throw std::invalid_argument("launch_attention_stats: a sliding window needs window >= 1");
  if (!std::isfinite(softcap) || softcap < 0.0f)
    throw std::invalid_argument("launch_attention_stats: the logit soft-cap must be finite and >= 0");
  if (q_heads == 0) return;
  if (entropy == nullptr || logit_std == nullptr || sink == nullptr ||
      (seq > 0 && (q == nullptr || k == nullptr)))
    throw std::invalid_argument("launch_attention_stats: null pointer");
  if (seq == 0) {
    CUDA_CHECK(cudaMemsetAsync(entropy, 0, sizeof(double) * q_heads, stream));
    CUDA_CHECK(cudaMemsetAsync(logit_std, 0, sizeof(double) * q_heads, stream));
    CUDA_CHECK(cudaMemsetAsync(sink, 0, sizeof(double) * q_heads, stream));
    if (distance)
      CUDA_CHECK(cudaMemsetAsync(distance, 0, sizeof(double) * q_heads * kDistanceBuckets, stream));
    return;
  }
  const int64_t tiles = (seq + kBQ - 1) / kBQ;
  if (tiles > 0x7fffffff || q_heads > 65535)
    throw std::invalid_argument("launch_attention_stats: grid too large");
  // Freed in stream order when it goes out of scope, also when a launch check throws.
  DeviceBuffer<double> partial(static_cast<size_t>(kStats) * q_heads * tiles, stream);
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(q_heads));
  attention_stats_tile_kernel<<<grid, kThreads, 0, stream>>>(q, k, q_heads / kv_heads, seq, head_dim, scale,
                                                             softcap, mask, window, partial.data());
  QK_LAUNCH_CHECK();
  const int n = q_heads * kStats;
  attention_stats_finish_kernel<<<(n + 127) / 128, 128, 0, stream>>>(
      partial.data(), q_heads, static_cast<int>(tiles), seq, entropy, logit_std, sink, distance);
  QK_LAUNCH_CHECK();
}

}  // namespace qk
