#include "simplex_matrices.hpp"

#include <hdf5.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <algorithm>
#include <map>
#include <stdexcept>
#include <vector>

#include "bo/backend.hpp"
#include "finite_check.hpp"
#include "h5_arrays.hpp"
#include "h5_util.hpp"
#include "hf_tensor_names.hpp"
#include "hf_weights.hpp"
#include "input_error.hpp"
#include "progress.hpp"
#include "run_record.hpp"
#include "store_error.hpp"
#include "threads.hpp"

namespace qk {
namespace {

namespace fs = std::filesystem;

// Rows [r0, r0 + rows) and columns [c0, c0 + cols) of the row-major m [.][stride], copied.
std::vector<float> block(const std::vector<float>& m, int64_t stride, int64_t r0, int64_t rows, int64_t c0,
                         int64_t cols) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    std::copy_n(m.begin() + (r0 + r) * stride + c0, cols, out.begin() + r * cols);
  return out;
}

class Runner {
 public:
  Runner(const SimplexJobOptions& o, SimplexJobResult* out) : o_(o), out_(out) {}

  // The statistic and baseline of the row-major matrix m [rows][dim].
  void measure(const std::string& name, int64_t layer, int64_t head, const std::string& kind,
               const std::vector<float>& m, int64_t rows, int64_t dim) {
    SimplexRow row{name, layer, head, kind, rows, dim, {}};
    const SimplexStat s = simplex_statistic(m.data(), row.rows, row.dim, o_.simplex);
    row.r.cv = s.cv;
    row.r.valid = s.valid;
    const auto key = std::make_pair(row.rows, row.dim);
    auto it = null_.find(key);
    if (it == null_.end()) it = null_.emplace(key, simplex_null(row.rows, row.dim, o_.simplex)).first;
    simplex_finish(row.r, it->second);
    out_->rows.push_back(std::move(row));
  }

  void progress(const std::string& what) const {
    if (!o_.progress) return;
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    std::fprintf(stderr, "simplex: %s done, %zu matrices, %s elapsed\n", what.c_str(), out_->rows.size(),
                 format_duration(t).c_str());
  }

 private:
  const SimplexJobOptions& o_;
  SimplexJobResult* out_;
  std::map<std::pair<int64_t, int64_t>, SimplexNull> null_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

void weights(Runner& run, const SimplexJobOptions& o) {
  HfWeights ckpt(o.model);
  const ModelConfig& c = ckpt.config();
  const HfTensorNames names(c.arch, [&](const std::string& n) { return ckpt.has(n); });
  const int64_t L = c.num_layers, Hq = c.num_heads, Hkv = c.num_kv_heads, d = c.head_dim, N = c.hidden_size,
                V = c.vocab_size;
  if (L <= 0 || Hq <= 0 || Hkv <= 0 || d <= 0 || N <= 0 || V <= 0)
    throw InputError(c.path, "layers, heads, kv heads, head_dim, hidden and vocab size must be positive");
  const auto load = [&](const std::string& name, int64_t r, int64_t k) {
    std::vector<float> t = ckpt.load_f32(name, {r, k});
    check_finite_weight(o.model, name, t.data(), {r, k});  // file, tensor, index
    return t;
  };
  run.measure("embed_tokens", -1, -1, "weight", load(names.embed(), V, N), V, N);
  run.progress("embeddings");
  for (int64_t l = 0; l < L; ++l) {
    const HfAttentionNames nm = names.attention(l);
    const WeightLoader read = [&](const std::string& n, const std::vector<int64_t>& shape) {
      return load(n, shape[0], shape[1]);
    };  // fused q/k/v (GPT-2, GPT-NeoX, Phi-3) split per head as the runtime splits them
    const std::vector<float> wq = load_qkv_weight(nm, 0, Hq, Hkv, d, N, read),
                             wk = load_qkv_weight(nm, 1, Hq, Hkv, d, N, read),
                             wv = load_qkv_weight(nm, 2, Hq, Hkv, d, N, read),
                             wo = load_o_weight(nm, N, Hq * d, read);
    run.measure("q_proj", l, -1, "weight", wq, Hq * d, N);
    run.measure("k_proj", l, -1, "weight", wk, Hkv * d, N);
    run.measure("v_proj", l, -1, "weight", wv, Hkv * d, N);
    for (int64_t h = 0; h < Hq; ++h)
      run.measure("q_proj.head", l, h, "weight", block(wq, N, h * d, d, 0, N), d, N);
    for (int64_t g = 0; g < Hkv; ++g)
      run.measure("k_proj.head", l, g, "weight", block(wk, N, g * d, d, 0, N), d, N);
    for (int64_t g = 0; g < Hkv; ++g)
      run.measure("v_proj.head", l, g, "weight", block(wv, N, g * d, d, 0, N), d, N);
    for (int64_t h = 0; h < Hq; ++h)
      run.measure("o_proj.head", l, h, "weight", block(wo, Hq * d, 0, N, h * d, d), N, d);
    run.progress("layer " + std::to_string(l + 1) + "/" + std::to_string(L) + " weights");
  }
}

bool has_dataset(hid_t f, const std::string& name) {
  const size_t slash = name.find('/');
  return H5Lexists(f, name.substr(0, slash).c_str(), H5P_DEFAULT) > 0 &&
         H5Lexists(f, name.c_str(), H5P_DEFAULT) > 0;
}

// The --from store: open, with the datasets the activations need (checked before the weights).
h5::Id open_from(const std::string& path) {
  h5::quiet();
  h5::Id f = h5::open_for_read(path);
  for (const char* need : {"probe/index", "kv/offset", "kv/count"})
    if (!has_dataset(f.get(), need))
      throw InputError(path,
                       std::string("no ") + need + ": --from needs a sweep store made with --save-kv qkv");
  if (!has_dataset(f.get(), "kv/q") && !has_dataset(f.get(), "kv/k") && !has_dataset(f.get(), "kv/v"))
    throw InputError(path, "no kv/q, kv/k or kv/v: --from needs a sweep store made with --save-kv qkv");
  return f;
}

// 1 per probe whose probe/status is "ok" (every probe of a store without the column); the
// others' q/k/v hold non-finite values and are left out, with a note on stderr.
std::vector<uint8_t> ok_probes(hid_t f, const std::string& path, size_t probes) {
  std::vector<uint8_t> ok(probes, 1);
  if (!has_dataset(f, "probe/status")) return ok;
  const std::vector<std::string> status = read_strings(f, "probe/status", path, probes);
  size_t left_out = 0;
  for (size_t p = 0; p < probes; ++p)
    if (p >= status.size() || status[p] != "ok") {
      ok[p] = 0;
      ++left_out;
    }
  if (left_out > 0)
    std::fprintf(stderr, "simplex: %zu probe(s) of %s with non-finite values (probe/status) left out\n",
                 left_out, path.c_str());
  return ok;
}

// InputError naming the file, dataset, token row, layer, head and dim of the first
// non-finite value of rows [tokens, H, d] (token row `tok[i]` of the dataset).
void require_finite_activations(const std::vector<float>& rows, int64_t H, int64_t d,
                                const std::vector<int64_t>& tok, const std::string& ds, int64_t layer,
                                const std::string& path) {
  const float* x = rows.data();
  const int64_t n = static_cast<int64_t>(rows.size());
  if (all_finite(x, n)) return;
  int64_t i = 0;
  while (all_finite(x + i, 1)) ++i;
  throw InputError(path, ds + " row " + std::to_string(tok[static_cast<size_t>(i / (H * d))]) + " [layer " +
                             std::to_string(layer) + ", head " + std::to_string(i / d % H) + ", dim " +
                             std::to_string(i % d) +
                             "] is not finite (its probe/status says ok, or the store has none)");
}

void activations(Runner& run, const std::string& path) {
  const h5::Id f = open_from(path);
  const ArrayF64 index = read_f64(f.get(), "probe/index", path);
  const size_t probes = index.dims.empty() ? 0 : static_cast<size_t>(index.dims[0]);
  const ArrayF64 off = read_f64(f.get(), "kv/offset", path), cnt = read_f64(f.get(), "kv/count", path);
  if (off.size() < probes || cnt.size() < probes)
    throw InputError(path, "kv/offset or kv/count shorter than probe/index");
  const std::vector<uint8_t> ok = ok_probes(f.get(), path, probes);
  for (const char* which : {"q", "k", "v"}) {
    const std::string ds = std::string("kv/") + which;
    if (!has_dataset(f.get(), ds)) continue;
    const h5::Id dset(h5::check(H5Dopen2(f.get(), ds.c_str(), H5P_DEFAULT), path, "open " + ds));
    const std::vector<hsize_t> dims = h5::dataset_dims(dset.get(), path, ds);
    if (dims.size() != 4) throw InputError(path, ds + " must be [T, L, H, d]");
    const int64_t T = static_cast<int64_t>(dims[0]), L = static_cast<int64_t>(dims[1]),
                  H = static_cast<int64_t>(dims[2]), d = static_cast<int64_t>(dims[3]);
    std::vector<int64_t> tok;
    for (size_t p = 0; p < probes; ++p) {
      if (!ok[p]) continue;  // a probe with non-finite values (probe/status)
      const int64_t o = static_cast<int64_t>(off.data[p]), c = static_cast<int64_t>(cnt.data[p]);
      if (o < 0 || c < 0 || o + c > T) throw InputError(path, ds + ": probe rows past the dataset");
      for (int64_t t = o; t < o + c; ++t) tok.push_back(t);
    }
    std::vector<float> layer(static_cast<size_t>(T * H * d));
    for (int64_t l = 0; l < L; ++l) {
      const hsize_t start[4] = {0, static_cast<hsize_t>(l), 0, 0}, count[4] = {dims[0], 1, dims[2], dims[3]};
      const h5::Id file_space(h5::check(H5Dget_space(dset.get()), path, "dataspace of " + ds));
      h5::check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
                       path, "select layer of " + ds);
      const h5::Id mem_space(h5::check(H5Screate_simple(4, count, nullptr), path, "memory space of " + ds));
      if (!layer.empty())
        h5::check_status(H5Dread(dset.get(), H5T_NATIVE_FLOAT, mem_space.get(), file_space.get(), H5P_DEFAULT,
                                 layer.data()),
                         path, "read " + ds);
      const int64_t n = static_cast<int64_t>(tok.size());
      std::vector<float> rows(static_cast<size_t>(n * H * d));  // the kept token rows [n][H][d]
      for (int64_t i = 0; i < n; ++i)
        std::copy_n(layer.begin() + tok[i] * H * d, H * d, rows.begin() + i * H * d);
      require_finite_activations(rows, H, d, tok, ds, l, path);
      for (int64_t h = 0; h < H; ++h)
        run.measure(std::string("act.") + which, l, h, "activation", block(rows, H * d, 0, n, h * d, d), n,
                    d);
      run.progress(std::string("layer ") + std::to_string(l + 1) + "/" + std::to_string(L) + " activations " +
                   which);
    }
  }
}

template <typename F>
void write_strings(hid_t root, const std::string& name, const SimplexJobResult& r, F field,
                   const std::string& file) {
  std::vector<std::string> v;
  for (const SimplexRow& row : r.rows) v.push_back(field(row));
  h5::write_strings(root, name, v, file);
}

template <typename F>
void write_i64(hid_t root, const std::string& name, const SimplexJobResult& r, F field,
               const std::string& file) {
  std::vector<int64_t> v;
  for (const SimplexRow& row : r.rows) v.push_back(field(row));
  h5::write_array(root, name, {v.size()}, H5T_STD_I64LE, H5T_NATIVE_INT64, v.data(), file);
}

template <typename F>
void write_f64(hid_t root, const std::string& name, const SimplexJobResult& r, F field,
               const std::string& file) {
  std::vector<double> v;
  for (const SimplexRow& row : r.rows) {
    const std::optional<double> x = field(row);
    v.push_back(x ? *x : std::numeric_limits<double>::quiet_NaN());
  }
  h5::write_array(root, name, {v.size()}, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v.data(), file);
}

void write_all(const std::string& tmp, const SimplexJobResult& r, const SimplexJobOptions& o,
               const std::string& command_line) {
  const h5::Id f(
      h5::check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), tmp, "create file"));
  const hid_t root = f.get();
  const SimplexOptions& s = o.simplex;
  h5::write_int_attr(root, "schema_version", 1, tmp);
  h5::write_string_attr(root, "kind", "qkgeom-simplex", tmp);
  write_run_record(root, command_line, o.model,
                   {r.device, r.gpu_name, applied_threads(), r.started_at, r.finished_at}, tmp);
  h5::write_string_attr(root, "from", o.from.empty() ? "" : fs::absolute(o.from).string(), tmp);
  h5::write_int_attr(root, "samples", s.samples, tmp);
  h5::write_int_attr(root, "pool", s.pool, tmp);
  h5::write_string_attr(root, "seed", std::to_string(s.seed), tmp);
  h5::write_int_attr(root, "cm_compat", s.cm_compat ? 1 : 0, tmp);
  h5::write_int_attr(root, "null_trials", s.null_trials, tmp);
  write_strings(
      root, "name", r, [](const SimplexRow& x) -> const std::string& { return x.name; }, tmp);
  write_i64(
      root, "layer", r, [](const SimplexRow& x) { return x.layer; }, tmp);
  write_i64(
      root, "head", r, [](const SimplexRow& x) { return x.head; }, tmp);
  write_strings(
      root, "kind", r, [](const SimplexRow& x) -> const std::string& { return x.kind; }, tmp);
  write_i64(
      root, "rows", r, [](const SimplexRow& x) { return x.rows; }, tmp);
  write_i64(
      root, "dim", r, [](const SimplexRow& x) { return x.dim; }, tmp);
  write_f64(
      root, "cv", r, [](const SimplexRow& x) { return x.r.cv; }, tmp);
  write_i64(
      root, "valid", r, [](const SimplexRow& x) { return x.r.valid; }, tmp);
  write_f64(
      root, "null_mean", r, [](const SimplexRow& x) { return x.r.null_mean; }, tmp);
  write_f64(
      root, "null_std", r, [](const SimplexRow& x) { return x.r.null_std; }, tmp);
  write_f64(
      root, "z", r, [](const SimplexRow& x) { return x.r.z; }, tmp);
  write_strings(
      root, "band", r, [](const SimplexRow& x) -> const std::string& { return x.r.band; }, tmp);
  h5::check_status(H5Fflush(root, H5F_SCOPE_GLOBAL), tmp, "flush");
}

nlohmann::json opt_json(const std::optional<double>& x) { return x ? nlohmann::json(*x) : nlohmann::json(); }

}  // namespace

SimplexJobResult simplex_model(const SimplexJobOptions& o) {
  const SimplexOptions& s = o.simplex;
  if (s.samples < 1) throw std::invalid_argument("--samples must be >= 1");
  if (s.pool < 0) throw std::invalid_argument("--pool must be >= 0");
  if (s.null_trials < 0) throw std::invalid_argument("--null-trials must be >= 0");
  if (s.cm_compat && s.pool != 0)
    throw std::invalid_argument("--pool does not apply with --cm-compat (pool = min(n, 512))");
  const Backend b = choose_backend(s.device);
  SimplexJobResult r;
  r.device = s.cm_compat ? "cpu" : b.name;
  if (b.gpu && !s.cm_compat) r.gpu_name = gpu_device_name(b.device);
  r.started_at = utc_now_iso8601();
  const auto t0 = std::chrono::steady_clock::now();
  SimplexJobOptions fixed = o;
  fixed.simplex.device = b.gpu ? b.name : "cpu";
  if (!o.from.empty()) open_from(o.from);
  Runner run(fixed, &r);
  weights(run, fixed);
  if (!o.from.empty()) activations(run, o.from);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.finished_at = utc_now_iso8601();
  return r;
}

void write_simplex_h5(const std::string& path, const SimplexJobResult& r, const SimplexJobOptions& o,
                      const std::string& command_line) {
  h5::write_file_atomically(path, [&](const std::string& tmp) { write_all(tmp, r, o, command_line); });
}

nlohmann::json simplex_json(const SimplexJobResult& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const SimplexRow& x : r.rows)
    rows.push_back({{"name", x.name},
                    {"layer", x.layer},
                    {"head", x.head},
                    {"kind", x.kind},
                    {"rows", x.rows},
                    {"dim", x.dim},
                    {"cv", opt_json(x.r.cv)},
                    {"valid", x.r.valid},
                    {"null_mean", opt_json(x.r.null_mean)},
                    {"null_std", opt_json(x.r.null_std)},
                    {"z", opt_json(x.r.z)},
                    {"band", x.r.band}});
  return {{"device", r.device}, {"timing", {{"total_s", r.seconds}}}, {"matrices", rows}};
}

}  // namespace qk
