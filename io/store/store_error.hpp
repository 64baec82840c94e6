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

}  // namespace qk
