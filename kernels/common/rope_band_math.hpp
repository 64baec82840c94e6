#pragma once
// One rotary band's energy and its rotation-invariant part (docs/static-geometry.md,
// "Frequency bands"), shared by rope_layer_cpu (host/static/rope_operator.cpp) and its GPU
// twin (kernels/rope_geometry.cu). Plain C++: usable from host code and from nvcc alike.
#include <cstdint>

#include "hd.hpp"
#include "hd_math.hpp"

namespace qk {
namespace rope_band {

// The 2 x 2 block {aa, ab, bb} of a symmetric Gram on pair (a, b) (ab symmetrised).
struct Pair2 {
  double aa, ab, bb;
};

// The block of the d x d Gram g (row- or column-major: it is symmetric) on pair (a, b).
QK_HD Pair2 pair_block(const double* g, int64_t d, int64_t a, int64_t b) {
  return {g[a * d + a], 0.5 * (g[a * d + b] + g[b * d + a]), g[b * d + b]};
}

// tr(R A R^T C), R the rotation by the angle t with c = cos t, s = sin t: the band's
// energy ||Q_p^T R(-D) K_p||_F^2 at one offset.
QK_HD double energy(const Pair2& A, const Pair2& C, double c, double s) {
  const double maa = c * c * A.aa - 2 * c * s * A.ab + s * s * A.bb;  // (R A R^T)_aa
  const double mbb = s * s * A.aa + 2 * c * s * A.ab + c * c * A.bb;
  const double mab = c * s * (A.aa - A.bb) + (c * c - s * s) * A.ab;
  return maa * C.aa + 2 * mab * C.ab + mbb * C.bb;
}

// ||A - (tr A / 2) I||_F: the part of a symmetric 2 x 2 block that does not commute with rotations.
QK_HD double traceless_norm(const Pair2& A) {
  return hd::sqrt(0.5 * (A.aa - A.bb) * (A.aa - A.bb) + 2 * A.ab * A.ab);
}

// The band's mean energy over a period of the angle, m = tr A tr C / 2.
QK_HD double mean_energy(const Pair2& A, const Pair2& C) { return 0.5 * (A.aa + A.bb) * (C.aa + C.bb); }

// 1 - a / m clamped to [0, 1] (a = ||A0||_F ||C0||_F the swing); 1 when m = 0.
QK_HD double invariant_fraction(const Pair2& A, const Pair2& C) {
  const double m = mean_energy(A, C);
  if (!(m > 0)) return 1.0;
  const double f = 1 - traceless_norm(A) * traceless_norm(C) / m;
  return f < 0 ? 0.0 : (f > 1 ? 1.0 : f);
}

}  // namespace rope_band
}  // namespace qk
