#pragma once
// Format readers behind load_snapshot (io/snapshot.hpp).
#include <string>

#include "snapshot.hpp"

namespace qk {

// Tensors k, v, q of a safetensors file, converted to f32.
Snapshot read_snapshot_safetensors(const std::string& path);
// Datasets /k, /v, /q of an HDF5 file, converted to f32.
Snapshot read_snapshot_hdf5(const std::string& path);

}  // namespace qk
