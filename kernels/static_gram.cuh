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
void launch_block_product_sum(const double* a, int64_t lda, int64_t stride_a, const double* b,
                              int64_t ldb, int64_t stride_b, int64_t b_every, int64_t count,
                              int64_t blocks, int64_t d, double* out, int64_t out_stride,
                              cudaStream_t stream);

// dst[i] = (double) src[i] for i < n (device).
void launch_widen_f32_f64(const float* src, int64_t n, double* dst, cudaStream_t stream);

// For `count` symmetric-eigen results (n x n column-major V_c at v + c n^2, eigenvalues
// w_c at w + c n), with "kept" meaning w_cj > 0 and w_cj > rel_tol * max(max_j w_cj, 0):
// f_c = V_c diag(kept ? sqrt(w_cj) : 0) (out-of-place, f: device count n^2) and, when
// inv_sqrt is not null, inv_sqrt[c n + j] = kept ? 1 / sqrt(w_cj) : 0. rel_tol = 0 gives
// V diag(sqrt(max(w, 0))), the PSD factor; the CPU path's rank tolerance drops the
// numerically null directions of M M^T from both.
void launch_sqrt_scale_columns(const double* v, const double* w, int64_t n, int64_t count,
                               double rel_tol, double* f, double* inv_sqrt,
                               cudaStream_t stream);

// out_c(:, j) = y_c(:, idx[c k + j]) .* scale_c(:) for j < k: gathers k of the n columns
// of each n x n matrix y_c (at y + c n^2) and scales their rows by scale_c (at
// scale + c n). out: device count * n * k (n x k column-major per c). Indices outside
// [0, n) give zero columns.
void launch_gather_scale_columns(const double* y, const int* idx, const double* scale,
                                 int64_t n, int64_t k, int64_t count, double* out,
                                 cudaStream_t stream);

}  // namespace qk
