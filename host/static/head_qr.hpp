#pragma once
// One head's joint QR factorisation of [Q^T, K^T] and the small dense helpers around it
// (docs/static-geometry.md, "The operator"), shared by `weights` and `rope-geometry`.
// Row-major fp64 matrices.
#include <cstdint>
#include <functional>
#include <vector>

#include "static_types.hpp"

namespace qk {

using Mat = std::vector<double>;

// Rows [head * dim, head * dim + dim) of row-major f32 weights [.][hidden] as fp64, appended to out.
void append_head_f64(const float* w, int64_t head, int64_t dim, int64_t hidden, Mat& out);

// c [m][n] = a [m][k] b [n][k]^T, row-major.
Mat times_transpose(const double* a, const double* b, int64_t m, int64_t n, int64_t k);

// Singular values, descending, of the row-major m x n matrix a (copied).
Mat svdvals(const Mat& a, int64_t m, int64_t n);

// One head's QR (LAPACK geqrf) of B^T = [Q^T, K^T] (hidden x 2d): B^T = U R, U the first
// p = min(hidden, 2d) columns of the reflectors' product, R p x 2d upper trapezoidal;
// Q^T = U R1 and K^T = U R2 with R1, R2 its two p x d halves (row-major).
struct HeadQr {
  Mat a, tau;  // geqrf's output: column-major hidden x 2d (= row-major [q; k]); [p]
  Mat r1, r2;  // [p][d]
  int64_t p = 0;
};

// q, k: [d][hidden] row-major (D = d, N = hidden).
HeadQr head_qr(const Mat& q, const Mat& k, int64_t D, int64_t N);

// fn(h, q, k) for every query head h of one layer, heads in parallel (OpenMP); wq: [Hq * d]
// [hidden], wk: [Hkv * d][hidden] (f32); q, k: head h's and its KV group's [d][hidden]
// rows in fp64. BLAS and LAPACK single-threaded inside; the first exception of any head
// is rethrown after the loop.
void for_each_head(const float* wq, const float* wk, const StaticDims& d,
                   const std::function<void(int64_t h, const Mat& q, const Mat& k)>& fn);

}  // namespace qk
