#include "static_h5.hpp"

#include <hdf5.h>

#include "descriptors.hpp"
#include "h5_util.hpp"
#include "run_record.hpp"
#include "store_error.hpp"
#include "threads.hpp"

namespace qk {

namespace {

void write_f64(hid_t parent, const std::string& name, const std::vector<hsize_t>& shape,
               const std::vector<double>& v, const std::string& file) {
  h5::write_array(parent, name, shape, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE, v.data(), file);
}

// Concatenation over layers of one per-layer field.
template <typename T, typename F>
std::vector<T> gather(const StaticResult& r, F field) {
  std::vector<T> out;
  for (const LayerStatic& l : r.layers) {
    const std::vector<T>& v = field(l);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

// Group `group`: the spectra sv [L][Hq][d] and their seven descriptors desc [7][L * Hq].
void write_spectrum_group(hid_t file_id, const std::string& group, const std::vector<double>& sv,
                          const std::array<std::vector<double>, 7>& desc, const StaticDims& d,
                          const std::string& file) {
  const h5::Id g(h5::check(H5Gcreate2(file_id, group.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), file,
                           "create group " + group));
  const hsize_t L = d.layers, H = d.q_heads, D = d.head_dim;
  write_f64(g.get(), "singular_values", {L, H, D}, sv, file);
  for (size_t i = 0; i < kDescriptorNames.size(); ++i)
    write_f64(g.get(), kDescriptorNames[i], {L, H}, desc[i], file);
}

void write_all(const std::string& tmp, const StaticResult& r, const std::string& model_dir,
               const std::string& command_line) {
  const StaticDims& d = r.dims;
  const hsize_t L = d.layers, H = d.q_heads, D = d.head_dim, N = d.hidden, K = d.topk;
  const h5::Id f(
      h5::check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), tmp, "create file"));
  const hid_t root = f.get();
  h5::write_int_attr(root, "schema_version", 1, tmp);
  h5::write_string_attr(root, "kind", "qkgeom-static", tmp);
  write_run_record(root, command_line, model_dir,
                   {r.device, r.gpu_name, applied_threads(), r.started_at, r.finished_at}, tmp);
  h5::write_int_attr(root, "num_layers", d.layers, tmp);
  h5::write_int_attr(root, "num_heads", d.q_heads, tmp);
  h5::write_int_attr(root, "num_kv_heads", d.kv_heads, tmp);
  h5::write_int_attr(root, "head_dim", d.head_dim, tmp);
  h5::write_int_attr(root, "hidden_size", d.hidden, tmp);
  h5::write_int_attr(root, "topk", d.topk, tmp);

  const std::vector<double> exact = gather<double>(
      r, [](const LayerStatic& l) -> const auto& { return l.exact_sv; });
  const std::vector<double> shortcut = gather<double>(
      r, [](const LayerStatic& l) -> const auto& { return l.shortcut_sv; });
  write_spectrum_group(root, "exact", exact, describe_exact_spectra(exact, d.head_dim, d.hidden), d, tmp);
  write_spectrum_group(root, "shortcut", shortcut, describe_spectra(shortcut, d.head_dim), d, tmp);
  {
    const h5::Id g(h5::check(H5Gcreate2(root, "symmetric", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), tmp,
                             "create group symmetric"));
    write_f64(g.get(), "eigenvalues", {L, H, 2 * D},
              gather<double>(
                  r, [](const LayerStatic& l) -> const auto& { return l.sym_eig; }),
              tmp);
    const std::vector<float> vec = gather<float>(
        r, [](const LayerStatic& l) -> const auto& { return l.sym_vec; });
    h5::write_array(g.get(), "eigenvectors", {L, H, K, N}, H5T_NATIVE_FLOAT, H5T_NATIVE_FLOAT, vec.data(),
                    tmp);
  }
  const h5::Id g(h5::check(H5Gcreate2(root, "operator", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), tmp,
                           "create group operator"));
  write_f64(g.get(), "fro_sq", {L, H},
            gather<double>(
                r, [](const LayerStatic& l) -> const auto& { return l.fro_sq; }),
            tmp);
  write_f64(g.get(), "fro_sq_shortcut", {L, H},
            gather<double>(
                r, [](const LayerStatic& l) -> const auto& { return l.fro_sq_shortcut; }),
            tmp);
  write_f64(g.get(), "gram", {L, L, H}, r.gram, tmp);
  h5::check_status(H5Fflush(root, H5F_SCOPE_GLOBAL), tmp, "flush");
}

}  // namespace

void write_static_h5(const std::string& path, const StaticResult& r, const std::string& model_dir,
                     const std::string& command_line) {
  h5::write_file_atomically(path,
                            [&](const std::string& tmp) { write_all(tmp, r, model_dir, command_line); });
}

}  // namespace qk
