// Pentachoron volumes. One warp per simplex (grid-stride over simplices): lane t
// accumulates the 10 Gram entries over coordinates t, t + 32, ... in fp64, a fixed-order
// shuffle tree sums the lanes, lane 0 takes the pivoted LDL^T determinant (simplex_volume.hpp).
#include "simplex_volume.cuh"

#include <algorithm>

#include "cuda_check.hpp"
#include "simplex_volume.hpp"

namespace qk {
namespace {

constexpr int kWarp = 32;
constexpr int kWarps = 8;
constexpr int64_t kMaxBlocks = 65535;

__global__ void __launch_bounds__(kWarp* kWarps)
    simplex_volumes_kernel(const float* __restrict__ rows, int64_t dim, const int64_t* __restrict__ idx,
                           int64_t count, double* __restrict__ vol) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t s = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / kWarp; s < count;
       s += static_cast<int64_t>(gridDim.x) * kWarps) {
    const float* p[simplex::kVerts];
    for (int v = 0; v < simplex::kVerts; ++v) p[v] = rows + idx[s * simplex::kVerts + v] * dim;
    double g[simplex::kGram] = {};
    simplex::gram_accumulate(p, dim, lane, kWarp, g);
    for (int off = kWarp / 2; off > 0; off /= 2)
      for (int e = 0; e < simplex::kGram; ++e) g[e] += __shfl_down_sync(0xffffffffu, g[e], off);
    if (lane == 0) vol[s] = simplex::volume_from_gram(g);
  }
}

}  // namespace

void launch_simplex_volumes(const float* rows, int64_t dim, const int64_t* idx, int64_t count, double* vol,
                            cudaStream_t stream) {
  if (count <= 0) return;
  const int64_t blocks = std::min<int64_t>((count + kWarps - 1) / kWarps, kMaxBlocks);
  simplex_volumes_kernel<<<static_cast<unsigned>(blocks), kWarp * kWarps, 0, stream>>>(rows, dim, idx, count,
                                                                                       vol);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace qk
