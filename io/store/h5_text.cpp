#include "h5_text.hpp"

#include <cstdint>

#include "h5_stored.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"

namespace qk::h5 {

std::string text_bytes_path(const std::string& col) { return col + "_utf8"; }

bool is_text_column(hid_t ds) { return H5Aexists(ds, kTextBytesAttr) > 0; }

void selected_run(hid_t fspace, hsize_t n, hsize_t* first, const std::string& file, const std::string& what) {
  *first = 0;
  if (n == 0) return;
  hsize_t lo = 0, hi = 0;
  if (H5Sget_simple_extent_ndims(fspace) != 1 || H5Sget_select_bounds(fspace, &lo, &hi) < 0 ||
      hi - lo + 1 != n || H5Sget_select_npoints(fspace) != static_cast<hssize_t>(n))
    throw InputError(file, what + ": a text column is read by runs of rows of a 1-D dataset");
  *first = lo;
}

namespace {

// Elements [first, first + n) of 1-D dataset `ds` read as `mem_type` into `out`.
void read_run(hid_t ds, hid_t mem_type, hsize_t first, hsize_t n, void* out, const std::string& file,
              const std::string& what) {
  if (n == 0) return;
  const Id fspace(check(H5Dget_space(ds), file, "cannot get the space of " + what));
  check_status(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &first, nullptr, &n, nullptr), file,
               "cannot select rows of " + what);
  const Id mspace(H5Screate_simple(1, &n, nullptr));
  check_status(H5Dread(ds, mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, out), file,
               "cannot read " + what);
}

}  // namespace

Id open_text_bytes(hid_t ds, const std::string& file, const std::string& what, std::string* name) {
  const Id offsets(H5Dget_type(ds));
  if (!offsets.ok() || H5Tget_class(offsets.get()) != H5T_INTEGER || H5Tget_size(offsets.get()) != 8)
    throw InputError(file, what + ": a text column holds i64 end offsets, not another type (corrupt)");
  bool found = false;
  *name = read_string_attr(ds, kTextBytesAttr, &found);
  const Id fid(H5Iget_file_id(ds));
  Id bytes(found && fid.ok() && H5Lexists(fid.get(), name->c_str(), H5P_DEFAULT) > 0
               ? H5Dopen2(fid.get(), name->c_str(), H5P_DEFAULT)
               : H5I_INVALID_HID);
  const Id type(bytes.ok() ? H5Dget_type(bytes.get()) : H5I_INVALID_HID);
  if (!type.ok() || H5Tget_class(type.get()) != H5T_INTEGER || H5Tget_size(type.get()) != 1 ||
      dataset_dims(bytes.get(), file, *name).size() != 1)
    throw InputError(file, what + ": its bytes dataset '/" + *name + "' (attribute '" + kTextBytesAttr +
                               "') is missing or not 1-D u8");
  return bytes;
}

std::vector<std::string> read_text_rows(hid_t ds, hsize_t first, hsize_t n, const std::string& file,
                                        const std::string& what) {
  std::string bytes_name;
  const Id bytes = open_text_bytes(ds, file, what, &bytes_name);
  const std::vector<hsize_t> dims = dataset_dims(ds, file, what);
  if (dims.size() != 1 || first + n > dims[0])
    throw InputError(file, what + ": rows " + std::to_string(first) + ".." + std::to_string(first + n) +
                               " are not in its " + std::to_string(dims.empty() ? 0 : dims[0]) + " rows");
  // The end offset of the row before `first` (0 at the first row) starts the run.
  const hsize_t lead = first > 0 ? 1 : 0;
  std::vector<int64_t> end(static_cast<size_t>(n + lead), 0);
  read_run(ds, H5T_NATIVE_INT64, first - lead, n + lead, end.data(), file, what);
  const int64_t stored = static_cast<int64_t>(dataset_dims(bytes.get(), file, bytes_name)[0]);
  const int64_t start = lead ? end[0] : 0;
  if (start < 0 || start > stored)
    throw InputError(file, what + ": row " + std::to_string(first - 1) + " ends at byte " +
                               std::to_string(start) + ", outside '/" + bytes_name + "' (corrupt)");
  size_t rows = 0;
  for (int64_t at = start; rows < n; ++rows) {
    const int64_t e = end[rows + lead];
    if (e < at || e > stored)
      throw InputError(file, what + ": row " + std::to_string(first + rows) + " ends at byte " +
                                 std::to_string(e) + ", not between " + std::to_string(at) + " and the " +
                                 std::to_string(stored) + " bytes of '/" + bytes_name + "' (corrupt)");
    at = e;
  }
  const int64_t stop = rows ? end[rows - 1 + lead] : start;
  std::string buf(checked_count({static_cast<hsize_t>(stop - start)}, 1, "u8", file + ": " + what), '\0');
  read_run(bytes.get(), H5T_NATIVE_UINT8, static_cast<hsize_t>(start), buf.size(), buf.data(), file,
           "dataset '/" + bytes_name + "'");
  std::vector<std::string> out;
  out.reserve(rows);
  for (size_t i = 0, at = 0; i < rows; ++i) {
    const size_t e = static_cast<size_t>(end[i + lead] - start);
    out.emplace_back(buf, at, e - at);
    at = e;
  }
  return out;
}

}  // namespace qk::h5
