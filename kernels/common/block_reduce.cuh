#pragma once
// Device-side reductions with a fixed order (bitwise reproducible for a fixed
// block size). Included by the kernel .cu files only (nvcc).
#include <cuda_runtime.h>

namespace qk {
namespace dev {

constexpr int kWarp = 32;

// Sum of v over the 32 lanes of a full warp; the result is valid in lane 0.
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int off = kWarp / 2; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

__device__ __forceinline__ unsigned int warp_sum(unsigned int v) {
#pragma unroll
  for (int off = kWarp / 2; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

// Sum of v over all threads of a block of BLOCK threads (a multiple of 32,
// at most 1024); valid in thread 0. `scratch` holds BLOCK/32 doubles of shared
// memory. Every thread of the block must call it; it ends with a barrier, so
// the scratch can be reused right after.
template <int BLOCK>
__device__ __forceinline__ double block_sum(double v, double* scratch) {
  static_assert(BLOCK % kWarp == 0 && BLOCK <= 1024, "block size");
  constexpr int kWarps = BLOCK / kWarp;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  double total = 0.0;
  if (threadIdx.x == 0) {
    for (int w = 0; w < kWarps; ++w) total += scratch[w];
  }
  __syncthreads();
  return total;
}

}  // namespace dev
}  // namespace qk
