#pragma once
// One compared quantity across runs (compare_study.hpp): per-run summaries over the common
// probes, and per pair and domain the paired statistics.
#include <string>
#include <utility>
#include <vector>

#include "compare_quantities.hpp"
#include "compare_study.hpp"

namespace qk {

// Values of scalar quantity `path` of run k at the common probes (NaN where the run lacks
// the column or the probe's status is not ok).
std::vector<double> common_values(const RunData& run, const std::vector<size_t>& rows,
                                  const std::string& path);

// The summary row of the finite values of v: n, mean, sd (ddof 1), min, the 5, 25, 50,
// 75, 95 % quantiles (numpy's linear rule), max.
std::vector<double> summarize(const std::vector<double>& v);

// The paired row (paired_labels) of a and b over the indices `use` where both are finite.
std::vector<double> paired_row(const std::vector<double>& a, const std::vector<double>& b,
                               const std::vector<size_t>& use, const CompareOptions& o);

// Quantity q over the runs: definitions, summaries, and the paired rows of every pair and
// domain of `r` (runs, match, domains, pairs set).
QuantityComparison compare_quantity(const ComparedQuantity& q, const CompareResult& r);

}  // namespace qk
