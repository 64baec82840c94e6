#include "rope_operator.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "head_qr.hpp"
#include "internal_error.hpp"

namespace qk {

namespace {

// Y = X R(D) for X [rows][d] row-major: pair (a, b) = (i, i + r/2) of X's columns
// becomes (c x_a + s x_b, -s x_a + c x_b), c, s = cos, sin of D inv_freq[i].
Mat rotate_columns(const Mat& x, int64_t rows, int64_t D, const RopeSpec& s, int64_t offset) {
  Mat y = x;
  const int64_t P = s.rotary_dim / 2;
  for (int64_t i = 0; i < P; ++i) {
    const double t = static_cast<double>(offset) * s.inv_freq[i], c = std::cos(t), sn = std::sin(t);
    for (int64_t row = 0; row < rows; ++row) {
      const double xa = x[row * D + i], xb = x[row * D + i + P];
      y[row * D + i] = c * xa + sn * xb;
      y[row * D + i + P] = -sn * xa + c * xb;
    }
  }
  return y;
}

// G = X^T X [d][d] of X [rows][d] row-major (the head-space Gram Q Q^T from R1).
Mat column_gram(const Mat& x, int64_t rows, int64_t D) {
  Mat g(static_cast<size_t>(D * D));
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(D), static_cast<int>(D),
              static_cast<int>(rows), 1.0, x.data(), static_cast<int>(D), x.data(), static_cast<int>(D), 0.0,
              g.data(), static_cast<int>(D));
  return g;
}

// The 2 x 2 block {aa, ab, bb} of the symmetric d x d g on pair (a, b).
struct Pair2 {
  double aa, ab, bb;
};
Pair2 pair_block(const Mat& g, int64_t D, int64_t a, int64_t b) {
  return {g[a * D + a], 0.5 * (g[a * D + b] + g[b * D + a]), g[b * D + b]};
}

// tr(R A R^T C) with R the rotation by angle t: one band's energy at one offset.
double band_energy(const Pair2& A, const Pair2& C, double t) {
  const double c = std::cos(t), s = std::sin(t);
  const double maa = c * c * A.aa - 2 * c * s * A.ab + s * s * A.bb;  // (R A R^T)_aa
  const double mbb = s * s * A.aa + 2 * c * s * A.ab + c * c * A.bb;
  const double mab = c * s * (A.aa - A.bb) + (c * c - s * s) * A.ab;
  return maa * C.aa + 2 * mab * C.ab + mbb * C.bb;
}

// ||A - (tr A / 2) I||_F: the part of a symmetric 2 x 2 block that does not commute with rotations.
double traceless_norm(const Pair2& A) {
  return std::sqrt(0.5 * (A.aa - A.bb) * (A.aa - A.bb) + 2 * A.ab * A.ab);
}

// Band fields of r for head h from the head-space Grams gq, gk [d][d].
void head_bands(const Mat& gq, const Mat& gk, const StaticDims& d, const RopeSpec& s, int64_t h,
                RopeLayer& r) {
  const int64_t D = d.head_dim, P = s.rotary_dim / 2, O = static_cast<int64_t>(s.offsets.size());
  double unrot = 0;
  for (int64_t i = s.rotary_dim; i < D; ++i)
    for (int64_t j = s.rotary_dim; j < D; ++j) unrot += gq[i * D + j] * gk[i * D + j];
  double total = unrot;
  for (int64_t p = 0; p < P; ++p) {
    const Pair2 A = pair_block(gq, D, p, p + P), C = pair_block(gk, D, p, p + P);
    for (int64_t o = 0; o < O; ++o)
      r.band_energy[(h * O + o) * P + p] =
          band_energy(A, C, static_cast<double>(s.offsets[o]) * s.inv_freq[p]);
    const double mean = 0.5 * (A.aa + A.bb) * (C.aa + C.bb), amp = traceless_norm(A) * traceless_norm(C);
    r.band_mean_energy[h * P + p] = mean;
    r.invariant_fraction[h * P + p] = mean > 0 ? std::clamp(1 - amp / mean, 0.0, 1.0) : 1.0;
    total += mean;
  }
  r.unrotated_energy[h] = unrot;
  r.unrotated_share[h] = total > 0 ? unrot / total : 0.0;
  for (int64_t p = 0; p < P; ++p)
    r.band_share[h * P + p] = total > 0 ? r.band_mean_energy[h * P + p] / total : 0.0;
}

// Head h's fields of r: spectra and traces of R1 (R2 R(D))^T per offset, then the bands.
void head_rope(const Mat& q, const Mat& k, const StaticDims& d, const RopeSpec& s, int64_t h, RopeLayer& r) {
  const int64_t D = d.head_dim, O = static_cast<int64_t>(s.offsets.size());
  const HeadQr f = head_qr(q, k, D, d.hidden);
  const int64_t m = std::min(f.p, D);
  for (int64_t o = 0; o < O; ++o) {
    const Mat y = rotate_columns(f.r2, f.p, D, s, s.offsets[o]);
    Mat sv = svdvals(times_transpose(f.r1.data(), y.data(), m, f.p, D), m, f.p);
    sv.resize(static_cast<size_t>(D), 0.0);
    std::copy(sv.begin(), sv.end(), r.sv.begin() + (h * O + o) * D);
    double tr = 0;
    for (size_t i = 0; i < y.size(); ++i) tr += f.r1[i] * y[i];
    r.signed_trace[h * O + o] = tr;
  }
  head_bands(column_gram(f.r1, f.p, D), column_gram(f.r2, f.p, D), d, s, h, r);
}

// r with every field sized for d and s.
RopeLayer sized_layer(const StaticDims& d, const RopeSpec& s) {
  const auto H = static_cast<size_t>(d.q_heads), O = s.offsets.size(),
             P = static_cast<size_t>(s.rotary_dim / 2);
  RopeLayer r;
  r.sv.resize(H * O * static_cast<size_t>(d.head_dim));
  r.signed_trace.resize(H * O);
  r.band_energy.resize(H * O * P);
  r.band_mean_energy.resize(H * P);
  r.band_share.resize(H * P);
  r.invariant_fraction.resize(H * P);
  r.unrotated_energy.resize(H);
  r.unrotated_share.resize(H);
  return r;
}

}  // namespace

RopeLayer rope_layer_cpu(const float* wq, const float* wk, const StaticDims& d, const RopeSpec& s) {
  const int64_t H = d.q_heads, D = d.head_dim, N = d.hidden;
  if (H <= 0 || D <= 0 || N <= 0 || d.kv_heads <= 0 || H % d.kv_heads != 0 || s.rotary_dim < 2 ||
      s.rotary_dim % 2 != 0 || s.rotary_dim > D ||
      static_cast<int64_t>(s.inv_freq.size()) != s.rotary_dim / 2)
    throw InternalError("rope_layer_cpu: bad dims");
  RopeLayer r = sized_layer(d, s);
  // Heads in parallel, each its own slices of r.
  for_each_head(wq, wk, d, [&](int64_t h, const Mat& q, const Mat& k) { head_rope(q, k, d, s, h, r); });
  return r;
}

}  // namespace qk
