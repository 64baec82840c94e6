#include "h5_stored.hpp"

#include <unistd.h>

#include <algorithm>

#include "h5_util.hpp"
#include "input_error.hpp"

namespace qk::h5 {

std::string shape_text(const std::vector<hsize_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

uint64_t checked_count(const std::vector<hsize_t>& dims, size_t mem_esize, const char* as,
                       const std::string& where) {
  const uint64_t esize = std::max<uint64_t>(mem_esize, 8);  // also bounds count * file_esize
  uint64_t n = 1;
  for (hsize_t d : dims) {
    if (d != 0 && n > UINT64_MAX / esize / d)
      throw InputError(where, "declares shape " + shape_text(dims) + ": too many elements");
    n *= d;
  }
  const uint64_t memory =
      static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGE_SIZE));
  if (n * mem_esize > memory)
    throw InputError(where, "declares shape " + shape_text(dims) + ": " +
                                std::to_string(n * mem_esize >> 20) + " MiB as " + as +
                                ", more than this machine's " + std::to_string(memory >> 20) +
                                " MiB of memory");
  return n;
}

namespace {

// InputError(where) unless chunked dataset `ds` (creation list `dcpl`) has every chunk
// of its shape `dims` written.
void require_chunks(hid_t ds, hid_t dcpl, const std::vector<hsize_t>& dims, const std::string& declared,
                    const std::string& where) {
  const int rank = static_cast<int>(dims.size());
  std::vector<hsize_t> chunk(dims.size(), 0);
  hsize_t have = 0;
  const Id space(H5Dget_space(ds));  // (HDF5 1.10 refuses H5S_ALL here)
  if ((rank > 0 && H5Pget_chunk(dcpl, rank, chunk.data()) != rank) ||
      H5Dget_num_chunks(ds, space.get(), &have) < 0)
    throw InputError(where, "cannot read its chunk layout (corrupt file?)");
  uint64_t want = 1;
  for (int i = 0; i < rank; ++i) {
    if (chunk[static_cast<size_t>(i)] == 0)
      throw InputError(where, "has a chunk dimension of 0 (corrupt file?)");
    want *=
        (dims[static_cast<size_t>(i)] + chunk[static_cast<size_t>(i)] - 1) / chunk[static_cast<size_t>(i)];
  }
  if (have < want)
    throw InputError(where, declared + " but stores " + std::to_string(have) + " of its " +
                                std::to_string(want) + " chunks (truncated or never written)");
}

}  // namespace

uint64_t require_stored(hid_t ds, const std::vector<hsize_t>& dims, size_t file_esize, size_t mem_esize,
                        const char* as, const std::string& where) {
  const uint64_t n = checked_count(dims, mem_esize, as, where);
  if (n == 0) return 0;
  const uint64_t bytes = n * file_esize;
  const std::string declared =
      "declares shape " + shape_text(dims) + " (" + std::to_string(bytes) + " bytes)";
  const Id dcpl(H5Dget_create_plist(ds));
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout == H5D_CHUNKED) {
    require_chunks(ds, dcpl.get(), dims, declared, where);
    return n;
  }
  if (layout != H5D_CONTIGUOUS && layout != H5D_COMPACT)
    throw InputError(where, "has a storage layout other than contiguous, chunked or compact");
  const uint64_t stored = H5Dget_storage_size(ds);
  hsize_t file_size = 0;
  const Id file(H5Iget_file_id(ds));
  H5Fget_filesize(file.get(), &file_size);
  const haddr_t at = layout == H5D_CONTIGUOUS ? H5Dget_offset(ds) : 0;
  if (at == HADDR_UNDEF || stored == 0)
    throw InputError(where, declared + " but stores no data (never written)");
  if (stored < bytes)
    throw InputError(where, declared + " but stores " + std::to_string(stored) + " bytes (corrupt file?)");
  if (at > file_size || bytes > file_size - at)
    throw InputError(where, declared + " but its data lies past the end of the file (truncated?)");
  return n;
}

void require_rows(hid_t ds, uint64_t rows, const std::string& file, const std::string& name) {
  const std::vector<hsize_t> dims = dataset_dims(ds, file, name);
  const uint64_t have = dims.empty() ? 0 : dims[0];
  if (have < rows)
    throw InputError(file, "dataset '/" + name + "' has " + std::to_string(have) + " rows, fewer than the " +
                               std::to_string(rows) + " committed ones: not a consistent results store");
}

}  // namespace qk::h5
