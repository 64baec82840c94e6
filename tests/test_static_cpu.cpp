// host/static CPU path: hand-built operators with known spectra, rank-deficient weights,
// the seed's descriptors, and the operator Gram against explicit hidden x hidden operators.
#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "descriptors.hpp"
#include "layer_static_cpu.hpp"
#include "operator_gram_cpu.hpp"

namespace qk {
namespace {

StaticDims dims(int64_t layers, int64_t hq, int64_t hkv, int64_t d, int64_t hidden, int64_t topk) {
  StaticDims s;
  s.layers = layers;
  s.q_heads = hq;
  s.kv_heads = hkv;
  s.head_dim = d;
  s.hidden = hidden;
  s.topk = topk;
  return s;
}

std::vector<float> random_weights(int64_t rows, int64_t cols, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& x : w) x = n(gen);
  return w;
}

// Row i of a [rows][hidden] matrix set to the unit vector e_j.
void set_unit(std::vector<float>& w, int64_t hidden, int64_t row, int64_t j) {
  for (int64_t c = 0; c < hidden; ++c) w[static_cast<size_t>(row * hidden + c)] = c == j ? 1.0f : 0.0f;
}

// The explicit operator Q^T K of head h (fp64, [hidden, hidden]).
at::Tensor explicit_operator(const std::vector<float>& wq, const std::vector<float>& wk, const StaticDims& d,
                             int64_t h) {
  const at::Tensor q = at::from_blob(const_cast<float*>(wq.data()), {d.q_heads, d.head_dim, d.hidden}, at::kFloat)
                           .to(at::kDouble)[h];
  const at::Tensor k = at::from_blob(const_cast<float*>(wk.data()), {d.kv_heads, d.head_dim, d.hidden}, at::kFloat)
                           .to(at::kDouble)[h / d.group()];
  return at::matmul(q.t(), k);
}

TEST(StaticCpu, OrthonormalRowsGiveUnitSpectra) {
  // Head 0: Q = K = [e0; e1; e2]; head 1: Q = [e3; e4; e5] orthogonal to its K.
  const StaticDims d = dims(1, 2, 1, 3, 8, 6);
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
    EXPECT_NEAR(r.exact_sv[3 + i], 1.0, 1e-12);  // Q^T K still has singular values 1
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
  const StaticDims d = dims(1, 1, 1, 3, 6, 6);
  std::vector<float> wq = random_weights(3, 6, 7), wk(3 * 6, 0.0f);
  set_unit(wk, 6, 0, 0);
  set_unit(wk, 6, 1, 0);
  const LayerStatic r = layer_static_cpu(wq.data(), wk.data(), d);
  for (double x : r.exact_sv) EXPECT_TRUE(std::isfinite(x));
  for (double x : r.sym_eig) EXPECT_TRUE(std::isfinite(x));
  for (float x : r.sym_vec) EXPECT_TRUE(std::isfinite(x));
  double q01 = 0;  // ||q0 + q1||: Q^T K = (q0 + q1) e0^T
  for (int c = 0; c < 6; ++c) q01 += std::pow(double(wq[c]) + double(wq[6 + c]), 2);
  EXPECT_NEAR(r.exact_sv[0], std::sqrt(q01), 1e-10 * std::sqrt(q01));
  EXPECT_LT(r.exact_sv[1], 1e-6 * r.exact_sv[0]);
  EXPECT_LT(r.exact_sv[2], 1e-6 * r.exact_sv[0]);
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
  const StaticDims d = dims(1, 4, 2, 5, 12, 4);
  const std::vector<float> wq = random_weights(4 * 5, 12, 1), wk = random_weights(2 * 5, 12, 2);
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
      const at::Tensor v = at::from_blob(const_cast<float*>(r.sym_vec.data()) + (h * 4 + i) * 12, {12}, at::kFloat)
                               .to(at::kDouble);
      const double lam = r.sym_eig[h * 10 + i];
      EXPECT_LT((at::matmul(s, v) - lam * v).norm().item<double>(), 1e-6 * top) << h << " " << i;
    }
  }
}

TEST(StaticCpu, TopkAboveTwiceHeadDimThrows) {
  const StaticDims d = dims(1, 1, 1, 2, 4, 5);
  const std::vector<float> w = random_weights(2, 4, 3);
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
}

TEST(StaticCpu, OperatorGramIsSymmetricWithFroSqDiagonal) {
  const StaticDims d = dims(3, 4, 2, 4, 10, 2);
  std::vector<std::vector<float>> wq, wk;
  std::vector<const float*> pq, pk;
  for (int l = 0; l < 3; ++l) {
    wq.push_back(random_weights(16, 10, 10 + l));
    wk.push_back(random_weights(8, 10, 20 + l));
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
                                .sum().item<double>();
        EXPECT_NEAR(v, want, 1e-11 * std::abs(r.fro_sq[h]));
        if (l == lp) {
          EXPECT_NEAR(v, r.fro_sq[h], 1e-12 * r.fro_sq[h]);
        }
      }
  }
}

}  // namespace
}  // namespace qk
