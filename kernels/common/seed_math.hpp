#pragma once
// Per-element formulas of the Bone-Orientation metrics, shared by the CPU twins
// and the CUDA kernels (QK_HD). Doubles are combined with explicit rounding on
// the device so both sides decide thresholds on identical values.
#include <cmath>
#include <cstdint>

#include "hd.hpp"

namespace qk {

// a*b + c without fused multiply-add, on host and device alike.
QK_HD double mul_add_rn(double a, double b, double c) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(__dmul_rn(a, b), c);
#else
  return a * b + c;
#endif
}

// The seed's cosine: sums of a.b, a.a, b.b accumulated in fp64 in index order,
// dot / (sqrt(na) * sqrt(nb)); 0 when either norm is 0. a, b: n floats.
QK_HD double seed_cosine(const float* a, const float* b, int64_t n) {
  double dot = 0.0, na = 0.0, nb = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double ai = a[i], bi = b[i];
    dot = mul_add_rn(ai, bi, dot);
    na = mul_add_rn(ai, ai, na);
    nb = mul_add_rn(bi, bi, nb);
  }
  const double denom = sqrt(na) * sqrt(nb);
  return denom == 0.0 ? 0.0 : dot / denom;
}

// Cosine from a Gram's entries: g_ij / (sqrt(g_ii) sqrt(g_jj)); 0 on a zero norm.
QK_HD double cosine_from_gram(double gij, double gii, double gjj) {
  const double denom = sqrt(gii) * sqrt(gjj);
  return denom == 0.0 ? 0.0 : gij / denom;
}

// Normalised Shannon entropy of magnitudes m_i >= 0 from two sums:
// total = sum m_i, mlogm = sum m_i ln m_i (0 ln 0 = 0), over n values.
// H = (ln total - mlogm/total) / ln n, in [0, 1]; 0 when total is 0 or n < 2.
QK_HD double normalized_entropy_from_sums(double total, double mlogm, int64_t n) {
  if (total <= 0.0 || n < 2) return 0.0;
  const double h = log(total) - mlogm / total;
  return h / log(static_cast<double>(n));
}

// Largest error of an fp32 dot product of two unit vectors of length n
// accumulated in any order (gamma_n bound plus the normalisation's rounding).
QK_HD double fp32_unit_dot_error_bound(int64_t n) {
  const double u = 5.9604644775390625e-08;  // 2^-24, fp32 unit roundoff
  return 2.0 * static_cast<double>(n + 4) * u;
}

}  // namespace qk
