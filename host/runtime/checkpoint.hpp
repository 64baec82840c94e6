#pragma once
// A Hugging Face model directory: config.json plus model.safetensors, or (only when that
// file is absent, as HF) shards listed in model.safetensors.index.json. Shards are mmap'd
// when a tensor in them is first asked for; tensors come out as torch tensors on the
// asked device and dtype.
//
// Memory: a tensor is viewed in place over the mapping (torch::from_blob) and converted
// with one .to(device, dtype), so only the converted copy is held. When the view already
// has the asked device (CPU) and dtype, it is returned as is: it then keeps the shard's
// mapping alive for as long as the tensor lives (the mapping is read-only: such weights
// must never be written in place). Either way no second copy of a weight exists.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "hf_config.hpp"

namespace qk {

class SafeTensorsFile;

class Checkpoint {
 public:
  // Reads `dir`/config.json and the shard list; throws InputError naming the file.
  explicit Checkpoint(const std::string& dir);
  ~Checkpoint();

  const ModelConfig& config() const { return config_; }
  const std::string& dir() const { return dir_; }
  bool has(const std::string& name) const { return shard_of_.count(name) != 0; }

  // The dtype HF's dtype="auto" takes when config.json names none: the first floating
  // tensor's (by name) in the first shard (by file name).
  DType first_float_dtype();

  // The tensor `name` with exactly `shape`, as `dtype` on `device`. Throws InputError
  // naming the shard and the tensor when it is absent, mis-shaped or not a float tensor.
  at::Tensor load(const std::string& name, const std::vector<int64_t>& shape,
                  c10::Device device, c10::ScalarType dtype);

 private:
  std::shared_ptr<SafeTensorsFile> shard(const std::string& file);

  std::string dir_;
  std::string listing_;  // the index json, or model.safetensors when there is no index
  ModelConfig config_;
  std::map<std::string, std::string> shard_of_;  // tensor name -> shard file name
  std::map<std::string, std::shared_ptr<SafeTensorsFile>> open_;
};

}  // namespace qk
