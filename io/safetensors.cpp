#include "safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "input_error.hpp"
#include "json_int.hpp"

namespace qk {

namespace {

using Json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference's MAX_HEADER_SIZE
constexpr size_t kMaxDepth = 127;                  // deepest nesting serde_json (the reference) accepts

// Every dtype name the reference accepts, with its size in bits.
struct RefDType {
  const char* name;
  uint64_t bits;
};
constexpr RefDType kRefDTypes[] = {
    {"BOOL", 8},    {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6},     {"U8", 8},          {"I8", 8},
    {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8}, {"I16", 16},
    {"U16", 16},    {"F16", 16},    {"BF16", 16},   {"I32", 32},        {"U32", 32},        {"F32", 32},
    {"C64", 64},    {"F64", 64},    {"I64", 64},    {"U64", 64},
};

std::optional<uint64_t> dtype_bits(const std::string& name) {
  for (const RefDType& d : kRefDTypes)
    if (name == d.name) return d.bits;
  return std::nullopt;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// nlohmann's error text without its "[json.exception...] " tag, with control and
// non-ASCII bytes (it quotes the bytes last read) written as \xNN.
std::string printable(const std::string& what) {
  const size_t tag = what.rfind("[json.exception", 0) == 0 ? what.find("] ") : std::string::npos;
  const std::string text = tag == std::string::npos ? what : what.substr(tag + 2);
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// The header text before JSON parsing: bytes nlohmann would take but the reference refuses
// (a NUL ends nlohmann's input early; a UTF-8 byte-order mark is skipped by nlohmann).
void check_header_bytes(const std::string& path, const char* text, uint64_t len) {
  const void* nul = std::memchr(text, 0, len);
  if (nul != nullptr)
    throw InputError(path, "header holds a NUL byte at offset " +
                               std::to_string(static_cast<const char*>(nul) - text) + ": not valid JSON");
  if (len >= 3 && std::memcmp(text, "\xEF\xBB\xBF", 3) == 0)
    throw InputError(path, "header starts with a UTF-8 byte-order mark: not valid JSON");
}

// One open object or array while parsing: the keys seen so far and the key that holds it.
struct Frame {
  std::set<std::string> keys;
  std::string last_key;
  std::string owner;
};

[[noreturn]] void duplicate_key(const std::string& path, const std::vector<Frame>& stack,
                                const std::string& key) {
  if (stack.size() == 1)
    throw InputError(path, (key == "__metadata__" ? std::string("__metadata__") : "tensor " + quoted(key)) +
                               " appears twice in the header");
  const std::string owner = stack.back().owner;
  const std::string in = owner == "__metadata__" ? "__metadata__" : "the entry of tensor " + quoted(owner);
  throw InputError(path, in + " holds the key " + quoted(key) + " twice");
}

// The header as JSON; refuses duplicate keys at any depth (nlohmann would keep the last)
// and nesting deeper than the reference's limit.
Json parse_header(const std::string& path, const char* text, uint64_t len) {
  check_header_bytes(path, text, len);
  std::vector<Frame> stack;
  const Json::parser_callback_t check = [&](int, Json::parse_event_t event, Json& parsed) {
    using E = Json::parse_event_t;
    if (event == E::object_start || event == E::array_start) {
      if (stack.size() >= kMaxDepth)
        throw InputError(path, "header nests deeper than " + std::to_string(kMaxDepth) + " levels");
      stack.push_back({{}, {}, stack.empty() ? std::string() : stack.back().last_key});
    } else if (event == E::object_end || event == E::array_end) {
      stack.pop_back();
    } else if (event == E::key) {
      const std::string key = parsed.get<std::string>();
      if (!stack.back().keys.insert(key).second) duplicate_key(path, stack, key);
      stack.back().last_key = key;
    }
    return true;
  };
  try {
    return Json::parse(text, text + len, check);
  } catch (const Json::exception& e) {
    throw InputError(path, "header is not valid JSON: " + printable(e.what()));
  }
}

std::vector<int64_t> parse_shape(const std::string& where, const Json& shape) {
  if (!shape.is_array()) throw InputError(where, "shape is not an array");
  std::vector<int64_t> out;
  for (const Json& d : shape) {
    if (d.is_number_integer() && !d.is_number_unsigned())
      throw InputError(where, "negative dimension " + d.dump() + " in shape");
    const auto v = json_unsigned(d, std::numeric_limits<int64_t>::max());
    if (!v) throw InputError(where, "shape holds " + d.dump() + ", not an integer in [0, 2^63-1]");
    out.push_back(static_cast<int64_t>(*v));
  }
  return out;
}

// Bytes of a tensor as the reference counts them: elements, times bits, whole bytes.
uint64_t byte_size(const std::string& where, const std::vector<int64_t>& shape, uint64_t bits) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t n = 1;
  for (int64_t d : shape) {
    const auto u = static_cast<uint64_t>(d);
    if (u != 0 && n > kMax / u) throw InputError(where, "shape's element count overflows 64 bits");
    n *= u;
  }
  if (n != 0 && bits > kMax / n) throw InputError(where, "shape's bit count overflows 64 bits");
  if (n * bits % 8 != 0)
    throw InputError(where, std::to_string(n) + " elements of " + std::to_string(bits) +
                                " bits are not a whole number of bytes");
  return n * bits / 8;
}

// One tensor entry; `dtype` receives its dtype name.
TensorInfo parse_entry(const std::string& where, const std::string& name, const Json& e, std::string& dtype) {
  if (!e.is_object()) throw InputError(where, "header entry is not an object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!e.contains(key)) throw InputError(where, std::string("header entry lacks '") + key + "'");
  if (!e["dtype"].is_string()) throw InputError(where, "dtype is not a string");
  dtype = e["dtype"].get<std::string>();
  const auto bits = dtype_bits(dtype);
  if (!bits) throw InputError(where, "unknown dtype '" + dtype + "'");
  TensorInfo t;
  t.name = name;
  t.dtype = dtype_from_name(dtype).value_or(DType::U8);
  t.shape = parse_shape(where, e["shape"]);
  const Json& off = e["data_offsets"];
  constexpr uint64_t kAny = std::numeric_limits<uint64_t>::max();
  if (!off.is_array() || off.size() != 2 || !json_unsigned(off[0], kAny) || !json_unsigned(off[1], kAny))
    throw InputError(where, "data_offsets is not a pair of integers in [0, 2^64-1]");
  t.begin = off[0].get<uint64_t>();
  t.end = off[1].get<uint64_t>();
  if (t.end < t.begin) throw InputError(where, "data_offsets end before they begin");
  const uint64_t want = byte_size(where, t.shape, *bits);
  if (t.end - t.begin != want)
    throw InputError(where, "data_offsets span " + std::to_string(t.end - t.begin) +
                                " bytes but dtype and shape need " + std::to_string(want));
  return t;
}

// Requires the byte ranges, sorted, to follow each other from 0 to data_size with no gap,
// no overlap and nothing after the last (the reference's rule).
void require_tiling(const std::string& path, std::vector<const TensorInfo*> order, uint64_t data_size) {
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t at = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo* t : order) {
    if (t->begin < at)
      throw InputError(path, "tensors " + quoted(prev->name) + " and " + quoted(t->name) +
                                 " have overlapping data_offsets");
    if (t->begin > at)
      throw InputError(path,
                       std::to_string(t->begin - at) + " unused bytes " +
                           (prev ? "between tensors " + quoted(prev->name) + " and " : "before tensor ") +
                           quoted(t->name) + " (data_offsets must cover the data exactly)");
    at = t->end;
    prev = t;
  }
  if (at < data_size)
    throw InputError(path, std::to_string(data_size - at) + " unused bytes after " +
                               (prev ? "the last tensor " + quoted(prev->name) : std::string("the header")) +
                               " (trailing data not owned by any tensor)");
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafeTensorsFile::SafeTensorsFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  const uint64_t size = file_->size();
  if (size < 8)
    throw InputError(path,
                     "truncated: " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | file_->data()[i];
  if (header_len > kMaxHeaderBytes)
    throw InputError(path, "header length " + std::to_string(header_len) +
                               " exceeds the 100,000,000-byte limit (not a safetensors file?)");
  if (header_len > size - 8)
    throw InputError(path, "header length " + std::to_string(header_len) + " is longer than the file (" +
                               std::to_string(size) + " bytes)");
  const Json header = parse_header(path, reinterpret_cast<const char*>(file_->data() + 8), header_len);
  if (!header.is_object()) throw InputError(path, "header is not a JSON object");
  data_ = file_->data() + 8 + header_len;
  data_size_ = size - 8 - header_len;

  std::vector<const TensorInfo*> all;
  std::vector<TensorInfo> unreadable;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (entry.is_null()) continue;
      if (!entry.is_object()) throw InputError(path, "__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) throw InputError(path, "__metadata__ value '" + k + "' is not a string");
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = path + ": tensor " + quoted(name);
    std::string dtype;
    TensorInfo t = parse_entry(where, name, entry, dtype);
    if (t.end > data_size_)
      throw InputError(where, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                  ") run past the end of the data (" + std::to_string(data_size_) +
                                  " bytes): file truncated?");
    if (dtype_from_name(dtype)) {
      all.push_back(&tensors_.emplace(name, std::move(t)).first->second);
    } else {
      unreadable_.emplace(name, dtype);
      unreadable.push_back(std::move(t));
    }
  }
  for (const TensorInfo& t : unreadable) all.push_back(&t);
  require_tiling(path, std::move(all), data_size_);
}

bool SafeTensorsFile::has(const std::string& name) const {
  return tensors_.count(name) != 0 || unreadable_.count(name) != 0;
}

const TensorInfo& SafeTensorsFile::info(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it != tensors_.end()) return it->second;
  const auto other = unreadable_.find(name);
  if (other != unreadable_.end())
    throw InputError(path() + ": tensor " + quoted(name),
                     "dtype " + other->second + " is valid safetensors but not one qkgeom reads");
  throw InputError(path(), "no tensor named '" + name + "'");
}

std::vector<std::string> SafeTensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& [n, t] : tensors_) out.push_back(n);
  for (const auto& [n, d] : unreadable_) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

void require_unique_tensor_names(const std::vector<const SafeTensorsFile*>& shards) {
  std::map<std::string, const SafeTensorsFile*> owner;
  for (const SafeTensorsFile* f : shards)
    for (const std::string& name : f->names()) {
      const auto [it, fresh] = owner.emplace(name, f);
      if (!fresh)
        throw InputError(f->path() + ": tensor " + quoted(name),
                         "also in " + it->second->path() + " (a tensor must be in one shard only)");
    }
}

}  // namespace qk
