#pragma once
// Tail probabilities of the normal and Student t distributions, in fp64, for the p-values
// of `qkgeom compare` (docs/compare.md).

namespace qk {

// P(Z > z) for a standard normal Z: erfc(z / sqrt 2) / 2 (scipy.stats.norm.sf).
double normal_sf(double z);

// P(T > t) for Student's t with `df` > 0 degrees of freedom (scipy.stats.t.sf), through
// the regularized incomplete beta function: for t >= 0, I_x(df/2, 1/2) / 2 with
// x = df / (df + t^2). +inf gives 0, -inf 1, NaN NaN.
double student_t_sf(double t, double df);

// The regularized incomplete beta function I_x(a, b), a, b > 0, x in [0, 1] (Lentz's
// continued fraction, Numerical Recipes 3rd ed. sec. 6.4, to 1e-15 relative).
double incomplete_beta(double a, double b, double x);

}  // namespace qk
