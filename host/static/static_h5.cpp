#include "static_h5.hpp"

#include <hdf5.h>

#include "descriptors.hpp"
#include "geometry_h5.hpp"

namespace qk {

namespace {

using geometry_h5::create_group;
using geometry_h5::gather;
using geometry_h5::write_f64;

// Group `group`: the spectra sv [L][Hq][d] and their seven descriptors desc [7][L * Hq].
void write_spectrum_group(hid_t file_id, const std::string& group, const std::vector<double>& sv,
                          const std::array<std::vector<double>, 7>& desc, const StaticDims& d,
                          const std::string& file) {
  const h5::Id g = create_group(file_id, group, file);
  const hsize_t L = d.layers, H = d.q_heads, D = d.head_dim;
  write_f64(g.get(), "singular_values", {L, H, D}, sv, file);
  for (size_t i = 0; i < kDescriptorNames.size(); ++i)
    write_f64(g.get(), kDescriptorNames[i], {L, H}, desc[i], file);
}

// Everything below the root attributes geometry_h5::write_file writes.
void write_rest(hid_t root, const StaticResult& r, const std::string& tmp) {
  const StaticDims& d = r.dims;
  const hsize_t L = d.layers, H = d.q_heads, D = d.head_dim, N = d.hidden, K = d.topk;
  h5::write_int_attr(root, "topk", d.topk, tmp);
  const std::vector<double> exact = gather(r.layers, &LayerStatic::exact_sv);
  const std::vector<double> shortcut = gather(r.layers, &LayerStatic::shortcut_sv);
  write_spectrum_group(root, "exact", exact, describe_exact_spectra(exact, d.head_dim, d.hidden), d, tmp);
  write_spectrum_group(root, "shortcut", shortcut, describe_spectra(shortcut, d.head_dim), d, tmp);
  {
    const h5::Id g = create_group(root, "symmetric", tmp);
    write_f64(g.get(), "eigenvalues", {L, H, 2 * D}, gather(r.layers, &LayerStatic::sym_eig), tmp);
    const std::vector<float> vec = gather(r.layers, &LayerStatic::sym_vec);
    h5::write_array(g.get(), "eigenvectors", {L, H, K, N}, H5T_NATIVE_FLOAT, H5T_NATIVE_FLOAT, vec.data(),
                    tmp);
  }
  const h5::Id g = create_group(root, "operator", tmp);
  write_f64(g.get(), "fro_sq", {L, H}, gather(r.layers, &LayerStatic::fro_sq), tmp);
  write_f64(g.get(), "fro_sq_shortcut", {L, H}, gather(r.layers, &LayerStatic::fro_sq_shortcut), tmp);
  write_f64(g.get(), "gram", {L, L, H}, r.gram, tmp);
}

}  // namespace

void write_static_h5(const std::string& path, const StaticResult& r, const std::string& model_dir,
                     const std::string& command_line) {
  geometry_h5::write_file(path, "qkgeom-static", r, model_dir, command_line,
                          [&](hid_t root, const std::string& tmp) { write_rest(root, r, tmp); });
}

}  // namespace qk
