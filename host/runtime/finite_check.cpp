#include "finite_check.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "dtype.hpp"
#include "input_error.hpp"
#include "json_limits.hpp"
#include "safetensors.hpp"

namespace qk {

namespace {

namespace fs = std::filesystem;

// Exponent all ones: NaN or +-Inf (a bit test, so no compiler flag can drop it).
inline bool bad_bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return (b & 0x7f800000u) == 0x7f800000u;
}

// Index of the first non-finite value of x[0..n) (n when none) and their count.
int64_t first_bad(const float* x, int64_t n, int64_t* count) {
  int64_t first = n, c = 0;
  for (int64_t i = 0; i < n; ++i)
    if (bad_bits(x[i])) {
      if (first == n) first = i;
      ++c;
    }
  *count = c;
  return first;
}

std::string value_str(float x) {
  if (x != x) return "nan";
  return x > 0 ? "inf" : "-inf";
}

std::string join(const std::vector<int64_t>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + std::to_string(v[i]);
  return s;
}

// The row-major multi-index of flat offset i in `shape`.
std::vector<int64_t> unravel(int64_t i, const std::vector<int64_t>& shape) {
  std::vector<int64_t> index(shape.size(), 0);
  for (size_t d = shape.size(); d-- > 0;) {
    const int64_t n = std::max<int64_t>(shape[d], 1);
    index[d] = i % n;
    i /= n;
  }
  return index;
}

// The safetensors file of each tensor a checkpoint directory loads: model.safetensors
// when present (HF prefers it), else the shards the index lists. The same rule as
// Checkpoint's; read again here because only failure paths need it.
std::map<std::string, std::string> checkpoint_files(const std::string& dir) {
  std::map<std::string, std::string> file_of;  // tensor -> file path
  const fs::path single = fs::path(dir) / "model.safetensors";
  if (fs::exists(single)) {
    const SafeTensorsFile f(single.string());
    for (const std::string& n : f.names()) file_of[n] = single.string();
    return file_of;
  }
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  if (!fs::exists(index)) throw InputError(dir, "no model.safetensors or model.safetensors.index.json");
  const nlohmann::json j = parse_json_file(index.string());
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw InputError(index.string(), "lacks the object 'weight_map'");
  for (const auto& [name, file] : j["weight_map"].items())
    if (file.is_string()) file_of[name] = (fs::path(dir) / file.get<std::string>()).string();
  return file_of;
}

// First non-finite value of one tensor of an open file, read in chunks as f32.
std::optional<NonFiniteWeight> scan_tensor(const SafeTensorsFile& f, const TensorInfo& t) {
  constexpr int64_t kChunk = 1 << 16;
  std::vector<float> buf(static_cast<size_t>(kChunk));
  const int64_t n = t.numel();
  const size_t esize = dtype_size(t.dtype);
  NonFiniteWeight w;
  int64_t first = -1;
  for (int64_t at = 0; at < n; at += kChunk) {
    const int64_t m = std::min(kChunk, n - at);
    convert_to_f32(t.dtype, f.data(t) + static_cast<size_t>(at) * esize, static_cast<size_t>(m), buf.data());
    int64_t c = 0;
    const int64_t i = first_bad(buf.data(), m, &c);
    if (c > 0 && first < 0) {
      first = at + i;
      w.value = buf[static_cast<size_t>(i)];
    }
    w.count += c;
  }
  if (first < 0) return std::nullopt;
  w.file = f.path();
  w.tensor = t.name;
  w.index = unravel(first, t.shape);
  return w;
}

}  // namespace

bool all_finite(const float* x, int64_t n) {
  uint32_t any = 0;
  for (int64_t i = 0; i < n; ++i) any |= bad_bits(x[i]) ? 1u : 0u;
  return any == 0;
}

std::optional<NonFiniteValue> first_nonfinite(const Snapshot& snap) {
  const std::pair<const char*, const Tensor4f*> tensors[] = {
      {"q", snap.q ? &*snap.q : nullptr}, {"k", &snap.k}, {"v", snap.v ? &*snap.v : nullptr}};
  for (int64_t l = 0; l < snap.k.shape[0]; ++l)
    for (const auto& [name, t] : tensors) {
      if (t == nullptr || l >= t->shape[0]) continue;
      const int64_t per_head = t->shape[2] * t->shape[3], per_layer = t->shape[1] * per_head;
      const float* x = t->data.data() + l * per_layer;
      if (all_finite(x, per_layer)) continue;
      NonFiniteValue v;
      v.tensor = name;
      v.layer = l;
      const int64_t i = first_bad(x, per_layer, &v.count);
      v.head = i / per_head;
      v.position = i % per_head / t->shape[3];
      v.dim = i % t->shape[3];
      v.value = x[i];
      for (int64_t h = 0; h < t->shape[1]; ++h)
        if (!all_finite(x + h * per_head, per_head)) v.heads.push_back(h);
      return v;
    }
  return std::nullopt;
}

std::vector<uint8_t> nonfinite_heads(const Tensor4f& t) {
  const int64_t per_head = t.shape[2] * t.shape[3];
  std::vector<uint8_t> bad(static_cast<size_t>(t.shape[0] * t.shape[1]), 0);
  for (size_t i = 0; i < bad.size(); ++i)
    bad[i] = all_finite(t.data.data() + static_cast<int64_t>(i) * per_head, per_head) ? 0 : 1;
  return bad;
}

std::string describe_nonfinite(const NonFiniteValue& v, int q_heads, int kv_heads) {
  const bool q = v.tensor == "q";
  std::string s = "layer " + std::to_string(v.layer) + " " + v.tensor + ": " + std::to_string(v.count) +
                  " non-finite value(s) in " + (q ? "query" : "KV") + " head(s) " + join(v.heads, ", ");
  if (!q && kv_heads > 0 && q_heads >= kv_heads) {
    const int64_t g = q_heads / kv_heads;
    std::vector<int64_t> served;
    for (int64_t h : v.heads)
      for (int64_t x = h * g; x < (h + 1) * g; ++x) served.push_back(x);
    s += " (read by query head(s) " + join(served, ", ") + ")";
  }
  return s + ", first " + v.tensor + "[" + std::to_string(v.layer) + ", " + std::to_string(v.head) + ", " +
         std::to_string(v.position) + ", " + std::to_string(v.dim) + "] = " + value_str(v.value) +
         " ([layer, head, position, dim])";
}

std::optional<NonFiniteWeight> first_nonfinite_weight(const std::string& model_dir) {
  std::set<std::string> files;
  for (const auto& [name, file] : checkpoint_files(model_dir)) files.insert(file);
  for (const std::string& path : files) {
    const SafeTensorsFile f(path);
    for (const std::string& name : f.names()) {
      const TensorInfo* t = nullptr;
      try {
        t = &f.info(name);
      } catch (const InputError&) {
        continue;  // a dtype qkgeom does not read: not a weight it uses
      }
      if (!is_float_vector_dtype(t->dtype)) continue;
      if (auto w = scan_tensor(f, *t)) return w;
    }
  }
  return std::nullopt;
}

std::string describe_weight(const NonFiniteWeight& w) {
  return w.file + ": tensor '" + w.tensor + "': " + std::to_string(w.count) +
         " non-finite value(s), first at [" + join(w.index, ", ") + "] = " + value_str(w.value);
}

void check_finite_weight(const std::string& model_dir, const std::string& name, const float* data,
                         const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  if (all_finite(data, n)) return;
  NonFiniteWeight w;
  const int64_t first = first_bad(data, n, &w.count);
  w.value = data[first];
  w.tensor = name;
  w.index = unravel(first, shape);
  const auto files = checkpoint_files(model_dir);
  const auto it = files.find(name);
  w.file = it != files.end() ? it->second : model_dir;
  throw InputError(describe_weight(w), "the weights must be finite");
}

std::string nonfinite_cause(const std::string& model_dir, const std::string& dtype, bool* bad_input) {
  std::optional<NonFiniteWeight> w;
  std::string scan_error;
  try {
    w = first_nonfinite_weight(model_dir);
  } catch (const std::exception& e) {
    scan_error = std::string(" (the weights could not be scanned: ") + e.what() + ")";
  }
  if (w) {
    *bad_input = true;
    return "the checkpoint holds a non-finite weight: " + describe_weight(*w);
  }
  if (dtype == "f16" || dtype == "bf16") {
    *bad_input = false;
    return "the weights are finite" + scan_error + ", so the activations overflow " + dtype +
           (dtype == "f16" ? " (largest finite 65504); rerun with --dtype f32 (or bf16)"
                           : "; rerun with --dtype f32");
  }
  *bad_input = true;
  return "the weights are finite" + scan_error +
         " but the f32 activations are not: check config.json (e.g. a layer_norm_eps or "
         "rms_norm_eps <= 0) and the scale of the weights";
}

void throw_nonfinite_forward(const std::string& what, const NonFiniteValue& first, const Snapshot& snap,
                             const std::string& model_dir, const std::string& dtype) {
  bool bad_input = true;
  const std::string cause = nonfinite_cause(model_dir, dtype, &bad_input);
  const std::string msg = what + "the " + dtype + " forward pass goes non-finite at " +
                          describe_nonfinite(first, snap.q ? snap.q->heads() : 0, snap.k.heads()) + "; " +
                          cause;
  if (bad_input) throw InputError(model_dir, msg);
  throw std::runtime_error(model_dir + ": " + msg);
}

void check_capture_finite(const Snapshot& snap, const std::string& model_dir) {
  const std::optional<NonFiniteValue> first = first_nonfinite(snap);
  if (!first) return;
  const auto it = snap.metadata.find("dtype");
  throw_nonfinite_forward("", *first, snap, model_dir, it != snap.metadata.end() ? it->second : "f32");
}

}  // namespace qk
