#include "head_qr.hpp"

#include <cblas.h>

#include <algorithm>
#include <exception>

#include "ops/blas_threads.hpp"
#include "ops/lapack.hpp"

namespace qk {

void append_head_f64(const float* w, int64_t head, int64_t dim, int64_t hidden, Mat& out) {
  const float* p = w + head * dim * hidden;
  out.insert(out.end(), p, p + dim * hidden);
}

Mat times_transpose(const double* a, const double* b, int64_t m, int64_t n, int64_t k) {
  Mat c(static_cast<size_t>(m * n));
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0, a, static_cast<int>(k), b, static_cast<int>(k), 0.0, c.data(),
              static_cast<int>(n));
  return c;
}

Mat svdvals(const Mat& a, int64_t m, int64_t n) {
  Mat t = a, s(static_cast<size_t>(std::min(m, n)));
  // Row-major m x n is column-major n x m: the same singular values.
  lapack::singular_values(n, m, t.data(), n, s.data());
  return s;
}

HeadQr head_qr(const Mat& q, const Mat& k, int64_t D, int64_t N) {
  HeadQr f;
  f.p = std::min(N, 2 * D);
  f.a = q;
  f.a.insert(f.a.end(), k.begin(), k.end());
  f.tau.resize(static_cast<size_t>(f.p));
  lapack::geqrf(N, 2 * D, f.a.data(), N, f.tau.data());
  f.r1.assign(static_cast<size_t>(f.p * D), 0.0);
  f.r2.assign(static_cast<size_t>(f.p * D), 0.0);
  for (int64_t i = 0; i < f.p; ++i)
    for (int64_t j = i; j < 2 * D; ++j) (j < D ? f.r1[i * D + j] : f.r2[i * D + j - D]) = f.a[j * N + i];
  return f;
}

void for_each_head(const float* wq, const float* wk, const StaticDims& d,
                   const std::function<void(int64_t h, const Mat& q, const Mat& k)>& fn) {
  use_single_threaded_blas();
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t h = 0; h < d.q_heads; ++h) {
    try {
      Mat q, k;
      append_head_f64(wq, h, d.head_dim, d.hidden, q);
      append_head_f64(wk, h / d.group(), d.head_dim, d.hidden, k);
      fn(h, q, k);
    } catch (...) {
#pragma omp critical(qk_for_each_head_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace qk
