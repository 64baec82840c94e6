// The statistics of `qkgeom compare` (host/compare) on cases with closed-form answers.
// tests/reference/test_compare.py checks them against scipy and numpy on real inputs.
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "agreement.hpp"
#include "compare_quantities.hpp"
#include "depth_profile.hpp"
#include "paired_tests.hpp"
#include "wilcoxon_null.hpp"
#include "quantities.hpp"
#include "special_functions.hpp"

namespace qk {
namespace {

constexpr double kPi = 3.14159265358979323846;

TEST(SpecialFunctions, NormalTail) {
  EXPECT_DOUBLE_EQ(normal_sf(0.0), 0.5);
  EXPECT_NEAR(normal_sf(1.959963984540054), 0.025, 1e-15);
  EXPECT_NEAR(normal_sf(-1.959963984540054), 0.975, 1e-15);
}

TEST(SpecialFunctions, IncompleteBetaClosedForms) {
  for (double x : {0.0, 0.1, 0.5, 0.93, 1.0}) {
    EXPECT_NEAR(incomplete_beta(1, 1, x), x, 1e-15);                   // uniform
    EXPECT_NEAR(incomplete_beta(3.5, 1, x), std::pow(x, 3.5), 1e-15);  // I_x(a, 1) = x^a
    EXPECT_NEAR(incomplete_beta(1, 2.5, x), 1 - std::pow(1 - x, 2.5), 1e-15);
  }
}

TEST(SpecialFunctions, StudentTailClosedForms) {
  for (double t : {-3.0, -0.4, 0.0, 0.7, 2.0, 12.0, 1e4}) {
    EXPECT_NEAR(student_t_sf(t, 1), 0.5 - std::atan(t) / kPi, 1e-14) << t;              // Cauchy
    EXPECT_NEAR(student_t_sf(t, 2), 0.5 - t / (2 * std::sqrt(2 + t * t)), 1e-14) << t;  // df 2
  }
  // Far tail, relative accuracy: P(T > t) for df 2 is about 1 / (2 t^2).
  const double t = 1e5, exact = 0.5 - t / (2 * std::sqrt(2 + t * t));
  EXPECT_NEAR(student_t_sf(t, 2) / (1 / (2 * t * t)), 1.0, 1e-9);
  EXPECT_GT(exact, 0.0);
  EXPECT_EQ(student_t_sf(INFINITY, 3), 0.0);
  EXPECT_TRUE(std::isnan(student_t_sf(1.0, 0)));
}

TEST(Wilcoxon, AllPositive) {
  const Wilcoxon w = wilcoxon_signed_rank({1, 2, 3, 4, 5});
  EXPECT_EQ(w.n, 5);
  EXPECT_DOUBLE_EQ(w.r_plus, 15);
  EXPECT_DOUBLE_EQ(w.r_minus, 0);
  EXPECT_DOUBLE_EQ(w.statistic, 0);
  const double z = (15 - 7.5) / std::sqrt(5 * 6 * 11 / 24.0);
  EXPECT_NEAR(w.z, -z, 1e-15);
  EXPECT_STREQ(w.method, "exact");  // 5 untied nonzero differences
  EXPECT_DOUBLE_EQ(w.p, 2.0 / 32);  // R+ = 15 is 1 of the 32 sign patterns, both tails
  EXPECT_DOUBLE_EQ(w.rank_biserial, 1.0);
}

TEST(Wilcoxon, ExactNullCountsSubsets) {
  // n = 4: the 16 subsets of ranks {1,2,3,4} have sums 0,1,2,3,3,4,4,5,5,6,6,7,7,8,9,10;
  // R+ = 2: P(R+ <= 2) = 3/16, so p = 6/16.
  EXPECT_DOUBLE_EQ(wilcoxon_exact_p(4, 2), 6.0 / 16);
  EXPECT_DOUBLE_EQ(wilcoxon_exact_p(4, 5), 1.0);  // the centre: clipped to 1
  std::vector<double> d(51);
  for (size_t i = 0; i < d.size(); ++i) d[i] = (i % 3 == 0 ? -1.0 : 1.0) * static_cast<double>(i + 1);
  EXPECT_STREQ(wilcoxon_signed_rank(d).method, "asymptotic");  // more than 50 differences
}

TEST(Wilcoxon, ZerosDroppedTiesAveraged) {
  const Wilcoxon w = wilcoxon_signed_rank({0, 1, -1, 2, 0});  // |d| ranks 1.5, 1.5, 3
  EXPECT_EQ(w.n, 3);
  EXPECT_DOUBLE_EQ(w.r_plus, 4.5);
  EXPECT_DOUBLE_EQ(w.r_minus, 1.5);
  const double se = std::sqrt((3 * 4 * 7 - 6 / 2.0) / 24);  // one tie group of 2: t^3 - t = 6
  EXPECT_NEAR(w.z, -(4.5 - 3) / se, 1e-15);
  EXPECT_DOUBLE_EQ(w.rank_biserial, 0.5);
  // Zeros and ties, 5 differences: all 2^5 sign flips. R+ over the 8 patterns of the
  // ranks {1.5, 1.5, 3}: 0, 1.5, 1.5, 3, 3, 4.5, 4.5, 6; P(R+* >= 4.5) = 3/8, p = 3/4.
  EXPECT_STREQ(w.method, "permutation");
  EXPECT_DOUBLE_EQ(w.p, 0.75);
  EXPECT_TRUE(std::isnan(wilcoxon_signed_rank({0, 0}).p));
}

TEST(Paired, CohenDzAndMoments) {
  EXPECT_DOUBLE_EQ(mean_of({1, 2, 3}), 2);
  EXPECT_DOUBLE_EQ(sd_of({1, 2, 3}), 1);
  EXPECT_DOUBLE_EQ(cohen_dz({1, 2, 3}), 2);
  EXPECT_TRUE(std::isnan(cohen_dz({4, 4, 4})));
  EXPECT_TRUE(std::isnan(cohen_dz({4})));
}

TEST(Paired, NumpyRandintSequence) {
  // numpy.random.RandomState(s).randint(0, n, size=8) (printed by numpy 2.x).
  std::mt19937 a(0), b(7), c(1);
  const std::vector<uint32_t> want_a = {5, 0, 3, 3, 7, 9, 3, 5}, want_b = {0, 1, 2, 0, 1, 2, 0, 1};
  for (uint32_t w : want_a) EXPECT_EQ(numpy_randint(a, 10), w);
  for (uint32_t w : want_b) EXPECT_EQ(numpy_randint(b, 3), w);
  EXPECT_EQ(numpy_randint(c, 1), 0u);  // a range of one value draws nothing
  EXPECT_EQ(numpy_randint(c, 5), 3u);  // so this is RandomState(1).randint(0, 5)'s first
}

TEST(Paired, BootstrapOfAConstantIsThatConstant) {
  const Interval ci = bootstrap_mean_ci({2.5, 2.5, 2.5, 2.5}, 200, 3, 0.95);
  EXPECT_DOUBLE_EQ(ci.lo, 2.5);
  EXPECT_DOUBLE_EQ(ci.hi, 2.5);
  const Interval wide = bootstrap_mean_ci({0, 1}, 2000, 3, 0.95);  // means 0, 0.5, 1
  EXPECT_DOUBLE_EQ(wide.lo, 0.0);
  EXPECT_DOUBLE_EQ(wide.hi, 1.0);
  EXPECT_TRUE(std::isnan(bootstrap_mean_ci({}, 10, 0, 0.95).lo));
}

TEST(Agreement, SpearmanPValueFromStudentT) {
  const Correlation c = spearman_test({1, 2, 3, 4}, {1, 3, 2, 4});  // rho = 0.8
  EXPECT_NEAR(c.r, 0.8, 1e-15);
  const double t = 0.8 * std::sqrt(2 / (1.8 * 0.2));
  EXPECT_NEAR(c.p, 1 - t / std::sqrt(2 + t * t), 1e-14);  // df 2: P(|T| > t)
  const Correlation perfect = spearman_test({1, 2, 3}, {10, 20, 30});
  EXPECT_DOUBLE_EQ(perfect.r, 1.0);
  EXPECT_EQ(perfect.p, 0.0);
}

TEST(Agreement, KendallTauB) {
  const Correlation c = kendall_tau_b({1, 2, 3}, {1, 3, 2});  // C 2, D 1
  EXPECT_NEAR(c.r, 1.0 / 3, 1e-15);
  EXPECT_NEAR(c.p, 2 * normal_sf(1 / std::sqrt(3 * 2 * 11 / 18.0)), 1e-15);
  // Ties: x (1, 1, 2), y (1, 2, 3): C 2, D 0, one pair tied in x: tau_b = 2 / sqrt(2 * 3).
  EXPECT_NEAR(kendall_tau_b({1, 1, 2}, {1, 2, 3}).r, 2 / std::sqrt(6.0), 1e-15);
  EXPECT_TRUE(std::isnan(kendall_tau_b({1, 1, 1}, {1, 2, 3}).r));
}

TEST(Agreement, LinearCka) {
  const std::vector<double> x = {1, 2, 0, 1, 3, 5, -1, 2};  // [4][2]
  EXPECT_NEAR(linear_cka(x, 2, x, 2, 4), 1.0, 1e-15);
  // A rotation and a scale of the same cloud: CKA 1.
  const double c = std::cos(0.3), s = std::sin(0.3);
  std::vector<double> y(8);
  for (int i = 0; i < 4; ++i) {
    y[i * 2] = 3 * (c * x[i * 2] - s * x[i * 2 + 1]);
    y[i * 2 + 1] = 3 * (s * x[i * 2] + c * x[i * 2 + 1]) + 7;
  }
  EXPECT_NEAR(linear_cka(x, 2, y, 2, 4), 1.0, 1e-14);
  EXPECT_NEAR(linear_cka({1, -1, 0, 0}, 1, {0, 0, 1, -1}, 1, 4), 0.0, 1e-15);  // orthogonal
  EXPECT_TRUE(std::isnan(linear_cka({2, 2, 2}, 1, {1, 2, 3}, 1, 3)));
}

TEST(Agreement, RsaAndDistances) {
  const std::vector<double> x = {0, 0, 3, 4, 6, 8};  // [3][2]
  const std::vector<double> d = distance_upper(x, 3, 2);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_DOUBLE_EQ(d[0], 5);
  EXPECT_DOUBLE_EQ(d[1], 10);
  EXPECT_DOUBLE_EQ(d[2], 5);
  const std::vector<double> x4 = {0, 1, 3, 7}, y4 = {0, 2, 6, 14};  // same geometry, scaled
  EXPECT_NEAR(rsa(x4, 1, y4, 1, 4), 1.0, 1e-15);
  const std::vector<double> z = zscore_columns({1, 5, 3, 5, 5, 5}, 3, 2);
  EXPECT_NEAR(z[0], -std::sqrt(1.5), 1e-15);  // column (1, 3, 5): mean 3, sd sqrt(8/3)
  EXPECT_EQ(z[1], 0.0);                       // a constant column becomes zeros
}

TEST(Depth, GridAndLinearResampling) {
  const std::vector<double> g = depth_grid(5);
  EXPECT_EQ(g, (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  const std::vector<double> r = resample_depth({0, 1, 4}, g);  // layers at 0, 0.5, 1
  const std::vector<double> want = {0, 0.5, 1, 2.5, 4};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(r[i], want[i], 1e-15);
  EXPECT_EQ(resample_depth({7}, g), std::vector<double>(5, 7));
  EXPECT_TRUE(std::isnan(resample_depth({}, g)[2]));
}

// The compared quantities are sweep columns of the registry (host/core/quantities.hpp):
// scalars have no row axis, per-layer ones start with the layer axis.
TEST(ComparedQuantities, AreRegistryColumns) {
  for (const ComparedQuantity& q : scalar_quantities()) EXPECT_TRUE(quantity(q.path).axes.empty()) << q.path;
  for (const ComparedQuantity& q : layer_quantities()) {
    const Quantity& reg = quantity(q.path);
    ASSERT_FALSE(reg.axes.empty()) << q.path;
    EXPECT_EQ(reg.axes[0].name, "layer") << q.path;
  }
  EXPECT_EQ(invariant_paths().size(), 5u);
}

}  // namespace
}  // namespace qk
