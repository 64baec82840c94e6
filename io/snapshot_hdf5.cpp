#include <hdf5.h>

#include <string>
#include <vector>

#include "dtype.hpp"
#include "h5_stored.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"
#include "snapshot_formats.hpp"

namespace qk {

namespace {

// Closes an HDF5 identifier on scope exit.
struct H5Id {
  hid_t id;
  herr_t (*close)(hid_t);
  ~H5Id() {
    if (id >= 0) close(id);
  }
};

// The "dtype" string attribute of a dataset, or "" when absent or not one string (H5Aread
// writes every element of the attribute into the one string read here).
std::string dtype_attribute(hid_t ds) {
  if (H5Aexists(ds, "dtype") <= 0) return "";
  H5Id attr{H5Aopen(ds, "dtype", H5P_DEFAULT), H5Aclose};
  H5Id type{H5Aget_type(attr.id), H5Tclose};
  H5Id space{H5Aget_space(attr.id), H5Sclose};
  if (attr.id < 0 || type.id < 0 || space.id < 0 || H5Tget_class(type.id) != H5T_STRING ||
      H5Sget_simple_extent_npoints(space.id) != 1)
    return "";
  if (H5Tis_variable_str(type.id) > 0) {
    H5Id mem{H5Tcopy(H5T_C_S1), H5Tclose};
    H5Tset_size(mem.id, H5T_VARIABLE);
    H5Tset_cset(mem.id, H5Tget_cset(type.id));  // h5py writes UTF-8
    char* s = nullptr;
    if (H5Aread(attr.id, mem.id, &s) < 0 || s == nullptr) return "";
    std::string out(s);
    H5free_memory(s);
    return out;
  }
  const size_t n = H5Tget_size(type.id);
  std::string out(n, '\0');
  if (H5Aread(attr.id, type.id, out.data()) < 0) return "";
  return out.substr(0, out.find('\0'));
}

Tensor4f read_dataset(hid_t file, const std::string& path, const std::string& name) {
  const std::string where = path + ": dataset '/" + name + "'";
  H5Id ds{H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose};
  if (ds.id < 0) throw InputError(where, "cannot be opened");
  H5Id space{H5Dget_space(ds.id), H5Sclose};
  const int rank = H5Sget_simple_extent_ndims(space.id);
  if (rank != 4)
    throw InputError(where,
                     "has rank " + std::to_string(rank) + ", expected 4 [layers, heads, seq, head_dim]");
  hsize_t dims[4];
  H5Sget_simple_extent_dims(space.id, dims, nullptr);
  Tensor4f out;
  for (int i = 0; i < 4; ++i) out.shape[i] = static_cast<int64_t>(dims[i]);
  if (dims[0] == 0 || dims[1] == 0 || dims[2] == 0 || dims[3] == 0)
    throw InputError(where, "is empty (a dimension is 0)");

  H5Id type{H5Dget_type(ds.id), H5Tclose};
  const H5T_class_t cls = H5Tget_class(type.id);
  const size_t size = H5Tget_size(type.id);
  if (size == 2 || size == 4) h5::require_stored(ds.id, {dims, dims + 4}, size, 4, "f32", where);
  herr_t status;
  if (cls == H5T_FLOAT && (size == 2 || size == 4)) {
    out.data.resize(static_cast<size_t>(out.numel()));
    // f32, f16 and bf16 float types: HDF5 converts them to native float.
    status = H5Dread(ds.id, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data.data());
  } else if (cls == H5T_INTEGER && size == 2) {
    // 16-bit floats stored as raw uint16 with a "dtype" attribute of "bf16" or "f16".
    const std::string tag = dtype_attribute(ds.id);
    const DType t = (tag == "bf16" || tag == "BF16") ? DType::BF16
                    : (tag == "f16" || tag == "F16") ? DType::F16
                                                     : DType::I16;
    if (t == DType::I16)
      throw InputError(where,
                       "16-bit integer data without a dtype attribute of bf16 or f16 is "
                       "not supported (use f32, f16 or bf16)");
    out.data.resize(static_cast<size_t>(out.numel()));
    std::vector<uint16_t> raw(out.data.size());
    status = H5Dread(ds.id, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data());
    if (status >= 0) convert_to_f32(t, raw.data(), raw.size(), out.data.data());
  } else {
    throw InputError(where, "element type (class " + std::to_string(cls) + ", " + std::to_string(size) +
                                " bytes) is not supported (use f32, f16 or bf16)");
  }
  if (status < 0) throw InputError(where, "read failed (corrupt or truncated file?)");
  return out;
}

}  // namespace

Snapshot read_snapshot_hdf5(const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors come back as our messages
  H5Id file{H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose};
  if (file.id < 0) throw InputError(path, "cannot be opened as HDF5 (corrupt or truncated?)");
  if (H5Lexists(file.id, "k", H5P_DEFAULT) <= 0) throw InputError(path, "snapshot has no dataset '/k'");
  Snapshot s;
  s.path = path;
  s.k = read_dataset(file.id, path, "k");
  if (H5Lexists(file.id, "v", H5P_DEFAULT) > 0) s.v = read_dataset(file.id, path, "v");
  if (H5Lexists(file.id, "q", H5P_DEFAULT) > 0) s.q = read_dataset(file.id, path, "q");
  for (auto& [key, value] : h5::read_string_attrs(file.id)) s.metadata[key] = value;
  return s;
}

void write_snapshot_hdf5(const Snapshot& snap, const std::string& path) {
  h5::write_file_atomically(path, [&snap](const std::string& tmp) {
    h5::Id file(h5::check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), tmp,
                          "cannot create the file"));
    auto put = [&](const char* name, const Tensor4f& t) {
      const std::vector<hsize_t> dims(t.shape.begin(), t.shape.end());
      h5::write_array(file.get(), name, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t.data.data(), tmp);
    };
    put("k", snap.k);
    if (snap.v) put("v", *snap.v);
    if (snap.q) put("q", *snap.q);
    for (const auto& [key, value] : snap.metadata) h5::write_string_attr(file.get(), key, value, tmp);
    h5::check_status(H5Fclose(file.release()), tmp, "cannot close the file");
  });
}

}  // namespace qk
