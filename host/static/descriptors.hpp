#pragma once
// The seed's seven descriptors of a singular-value spectrum (head-geometry-vs-entropy.py,
// compute_per_head_geometry), with its 1e-12 floors and clip.
#include <array>
#include <cstdint>
#include <vector>

namespace qk {

struct SpectrumDescriptors {
  double op = 0;          // max s
  double fro = 0;         // sqrt(sum s^2)
  double trace = 0;       // sum s
  double rank_eff = 0;    // sum s / max(max s, 1e-12)
  double spec_ent = 0;    // -sum p log p, p = clip(s^2 / max(sum s^2, 1e-12), 1e-12, 1) (nats)
  double anisotropy = 0;  // max s / max(mean s, 1e-12)
  double condition = 0;   // max s / max(min s, 1e-12)
};

// Dataset names in STATIC.h5, in this order.
inline constexpr std::array<const char*, 7> kDescriptorNames = {
    "op", "fro", "trace", "rank_eff", "spec_ent", "anisotropy", "condition"};

// Descriptors of the n values at s (n >= 1).
SpectrumDescriptors describe_spectrum(const double* s, int64_t n);

// Field i (in kDescriptorNames order) of d.
double descriptor_value(const SpectrumDescriptors& d, int i);

// For spectra stored as [count][n]: the seven descriptors as [7][count].
std::array<std::vector<double>, 7> describe_spectra(const std::vector<double>& spectra, int64_t n);

// The condition number of an exact spectrum (the n <= hidden largest singular values of a
// hidden x hidden operator): max s / min s, without the seed's floor, and +inf when the
// operator is numerically rank-deficient (rank < n), by numpy's matrix_rank rule:
// min s <= max s * hidden * DBL_EPSILON (an all-zero spectrum included).
double exact_condition(const double* s, int64_t n, int64_t hidden);

// describe_spectra with `condition` replaced by exact_condition (the exact spectra).
std::array<std::vector<double>, 7> describe_exact_spectra(const std::vector<double>& spectra, int64_t n,
                                                          int64_t hidden);

}  // namespace qk
