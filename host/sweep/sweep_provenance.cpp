#include "sweep_provenance.hpp"

#include <hdf5.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "file_hash.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"
#include "torch_info.hpp"
#include "qkgeom/version.hpp"

namespace qk {

namespace fs = std::filesystem;

std::string utc_now_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string weights_index_sha256(const std::string& dir) {
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(index)) return sha256_file(index.string());
  const fs::path single = fs::path(dir) / "model.safetensors";
  if (!fs::exists(single)) return "";
  std::ifstream f(single, std::ios::binary);
  uint64_t n = 0;
  f.read(reinterpret_cast<char*>(&n), 8);
  if (!f) throw InputError(single.string(), "cannot read the safetensors header length");
  return sha256_file_prefix(single.string(), 8 + n);
}

Attrs engine_model_attrs(const std::string& command_line, const std::string& model_dir) {
  const fs::path model = fs::absolute(model_dir);
  return {
      {"engine", "qkgeom"},
      {"engine_version", kVersion},
      {"git_sha", kGitSha},
      {"command_line", command_line},
      {"model_path", model.string()},
      {"model_config_sha256", sha256_file((model / "config.json").string())},
      {"model_weights_index_sha256", weights_index_sha256(model.string())},
  };
}

void write_attrs(hid_t obj, const Attrs& attrs, const std::string& file) {
  for (const auto& [k, v] : attrs) h5::write_string_attr(obj, k, v, file);
}

Attrs sweep_attrs(const SweepOptions& o, const std::string& device, const std::string& gpu_name,
                  const std::string& dtype) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  std::string metrics;
  if (o.bo) metrics = "bo";
  if (o.attention) metrics += std::string(metrics.empty() ? "" : ",") + "attention";
  Attrs a = engine_model_attrs(o.command_line, o.model);
  const Attrs rest = {
      {"hostname", host},
      {"probes_path", fs::absolute(o.probes).string()},
      {"probes_sha256", sha256_file(o.probes)},
      {"template", o.templ},
      {"metrics", metrics},
      {"mode", o.lem_compat ? "lem-compat" : "default"},
      {"save_kv", save_kv_name(o.save_kv)},
      {"on_nonfinite", on_nonfinite_name(o.on_nonfinite)},
      {"shard", o.shard.str()},
      {"dtype", dtype},
      {"device", device},
      {"gpu_name", gpu_name},
      {"batch_tokens", std::to_string(o.batch_tokens)},
      {"cpu_threads", std::to_string(torch_info().threads)},
      {"started_at", utc_now_iso8601()},
      {"status", "running"},
  };
  a.insert(a.end(), rest.begin(), rest.end());
  return a;
}

std::map<std::string, std::string> read_root_attrs(const std::string& path) {
  h5::quiet();
  const h5::Id f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!f.ok()) throw InputError(path, "cannot open as HDF5 to read its attributes");
  std::map<std::string, std::string> out;
  for (auto& [k, v] : h5::read_string_attrs(f.get())) out[k] = v;
  return out;
}

void check_resume_compatible(const std::string& path, const std::map<std::string, std::string>& stored,
                             const Attrs& now) {
  static const char* const kMustMatch[] = {
      "model_config_sha256", "model_weights_index_sha256", "probes_sha256", "template",
      "metrics", "mode", "save_kv", "shard", "dtype"};
  for (const char* key : kMustMatch) {
    std::string value;
    for (const auto& [k, v] : now)
      if (k == key) value = v;
    const auto it = stored.find(key);
    if (it == stored.end())
      throw InputError(path, std::string("cannot resume: attribute '") + key + "' is missing; is it a qkgeom sweep store?");
    if (it->second != value)
      throw InputError(path, std::string("cannot resume: attribute '") + key + "' is '" + it->second +
                                 "' in the file but '" + value + "' for this run");
  }
}

}  // namespace qk
