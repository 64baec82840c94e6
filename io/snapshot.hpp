#pragma once
// Snapshot files: the post-RoPE vectors of one prompt's prefill.
//   k: [layers, kv_heads, seq, head_dim]   required
//   v: same shape as k                      optional
//   q: [layers, q_heads, seq, head_dim]     optional, q_heads a multiple of kv_heads
// Read from safetensors (tensors k, v, q) or HDF5 (datasets /k, /v, /q), each in
// f32, f16 or bf16; held as f32. Any malformed input throws InputError. Metadata
// (provenance, the attention the layers ran; docs/snapshot-format.md) is the safetensors
// "__metadata__" object or the HDF5 root's string attributes.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qk {

struct Tensor4f {
  std::array<int64_t, 4> shape{};  // [layers, heads, seq, head_dim]
  std::vector<float> data;         // row-major
  int64_t numel() const { return shape[0] * shape[1] * shape[2] * shape[3]; }
  int layers() const { return static_cast<int>(shape[0]); }
  int heads() const { return static_cast<int>(shape[1]); }
  int64_t seq() const { return shape[2]; }
  int64_t head_dim() const { return shape[3]; }
};

struct Snapshot {
  std::string path;
  Tensor4f k;
  std::optional<Tensor4f> v;
  std::optional<Tensor4f> q;
  std::map<std::string, std::string> metadata;  // string keys to string values
};

enum class SnapshotFormat { Safetensors, Hdf5 };

// The format an output path asks for by its extension: .safetensors, or .h5 / .hdf5.
// Throws std::invalid_argument (a usage error) naming the path for any other.
SnapshotFormat snapshot_format_for(const std::string& path);

// Reads a snapshot, choosing the format by the file's signature.
Snapshot load_snapshot(const std::string& path);

// Checks ranks, shapes, emptiness and finiteness; throws InputError naming `path`.
void validate_snapshot(const Snapshot& snap);

// Writes k, v and q (those present) as f32 with the metadata, in the format the path's
// extension names, via a temporary file renamed into place. Validates first (InputError
// naming snap.path: nothing is written); std::invalid_argument for an unknown extension; I/O failures throw
// std::runtime_error (safetensors) or StoreError (HDF5) naming the file.
void save_snapshot(const Snapshot& snap, const std::string& path);

}  // namespace qk
