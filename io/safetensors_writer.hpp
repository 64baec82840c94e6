#pragma once
// Writes safetensors files: header JSON with sorted names and contiguous offsets (and
// "__metadata__" when given), padded with spaces to an 8-byte boundary, then the raw
// little-endian data.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dtype.hpp"

namespace qk {

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // numel * dtype_size bytes
};

// f32 data as a tensor to write.
TensorToWrite f32_tensor(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& data);

// Writes `tensors` and, when not empty, `metadata` as the header's "__metadata__" object
// (strings to strings) to `path`, via a temporary file renamed into place; throws
// std::runtime_error naming the file on any I/O failure.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace qk
