#pragma once
// Whether an HDF5 file holds what a dataset declares: a damaged or hostile file may
// declare a shape of 2^60 elements with no data behind it. Every reader that allocates
// from a declared shape checks it here first.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace qk::h5 {

// "[2, 3, 4]".
std::string shape_text(const std::vector<hsize_t>& dims);

// Element count of `dims`; InputError(where, "declares shape [...]: ...") when it
// overflows, or when its copy in memory (`mem_esize` bytes per element, named `as`, e.g.
// "f32") would not fit in this machine's memory.
uint64_t checked_count(const std::vector<hsize_t>& dims, size_t mem_esize, const char* as,
                       const std::string& where);

// checked_count, then InputError(where) unless its file holds every element of dataset
// `ds` of shape `dims` (`file_esize` bytes each): a contiguous or compact dataset stores
// count * file_esize bytes inside the file, a chunked one has every chunk of its shape
// written. Returns the count. Nothing is allocated before it passes.
uint64_t require_stored(hid_t ds, const std::vector<hsize_t>& dims, size_t file_esize, size_t mem_esize,
                        const char* as, const std::string& where);

// InputError(file, "dataset '/name' has R rows, fewer than the `rows` committed ones
// ...") when dataset `ds` has fewer than `rows` rows (its first dimension).
void require_rows(hid_t ds, uint64_t rows, const std::string& file, const std::string& name);

}  // namespace qk::h5
