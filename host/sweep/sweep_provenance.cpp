#include "sweep_provenance.hpp"

#include <hdf5.h>

#include <cstdio>
#include <filesystem>

#include "file_hash.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"
#include "torch_info.hpp"

namespace qk {

namespace fs = std::filesystem;

Attrs sweep_attrs(const SweepOptions& o, const std::string& device, const std::string& gpu_name,
                  const std::string& dtype, double attention_softcap) {
  std::string metrics;
  if (o.bo) metrics = "bo";
  if (o.attention) metrics += std::string(metrics.empty() ? "" : ",") + "attention";
  Attrs a = engine_model_attrs(o.command_line, o.model);
  const Attrs rest = {
      {"hostname", host_name()},
      {"probes_path", fs::absolute(o.probes).string()},
      {"probes_sha256", sha256_file(o.probes)},
      {"template", o.templ},
      {"metrics", metrics},
      {"mode", o.lem_compat ? "lem-compat" : "default"},
      {"save_kv", save_kv_name(o.save_kv)},
      {"save_kv_dtype", save_kv_dtype_name(o.save_kv_dtype)},
      {"on_nonfinite", on_nonfinite_name(o.on_nonfinite)},
      {"shard", o.shard.str()},
      {"dtype", dtype},
      {"device", device},
      {"gpu_name", gpu_name},
      {"batch_tokens", std::to_string(o.batch_tokens)},
      {"batch_mode", batch_mode_name(o.batch_mode)},
      {"cpu_threads", std::to_string(torch_info().threads)},
      {"started_at", utc_now_iso8601()},
      {"status", "running"},
      // End-of-run attributes (kEndOfRunAttrs), created now: a run only overwrites them.
      {"finished_at", ""},
      {"probes_committed", ""},
  };
  a.insert(a.end(), rest.begin(), rest.end());
  if (o.attention && attention_softcap > 0) {
    char cap[40];
    std::snprintf(cap, sizeof cap, "%.17g", attention_softcap);
    a.emplace_back("attention_logit_softcap", cap);
  }
  return a;
}

std::map<std::string, std::string> read_root_attrs(const std::string& path) {
  const h5::Id f = h5::open_for_read(path);  // SWMR-read for a file a crash left
  std::map<std::string, std::string> out;
  for (auto& [k, v] : h5::read_string_attrs(f.get())) out[k] = v;
  return out;
}

namespace {

// The value of `key` in `attrs`, "" when absent.
std::string attr_of(const Attrs& attrs, const std::string& key) {
  for (const auto& [k, v] : attrs)
    if (k == key) return v;
  return "";
}

// "cuda:1" -> "cuda", "cpu" -> "cpu": the device kind (GPUs of one model are interchangeable).
std::string device_kind(const std::string& device) { return device.substr(0, device.find(':')); }

// The batch mode of a store written before the attribute existed.
const std::map<std::string, std::string> kLoneBatches = {{"batch_mode", "lone"}};
const std::map<std::string, std::string> kF32Kv = {{"save_kv_dtype", "f32"}};

// The attributes that decide the numerics: dtype always; device kind, GPU name and batch
// mode; the CPU thread count on the CPU path (libtorch splits its reductions by it). Not
// under `mixed`, except dtype.
std::vector<std::string> numeric_keys(const std::map<std::string, std::string>& stored, bool mixed) {
  if (mixed) return {"dtype"};
  std::vector<std::string> keys = {"dtype", "device", "gpu_name", "batch_mode"};
  const auto dev = stored.find("device");
  if (dev != stored.end() && dev->second == "cpu") keys.push_back("cpu_threads");
  return keys;
}

}  // namespace

void check_resume_compatible(const std::string& path, const std::map<std::string, std::string>& stored,
                             const Attrs& now, bool mixed_numerics) {
  std::vector<std::string> keys = {"model_config_sha256",
                                   "model_weights_index_sha256",
                                   "probes_sha256",
                                   "template",
                                   "metrics",
                                   "mode",
                                   "save_kv",
                                   "save_kv_dtype",
                                   "shard"};
  for (const std::string& k : numeric_keys(stored, mixed_numerics)) keys.push_back(k);
  for (const std::string& key : keys) {
    std::string value = attr_of(now, key);
    auto it = stored.find(key);
    if (it == stored.end() && key == "batch_mode") it = kLoneBatches.begin();  // stores before it ran lone
    if (it == stored.end() && key == "save_kv_dtype") it = kF32Kv.begin();     // stores before it saved f32
    if (it == stored.end())
      throw InputError(path,
                       "cannot resume: attribute '" + key + "' is missing; is it a qkgeom sweep store?");
    const bool same = key == "device" ? device_kind(it->second) == device_kind(value) : it->second == value;
    if (same) continue;
    std::string m = "cannot resume: attribute '" + key + "' is '" + it->second + "' in the file but '" +
                    value + "' for this run";
    if (key == "batch_mode")
      m += "; pass --batch-mode " + it->second + " (or --allow-mixed-numerics)";
    else if (key == "cpu_threads")
      m += "; CPU results depend on the thread count: omit --threads (a resume then uses the "
           "file's) or pass --allow-mixed-numerics";
    else if (key == "shard" && it->second == "merged")
      m = "cannot resume: it is the output of qkgeom merge; resume the shards it lacks (their own "
          "files, or new ones with --shard) and merge them with it";
    else if (key == "device" || key == "gpu_name")
      m += "; results depend on the device: resume on the same kind, or pass --allow-mixed-numerics";
    throw InputError(path, m);
  }
}

}  // namespace qk
