#include "hf_weights.hpp"

#include <algorithm>
#include <set>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "input_error.hpp"
#include "json_limits.hpp"

namespace qk {

namespace {

bool file_exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

HfWeights::HfWeights(const std::string& dir) : dir_(dir), config_(load_hf_config(dir)) {
  const std::string index = dir + "/model.safetensors.index.json";
  const std::string single = dir + "/model.safetensors";
  // As HF's from_pretrained: model.safetensors first, the index only without it.
  if (file_exists(single)) {
    listing_ = single;
    const auto file = shard("model.safetensors");
    for (const auto& name : file->names()) shard_of_[name] = "model.safetensors";
  } else if (file_exists(index)) {
    listing_ = index;
    const nlohmann::json j = parse_json_file(index);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw InputError(index, "lacks the object 'weight_map'");
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) throw InputError(index, "weight_map['" + name + "'] is not a string");
      const std::string f = file.get<std::string>();
      if (f.empty() || f.find('/') != std::string::npos)
        throw InputError(index, "weight_map['" + name + "'] is not a file name in the directory");
      shard_of_[name] = f;
    }
    // A name in two shards is ambiguous (HF silently takes the last shard it reads).
    std::set<std::string> files;
    for (const auto& [name, file] : shard_of_) files.insert(file);
    std::vector<const SafeTensorsFile*> shards;
    for (const auto& file : files) shards.push_back(shard(file).get());
    require_unique_tensor_names(shards);
  } else {
    throw InputError(dir, "no model.safetensors or model.safetensors.index.json");
  }
}

std::shared_ptr<SafeTensorsFile> HfWeights::shard(const std::string& file) {
  auto it = open_.find(file);
  if (it != open_.end()) return it->second;
  auto opened = std::make_shared<SafeTensorsFile>(dir_ + "/" + file);
  open_[file] = opened;
  return opened;
}

DType HfWeights::first_float_dtype() {
  if (shard_of_.empty()) return DType::F32;
  std::string first = shard_of_.begin()->second;
  for (const auto& [name, file] : shard_of_) first = std::min(first, file);
  const auto f = shard(first);
  std::vector<std::string> names = f->names();
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    try {
      if (is_float_vector_dtype(f->info(name).dtype)) return f->info(name).dtype;
    } catch (const InputError&) {  // a dtype qkgeom does not read (U16, F4, ...): not F32/F16/BF16
    }
  }
  return DType::F32;
}

WeightView HfWeights::find(const std::string& name, const std::vector<int64_t>& shape) {
  auto where = shard_of_.find(name);
  if (where == shard_of_.end()) throw InputError(listing_, "tensor '" + name + "' is missing");
  WeightView v{shard(where->second), nullptr};
  const std::string tag = v.file->path() + ": tensor '" + name + "'";
  if (!v.file->has(name)) throw InputError(tag, "missing (the index lists it in this shard)");
  v.info = &v.file->info(name);
  if (!is_float_vector_dtype(v.info->dtype))
    throw InputError(
        tag, std::string("unsupported dtype ") + dtype_name(v.info->dtype) + "; supported: F32, F16, BF16");
  if (v.info->shape != shape)
    throw InputError(
        tag, "shape " + shape_str(v.info->shape) + " does not match config.json's " + shape_str(shape));
  return v;
}

std::vector<float> HfWeights::load_f32(const std::string& name, const std::vector<int64_t>& shape) {
  const WeightView v = find(name, shape);
  std::vector<float> out(static_cast<size_t>(v.info->numel()));
  convert_to_f32(v.info->dtype, v.data(), out.size(), out.data());
  return out;
}

}  // namespace qk
