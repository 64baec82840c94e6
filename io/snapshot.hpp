#pragma once
// Snapshot files: the post-RoPE vectors of one prompt's prefill.
//   k: [layers, kv_heads, seq, head_dim]   required
//   v: same shape as k                      optional
//   q: [layers, q_heads, seq, head_dim]     optional, q_heads a multiple of kv_heads
// Read from safetensors (tensors k, v, q) or HDF5 (datasets /k, /v, /q), each in
// f32, f16 or bf16; held as f32. Any malformed input throws InputError.
#include <array>
#include <cstdint>
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
};

// Reads a snapshot, choosing the format by the file's signature.
Snapshot load_snapshot(const std::string& path);

// Checks ranks, shapes, emptiness and finiteness; throws InputError naming `path`.
void validate_snapshot(const Snapshot& snap);

}  // namespace qk
