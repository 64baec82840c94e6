#pragma once
// What STATIC.h5 and ROPE.h5 (docs/static-geometry.md) share: f64 datasets, groups, per-layer
// fields gathered over layers, and a whole file written atomically with the root attributes
// of a static-geometry result (schema_version 1, kind, run record, model dims).
#include <hdf5.h>

#include <string>
#include <vector>

#include "h5_util.hpp"
#include "run_record.hpp"
#include "threads.hpp"

namespace qk {
namespace geometry_h5 {

// Dataset `name` of the given shape, f64.
inline void write_f64(hid_t parent, const std::string& name, const std::vector<hsize_t>& shape,
                      const std::vector<double>& v, const std::string& file) {
  h5::write_array(parent, name, shape, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE, v.data(), file);
}

inline h5::Id create_group(hid_t parent, const std::string& name, const std::string& file) {
  return h5::Id(h5::check(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), file,
                          "create group " + name));
}

// The concatenation over layers of one per-layer field ([L][...]).
template <typename T, typename Layer>
std::vector<T> gather(const std::vector<Layer>& layers, std::vector<T> Layer::*field) {
  std::vector<T> out;
  for (const Layer& l : layers) out.insert(out.end(), (l.*field).begin(), (l.*field).end());
  return out;
}

// Writes `path` (via PATH.tmp, then renamed): a new file whose root holds schema_version 1,
// `kind`, r's run record and r.dims (num_layers .. hidden_size), then what
// `write_rest(root, tmp)` adds; flushed. Result: StaticResult or RopeGeometryResult.
template <typename Result, typename WriteRest>
void write_file(const std::string& path, const char* kind, const Result& r, const std::string& model_dir,
                const std::string& command_line, WriteRest&& write_rest) {
  h5::write_file_atomically(path, [&](const std::string& tmp) {
    const h5::Id f(
        h5::check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), tmp, "create file"));
    const hid_t root = f.get();
    h5::write_int_attr(root, "schema_version", 1, tmp);
    h5::write_string_attr(root, "kind", kind, tmp);
    write_run_record(root, command_line, model_dir,
                     {r.device, r.gpu_name, applied_threads(), r.started_at, r.finished_at}, tmp);
    h5::write_int_attr(root, "num_layers", r.dims.layers, tmp);
    h5::write_int_attr(root, "num_heads", r.dims.q_heads, tmp);
    h5::write_int_attr(root, "num_kv_heads", r.dims.kv_heads, tmp);
    h5::write_int_attr(root, "head_dim", r.dims.head_dim, tmp);
    h5::write_int_attr(root, "hidden_size", r.dims.hidden, tmp);
    write_rest(root, tmp);
    h5::check_status(H5Fflush(root, H5F_SCOPE_GLOBAL), tmp, "flush");
  });
}

}  // namespace geometry_h5
}  // namespace qk
