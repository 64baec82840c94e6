#include "layer_static_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "head_qr.hpp"
#include "internal_error.hpp"
#include "ops/lapack.hpp"
#include "sym_order.hpp"

namespace qk {

namespace {

// (a + a^T) / 2 of the n x n matrix a, in place.
void symmetrize(Mat& a, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) {
      const double v = (a[i * n + j] + a[j * n + i]) * 0.5;
      a[i * n + j] = a[j * n + i] = v;
    }
}

// Singular values of Q^T K = U R1 R2^T U^T, [d] descending: those of R1 R2^T, whose rows
// past m = min(hidden, d) are zero (R1 is upper triangular), padded with zeros.
Mat exact_spectrum(const HeadQr& f, int64_t D) {
  const int64_t m = std::min(f.p, D);
  Mat s = svdvals(times_transpose(f.r1.data(), f.r2.data(), m, f.p, D), m, f.p);
  s.resize(static_cast<size_t>(D), 0.0);
  return s;
}

// Unit hidden-space eigenvectors U y_i of the chosen eigenvectors (columns top[i] of y,
// column-major p x p; -1: none), [K][hidden] f32 into out: U applied by the reflectors
// (ormqr) to y's columns padded with zero rows; a -1 gives the zero vector.
void hidden_eigenvectors(const HeadQr& f, const Mat& y, const int64_t* top, int64_t K, int64_t N,
                         float* out) {
  Mat u(static_cast<size_t>(N * K), 0.0);  // column-major N x K
  for (int64_t i = 0; i < K; ++i)
    if (top[i] >= 0) std::copy_n(y.begin() + top[i] * f.p, f.p, u.begin() + i * N);
  lapack::apply_q(N, K, f.p, f.a.data(), N, f.tau.data(), u.data(), N);
  for (int64_t i = 0; i < K; ++i) {
    const double* c = u.data() + i * N;
    double norm = 0;
    for (int64_t n = 0; n < N; ++n) norm += c[n] * c[n];
    norm = std::sqrt(norm);
    if (norm <= 0) norm = 1;
    for (int64_t n = 0; n < N; ++n) out[i * N + n] = static_cast<float>(c[n] / norm);
  }
}

// sum_ij a_ij b_ij over n values.
double dot(const Mat& a, const Mat& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Head h's fields of r (layer_static_cpu), q and k its [d][hidden] fp64 weights.
void head_static(const Mat& q, const Mat& k, const StaticDims& d, int64_t h, LayerStatic& r) {
  const int64_t D = d.head_dim, N = d.hidden, K = d.topk, D2 = 2 * D;
  const Mat kqt = times_transpose(k.data(), q.data(), D, D, N);  // K Q^T [d][d]
  // Inner products from the d x d Grams: ||g||_F^2 = tr(G_Q G_K).
  Mat gq = times_transpose(q.data(), q.data(), D, D, N), gk = times_transpose(k.data(), k.data(), D, D, N);
  symmetrize(gq, D);
  symmetrize(gk, D);
  r.fro_sq[h] = dot(gq, gk);
  r.fro_sq_shortcut[h] = dot(kqt, kqt);
  const Mat sv = svdvals(kqt, D, D);
  std::copy(sv.begin(), sv.end(), r.shortcut_sv.begin() + h * D);

  // Spectra from the QR factors: sigma(Q^T K) = sigma(R1 R2^T); the symmetric part
  // (g + g^T)/2 = U C U^T with C = (R1 R2^T + R2 R1^T)/2 (p x p).
  const HeadQr f = head_qr(q, k, D, N);
  const Mat ex = exact_spectrum(f, D);
  std::copy(ex.begin(), ex.end(), r.exact_sv.begin() + h * D);
  Mat c = times_transpose(f.r1.data(), f.r2.data(), f.p, f.p, D);
  symmetrize(c, f.p);
  Mat lam(static_cast<size_t>(f.p));
  lapack::symmetric_eigen(f.p, c.data(), f.p, lam.data());  // ascending; c: eigenvectors by column
  std::vector<int64_t> top(static_cast<size_t>(K));
  order_by_magnitude(lam.data(), 1, f.p, D2, K, r.sym_eig.data() + h * D2, top.data());
  if (K > 0) hidden_eigenvectors(f, c, top.data(), K, N, r.sym_vec.data() + h * K * N);
}

}  // namespace

LayerStatic layer_static_cpu(const float* wq, const float* wk, const StaticDims& d) {
  const int64_t H = d.q_heads, D = d.head_dim, N = d.hidden, K = d.topk;
  if (H <= 0 || D <= 0 || N <= 0 || d.kv_heads <= 0 || H % d.kv_heads != 0)
    throw InternalError("layer_static_cpu: bad dims");
  if (K < 0 || K > 2 * D)
    throw std::invalid_argument("topk must be in [0, 2 * head_dim], not " + std::to_string(K));
  LayerStatic r;
  r.exact_sv.resize(static_cast<size_t>(H * D));
  r.shortcut_sv.resize(static_cast<size_t>(H * D));
  r.sym_eig.resize(static_cast<size_t>(H * 2 * D));
  if (K > 0) r.sym_vec.resize(static_cast<size_t>(H * K * N));
  r.fro_sq.resize(static_cast<size_t>(H));
  r.fro_sq_shortcut.resize(static_cast<size_t>(H));
  // Heads in parallel, each its own slices of r.
  for_each_head(wq, wk, d, [&](int64_t h, const Mat& q, const Mat& k) { head_static(q, k, d, h, r); });
  return r;
}

}  // namespace qk
