#include "layer_static_cpu.hpp"

#include <algorithm>
#include <cfloat>
#include <numeric>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

namespace qk {

namespace {

// [heads, dim, hidden] fp64 copy of row-major f32 host weights.
at::Tensor heads_f64(const float* w, int64_t heads, int64_t dim, int64_t hidden) {
  return at::from_blob(const_cast<float*>(w), {heads, dim, hidden}, at::kFloat).to(at::kDouble);
}

at::Tensor sym(const at::Tensor& a) { return (a + a.transpose(-2, -1)) * 0.5; }

// Per batch entry a factor F with F F^T = A (A symmetric PSD, [n, m, m]): the Cholesky
// factor where it exists, else V diag(sqrt(max(w, 0))) of A's eigendecomposition.
at::Tensor psd_factor(const at::Tensor& a) {
  auto [l, info] = at::linalg_cholesky_ex(a);
  const at::Tensor ok = info.eq(0);
  if (ok.all().item<bool>()) return l;
  auto [w, v] = at::linalg_eigh(a);
  const at::Tensor f = v * w.clamp_min(0).sqrt().unsqueeze(-2);
  return at::where(ok.view({-1, 1, 1}), l, f);
}

template <typename T>
std::vector<T> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

}  // namespace

LayerStatic layer_static_cpu(const float* wq, const float* wk, const StaticDims& d) {
  const int64_t H = d.q_heads, D = d.head_dim, N = d.hidden, K = d.topk;
  if (H <= 0 || D <= 0 || N <= 0 || d.kv_heads <= 0 || H % d.kv_heads != 0)
    throw std::invalid_argument("layer_static_cpu: bad dims");
  if (K < 0 || K > 2 * D)
    throw std::invalid_argument("topk must be in [0, 2 * head_dim], not " + std::to_string(K));
  c10::InferenceMode guard;
  const at::Tensor q = heads_f64(wq, H, D, N);
  const at::Tensor group = at::arange(H, at::kLong).div(d.group(), "floor");
  const at::Tensor k = heads_f64(wk, d.kv_heads, D, N).index_select(0, group);  // [H, D, N]
  const at::Tensor gq = sym(at::matmul(q, q.transpose(1, 2)));
  const at::Tensor gk = sym(at::matmul(k, k.transpose(1, 2)));
  const at::Tensor kqt = at::matmul(k, q.transpose(1, 2));  // K Q^T [H, D, D]

  LayerStatic r;
  // Exact: sigma(Q^T K)^2 = eig(L_K^T G_Q L_K), G_K = L_K L_K^T.
  const at::Tensor lk = psd_factor(gk);
  const at::Tensor small = sym(at::matmul(lk.transpose(1, 2), at::matmul(gq, lk)));
  r.exact_sv = to_vector<double>(at::linalg_eigvalsh(small).clamp_min(0).sqrt().flip(-1));
  r.shortcut_sv = to_vector<double>(at::linalg_svdvals(kqt));
  r.fro_sq = to_vector<double>((gq * gk).sum({1, 2}));
  r.fro_sq_shortcut = to_vector<double>(kqt.square().sum({1, 2}));

  // Symmetric part: M = [Q; K], M M^T = V diag(w) V^T, F = V diag(sqrt w) over the
  // eigenvalues above the rank tolerance; eig(S) = eig(F^T J F / 2).
  const at::Tensor m = at::cat({q, k}, 1);  // [H, 2D, N]
  auto [w, v] = at::linalg_eigh(sym(at::matmul(m, m.transpose(1, 2))));
  const double tol = 8.0 * static_cast<double>(2 * D) * DBL_EPSILON;
  const at::Tensor keep = w > w.amax(-1, true).clamp_min(0) * tol;
  const at::Tensor ws = w.clamp_min(DBL_MIN);
  const at::Tensor sw = at::where(keep, ws.sqrt(), at::zeros_like(w));
  const at::Tensor isw = at::where(keep, ws.rsqrt(), at::zeros_like(w));
  const at::Tensor f = v * sw.unsqueeze(-2);                                        // [H, 2D, 2D]
  const at::Tensor jf = at::cat({f.narrow(1, D, D), f.narrow(1, 0, D)}, 1);       // J F
  auto [lam, y] = at::linalg_eigh(sym(at::matmul(f.transpose(1, 2), jf)) * 0.5);  // ascending

  const std::vector<double> lam_v = to_vector<double>(lam);
  const int64_t D2 = 2 * D;
  r.sym_eig.resize(static_cast<size_t>(H * D2));
  std::vector<int64_t> top(static_cast<size_t>(H * K));
  std::vector<int64_t> order(static_cast<size_t>(D2));
  for (int64_t h = 0; h < H; ++h) {
    const double* l = lam_v.data() + h * D2;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [l](int64_t a, int64_t b) { return std::abs(l[a]) > std::abs(l[b]); });
    for (int64_t i = 0; i < D2; ++i) r.sym_eig[static_cast<size_t>(h * D2 + i)] = l[order[i]];
    for (int64_t i = 0; i < K; ++i) top[static_cast<size_t>(h * K + i)] = order[i];
  }
  if (K == 0) return r;
  // Hidden-space eigenvectors: M^T V diag(w^-1/2) y, unit (zero when y lies outside the
  // kept eigenvalues).
  const at::Tensor idx = at::from_blob(top.data(), {H, 1, K}, at::kLong).expand({H, D2, K});
  const at::Tensor ysel = y.gather(2, idx);  // [H, 2D, K]
  at::Tensor u = at::matmul(m.transpose(1, 2), at::matmul(v * isw.unsqueeze(-2), ysel));  // [H, N, K]
  const at::Tensor norm = u.norm(2, {1}, true);
  u = u / at::where(norm > 0, norm, at::ones_like(norm));
  r.sym_vec = to_vector<float>(u.transpose(1, 2).to(at::kFloat));
  return r;
}

}  // namespace qk
