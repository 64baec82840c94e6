#include "h5_arrays.hpp"

#include <algorithm>

#include "h5_stored.hpp"
#include "h5_text.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"

namespace qk {

namespace {

// Dataset `name` of `file`, its shape in *dims. InputError naming `path` and the dataset
// when it is missing, holds no numbers (`mem_esize` > 0: read as numbers of that size) or
// declares more elements than the file stores; checked before anything is allocated.
h5::Id open_dataset(hid_t file, const std::string& name, const std::string& path, std::vector<hsize_t>* dims,
                    size_t mem_esize) {
  if (H5Lexists(file, name.c_str(), H5P_DEFAULT) <= 0) throw InputError(path, "no dataset '/" + name + "'");
  h5::Id ds(h5::check(H5Dopen2(file, name.c_str(), H5P_DEFAULT), path, "cannot open '/" + name + "'"));
  *dims = h5::dataset_dims(ds.get(), path, name);
  const std::string where = path + ": dataset '/" + name + "'";
  const h5::Id type(h5::check(H5Dget_type(ds.get()), path, "cannot read the type of '/" + name + "'"));
  const H5T_class_t cls = H5Tget_class(type.get());
  const bool text = h5::is_text_column(ds.get());
  if (mem_esize > 0 && (text || (cls != H5T_INTEGER && cls != H5T_FLOAT)))
    throw InputError(where, text || cls == H5T_STRING ? "holds strings, not numbers" : "holds no numbers");
  const size_t file_esize = mem_esize > 0 ? H5Tget_size(type.get()) : 1;  // strings: at least a byte each
  h5::require_stored(ds.get(), *dims, file_esize, std::max<size_t>(mem_esize, sizeof(char*)),
                     mem_esize == 8   ? "f64"
                     : mem_esize == 4 ? "f32"
                                      : "strings",
                     where);
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
  const h5::Id ds = open_dataset(file, name, path, &a.dims, sizeof(double));
  a.data.resize(count(a.dims));
  if (!a.data.empty())
    h5::check_status(H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.data.data()), path,
                     "cannot read '/" + name + "' as numbers");
  return a;
}

std::vector<float> read_f32(hid_t file, const std::string& name, const std::string& path,
                            std::vector<hsize_t>* dims) {
  const h5::Id ds = open_dataset(file, name, path, dims, sizeof(float));
  std::vector<float> v(count(*dims));
  if (!v.empty())
    h5::check_status(H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), path,
                     "cannot read '/" + name + "' as numbers");
  return v;
}

std::vector<std::string> read_strings(hid_t file, const std::string& name, const std::string& path,
                                      size_t rows) {
  std::vector<hsize_t> dims;
  const h5::Id ds = open_dataset(file, name, path, &dims, 0);
  if (dims.size() != 1) throw InputError(path, "'/" + name + "' is not a 1-D dataset of strings");
  const hsize_t n = std::min<hsize_t>(dims[0], rows);
  if (n == 0) return {};
  const h5::Id fspace(h5::check(H5Dget_space(ds.get()), path, "cannot get the space of '/" + name + "'"));
  const hsize_t first = 0;
  h5::check_status(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &first, nullptr, &n, nullptr), path,
                   "cannot select rows of '/" + name + "'");
  return h5::read_string_rows(ds.get(), fspace.get(), n, path, "dataset '/" + name + "'");
}

void write_f64(hid_t group, const std::string& name, const std::vector<hsize_t>& dims,
               const std::vector<double>& data, const std::string& path) {
  h5::write_array(group, name, dims, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data.data(), path);
}

}  // namespace qk
