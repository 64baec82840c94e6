#pragma once
// Paired two-sample statistics over per-probe differences d_i = a_i - b_i, in fp64
// (docs/compare.md gives each formula and the scipy/numpy call it equals).
#include <cstdint>
#include <cmath>
#include <random>
#include <vector>

namespace qk {

// Wilcoxon's signed-rank test of d (NaN dropped), as scipy.stats.wilcoxon(d,
// zero_method="wilcox", correction=False) with its default method="auto": zeros dropped,
// |d| ranked (ties averaged), z = (R+ - n(n+1)/4) / sqrt((n(n+1)(2n+1) - sum(t^3 - t)/2) / 24)
// over the n nonzero differences with tie groups of size t. p: for at most 50 differences
// without ties or zeros, the exact null distribution of R+; with ties or zeros and at most
// 13 differences, the sign-flip permutation test over all 2^n patterns; else the normal
// approximation 2 P(Z > |z|) (wilcoxon_null.hpp).
struct Wilcoxon {
  int64_t n = 0;  // nonzero differences
  double r_plus = NAN, r_minus = NAN;
  double statistic = NAN;             // min(R+, R-), scipy's two-sided statistic
  double z = NAN;                     // -|z|, scipy's zstatistic
  double p = NAN;                     // two-sided
  const char* method = "asymptotic";  // how p was computed: exact | permutation | asymptotic
  // The matched-pairs rank-biserial correlation (R+ - R-) / (R+ + R-) (Kerby 2014), in
  // [-1, 1]; NaN without a nonzero difference.
  double rank_biserial = NAN;
};
Wilcoxon wilcoxon_signed_rank(const std::vector<double>& d);

// Mean and sample standard deviation (ddof 1; NaN for n < 2); NaN mean for n = 0.
double mean_of(const std::vector<double>& v);
double sd_of(const std::vector<double>& v);

// Cohen's d_z = mean(d) / sd(d) (ddof 1): NaN for n < 2 or sd 0.
double cohen_dz(const std::vector<double>& d);

// numpy's legacy `RandomState(seed).randint(0, n)`: 32-bit draws of MT19937 (seeded as
// init_genrand(seed), std::mt19937's seeding) masked to the smallest 2^k - 1 >= n - 1,
// rejected while above n - 1. n >= 1.
uint32_t numpy_randint(std::mt19937& rng, uint32_t n);

// The percentile bootstrap interval of mean(d): `resamples` resamples of d with
// replacement, resample b being the indices RandomState(seed).randint(0, n, size=n) draws
// after b * n earlier draws; the (1 - level)/2 and (1 + level)/2 quantiles (numpy's
// linear rule) of their means. NaN for n = 0 or resamples = 0.
struct Interval {
  double lo = NAN, hi = NAN;
};
Interval bootstrap_mean_ci(const std::vector<double>& d, int resamples, uint32_t seed, double level);

}  // namespace qk
