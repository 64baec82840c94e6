#include "rope_sweep.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "internal_error.hpp"

namespace qk {

namespace {

// E(D) = cap(scale q^T R(-D) k) for D = 0 .. n - 1 (logits): pair (i, i + r/2) of k becomes
// (c k_a + s k_b, -s k_a + c k_b), c, s of D inv_freq[i]; dims r .. d-1 as they are;
// cap(x) = softcap tanh(x / softcap) when softcap > 0, else x.
void expected_logit(const double* q, const double* k, int64_t D, const SweepRope& rope, int64_t l, int64_t n,
                    double* out) {
  const int64_t r = rope.rotary_dim, P = r / 2;
  double fixed = 0;
  for (int64_t i = r; i < D; ++i) fixed += q[i] * k[i];
  for (int64_t off = 0; off < n; ++off) {
    double e = fixed;
    for (int64_t i = 0; i < P; ++i) {
      const double a = static_cast<double>(off) * rope.inv_freq[l][i], c = std::cos(a), s = std::sin(a);
      e += q[i] * (c * k[i] + s * k[i + P]) + q[i + P] * (-s * k[i] + c * k[i + P]);
    }
    const double x = rope.scale[l] * e;
    out[off] = rope.softcap > 0 ? rope.softcap * std::tanh(x / rope.softcap) : x;
  }
}

// The mean over query positions i = 0 .. n - 1 of softmax over the visible D of E(D)
// (D = 0 .. i, and D < window when window > 0; the others get 0), summed into the 16
// distance buckets -> out[16] (probability).
void implied_mass(const double* e, int64_t n, int64_t window, double* out) {
  std::fill(out, out + kDistanceBuckets, 0.0);
  std::vector<double> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t last = window > 0 ? std::min(i, window - 1) : i;  // largest visible D
    const double mx = *std::max_element(e, e + last + 1);
    double z = 0;
    for (int64_t D = 0; D <= last; ++D) z += w[D] = std::exp(e[D] - mx);
    for (int64_t D = 0; D <= last; ++D) out[distance_bucket(D)] += w[D] / z / static_cast<double>(n);
  }
}

// Ranks 1 .. n of v, ties sharing their mean rank.
std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    for (size_t t = i; t <= j; ++t) r[idx[t]] = 0.5 * static_cast<double>(i + j) + 1;
    i = j + 1;
  }
  return r;
}

// Spearman's rank correlation of a and b over the buckets where either is > 0; NaN with
// fewer than two such buckets, a non-finite value or constant ranks.
double spearman(const double* a, const double* b) {
  std::vector<double> x, y;
  for (int64_t i = 0; i < kDistanceBuckets; ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return std::numeric_limits<double>::quiet_NaN();
    if (a[i] > 0 || b[i] > 0) {
      x.push_back(a[i]);
      y.push_back(b[i]);
    }
  }
  if (x.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> rx = ranks(x), ry = ranks(y);
  const double mean = 0.5 * static_cast<double>(x.size() + 1);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < rx.size(); ++i) {
    sxy += (rx[i] - mean) * (ry[i] - mean);
    sxx += (rx[i] - mean) * (rx[i] - mean);
    syy += (ry[i] - mean) * (ry[i] - mean);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

int64_t distance_bucket(int64_t D) {
  int64_t b = 0;
  while (b < kDistanceBuckets - 1 && D >= (int64_t{1} << b)) ++b;
  return b;
}

RopeSweep compare_rope_sweep(const std::string& path, SweepMeans m, const StaticDims& d,
                             const SweepRope& rope) {
  const int64_t L = d.layers, Hq = d.q_heads, D = d.head_dim, n = m.max_len, B = kDistanceBuckets;
  if (static_cast<int64_t>(rope.window.size()) != L || static_cast<int64_t>(rope.scale.size()) != L ||
      static_cast<int64_t>(rope.inv_freq.size()) != L)
    throw InternalError("compare_rope_sweep: SweepRope needs one inv_freq, scale and window per layer");
  RopeSweep r;
  r.path = path;
  r.expected_logit.resize(static_cast<size_t>(L * Hq * n));
  r.implied_mass.resize(static_cast<size_t>(L * Hq * B));
  r.spearman.resize(static_cast<size_t>(L * Hq));
  r.total_variation.resize(static_cast<size_t>(L * Hq));
  for (int64_t l = 0; l < L; ++l)
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t lh = l * Hq + h, g = h / d.group();
      double* e = r.expected_logit.data() + lh * n;
      expected_logit(m.mean_query.data() + lh * D, m.mean_key.data() + (l * d.kv_heads + g) * D, D, rope, l,
                     n, e);
      double* imp = r.implied_mass.data() + lh * B;
      implied_mass(e, m.query_len, rope.window[l], imp);
      const double* meas = m.measured.data() + lh * B;
      r.spearman[lh] = spearman(imp, meas);
      double tv = 0;
      for (int64_t b = 0; b < B; ++b) tv += 0.5 * std::abs(imp[b] - meas[b]);
      r.total_variation[lh] = tv;
    }
  r.window = rope.window;
  r.softcap.assign(static_cast<size_t>(L), rope.softcap);
  r.m = std::move(m);
  return r;
}

}  // namespace qk
