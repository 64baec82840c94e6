// host/static CPU path: hand-built operators with known spectra, rank-deficient and
// ill-conditioned weights (condition 1e2 .. 1e8, GQA), the seed's descriptors and the exact
// condition number, and the operator Gram against explicit hidden x hidden operators.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "descriptors.hpp"
#include "layer_static_cpu.hpp"
#include "host/static/static_dims.hpp"
#include "operator_gram_cpu.hpp"
#include "test_random.hpp"

namespace qk {
namespace {

// Row i of a [rows][hidden] matrix set to the unit vector e_j.
void set_unit(std::vector<float>& w, int64_t hidden, int64_t row, int64_t j) {
  for (int64_t c = 0; c < hidden; ++c) w[static_cast<size_t>(row * hidden + c)] = c == j ? 1.0f : 0.0f;
}

// The explicit operator Q^T K of head h (fp64, [hidden, hidden]).
at::Tensor explicit_operator(const std::vector<float>& wq, const std::vector<float>& wk, const StaticDims& d,
                             int64_t h) {
  const at::Tensor q =
      at::from_blob(const_cast<float*>(wq.data()), {d.q_heads, d.head_dim, d.hidden}, at::kFloat)
          .to(at::kDouble)[h];
  const at::Tensor k =
      at::from_blob(const_cast<float*>(wk.data()), {d.kv_heads, d.head_dim, d.hidden}, at::kFloat)
          .to(at::kDouble)[h / d.group()];
  return at::matmul(q.t(), k);
}

TEST(StaticCpu, OrthonormalRowsGiveUnitSpectra) {
  // Head 0: Q = K = [e0; e1; e2]; head 1: Q = [e3; e4; e5] orthogonal to its K.
  const StaticDims d = static_dims(1, 2, 1, 3, 8, 6);
  std::vector<float> wq(2 * 3 * 8), wk(3 * 8);
  for (int64_t i = 0; i < 3; ++i) {
    set_unit(wq, 8, i, i);
    set_unit(wq, 8, 3 + i, 3 + i);
    set_unit(wk, 8, i, i);
  }
  const LayerStatic r = layer_static_cpu(wq.data(), wk.data(), d);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(r.exact_sv[i], 1.0, 1e-12);
    EXPECT_NEAR(r.shortcut_sv[i], 1.0, 1e-12);
    EXPECT_NEAR(r.exact_sv[3 + i], 1.0, 1e-12);     // Q^T K still has singular values 1
    EXPECT_NEAR(r.shortcut_sv[3 + i], 0.0, 1e-12);  // but K Q^T = 0: the shortcut differs
  }
  EXPECT_NEAR(r.fro_sq[0], 3.0, 1e-12);
  EXPECT_NEAR(r.fro_sq[1], 3.0, 1e-12);
  EXPECT_NEAR(r.fro_sq_shortcut[0], 3.0, 1e-12);
  EXPECT_NEAR(r.fro_sq_shortcut[1], 0.0, 1e-12);
  // Head 0: S = projector on span(e0..e2): eigenvalues 1, 1, 1, 0, 0, 0.
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(r.sym_eig[i], i < 3 ? 1.0 : 0.0, 1e-7) << i;
  // Head 1: (g + g^T)/2 has eigenvalues +-1/2, three each.
  int pos = 0;
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(std::abs(r.sym_eig[6 + i]), 0.5, 1e-12);
    pos += r.sym_eig[6 + i] > 0;
  }
  EXPECT_EQ(pos, 3);
  // Head 0's top eigenvectors lie in span(e0, e1, e2) and are unit.
  for (int i = 0; i < 3; ++i) {
    double in = 0, all = 0;
    for (int c = 0; c < 8; ++c) {
      const double v = r.sym_vec[static_cast<size_t>(i * 8 + c)];
      all += v * v;
      if (c < 3) in += v * v;
    }
    EXPECT_NEAR(all, 1.0, 1e-6);
    EXPECT_NEAR(in, 1.0, 1e-6);
  }
}

TEST(StaticCpu, RankDeficientKeyGivesZerosNotNaN) {
  // K = [e0; e0; 0]: rank 1, singular G_K and M M^T.
  const StaticDims d = static_dims(1, 1, 1, 3, 6, 6);
  std::vector<float> wq = normals<float>(3 * 6, 7), wk(3 * 6, 0.0f);
  set_unit(wk, 6, 0, 0);
  set_unit(wk, 6, 1, 0);
  const LayerStatic r = layer_static_cpu(wq.data(), wk.data(), d);
  for (double x : r.exact_sv) EXPECT_TRUE(std::isfinite(x));
  for (double x : r.sym_eig) EXPECT_TRUE(std::isfinite(x));
  for (float x : r.sym_vec) EXPECT_TRUE(std::isfinite(x));
  double q01 = 0;  // ||q0 + q1||: Q^T K = (q0 + q1) e0^T
  for (int c = 0; c < 6; ++c) q01 += std::pow(double(wq[c]) + double(wq[6 + c]), 2);
  EXPECT_NEAR(r.exact_sv[0], std::sqrt(q01), 1e-10 * std::sqrt(q01));
  // True zeros read at rounding level (the QR route), not 1e-8 (the old Gram route).
  EXPECT_LT(r.exact_sv[1], 1e-15 * r.exact_sv[0]);
  EXPECT_LT(r.exact_sv[2], 1e-15 * r.exact_sv[0]);
  EXPECT_NEAR(r.fro_sq[0], q01, 1e-10 * q01);
  // Against the explicit operator's symmetric part.
  const at::Tensor g = explicit_operator(wq, wk, d, 0);
  const at::Tensor ev = at::linalg_eigvalsh((g + g.t()) * 0.5);
  const double top = ev.abs().max().item<double>();
  std::vector<double> want(ev.data_ptr<double>(), ev.data_ptr<double>() + 6);
  std::sort(want.begin(), want.end(), [](double a, double b) { return std::abs(a) > std::abs(b); });
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(r.sym_eig[i], want[i], 1e-9 * top) << i;
}

TEST(StaticCpu, GqaRandomMatchesExplicitOperators) {
  const StaticDims d = static_dims(1, 4, 2, 5, 12, 4);
  const std::vector<float> wq = normals<float>(4 * 5 * 12, 1), wk = normals<float>(2 * 5 * 12, 2);
  const LayerStatic r = layer_static_cpu(wq.data(), wk.data(), d);
  for (int64_t h = 0; h < 4; ++h) {
    const at::Tensor g = explicit_operator(wq, wk, d, h);
    const at::Tensor sv = at::linalg_svdvals(g);
    const double top = sv[0].item<double>();
    for (int64_t i = 0; i < 5; ++i) EXPECT_NEAR(r.exact_sv[h * 5 + i], sv[i].item<double>(), 1e-11 * top);
    EXPECT_NEAR(r.fro_sq[h], g.square().sum().item<double>(), 1e-11 * top * top);
    const at::Tensor s = (g + g.t()) * 0.5;
    // Each stored eigenvector v satisfies S v = lambda v.
    for (int64_t i = 0; i < 4; ++i) {
      const at::Tensor v =
          at::from_blob(const_cast<float*>(r.sym_vec.data()) + (h * 4 + i) * 12, {12}, at::kFloat)
              .to(at::kDouble);
      const double lam = r.sym_eig[h * 10 + i];
      EXPECT_LT((at::matmul(s, v) - lam * v).norm().item<double>(), 1e-6 * top) << h << " " << i;
    }
  }
}

// A [rows][hidden] f32 matrix W diag(s) E: E random orthonormal rows (QR of a Gaussian
// matrix), s log-spaced from top down to top / kappa, W a random rows x rows rotation (so
// that its Gram W diag(s^2) W^T is not diagonal, as in a trained head).
std::vector<float> graded_rows(int64_t rows, int64_t hidden, double top, double kappa, unsigned seed) {
  auto orthonormal = [](int64_t n, int64_t k, unsigned sd) {  // [n, k], orthonormal columns
    const std::vector<float> g = normals<float>(static_cast<size_t>(n * k), sd);
    return std::get<0>(
        at::linalg_qr(at::from_blob(const_cast<float*>(g.data()), {n, k}, at::kFloat).to(at::kDouble)));
  };
  const at::Tensor e = orthonormal(hidden, rows, seed).t(), rot = orthonormal(rows, rows, seed + 1000);
  const at::Tensor s = at::logspace(0, -std::log10(kappa), rows, 10.0, at::kDouble) * top;
  const at::Tensor w = at::matmul(rot, e * s.unsqueeze(1)).to(at::kFloat).contiguous();
  return std::vector<float>(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
}

// Singular values and symmetric eigenvalues of head h against LAPACK on the explicit
// hidden x hidden operator: nonzero values to rel relative plus DBL_EPSILON times the
// largest (the explicit route's own rounding, 1.4e-9 relative at condition 1e8), true
// zeros below zero_rel of the largest.
void expect_head_matches_explicit(const LayerStatic& r, const std::vector<float>& wq,
                                  const std::vector<float>& wk, const StaticDims& d, int64_t h, double rel,
                                  double zero_rel) {
  const at::Tensor g = explicit_operator(wq, wk, d, h);
  const at::Tensor sv = at::linalg_svdvals(g);
  const double top = sv[0].item<double>();
  const int64_t rank = (sv > top * static_cast<double>(d.hidden) * DBL_EPSILON).sum().item<int64_t>();
  for (int64_t i = 0; i < d.head_dim; ++i) {
    const double ours = r.exact_sv[h * d.head_dim + i], want = sv[i].item<double>();
    if (i < rank)
      EXPECT_NEAR(ours, want, rel * want + DBL_EPSILON * top) << "head " << h << " sv " << i;
    else
      EXPECT_LE(ours, zero_rel * top) << "head " << h << " zero sv " << i;
  }
  const at::Tensor ev = at::linalg_eigvalsh((g + g.t()) * 0.5);  // ascending, hidden of them
  const double etop = ev.abs().max().item<double>();
  std::vector<double> ours(r.sym_eig.begin() + h * 2 * d.head_dim,
                           r.sym_eig.begin() + (h + 1) * 2 * d.head_dim);
  std::sort(ours.begin(), ours.end());
  std::vector<double> want(ev.data_ptr<double>(), ev.data_ptr<double>() + d.hidden);
  std::sort(want.begin(), want.end(), [](double a, double b) { return std::abs(a) > std::abs(b); });
  want.resize(ours.size());
  std::sort(want.begin(), want.end());
  for (size_t i = 0; i < ours.size(); ++i) {
    if (std::abs(want[i]) <= etop * static_cast<double>(d.hidden) * DBL_EPSILON)
      EXPECT_LE(std::abs(ours[i]), zero_rel * etop) << "head " << h << " zero eigenvalue " << i;
    else
      EXPECT_NEAR(ours[i], want[i], rel * std::abs(want[i]) + DBL_EPSILON * etop)
          << "head " << h << " eig " << i;
  }
}

TEST(StaticCpu, IllConditionedGqaHeadsMatchExplicitOperators) {
  // Q = W diag(s) U^T with cond(s) = 1e2, 1e8 (group 0) and 1e2, 1e4 (group 1). Group 0
  // shares K = 0.5 W' V^T (orthonormal rows), so cond(Q^T K) = cond(s); group 1 shares
  // K = W' diag(s') V^T with cond(s') = 1e4: cond(Q^T K) <= 1e8.
  const StaticDims d = static_dims(1, 4, 2, 8, 40, 4);
  std::vector<float> wq, wk;
  const double kappas[] = {1e2, 1e8, 1e2, 1e4};
  for (int h = 0; h < 4; ++h) {
    const std::vector<float> q = graded_rows(8, 40, 0.3, kappas[h], 100 + h);
    wq.insert(wq.end(), q.begin(), q.end());
  }
  const std::vector<float> k0 = graded_rows(8, 40, 0.5, 1.0, 200), k1 = graded_rows(8, 40, 1.0, 1e4, 201);
  wk.insert(wk.end(), k0.begin(), k0.end());
  wk.insert(wk.end(), k1.begin(), k1.end());
  const LayerStatic r = layer_static_cpu(wq.data(), wk.data(), d);
  for (int64_t h = 0; h < 4; ++h) expect_head_matches_explicit(r, wq, wk, d, h, 1e-9, 1e-15);
  // Group 0: the condition number is the one built in (up to the f32 rounding of the
  // weights) and the explicit operator's s_1 / s_8.
  for (int64_t h = 0; h < 2; ++h) {
    const at::Tensor sv = at::linalg_svdvals(explicit_operator(wq, wk, d, h));
    const double cond = exact_condition(r.exact_sv.data() + h * 8, 8, 40);
    EXPECT_NEAR(cond / (sv[0] / sv[7]).item<double>(), 1.0, 1e-6) << h;
    EXPECT_NEAR(std::log10(cond), std::log10(kappas[h]), 0.3) << h;
  }
}

TEST(StaticCpu, TwoEqualQueryRowsGiveExactZerosAndInfiniteCondition) {
  // Heads 0..5 (GQA 6/2) each with two equal W_Q rows (rows h and h + 1 of the head): rank
  // d - 1. The Gram route read the zero as sqrt of a rounding error, up to 1e-8 s_max,
  // whenever that error came out positive; head 6 is full rank.
  const int64_t H = 7, D = 8, N = 48;
  const StaticDims d = static_dims(1, H, 1, D, N, 4);
  std::vector<float> wq = normals<float>(static_cast<size_t>((H * D) * N), 31);
  const std::vector<float> wk = normals<float>(static_cast<size_t>(D * N), 32);
  for (int64_t h = 0; h < H - 1; ++h)
    for (int64_t c = 0; c < N; ++c)
      wq[static_cast<size_t>((h * D + h + 1) * N + c)] = wq[static_cast<size_t>((h * D + h) * N + c)];
  const LayerStatic r = layer_static_cpu(wq.data(), wk.data(), d);
  for (int64_t h = 0; h < H; ++h) {
    expect_head_matches_explicit(r, wq, wk, d, h, 1e-12, 1e-15);
    const double* sv = r.exact_sv.data() + h * D;
    if (h < H - 1) {
      EXPECT_LT(sv[D - 1], 1e-15 * sv[0]) << h;
      EXPECT_TRUE(std::isinf(exact_condition(sv, D, N))) << h;
    } else {
      EXPECT_TRUE(std::isfinite(exact_condition(sv, D, N)));
    }
  }
  // The hidden-space eigenvectors of head 0 still satisfy S u = lambda u.
  const at::Tensor g = explicit_operator(wq, wk, d, 0), s = (g + g.t()) * 0.5;
  for (int64_t i = 0; i < 4; ++i) {
    const at::Tensor v =
        at::from_blob(const_cast<float*>(r.sym_vec.data()) + i * N, {N}, at::kFloat).to(at::kDouble);
    EXPECT_NEAR(v.norm().item<double>(), 1.0, 1e-6);
    EXPECT_LT((at::matmul(s, v) - r.sym_eig[i] * v).norm().item<double>(), 1e-6 * std::abs(r.sym_eig[0]))
        << i;
  }
}

TEST(StaticCpu, HiddenBelowTwiceHeadDimPadsWithZeros) {
  // hidden 6 < 2d = 8: R has 6 rows; the two missing eigenvalues are zeros with zero vectors.
  const StaticDims d = static_dims(1, 1, 1, 4, 6, 8);
  const std::vector<float> wq = normals<float>(4 * 6, 41), wk = normals<float>(4 * 6, 42);
  const LayerStatic r = layer_static_cpu(wq.data(), wk.data(), d);
  expect_head_matches_explicit(r, wq, wk, d, 0, 1e-12, 1e-15);
  int zero_vectors = 0;
  for (int64_t i = 0; i < 8; ++i) {
    double n2 = 0;
    for (int64_t c = 0; c < 6; ++c) n2 += std::pow(double(r.sym_vec[static_cast<size_t>(i * 6 + c)]), 2);
    EXPECT_TRUE(n2 == 0.0 || std::abs(n2 - 1.0) < 1e-6) << i;
    zero_vectors += n2 == 0.0;
  }
  EXPECT_EQ(zero_vectors, 2);
}

TEST(StaticCpu, TopkAboveTwiceHeadDimThrows) {
  const StaticDims d = static_dims(1, 1, 1, 2, 4, 5);
  const std::vector<float> w = normals<float>(2 * 4, 3);
  EXPECT_THROW(layer_static_cpu(w.data(), w.data(), d), std::invalid_argument);
}

TEST(StaticCpu, DescriptorsOfKnownSpectrum) {
  const double s[] = {3.0, 2.0, 1.0};
  const SpectrumDescriptors x = describe_spectrum(s, 3);
  EXPECT_DOUBLE_EQ(x.op, 3.0);
  EXPECT_DOUBLE_EQ(x.fro, std::sqrt(14.0));
  EXPECT_DOUBLE_EQ(x.trace, 6.0);
  EXPECT_DOUBLE_EQ(x.rank_eff, 2.0);
  const double p[] = {9.0 / 14, 4.0 / 14, 1.0 / 14};
  EXPECT_NEAR(x.spec_ent, -(p[0] * std::log(p[0]) + p[1] * std::log(p[1]) + p[2] * std::log(p[2])), 1e-15);
  EXPECT_DOUBLE_EQ(x.anisotropy, 1.5);
  EXPECT_DOUBLE_EQ(x.condition, 3.0);
  // The seed's floors: an all-zero spectrum.
  const double z[] = {0.0, 0.0};
  const SpectrumDescriptors y = describe_spectrum(z, 2);
  EXPECT_EQ(y.rank_eff, 0.0);
  EXPECT_EQ(y.anisotropy, 0.0);
  EXPECT_EQ(y.condition, 0.0);
  EXPECT_NEAR(y.spec_ent, -2 * 1e-12 * std::log(1e-12), 1e-24);
  // A tiny smallest value: condition floors it at 1e-12.
  const double t[] = {2.0, 1e-20};
  EXPECT_DOUBLE_EQ(describe_spectrum(t, 2).condition, 2.0 / 1e-12);
  // The exact spectra's condition: unfloored, +inf at numpy's matrix_rank tolerance
  // (min s <= max s * hidden * DBL_EPSILON), the all-zero spectrum included.
  EXPECT_DOUBLE_EQ(exact_condition(s, 3, 8), 3.0);
  EXPECT_TRUE(std::isinf(exact_condition(t, 2, 8)));
  const double u[] = {2.0, 1e-13};
  EXPECT_DOUBLE_EQ(exact_condition(u, 2, 8), 2e13);
  const double edge[] = {1.0, 8 * DBL_EPSILON};
  EXPECT_TRUE(std::isinf(exact_condition(edge, 2, 8)));
  EXPECT_DOUBLE_EQ(exact_condition(edge, 2, 7), 1.0 / (8 * DBL_EPSILON));
  EXPECT_TRUE(std::isinf(exact_condition(z, 2, 8)));
  const std::vector<double> two = {3.0, 2.0, 1.0, 2.0, 1e-20, 0.0};
  const auto ex = describe_exact_spectra(two, 3, 8);
  EXPECT_DOUBLE_EQ(ex[6][0], 3.0);
  EXPECT_TRUE(std::isinf(ex[6][1]));
  EXPECT_DOUBLE_EQ(ex[0][1], 2.0);  // the other six as describe_spectrum
}

TEST(StaticCpu, OperatorGramIsSymmetricWithFroSqDiagonal) {
  const StaticDims d = static_dims(3, 4, 2, 4, 10, 2);
  std::vector<std::vector<float>> wq, wk;
  std::vector<const float*> pq, pk;
  for (int l = 0; l < 3; ++l) {
    wq.push_back(normals<float>(16 * 10, 10 + l));
    wk.push_back(normals<float>(8 * 10, 20 + l));
  }
  for (int l = 0; l < 3; ++l) {
    pq.push_back(wq[l].data());
    pk.push_back(wk[l].data());
  }
  const std::vector<double> gram = operator_gram_cpu(pq, pk, d);
  ASSERT_EQ(gram.size(), 3u * 3u * 4u);
  for (int l = 0; l < 3; ++l) {
    const LayerStatic r = layer_static_cpu(wq[l].data(), wk[l].data(), d);
    for (int lp = 0; lp < 3; ++lp)
      for (int h = 0; h < 4; ++h) {
        const double v = gram[(l * 3 + lp) * 4 + h];
        EXPECT_EQ(v, gram[(lp * 3 + l) * 4 + h]);
        const double want = (explicit_operator(wq[l], wk[l], d, h) * explicit_operator(wq[lp], wk[lp], d, h))
                                .sum()
                                .item<double>();
        EXPECT_NEAR(v, want, 1e-11 * std::abs(r.fro_sq[h]));
        if (l == lp) {
          EXPECT_NEAR(v, r.fro_sq[h], 1e-12 * r.fro_sq[h]);
        }
      }
  }
}

}  // namespace
}  // namespace qk
