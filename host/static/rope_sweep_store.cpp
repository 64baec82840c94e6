// Reading a sweep store for `rope-geometry --sweep`: the checks, the un-rotated mean q and k
// of its ok probes and their mean attention/distance_mass (docs/static-geometry.md,
// "Expected logit of a sweep").
#include <hdf5.h>

#include <cmath>
#include <filesystem>

#include "file_hash.hpp"
#include "h5_arrays.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"
#include "rope_sweep.hpp"

namespace qk {

namespace {

const char* const kNeedQkv = ": run the sweep with --save-kv qkv";

bool has_path(hid_t f, const std::string& name) {
  const size_t slash = name.find('/');
  return H5Lexists(f, name.substr(0, slash).c_str(), H5P_DEFAULT) > 0 &&
         H5Lexists(f, name.c_str(), H5P_DEFAULT) > 0;
}

std::vector<hsize_t> dims_of(hid_t f, const std::string& name, const std::string& path) {
  const h5::Id ds(h5::check(H5Dopen2(f, name.c_str(), H5P_DEFAULT), path, "open " + name));
  return h5::dataset_dims(ds.get(), path, name);
}

// InputError unless dataset `name` has shape [any, rest...].
void require_shape(hid_t f, const std::string& name, const std::vector<hsize_t>& rest,
                   const std::string& path, const std::string& what) {
  const std::vector<hsize_t> dims = dims_of(f, name, path);
  if (dims.size() != rest.size() + 1 || !std::equal(rest.begin(), rest.end(), dims.begin() + 1))
    throw InputError(path, name + " does not have the shape [rows, " + what + "] of this model");
}

// InputError unless `f` is a sweep store: another qkgeom file is named by its root
// attribute `kind` (a compare file, STATIC.h5, ...); a sweep store has no `kind` and a probe/index.
void require_sweep_store(hid_t f, const std::string& path) {
  bool found = false;
  const std::string kind = h5::read_string_attr(f, "kind", &found);
  if (found) {
    const std::string what = kind.rfind("qkgeom-", 0) == 0 ? "a " + kind.substr(7) + " file" : "a file";
    throw InputError(path, what + " (kind " + kind + "), not a sweep store");
  }
  if (!has_path(f, "probe/index")) throw InputError(path, "no probe/index: not a qkgeom sweep store");
}

// The kept rows: token row, its position in its probe, and the ok probes.
struct OkRows {
  std::vector<int64_t> row, pos, probe;
};

OkRows ok_rows(hid_t f, const std::string& path, int64_t T) {
  const ArrayF64 index = read_f64(f, "probe/index", path);
  const size_t n = index.dims.empty() ? 0 : static_cast<size_t>(index.dims[0]);
  const ArrayF64 off = read_f64(f, "kv/offset", path), cnt = read_f64(f, "kv/count", path);
  if (off.size() < n || cnt.size() < n)
    throw InputError(path, "kv/offset or kv/count shorter than probe/index");
  std::vector<std::string> status;
  if (has_path(f, "probe/status")) status = read_strings(f, "probe/status", path, n);
  OkRows r;
  for (size_t p = 0; p < n; ++p) {
    if (!status.empty() && (p >= status.size() || status[p] != "ok")) continue;
    const auto o = static_cast<int64_t>(off.data[p]), c = static_cast<int64_t>(cnt.data[p]);
    if (o < 0 || c < 0 || o + c > T) throw InputError(path, "kv/offset, kv/count: probe rows past kv/q");
    r.probe.push_back(static_cast<int64_t>(p));
    for (int64_t t = 0; t < c; ++t) {
      r.row.push_back(o + t);
      r.pos.push_back(t);
    }
  }
  if (r.probe.empty()) throw InputError(path, "no probe with probe/status ok");
  return r;
}

// Layer l of the 4-D f32 dataset `name` [T, L, H, d] as [T][H][d].
std::vector<float> read_layer(hid_t f, const std::string& name, int64_t l, const std::string& path) {
  const h5::Id ds(h5::check(H5Dopen2(f, name.c_str(), H5P_DEFAULT), path, "open " + name));
  const std::vector<hsize_t> dims = h5::dataset_dims(ds.get(), path, name);
  const hsize_t start[4] = {0, static_cast<hsize_t>(l), 0, 0}, count[4] = {dims[0], 1, dims[2], dims[3]};
  std::vector<float> out(static_cast<size_t>(dims[0] * dims[2] * dims[3]));
  if (out.empty()) return out;
  const h5::Id space(h5::check(H5Dget_space(ds.get()), path, "dataspace of " + name));
  h5::check_status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr), path,
                   "select layer of " + name);
  const h5::Id mem(h5::check(H5Screate_simple(4, count, nullptr), path, "memory space of " + name));
  h5::check_status(H5Dread(ds.get(), H5T_NATIVE_FLOAT, mem.get(), space.get(), H5P_DEFAULT, out.data()), path,
                   "read " + name);
  return out;
}

// Mean over the kept rows of R(-pos) x for x = rows [T][H][d] -> out [H][d]; pair
// (i, i + r/2) of x becomes (c x_a + s x_b, -s x_a + c x_b), c, s of pos inv_freq[i].
void mean_unrotated(const std::vector<float>& x, const OkRows& k, int64_t H, int64_t D, int64_t r,
                    const std::vector<double>& inv_freq, double* out, const std::string& what,
                    const std::string& path) {
  const int64_t P = r / 2;
  std::vector<double> sum(static_cast<size_t>(H * D), 0.0);
  for (size_t t = 0; t < k.row.size(); ++t) {
    const float* v = x.data() + k.row[t] * H * D;
    for (int64_t i = 0; i < H * D; ++i)
      if (!std::isfinite(v[i]))
        throw InputError(path,
                         what + " row " + std::to_string(k.row[t]) + " is not finite (its probe is ok)");
    for (int64_t h = 0; h < H; ++h) {
      const float* y = v + h * D;
      double* s = sum.data() + h * D;
      for (int64_t i = 0; i < P; ++i) {
        const double a = static_cast<double>(k.pos[t]) * inv_freq[i], c = std::cos(a), sn = std::sin(a);
        s[i] += c * y[i] + sn * y[i + P];
        s[i + P] += -sn * y[i] + c * y[i + P];
      }
      for (int64_t i = r; i < D; ++i) s[i] += y[i];
    }
  }
  for (int64_t i = 0; i < H * D; ++i) out[i] = sum[i] / static_cast<double>(k.row.size());
}

// Mean over the ok probes of attention/distance_mass [N, L, Hq, 16] -> [L][Hq][16].
std::vector<double> mean_distance_mass(hid_t f, const OkRows& k, const std::string& path) {
  const ArrayF64 a = read_f64(f, "attention/distance_mass", path);
  const size_t per = a.dims.empty() || a.dims[0] == 0 ? 0 : a.size() / a.dims[0];
  std::vector<double> out(per, 0.0);
  for (int64_t p : k.probe) {
    if (static_cast<hsize_t>(p) >= a.dims[0])
      throw InputError(path, "attention/distance_mass shorter than probe/index");
    for (size_t i = 0; i < per; ++i) out[i] += a.data[static_cast<size_t>(p) * per + i];
  }
  for (double& v : out) v /= static_cast<double>(k.probe.size());
  return out;
}

}  // namespace

void check_rope_sweep(const std::string& path, const std::string& model_dir, const StaticDims& d) {
  h5::quiet();
  const h5::Id f = h5::open_for_read(path);
  require_sweep_store(f.get(), path);
  for (const char* need : {"kv/offset", "kv/count", "kv/q", "kv/k"})
    if (!has_path(f.get(), need)) throw InputError(path, std::string("no ") + need + kNeedQkv);
  if (!has_path(f.get(), "attention/distance_mass"))
    throw InputError(path, "no attention/distance_mass: run the sweep with --metrics attention");
  bool found = false;
  const std::string sha = h5::read_string_attr(f.get(), "model_config_sha256", &found);
  const std::string cfg = (std::filesystem::path(model_dir) / "config.json").string();
  if (!found) throw InputError(path, "no model_config_sha256 attribute: is it a qkgeom sweep store?");
  if (sha != sha256_file(cfg))
    throw InputError(path, "was run on another model: its model_config_sha256 differs from " + cfg +
                               "'s (model_path '" + h5::read_string_attr(f.get(), "model_path") + "')");
  const auto L = static_cast<hsize_t>(d.layers), D = static_cast<hsize_t>(d.head_dim);
  require_shape(f.get(), "kv/q", {L, static_cast<hsize_t>(d.q_heads), D}, path, "layers, heads, head_dim");
  require_shape(f.get(), "kv/k", {L, static_cast<hsize_t>(d.kv_heads), D}, path,
                "layers, kv_heads, head_dim");
  require_shape(f.get(), "attention/distance_mass", {L, static_cast<hsize_t>(d.q_heads), kDistanceBuckets},
                path, "layers, heads, 16");
}

SweepMeans read_sweep_means(const std::string& path, const StaticDims& d, const SweepRope& rope) {
  h5::quiet();
  const h5::Id f = h5::open_for_read(path);
  const OkRows k = ok_rows(f.get(), path, static_cast<int64_t>(dims_of(f.get(), "kv/q", path)[0]));
  SweepMeans m;
  m.probes = static_cast<int64_t>(k.probe.size());
  m.tokens = static_cast<int64_t>(k.row.size());
  for (int64_t p : k.pos) m.max_len = std::max(m.max_len, p + 1);
  m.query_len =
      std::max<int64_t>(1, std::llround(static_cast<double>(m.tokens) / static_cast<double>(m.probes)));
  const int64_t L = d.layers, Hq = d.q_heads, Hkv = d.kv_heads, D = d.head_dim;
  m.mean_query.resize(static_cast<size_t>(L * Hq * D));
  m.mean_key.resize(static_cast<size_t>(L * Hkv * D));
  for (int64_t l = 0; l < L; ++l) {
    mean_unrotated(read_layer(f.get(), "kv/q", l, path), k, Hq, D, rope.rotary_dim, rope.inv_freq[l],
                   m.mean_query.data() + l * Hq * D, "kv/q", path);
    mean_unrotated(read_layer(f.get(), "kv/k", l, path), k, Hkv, D, rope.rotary_dim, rope.inv_freq[l],
                   m.mean_key.data() + l * Hkv * D, "kv/k", path);
  }
  m.measured = mean_distance_mass(f.get(), k, path);
  return m;
}

}  // namespace qk
