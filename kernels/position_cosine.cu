// Position x position cosine reductions without S x S storage.
//   sum_cos: sum_{i<j} u_i.u_j = (|sum_i u_i|^2 - sum_i |u_i|^2) / 2 over the fp64
//            unit rows u_i = x_i / |x_i| (zero rows stay zero), deterministic.
//   below:   an fp32 register-tiled product of the fp32 unit rows over the upper
//            triangle of 64 x 64 tiles; pairs whose fp32 cosine lies within
//            fp32_unit_dot_error_bound(dim) of the threshold are re-decided with
//            seed_cosine on the raw rows, so the count equals the seed's fp64 one.
// Matrices are processed in chunks so the scratch stays under kScratchBudget.
#include "position_cosine.cuh"

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>

#include "block_reduce.cuh"
#include "cuda_check.hpp"
#include "gpu_context.hpp"
#include "seed_math.hpp"

namespace qk {
namespace {

constexpr size_t kScratchBudget = size_t{256} << 20;  // bytes of scratch per chunk
constexpr int64_t kMaxGridY = 65535;

constexpr int kRowThreads = 256;  // normalisation: one warp per row
constexpr int kRowWarps = kRowThreads / dev::kWarp;

constexpr int kColX = 32;  // column sums: 32 columns x 8 row lanes
constexpr int kColY = 8;

constexpr int kSumThreads = 256;  // finalisation of sum_cos: one block per matrix

constexpr int kTile = 64;           // count: rows/cols of a tile
constexpr int kBK = 16;             // dims staged per step
constexpr int kCountThreads = 256;  // 16 x 16 threads, 4 x 4 pairs each
constexpr int kMicro = 4;
constexpr int kPad = 4;  // shared-memory row padding (bank spread on stores)

// Rows of matrices c0 + blockIdx.y. For row i (one warp):
//   inv_norm[i] = 1/|x_i| (0 for a zero row), unit[i][d] = f32(x_i[d] * inv_norm[i]),
//   self_sq[i]  = sum_d (x_i[d] * inv_norm[i])^2 in fp64.
// unit: [chunk][seq][dim] f32; inv_norm, self_sq: [chunk][seq] f64.
__global__ void __launch_bounds__(kRowThreads)
    normalize_rows(const float* __restrict__ x, int64_t stride, int64_t seq, int64_t dim, int64_t c0,
                   float* __restrict__ unit, double* __restrict__ inv_norm, double* __restrict__ self_sq) {
  const int lane = threadIdx.x % dev::kWarp, warp = threadIdx.x / dev::kWarp;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kRowWarps + warp;
  if (i >= seq) return;  // whole warps leave together
  const int64_t cl = blockIdx.y;
  const float* row = x + (c0 + cl) * stride + i * dim;
  double ss = 0.0;
  for (int64_t d = lane; d < dim; d += dev::kWarp) {
    const double v = row[d];
    ss += v * v;
  }
  ss = __shfl_sync(0xffffffffu, dev::warp_sum(ss), 0);
  const double inv = ss > 0.0 ? 1.0 / sqrt(ss) : 0.0;
  float* out = unit + (cl * seq + i) * dim;
  double us = 0.0;
  for (int64_t d = lane; d < dim; d += dev::kWarp) {
    const double ud = static_cast<double>(row[d]) * inv;
    out[d] = static_cast<float>(ud);
    us += ud * ud;
  }
  us = dev::warp_sum(us);
  if (lane == 0) {
    inv_norm[cl * seq + i] = inv;
    self_sq[cl * seq + i] = us;
  }
}

// colsum[cl][d] = sum_i x_i[d] * inv_norm[i] in fp64 for matrix c0 + cl; each of
// the kColY row lanes sums rows ty, ty + kColY, ..., then the lanes in order.
__global__ void __launch_bounds__(kColX* kColY)
    column_unit_sums(const float* __restrict__ x, int64_t stride, int64_t seq, int64_t dim, int64_t c0,
                     const double* __restrict__ inv_norm, double* __restrict__ colsum) {
  __shared__ double part[kColY][kColX];
  const int tx = threadIdx.x % kColX, ty = threadIdx.x / kColX;
  const int64_t d = static_cast<int64_t>(blockIdx.x) * kColX + tx;
  const int64_t cl = blockIdx.y;
  const float* m = x + (c0 + cl) * stride;
  const double* inv = inv_norm + cl * seq;
  double s = 0.0;
  if (d < dim) {
    for (int64_t i = ty; i < seq; i += kColY) s += static_cast<double>(m[i * dim + d]) * inv[i];
  }
  part[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && d < dim) {
    double t = 0.0;
    for (int y = 0; y < kColY; ++y) t += part[y][tx];
    colsum[cl * dim + d] = t;
  }
}

// sum_cos[c0 + cl] = (sum_d colsum[cl][d]^2 - sum_i self_sq[cl][i]) / 2; one block per
// matrix; 0 when seq < 2.
__global__ void __launch_bounds__(kSumThreads)
    finalize_sum_cos(const double* __restrict__ colsum, const double* __restrict__ self_sq, int64_t seq,
                     int64_t dim, int64_t c0, double* __restrict__ sum_cos) {
  __shared__ double scratch[kSumThreads / dev::kWarp];
  const int64_t cl = blockIdx.x;
  double tt = 0.0, ss = 0.0;
  for (int64_t d = threadIdx.x; d < dim; d += kSumThreads) {
    const double v = colsum[cl * dim + d];
    tt += v * v;
  }
  for (int64_t i = threadIdx.x; i < seq; i += kSumThreads) ss += self_sq[cl * seq + i];
  tt = dev::block_sum<kSumThreads>(tt, scratch);
  ss = dev::block_sum<kSumThreads>(ss, scratch);
  if (threadIdx.x == 0) sum_cos[c0 + cl] = seq < 2 ? 0.0 : 0.5 * (tt - ss);
}

// Tile t of the upper triangle (ti <= tj), numbered column by column:
// t = tj (tj + 1) / 2 + ti.
__device__ inline void decode_tile(int64_t t, int64_t* ti, int64_t* tj) {
  int64_t r = static_cast<int64_t>((sqrt(8.0 * static_cast<double>(t) + 1.0) - 1.0) * 0.5);
  while (r > 0 && r * (r + 1) / 2 > t) --r;
  while ((r + 1) * (r + 2) / 2 <= t) ++r;
  *tj = r;
  *ti = t - r * (r + 1) / 2;
}

// below[c0 + blockIdx.y] += number of pairs i < j of tile blockIdx.x whose cosine is
// below `threshold` (see the file comment). unit: [chunk][seq][dim] f32 unit rows;
// x: the raw matrices for the re-check. `below` must be zeroed beforehand.
__global__ void __launch_bounds__(kCountThreads)
    count_below_tiles(const float* __restrict__ unit, const float* __restrict__ x, int64_t stride,
                      int64_t seq, int64_t dim, int64_t c0, double threshold, double margin,
                      unsigned long long* __restrict__ below) {
  __shared__ float As[kBK][kTile + kPad];
  __shared__ float Bs[kBK][kTile + kPad];
  __shared__ unsigned int warp_counts[kCountThreads / dev::kWarp];

  int64_t ti = 0, tj = 0;
  decode_tile(blockIdx.x, &ti, &tj);
  const int64_t i0 = ti * kTile, j0 = tj * kTile;
  const int64_t cl = blockIdx.y;
  const float* u = unit + cl * seq * dim;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;

  float acc[kMicro][kMicro];
#pragma unroll
  for (int a = 0; a < kMicro; ++a)
#pragma unroll
    for (int b = 0; b < kMicro; ++b) acc[a][b] = 0.0f;

  for (int64_t k0 = 0; k0 < dim; k0 += kBK) {
    for (int idx = threadIdx.x; idx < kTile * kBK; idx += kCountThreads) {
      const int r = idx / kBK, k = idx % kBK;
      const int64_t kk = k0 + k;
      const int64_t ia = i0 + r, jb = j0 + r;
      As[k][r] = (ia < seq && kk < dim) ? u[ia * dim + kk] : 0.0f;
      Bs[k][r] = (jb < seq && kk < dim) ? u[jb * dim + kk] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kBK; ++k) {
      float av[kMicro], bv[kMicro];
#pragma unroll
      for (int a = 0; a < kMicro; ++a) av[a] = As[k][ty + 16 * a];
#pragma unroll
      for (int b = 0; b < kMicro; ++b) bv[b] = Bs[k][tx + 16 * b];
#pragma unroll
      for (int a = 0; a < kMicro; ++a)
#pragma unroll
        for (int b = 0; b < kMicro; ++b) acc[a][b] = fmaf(av[a], bv[b], acc[a][b]);
    }
    __syncthreads();
  }

  const float* raw = x + (c0 + cl) * stride;
  unsigned int count = 0;
#pragma unroll
  for (int a = 0; a < kMicro; ++a)
#pragma unroll
    for (int b = 0; b < kMicro; ++b) {
      const int64_t i = i0 + ty + 16 * a, j = j0 + tx + 16 * b;
      if (i < j && j < seq) {
        const double c = acc[a][b];
        bool is_below;
        if (fabs(c - threshold) <= margin)
          is_below = seed_cosine(raw + i * dim, raw + j * dim, dim) < threshold;
        else
          is_below = c < threshold;
        count += is_below ? 1u : 0u;
      }
    }
  count = dev::warp_sum(count);
  const int lane = threadIdx.x % dev::kWarp, warp = threadIdx.x / dev::kWarp;
  if (lane == 0) warp_counts[warp] = count;
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned long long total = 0;
    for (int w = 0; w < kCountThreads / dev::kWarp; ++w) total += warp_counts[w];
    if (total > 0) atomicAdd(below + c0 + cl, total);
  }
}

}  // namespace

void launch_position_cosine(const float* x, int64_t count, int64_t stride, int64_t seq, int64_t dim,
                            double threshold, double* sum_cos, uint64_t* below, cudaStream_t stream) {
  static_assert(sizeof(uint64_t) == sizeof(unsigned long long), "64-bit counters");
  if (count < 0 || stride < 0 || seq < 0 || dim < 0)
    throw std::invalid_argument("launch_position_cosine: negative size");
  if (count == 0) return;
  if (sum_cos == nullptr || below == nullptr || (seq > 0 && dim > 0 && x == nullptr))
    throw std::invalid_argument("launch_position_cosine: null pointer");
  CUDA_CHECK(cudaMemsetAsync(sum_cos, 0, static_cast<size_t>(count) * sizeof(double), stream));
  CUDA_CHECK(cudaMemsetAsync(below, 0, static_cast<size_t>(count) * sizeof(uint64_t), stream));
  if (seq < 2) return;  // no pairs

  const int64_t tiles_side = (seq + kTile - 1) / kTile;
  const int64_t tiles = tiles_side * (tiles_side + 1) / 2;
  if (tiles > INT_MAX)
    throw std::invalid_argument("launch_position_cosine: seq " + std::to_string(seq) + " too long");
  const int64_t row_blocks = (seq + kRowWarps - 1) / kRowWarps;
  if (row_blocks > INT_MAX) throw std::invalid_argument("launch_position_cosine: seq too long");

  // Scratch per matrix: unit rows, inverse norms, |u_i|^2, column sums.
  const size_t per_matrix = static_cast<size_t>(seq) * dim * sizeof(float) +
                            2 * static_cast<size_t>(seq) * sizeof(double) +
                            static_cast<size_t>(dim) * sizeof(double);
  const int64_t chunk = std::max<int64_t>(
      1, std::min<int64_t>({count, kMaxGridY, static_cast<int64_t>(kScratchBudget / per_matrix)}));
  DeviceBuffer<float> unit(static_cast<size_t>(chunk * seq * dim), stream);
  DeviceBuffer<double> inv_norm(static_cast<size_t>(chunk * seq), stream);
  DeviceBuffer<double> self_sq(static_cast<size_t>(chunk * seq), stream);
  DeviceBuffer<double> colsum(static_cast<size_t>(chunk * dim), stream);
  const double margin = fp32_unit_dot_error_bound(dim);
  auto* below_ull = reinterpret_cast<unsigned long long*>(below);

  for (int64_t c0 = 0; c0 < count; c0 += chunk) {
    const int64_t nc = std::min(chunk, count - c0);
    const dim3 row_grid(static_cast<unsigned>(row_blocks), static_cast<unsigned>(nc));
    normalize_rows<<<row_grid, kRowThreads, 0, stream>>>(x, stride, seq, dim, c0, unit.data(),
                                                         inv_norm.data(), self_sq.data());
    QK_LAUNCH_CHECK();
    if (dim > 0) {
      const dim3 col_grid(static_cast<unsigned>((dim + kColX - 1) / kColX), static_cast<unsigned>(nc));
      column_unit_sums<<<col_grid, kColX * kColY, 0, stream>>>(x, stride, seq, dim, c0, inv_norm.data(),
                                                               colsum.data());
      QK_LAUNCH_CHECK();
    }
    finalize_sum_cos<<<static_cast<unsigned>(nc), kSumThreads, 0, stream>>>(colsum.data(), self_sq.data(),
                                                                            seq, dim, c0, sum_cos);
    QK_LAUNCH_CHECK();
    const dim3 tile_grid(static_cast<unsigned>(tiles), static_cast<unsigned>(nc));
    count_below_tiles<<<tile_grid, kCountThreads, 0, stream>>>(unit.data(), x, stride, seq, dim, c0,
                                                               threshold, margin, below_ull);
    QK_LAUNCH_CHECK();
  }
}

}  // namespace qk
