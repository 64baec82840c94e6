#include "safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "input_error.hpp"

namespace qk {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the format's own cap (100 MB)

// Product of dims times itemsize, or throws on a negative dim or overflow.
uint64_t byte_size(const std::string& where, const std::vector<int64_t>& shape, size_t item) {
  uint64_t n = item;
  for (int64_t d : shape) {
    if (d < 0) throw InputError(where, "negative dimension in shape");
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d))
      throw InputError(where, "shape overflows 64-bit size");
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

TensorInfo parse_entry(const std::string& path, const std::string& name,
                       const nlohmann::json& e) {
  const std::string where = path + ": tensor '" + name + "'";
  if (!e.is_object()) throw InputError(where, "header entry is not an object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!e.contains(key)) throw InputError(where, std::string("header entry lacks '") + key + "'");
  TensorInfo t;
  t.name = name;
  if (!e["dtype"].is_string()) throw InputError(where, "dtype is not a string");
  const std::string dt = e["dtype"].get<std::string>();
  const auto parsed = dtype_from_name(dt);
  if (!parsed) throw InputError(where, "unknown dtype '" + dt + "'");
  t.dtype = *parsed;
  const auto& shape = e["shape"];
  if (!shape.is_array()) throw InputError(where, "shape is not an array");
  for (const auto& d : shape) {
    if (!d.is_number_integer()) throw InputError(where, "shape holds a non-integer");
    t.shape.push_back(d.get<int64_t>());
  }
  const auto& off = e["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned())
    throw InputError(where, "data_offsets is not a pair of non-negative integers");
  t.begin = off[0].get<uint64_t>();
  t.end = off[1].get<uint64_t>();
  if (t.end < t.begin) throw InputError(where, "data_offsets end before they begin");
  const uint64_t want = byte_size(where, t.shape, dtype_size(t.dtype));
  if (t.end - t.begin != want)
    throw InputError(where, "data_offsets span " + std::to_string(t.end - t.begin) +
                                " bytes but dtype and shape need " + std::to_string(want));
  return t;
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafeTensorsFile::SafeTensorsFile(const std::string& path)
    : file_(std::make_shared<MappedFile>(path)) {
  const uint64_t size = file_->size();
  if (size < 8) throw InputError(path, "truncated: " + std::to_string(size) +
                                           " bytes, shorter than the 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | file_->data()[i];
  if (header_len > kMaxHeaderBytes)
    throw InputError(path, "header length " + std::to_string(header_len) +
                               " exceeds the 100 MB limit (not a safetensors file?)");
  if (header_len > size - 8)
    throw InputError(path, "header length " + std::to_string(header_len) +
                               " is longer than the file (" + std::to_string(size) + " bytes)");
  const char* hbegin = reinterpret_cast<const char*>(file_->data() + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(hbegin, hbegin + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) throw InputError(path, "header is not a JSON object");
  data_ = file_->data() + 8 + header_len;
  data_size_ = size - 8 - header_len;

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw InputError(path, "__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) throw InputError(path, "__metadata__ value '" + k + "' is not a string");
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    TensorInfo t = parse_entry(path, name, entry);
    if (t.end > data_size_)
      throw InputError(path + ": tensor '" + name + "'",
                       "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                           ") run past the end of the data (" + std::to_string(data_size_) +
                           " bytes): file truncated?");
    tensors_.emplace(name, std::move(t));
  }

  std::vector<const TensorInfo*> order;
  for (const auto& [n, t] : tensors_)
    if (t.end > t.begin) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < order.size(); ++i)
    if (order[i]->begin < order[i - 1]->end)
      throw InputError(path, "tensors '" + order[i - 1]->name + "' and '" + order[i]->name +
                                 "' have overlapping data_offsets");
}

const TensorInfo& SafeTensorsFile::info(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) throw InputError(path(), "no tensor named '" + name + "'");
  return it->second;
}

std::vector<std::string> SafeTensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& [n, t] : tensors_) out.push_back(n);
  return out;
}

}  // namespace qk
