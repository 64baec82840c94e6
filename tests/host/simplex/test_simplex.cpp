// Simplex volumes and CV (host/simplex, kernels/common/simplex_volume.hpp): exact volumes of
// hand-built simplices, GPU/CPU parity, determinism, and the Gaussian baseline's behaviour.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "require_gpu.hpp"
#include "bo/gpu_stats.hpp"
#include "simplex_cv.hpp"
#include "simplex_volume.hpp"
#include "simplex_volume_cpu.hpp"
#include "simplex_volume_gpu.hpp"
#include "test_random.hpp"

namespace qk {
namespace {

// Volume of the simplex whose 5 vertices are `pts` ([5][dim]).
double volume_of(const std::vector<float>& pts, int64_t dim) {
  const std::vector<int64_t> idx{0, 1, 2, 3, 4};
  double v = -1.0;
  simplex_volumes_cpu(pts.data(), 5, dim, idx.data(), 1, &v);
  return v;
}

std::vector<float> unit_simplex(int64_t dim, float scale) {
  std::vector<float> p(5 * dim, 0.0f);
  for (int i = 1; i < 5; ++i) p[i * dim + (i - 1)] = scale;
  return p;
}

constexpr int64_t kVertices = 5;

// Hadamard's bound on a simplex's volume: product of the edge lengths from vertex 0 over
// 4! (`rows` [n][dim], `idx` the 5 vertex rows).
double hadamard_bound(const float* rows, int64_t dim, const int64_t* idx) {
  double bound = 1.0 / 24.0;
  for (int64_t v = 1; v < kVertices; ++v) {
    double s = 0;
    for (int64_t d = 0; d < dim; ++d) {
      const double t = static_cast<double>(rows[idx[v] * dim + d]) - rows[idx[0] * dim + d];
      s += t * t;
    }
    bound *= std::sqrt(s);
  }
  return bound;
}

TEST(SimplexVolume, UnitSimplexIsOneOver24) {
  EXPECT_NEAR(volume_of(unit_simplex(4, 1.0f), 4), 1.0 / 24.0, 1e-16);
  EXPECT_NEAR(volume_of(unit_simplex(9, 1.0f), 9), 1.0 / 24.0, 1e-16);
}

TEST(SimplexVolume, ScaledSimplexScalesAsFourthPower) {
  EXPECT_NEAR(volume_of(unit_simplex(6, 3.0f), 6), 81.0 / 24.0, 1e-14);
  EXPECT_NEAR(volume_of(unit_simplex(6, 0.5f), 6), 0.0625 / 24.0, 1e-17);
}

TEST(SimplexVolume, DegenerateIsZeroNotNaN) {
  std::vector<float> rep = unit_simplex(5, 1.0f);
  for (int d = 0; d < 5; ++d) rep[4 * 5 + d] = rep[2 * 5 + d];  // a repeated vertex
  const double a = volume_of(rep, 5);
  EXPECT_EQ(a, 0.0);
  std::vector<float> flat =
      normals<float, std::mt19937_64>(5 * 6, 3);  // all five in the 3-flat x3 = x4 = 0, x5 = 0.7
  for (int i = 0; i < 5; ++i) {
    flat[i * 6 + 3] = 0.0f;
    flat[i * 6 + 4] = 0.0f;
    flat[i * 6 + 5] = 0.7f;
  }
  const double b = volume_of(flat, 6);
  EXPECT_FALSE(std::isnan(b));
  EXPECT_EQ(b, 0.0);
  std::vector<float> same(5 * 3, 1.25f);
  EXPECT_EQ(volume_of(same, 3), 0.0);
}

TEST(SimplexVolume, NeedleMatchesAnalyticValue) {
  // Base tetrahedron 0, e1, e2, e3 (3-volume 1/6), apex at height h over it: vol = h / 24.
  for (const float h : {std::ldexp(1.0f, -10), std::ldexp(1.0f, -17), std::ldexp(1.0f, -20)}) {
    std::vector<float> p = unit_simplex(4, 1.0f);
    p[4 * 4 + 0] = 0.25f;
    p[4 * 4 + 1] = 0.25f;
    p[4 * 4 + 2] = 0.25f;
    p[4 * 4 + 3] = h;
    const double want = static_cast<double>(h) / 24.0;
    EXPECT_NEAR(volume_of(p, 4) / want, 1.0, 1e-12) << "h = " << h;
  }
}

TEST(SimplexVolume, CayleyMengerAgreesWithGram) {
  const int64_t dim = 7;
  const std::vector<float> p = normals<float, std::mt19937_64>(static_cast<size_t>(5 * dim), 11);
  double d2[5][5];
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      double s = 0.0;
      for (int64_t d = 0; d < dim; ++d) {
        const double t = static_cast<double>(p[i * dim + d]) - p[j * dim + d];
        s += t * t;
      }
      d2[i][j] = s;
    }
  const double v = volume_of(p, dim);
  EXPECT_NEAR(std::sqrt(simplex::cayley_menger_vol2(d2)) / v, 1.0, 1e-10);
}

TEST(SimplexVolume, GpuMatchesCpu) {
  QK_REQUIRE_GPU();
  for (const int64_t dim : {4, 5, 33, 128, 257}) {
    const int64_t n = 301, count = 1037;
    const std::vector<float> rows = normals<float, std::mt19937_64>(static_cast<size_t>(n * dim), 5 + dim);
    std::vector<int64_t> idx = simplex_sample_indices(n, count, 9);
    for (int v = 0; v < 5; ++v) idx[v] = idx[5];  // one degenerate simplex
    std::vector<double> cpu(count), gpu(count);
    simplex_volumes_cpu(rows.data(), n, dim, idx.data(), count, cpu.data());
    simplex_volumes_gpu(rows.data(), n, dim, idx.data(), count, gpu.data(), 0);
    EXPECT_EQ(gpu[0], 0.0);
    // fp64 Gram determinants in two summation orders: the error scales with the Hadamard
    // bound (product of edge lengths / k!), not with a thin simplex's own small volume.
    for (int64_t s = 0; s < count; ++s) {
      const double bound = hadamard_bound(rows.data(), dim, idx.data() + s * kVertices);
      EXPECT_NEAR(gpu[s], cpu[s], 1e-12 * std::abs(cpu[s]) + 1e-13 * bound)
          << "dim " << dim << " simplex " << s;
    }
  }
}

TEST(SimplexSampler, DistinctInRangeAndDeterministic) {
  const std::vector<int64_t> a = simplex_sample_indices(7, 500, 42), b = simplex_sample_indices(7, 500, 42);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, simplex_sample_indices(7, 500, 43));
  for (size_t s = 0; s < a.size(); s += 5)
    for (int i = 0; i < 5; ++i) {
      EXPECT_GE(a[s + i], 0);
      EXPECT_LT(a[s + i], 7);
      for (int j = 0; j < i; ++j) EXPECT_NE(a[s + i], a[s + j]);
    }
}

TEST(SimplexCv, DeterministicForASeed) {
  const std::vector<float> rows = normals<float, std::mt19937_64>(400 * 24, 1);
  for (const bool cm : {false, true}) {
    SimplexOptions o;
    o.seed = 123;
    o.cm_compat = cm;
    o.null_trials = 3;
    const SimplexCv a = simplex_cv(rows.data(), 400, 24, o), b = simplex_cv(rows.data(), 400, 24, o);
    ASSERT_TRUE(a.cv && b.cv && a.null_mean && a.null_std && a.z);
    EXPECT_EQ(*a.cv, *b.cv);
    EXPECT_EQ(*a.null_mean, *b.null_mean);
    EXPECT_EQ(*a.null_std, *b.null_std);
    EXPECT_EQ(a.valid, 300);
    EXPECT_EQ(a.band, simplex_band(a.cv));
    o.seed = 124;
    EXPECT_NE(*simplex_cv(rows.data(), 400, 24, o).cv, *a.cv);
  }
}

TEST(SimplexCv, TooFewRowsOrValidVolumes) {
  const std::vector<float> rows = normals<float, std::mt19937_64>(4 * 8, 2);
  SimplexOptions o;
  const SimplexCv a = simplex_cv(rows.data(), 4, 8, o);
  EXPECT_FALSE(a.cv);
  EXPECT_EQ(a.band, "n/a");
  const std::vector<float> flat(50 * 3, 0.5f);  // every simplex degenerate
  const SimplexCv b = simplex_cv(flat.data(), 50, 3, o);
  EXPECT_FALSE(b.cv);
  EXPECT_EQ(b.valid, 0);
  EXPECT_FALSE(b.z);
}

TEST(SimplexCv, BandsFollowTheThresholds) {
  EXPECT_EQ(simplex_band(0.13), "degenerate");
  EXPECT_EQ(simplex_band(0.2), "band");
  EXPECT_EQ(simplex_band(0.30), "volatile");
  EXPECT_EQ(simplex_band(std::nullopt), "n/a");
}

TEST(SimplexCv, GaussianBaselineFallsWithDimension) {
  double last = 1e9;
  for (const int64_t dim : {8, 32, 128, 512}) {
    SimplexOptions o;
    o.null_trials = 6;
    o.seed = 7;
    const SimplexNull nb = simplex_null(1000, dim, o);
    ASSERT_TRUE(nb.mean && nb.std) << dim;
    EXPECT_LT(*nb.mean, last) << "dim " << dim;
    last = *nb.mean;
    if (dim == 8) {
      EXPECT_GT(*nb.mean, 0.35);
      EXPECT_LT(*nb.mean, 0.9);
    }
    if (dim == 512) {
      EXPECT_GT(*nb.mean, 0.02);
      EXPECT_LT(*nb.mean, 0.08);
    }
  }
}

}  // namespace
}  // namespace qk
