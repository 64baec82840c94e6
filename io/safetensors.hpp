#pragma once
// Safetensors reader over mmap: 8-byte little-endian header length N, N bytes of
// JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data section. Every offset, shape and size is checked on open.
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
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws InputError when the tensor is absent.
  const TensorInfo& info(const std::string& name) const;
  // Pointer to the tensor's bytes (size end - begin); valid while this object lives.
  const uint8_t* data(const TensorInfo& t) const { return data_ + t.begin; }
  std::vector<std::string> names() const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::shared_ptr<MappedFile> file_;
  const uint8_t* data_ = nullptr;
  uint64_t data_size_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace qk
