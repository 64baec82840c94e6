// Per-layer Gram of flattened head vectors in fp64, deterministic: each block
// sums a fixed set of element chunks per head pair, then the partial sums are
// added in block order.
#include "head_gram.cuh"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda_check.hpp"
#include "gpu_context.hpp"

namespace qk {
namespace {

constexpr int kMaxHeads = 64;
constexpr int kThreads = 256;
constexpr int kTileE = 32;  // elements of every head staged per step
constexpr int kMaxPairs = kMaxHeads * (kMaxHeads + 1) / 2;
constexpr int kPairsPerThread = (kMaxPairs + kThreads - 1) / kThreads;
constexpr int64_t kMaxBlocks = 256;  // partial sums per pair (fixed by n alone)

// Pair index p of the upper triangle (row-major, diagonal included) -> (i, j), i <= j.
__host__ __device__ inline void decode_pair(int p, int heads, int* i, int* j) {
  int row = 0, start = 0;
  while (p >= start + (heads - row)) {
    start += heads - row;
    ++row;
  }
  *i = row;
  *j = row + (p - start);
}

// x: one layer [heads][n]. partial[b][p] = sum over the chunks b, b + gridDim.x, ...
// (kTileE elements each) of x[i][e] * x[j][e] for pair p = (i, j), in fp64.
__global__ void __launch_bounds__(kThreads)
    head_gram_partial(const float* __restrict__ x, int heads, int64_t n, int64_t chunks,
                      double* __restrict__ partial) {
  __shared__ float tile[kMaxHeads][kTileE + 1];
  const int pairs = heads * (heads + 1) / 2;
  int pi[kPairsPerThread], pj[kPairsPerThread];
  double acc[kPairsPerThread];
#pragma unroll
  for (int r = 0; r < kPairsPerThread; ++r) {
    const int p = threadIdx.x + r * kThreads;
    pi[r] = 0;
    pj[r] = 0;
    acc[r] = 0.0;
    if (p < pairs) decode_pair(p, heads, &pi[r], &pj[r]);
  }
  for (int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    const int64_t e0 = c * kTileE;
    for (int idx = threadIdx.x; idx < heads * kTileE; idx += kThreads) {
      const int h = idx / kTileE, k = idx % kTileE;
      const int64_t e = e0 + k;
      tile[h][k] = e < n ? x[static_cast<int64_t>(h) * n + e] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kPairsPerThread; ++r) {
      if (static_cast<int>(threadIdx.x) + r * kThreads < pairs) {
        const float* a = tile[pi[r]];
        const float* b = tile[pj[r]];
        double s = acc[r];
        for (int k = 0; k < kTileE; ++k) s = fma(static_cast<double>(a[k]), static_cast<double>(b[k]), s);
        acc[r] = s;
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < kPairsPerThread; ++r) {
    const int p = threadIdx.x + r * kThreads;
    if (p < pairs) partial[static_cast<int64_t>(blockIdx.x) * pairs + p] = acc[r];
  }
}

// gram: one layer [heads][heads]; entry (i, j) and (j, i) = sum over blocks b in
// order of partial[b][p(i, j)].
__global__ void head_gram_finalize(const double* __restrict__ partial, int blocks, int heads,
                                   double* __restrict__ gram) {
  const int pairs = heads * (heads + 1) / 2;
  const int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= pairs) return;
  double s = 0.0;
  for (int b = 0; b < blocks; ++b) s += partial[static_cast<int64_t>(b) * pairs + p];
  int i = 0, j = 0;
  decode_pair(p, heads, &i, &j);
  gram[i * heads + j] = s;
  gram[j * heads + i] = s;
}

}  // namespace

void launch_head_gram(const float* x, int layers, int heads, int64_t n, double* gram, cudaStream_t stream) {
  if (layers < 0 || heads < 0 || n < 0) throw std::invalid_argument("launch_head_gram: negative size");
  if (heads > kMaxHeads)
    throw std::invalid_argument("launch_head_gram: " + std::to_string(heads) + " heads, at most " +
                                std::to_string(kMaxHeads) + " supported");
  if (layers == 0 || heads == 0) return;
  if (gram == nullptr || (n > 0 && x == nullptr))
    throw std::invalid_argument("launch_head_gram: null pointer");
  const size_t gram_bytes = static_cast<size_t>(layers) * heads * heads * sizeof(double);
  if (n == 0) {
    CUDA_CHECK(cudaMemsetAsync(gram, 0, gram_bytes, stream));
    return;
  }
  const int pairs = heads * (heads + 1) / 2;
  const int64_t chunks = (n + kTileE - 1) / kTileE;
  const int blocks = static_cast<int>(std::min(chunks, kMaxBlocks));
  DeviceBuffer<double> partial(static_cast<size_t>(blocks) * pairs, stream);
  const int fin_threads = 128;
  const int fin_blocks = (pairs + fin_threads - 1) / fin_threads;
  for (int l = 0; l < layers; ++l) {
    const float* xl = x + static_cast<int64_t>(l) * heads * n;
    head_gram_partial<<<blocks, kThreads, 0, stream>>>(xl, heads, n, chunks, partial.data());
    QK_LAUNCH_CHECK();
    head_gram_finalize<<<fin_blocks, fin_threads, 0, stream>>>(
        partial.data(), blocks, heads, gram + static_cast<int64_t>(l) * heads * heads);
    QK_LAUNCH_CHECK();
  }
}

}  // namespace qk
