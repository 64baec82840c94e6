#include "compare_depth.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "compare_quantities.hpp"
#include "depth_profile.hpp"
#include "h5_arrays.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"

namespace qk {

DepthProfile run_depth_profile(const ComparedQuantity& q, const CompareResult& r) {
  DepthProfile p;
  p.path = q.path;
  for (size_t k = 0; k < r.runs.size(); ++k) {
    const RunData& run = r.runs[k];
    const auto it = run.layered.find(q.path);
    const bool has = it != run.layered.end();
    p.definitions.push_back(has ? quantity_definition(q, run.position_mode, run.mode == "lem-compat") : "");
    std::vector<double> mean;
    if (has) {
      const size_t L = it->second.size() / std::max<size_t>(run.ids.size(), 1);
      mean.assign(L, 0.0);
      size_t used = 0;
      for (size_t row : r.match.rows[k]) {
        const double* v = it->second.data() + row * L;
        bool finite = run.ok[row] != 0;
        for (size_t l = 0; l < L && finite; ++l) finite = std::isfinite(v[l]);
        if (!finite) continue;
        for (size_t l = 0; l < L; ++l) mean[l] += v[l];
        ++used;
      }
      for (double& m : mean) m = used ? m / static_cast<double>(used) : NAN;
    }
    p.resampled.push_back(resample_depth(mean, r.grid));
    p.layers.push_back(mean);
  }
  return p;
}

namespace {

const char* const kStaticDescriptors[] = {"op", "fro", "trace", "rank_eff", "spec_ent", "anisotropy"};

// Mean over the last axis of a [L][H] array.
std::vector<double> head_mean(const ArrayF64& a, const std::string& name, const std::string& path) {
  if (a.dims.size() != 2 || a.dims[1] == 0)
    throw InputError(path, "dataset '" + name + "' is not [layers, heads]");
  std::vector<double> m(a.dims[0], 0.0);
  for (size_t l = 0; l < a.dims[0]; ++l) {
    for (size_t h = 0; h < a.dims[1]; ++h) m[l] += a.data[l * a.dims[1] + h];
    m[l] /= static_cast<double>(a.dims[1]);
  }
  return m;
}

}  // namespace

std::vector<DepthProfile> static_depth_profiles(CompareResult& r) {
  std::vector<DepthProfile> out;
  for (const char* d : kStaticDescriptors) out.push_back({std::string("exact/") + d, {}, {}, {}});
  for (const std::string& path : r.options.statics) {
    h5::quiet();
    const h5::Id f = h5::open_for_read(path);
    if (h5::read_string_attr(f.get(), "kind") != "qkgeom-static")
      throw InputError(path,
                       "is not a STATIC.h5 of qkgeom weights (root attribute kind is not 'qkgeom-static')");
    StaticInput s{path,
                  std::filesystem::path(h5::read_string_attr(f.get(), "model_path")).filename().string(), -1};
    const std::string sha = h5::read_string_attr(f.get(), "model_config_sha256");
    for (size_t k = 0; k < r.runs.size() && s.run < 0; ++k)
      if (!sha.empty() && r.runs[k].config_sha256 == sha) s.run = static_cast<int>(k);
    r.statics.push_back(s);
    for (DepthProfile& p : out) {
      const ArrayF64 a = read_f64(f.get(), p.path, path);
      const std::vector<double> m = head_mean(a, p.path, path);
      if (&p != &out[0] && m.size() != out[0].layers.back().size())
        throw InputError(path, "dataset '" + p.path + "' has " + std::to_string(m.size()) + " layers, but '" +
                                   out[0].path + "' " + std::to_string(out[0].layers.back().size()));
      const size_t bad = static_cast<size_t>(
          std::count_if(a.data.begin(), a.data.end(), [](double v) { return !std::isfinite(v); }));
      if (bad)
        r.warnings.push_back(path + ": " + p.path + " holds " + std::to_string(bad) +
                             " NaN or Inf value(s): its static depth profile is NaN at those layers");
      p.definitions.push_back("exact");
      p.resampled.push_back(resample_depth(m, r.grid));
      p.layers.push_back(m);
    }
  }
  return out;
}

}  // namespace qk
