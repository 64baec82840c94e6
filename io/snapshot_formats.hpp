#pragma once
// Format readers and writers behind load_snapshot and save_snapshot (io/snapshot.hpp).
#include <string>

#include "snapshot.hpp"

namespace qk {

// Tensors k, v, q of a safetensors file, converted to f32, and its "__metadata__".
Snapshot read_snapshot_safetensors(const std::string& path);
// Datasets /k, /v, /q of an HDF5 file, converted to f32, and the root's string attributes.
Snapshot read_snapshot_hdf5(const std::string& path);

// f32 tensors k, v, q and the metadata as "__metadata__".
void write_snapshot_safetensors(const Snapshot& snap, const std::string& path);
// f32 datasets /k, /v, /q and the metadata as string attributes of the root.
void write_snapshot_hdf5(const Snapshot& snap, const std::string& path);

}  // namespace qk
