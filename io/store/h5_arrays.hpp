#pragma once
// Whole numeric datasets in and out of an open HDF5 file (row-major, with their shape).
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace qk {

struct ArrayF64 {
  std::vector<hsize_t> dims;
  std::vector<double> data;
  size_t size() const { return data.size(); }
};

// Dataset `name` of `file` as fp64 (HDF5 converts f32 / ints). InputError naming `path`
// (the file's name) and the dataset when it is missing, holds no numbers, or declares a
// shape the file does not store (checked before allocating).
ArrayF64 read_f64(hid_t file, const std::string& name, const std::string& path);
// The same, as f32 (for large eigenvector arrays).
std::vector<float> read_f32(hid_t file, const std::string& name, const std::string& path,
                            std::vector<hsize_t>* dims);
// Rows [0, min(rows, its length)) of a 1-D string column (e.g. "probe/status"): a text
// column (h5_text.hpp; `rows` the committed probes, so that rows a crash left past them,
// which may be stale, are not read, and damaged offsets among them are an InputError) or
// an HDF5 string dataset; InputError as above.
std::vector<std::string> read_strings(hid_t file, const std::string& name, const std::string& path,
                                      size_t rows);
// Creates (replacing) dataset `name` under `group`.
void write_f64(hid_t group, const std::string& name, const std::vector<hsize_t>& dims,
               const std::vector<double>& data, const std::string& path);

}  // namespace qk
