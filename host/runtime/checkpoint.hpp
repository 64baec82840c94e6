#pragma once
// A Hugging Face model directory (io/hf_weights.hpp) whose tensors come out as torch
// tensors on the asked device and dtype.
//
// Memory: a tensor is viewed in place over the mapping (torch::from_blob) and converted
// with one .to(device, dtype), so only the converted copy is held. When the view already
// has the asked device (CPU) and dtype, it is returned as is: it then keeps the shard's
// mapping alive for as long as the tensor lives (the mapping is read-only: such weights
// must never be written in place). Either way no second copy of a weight exists.
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "hf_weights.hpp"

namespace qk {

class Checkpoint {
 public:
  // Reads `dir`/config.json and the shard list; throws InputError naming the file.
  explicit Checkpoint(const std::string& dir) : weights_(dir) {}

  const ModelConfig& config() const { return weights_.config(); }
  const std::string& dir() const { return weights_.dir(); }
  bool has(const std::string& name) const { return weights_.has(name); }

  // The dtype HF's dtype="auto" takes when config.json names none: the first floating
  // tensor's (by name) in the first shard (by file name).
  DType first_float_dtype() { return weights_.first_float_dtype(); }

  // The tensor `name` with exactly `shape`, as `dtype` on `device`. Throws InputError
  // naming the shard and the tensor when it is absent, mis-shaped or not a float tensor.
  at::Tensor load(const std::string& name, const std::vector<int64_t>& shape, c10::Device device,
                  c10::ScalarType dtype);

 private:
  HfWeights weights_;
};

}  // namespace qk
