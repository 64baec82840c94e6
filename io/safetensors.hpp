#pragma once
// Safetensors reader over mmap: 8-byte little-endian header length N, N bytes of
// JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data section. The header is checked on open as strictly as the reference
// reader (safetensors 0.8, docs/snapshot-format.md): no duplicate keys, every dtype,
// shape and offset valid, and the tensors' byte ranges tile the data section exactly.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dtype.hpp"
#include "mapped_file.hpp"

namespace qk {

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
  int64_t numel() const;
};

class SafeTensorsFile {
 public:
  // Opens and validates `path`; throws InputError naming the file and the problem.
  explicit SafeTensorsFile(const std::string& path);

  const std::string& path() const { return file_->path(); }
  // True for every tensor of the header, readable dtype or not.
  bool has(const std::string& name) const;
  // Throws InputError when the tensor is absent or its dtype is one qkgeom does not read
  // (a valid safetensors dtype outside DType, e.g. U16 or F4).
  const TensorInfo& info(const std::string& name) const;
  // Pointer to the tensor's bytes (size end - begin); valid while this object lives.
  const uint8_t* data(const TensorInfo& t) const { return data_ + t.begin; }
  // Every tensor name of the header, sorted.
  std::vector<std::string> names() const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::shared_ptr<MappedFile> file_;
  const uint8_t* data_ = nullptr;
  uint64_t data_size_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> unreadable_;  // name -> dtype name qkgeom does not read
  std::map<std::string, std::string> metadata_;
};

// Throws InputError naming both files when a tensor name appears in more than one of the
// shards of one checkpoint (HF transformers takes whichever shard it reads last).
void require_unique_tensor_names(const std::vector<const SafeTensorsFile*>& shards);

}  // namespace qk
