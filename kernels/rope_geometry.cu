// RoPE-aware operator geometry: the element-wise rotation of R2's column pairs and the
// band profiles (kernels/rope_geometry.cuh); the GEMMs and SVDs around them are cuBLAS and
// cuSOLVER calls in host/static/rope_gpu_cuda.cpp.
#include "rope_geometry.cuh"

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>

#include "block_reduce.cuh"
#include "cuda_check.hpp"
#include "rope_band_math.hpp"

namespace qk {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridX = INT_MAX;

// One block per matrix c0 + blockIdx.x; threads over its rows x cols elements.
__global__ void __launch_bounds__(kThreads)
    rotate_column_pairs_kernel(const double* __restrict__ x, int64_t rows, int64_t cols, int64_t stride_x,
                               int64_t pairs, const double* __restrict__ cs, int64_t c0,
                               double* __restrict__ y) {
  const int64_t c = c0 + blockIdx.x;
  const double* xc = x + c * stride_x;
  double* yc = y + c * rows * cols;
  for (int64_t e = threadIdx.x; e < rows * cols; e += kThreads) {
    const int64_t j = e / rows, i = e - j * rows;  // i runs along the contiguous column
    if (j >= 2 * pairs) {
      yc[e] = xc[i + j * rows];
      continue;
    }
    const int64_t p = j < pairs ? j : j - pairs;
    const double co = cs[2 * p], sn = cs[2 * p + 1];
    const double xa = xc[i + p * rows], xb = xc[i + (p + pairs) * rows];
    yc[e] = j < pairs ? co * xa + sn * xb : -sn * xa + co * xb;
  }
}

// One block per head c0 + blockIdx.x: the bands (threads over pairs), the unrotated energy
// (a fixed-order block sum), then the shares.
__global__ void __launch_bounds__(kThreads)
    rope_bands_kernel(const double* __restrict__ gq, const double* __restrict__ gk, int64_t d, int64_t r,
                      int64_t O, const double* __restrict__ cs, int64_t c0, RopeBandsOut out) {
  namespace rb = rope_band;
  __shared__ double scratch[kThreads / dev::kWarp];
  __shared__ double total;
  const int64_t c = c0 + blockIdx.x, P = r / 2;
  const double* q = gq + c * d * d;
  const double* k = gk + c * d * d;
  for (int64_t p = threadIdx.x; p < P; p += kThreads) {
    const rb::Pair2 A = rb::pair_block(q, d, p, p + P), C = rb::pair_block(k, d, p, p + P);
    for (int64_t o = 0; o < O; ++o)
      out.energy[(c * O + o) * P + p] = rb::energy(A, C, cs[(o * P + p) * 2], cs[(o * P + p) * 2 + 1]);
    out.mean[c * P + p] = rb::mean_energy(A, C);
    out.invariant[c * P + p] = rb::invariant_fraction(A, C);
  }
  const int64_t u = d - r;
  double s = 0.0;
  for (int64_t e = threadIdx.x; e < u * u; e += kThreads) {
    const int64_t i = r + e / u, j = r + e % u;
    s += q[i * d + j] * k[i * d + j];
  }
  s = dev::block_sum<kThreads>(s, scratch);  // ends with a barrier: the means are written
  if (threadIdx.x == 0) {
    double t = s;
    for (int64_t p = 0; p < P; ++p) t += out.mean[c * P + p];
    total = t;
    out.unrot[c] = s;
    out.unrot_share[c] = t > 0 ? s / t : 0.0;
  }
  __syncthreads();
  for (int64_t p = threadIdx.x; p < P; p += kThreads)
    out.share[c * P + p] = total > 0 ? out.mean[c * P + p] / total : 0.0;
}

void require(bool ok, const char* who, const char* what) {
  if (!ok) throw std::invalid_argument(std::string(who) + ": " + what);
}

}  // namespace

void launch_rotate_column_pairs(const double* x, int64_t rows, int64_t cols, int64_t stride_x, int64_t pairs,
                                const double* cs, int64_t count, double* y, cudaStream_t stream) {
  const char* who = "launch_rotate_column_pairs";
  require(rows >= 0 && cols >= 0 && pairs >= 0 && count >= 0 && stride_x >= 0, who, "negative size");
  require(2 * pairs <= cols, who, "2 * pairs > cols");
  if (rows == 0 || cols == 0 || count == 0) return;
  require(x != nullptr && y != nullptr && (pairs == 0 || cs != nullptr), who, "null pointer");
  for (int64_t c0 = 0; c0 < count; c0 += kMaxGridX) {
    const int64_t nc = std::min(kMaxGridX, count - c0);
    rotate_column_pairs_kernel<<<static_cast<unsigned>(nc), kThreads, 0, stream>>>(x, rows, cols, stride_x,
                                                                                   pairs, cs, c0, y);
    QK_LAUNCH_CHECK();
  }
}

void launch_rope_bands(const double* gq, const double* gk, int64_t d, int64_t r, int64_t offsets,
                       const double* cs, int64_t count, const RopeBandsOut& out, cudaStream_t stream) {
  const char* who = "launch_rope_bands";
  require(d >= 0 && offsets >= 0 && count >= 0, who, "negative size");
  require(r >= 0 && r % 2 == 0 && r <= d, who, "r must be even and in [0, d]");
  if (count == 0) return;
  require(gq != nullptr && gk != nullptr && out.mean != nullptr && out.invariant != nullptr &&
              out.share != nullptr && out.unrot != nullptr && out.unrot_share != nullptr,
          who, "null pointer");
  require(offsets == 0 || r == 0 || (cs != nullptr && out.energy != nullptr), who, "null pointer");
  for (int64_t c0 = 0; c0 < count; c0 += kMaxGridX) {
    const int64_t nc = std::min(kMaxGridX, count - c0);
    rope_bands_kernel<<<static_cast<unsigned>(nc), kThreads, 0, stream>>>(gq, gk, d, r, offsets, cs, c0, out);
    QK_LAUNCH_CHECK();
  }
}

}  // namespace qk
