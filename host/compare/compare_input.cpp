#include "compare_input.hpp"

#include <cmath>
#include <filesystem>
#include <set>
#include <unordered_map>

#include "compare_quantities.hpp"
#include "h5_arrays.hpp"
#include "h5_text.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"

namespace qk {

namespace {

bool has_dataset(hid_t f, const std::string& path) {
  const size_t slash = path.find('/');
  if (H5Lexists(f, path.substr(0, slash).c_str(), H5P_DEFAULT) <= 0) return false;
  return H5Lexists(f, path.c_str(), H5P_DEFAULT) > 0;
}

// Rows [0, n) of string column `name`; InputError when it holds fewer or is not of strings.
std::vector<std::string> string_rows(hid_t f, const std::string& name, size_t n, const std::string& path) {
  const h5::Id ds(H5Dopen2(f, name.c_str(), H5P_DEFAULT));
  const h5::Id type(ds.ok() ? H5Dget_type(ds.get()) : H5I_INVALID_HID);
  if (type.ok() && H5Tget_class(type.get()) != H5T_STRING && !h5::is_text_column(ds.get()))
    throw InputError(path, "dataset '" + name + "' does not hold strings");
  std::vector<std::string> v = read_strings(f, name, path, n);
  if (v.size() < n)
    throw InputError(path, "dataset '" + name + "' has " + std::to_string(v.size()) +
                               " rows, fewer than the " + std::to_string(n) +
                               " committed probes of probe/index");
  v.resize(n);
  return v;
}

// Rows [0, n) of numeric column `name` averaged over every axis past the layer axis:
// [n] for a scalar column, [n][L] for a per-layer one (*layers set).
std::vector<double> numeric_rows(hid_t f, const std::string& name, size_t n, bool per_layer, int* layers,
                                 const std::string& path) {
  const ArrayF64 a = read_f64(f, name, path);
  if (a.dims.empty() || a.dims[0] < n)
    throw InputError(path, "dataset '" + name + "' has fewer rows than the " + std::to_string(n) +
                               " committed probes of probe/index");
  if (!per_layer) {
    if (a.dims.size() != 1) throw InputError(path, "dataset '" + name + "' is not one value per probe");
    return std::vector<double>(a.data.begin(), a.data.begin() + static_cast<long>(n));
  }
  if (a.dims.size() < 2) throw InputError(path, "dataset '" + name + "' has no layer axis");
  for (size_t d = 1; d < a.dims.size(); ++d)
    if (a.dims[d] == 0)
      throw InputError(path, "dataset '" + name + "' has an empty axis " + std::to_string(d));
  const size_t L = a.dims[1];
  size_t inner = 1;
  for (size_t d = 2; d < a.dims.size(); ++d) inner *= a.dims[d];
  if (*layers != 0 && *layers != static_cast<int>(L))
    throw InputError(path, "dataset '" + name + "' has " + std::to_string(L) +
                               " layers, but the file's other " + "per-layer columns have " +
                               std::to_string(*layers));
  *layers = static_cast<int>(L);
  std::vector<double> out(n * L, 0.0);
  for (size_t i = 0; i < n * L; ++i) {
    for (size_t h = 0; h < inner; ++h) out[i] += a.data[i * inner + h];
    out[i] /= static_cast<double>(inner);
  }
  return out;
}

// The model's name: the last component of the model_path attribute, else the file's stem.
std::string model_name(hid_t f, const std::string& path) {
  bool found = false;
  const std::string mp = h5::read_string_attr(f, "model_path", &found);
  std::filesystem::path p(found && !mp.empty() ? mp : std::filesystem::path(path).stem().string());
  if (!p.has_filename()) p = p.parent_path();
  return p.filename().string();
}

// The run's identification, probes and status.
void read_probe_columns(hid_t f, RunData& r) {
  if (!has_dataset(f, "probe/index"))
    throw InputError(r.path, "no dataset '/probe/index': not a sweep store");
  const size_t n = read_f64(f, "probe/index", r.path).size();
  r.ids = string_rows(f, "probe/id", n, r.path);
  r.domains = has_dataset(f, "probe/domain") ? string_rows(f, "probe/domain", n, r.path)
                                             : std::vector<std::string>(n);
  r.prompts = has_dataset(f, "probe/prompt") ? string_rows(f, "probe/prompt", n, r.path)
                                             : std::vector<std::string>(n);
  r.ok.assign(n, 1);
  if (has_dataset(f, "probe/status")) {
    const std::vector<std::string> st = string_rows(f, "probe/status", n, r.path);
    for (size_t i = 0; i < n; ++i) r.ok[i] = st[i] == "ok";
  }
  std::set<std::string> seen;
  for (const std::string& id : r.ids)
    if (!seen.insert(id).second) throw InputError(r.path, "probe id '" + id + "' appears twice");
}

// A warning per column of `values` ([n][per] row-major, per values a probe) that is NaN or
// Inf at a probe of status ok: a sweep stores none there, so the store is damaged; the
// statistics leave those values out (docs/compare.md, "Inputs").
void nonfinite_warning(RunData& r, const std::string& name, const std::vector<double>& values) {
  const size_t n = r.ids.size(), per = n ? values.size() / n : 0;
  std::vector<std::string> bad;
  for (size_t i = 0; i < n; ++i) {
    bool finite = true;
    for (size_t j = 0; j < per; ++j) finite = finite && std::isfinite(values[i * per + j]);
    if (r.ok[i] && !finite) bad.push_back(r.ids[i]);
  }
  if (bad.empty()) return;
  std::string first;
  for (size_t i = 0; i < bad.size() && i < 5; ++i) first += (i ? ", " : "") + bad[i];
  r.warnings.push_back(r.path + ": " + name + " is NaN or Inf at " + std::to_string(bad.size()) +
                       " probe(s) of status ok (" + first + (bad.size() > 5 ? ", ..." : "") +
                       "): left out of its statistics");
}

}  // namespace

RunData read_run(const std::string& path) {
  h5::quiet();
  if (std::filesystem::is_directory(path)) throw InputError(path, "is a directory, not a sweep store");
  const h5::Id file = h5::open_for_read(path);
  const hid_t f = file.get();
  RunData r;
  r.path = path;
  r.model = model_name(f, path);
  r.templ = h5::read_string_attr(f, "template");
  r.mode = h5::read_string_attr(f, "mode");
  r.config_sha256 = h5::read_string_attr(f, "model_config_sha256");
  read_probe_columns(f, r);
  const size_t n = r.ids.size();
  if (has_dataset(f, "bo/position_mode") && n > 0)
    r.position_mode = numeric_rows(f, "bo/position_mode", n, false, nullptr, path)[0] != 0;
  for (const ComparedQuantity& q : scalar_quantities())
    if (has_dataset(f, q.path)) r.scalars[q.path] = numeric_rows(f, q.path, n, false, nullptr, path);
  for (const ComparedQuantity& q : layer_quantities())
    if (has_dataset(f, q.path)) r.layered[q.path] = numeric_rows(f, q.path, n, true, &r.layers, path);
  for (const auto* columns : {&r.scalars, &r.layered})
    for (const auto& [name, values] : *columns) nonfinite_warning(r, name, values);
  return r;
}

namespace {

// Index of each run's ids.
std::vector<std::unordered_map<std::string, size_t>> id_index(const std::vector<RunData>& runs) {
  std::vector<std::unordered_map<std::string, size_t>> index(runs.size());
  for (size_t k = 0; k < runs.size(); ++k)
    for (size_t i = 0; i < runs[k].ids.size(); ++i) index[k][runs[k].ids[i]] = i;
  return index;
}

void check_templates(const std::vector<RunData>& runs, bool allow_mix, std::vector<std::string>* warnings) {
  for (size_t k = 1; k < runs.size(); ++k) {
    if (runs[k].templ == runs[0].templ) continue;
    const std::string msg =
        "template '" + runs[k].templ + "' here but '" + runs[0].templ + "' in " + runs[0].path;
    if (!allow_mix) throw InputError(runs[k].path, msg + " (pass --allow-template-mix to compare anyway)");
    warnings->push_back(runs[k].path + ": " + msg);
  }
}

// InputError for a run without a committed probe; a warning for a file given twice.
void check_runs(const std::vector<RunData>& runs, std::vector<std::string>* warnings) {
  for (size_t k = 0; k < runs.size(); ++k) {
    if (runs[k].ids.empty())
      throw InputError(runs[k].path, "no committed probe (probe/index is empty): nothing to compare");
    std::error_code ec;
    for (size_t o = 0; o < k; ++o)
      if (std::filesystem::equivalent(runs[o].path, runs[k].path, ec))
        warnings->push_back(runs[k].path + ": the same file as " + runs[o].path +
                            ": every difference between the two is zero");
  }
}

}  // namespace

ProbeMatch match_probes(const std::vector<RunData>& runs, bool allow_template_mix,
                        std::vector<std::string>* warnings) {
  check_runs(runs, warnings);
  check_templates(runs, allow_template_mix, warnings);
  const auto index = id_index(runs);
  ProbeMatch m;
  m.rows.resize(runs.size());
  std::set<std::string> listed;
  for (size_t k = 0; k < runs.size(); ++k)
    for (size_t i = 0; i < runs[k].ids.size(); ++i) {
      const std::string& id = runs[k].ids[i];
      std::vector<int> lacking;
      for (size_t o = 0; o < runs.size(); ++o)
        if (!index[o].count(id)) lacking.push_back(static_cast<int>(o));
      if (!lacking.empty()) {
        if (listed.insert(id).second) {
          m.missing_ids.push_back(id);
          m.missing_from.push_back(lacking);
        }
        continue;
      }
      if (k != 0) continue;
      for (size_t o = 1; o < runs.size(); ++o) {
        const size_t j = index[o].at(id);
        if (runs[o].prompts[j] != runs[0].prompts[i])
          throw InputError(runs[o].path, "probe '" + id + "' has another prompt text than in " +
                                             runs[0].path + " (the runs used different probe files)");
      }
      m.ids.push_back(id);
      m.domains.push_back(runs[0].domains[i]);
      for (size_t o = 0; o < runs.size(); ++o) m.rows[o].push_back(index[o].at(id));
    }
  if (m.ids.empty()) {
    std::string files;
    for (const RunData& r : runs) files += (files.empty() ? "" : ", ") + r.path;
    throw InputError(files, "no probe id is common to every run");
  }
  return m;
}

}  // namespace qk
