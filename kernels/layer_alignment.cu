// Adjacent-layer alignment of head-mean vectors: per layer l and element block b,
// fp64 partial sums of |mean_l|^2 and mean_l . mean_{l+1}; the partials are added
// in block order (deterministic) and turned into cosines by cosine_from_gram. The layers
// are read where they lie (one stacked tensor, or two separate ones for a pair).
#include "layer_alignment.cuh"

#include <algorithm>
#include <stdexcept>

#include "block_reduce.cuh"
#include "cuda_check.hpp"
#include "gpu_context.hpp"
#include "seed_math.hpp"

namespace qk {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kElemsPerThread = 4;  // sizing of the element blocks
constexpr int64_t kMaxBlocks = 512;     // element blocks per layer (fixed by n alone)
constexpr int kMaxLayers = 65535;

// Where layer l [heads][n] lies: `first` for l = 0, rest + (l - 1) * stride after it.
struct LayerPtrs {
  const float* first;
  const float* rest;
  int64_t stride;
};

__device__ inline const float* layer_at(const LayerPtrs& x, int l) {
  return l == 0 ? x.first : x.rest + static_cast<int64_t>(l - 1) * x.stride;
}

// mean over heads of element e of one layer [heads][n]; in f32 with the seed's
// arithmetic (sum in head order, then divide) or in fp64.
__device__ inline double head_mean(const float* __restrict__ layer, int heads, int64_t n, int64_t e,
                                   bool seed_f32_mean) {
  if (seed_f32_mean) {
    float s = 0.0f;
    for (int h = 0; h < heads; ++h) s = __fadd_rn(s, layer[h * n + e]);
    return static_cast<double>(__fdiv_rn(s, static_cast<float>(heads)));
  }
  double s = 0.0;
  for (int h = 0; h < heads; ++h) s += static_cast<double>(layer[h * n + e]);
  return s / static_cast<double>(heads);
}

// Layer l = blockIdx.y, elements [b*chunk, min(n, (b+1)*chunk)) with b = blockIdx.x:
// nrm[l][b] = sum mean_l[e]^2, dot[l][b] = sum mean_l[e] * mean_{l+1}[e] (0 for the last layer).
__global__ void __launch_bounds__(kThreads)
    layer_alignment_partial(LayerPtrs x, int layers, int heads, int64_t n, int64_t chunk, bool seed_f32_mean,
                            double* __restrict__ nrm, double* __restrict__ dot) {
  __shared__ double scratch[kThreads / dev::kWarp];
  const int l = blockIdx.y;
  const int64_t b = blockIdx.x;
  const int64_t begin = b * chunk, end = min(n, begin + chunk);
  const float* cur = layer_at(x, l);
  const float* next = l + 1 < layers ? layer_at(x, l + 1) : nullptr;
  double nn = 0.0, dd = 0.0;
  for (int64_t e = begin + threadIdx.x; e < end; e += kThreads) {
    const double m0 = head_mean(cur, heads, n, e, seed_f32_mean);
    nn += m0 * m0;
    if (next != nullptr) dd += m0 * head_mean(next, heads, n, e, seed_f32_mean);
  }
  nn = dev::block_sum<kThreads>(nn, scratch);
  dd = dev::block_sum<kThreads>(dd, scratch);
  if (threadIdx.x == 0) {
    nrm[static_cast<int64_t>(l) * gridDim.x + b] = nn;
    dot[static_cast<int64_t>(l) * gridDim.x + b] = dd;
  }
}

// cos[l] = cosine_from_gram(sum_b dot[l][b], sum_b nrm[l][b], sum_b nrm[l+1][b]).
__global__ void layer_alignment_finalize(const double* __restrict__ nrm, const double* __restrict__ dot,
                                         int layers, int blocks, double* __restrict__ cos) {
  const int l = blockIdx.x * blockDim.x + threadIdx.x;
  if (l + 1 >= layers) return;
  double na = 0.0, nb = 0.0, d = 0.0;
  for (int b = 0; b < blocks; ++b) {
    na += nrm[static_cast<int64_t>(l) * blocks + b];
    nb += nrm[static_cast<int64_t>(l + 1) * blocks + b];
    d += dot[static_cast<int64_t>(l) * blocks + b];
  }
  cos[l] = cosine_from_gram(d, na, nb);
}

// Queues the cosines of `layers` layers at x (heads, n > 0 checked by the caller) into cos.
void launch_alignment(const LayerPtrs& x, int layers, int heads, int64_t n, bool seed_f32_mean, double* cos,
                      cudaStream_t stream) {
  const int64_t per_block = kThreads * kElemsPerThread;
  const int blocks = static_cast<int>(std::min((n + per_block - 1) / per_block, kMaxBlocks));
  const int64_t chunk = (n + blocks - 1) / blocks;
  DeviceBuffer<double> nrm(static_cast<size_t>(layers) * blocks, stream);
  DeviceBuffer<double> dot(static_cast<size_t>(layers) * blocks, stream);
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(layers));
  layer_alignment_partial<<<grid, kThreads, 0, stream>>>(x, layers, heads, n, chunk, seed_f32_mean,
                                                         nrm.data(), dot.data());
  QK_LAUNCH_CHECK();
  const int fin_threads = 128;
  const int fin_blocks = (layers - 1 + fin_threads - 1) / fin_threads;
  layer_alignment_finalize<<<fin_blocks, fin_threads, 0, stream>>>(nrm.data(), dot.data(), layers, blocks,
                                                                   cos);
  QK_LAUNCH_CHECK();
}

}  // namespace

void launch_layer_alignment(const float* x, int layers, int heads, int64_t n, bool seed_f32_mean, double* cos,
                            cudaStream_t stream) {
  if (layers < 0 || heads < 0 || n < 0) throw std::invalid_argument("launch_layer_alignment: negative size");
  if (layers > kMaxLayers) throw std::invalid_argument("launch_layer_alignment: too many layers");
  if (layers < 2) return;
  if (cos == nullptr || (heads > 0 && n > 0 && x == nullptr))
    throw std::invalid_argument("launch_layer_alignment: null pointer");
  if (heads == 0 || n == 0) {  // no elements: every norm is 0
    CUDA_CHECK(cudaMemsetAsync(cos, 0, static_cast<size_t>(layers - 1) * sizeof(double), stream));
    return;
  }
  const int64_t layer = static_cast<int64_t>(heads) * n;
  launch_alignment(LayerPtrs{x, x + layer, layer}, layers, heads, n, seed_f32_mean, cos, stream);
}

void launch_layer_alignment_pair(const float* prev, const float* cur, int heads, int64_t n,
                                 bool seed_f32_mean, double* cos, cudaStream_t stream) {
  if (heads < 0 || n < 0) throw std::invalid_argument("launch_layer_alignment_pair: negative size");
  if (cos == nullptr || (heads > 0 && n > 0 && (prev == nullptr || cur == nullptr)))
    throw std::invalid_argument("launch_layer_alignment_pair: null pointer");
  if (heads == 0 || n == 0) {
    CUDA_CHECK(cudaMemsetAsync(cos, 0, sizeof(double), stream));
    return;
  }
  launch_alignment(LayerPtrs{prev, cur, static_cast<int64_t>(heads) * n}, 2, heads, n, seed_f32_mean, cos,
                   stream);
}

}  // namespace qk
