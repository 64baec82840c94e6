// Static operator geometry: the custom fp64 kernels behind layer_static_gpu and
// operator_gram_gpu (host/static/static_gpu_cuda.cpp). The Grams and products are cuBLAS
// fp64 GEMMs, the factorizations cuSOLVER; these kernels do the reductions and the
// element-wise steps between them.
#include "static_gram.cuh"

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>

#include "block_reduce.cuh"
#include "cuda_check.hpp"

namespace qk {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridY = 65535;
constexpr int64_t kMaxGridX = INT_MAX;
constexpr int64_t kMaxFlatBlocks = int64_t{1} << 20;

// One block per (block pair bl = blockIdx.x, pair c = c0 + blockIdx.y).
__global__ void __launch_bounds__(kThreads)
    block_product_sum_kernel(const double* __restrict__ a, int64_t lda, int64_t stride_a,
                             const double* __restrict__ b, int64_t ldb, int64_t stride_b, int64_t b_every,
                             int64_t c0, int64_t blocks, int64_t d, double* __restrict__ out,
                             int64_t out_stride) {
  __shared__ double scratch[kThreads / dev::kWarp];
  const int64_t bl = blockIdx.x;
  const int64_t c = c0 + blockIdx.y;
  const int64_t l = bl / blocks, lp = bl % blocks;
  const double* A = a + c * stride_a + l * d + lp * d * lda;
  const double* B = b + (c / b_every) * stride_b + l * d + lp * d * ldb;
  const int64_t dd = d * d;
  double s = 0.0;
  for (int64_t e = threadIdx.x; e < dd; e += kThreads) {
    const int64_t j = e / d, i = e - j * d;  // i runs along the contiguous column
    s += A[i + j * lda] * B[i + j * ldb];
  }
  s = dev::block_sum<kThreads>(s, scratch);
  if (threadIdx.x == 0) out[bl * out_stride + c] = s;
}

__global__ void __launch_bounds__(kThreads)
    widen_kernel(const float* __restrict__ src, int64_t n, double* __restrict__ dst) {
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * kThreads)
    dst[e] = static_cast<double>(src[e]);
}

// One block per matrix c0 + blockIdx.x.
__global__ void __launch_bounds__(kThreads)
    upper_trapezoid_kernel(const double* __restrict__ a, int64_t lda, int64_t stride_a, int64_t rows,
                           int64_t cols, int64_t c0, double* __restrict__ out) {
  const int64_t c = c0 + blockIdx.x;
  const double* ac = a + c * stride_a;
  double* oc = out + c * rows * cols;
  for (int64_t e = threadIdx.x; e < rows * cols; e += kThreads) {
    const int64_t j = e / rows, i = e - j * rows;
    oc[e] = i <= j ? ac[i + j * lda] : 0.0;
  }
}

// One block per matrix c0 + blockIdx.x.
__global__ void __launch_bounds__(kThreads)
    gather_columns_kernel(const double* __restrict__ y, const int* __restrict__ idx, int64_t n, int64_t k,
                          int64_t c0, double* __restrict__ out, int64_t ldo) {
  const int64_t c = c0 + blockIdx.x;
  for (int64_t e = threadIdx.x; e < ldo * k; e += kThreads) {
    const int64_t j = e / ldo, i = e - j * ldo;
    const int col = idx[c * k + j];
    out[c * ldo * k + e] =
        (i < n && col >= 0 && col < n) ? y[c * n * n + static_cast<int64_t>(col) * n + i] : 0.0;
  }
}

void require(bool ok, const char* who, const char* what) {
  if (!ok) throw std::invalid_argument(std::string(who) + ": " + what);
}

}  // namespace

void launch_block_product_sum(const double* a, int64_t lda, int64_t stride_a, const double* b, int64_t ldb,
                              int64_t stride_b, int64_t b_every, int64_t count, int64_t blocks, int64_t d,
                              double* out, int64_t out_stride, cudaStream_t stream) {
  const char* who = "launch_block_product_sum";
  require(count >= 0 && blocks >= 0 && d >= 0 && stride_a >= 0 && stride_b >= 0 && out_stride >= 0, who,
          "negative size or stride");
  if (count == 0 || blocks == 0) return;
  require(b_every >= 1, who, "b_every must be >= 1");
  require(blocks <= kMaxGridX / blocks, who, "blocks * blocks beyond the grid limit");
  require(out != nullptr, who, "null output");
  if (d > 0) {
    require(a != nullptr && b != nullptr, who, "null input");
    require(lda >= blocks * d && ldb >= blocks * d, who, "leading dimension < blocks * d");
  }
  for (int64_t c0 = 0; c0 < count; c0 += kMaxGridY) {
    const int64_t nc = std::min(kMaxGridY, count - c0);
    const dim3 grid(static_cast<unsigned>(blocks * blocks), static_cast<unsigned>(nc));
    block_product_sum_kernel<<<grid, kThreads, 0, stream>>>(a, lda, stride_a, b, ldb, stride_b, b_every, c0,
                                                            blocks, d, out, out_stride);
    QK_LAUNCH_CHECK();
  }
}

void launch_widen_f32_f64(const float* src, int64_t n, double* dst, cudaStream_t stream) {
  require(n >= 0, "launch_widen_f32_f64", "negative size");
  if (n == 0) return;
  require(src != nullptr && dst != nullptr, "launch_widen_f32_f64", "null pointer");
  const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxFlatBlocks);
  widen_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(src, n, dst);
  QK_LAUNCH_CHECK();
}

void launch_upper_trapezoid(const double* a, int64_t lda, int64_t stride_a, int64_t rows, int64_t cols,
                            int64_t count, double* out, cudaStream_t stream) {
  const char* who = "launch_upper_trapezoid";
  require(rows >= 0 && cols >= 0 && count >= 0 && stride_a >= 0, who, "negative size");
  if (rows == 0 || cols == 0 || count == 0) return;
  require(a != nullptr && out != nullptr, who, "null pointer");
  require(lda >= rows, who, "lda < rows");
  for (int64_t c0 = 0; c0 < count; c0 += kMaxGridX) {
    const int64_t nc = std::min(kMaxGridX, count - c0);
    upper_trapezoid_kernel<<<static_cast<unsigned>(nc), kThreads, 0, stream>>>(a, lda, stride_a, rows, cols,
                                                                               c0, out);
    QK_LAUNCH_CHECK();
  }
}

void launch_gather_columns(const double* y, const int* idx, int64_t n, int64_t k, int64_t count, double* out,
                           int64_t ldo, cudaStream_t stream) {
  const char* who = "launch_gather_columns";
  require(n >= 0 && k >= 0 && count >= 0, who, "negative size");
  require(ldo >= n, who, "ldo < n");
  if (ldo == 0 || k == 0 || count == 0) return;
  require(idx != nullptr && out != nullptr && (n == 0 || y != nullptr), who, "null pointer");
  for (int64_t c0 = 0; c0 < count; c0 += kMaxGridX) {
    const int64_t nc = std::min(kMaxGridX, count - c0);
    gather_columns_kernel<<<static_cast<unsigned>(nc), kThreads, 0, stream>>>(y, idx, n, k, c0, out, ldo);
    QK_LAUNCH_CHECK();
  }
}

}  // namespace qk
