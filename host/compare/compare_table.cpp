#include <cstdarg>
#include <cstdio>
#include <sstream>

#include <filesystem>

#include "compare_output.hpp"

namespace qk {

namespace {

std::string line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string line(const char* fmt, ...) {
  char b[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  return b;
}

void runs_table(const CompareResult& r, std::ostringstream& o) {
  for (size_t k = 0; k < r.runs.size(); ++k)
    o << line("run %zu: %s (model %s, %d layers, %s)\n", k, r.runs[k].path.c_str(), r.runs[k].model.c_str(),
              r.runs[k].layers, r.runs[k].position_mode ? "position-wise" : "multi-head");
  o << line(
      "%zu common probes, %zu missing from some run; %d bootstrap resamples (seed %u), %g%% intervals\n",
      r.match.ids.size(), r.match.missing_ids.size(), r.options.bootstrap, r.options.seed,
      100 * r.options.level);
}

void quantity_table(const CompareResult& r, const QuantityComparison& q, std::ostringstream& o) {
  o << "\n== " << q.path << (q.same_definition ? "" : "  (definition differs between models)") << "\n";
  for (size_t k = 0; k < r.runs.size(); ++k) {
    const std::vector<double>& s = q.summary[k];
    if (s[0] == 0) continue;
    o << line("  %-22s n %4.0f  mean %11.5g  sd %10.4g  median %11.5g  [%.5g, %.5g]\n",
              std::filesystem::path(r.runs[k].path).stem().c_str(), s[0], s[1], s[2], s[6], s[3], s[9]);
  }
  for (size_t p = 0; p < r.pairs.size(); ++p) {
    const std::vector<double>& v = q.paired[p][0];
    if (v[0] == 0) continue;
    o << line(
        "  %zu-%zu: diff %+.5g [%+.5g, %+.5g]  wilcoxon p %.3g  r_rb %+.3f  d_z %+.3f  rho %+.3f (p %.3g)"
        "  tau_b %+.3f (p %.3g)\n",
        static_cast<size_t>(r.pairs[p].first), static_cast<size_t>(r.pairs[p].second), v[1], v[2], v[3], v[6],
        v[7], v[8], v[9], v[10], v[11], v[12]);
  }
}

}  // namespace

std::string compare_table(const CompareResult& r) {
  std::ostringstream o;
  runs_table(r, o);
  for (const QuantityComparison& q : r.quantities) quantity_table(r, q, o);
  for (const AgreementSet& s : r.agreement) {
    o << "\n== agreement: " << s.name << " (linear CKA, RSA)\n";
    for (size_t p = 0; p < r.pairs.size(); ++p)
      o << line("  %d-%d: n %.0f  cka %.4f  rsa %+.4f\n", r.pairs[p].first, r.pairs[p].second, s.n[p],
                s.cka[p], s.rsa[p]);
  }
  for (const std::string& w : r.warnings) o << "warning: " << w << "\n";
  return o.str();
}

}  // namespace qk
