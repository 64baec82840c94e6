#include "correlate_study.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "align_study.hpp"
#include "h5_arrays.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"

namespace qk {

namespace {

const char* const kDescriptors[] = {"op", "fro", "trace", "rank_eff", "spec_ent", "anisotropy", "condition"};
const char* const kRegressors[] = {"op", "spec_ent", "rank_eff", "anisotropy"};

// Per-head means over the rows `rows` of x [N][L*H].
std::vector<double> head_means(const std::vector<double>& x, size_t lh, const std::vector<size_t>& rows) {
  std::vector<double> m(lh, 0.0);
  for (size_t r : rows)
    for (size_t i = 0; i < lh; ++i) m[i] += x[r * lh + i];
  for (double& v : m) v /= static_cast<double>(rows.size());
  return m;
}

// InputError unless dataset `name` of `path` has at least the `n` committed rows.
void require_rows(size_t rows, size_t n, const std::string& name, const std::string& path) {
  if (rows < n)
    throw InputError(path, "dataset '" + name + "' has " + std::to_string(rows) + " rows, fewer than the " +
                               std::to_string(n) + " committed probes of probe/index");
}

// Rows [0, n) of the sweep whose probe/status is "ok" (every row of a store without the
// column); *excluded counts the others.
std::vector<size_t> ok_probes(hid_t f, const std::string& path, size_t n, int64_t* excluded) {
  std::vector<size_t> rows;
  const bool has_status =
      H5Lexists(f, "probe", H5P_DEFAULT) > 0 && H5Lexists(f, "probe/status", H5P_DEFAULT) > 0;
  const std::vector<std::string> status =
      has_status ? read_strings(f, "probe/status", path, n) : std::vector<std::string>{};
  if (has_status) require_rows(status.size(), n, "probe/status", path);
  for (size_t i = 0; i < n; ++i)
    if (!has_status || status[i] == "ok") rows.push_back(i);
  *excluded = static_cast<int64_t>(n - rows.size());
  return rows;
}

// InputError naming the file, dataset, row, probe id and (layer, head) of the first
// non-finite value among rows `rows` of x [N][L][H].
void require_finite_rows(const ArrayF64& x, const std::vector<size_t>& rows, size_t lh, int heads,
                         const std::string& name, const std::string& path, hid_t f) {
  for (size_t r : rows)
    for (size_t i = 0; i < lh; ++i) {
      const double v = x.data[r * lh + i];
      if (std::isfinite(v)) continue;
      const std::vector<std::string> ids = read_strings(f, "probe/id", path, x.dims[0]);
      throw InputError(path, "dataset '" + name + "' row " + std::to_string(r) + " (probe '" +
                                 (r < ids.size() ? ids[r] : "?") + "') [layer " + std::to_string(i / heads) +
                                 ", head " + std::to_string(i % heads) + "] = " + std::to_string(v) +
                                 ": not finite although its probe/status is ok (or absent); "
                                 "re-run that probe, or drop the row");
    }
}

// InputError naming the file, dataset and (layer, head) of a NaN, or of an Inf outside
// the condition number (+Inf there: a singular operator).
void require_finite_descriptor(const ArrayF64& g, const std::string& name, int heads,
                               const std::string& path) {
  const bool condition = name.size() >= 9 && name.compare(name.size() - 9, 9, "condition") == 0;
  for (size_t i = 0; i < g.data.size(); ++i) {
    const double v = g.data[i];
    if (std::isfinite(v) || (condition && v > 0 && std::isinf(v))) continue;
    throw InputError(path, "dataset '" + name + "' [layer " + std::to_string(i / heads) + ", head " +
                               std::to_string(i % heads) + "] = " + std::to_string(v) + ": not finite");
  }
}

std::string attr_or(hid_t f, const std::string& name) {
  bool found = false;
  const std::string v = h5::read_string_attr(f, name, &found);
  return found ? v : "";
}

// InputError unless the two files come from the same model (when both record its config hash).
void check_same_model(hid_t fs, hid_t fw, const std::string& static_h5, const std::string& sweep_h5) {
  const std::string ms = attr_or(fs, "model_config_sha256"), mw = attr_or(fw, "model_config_sha256");
  if (!ms.empty() && !mw.empty() && ms != mw)
    throw InputError(sweep_h5, "comes from another model than " + static_h5 + " (model_config_sha256 " +
                                   mw.substr(0, 12) + " vs " + ms.substr(0, 12) + ")");
}

// The sweep's attention entropy and logit std [probes][L][H] and probe/index [committed].
struct SweepArrays {
  ArrayF64 ent, lstd, index;
};

// The rows of the sweep to use: InputError unless its arrays match the static file's heads
// (op [L][H]) and at least one committed probe is ok. Sets r's layers, heads, probes, excluded.
std::vector<size_t> usable_probes(const SweepArrays& sw, const ArrayF64& op, hid_t fw,
                                  const std::string& static_h5, const std::string& sweep_h5,
                                  CorrelateResult& r) {
  const ArrayF64 &ent = sw.ent, &lstd = sw.lstd, &index = sw.index;
  if (op.dims.size() != 2) throw InputError(static_h5, "exact/op is not [layers, heads]");
  r.layers = static_cast<int>(op.dims[0]);
  r.heads = static_cast<int>(op.dims[1]);
  if (ent.dims.size() != 3 || ent.dims[1] != op.dims[0] || ent.dims[2] != op.dims[1] || lstd.dims != ent.dims)
    throw InputError(sweep_h5, "attention/entropy is not [probes, " + std::to_string(r.layers) + ", " +
                                   std::to_string(r.heads) + "] as the static file's heads");
  if (index.dims.size() != 1) throw InputError(sweep_h5, "probe/index is not one row per probe");
  const size_t committed = static_cast<size_t>(index.dims[0]);  // committed rows only
  if (committed < 1) throw InputError(sweep_h5, "holds no committed probes");
  require_rows(ent.dims[0], committed, "attention/entropy", sweep_h5);
  std::vector<size_t> all = ok_probes(fw, sweep_h5, committed, &r.excluded);
  r.probes = static_cast<int64_t>(all.size());
  if (r.probes < 1)
    throw InputError(sweep_h5, "holds no probe with probe/status ok (" + std::to_string(r.excluded) +
                                   " committed probes have non-finite values)");
  return all;
}

// Bootstrap: per-head mean entropy [L*H] of each of opts.bootstrap resampled probe sets,
// the same sets for every descriptor and spectrum.
std::vector<std::vector<double>> bootstrap_entropy(const ArrayF64& ent, size_t lh,
                                                   const std::vector<size_t>& all,
                                                   const CorrelateOptions& opts) {
  std::vector<std::vector<double>> boot_entropy;
  std::mt19937_64 rng(opts.seed);
  std::uniform_int_distribution<size_t> pick(0, all.size() - 1);
  for (int b = 0; b < opts.bootstrap; ++b) {
    std::vector<size_t> rows(all.size());
    for (size_t& x : rows) x = all[pick(rng)];
    boot_entropy.push_back(head_means(ent.data, lh, rows));
  }
  return boot_entropy;
}

// One descriptor g [L*H] against the mean entropy and logit std: Pearson and Spearman, the
// bootstrap intervals (tail mass a each side) and the Pearson correlation by layer thirds.
DescriptorCorrelation correlate_descriptor(const char* name, const std::vector<double>& g,
                                           const CorrelateResult& r,
                                           const std::vector<std::vector<double>>& boot_entropy, double a) {
  DescriptorCorrelation d;
  d.name = name;
  d.pearson_entropy = pearson(g, r.entropy);
  d.pearson_logit_std = pearson(g, r.logit_std);
  d.spearman_entropy = spearman(g, r.entropy);
  d.spearman_logit_std = spearman(g, r.logit_std);
  std::vector<double> bp, bs;
  for (const auto& e : boot_entropy) {
    bp.push_back(pearson(g, e));
    bs.push_back(spearman(g, e));
  }
  d.pearson_entropy_lo = quantile(bp, a);
  d.pearson_entropy_hi = quantile(bp, 1 - a);
  d.spearman_entropy_lo = quantile(bs, a);
  d.spearman_entropy_hi = quantile(bs, 1 - a);
  for (const auto& [lo, hi] : layer_thirds(r.layers)) {
    const size_t b0 = static_cast<size_t>(lo) * r.heads, b1 = static_cast<size_t>(hi) * r.heads;
    d.pearson_entropy_thirds.push_back(
        pearson(std::vector<double>(g.begin() + static_cast<long>(b0), g.begin() + static_cast<long>(b1)),
                std::vector<double>(r.entropy.begin() + static_cast<long>(b0),
                                    r.entropy.begin() + static_cast<long>(b1))));
  }
  return d;
}

// One spectrum ("exact" or "shortcut") of the static file: every descriptor's correlations,
// the best single predictor of entropy and the standardized regression on kRegressors.
SpectrumStudy spectrum_study(hid_t fs, const char* spectrum, const ArrayF64& op, const CorrelateResult& r,
                             const std::vector<std::vector<double>>& boot_entropy, double a,
                             const std::string& static_h5) {
  SpectrumStudy s;
  s.spectrum = spectrum;
  std::vector<std::vector<double>> geom;
  for (const char* name : kDescriptors) {
    const ArrayF64 g = read_f64(fs, std::string(spectrum) + "/" + name, static_h5);
    if (g.dims != op.dims)
      throw InputError(static_h5, std::string(spectrum) + "/" + name + " is not [layers, heads]");
    require_finite_descriptor(g, std::string(spectrum) + "/" + name, r.heads, static_h5);
    geom.push_back(g.data);
    s.descriptors.push_back(correlate_descriptor(name, g.data, r, boot_entropy, a));
  }
  for (const DescriptorCorrelation& d : s.descriptors)
    if (!std::isnan(d.pearson_entropy) &&
        (s.best.empty() || std::fabs(d.pearson_entropy) > std::fabs(s.best_r))) {
      s.best = d.name;
      s.best_r = d.pearson_entropy;
    }
  std::vector<std::vector<double>> x;
  for (const char* name : kRegressors)
    for (size_t i = 0; i < std::size(kDescriptors); ++i)
      if (std::string(kDescriptors[i]) == name) x.push_back(geom[i]);
  s.regression = standardized_regression(x, r.entropy);
  return s;
}

}  // namespace

CorrelateResult correlate_study(const std::string& static_h5, const std::string& sweep_h5,
                                const CorrelateOptions& opts) {
  h5::quiet();
  const h5::Id fs = h5::open_for_read(static_h5);
  const h5::Id fw = h5::open_for_read(sweep_h5);
  check_same_model(fs.get(), fw.get(), static_h5, sweep_h5);
  SweepArrays sw;
  sw.ent = read_f64(fw.get(), "attention/entropy", sweep_h5);
  sw.lstd = read_f64(fw.get(), "attention/logit_std", sweep_h5);
  sw.index = read_f64(fw.get(), "probe/index", sweep_h5);
  CorrelateResult r;
  r.options = opts;
  const ArrayF64 op = read_f64(fs.get(), "exact/op", static_h5);
  const std::vector<size_t> all = usable_probes(sw, op, fw.get(), static_h5, sweep_h5, r);
  const size_t lh = static_cast<size_t>(r.layers) * r.heads;
  require_finite_rows(sw.ent, all, lh, r.heads, "attention/entropy", sweep_h5, fw.get());
  require_finite_rows(sw.lstd, all, lh, r.heads, "attention/logit_std", sweep_h5, fw.get());
  r.entropy = head_means(sw.ent.data, lh, all);
  r.logit_std = head_means(sw.lstd.data, lh, all);
  const std::vector<std::vector<double>> boot_entropy = bootstrap_entropy(sw.ent, lh, all, opts);
  const double a = (1.0 - opts.level) / 2.0;
  for (const char* spectrum : {"exact", "shortcut"})
    r.studies.push_back(spectrum_study(fs.get(), spectrum, op, r, boot_entropy, a, static_h5));
  return r;
}

nlohmann::json correlate_json(const CorrelateResult& r) {
  nlohmann::json j;
  j["layers"] = r.layers;
  j["heads"] = r.heads;
  j["probes"] = r.probes;
  j["probes_excluded"] = r.excluded;
  j["bootstrap"] = r.options.bootstrap;
  j["confidence_level"] = r.options.level;
  j["seed"] = r.options.seed;
  for (const SpectrumStudy& s : r.studies) {
    nlohmann::json js;
    for (const DescriptorCorrelation& d : s.descriptors)
      js["descriptors"][d.name] = {{"pearson_entropy", d.pearson_entropy},
                                   {"pearson_logit_std", d.pearson_logit_std},
                                   {"spearman_entropy", d.spearman_entropy},
                                   {"spearman_logit_std", d.spearman_logit_std},
                                   {"pearson_entropy_ci", {d.pearson_entropy_lo, d.pearson_entropy_hi}},
                                   {"spearman_entropy_ci", {d.spearman_entropy_lo, d.spearman_entropy_hi}},
                                   {"pearson_entropy_thirds", d.pearson_entropy_thirds}};
    js["best_predictor"] = {{"descriptor", s.best}, {"pearson_entropy", s.best_r}};
    nlohmann::json coef;
    for (size_t i = 0; i < std::size(kRegressors); ++i) coef[kRegressors[i]] = s.regression.coef[i];
    js["regression"] = {{"r2", s.regression.r2},
                        {"standardized_coefficients", coef},
                        {"intercept", s.regression.coef.back()}};
    j[s.spectrum] = js;
  }
  return j;
}

std::string correlate_table(const CorrelateResult& r) {
  std::ostringstream o;
  char b[256];
  std::snprintf(b, sizeof b,
                "%d layers x %d heads, dynamic means over %lld probes (%lld with non-finite values left "
                "out); intervals: %g%% bootstrap (%d resamples)\n",
                r.layers, r.heads, static_cast<long long>(r.probes), static_cast<long long>(r.excluded),
                100 * r.options.level, r.options.bootstrap);
  o << b;
  const auto thirds = layer_thirds(r.layers);
  for (const SpectrumStudy& s : r.studies) {
    o << "\n== " << s.spectrum << " spectrum"
      << (s.spectrum == "shortcut" ? " (the seed's d x d W_K W_Q^T)" : " (W_Q^T W_K)") << "\n";
    o << "  descriptor    pearson(H)          [CI]        spearman(H)         [CI]        pearson(std) "
         "spearman(std)\n";
    for (const DescriptorCorrelation& d : s.descriptors) {
      std::snprintf(
          b, sizeof b, "  %-12s %+7.3f [%+.3f, %+.3f]   %+7.3f [%+.3f, %+.3f]   %+7.3f      %+7.3f\n",
          d.name.c_str(), d.pearson_entropy, d.pearson_entropy_lo, d.pearson_entropy_hi, d.spearman_entropy,
          d.spearman_entropy_lo, d.spearman_entropy_hi, d.pearson_logit_std, d.spearman_logit_std);
      o << b;
    }
    o << "  by layer thirds (pearson with entropy):\n";
    for (size_t t = 0; t < 3; ++t) {
      std::snprintf(b, sizeof b, "    [%s L%d-%d]",
                    t == 0   ? "early"
                    : t == 1 ? "mid"
                             : "late",
                    thirds[t].first, thirds[t].second - 1);
      o << b;
      for (const DescriptorCorrelation& d : s.descriptors) {
        if (d.name == "trace") continue;
        std::snprintf(b, sizeof b, " %s:%+.2f", d.name.c_str(), d.pearson_entropy_thirds[t]);
        o << b;
      }
      o << "\n";
    }
    std::snprintf(b, sizeof b, "  best single predictor of entropy: %s (r = %+.3f)\n", s.best.c_str(),
                  s.best_r);
    o << b;
    std::snprintf(b, sizeof b, "  standardized regression of entropy: R^2 = %.3f;", s.regression.r2);
    o << b;
    for (size_t i = 0; i < std::size(kRegressors); ++i) {
      std::snprintf(b, sizeof b, " %s %+.3f", kRegressors[i], s.regression.coef[i]);
      o << b;
    }
    o << "\n";
  }
  return o.str();
}

void write_correlate_legacy(const std::string& static_h5, const CorrelateResult& r, const std::string& path) {
  h5::quiet();
  const h5::Id fs = h5::open_for_read(static_h5);
  const ArrayF64 sv = read_f64(fs.get(), "shortcut/singular_values", static_h5);
  if (sv.dims.size() != 3 || sv.dims[0] != static_cast<hsize_t>(r.layers) ||
      sv.dims[1] != static_cast<hsize_t>(r.heads))
    throw InputError(static_h5, "shortcut/singular_values is not [" + std::to_string(r.layers) + ", " +
                                    std::to_string(r.heads) + ", d] as exact/op");
  const size_t d = static_cast<size_t>(sv.dims[2]);
  nlohmann::json j;
  j["num_layers"] = r.layers;
  j["num_heads"] = r.heads;
  for (int l = 0; l < r.layers; ++l) {
    nlohmann::json s = nlohmann::json::array(), e = nlohmann::json::array(), g = nlohmann::json::array();
    for (int h = 0; h < r.heads; ++h) {
      const size_t at = (static_cast<size_t>(l) * r.heads + h);
      s.push_back(std::vector<double>(sv.data.begin() + static_cast<long>(at * d),
                                      sv.data.begin() + static_cast<long>((at + 1) * d)));
      e.push_back(r.entropy[at]);
      g.push_back(r.logit_std[at]);
    }
    j["static"].push_back({{"layer", l}, {"metric_singvals_per_head", s}});
    j["dynamic"].push_back(
        {{"layer", l}, {"mean_attention_entropy_per_head", e}, {"mean_logit_std_per_head", g}});
  }
  std::ofstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot write");
  f << j.dump() << "\n";
  if (!f) throw std::runtime_error(path + ": write failed");
}

}  // namespace qk
