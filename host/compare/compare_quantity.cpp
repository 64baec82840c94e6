#include "compare_quantity.hpp"

#include <cmath>

#include "agreement.hpp"
#include "compare_quantities.hpp"
#include "paired_tests.hpp"
#include "stats.hpp"

namespace qk {

const std::vector<std::string>& summary_labels() {
  static const std::vector<std::string> l = {"n",   "mean",   "sd",  "min", "q05",
                                             "q25", "median", "q75", "q95", "max"};
  return l;
}

const std::vector<std::string>& paired_labels() {
  static const std::vector<std::string> l = {
      "n",          "mean_diff",     "ci_lo",         "ci_hi",    "wilcoxon_statistic",
      "wilcoxon_z", "wilcoxon_p",    "rank_biserial", "cohen_dz", "spearman",
      "spearman_p", "kendall_tau_b", "kendall_p"};
  return l;
}

std::vector<double> common_values(const RunData& run, const std::vector<size_t>& rows,
                                  const std::string& path) {
  std::vector<double> v(rows.size(), NAN);
  const auto it = run.scalars.find(path);
  if (it == run.scalars.end()) return v;
  for (size_t i = 0; i < rows.size(); ++i)
    if (run.ok[rows[i]]) v[i] = it->second[rows[i]];
  return v;
}

std::vector<double> summarize(const std::vector<double>& v) {
  std::vector<double> f;
  for (double x : v)
    if (std::isfinite(x)) f.push_back(x);
  std::vector<double> s = {static_cast<double>(f.size()), mean_of(f), sd_of(f)};
  for (double q : {0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0}) s.push_back(quantile(f, q));
  return s;
}

std::vector<double> paired_row(const std::vector<double>& a, const std::vector<double>& b,
                               const std::vector<size_t>& use, const CompareOptions& o) {
  std::vector<double> x, y, d;
  for (size_t i : use)
    if (std::isfinite(a[i]) && std::isfinite(b[i])) {
      x.push_back(a[i]);
      y.push_back(b[i]);
      d.push_back(a[i] - b[i]);
    }
  const Interval ci = bootstrap_mean_ci(d, o.bootstrap, o.seed, o.level);
  const Wilcoxon w = wilcoxon_signed_rank(d);
  const Correlation rs = spearman_test(x, y), kt = kendall_tau_b(x, y);
  return {static_cast<double>(d.size()),
          mean_of(d),
          ci.lo,
          ci.hi,
          w.statistic,
          w.z,
          w.p,
          w.rank_biserial,
          cohen_dz(d),
          rs.r,
          rs.p,
          kt.r,
          kt.p};
}

namespace {

// Indices of the common probes in each domain of r.domains ("all": every one).
std::vector<std::vector<size_t>> domain_members(const CompareResult& r) {
  std::vector<std::vector<size_t>> members(r.domains.size());
  for (size_t i = 0; i < r.match.ids.size(); ++i) {
    members[0].push_back(i);
    for (size_t k = 1; k < r.domains.size(); ++k)
      if (r.match.domains[i] == r.domains[k]) members[k].push_back(i);
  }
  return members;
}

}  // namespace

QuantityComparison compare_quantity(const ComparedQuantity& q, const CompareResult& r) {
  QuantityComparison c;
  c.path = q.path;
  std::vector<std::vector<double>>& values = c.values;
  std::string first;
  for (size_t k = 0; k < r.runs.size(); ++k) {
    const RunData& run = r.runs[k];
    const bool has = run.scalars.count(q.path) > 0;
    c.definitions.push_back(has ? quantity_definition(q, run.position_mode, run.mode == "lem-compat") : "");
    if (has && first.empty()) first = c.definitions.back();
    if (has && c.definitions.back() != first) c.same_definition = false;
    values.push_back(common_values(run, r.match.rows[k], q.path));
    c.summary.push_back(summarize(values.back()));
  }
  const std::vector<std::vector<size_t>> members = domain_members(r);
  for (const auto& [a, b] : r.pairs) {
    std::vector<std::vector<double>> rows;
    for (const std::vector<size_t>& use : members)
      rows.push_back(paired_row(values[a], values[b], use, r.options));
    c.paired.push_back(rows);
  }
  return c;
}

}  // namespace qk
