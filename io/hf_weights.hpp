#pragma once
// The weights of a Hugging Face model directory without libtorch: config.json plus
// model.safetensors, or (only when that file is absent, as HF) the shards listed in
// model.safetensors.index.json. Shards are mmap'd when a tensor in them is first asked
// for. The model runtime's Checkpoint (host/runtime) reads through this class.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hf_config.hpp"
#include "safetensors.hpp"

namespace qk {

// A checked float tensor of a shard: its header entry and the shard that holds it.
struct WeightView {
  std::shared_ptr<SafeTensorsFile> file;
  const TensorInfo* info = nullptr;
  const uint8_t* data() const { return file->data(*info); }
};

class HfWeights {
 public:
  // Reads `dir`/config.json and the shard list; throws InputError naming the file.
  explicit HfWeights(const std::string& dir);

  const ModelConfig& config() const { return config_; }
  const std::string& dir() const { return dir_; }
  bool has(const std::string& name) const { return shard_of_.count(name) != 0; }

  // The dtype HF's dtype="auto" takes when config.json names none: the first floating
  // tensor's (by name) in the first shard (by file name).
  DType first_float_dtype();

  // The tensor `name`, checked to have exactly `shape` and an F32 / F16 / BF16 dtype.
  // Throws InputError naming the shard (or the listing) and the tensor otherwise.
  WeightView find(const std::string& name, const std::vector<int64_t>& shape);

  // find(), converted to a row-major f32 host copy.
  std::vector<float> load_f32(const std::string& name, const std::vector<int64_t>& shape);

 private:
  std::shared_ptr<SafeTensorsFile> shard(const std::string& file);

  std::string dir_;
  std::string listing_;  // the index json, or model.safetensors when there is no index
  ModelConfig config_;
  std::map<std::string, std::string> shard_of_;  // tensor name -> shard file name
  std::map<std::string, std::shared_ptr<SafeTensorsFile>> open_;
};

}  // namespace qk
