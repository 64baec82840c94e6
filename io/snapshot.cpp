#include "snapshot.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "input_error.hpp"
#include "snapshot_formats.hpp"

namespace qk {

namespace {

bool has_hdf5_signature(const std::string& path) {
  static const char kSig[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  in.read(head, 8);
  return in.gcount() == 8 && std::memcmp(head, kSig, 8) == 0;
}

std::string shape_str(const Tensor4f& t) {
  return "[" + std::to_string(t.shape[0]) + ", " + std::to_string(t.shape[1]) + ", " +
         std::to_string(t.shape[2]) + ", " + std::to_string(t.shape[3]) + "]";
}

// Throws when t holds NaN or Inf, naming how many and where the first one is.
void check_finite(const std::string& path, const char* name, const Tensor4f& t) {
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.data[static_cast<size_t>(i)])) {
      if (first < 0) first = i;
      ++bad;
    }
  if (bad == 0) return;
  const int64_t d = t.shape[3], s = t.shape[2], h = t.shape[1];
  const int64_t idx[4] = {first / (d * s * h), first / (d * s) % h, first / d % s, first % d};
  throw InputError(path + ": tensor '" + name + "'",
                   std::to_string(bad) + " non-finite value(s) (NaN or Inf), first at [" +
                       std::to_string(idx[0]) + ", " + std::to_string(idx[1]) + ", " +
                       std::to_string(idx[2]) + ", " + std::to_string(idx[3]) +
                       "] = " + std::to_string(t.data[static_cast<size_t>(first)]));
}

}  // namespace

void validate_snapshot(const Snapshot& snap) {
  const std::string& p = snap.path;
  const Tensor4f& k = snap.k;
  for (int i = 0; i < 4; ++i)
    if (k.shape[i] <= 0) throw InputError(p + ": tensor 'k'", "is empty (a dimension is 0)");
  if (k.shape[0] > (1 << 20) || k.shape[1] > (1 << 20))
    throw InputError(p + ": tensor 'k'", "implausible shape " + shape_str(k));
  check_finite(p, "k", k);
  if (snap.v) {
    if (snap.v->shape != k.shape)
      throw InputError(p + ": tensor 'v'", "has shape " + shape_str(*snap.v) + " but 'k' has " +
                                               shape_str(k) + "; they must match");
    check_finite(p, "v", *snap.v);
  }
  if (snap.q) {
    const Tensor4f& q = *snap.q;
    if (q.shape[0] != k.shape[0] || q.shape[2] != k.shape[2] || q.shape[3] != k.shape[3])
      throw InputError(p + ": tensor 'q'", "has shape " + shape_str(q) + ", incompatible with 'k' " +
                                               shape_str(k) + " (layers, seq and head_dim must match)");
    if (q.shape[1] % k.shape[1] != 0)
      throw InputError(p + ": tensor 'q'", std::to_string(q.shape[1]) +
                                               " query heads are not a multiple of " +
                                               std::to_string(k.shape[1]) + " KV heads");
    check_finite(p, "q", q);
  }
}

SnapshotFormat snapshot_format_for(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".safetensors") return SnapshotFormat::Safetensors;
  if (ext == ".h5" || ext == ".hdf5") return SnapshotFormat::Hdf5;
  throw std::invalid_argument(path + ": unknown snapshot file extension '" + ext +
                              "' (use .safetensors, .h5 or .hdf5)");
}

void save_snapshot(const Snapshot& snap, const std::string& path) {
  const SnapshotFormat format = snapshot_format_for(path);
  validate_snapshot(snap);
  if (format == SnapshotFormat::Safetensors)
    write_snapshot_safetensors(snap, path);
  else
    write_snapshot_hdf5(snap, path);
}

Snapshot load_snapshot(const std::string& path) {
  Snapshot s = has_hdf5_signature(path) ? read_snapshot_hdf5(path) : read_snapshot_safetensors(path);
  validate_snapshot(s);
  return s;
}

}  // namespace qk
