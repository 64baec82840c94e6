#pragma once
// Volume of a 5-point simplex (pentachoron), host and device. Two forms:
//  - Gram: E = [p_i - p_0] (4 x D), vol = sqrt(det(E E^T)) / 4!, the 4x4 Gram in fp64 and its
//    determinant by LDL^T with diagonal pivoting; a pivot <= kPivotRel * max diag means
//    degenerate: 0.
//  - Cayley-Menger (the seed's form): vol^2 = -det(CM) / (2^4 (4!)^2) over the 6x6 bordered
//    matrix of squared distances, det by Gaussian elimination with partial pivoting in fp64.
#include <cmath>
#include <cstdint>

#include "hd.hpp"

namespace qk {
namespace simplex {

constexpr int kVerts = 5;
constexpr int kEdges = 4;
constexpr int kGram = 10;  // packed lower triangle of the 4x4 Gram: (0,0) (1,0) (1,1) (2,0) ...
constexpr double kPivotRel = 64.0 * 2.220446049250313e-16;
constexpr double kFact4 = 24.0;

QK_HD int tri(int i, int j) { return i * (i + 1) / 2 + j; }  // j <= i

// g += e e^T for one coordinate's edge components e[0..3].
QK_HD void gram_add(double* g, const double* e) {
  g[0] += e[0] * e[0];
  g[1] += e[1] * e[0];
  g[2] += e[1] * e[1];
  g[3] += e[2] * e[0];
  g[4] += e[2] * e[1];
  g[5] += e[2] * e[2];
  g[6] += e[3] * e[0];
  g[7] += e[3] * e[1];
  g[8] += e[3] * e[2];
  g[9] += e[3] * e[3];
}

// det(G) of the packed 4x4 Gram by symmetric elimination (LDL^T) with diagonal pivoting: each
// step takes the largest remaining diagonal entry; 0 when it is not above kPivotRel times the
// largest diagonal entry of G (degenerate).
QK_HD double gram_det(const double* g) {
  double a[kEdges][kEdges];
  double scale = 0.0;
  for (int i = 0; i < kEdges; ++i) {
    for (int j = 0; j <= i; ++j) a[i][j] = a[j][i] = g[tri(i, j)];
    scale = fmax(scale, a[i][i]);
  }
  double det = 1.0;
  for (int j = 0; j < kEdges; ++j) {
    int p = j;
    for (int k = j + 1; k < kEdges; ++k)
      if (a[k][k] > a[p][p]) p = k;
    if (!(a[p][p] > kPivotRel * scale)) return 0.0;
    if (p != j) {
      for (int k = 0; k < kEdges; ++k) {
        const double t = a[j][k];
        a[j][k] = a[p][k];
        a[p][k] = t;
      }
      for (int k = 0; k < kEdges; ++k) {
        const double t = a[k][j];
        a[k][j] = a[k][p];
        a[k][p] = t;
      }
    }
    const double piv = a[j][j];
    det *= piv;
    for (int r = j + 1; r < kEdges; ++r) {
      const double f = a[r][j] / piv;
      for (int c = j + 1; c < kEdges; ++c) a[r][c] -= f * a[j][c];
    }
  }
  return det;
}

QK_HD double volume_from_gram(const double* g) { return sqrt(gram_det(g)) / kFact4; }

// Gram of the edge vectors of the simplex p[0..4] (each `dim` f32), coordinates
// [begin, end) with step `step` (a thread's share; begin 0, step 1 for all of them).
QK_HD void gram_accumulate(const float* const* p, int64_t dim, int64_t begin, int64_t step, double* g) {
  for (int64_t d = begin; d < dim; d += step) {
    const double o = static_cast<double>(p[0][d]);
    const double e[kEdges] = {static_cast<double>(p[1][d]) - o, static_cast<double>(p[2][d]) - o,
                              static_cast<double>(p[3][d]) - o, static_cast<double>(p[4][d]) - o};
    gram_add(g, e);
  }
}

// vol^2 from the squared pairwise distances d2[i][j] (5 x 5) via Cayley-Menger:
// sign (-1)^(k+1) = -1 and 2^k (k!)^2 = 9216 with k = 4. May be negative for a degenerate set.
QK_HD double cayley_menger_vol2(const double d2[kVerts][kVerts]) {
  constexpr int m = kVerts + 1;
  double a[m][m];
  a[0][0] = 0.0;
  for (int i = 1; i < m; ++i) {
    a[0][i] = 1.0;
    a[i][0] = 1.0;
    for (int j = 1; j < m; ++j) a[i][j] = d2[i - 1][j - 1];
  }
  double det = 1.0;
  for (int c = 0; c < m; ++c) {
    int piv = c;
    for (int r = c + 1; r < m; ++r)
      if (fabs(a[r][c]) > fabs(a[piv][c])) piv = r;
    if (a[piv][c] == 0.0) return 0.0;
    if (piv != c) {
      for (int j = 0; j < m; ++j) {
        const double t = a[c][j];
        a[c][j] = a[piv][j];
        a[piv][j] = t;
      }
      det = -det;
    }
    det *= a[c][c];
    for (int r = c + 1; r < m; ++r) {
      const double f = a[r][c] / a[c][c];
      for (int j = c; j < m; ++j) a[r][j] -= f * a[c][j];
    }
  }
  return -det / (16.0 * kFact4 * kFact4);
}

}  // namespace simplex
}  // namespace qk
