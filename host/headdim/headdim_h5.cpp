#include "headdim_h5.hpp"

#include <hdf5.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

#include "h5_util.hpp"
#include "run_record.hpp"
#include "store_error.hpp"

namespace qk {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double or_nan(const std::optional<double>& v) { return v ? *v : kNaN; }

void write_f64(hid_t parent, const std::string& name, const std::vector<double>& v, const std::string& file) {
  h5::write_array(parent, name, {v.size()}, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v.data(), file);
}

void write_i64(hid_t parent, const std::string& name, const std::vector<int64_t>& v,
               const std::string& file) {
  h5::write_array(parent, name, {v.size()}, H5T_STD_I64LE, H5T_NATIVE_INT64, v.data(), file);
}

template <typename T>
std::string join(const std::vector<T>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  return os.str();
}

// The root attributes: schema, run record and the sweep's options (dims, heads, training
// and simplex settings) as int or string attributes.
void write_options(hid_t root, const HeaddimResult& r, const std::string& command_line,
                   const std::string& tmp) {
  const HeaddimOptions& o = r.options;
  h5::write_int_attr(root, "schema_version", 2, tmp);  // 2: configs/*_s (were *_seconds)
  h5::write_string_attr(root, "kind", "qkgeom-headdim", tmp);
  write_run_record(root, command_line, "", {r.device, "", r.threads, r.started_at, r.finished_at}, tmp);
  h5::write_string_attr(root, "dims", join(o.dims), tmp);
  h5::write_string_attr(root, "heads", join(o.heads), tmp);
  h5::write_int_attr(root, "epochs", o.epochs, tmp);
  h5::write_string_attr(root, "lr", std::to_string(o.lr), tmp);
  h5::write_int_attr(root, "n_classes", o.n_classes, tmp);
  h5::write_int_attr(root, "samples_per_class", o.samples_per_class, tmp);
  h5::write_int_attr(root, "seq_len", o.seq_len, tmp);
  h5::write_int_attr(root, "vocab", o.vocab, tmp);
  h5::write_string_attr(root, "noise", std::to_string(o.noise), tmp);
  h5::write_string_attr(root, "seed", std::to_string(o.seed), tmp);
  h5::write_int_attr(root, "samples", o.simplex.samples, tmp);
  h5::write_int_attr(root, "cm_compat", o.simplex.cm_compat ? 1 : 0, tmp);
  h5::write_int_attr(root, "null_trials", o.simplex.null_trials, tmp);
}

// One row per (config, phase, measurement) at the root: config dims, phase, name and the
// CV result (cv, null mean/std, z: NaN where absent; band; valid), each a [rows] dataset.
void write_measurements(hid_t root, const HeaddimResult& r, const std::string& tmp) {
  std::vector<int64_t> dim, heads, head_dim, valid;
  std::vector<std::string> phase, name, band;
  std::vector<double> cv, null_mean, null_std, z;
  for (const ConfigResult& c : r.configs)
    for (const PhaseResult& p : c.phases)
      for (const Measurement& m : p.rows) {
        dim.push_back(c.dim);
        heads.push_back(c.heads);
        head_dim.push_back(c.head_dim);
        phase.push_back(p.phase);
        name.push_back(m.name);
        cv.push_back(or_nan(m.cv.cv));
        null_mean.push_back(or_nan(m.cv.null_mean));
        null_std.push_back(or_nan(m.cv.null_std));
        z.push_back(or_nan(m.cv.z));
        band.push_back(m.cv.band);
        valid.push_back(m.cv.valid);
      }
  write_i64(root, "dim", dim, tmp);
  write_i64(root, "heads", heads, tmp);
  write_i64(root, "head_dim", head_dim, tmp);
  h5::write_strings(root, "phase", phase, tmp);
  h5::write_strings(root, "name", name, tmp);
  write_f64(root, "cv", cv, tmp);
  write_f64(root, "null_mean", null_mean, tmp);
  write_f64(root, "null_std", null_std, tmp);
  write_f64(root, "z", z, tmp);
  h5::write_strings(root, "band", band, tmp);
  write_i64(root, "valid", valid, tmp);
}

// Group configs/: one row per trained config: dims, mid/post accuracy and loss (NaN where
// there is no mid point) and the training/measuring time in seconds (train_s, measure_s: the
// JSON's timing names), each a [configs] dataset.
void write_configs(hid_t root, const HeaddimResult& r, const std::string& tmp) {
  const h5::Id g(h5::check(H5Gcreate2(root, "configs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), tmp,
                           "create group configs"));
  std::vector<int64_t> cd, ch, chd;
  std::vector<double> acc_mid, loss_mid, acc_post, loss_post, train_s, measure_s;
  for (const ConfigResult& c : r.configs) {
    cd.push_back(c.dim);
    ch.push_back(c.heads);
    chd.push_back(c.head_dim);
    acc_mid.push_back(or_nan(c.acc_mid));
    loss_mid.push_back(or_nan(c.loss_mid));
    acc_post.push_back(c.acc_post);
    loss_post.push_back(c.loss_post);
    train_s.push_back(c.seconds_train);
    measure_s.push_back(c.seconds_measure);
  }
  write_i64(g.get(), "dim", cd, tmp);
  write_i64(g.get(), "heads", ch, tmp);
  write_i64(g.get(), "head_dim", chd, tmp);
  write_f64(g.get(), "acc_mid", acc_mid, tmp);
  write_f64(g.get(), "loss_mid", loss_mid, tmp);
  write_f64(g.get(), "acc_post", acc_post, tmp);
  write_f64(g.get(), "loss_post", loss_post, tmp);
  write_f64(g.get(), "train_s", train_s, tmp);
  write_f64(g.get(), "measure_s", measure_s, tmp);
}

// The whole headdim file at tmp: options, measurement rows and configs/, flushed.
void write_all(const std::string& tmp, const HeaddimResult& r, const std::string& command_line) {
  const h5::Id f(
      h5::check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), tmp, "create file"));
  const hid_t root = f.get();
  write_options(root, r, command_line, tmp);
  write_measurements(root, r, tmp);
  write_configs(root, r, tmp);
  h5::check_status(H5Fflush(root, H5F_SCOPE_GLOBAL), tmp, "flush");
}

}  // namespace

void write_headdim_h5(const std::string& path, const HeaddimResult& r, const std::string& command_line) {
  h5::write_file_atomically(path, [&](const std::string& tmp) { write_all(tmp, r, command_line); });
}

}  // namespace qk
