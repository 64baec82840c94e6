#pragma once
// A device-aware view of a tensor owned elsewhere (host or GPU memory): what the
// analyses' entry points accept, so a caller can hand device data without a host round
// trip. The analysis checks a view before reading it (f32_data) and refuses one it
// cannot read, by name; it never copies or reads the wrong memory silently.
#include <cstdint>
#include <string>
#include <vector>

#include "device.hpp"
#include "dtype.hpp"

namespace qk {

struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // in elements; empty: row-major contiguous
  Device device;                 // where `data` lives (cpu: host memory)

  int64_t numel() const;
  bool contiguous() const;  // row-major without gaps
};

// A host view of a row-major f32 array of `shape`.
TensorView host_view(const float* data, std::vector<int64_t> shape);

// The data of `v` for an analysis that reads f32 of rank `rank`, row-major, in host
// memory (device_ok: or in the memory of `runs_on` when it is that CUDA device). Throws
// std::invalid_argument naming `what` and the reason for any other view.
const float* f32_data(const TensorView& v, size_t rank, const Device& runs_on, bool device_ok,
                      const std::string& what);

}  // namespace qk
