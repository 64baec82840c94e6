#pragma once
// The exception for a results-store operation that failed on the file system or in
// HDF5 (unwritable directory, disk full, file too large): names the file and the step.
// Bad input (wrong columns, a missing file) is InputError instead.
#include <stdexcept>
#include <string>

namespace qk {

class StoreError : public std::runtime_error {
 public:
  StoreError(const std::string& file, const std::string& what) : std::runtime_error(file + ": " + what) {}
};

// What a failure's text says of the disk: 28 (ENOSPC, a full disk), 27 (EFBIG, the
// file-size limit) or 0. HDF5 reports both deep in its error stack ("errno = 28").
inline int disk_full_errno(const std::string& what) {
  if (what.find("No space left") != std::string::npos || what.find("errno = 28") != std::string::npos)
    return 28;
  if (what.find("File too large") != std::string::npos || what.find("errno = 27") != std::string::npos)
    return 27;
  return 0;
}

}  // namespace qk
