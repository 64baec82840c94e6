#include "ops/kv_cka_cpu.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/blas_threads.hpp"

namespace qk {

namespace {

// Rows of m [seq][dim] minus their column means, in fp64.
void centre_rows(const float* m, int64_t seq, int64_t dim, double* out) {
  std::vector<double> mean(static_cast<size_t>(dim), 0.0);
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t d = 0; d < dim; ++d) mean[d] += m[i * dim + d];
  for (double& v : mean) v /= static_cast<double>(seq);
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t d = 0; d < dim; ++d) out[i * dim + d] = m[i * dim + d] - mean[d];
}

// |A^T B|_F^2 for A, B [seq][dim] fp64, through the dim x dim product (scratch g).
double cross_fro_sq(const double* a, const double* b, int64_t seq, int64_t dim, double* g) {
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(dim), static_cast<int>(dim),
              static_cast<int>(seq), 1.0, a, static_cast<int>(dim), b, static_cast<int>(dim), 0.0, g,
              static_cast<int>(dim));
  double s = 0.0;
  for (int64_t i = 0; i < dim * dim; ++i) s += g[i] * g[i];
  return s;
}

// |A^T A|_F^2 for A [seq][dim] fp64 from the upper triangle of the symmetric product.
double self_fro_sq(const double* a, int64_t seq, int64_t dim, double* g) {
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(dim), static_cast<int>(seq), 1.0, a,
              static_cast<int>(dim), 0.0, g, static_cast<int>(dim));
  double diag = 0.0, off = 0.0;
  for (int64_t i = 0; i < dim; ++i) {
    diag += g[i * dim + i] * g[i * dim + i];
    for (int64_t j = i + 1; j < dim; ++j) off += g[i * dim + j] * g[i * dim + j];
  }
  return diag + 2.0 * off;
}

}  // namespace

void kv_cka_cpu(const float* k, const float* v, int64_t count, int64_t stride, int64_t seq, int64_t dim,
                double* cka) {
  use_single_threaded_blas();
#pragma omp parallel
  {
    std::vector<double> kc(static_cast<size_t>(seq * dim)), vc(kc.size()), g(static_cast<size_t>(dim * dim));
#pragma omp for schedule(dynamic)
    for (int64_t c = 0; c < count; ++c) {
      centre_rows(k + c * stride, seq, dim, kc.data());
      centre_rows(v + c * stride, seq, dim, vc.data());
      const double kv = cross_fro_sq(kc.data(), vc.data(), seq, dim, g.data());
      const double kk = self_fro_sq(kc.data(), seq, dim, g.data());
      const double vv = self_fro_sq(vc.data(), seq, dim, g.data());
      const double denom = std::sqrt(kk) * std::sqrt(vv);
      cka[c] = denom > 0.0 ? std::min(1.0, kv / denom) : 0.0;  // <= 1 up to rounding
    }
  }
}

}  // namespace qk
