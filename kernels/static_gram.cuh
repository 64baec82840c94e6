#pragma once
// Static operator geometry (docs/static-geometry.md, "GPU path"): the fp64 device helpers
// of layer_static_gpu / operator_gram_gpu. Matrices are column-major (cuBLAS/cuSOLVER
// convention); every launcher only enqueues work on `stream`.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace qk {

// Batched block-wise Frobenius products. For pair c in [0, count):
//   A_c = a + c * stride_a,  B_c = b + (c / b_every) * stride_b   (column-major, ld lda / ldb)
// and for every block pair (l, l') of the (blocks*d) x (blocks*d) leading part:
//   out[(l * blocks + l') * out_stride + c] = sum_{i,j < d} A_c(l d + i, l' d + j) B_c(l d + i, l' d + j)
// in fp64, fixed order (bitwise reproducible). One CUDA block per (l, l', c).
// With blocks = 1 this is <A_c, B_c>_F (e.g. tr(G_Q G_K) for symmetric Grams).
// a, b, out: device. Requires lda, ldb >= blocks * d, b_every >= 1.
void launch_block_product_sum(const double* a, int64_t lda, int64_t stride_a, const double* b, int64_t ldb,
                              int64_t stride_b, int64_t b_every, int64_t count, int64_t blocks, int64_t d,
                              double* out, int64_t out_stride, cudaStream_t stream);

// dst[i] = (double) src[i] for i < n (device).
void launch_widen_f32_f64(const float* src, int64_t n, double* dst, cudaStream_t stream);

// out_c(i, j) = i <= j ? a_c(i, j) : 0 for i < rows, j < cols: the upper-trapezoidal R
// that geqrf leaves in the top rows of a_c = a + c * stride_a (column-major, lda >= rows),
// copied densely (out + c * rows * cols, ld rows). rows <= lda.
void launch_upper_trapezoid(const double* a, int64_t lda, int64_t stride_a, int64_t rows, int64_t cols,
                            int64_t count, double* out, cudaStream_t stream);

// out_c(i, j) = y_c(i, idx[c k + j]) for i < n and a column index in [0, n), else 0, for
// i < ldo, j < k: gathers k of the n columns of each n x n matrix y_c (at y + c n^2) into
// the top of an ldo x k matrix (out + c * ldo * k, ld ldo), zero rows below and zero
// columns for indices outside [0, n). Requires ldo >= n.
void launch_gather_columns(const double* y, const int* idx, int64_t n, int64_t k, int64_t count, double* out,
                           int64_t ldo, cudaStream_t stream);

}  // namespace qk
