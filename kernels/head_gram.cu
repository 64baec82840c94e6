// Per-layer Gram of flattened head vectors in fp64, deterministic, for any head count.
// The Gram is cut into tiles of kTileH x kTileH head pairs; one block sums a fixed set of
// element chunks for one tile pair (ti <= tj), staging both tiles' chunk in shared memory;
// then every pair's partial sums are added in block order.
#include "head_gram.cuh"

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>

#include "cuda_check.hpp"
#include "gpu_context.hpp"

namespace qk {
namespace {

constexpr int kThreads = 256;
constexpr int kTileH = 32;  // heads per tile: a tile pair holds at most kTileH^2 pairs
constexpr int kTileE = 32;  // elements of every head staged per step
constexpr int kPairsPerThread = (kTileH * kTileH + kThreads - 1) / kThreads;
constexpr int64_t kMaxBlocks = 256;          // partial sums per pair (fixed by n and heads)
constexpr int64_t kPartialBudget = 1 << 24;  // doubles of partial sums at most (128 MiB)

// The tile-pair geometry of one layer: t tiles of w heads each (w = min(heads, kTileH)),
// tile pairs (ti, tj) with ti <= tj in row-major order, w*w slots per tile pair.
struct Tiling {
  int heads, w, t;
  int64_t tile_pairs, slots;
};

Tiling make_tiling(int heads) {
  Tiling g{};
  g.heads = heads;
  g.w = std::min(heads, kTileH);
  g.t = (heads + g.w - 1) / g.w;
  g.tile_pairs = static_cast<int64_t>(g.t) * (g.t + 1) / 2;
  g.slots = g.tile_pairs * g.w * g.w;
  return g;
}

// Tile pair index tp -> (ti, tj), ti <= tj, row-major over the upper triangle of tiles.
__device__ inline void decode_tile_pair(int64_t tp, int t, int* ti, int* tj) {
  int row = 0;
  int64_t start = 0;
  while (tp >= start + (t - row)) {
    start += t - row;
    ++row;
  }
  *ti = row;
  *tj = row + static_cast<int>(tp - start);
}

// Stages elements [e0, e0 + kTileE) of heads [h0, h0 + w) of one layer x [heads][n] into
// tile (zero past n or past the last head).
__device__ inline void stage_tile(const float* __restrict__ x, int heads, int64_t n, int h0, int w,
                                  int64_t e0, float (*tile)[kTileE + 1]) {
  for (int idx = threadIdx.x; idx < w * kTileE; idx += kThreads) {
    const int r = idx / kTileE, k = idx % kTileE;
    const int h = h0 + r;
    const int64_t e = e0 + k;
    tile[r][k] = h < heads && e < n ? x[static_cast<int64_t>(h) * n + e] : 0.0f;
  }
}

// x: one layer [heads][n]. Block (tp = blockIdx.x, b = blockIdx.y) sums, over the chunks
// b, b + gridDim.y, ... (kTileE elements each), x[i][e] * x[j][e] in fp64 for every pair
// (i, j) = (ti*w + a, tj*w + c) of tile pair tp with a, c < w, into
// partial[b][tp][a*w + c]; on a diagonal tile only a <= c is written.
__global__ void __launch_bounds__(kThreads)
    head_gram_partial(const float* __restrict__ x, int heads, int w, int t, int64_t n, int64_t chunks,
                      double* __restrict__ partial) {
  __shared__ float tile_a[kTileH][kTileE + 1];
  __shared__ float tile_b[kTileH][kTileE + 1];
  int ti = 0, tj = 0;
  decode_tile_pair(blockIdx.x, t, &ti, &tj);
  const bool diag = ti == tj;
  const float(*rows_b)[kTileE + 1] = diag ? tile_a : tile_b;
  double acc[kPairsPerThread];
#pragma unroll
  for (int r = 0; r < kPairsPerThread; ++r) acc[r] = 0.0;
  for (int64_t c = blockIdx.y; c < chunks; c += gridDim.y) {
    stage_tile(x, heads, n, ti * w, w, c * kTileE, tile_a);
    if (!diag) stage_tile(x, heads, n, tj * w, w, c * kTileE, tile_b);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kPairsPerThread; ++r) {
      const int s = threadIdx.x + r * kThreads;
      if (s < w * w) {
        const float* a = tile_a[s / w];
        const float* bv = rows_b[s % w];
        double sum = acc[r];
        for (int k = 0; k < kTileE; ++k)
          sum = fma(static_cast<double>(a[k]), static_cast<double>(bv[k]), sum);
        acc[r] = sum;
      }
    }
    __syncthreads();
  }
  const int64_t base = (static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x) * w * w;
#pragma unroll
  for (int r = 0; r < kPairsPerThread; ++r) {
    const int s = threadIdx.x + r * kThreads;
    if (s < w * w && (!diag || s / w <= s % w)) partial[base + s] = acc[r];
  }
}

// gram: one layer [heads][heads]; for slot q = tp*w*w + a*w + c naming a pair (i, j)
// inside the Gram and on or above the diagonal, gram[i][j] = gram[j][i] = sum over
// blocks b in order of partial[b][q].
__global__ void head_gram_finalize(const double* __restrict__ partial, int blocks, int heads, int w, int t,
                                   int64_t slots, double* __restrict__ gram) {
  const int64_t q = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= slots) return;
  int ti = 0, tj = 0;
  decode_tile_pair(q / (w * w), t, &ti, &tj);
  const int s = static_cast<int>(q % (w * w));
  const int i = ti * w + s / w, j = tj * w + s % w;
  if (i >= heads || j >= heads || i > j) return;
  double sum = 0.0;
  for (int b = 0; b < blocks; ++b) sum += partial[static_cast<int64_t>(b) * slots + q];
  gram[static_cast<int64_t>(i) * heads + j] = sum;
  gram[static_cast<int64_t>(j) * heads + i] = sum;
}

}  // namespace

void launch_head_gram(const float* x, int layers, int heads, int64_t n, double* gram, cudaStream_t stream) {
  if (layers < 0 || heads < 0 || n < 0) throw std::invalid_argument("launch_head_gram: negative size");
  if (layers == 0 || heads == 0) return;
  if (gram == nullptr || (n > 0 && x == nullptr))
    throw std::invalid_argument("launch_head_gram: null pointer");
  const Tiling g = make_tiling(heads);
  const int64_t fin_threads = 128;
  if (g.tile_pairs > INT_MAX || (g.slots + fin_threads - 1) / fin_threads > INT_MAX)
    throw std::invalid_argument("launch_head_gram: " + std::to_string(heads) +
                                " heads exceed the launch grid");
  const int64_t layer_gram = static_cast<int64_t>(heads) * heads;
  if (n == 0) {
    CUDA_CHECK(cudaMemsetAsync(gram, 0, static_cast<size_t>(layers) * layer_gram * sizeof(double), stream));
    return;
  }
  const int64_t chunks = (n + kTileE - 1) / kTileE;
  const int blocks =
      static_cast<int>(std::max<int64_t>(1, std::min({chunks, kMaxBlocks, kPartialBudget / g.slots})));
  DeviceBuffer<double> partial(static_cast<size_t>(blocks) * g.slots, stream);
  const dim3 grid(static_cast<unsigned>(g.tile_pairs), static_cast<unsigned>(blocks));
  const auto fin_blocks = static_cast<unsigned>((g.slots + fin_threads - 1) / fin_threads);
  for (int l = 0; l < layers; ++l) {
    const float* xl = x + static_cast<int64_t>(l) * heads * n;
    head_gram_partial<<<grid, kThreads, 0, stream>>>(xl, heads, g.w, g.t, n, chunks, partial.data());
    QK_LAUNCH_CHECK();
    head_gram_finalize<<<fin_blocks, static_cast<unsigned>(fin_threads), 0, stream>>>(
        partial.data(), blocks, heads, g.w, g.t, g.slots, gram + static_cast<int64_t>(l) * layer_gram);
    QK_LAUNCH_CHECK();
  }
}

}  // namespace qk
