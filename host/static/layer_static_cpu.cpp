#include "layer_static_cpu.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "internal_error.hpp"
#include "sym_order.hpp"

namespace qk {

namespace {

// [heads, dim, hidden] fp64 copy of row-major f32 host weights.
at::Tensor heads_f64(const float* w, int64_t heads, int64_t dim, int64_t hidden) {
  return at::from_blob(const_cast<float*>(w), {heads, dim, hidden}, at::kFloat).to(at::kDouble);
}

at::Tensor sym(const at::Tensor& a) { return (a + a.transpose(-2, -1)) * 0.5; }

template <typename T>
std::vector<T> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

// Householder QR (LAPACK geqrf) of every head's B^T = [Q^T, K^T] (hidden x 2d): B^T = U R,
// U = the first p = min(hidden, 2d) columns of the reflectors' product, R p x 2d upper
// trapezoidal; Q^T = U R1 and K^T = U R2 with R1, R2 its two p x d halves.
struct HeadQr {
  at::Tensor a, tau;  // geqrf's output: reflectors below the diagonal, [H, hidden, 2d]; [H, p]
  at::Tensor r1, r2;  // [H, p, d]
};

HeadQr head_qr(const at::Tensor& q, const at::Tensor& k) {
  const int64_t D = q.size(1), p = std::min(q.size(2), 2 * D);
  auto [a, tau] = at::geqrf(at::cat({q, k}, 1).transpose(1, 2));
  const at::Tensor r = a.narrow(1, 0, p).triu();
  return {a, tau, r.narrow(2, 0, D), r.narrow(2, D, D)};
}

// Singular values of Q^T K = U R1 R2^T U^T, [H][d] descending: those of R1 R2^T, whose
// rows past m = min(hidden, d) are zero (R1 is upper triangular), padded with zeros.
std::vector<double> exact_spectrum(const HeadQr& f) {
  const int64_t D = f.r1.size(2), m = std::min(f.r1.size(1), D);
  const at::Tensor sv = at::linalg_svdvals(at::matmul(f.r1.narrow(1, 0, m), f.r2.transpose(1, 2)));
  return to_vector<double>(at::constant_pad_nd(sv, {0, D - m}));
}

// Unit hidden-space eigenvectors U y of the chosen eigenvectors y (columns top[h][i] of
// y [H, p, p], -1: none), [H][K][hidden] f32: U applied by the reflectors (ormqr) to y
// padded with zero rows; a -1 gives the zero vector.
std::vector<float> hidden_eigenvectors(const HeadQr& f, const at::Tensor& y, std::vector<int64_t> top,
                                       int64_t K) {
  const int64_t H = y.size(0), p = y.size(1), N = f.a.size(1);
  for (int64_t& i : top) i = i < 0 ? p : i;  // column p: a zero column appended to y
  const at::Tensor idx = at::from_blob(top.data(), {H, 1, K}, at::kLong).expand({H, p, K});
  const at::Tensor ysel = at::constant_pad_nd(y, {0, 1}).gather(2, idx);                  // [H, p, K]
  at::Tensor u = at::ormqr(f.a, f.tau, at::constant_pad_nd(ysel, {0, 0, 0, N - p}));  // [H, N, K]
  const at::Tensor norm = u.norm(2, {1}, true);
  u = u / at::where(norm > 0, norm, at::ones_like(norm));
  return to_vector<float>(u.transpose(1, 2).to(at::kFloat));
}

}  // namespace

LayerStatic layer_static_cpu(const float* wq, const float* wk, const StaticDims& d) {
  const int64_t H = d.q_heads, D = d.head_dim, N = d.hidden, K = d.topk;
  if (H <= 0 || D <= 0 || N <= 0 || d.kv_heads <= 0 || H % d.kv_heads != 0)
    throw InternalError("layer_static_cpu: bad dims");
  if (K < 0 || K > 2 * D)
    throw std::invalid_argument("topk must be in [0, 2 * head_dim], not " + std::to_string(K));
  c10::InferenceMode guard;
  const at::Tensor q = heads_f64(wq, H, D, N);
  const at::Tensor group = at::arange(H, at::kLong).div(d.group(), "floor");
  const at::Tensor k = heads_f64(wk, d.kv_heads, D, N).index_select(0, group);  // [H, D, N]
  const at::Tensor kqt = at::matmul(k, q.transpose(1, 2));                         // K Q^T [H, D, D]

  LayerStatic r;
  // Inner products from the d x d Grams: ||g||_F^2 = tr(G_Q G_K).
  r.fro_sq = to_vector<double>((sym(at::matmul(q, q.transpose(1, 2))) * sym(at::matmul(k, k.transpose(1, 2))))
                                   .sum({1, 2}));
  r.shortcut_sv = to_vector<double>(at::linalg_svdvals(kqt));
  r.fro_sq_shortcut = to_vector<double>(kqt.square().sum({1, 2}));

  // Spectra from the QR factors: sigma(Q^T K) = sigma(R1 R2^T); the symmetric part
  // (g + g^T)/2 = U C U^T with C = (R1 R2^T + R2 R1^T)/2 (p x p).
  const HeadQr f = head_qr(q, k);
  r.exact_sv = exact_spectrum(f);
  auto [lam, y] = at::linalg_eigh(sym(at::matmul(f.r1, f.r2.transpose(1, 2))));  // ascending
  const int64_t p = lam.size(1), D2 = 2 * D;
  r.sym_eig.resize(static_cast<size_t>(H * D2));
  std::vector<int64_t> top(static_cast<size_t>(H * K));
  order_by_magnitude(to_vector<double>(lam).data(), H, p, D2, K, r.sym_eig.data(), top.data());
  if (K > 0) r.sym_vec = hidden_eigenvectors(f, y, top, K);
  return r;
}

}  // namespace qk
