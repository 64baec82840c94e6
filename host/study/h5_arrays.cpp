#include "h5_arrays.hpp"

#include "h5_util.hpp"
#include "input_error.hpp"

namespace qk {

namespace {

h5::Id open_dataset(hid_t file, const std::string& name, const std::string& path,
                    std::vector<hsize_t>* dims) {
  if (H5Lexists(file, name.c_str(), H5P_DEFAULT) <= 0)
    throw InputError(path, "no dataset '/" + name + "'");
  h5::Id ds(h5::check(H5Dopen2(file, name.c_str(), H5P_DEFAULT), path, "cannot open '/" + name + "'"));
  *dims = h5::dataset_dims(ds.get(), path, name);
  return ds;
}

size_t count(const std::vector<hsize_t>& dims) {
  size_t n = 1;
  for (hsize_t d : dims) n *= static_cast<size_t>(d);
  return n;
}

}  // namespace

ArrayF64 read_f64(hid_t file, const std::string& name, const std::string& path) {
  ArrayF64 a;
  const h5::Id ds = open_dataset(file, name, path, &a.dims);
  a.data.resize(count(a.dims));
  if (!a.data.empty())
    h5::check_status(H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.data.data()),
                     path, "cannot read '/" + name + "' as numbers");
  return a;
}

std::vector<float> read_f32(hid_t file, const std::string& name, const std::string& path,
                            std::vector<hsize_t>* dims) {
  const h5::Id ds = open_dataset(file, name, path, dims);
  std::vector<float> v(count(*dims));
  if (!v.empty())
    h5::check_status(H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()),
                     path, "cannot read '/" + name + "' as numbers");
  return v;
}

std::vector<std::string> read_strings(hid_t file, const std::string& name, const std::string& path) {
  std::vector<hsize_t> dims;
  const h5::Id ds = open_dataset(file, name, path, &dims);
  if (dims.size() != 1) throw InputError(path, "'/" + name + "' is not a 1-D dataset of strings");
  const h5::Id fspace(h5::check(H5Dget_space(ds.get()), path, "cannot get the space of '/" + name + "'"));
  return h5::read_string_rows(ds.get(), fspace.get(), dims[0], path, "'/" + name + "' as strings");
}

void write_f64(hid_t group, const std::string& name, const std::vector<hsize_t>& dims,
               const std::vector<double>& data, const std::string& path) {
  h5::write_array(group, name, dims, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data.data(), path);
}

}  // namespace qk
