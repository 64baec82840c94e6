#pragma once
// Small-sample null distributions of Wilcoxon's signed-rank statistic R+ (the sum of the
// ranks of the positive differences), as scipy.stats.wilcoxon's method="auto" uses them.
#include <vector>

namespace qk {

// Two-sided exact p-value of R+ = r_plus over n nonzero, untied differences:
// 2 min(P(R+ >= floor(r)), P(R+ <= ceil(r))), clipped to 1, under the null where each of
// the 2^n sign patterns of ranks 1..n is equally likely (scipy's WilcoxonDistribution).
// n <= 1000 (the counts are held as doubles).
double wilcoxon_exact_p(int n, double r_plus);

// Two-sided p-value of the sign-flip permutation test of R+ over all 2^n sign patterns of
// d (at most 20 nonzero values; zeros carry no rank, ties ranked by average):
// 2 min(P(R+* <= R+), P(R+* >= R+)), clipped to 1, as scipy.stats.permutation_test
// (permutation_type="samples") with every pattern enumerated.
double wilcoxon_sign_flip_p(const std::vector<double>& d);

}  // namespace qk
