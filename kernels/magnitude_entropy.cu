// K-magnitude entropy: one block per matrix, one warp per row at a time; row L2
// norms in fp64, per-warp sums of |x_i| and |x_i| ln |x_i| combined in warp order
// (deterministic), then normalized_entropy_from_sums.
#include "magnitude_entropy.cuh"

#include <algorithm>
#include <stdexcept>

#include "block_reduce.cuh"
#include "cuda_check.hpp"
#include "seed_math.hpp"

namespace qk {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / dev::kWarp;
constexpr int64_t kMaxBlocks = 65535;

// entropy[c] for matrices c = blockIdx.x, blockIdx.x + gridDim.x, ... (see the header).
__global__ void __launch_bounds__(kThreads)
    magnitude_entropy_kernel(const float* __restrict__ x, int64_t count, int64_t stride, int64_t seq,
                             int64_t dim, double* __restrict__ entropy) {
  __shared__ double warp_total[kWarps];
  __shared__ double warp_mlogm[kWarps];
  const int lane = threadIdx.x % dev::kWarp, warp = threadIdx.x / dev::kWarp;
  for (int64_t c = blockIdx.x; c < count; c += gridDim.x) {
    const float* m = x + c * stride;
    double total = 0.0, mlogm = 0.0;
    for (int64_t i = warp; i < seq; i += kWarps) {
      const float* row = m + i * dim;
      double ss = 0.0;
      for (int64_t d = lane; d < dim; d += dev::kWarp) {
        const double v = row[d];
        ss += v * v;
      }
      ss = dev::warp_sum(ss);
      if (lane == 0) {
        const double mag = sqrt(ss);
        total += mag;
        if (mag > 0.0) mlogm += mag * log(mag);
      }
    }
    if (lane == 0) {
      warp_total[warp] = total;
      warp_mlogm[warp] = mlogm;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      double t = 0.0, ml = 0.0;
      for (int w = 0; w < kWarps; ++w) {
        t += warp_total[w];
        ml += warp_mlogm[w];
      }
      entropy[c] = normalized_entropy_from_sums(t, ml, seq);
    }
    __syncthreads();
  }
}

}  // namespace

void launch_magnitude_entropy(const float* x, int64_t count, int64_t stride, int64_t seq, int64_t dim,
                              double* entropy, cudaStream_t stream) {
  if (count < 0 || stride < 0 || seq < 0 || dim < 0)
    throw std::invalid_argument("launch_magnitude_entropy: negative size");
  if (count == 0) return;
  if (entropy == nullptr || (seq > 0 && dim > 0 && x == nullptr))
    throw std::invalid_argument("launch_magnitude_entropy: null pointer");
  const int blocks = static_cast<int>(std::min(count, kMaxBlocks));
  magnitude_entropy_kernel<<<blocks, kThreads, 0, stream>>>(x, count, stride, seq, dim, entropy);
  QK_LAUNCH_CHECK();
}

}  // namespace qk
