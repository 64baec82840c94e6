// libFuzzer: an HDF5 snapshot (io/snapshot_hdf5.cpp) loaded from the input written to a
// file, then validated. InputError is the expected answer to bad input; anything else
// (a crash, std::bad_alloc, a sanitizer report) is a bug.
#include <cstdint>

#include "fuzz_file.hpp"
#include "input_error.hpp"
#include "snapshot.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qk::fuzz::FuzzFile f(data, size, ".h5");
  try {
    qk::validate_snapshot(qk::load_snapshot(f.path));
  } catch (const qk::InputError&) {
  }
  return 0;
}
