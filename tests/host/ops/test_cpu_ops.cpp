// CPU twins of the kernels against brute-force definitions written out in the test.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ops/head_gram_cpu.hpp"
#include "ops/kv_cka_cpu.hpp"
#include "ops/layer_alignment_cpu.hpp"
#include "ops/magnitude_entropy_cpu.hpp"
#include "ops/multi_head_pass_cpu.hpp"
#include "ops/position_cosine_cpu.hpp"
#include "seed_math.hpp"
#include "test_random.hpp"

namespace {

TEST(HeadGramCpu, MatchesPairwiseDots) {
  for (int heads : {1, 3, 8}) {
    const int layers = 2;
    const int64_t n = 4096 * 2 + 37;  // spans chunks with a tail
    const auto x = qk::normals<float>(static_cast<size_t>(layers * heads * n), 7 + heads);
    std::vector<double> g(layers * heads * heads);
    qk::head_gram_cpu(x.data(), layers, heads, n, g.data());
    for (int l = 0; l < layers; ++l)
      for (int i = 0; i < heads; ++i)
        for (int j = 0; j < heads; ++j) {
          long double want = 0;
          for (int64_t e = 0; e < n; ++e)
            want += static_cast<long double>(x[(l * heads + i) * n + e]) * x[(l * heads + j) * n + e];
          EXPECT_NEAR(g[(l * heads + i) * heads + j], static_cast<double>(want), 1e-12 * n)
              << l << " " << i << " " << j;
        }
  }
}

// Brute force: all pairs with the seed's cosine.
void brute_positions(const float* m, int64_t seq, int64_t dim, double thr, double* sum, uint64_t* below) {
  *sum = 0;
  *below = 0;
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t j = i + 1; j < seq; ++j) {
      const double c = qk::seed_cosine(m + i * dim, m + j * dim, dim);
      *sum += c;
      *below += c < thr ? 1 : 0;
    }
}

TEST(PositionCosineCpu, MatchesBruteForceOverShapes) {
  for (int64_t seq : {1, 2, 3, 7, 9, 33, 257, 300}) {
    for (int64_t dim : {1, 3, 64}) {
      const int64_t count = 3;
      auto x =
          qk::normals<float>(static_cast<size_t>(count * seq * dim), static_cast<uint32_t>(seq * 131 + dim));
      // A shared direction gives a spread of cosines around the threshold.
      for (int64_t i = 0; i < count * seq; ++i) x[i * dim] += 1.2f;
      std::vector<double> sum(count);
      std::vector<uint64_t> below(count);
      qk::position_cosine_cpu(x.data(), count, seq * dim, seq, dim, 0.3, sum.data(), below.data());
      for (int64_t c = 0; c < count; ++c) {
        double ws;
        uint64_t wb;
        brute_positions(x.data() + c * seq * dim, seq, dim, 0.3, &ws, &wb);
        EXPECT_NEAR(sum[c], ws, 1e-9 * (1 + seq * seq)) << seq << "x" << dim;
        EXPECT_EQ(below[c], wb) << seq << "x" << dim;
      }
    }
  }
}

TEST(PositionCosineCpu, ExactCountsAtTheThreshold) {
  // Rows (1, 0.., t_i, 0..) with unit-norm first coordinate c_i = sqrt(0.3)(1 + eps_i):
  // rows on different axes have cosine c_i c_j = 0.3 (1 + eps_i + eps_j) within a
  // few fp32 ulps of the threshold, which only the fp64 re-check can decide.
  const int64_t dim = 128, seq = 400;
  std::vector<float> x(static_cast<size_t>(seq * dim), 0.0f);
  std::mt19937 gen(3);
  std::uniform_real_distribution<double> eps(-3e-7, 3e-7);
  for (int64_t i = 0; i < seq; ++i) {
    const double c = std::sqrt(0.3) * (1.0 + eps(gen));
    x[i * dim] = 1.0f;
    x[i * dim + 1 + i % (dim - 1)] = static_cast<float>(std::sqrt(1 / (c * c) - 1));
  }
  std::vector<uint64_t> wb(1), below(1);
  std::vector<double> ws(1), sum(1);
  brute_positions(x.data(), seq, dim, 0.3, ws.data(), wb.data());
  qk::position_cosine_cpu(x.data(), 1, 0, seq, dim, 0.3, sum.data(), below.data());
  EXPECT_EQ(below[0], wb[0]);
  EXPECT_GT(wb[0], 0u);
  EXPECT_LT(wb[0], static_cast<uint64_t>(seq * (seq - 1) / 2));
  EXPECT_NEAR(sum[0], ws[0], 1e-8);
}

TEST(PositionCosineCpu, ZeroRowsHaveCosineZero) {
  std::vector<float> x = {1, 0, 0, 0, 0, 1, 1, 0};  // rows (1,0) (0,0) (0,1) (1,0)
  double sum;
  uint64_t below;
  qk::position_cosine_cpu(x.data(), 1, 0, 4, 2, 0.3, &sum, &below);
  // pairs: 01:0 02:0 03:1 12:0 13:0 23:0 -> sum 1, five below 0.3
  EXPECT_DOUBLE_EQ(sum, 1.0);
  EXPECT_EQ(below, 5u);
}

TEST(MagnitudeEntropyCpu, MatchesDefinition) {
  const int64_t seq = 37, dim = 5;
  const auto x = qk::normals<float>(static_cast<size_t>(2 * seq * dim), 11);
  double got[2];
  qk::magnitude_entropy_cpu(x.data(), 2, seq * dim, seq, dim, got);
  for (int c = 0; c < 2; ++c) {
    std::vector<double> m(seq);
    double total = 0;
    for (int64_t i = 0; i < seq; ++i) {
      double ss = 0;
      for (int64_t d = 0; d < dim; ++d) ss += std::pow(x[(c * seq + i) * dim + d], 2);
      m[i] = std::sqrt(ss);
      total += m[i];
    }
    double h = 0;
    for (double v : m) h -= (v / total) * std::log2(v / total);
    EXPECT_NEAR(got[c], h / std::log2(static_cast<double>(seq)), 1e-13);
  }
}

TEST(MagnitudeEntropyCpu, UniformIsOneAndSpikeIsZero) {
  std::vector<float> uniform(8 * 3, 1.0f), spike(8 * 3, 0.0f);
  spike[0] = 2.0f;
  double hu, hs;
  qk::magnitude_entropy_cpu(uniform.data(), 1, 0, 8, 3, &hu);
  qk::magnitude_entropy_cpu(spike.data(), 1, 0, 8, 3, &hs);
  EXPECT_NEAR(hu, 1.0, 1e-15);
  EXPECT_EQ(hs, 0.0);
}

TEST(LayerAlignmentCpu, MatchesHeadMeanCosines) {
  const int layers = 4, heads = 3;
  const int64_t n = 8192 + 19;
  const auto x = qk::normals<float>(static_cast<size_t>(layers * heads * n), 5);
  for (bool seed_mean : {true, false}) {
    std::vector<double> cos(layers - 1);
    qk::layer_alignment_cpu(x.data(), layers, heads, n, seed_mean, cos.data());
    for (int l = 0; l + 1 < layers; ++l) {
      std::vector<float> a(n), b(n);
      for (int64_t e = 0; e < n; ++e) {
        float sa = 0, sb = 0;
        for (int h = 0; h < heads; ++h) {
          sa += x[(l * heads + h) * n + e];
          sb += x[((l + 1) * heads + h) * n + e];
        }
        a[e] = sa / heads;
        b[e] = sb / heads;
      }
      EXPECT_NEAR(cos[l], qk::seed_cosine(a.data(), b.data(), n), seed_mean ? 1e-12 : 1e-6);
    }
  }
}

TEST(MultiHeadPassCpu, EqualsTheThreeTwins) {
  for (int64_t dim : {3, 128, 5000}) {
    const int layers = 3, heads = 6;
    const int64_t seq = 67;
    const auto x = qk::normals<float>(static_cast<size_t>(layers * heads * seq * dim), 17 + dim);
    for (bool seed_mean : {true, false}) {
      std::vector<double> g(layers * heads * heads), e(layers * heads), c(layers - 1);
      qk::multi_head_pass_cpu(x.data(), layers, heads, seq, dim, seed_mean, g.data(), e.data(), c.data());
      std::vector<double> g2(g.size()), e2(e.size()), c2(c.size());
      qk::head_gram_cpu(x.data(), layers, heads, seq * dim, g2.data());
      qk::magnitude_entropy_cpu(x.data(), layers * heads, seq * dim, seq, dim, e2.data());
      qk::layer_alignment_cpu(x.data(), layers, heads, seq * dim, seed_mean, c2.data());
      for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], g2[i], 1e-12 * std::fabs(g2[i]) + 1e-9);
      for (size_t i = 0; i < e.size(); ++i) EXPECT_NEAR(e[i], e2[i], 1e-13);
      for (size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(c[i], c2[i], 1e-13);
    }
  }
}

// CKA through the S x S centred Gram matrices (HSIC form), independent of the
// dim x dim route the twin takes.
double cka_hsic(const float* k, const float* v, int64_t seq, int64_t dim) {
  auto centred_gram = [&](const float* m) {
    std::vector<double> g(seq * seq), c(seq * seq);
    for (int64_t i = 0; i < seq; ++i)
      for (int64_t j = 0; j < seq; ++j) {
        double s = 0;
        for (int64_t d = 0; d < dim; ++d) s += static_cast<double>(m[i * dim + d]) * m[j * dim + d];
        g[i * seq + j] = s;
      }
    std::vector<double> row(seq, 0), col(seq, 0);
    double all = 0;
    for (int64_t i = 0; i < seq; ++i)
      for (int64_t j = 0; j < seq; ++j) {
        row[i] += g[i * seq + j] / seq;
        col[j] += g[i * seq + j] / seq;
        all += g[i * seq + j] / (seq * seq);
      }
    for (int64_t i = 0; i < seq; ++i)
      for (int64_t j = 0; j < seq; ++j) c[i * seq + j] = g[i * seq + j] - row[i] - col[j] + all;
    return c;
  };
  const auto a = centred_gram(k), b = centred_gram(v);
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

TEST(KvCkaCpu, MatchesHsicForm) {
  for (int64_t seq : {2, 5, 40}) {
    const int64_t dim = 16, count = 2;
    const auto k = qk::normals<float>(static_cast<size_t>(count * seq * dim), 21 + seq);
    const auto v = qk::normals<float>(static_cast<size_t>(count * seq * dim), 99 + seq);
    std::vector<double> got(count);
    qk::kv_cka_cpu(k.data(), v.data(), count, seq * dim, seq, dim, got.data());
    for (int64_t c = 0; c < count; ++c)
      EXPECT_NEAR(got[c], cka_hsic(k.data() + c * seq * dim, v.data() + c * seq * dim, seq, dim), 1e-5);
  }
}

TEST(KvCkaCpu, InvariantToRotationScaleAndShift) {
  const int64_t seq = 50, dim = 2;
  const auto k = qk::normals<float>(seq * dim, 4);
  std::vector<float> v(k.size());
  const double th = 0.7, s = 3.0;
  for (int64_t i = 0; i < seq; ++i) {
    v[i * 2] = static_cast<float>(s * (std::cos(th) * k[i * 2] - std::sin(th) * k[i * 2 + 1]) + 5);
    v[i * 2 + 1] = static_cast<float>(s * (std::sin(th) * k[i * 2] + std::cos(th) * k[i * 2 + 1]) - 2);
  }
  double cka;
  qk::kv_cka_cpu(k.data(), v.data(), 1, 0, seq, dim, &cka);
  EXPECT_NEAR(cka, 1.0, 1e-5);
  std::vector<float> constant(k.size(), 1.5f);
  qk::kv_cka_cpu(k.data(), constant.data(), 1, 0, seq, dim, &cka);
  EXPECT_EQ(cka, 0.0);
}

}  // namespace
