// GPU twins of the static operator geometry (host/static/static_gpu_cuda.cpp,
// kernels/static_gram.cu) against a self-contained fp64 reference: one-sided Jacobi SVD
// of the hidden x hidden g (no Gram formed: small singular values keep their relative
// accuracy) and cyclic Jacobi on (g + g^T)/2 (routes independent of the GPU's QR
// factors), direct sums for the Frobenius products and the operator Gram, and the
// eigen-residual ||S u - lambda u|| for the eigenvectors; random heads, ill-conditioned
// heads (condition 1e2 .. 1e8, GQA) and rank-deficient ones (two equal W_Q rows, Q = K).
// With libtorch (target qk_static, QK_HAVE_STATIC_CPU) the GPU is also compared with
// layer_static_cpu / operator_gram_cpu. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "bo/gpu_stats.hpp"
#include "gpu_context.hpp"
#include "host/static/static_dims.hpp"
#include "kernels/gpu_parity.hpp"
#include "require_gpu.hpp"
#include "static_gpu.hpp"
#include "static_gram.cuh"
#include "test_random.hpp"
#if defined(QK_HAVE_STATIC_CPU)
#include "layer_static_cpu.hpp"
#include "operator_gram_cpu.hpp"
#endif

namespace qk {
namespace {

using Mat = std::vector<double>;  // row-major n x m

// Eigenvalues (ascending) and, when v is not null, eigenvectors (columns of the row-major
// n x n *v) of the symmetric row-major a, by cyclic Jacobi in fp64.
std::vector<double> jacobi_eig(Mat a, int64_t n, Mat* v = nullptr) {
  if (v != nullptr) {
    v->assign(static_cast<size_t>(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) (*v)[static_cast<size_t>(i * n + i)] = 1.0;
  }
  auto at = [&](int64_t i, int64_t j) -> double& { return a[static_cast<size_t>(i * n + j)]; };
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0, diag = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) (i == j ? diag : off) += at(i, j) * at(i, j);
    if (off == 0.0 || off <= 1e-32 * diag) break;
    for (int64_t p = 0; p < n - 1; ++p) {
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = at(p, q);
        if (apq == 0.0) continue;
        if (std::fabs(apq) <= 1e-18 * std::sqrt(std::fabs(at(p, p) * at(q, q)))) {
          at(p, q) = at(q, p) = 0.0;  // below rounding of the diagonal: converged
          continue;
        }
        const double theta = (at(q, q) - at(p, p)) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int64_t k = 0; k < n; ++k) {
          const double akp = at(k, p), akq = at(k, q);
          at(k, p) = c * akp - s * akq;
          at(k, q) = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double apk = at(p, k), aqk = at(q, k);
          at(p, k) = c * apk - s * aqk;
          at(q, k) = s * apk + c * aqk;
        }
        if (v != nullptr)
          for (int64_t k = 0; k < n; ++k) {
            double& vkp = (*v)[static_cast<size_t>(k * n + p)];
            double& vkq = (*v)[static_cast<size_t>(k * n + q)];
            const double x = vkp, y = vkq;
            vkp = c * x - s * y;
            vkq = s * x + c * y;
          }
      }
    }
  }
  std::vector<double> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) w[static_cast<size_t>(i)] = at(i, i);
  std::vector<int64_t> ord(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ord[static_cast<size_t>(i)] = i;
  std::sort(ord.begin(), ord.end(), [&](int64_t x, int64_t y) { return w[x] < w[y]; });
  std::vector<double> ws(static_cast<size_t>(n));
  Mat vs;
  if (v != nullptr) vs.resize(static_cast<size_t>(n * n));
  for (int64_t j = 0; j < n; ++j) {
    ws[static_cast<size_t>(j)] = w[static_cast<size_t>(ord[j])];
    if (v != nullptr)
      for (int64_t k = 0; k < n; ++k)
        vs[static_cast<size_t>(k * n + j)] = (*v)[static_cast<size_t>(k * n + ord[j])];
  }
  if (v != nullptr) *v = vs;
  return ws;
}

// Singular values, descending, of the row-major n x n matrix a by one-sided (Hestenes)
// Jacobi in fp64: column pairs rotated until orthogonal to 1e-15 of their norms, then the
// column norms. No Gram is formed, so small singular values keep their relative accuracy.
std::vector<double> jacobi_svd(const Mat& a, int64_t n) {
  Mat c(static_cast<size_t>(n * n));  // column j contiguous at c + j n
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) c[static_cast<size_t>(j * n + i)] = a[static_cast<size_t>(i * n + j)];
  for (int sweep = 0; sweep < 60; ++sweep) {
    bool rotated = false;
    for (int64_t p = 0; p < n - 1; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        double* x = c.data() + p * n;
        double* y = c.data() + q * n;
        double al = 0.0, be = 0.0, ga = 0.0;
        for (int64_t k = 0; k < n; ++k) {
          al += x[k] * x[k];
          be += y[k] * y[k];
          ga += x[k] * y[k];
        }
        if (al * be == 0.0 || std::fabs(ga) <= 1e-15 * std::sqrt(al * be)) continue;
        rotated = true;
        const double zeta = (be - al) / (2.0 * ga);
        const double t = (zeta >= 0 ? 1.0 : -1.0) / (std::fabs(zeta) + std::sqrt(1.0 + zeta * zeta));
        const double cs = 1.0 / std::sqrt(1.0 + t * t), sn = cs * t;
        for (int64_t k = 0; k < n; ++k) {
          const double u = x[k], v = y[k];
          x[k] = cs * u - sn * v;
          y[k] = sn * u + cs * v;
        }
      }
    if (!rotated) break;
  }
  std::vector<double> sv(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    double ss = 0.0;
    for (int64_t k = 0; k < n; ++k)
      ss += c[static_cast<size_t>(j * n + k)] * c[static_cast<size_t>(j * n + k)];
    sv[static_cast<size_t>(j)] = std::sqrt(ss);
  }
  std::sort(sv.begin(), sv.end(), std::greater<double>());
  return sv;
}

// One head's operator pieces in fp64: Q, K (d x hidden, row-major).
struct Head {
  int64_t d, hid;
  Mat q, k;
  // g = Q^T K (hidden x hidden).
  Mat g() const {
    Mat out(static_cast<size_t>(hid * hid), 0.0);
    for (int64_t i = 0; i < d; ++i)
      for (int64_t a = 0; a < hid; ++a) {
        const double qa = q[static_cast<size_t>(i * hid + a)];
        for (int64_t b = 0; b < hid; ++b)
          out[static_cast<size_t>(a * hid + b)] += qa * k[static_cast<size_t>(i * hid + b)];
      }
    return out;
  }
  // S u = (Q^T K u + K^T Q u) / 2.
  std::vector<double> apply_s(const std::vector<double>& u) const {
    std::vector<double> ku(static_cast<size_t>(d), 0.0), qu(static_cast<size_t>(d), 0.0);
    for (int64_t i = 0; i < d; ++i)
      for (int64_t a = 0; a < hid; ++a) {
        ku[static_cast<size_t>(i)] += k[static_cast<size_t>(i * hid + a)] * u[static_cast<size_t>(a)];
        qu[static_cast<size_t>(i)] += q[static_cast<size_t>(i * hid + a)] * u[static_cast<size_t>(a)];
      }
    std::vector<double> out(static_cast<size_t>(hid), 0.0);
    for (int64_t i = 0; i < d; ++i)
      for (int64_t a = 0; a < hid; ++a)
        out[static_cast<size_t>(a)] +=
            0.5 * (q[static_cast<size_t>(i * hid + a)] * ku[static_cast<size_t>(i)] +
                   k[static_cast<size_t>(i * hid + a)] * qu[static_cast<size_t>(i)]);
    return out;
  }
};

Head head_of(const float* wq, const float* wk, const StaticDims& s, int64_t h) {
  Head hd{s.head_dim, s.hidden, {}, {}};
  const int64_t g = h / s.group(), n = s.head_dim * s.hidden;
  hd.q.assign(wq + h * n, wq + (h + 1) * n);
  hd.k.assign(wk + g * n, wk + (g + 1) * n);
  return hd;
}

struct RefHead {
  std::vector<double> exact_sv, shortcut_sv, sym_eig;
  double fro_sq = 0, fro_sq_shortcut = 0;
  double sym_scale = 0;  // ||Q||_F^2 + ||K||_F^2 >= the largest eigenvalue of M M^T
};

RefHead reference_head(const Head& hd) {
  const int64_t d = hd.d, hid = hd.hid;
  RefHead r;
  const Mat g = hd.g();
  // S = (g + g^T) / 2, hidden x hidden.
  Mat s(static_cast<size_t>(hid * hid));
  for (int64_t a = 0; a < hid; ++a)
    for (int64_t c = 0; c < hid; ++c)
      s[static_cast<size_t>(a * hid + c)] =
          0.5 * (g[static_cast<size_t>(a * hid + c)] + g[static_cast<size_t>(c * hid + a)]);
  const std::vector<double> e = jacobi_svd(g, hid);
  r.exact_sv.assign(static_cast<size_t>(d), 0.0);
  for (int64_t i = 0; i < std::min(d, hid); ++i)
    r.exact_sv[static_cast<size_t>(i)] = e[static_cast<size_t>(i)];
  for (double x : g) r.fro_sq += x * x;  // ||g||_F^2, summed directly

  // Shortcut P = K Q^T (d x d): eigenvalues of P^T P.
  Mat p(static_cast<size_t>(d * d), 0.0), ptp(static_cast<size_t>(d * d), 0.0);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) {
      double acc = 0.0;
      for (int64_t a = 0; a < hid; ++a)
        acc += hd.k[static_cast<size_t>(i * hid + a)] * hd.q[static_cast<size_t>(j * hid + a)];
      p[static_cast<size_t>(i * d + j)] = acc;
      r.fro_sq_shortcut += acc * acc;
    }
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) {
      double acc = 0.0;
      for (int64_t m = 0; m < d; ++m)
        acc += p[static_cast<size_t>(m * d + i)] * p[static_cast<size_t>(m * d + j)];
      ptp[static_cast<size_t>(i * d + j)] = acc;
    }
  std::vector<double> es = jacobi_eig(ptp, d);
  r.shortcut_sv.resize(static_cast<size_t>(d));
  for (int64_t i = 0; i < d; ++i)
    r.shortcut_sv[static_cast<size_t>(i)] = std::sqrt(std::max(es[static_cast<size_t>(d - 1 - i)], 0.0));

  // Symmetric part: hidden eigenvalues of S, padded with zeros, the 2d largest in magnitude.
  std::vector<double> ls = jacobi_eig(s, hid);
  const int64_t n2 = 2 * d;
  if (static_cast<int64_t>(ls.size()) < n2) ls.resize(static_cast<size_t>(n2), 0.0);
  std::sort(ls.begin(), ls.end());  // ascending, then stable by magnitude (the engine's order)
  std::stable_sort(ls.begin(), ls.end(), [](double a, double b) { return std::fabs(a) > std::fabs(b); });
  ls.resize(static_cast<size_t>(n2));
  r.sym_eig = ls;
  for (double x : hd.q) r.sym_scale += x * x;
  for (double x : hd.k) r.sym_scale += x * x;
  return r;
}

bool all_finite(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

struct Case {
  int64_t d, hid, hq, hkv, layers;
};
const Case kCases[] = {
    {8, 40, 1, 1, 1},  {16, 96, 4, 2, 3}, {64, 257, 6, 3, 1},  {128, 40, 4, 2, 1},
    {64, 96, 1, 1, 3}, {8, 257, 6, 3, 3}, {128, 257, 1, 1, 3}, {16, 40, 6, 3, 3},
};

std::string name_of(const Case& c) {
  return "d=" + std::to_string(c.d) + " hidden=" + std::to_string(c.hid) + " Hq/Hkv=" + std::to_string(c.hq) +
         "/" + std::to_string(c.hkv) + " L=" + std::to_string(c.layers);
}

StaticDims dims_of(const Case& c) {
  return static_dims(c.layers, c.hq, c.hkv, c.d, c.hid, std::min<int64_t>(6, std::min(2 * c.d, c.hid)));
}

TEST(StaticGpu, BlockProductSumMatchesCpuLoop) {
  QK_REQUIRE_GPU();
  GpuContext& ctx = thread_gpu_context(0);
  const cudaStream_t stream = ctx.stream();
  struct P {
    int64_t blocks, d, pad, count, every;
  };
  for (const P& p :
       {P{1, 1, 0, 1, 1}, P{3, 7, 5, 4, 2}, P{2, 64, 0, 3, 3}, P{5, 33, 1, 2, 1}, P{1, 128, 3, 6, 3}}) {
    const int64_t n = p.blocks * p.d, ld = n + p.pad, sa = ld * n + 11;
    const int64_t nb = (p.count + p.every - 1) / p.every, sb = ld * n;
    std::vector<double> a(static_cast<size_t>(sa * p.count)), b(static_cast<size_t>(sb * nb));
    std::mt19937 gen(static_cast<uint32_t>(7 + n));
    std::normal_distribution<double> dist(0.0, 1.0);
    for (double& x : a) x = dist(gen);
    for (double& x : b) x = dist(gen);
    const int64_t out_stride = p.count + 2;
    const size_t nout = static_cast<size_t>(p.blocks * p.blocks * out_stride);
    const DeviceBuffer<double> da = to_device(a, stream), db = to_device(b, stream);
    DeviceBuffer<double> dout(nout, stream);
    dout.zero();
    launch_block_product_sum(da.data(), ld, sa, db.data(), ld, sb, p.every, p.count, p.blocks, p.d,
                             dout.data(), out_stride, stream);
    const std::vector<double> out = to_host(dout, nout);
    for (int64_t c = 0; c < p.count; ++c)
      for (int64_t l = 0; l < p.blocks; ++l)
        for (int64_t lp = 0; lp < p.blocks; ++lp) {
          double s = 0.0, abs_s = 0.0;
          for (int64_t j = 0; j < p.d; ++j)
            for (int64_t i = 0; i < p.d; ++i) {
              const double x = a[static_cast<size_t>(c * sa + (l * p.d + i) + (lp * p.d + j) * ld)];
              const double y =
                  b[static_cast<size_t>((c / p.every) * sb + (l * p.d + i) + (lp * p.d + j) * ld)];
              s += x * y;
              abs_s += std::fabs(x * y);
            }
          const double g = out[static_cast<size_t>((l * p.blocks + lp) * out_stride + c)];
          ASSERT_TRUE(std::isfinite(g));
          EXPECT_NEAR(g, s, 1e-12 * abs_s + 1e-300)
              << "blocks " << p.blocks << " d " << p.d << " c " << c << " (" << l << "," << lp << ")";
        }
    // Untouched padding columns of the output stay zero.
    for (int64_t bl = 0; bl < p.blocks * p.blocks; ++bl)
      for (int64_t c = p.count; c < out_stride; ++c)
        EXPECT_EQ(out[static_cast<size_t>(bl * out_stride + c)], 0.0);
  }
}

TEST(StaticGpu, LayerStaticMatchesReference) {
  QK_REQUIRE_GPU();
  uint32_t seed = 1234;
  for (const Case& cs : kCases) {
    SCOPED_TRACE(name_of(cs));
    const StaticDims s = dims_of(cs);
    const int64_t d = s.head_dim, hid = s.hidden, n2 = 2 * d, topk = s.topk;
    const std::vector<float> wq = normals<float>(static_cast<size_t>(s.q_heads * d * hid), seed++, 0.05f);
    const std::vector<float> wk = normals<float>(static_cast<size_t>(s.kv_heads * d * hid), seed++, 0.05f);
    const LayerStatic gpu = layer_static_gpu(wq.data(), wk.data(), s, 0);
    ASSERT_EQ(gpu.exact_sv.size(), static_cast<size_t>(s.q_heads * d));
    ASSERT_EQ(gpu.shortcut_sv.size(), static_cast<size_t>(s.q_heads * d));
    ASSERT_EQ(gpu.sym_eig.size(), static_cast<size_t>(s.q_heads * n2));
    ASSERT_EQ(gpu.sym_vec.size(), static_cast<size_t>(s.q_heads * topk * hid));
    ASSERT_EQ(gpu.fro_sq.size(), static_cast<size_t>(s.q_heads));
    ASSERT_EQ(gpu.fro_sq_shortcut.size(), static_cast<size_t>(s.q_heads));
    EXPECT_TRUE(all_finite(gpu.exact_sv) && all_finite(gpu.shortcut_sv) && all_finite(gpu.sym_eig) &&
                all_finite(gpu.fro_sq) && all_finite(gpu.fro_sq_shortcut));
    for (float x : gpu.sym_vec) ASSERT_TRUE(std::isfinite(x));

    for (int64_t h = 0; h < s.q_heads; ++h) {
      SCOPED_TRACE("head " + std::to_string(h));
      const Head hd = head_of(wq.data(), wk.data(), s, h);
      const RefHead ref = reference_head(hd);
      const size_t hd_off = static_cast<size_t>(h * d);
      const double s1 = std::max(ref.exact_sv[0], 1e-300), sc1 = std::max(ref.shortcut_sv[0], 1e-300);
      // From QR factors the singular values, null ones included, are off by about
      // eps * s1 (the Gram route's null ones were off by sqrt(eps) * s1).
      expect_close(slice(gpu.exact_sv, hd_off, d), ref.exact_sv, {1e-13 * s1, 1e-9}, "exact sv");
      expect_close(slice(gpu.shortcut_sv, hd_off, d), ref.shortcut_sv, {1e-6 * sc1, 1e-9}, "shortcut sv");
      for (int64_t i = 1; i < d; ++i) {
        EXPECT_GE(gpu.exact_sv[hd_off + i - 1], gpu.exact_sv[hd_off + i]);
        EXPECT_GE(gpu.shortcut_sv[hd_off + i - 1], gpu.shortcut_sv[hd_off + i]);
        EXPECT_GE(gpu.exact_sv[hd_off + i], 0.0);
      }
      expect_close(slice(gpu.fro_sq, h, 1), {ref.fro_sq}, {1e-12 * s1 * s1, 1e-10}, "fro_sq");
      expect_close(slice(gpu.fro_sq_shortcut, h, 1), {ref.fro_sq_shortcut}, {1e-12 * sc1 * sc1, 1e-10},
                   "fro_sq_shortcut");
      // fro_sq = sum of squared exact singular values.
      double sum_sq = 0.0;
      for (int64_t i = 0; i < d; ++i) sum_sq += gpu.exact_sv[hd_off + i] * gpu.exact_sv[hd_off + i];
      EXPECT_NEAR(gpu.fro_sq[static_cast<size_t>(h)], sum_sq, 1e-9 * s1 * s1);

      const size_t e_off = static_cast<size_t>(h * n2);
      expect_close(slice(gpu.sym_eig, e_off, n2), ref.sym_eig, {1e-11 * ref.sym_scale, 1e-9},
                   "symmetric eigenvalues");
      for (int64_t i = 1; i < n2; ++i)
        EXPECT_GE(std::fabs(gpu.sym_eig[e_off + i - 1]), std::fabs(gpu.sym_eig[e_off + i]));

      // Eigenvectors: unit, and S u = lambda u up to the f32 rounding of u.
      for (int64_t j = 0; j < topk; ++j) {
        const float* u32 = gpu.sym_vec.data() + (h * topk + j) * hid;
        std::vector<double> u(u32, u32 + hid);
        double nrm = 0.0;
        for (double x : u) nrm += x * x;
        const double lam = gpu.sym_eig[e_off + j];
        // Eigenvectors of (numerically) zero eigenvalues are not defined: unit or zero.
        if (std::fabs(lam) <= 1e-8 * std::max(s1, std::fabs(ref.sym_eig[0]))) {
          EXPECT_TRUE(nrm == 0.0 || std::fabs(std::sqrt(nrm) - 1.0) <= 1e-6) << "eigenvector " << j;
          continue;
        }
        EXPECT_NEAR(std::sqrt(nrm), 1.0, 1e-6) << "eigenvector " << j;
        const std::vector<double> su = hd.apply_s(u);
        double res = 0.0;
        for (int64_t a = 0; a < hid; ++a) res += (su[a] - lam * u[a]) * (su[a] - lam * u[a]);
        EXPECT_LE(std::sqrt(res), 1e-5 * std::max(s1, std::fabs(ref.sym_eig[0])))
            << "eigen-residual of vector " << j << " (lambda " << lam << ")";
      }
    }

#if defined(QK_HAVE_STATIC_CPU)
    {  // The CPU path's conventions, field by field.
      const LayerStatic cpu = layer_static_cpu(wq.data(), wk.data(), s);
      double smax = 0.0;
      for (double x : cpu.exact_sv) smax = std::max(smax, x);
      expect_close(gpu.exact_sv, cpu.exact_sv, {1e-13 * smax, 1e-9}, "cpu exact sv");
      expect_close(gpu.shortcut_sv, cpu.shortcut_sv, {1e-6 * smax + 1e-6, 1e-6}, "cpu shortcut sv");
      expect_close(gpu.sym_eig, cpu.sym_eig, {1e-9 * smax, 1e-9}, "cpu sym eig");
      expect_close(gpu.fro_sq, cpu.fro_sq, {1e-12 * smax * smax, 1e-10}, "cpu fro_sq");
      expect_close(gpu.fro_sq_shortcut, cpu.fro_sq_shortcut, {1e-12, 1e-10}, "cpu fro_sq_shortcut");
      ASSERT_EQ(gpu.sym_vec.size(), cpu.sym_vec.size());
    }
#endif
  }
}

// [rows][cols] fp64 orthonormal rows (modified Gram-Schmidt, twice, of Gaussian rows;
// rows <= cols).
Mat orthonormal_rows(int64_t rows, int64_t cols, uint32_t seed) {
  const std::vector<float> g = normals<float>(static_cast<size_t>(rows * cols), seed);
  Mat e(g.begin(), g.end());
  for (int pass = 0; pass < 2; ++pass)
    for (int64_t i = 0; i < rows; ++i) {
      double* x = e.data() + i * cols;
      for (int64_t j = 0; j < i; ++j) {
        const double* y = e.data() + j * cols;
        double dot = 0.0;
        for (int64_t k = 0; k < cols; ++k) dot += x[k] * y[k];
        for (int64_t k = 0; k < cols; ++k) x[k] -= dot * y[k];
      }
      double nrm = 0.0;
      for (int64_t k = 0; k < cols; ++k) nrm += x[k] * x[k];
      for (int64_t k = 0; k < cols; ++k) x[k] /= std::sqrt(nrm);
    }
  return e;
}

// A [rows][hidden] f32 matrix W diag(s) E: E orthonormal rows, s log-spaced from top down
// to top / kappa, W a random rows x rows rotation (its Gram W diag(s^2) W^T is not diagonal).
std::vector<float> graded_rows(int64_t rows, int64_t hidden, double top, double kappa, uint32_t seed) {
  const Mat e = orthonormal_rows(rows, hidden, seed), w = orthonormal_rows(rows, rows, seed + 1000);
  std::vector<float> out(static_cast<size_t>(rows * hidden));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t k = 0; k < hidden; ++k) {
      double acc = 0.0;
      for (int64_t j = 0; j < rows; ++j) {
        const double sj = top * std::pow(kappa, -static_cast<double>(j) /
                                                    static_cast<double>(std::max<int64_t>(rows - 1, 1)));
        acc += w[static_cast<size_t>(i * rows + j)] * sj * e[static_cast<size_t>(j * hidden + k)];
      }
      out[static_cast<size_t>(i * hidden + k)] = static_cast<float>(acc);
    }
  return out;
}

// ours against want, both [n]: where want is a true zero (|want| <= hidden eps max |want|)
// |ours| <= zero_rel max |want|, elsewhere |ours - want| <= rel |want| + 4 eps max |want|
// (the formed operator's own rounding). Sorted by value first when `sort`.
void expect_exact(std::vector<double> ours, std::vector<double> want, int64_t hidden, double rel,
                  double zero_rel, bool sort, const std::string& what) {
  ASSERT_EQ(ours.size(), want.size()) << what;
  if (sort) {
    std::sort(ours.begin(), ours.end());
    std::sort(want.begin(), want.end());
  }
  double top = 0.0;
  for (double x : want) top = std::max(top, std::fabs(x));
  const double eps = std::numeric_limits<double>::epsilon();
  for (size_t i = 0; i < ours.size(); ++i) {
    ASSERT_TRUE(std::isfinite(ours[i])) << what << " [" << i << "]";
    if (std::fabs(want[i]) <= static_cast<double>(hidden) * eps * top)
      EXPECT_LE(std::fabs(ours[i]), zero_rel * top) << what << " zero [" << i << "]";
    else
      EXPECT_NEAR(ours[i], want[i], rel * std::fabs(want[i]) + 4 * eps * top) << what << " [" << i << "]";
  }
}

// Ill-conditioned GQA heads (condition 1e2 .. 1e8) and rank-deficient ones: singular values
// and symmetric eigenvalues to 1e-9 relative, true zeros below 1e-14 of the largest (the
// Gram route read them as up to 1e-8).
TEST(StaticGpu, IllConditionedHeadsStayExact) {
  QK_REQUIRE_GPU();
  const StaticDims s = static_dims(1, 6, 3, 16, 64, 4);
  const int64_t d = s.head_dim, hid = s.hidden;
  // Group 0: orthonormal K, Q of condition 1e2 and 1e8 (so is Q^T K); group 1: K of
  // condition 1e4, Q of 1e2 and 1e4; group 2: a random K, a Q with two equal rows, Q = K.
  std::vector<float> wq, wk;
  auto append = [](std::vector<float>& to, const std::vector<float>& rows) {
    to.insert(to.end(), rows.begin(), rows.end());
  };
  append(wk, graded_rows(d, hid, 0.5, 1.0, 11));
  append(wk, graded_rows(d, hid, 1.0, 1e4, 12));
  const std::vector<float> k2 = normals<float>(static_cast<size_t>(d * hid), 13, 0.1f);
  append(wk, k2);
  const double kappa[] = {1e2, 1e8, 1e2, 1e4};
  for (int h = 0; h < 4; ++h) append(wq, graded_rows(d, hid, 0.3, kappa[h], 20 + h));
  std::vector<float> equal_rows = normals<float>(static_cast<size_t>(d * hid), 30, 0.1f);
  std::copy(equal_rows.begin(), equal_rows.begin() + hid, equal_rows.begin() + hid);
  append(wq, equal_rows);
  append(wq, k2);
  const LayerStatic gpu = layer_static_gpu(wq.data(), wk.data(), s, 0);
#if defined(QK_HAVE_STATIC_CPU)
  const LayerStatic cpu = layer_static_cpu(wq.data(), wk.data(), s);
#endif
  const int64_t n2 = 2 * d;
  for (int64_t h = 0; h < s.q_heads; ++h) {
    SCOPED_TRACE("head " + std::to_string(h));
    const RefHead ref = reference_head(head_of(wq.data(), wk.data(), s, h));
    const std::vector<double> sv(gpu.exact_sv.begin() + h * d, gpu.exact_sv.begin() + (h + 1) * d);
    const std::vector<double> eig(gpu.sym_eig.begin() + h * n2, gpu.sym_eig.begin() + (h + 1) * n2);
    expect_exact(sv, ref.exact_sv, hid, 1e-9, 1e-14, false, "exact sv");
    expect_exact(eig, ref.sym_eig, hid, 1e-9, 1e-14, true, "symmetric eigenvalues");
    if (h == 4) {
      EXPECT_LE(sv[static_cast<size_t>(d - 1)], 1e-14 * sv[0]) << "two equal W_Q rows: rank d - 1";
    }
#if defined(QK_HAVE_STATIC_CPU)
    const std::vector<double> csv(cpu.exact_sv.begin() + h * d, cpu.exact_sv.begin() + (h + 1) * d);
    const std::vector<double> ceig(cpu.sym_eig.begin() + h * n2, cpu.sym_eig.begin() + (h + 1) * n2);
    expect_exact(sv, csv, hid, 1e-9, 1e-14, false, "cpu exact sv");
    expect_exact(eig, ceig, hid, 1e-9, 1e-14, true, "cpu symmetric eigenvalues");
#endif
  }
}

TEST(StaticGpu, OperatorGramMatchesDirectSums) {
  QK_REQUIRE_GPU();
  uint32_t seed = 99;
  for (const Case& cs : kCases) {
    SCOPED_TRACE(name_of(cs));
    const StaticDims s = dims_of(cs);
    const int64_t d = s.head_dim, hid = s.hidden, nl = s.layers, hq = s.q_heads;
    std::vector<std::vector<float>> q(static_cast<size_t>(nl)), k(static_cast<size_t>(nl));
    std::vector<const float*> pq, pk;
    for (int64_t l = 0; l < nl; ++l) {
      q[static_cast<size_t>(l)] = normals<float>(static_cast<size_t>(hq * d * hid), seed++, 0.05f);
      k[static_cast<size_t>(l)] = normals<float>(static_cast<size_t>(s.kv_heads * d * hid), seed++, 0.05f);
      pq.push_back(q[static_cast<size_t>(l)].data());
      pk.push_back(k[static_cast<size_t>(l)].data());
    }
    const std::vector<double> gpu = operator_gram_gpu(pq, pk, s, 0);
    ASSERT_EQ(gpu.size(), static_cast<size_t>(nl * nl * hq));
    ASSERT_TRUE(all_finite(gpu));
    for (int64_t h = 0; h < hq; ++h) {
      std::vector<Head> heads;
      for (int64_t l = 0; l < nl; ++l)
        heads.push_back(head_of(q[static_cast<size_t>(l)].data(), k[static_cast<size_t>(l)].data(), s, h));
      // Row norms for the rounding bound |(X Y^T)_ij| <= |x_i| |y_j|.
      auto row_norm = [&](const Mat& m, int64_t i) {
        double t = 0.0;
        for (int64_t a = 0; a < hid; ++a)
          t += m[static_cast<size_t>(i * hid + a)] * m[static_cast<size_t>(i * hid + a)];
        return std::sqrt(t);
      };
      for (int64_t l = 0; l < nl; ++l)
        for (int64_t lp = 0; lp < nl; ++lp) {
          const Head &x = heads[static_cast<size_t>(l)], &y = heads[static_cast<size_t>(lp)];
          double ref = 0.0, bx = 0.0, by = 0.0;
          for (int64_t i = 0; i < d; ++i) {
            bx += row_norm(x.q, i) * row_norm(x.k, i);
            by += row_norm(y.q, i) * row_norm(y.k, i);
            for (int64_t j = 0; j < d; ++j) {
              double aq = 0.0, ak = 0.0;
              for (int64_t a = 0; a < hid; ++a) {
                aq += x.q[static_cast<size_t>(i * hid + a)] * y.q[static_cast<size_t>(j * hid + a)];
                ak += x.k[static_cast<size_t>(i * hid + a)] * y.k[static_cast<size_t>(j * hid + a)];
              }
              ref += aq * ak;
            }
          }
          const double g = gpu[static_cast<size_t>((l * nl + lp) * hq + h)];
          EXPECT_NEAR(g, ref, 1e-11 * bx * by + 1e-10 * std::fabs(ref))
              << "gram[" << l << "][" << lp << "][" << h << "]";
        }
      // The diagonal is ||g_l||_F^2: positive.
      for (int64_t l = 0; l < nl; ++l) EXPECT_GT(gpu[static_cast<size_t>((l * nl + l) * hq + h)], 0.0);
    }
#if defined(QK_HAVE_STATIC_CPU)
    const std::vector<double> cpu = operator_gram_cpu(pq, pk, s);
    ASSERT_EQ(cpu.size(), gpu.size());
    double gmax = 0.0;
    for (double x : cpu) gmax = std::max(gmax, std::fabs(x));
    for (size_t i = 0; i < cpu.size(); ++i) EXPECT_NEAR(gpu[i], cpu[i], 1e-10 * gmax) << "cpu gram " << i;
#endif
  }
}

// Arguments are checked before any device is touched: runs without a GPU too.
TEST(StaticGpu, RejectsBadDims) {
  StaticDims s = static_dims(1, 3, 2, 4, 8);
  const std::vector<float> w(static_cast<size_t>(3 * 4 * 8), 1.0f);
  EXPECT_THROW(layer_static_gpu(w.data(), w.data(), s, 0), std::invalid_argument);
  s.kv_heads = 3;
  s.topk = 9;
  EXPECT_THROW(layer_static_gpu(w.data(), w.data(), s, 0), std::invalid_argument);
  s.topk = 2;
  EXPECT_THROW(layer_static_gpu(nullptr, w.data(), s, 0), std::invalid_argument);
  EXPECT_THROW(operator_gram_gpu({w.data()}, {}, s, 0), std::invalid_argument);
}

// Rank-deficient weights (zero K rows, d > hidden): zeros, never NaN.
TEST(StaticGpu, RankDeficientGivesZerosNotNan) {
  QK_REQUIRE_GPU();
  const StaticDims s = static_dims(1, 2, 1, 16, 12, 4);
  std::vector<float> wq = normals<float>(static_cast<size_t>(2 * 16 * 12), 5);
  std::vector<float> wk = normals<float>(static_cast<size_t>(16 * 12), 6);
  for (int64_t i = 8; i < 16; ++i)
    for (int64_t a = 0; a < 12; ++a) wk[static_cast<size_t>(i * 12 + a)] = 0.0f;
  const LayerStatic r = layer_static_gpu(wq.data(), wk.data(), s, 0);
  EXPECT_TRUE(all_finite(r.exact_sv) && all_finite(r.shortcut_sv) && all_finite(r.sym_eig));
  for (float x : r.sym_vec) EXPECT_TRUE(std::isfinite(x));
  // rank(K) <= 8: at least 8 of the 16 exact singular values are zero, at rounding level.
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 8; i < 16; ++i)
      EXPECT_LE(r.exact_sv[static_cast<size_t>(h * 16 + i)], 1e-14 * r.exact_sv[static_cast<size_t>(h * 16)]);
  // All-zero weights: everything zero.
  std::fill(wk.begin(), wk.end(), 0.0f);
  const LayerStatic z = layer_static_gpu(wq.data(), wk.data(), s, 0);
  for (double x : z.exact_sv) EXPECT_LE(std::fabs(x), 1e-12);
  for (double x : z.fro_sq) EXPECT_EQ(x, 0.0);
  for (float x : z.sym_vec) EXPECT_TRUE(std::isfinite(x));
}

}  // namespace
}  // namespace qk
