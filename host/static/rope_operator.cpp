#include "rope_operator.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "head_qr.hpp"
#include "internal_error.hpp"
#include "rope_band_math.hpp"

namespace qk {

namespace {

// Y = X R(D) for X [rows][d] row-major: pair (a, b) = (i, i + r/2) of X's columns
// becomes (c x_a + s x_b, -s x_a + c x_b), {c, s} = cs[i] (rope_cos_sin of the offset).
Mat rotate_columns(const Mat& x, int64_t rows, int64_t D, int64_t P, const double* cs) {
  Mat y = x;
  for (int64_t i = 0; i < P; ++i) {
    const double c = cs[2 * i], sn = cs[2 * i + 1];
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

}  // namespace

std::vector<double> rope_cos_sin(const RopeSpec& s) {
  const int64_t P = s.rotary_dim / 2, O = static_cast<int64_t>(s.offsets.size());
  std::vector<double> cs(static_cast<size_t>(O * P * 2));
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < P; ++i) {
      const double t = static_cast<double>(s.offsets[o]) * s.inv_freq[i];
      cs[(o * P + i) * 2] = std::cos(t);
      cs[(o * P + i) * 2 + 1] = std::sin(t);
    }
  return cs;
}

void rope_head_bands(const double* gq, const double* gk, int64_t D, int64_t r, int64_t O, const double* cs,
                     int64_t h, RopeLayer& out) {
  namespace rb = rope_band;
  const int64_t P = r / 2;
  double unrot = 0;
  for (int64_t i = r; i < D; ++i)
    for (int64_t j = r; j < D; ++j) unrot += gq[i * D + j] * gk[i * D + j];
  double total = unrot;
  for (int64_t p = 0; p < P; ++p) {
    const rb::Pair2 A = rb::pair_block(gq, D, p, p + P), C = rb::pair_block(gk, D, p, p + P);
    for (int64_t o = 0; o < O; ++o)
      out.band_energy[(h * O + o) * P + p] = rb::energy(A, C, cs[(o * P + p) * 2], cs[(o * P + p) * 2 + 1]);
    const double mean = rb::mean_energy(A, C);
    out.band_mean_energy[h * P + p] = mean;
    out.invariant_fraction[h * P + p] = rb::invariant_fraction(A, C);
    total += mean;
  }
  out.unrotated_energy[h] = unrot;
  out.unrotated_share[h] = total > 0 ? unrot / total : 0.0;
  for (int64_t p = 0; p < P; ++p)
    out.band_share[h * P + p] = total > 0 ? out.band_mean_energy[h * P + p] / total : 0.0;
}

namespace {

// Head h's fields of r: spectra and traces of R1 (R2 R(D))^T per offset, then the bands.
void head_rope(const Mat& q, const Mat& k, const StaticDims& d, const RopeSpec& s,
               const std::vector<double>& cs, int64_t h, RopeLayer& r) {
  const int64_t D = d.head_dim, O = static_cast<int64_t>(s.offsets.size()), P = s.rotary_dim / 2;
  const HeadQr f = head_qr(q, k, D, d.hidden);
  const int64_t m = std::min(f.p, D);
  for (int64_t o = 0; o < O; ++o) {
    const Mat y = rotate_columns(f.r2, f.p, D, P, cs.data() + o * P * 2);
    Mat sv = svdvals(times_transpose(f.r1.data(), y.data(), m, f.p, D), m, f.p);
    sv.resize(static_cast<size_t>(D), 0.0);
    std::copy(sv.begin(), sv.end(), r.sv.begin() + (h * O + o) * D);
    double tr = 0;
    for (size_t i = 0; i < y.size(); ++i) tr += f.r1[i] * y[i];
    r.signed_trace[h * O + o] = tr;
  }
  rope_head_bands(column_gram(f.r1, f.p, D).data(), column_gram(f.r2, f.p, D).data(), D, s.rotary_dim, O,
                  cs.data(), h, r);
}

}  // namespace

RopeLayer sized_rope_layer(const StaticDims& d, const RopeSpec& s) {
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

void check_rope_dims(const StaticDims& d, const RopeSpec& s, const char* who) {
  const int64_t H = d.q_heads, D = d.head_dim, N = d.hidden;
  if (H <= 0 || D <= 0 || N <= 0 || d.kv_heads <= 0 || H % d.kv_heads != 0 || s.rotary_dim < 2 ||
      s.rotary_dim % 2 != 0 || s.rotary_dim > D ||
      static_cast<int64_t>(s.inv_freq.size()) != s.rotary_dim / 2)
    throw InternalError(std::string(who) + ": bad dims");
}

RopeLayer rope_layer_cpu(const float* wq, const float* wk, const StaticDims& d, const RopeSpec& s) {
  check_rope_dims(d, s, "rope_layer_cpu");
  RopeLayer r = sized_rope_layer(d, s);
  const std::vector<double> cs = rope_cos_sin(s);
  // Heads in parallel, each its own slices of r.
  for_each_head(wq, wk, d, [&](int64_t h, const Mat& q, const Mat& k) { head_rope(q, k, d, s, cs, h, r); });
  return r;
}

}  // namespace qk
