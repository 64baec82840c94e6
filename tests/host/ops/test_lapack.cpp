// host/ops/lapack.hpp against closed-form answers.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "internal_error.hpp"
#include "ops/lapack.hpp"

namespace qk {
namespace {

TEST(Lapack, SingularValuesOfARotatedDiagonal) {
  // [[0, 3], [2, 0], [0, 0]] column-major: singular values 3, 2.
  std::vector<double> a = {0, 2, 0, 3, 0, 0}, s(2);
  lapack::singular_values(3, 2, a.data(), 3, s.data());
  EXPECT_NEAR(s[0], 3.0, 1e-15);
  EXPECT_NEAR(s[1], 2.0, 1e-15);
}

TEST(Lapack, SymmetricEigenAscendingWithUnitVectors) {
  std::vector<double> a = {2, 1, 1, 2}, w(2);
  lapack::symmetric_eigen(2, a.data(), 2, w.data());
  EXPECT_NEAR(w[0], 1.0, 1e-15);
  EXPECT_NEAR(w[1], 3.0, 1e-15);
  EXPECT_NEAR(std::fabs(a[2]), std::sqrt(0.5), 1e-15);  // eigenvector of 3: (1, 1) / sqrt 2
  EXPECT_NEAR(a[2], a[3], 1e-15);
}

TEST(Lapack, QrThenQIsOrthonormalAndReproducesA) {
  const int m = 4, n = 2;
  const std::vector<double> a0 = {1, 2, 3, 4, 0, 1, 0, 1};
  std::vector<double> a = a0, tau(n);
  lapack::geqrf(m, n, a.data(), m, tau.data());
  const double r00 = a[0], r01 = a[m], r11 = a[m + 1];
  std::vector<double> q = a;
  lapack::form_q(m, n, n, q.data(), m, tau.data());
  for (int i = 0; i < m; ++i) {
    EXPECT_NEAR(q[i] * r00, a0[i], 1e-14);
    EXPECT_NEAR(q[i] * r01 + q[m + i] * r11, a0[m + i], 1e-14);
  }
  std::vector<double> e = {1, 0, 0, 0};  // Q e1 = the first column of Q
  lapack::apply_q(m, 1, n, a.data(), m, tau.data(), e.data(), m);
  for (int i = 0; i < m; ++i) EXPECT_NEAR(e[i], q[i], 1e-15);
}

TEST(Lapack, LeastSquaresIsTheMinimumNormSolution) {
  // x + y = 2 (twice): rank 1, minimum-norm solution (1, 1).
  std::vector<double> a = {1, 1, 1, 1}, b = {2, 2};
  EXPECT_EQ(lapack::least_squares(2, 2, 1, a.data(), 2, b.data(), 2), 1);
  EXPECT_NEAR(b[0], 1.0, 1e-14);
  EXPECT_NEAR(b[1], 1.0, 1e-14);
}

TEST(Lapack, BadDimensionIsInternalError) {
  std::vector<double> a(1), s(1);
  EXPECT_THROW(lapack::singular_values(-1, 1, a.data(), 1, s.data()), InternalError);
}

}  // namespace
}  // namespace qk
