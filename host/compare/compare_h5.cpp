// CMP.h5 (docs/compare.md, "CMP.h5"): plain HDF5 written once, nested groups named after
// the sweep columns they compare.
#include <cmath>

#include "compare_output.hpp"
#include "h5_util.hpp"
#include "run_record.hpp"

namespace qk {

namespace {

// Creates the groups on the way to dataset `path` (relative to root).
void make_parents(hid_t root, const std::string& path, const std::string& file) {
  for (size_t at = path.find('/'); at != std::string::npos; at = path.find('/', at + 1)) {
    const std::string g = path.substr(0, at);
    if (H5Lexists(root, g.c_str(), H5P_DEFAULT) > 0) continue;
    h5::Id(h5::check(H5Gcreate2(root, g.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), file,
                     "create group " + g));
  }
}

// Dataset `path` of f64 `data` with `dims`, its axes named by `axes` and, when given, the
// entries of its last axis by `labels`.
void put_f64(hid_t root, const std::string& path, const std::vector<hsize_t>& dims,
             const std::vector<double>& data, const std::vector<std::string>& axes,
             const std::vector<std::string>& labels, const std::string& file) {
  make_parents(root, path, file);
  h5::write_array(root, path, dims, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data.data(), file);
  const h5::Id ds(h5::check(H5Dopen2(root, path.c_str(), H5P_DEFAULT), file, "open " + path));
  h5::write_strings_attr(ds.get(), "dims", axes, file);
  if (!labels.empty()) h5::write_strings_attr(ds.get(), "labels", labels, file);
}

void put_strings(hid_t root, const std::string& path, const std::vector<std::string>& v,
                 const std::string& file) {
  make_parents(root, path, file);
  h5::write_strings(root, path, v, file);
}

void write_f64_attr(hid_t obj, const std::string& name, double v, const std::string& file) {
  const h5::Id space(h5::check(H5Screate(H5S_SCALAR), file, "scalar space"));
  const h5::Id a(
      h5::check(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), file,
                "create attribute " + name));
  h5::check_status(H5Awrite(a.get(), H5T_NATIVE_DOUBLE, &v), file, "write attribute " + name);
}

std::vector<double> flat(const std::vector<std::vector<double>>& rows) {
  std::vector<double> out;
  for (const auto& r : rows) out.insert(out.end(), r.begin(), r.end());
  return out;
}

void write_runs(hid_t root, const CompareResult& r, const std::string& file) {
  std::vector<std::string> files, models, templates, modes;
  std::vector<double> position, layers, committed, ok;
  for (const RunData& run : r.runs) {
    files.push_back(run.path);
    models.push_back(run.model);
    templates.push_back(run.templ);
    modes.push_back(run.mode);
    position.push_back(run.position_mode);
    layers.push_back(run.layers);
    committed.push_back(static_cast<double>(run.ids.size()));
    double n = 0;
    for (char c : run.ok) n += c;
    ok.push_back(n);
  }
  put_strings(root, "runs/file", files, file);
  put_strings(root, "runs/model", models, file);
  put_strings(root, "runs/template", templates, file);
  put_strings(root, "runs/mode", modes, file);
  const hsize_t R = r.runs.size();
  put_f64(root, "runs/position_mode", {R}, position, {"run"}, {}, file);
  put_f64(root, "runs/layers", {R}, layers, {"run"}, {}, file);
  put_f64(root, "runs/probes_committed", {R}, committed, {"run"}, {}, file);
  put_f64(root, "runs/probes_ok", {R}, ok, {"run"}, {}, file);
}

void write_probes(hid_t root, const CompareResult& r, const std::string& file) {
  put_strings(root, "probes/id", r.match.ids, file);
  put_strings(root, "probes/domain", r.match.domains, file);
  std::vector<std::string> lacking;
  for (const std::vector<int>& runs : r.match.missing_from) {
    std::string s;
    for (int k : runs) s += (s.empty() ? "" : ",") + std::to_string(k);
    lacking.push_back(s);
  }
  put_strings(root, "missing/id", r.match.missing_ids, file);
  put_strings(root, "missing/runs", lacking, file);
  put_strings(root, "domains", r.domains, file);
  std::vector<double> a, b;
  for (const auto& [x, y] : r.pairs) {
    a.push_back(x);
    b.push_back(y);
  }
  put_f64(root, "pairs/a", {a.size()}, a, {"pair"}, {}, file);
  put_f64(root, "pairs/b", {b.size()}, b, {"pair"}, {}, file);
}

void write_quantities(hid_t root, const CompareResult& r, const std::string& file) {
  const hsize_t R = r.runs.size(), P = r.pairs.size(), D = r.domains.size();
  for (const QuantityComparison& q : r.quantities) {
    put_f64(root, "summary/" + q.path, {R, summary_labels().size()}, flat(q.summary), {"run", "stat"},
            summary_labels(), file);
    std::vector<double> paired;
    for (const auto& pair : q.paired) {
      const std::vector<double> f = flat(pair);
      paired.insert(paired.end(), f.begin(), f.end());
    }
    put_f64(root, "values/" + q.path, {R, r.match.ids.size()}, flat(q.values), {"run", "probe"}, {}, file);
    put_f64(root, "paired/" + q.path, {P, D, paired_labels().size()}, paired, {"pair", "domain", "stat"},
            paired_labels(), file);
    for (const char* g : {"summary/", "paired/"}) {
      const h5::Id ds(h5::check(H5Dopen2(root, (std::string(g) + q.path).c_str(), H5P_DEFAULT), file,
                                std::string("open ") + g + q.path));
      h5::write_strings_attr(ds.get(), "definitions", q.definitions, file);
      h5::write_int_attr(ds.get(), "same_definition", q.same_definition ? 1 : 0, file);
    }
  }
}

void write_agreement(hid_t root, const CompareResult& r, const std::string& file) {
  const hsize_t P = r.pairs.size();
  for (const AgreementSet& s : r.agreement) {
    const std::string g = "agreement/" + s.name;
    put_f64(root, g + "/n", {P}, s.n, {"pair"}, {}, file);
    put_f64(root, g + "/cka", {P}, s.cka, {"pair"}, {}, file);
    put_f64(root, g + "/rsa", {P}, s.rsa, {"pair"}, {}, file);
    const h5::Id grp(h5::check(H5Gopen2(root, g.c_str(), H5P_DEFAULT), file, "open " + g));
    h5::write_strings_attr(grp.get(), "columns", s.columns, file);
  }
}

void write_profiles(hid_t root, const std::string& group, const std::vector<DepthProfile>& profiles,
                    const std::vector<double>& grid, const std::string& file) {
  put_f64(root, group + "/grid", {grid.size()}, grid, {"depth"}, {}, file);
  for (const DepthProfile& p : profiles) {
    put_f64(root, group + "/" + p.path, {p.resampled.size(), grid.size()}, flat(p.resampled),
            {"run", "depth"}, {}, file);
    const h5::Id ds(
        h5::check(H5Dopen2(root, (group + "/" + p.path).c_str(), H5P_DEFAULT), file, "open " + p.path));
    h5::write_strings_attr(ds.get(), "definitions", p.definitions, file);
  }
}

void write_statics(hid_t root, const CompareResult& r, const std::string& file) {
  std::vector<std::string> files, models;
  std::vector<double> runs;
  for (const StaticInput& s : r.statics) {
    files.push_back(s.path);
    models.push_back(s.model);
    runs.push_back(s.run);
  }
  put_strings(root, "static/file", files, file);
  put_strings(root, "static/model", models, file);
  put_f64(root, "static/run", {runs.size()}, runs, {"static"}, {}, file);
  write_profiles(root, "static/depth", r.static_depth, r.grid, file);
}

}  // namespace

void write_compare_h5(const CompareResult& r, const std::string& path, const std::string& command_line,
                      const RunPlace& place) {
  const h5::Id f(
      h5::check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), path, "create file"));
  const hid_t root = f.get();
  h5::write_int_attr(root, "schema_version", 1, path);
  h5::write_string_attr(root, "kind", "qkgeom-compare", path);
  write_run_record(root, command_line, "", place, path);
  h5::write_int_attr(root, "bootstrap", r.options.bootstrap, path);
  h5::write_int_attr(root, "seed", r.options.seed, path);
  write_f64_attr(root, "confidence_level", r.options.level, path);
  h5::write_strings_attr(root, "warnings", r.warnings, path);
  write_runs(root, r, path);
  write_probes(root, r, path);
  write_quantities(root, r, path);
  write_agreement(root, r, path);
  write_profiles(root, "depth", r.depth, r.grid, path);
  write_statics(root, r, path);
}

}  // namespace qk
