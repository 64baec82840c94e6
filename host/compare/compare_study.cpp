#include "compare_study.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <set>

#include "agreement.hpp"
#include "compare_depth.hpp"
#include "compare_quantities.hpp"
#include "compare_quantity.hpp"
#include "depth_profile.hpp"

namespace qk {

namespace {

// Per-probe feature matrix [n][columns] of run k at the common probes `use`.
std::vector<double> feature_rows(const CompareResult& r, size_t k, const std::vector<std::string>& columns,
                                 const std::vector<size_t>& use) {
  std::vector<double> x;
  for (size_t i : use)
    for (const std::string& c : columns) x.push_back(r.runs[k].scalars.at(c)[r.match.rows[k][i]]);
  return x;
}

// The common probes at which both runs are ok and every column is finite.
std::vector<size_t> usable(const CompareResult& r, int a, int b, const std::vector<std::string>& columns) {
  std::vector<size_t> use;
  for (size_t i = 0; i < r.match.ids.size(); ++i) {
    bool ok = true;
    for (int k : {a, b}) {
      const size_t row = r.match.rows[k][i];
      ok = ok && r.runs[k].ok[row];
      for (const std::string& c : columns) ok = ok && std::isfinite(r.runs[k].scalars.at(c)[row]);
    }
    if (ok) use.push_back(i);
  }
  return use;
}

// CKA and RSA of every pair over `columns` (z-scored per run); NaN for a pair where a run
// lacks a column.
AgreementSet agreement_set(const CompareResult& r, const std::string& name,
                           const std::vector<std::string>& columns) {
  AgreementSet s{name, columns, {}, {}, {}};
  for (const auto& [a, b] : r.pairs) {
    bool has = !columns.empty();
    for (const std::string& c : columns)
      has = has && r.runs[a].scalars.count(c) && r.runs[b].scalars.count(c);
    const std::vector<size_t> use = has ? usable(r, a, b, columns) : std::vector<size_t>{};
    const size_t n = use.size(), p = columns.size();
    s.n.push_back(static_cast<double>(n));
    if (n < 3) {
      s.cka.push_back(NAN);
      s.rsa.push_back(NAN);
      continue;
    }
    const std::vector<double> x = zscore_columns(feature_rows(r, a, columns, use), n, p);
    const std::vector<double> y = zscore_columns(feature_rows(r, b, columns, use), n, p);
    s.cka.push_back(linear_cka(x, p, y, p, n));
    s.rsa.push_back(rsa(x, p, y, p, n));
  }
  return s;
}

// The mode-invariant columns every run has.
std::vector<std::string> shared_invariant(const CompareResult& r) {
  std::vector<std::string> out;
  for (const std::string& c : invariant_paths()) {
    bool all = true;
    for (const RunData& run : r.runs) all = all && run.scalars.count(c);
    if (all) out.push_back(c);
  }
  return out;
}

// A warning per quantity whose definition changes between the runs that have it.
void definition_warnings(CompareResult& r, const std::string& path, const std::vector<std::string>& defs) {
  std::string first;
  size_t at = 0;
  for (size_t k = 0; k < defs.size(); ++k) {
    if (defs[k].empty()) continue;
    if (first.empty()) {
      first = defs[k];
      at = k;
    } else if (defs[k] != first) {
      r.warnings.push_back(path + " is defined as " + first + " in " + r.runs[at].path + " but as " +
                           defs[k] + " in " + r.runs[k].path +
                           ": the comparison mixes two formulas (docs/metrics.md, \"Comparing models\")");
      return;
    }
  }
}

// A line on stderr at most every 5 s while the comparison runs: steps done, the last one.
class StepProgress {
 public:
  explicit StepProgress(size_t total) : total_(total) {}
  void done(const std::string& what) {
    ++done_;
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_).count() < 5.0) return;
    last_ = now;
    std::cerr << "compare: " << done_ << "/" << total_ << " steps done (" << what << "), "
              << static_cast<long>(std::chrono::duration<double>(now - start_).count()) << " s elapsed\n";
  }

 private:
  size_t total_, done_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_ = start_;
};

void set_domains_and_pairs(CompareResult& r) {
  const std::set<std::string> doms(r.match.domains.begin(), r.match.domains.end());
  r.domains = {"all"};
  r.domains.insert(r.domains.end(), doms.begin(), doms.end());
  for (int a = 0; a < static_cast<int>(r.runs.size()); ++a)
    for (int b = a + 1; b < static_cast<int>(r.runs.size()); ++b) r.pairs.emplace_back(a, b);
}

// Run `file`: a copy of an earlier run when it is the same file (so that a sweep still
// being written, given twice, is read at one moment), else read_run(file).
RunData read_again(const std::vector<RunData>& earlier, const std::string& file) {
  std::error_code ec;
  for (const RunData& run : earlier)
    if (std::filesystem::equivalent(run.path, file, ec)) {
      RunData copy = run;
      copy.path = file;
      copy.warnings.clear();
      return copy;
    }
  return read_run(file);
}

}  // namespace

CompareResult compare_runs(const std::vector<std::string>& files, const CompareOptions& opts) {
  CompareResult r;
  r.options = opts;
  for (const std::string& f : files) {
    r.runs.push_back(read_again(r.runs, f));
    r.warnings.insert(r.warnings.end(), r.runs.back().warnings.begin(), r.runs.back().warnings.end());
  }
  r.match = match_probes(r.runs, opts.allow_template_mix, &r.warnings);
  set_domains_and_pairs(r);
  r.grid = depth_grid(opts.depth_points);
  StepProgress progress(scalar_quantities().size() + 2);
  for (const ComparedQuantity& q : scalar_quantities()) {
    r.quantities.push_back(compare_quantity(q, r));
    definition_warnings(r, q.path, r.quantities.back().definitions);
    progress.done(q.path);
  }
  r.agreement.push_back(agreement_set(r, "invariant", shared_invariant(r)));
  progress.done("agreement: invariant");
  const std::vector<std::string> features = {"bo/mean_coherence", "bo/mean_cross_alignment",
                                             "bo/mean_head_entropy", "bo/phase_lock_score",
                                             "bo/joint_collapse_count"};
  r.agreement.push_back(agreement_set(r, "seed_features", features));
  progress.done("agreement: seed_features");
  for (const ComparedQuantity& q : layer_quantities()) {
    r.depth.push_back(run_depth_profile(q, r));
    definition_warnings(r, "depth " + q.path, r.depth.back().definitions);
  }
  r.static_depth = static_depth_profiles(r);
  return r;
}

}  // namespace qk
