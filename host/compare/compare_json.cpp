#include <cmath>

#include "compare_output.hpp"

namespace qk {

namespace {

// {label: value} of one row (NaN becomes null).
nlohmann::json labelled(const std::vector<std::string>& labels, const std::vector<double>& row) {
  nlohmann::json j = nlohmann::json::object();
  for (size_t i = 0; i < labels.size(); ++i)
    j[labels[i]] = std::isnan(row[i]) ? nlohmann::json() : nlohmann::json(row[i]);
  return j;
}

nlohmann::json numbers(const std::vector<double>& v) {
  nlohmann::json j = nlohmann::json::array();
  for (double x : v) j.push_back(std::isnan(x) ? nlohmann::json() : nlohmann::json(x));
  return j;
}

nlohmann::json runs_json(const CompareResult& r) {
  nlohmann::json j = nlohmann::json::array();
  for (const RunData& run : r.runs) {
    int64_t ok = 0;
    for (char c : run.ok) ok += c;
    j.push_back({{"file", run.path},
                 {"model", run.model},
                 {"template", run.templ},
                 {"mode", run.mode},
                 {"position_mode", run.position_mode},
                 {"layers", run.layers},
                 {"probes_committed", run.ids.size()},
                 {"probes_ok", ok}});
  }
  return j;
}

nlohmann::json quantity_json(const CompareResult& r, const QuantityComparison& q) {
  nlohmann::json j = {{"definitions", q.definitions}, {"same_definition", q.same_definition}};
  for (const auto& s : q.summary) j["summary"].push_back(labelled(summary_labels(), s));
  for (size_t p = 0; p < r.pairs.size(); ++p) {
    const auto [a, b] = r.pairs[p];
    nlohmann::json pj = {{"a", a}, {"b", b}, {"same_definition", q.definitions[a] == q.definitions[b]}};
    for (size_t d = 0; d < r.domains.size(); ++d)
      pj["domains"][r.domains[d]] = labelled(paired_labels(), q.paired[p][d]);
    j["pairs"].push_back(pj);
  }
  return j;
}

nlohmann::json depth_json(const std::vector<DepthProfile>& profiles) {
  nlohmann::json j = nlohmann::json::object();
  for (const DepthProfile& p : profiles) {
    nlohmann::json curves = nlohmann::json::array();
    for (size_t k = 0; k < p.layers.size(); ++k)
      curves.push_back({{"definition", p.definitions[k]},
                        {"layers", numbers(p.layers[k])},
                        {"resampled", numbers(p.resampled[k])}});
    j[p.path] = curves;
  }
  return j;
}

}  // namespace

nlohmann::json compare_json(const CompareResult& r) {
  nlohmann::json j;
  j["runs"] = runs_json(r);
  j["probes_common"] = r.match.ids.size();
  for (size_t i = 0; i < r.match.missing_ids.size(); ++i)
    j["missing"].push_back({{"id", r.match.missing_ids[i]}, {"missing_from", r.match.missing_from[i]}});
  if (!j.contains("missing")) j["missing"] = nlohmann::json::array();
  j["domains"] = r.domains;
  j["bootstrap"] = r.options.bootstrap;
  j["seed"] = r.options.seed;
  j["confidence_level"] = r.options.level;
  j["warnings"] = r.warnings;
  for (const QuantityComparison& q : r.quantities) j["quantities"][q.path] = quantity_json(r, q);
  for (const AgreementSet& s : r.agreement)
    j["agreement"][s.name] = {
        {"columns", s.columns}, {"n", numbers(s.n)}, {"cka", numbers(s.cka)}, {"rsa", numbers(s.rsa)}};
  j["depth"] = {{"grid", r.grid}, {"profiles", depth_json(r.depth)}};
  nlohmann::json st = nlohmann::json::array();
  for (const StaticInput& s : r.statics) st.push_back({{"file", s.path}, {"model", s.model}, {"run", s.run}});
  j["static"] = {{"files", st}, {"profiles", depth_json(r.static_depth)}};
  return j;
}

}  // namespace qk
