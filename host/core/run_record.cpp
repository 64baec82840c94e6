#include "run_record.hpp"

#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>

#include "exec_context.hpp"
#include "file_hash.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"
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
  Attrs a = {{"engine", "qkgeom"},
             {"engine_version", kVersion},
             {"git_sha", kGitSha},
             {"command_line", command_line}};
  if (model_dir.empty()) return a;
  const fs::path model = fs::absolute(model_dir);
  a.push_back({"model_path", model.string()});
  a.push_back({"model_config_sha256", sha256_file((model / "config.json").string())});
  a.push_back({"model_weights_index_sha256", weights_index_sha256(model.string())});
  return a;
}

void write_attrs(hid_t obj, const Attrs& attrs, const std::string& file) {
  for (const auto& [k, v] : attrs) h5::write_string_attr(obj, k, v, file);
}

std::string host_name() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return host;
}

void write_run_record(hid_t root, const std::string& command_line, const std::string& model_dir,
                      const RunPlace& place, const std::string& file) {
  write_attrs(root, engine_model_attrs(command_line, model_dir), file);
  write_attrs(root,
              {{"hostname", host_name()},
               {"device", place.device},
               {"gpu_name", place.gpu_name},
               {"cpu_threads", std::to_string(place.threads)},
               {"started_at", place.started_at}},
              file);
  h5::write_fixed_string_attr(root, "finished_at", place.finished_at, kEndOfRunAttrBytes, file);
}

nlohmann::json engine_json() {
  const EngineSettings s = engine_settings();
  return {{"name", "qkgeom"},
          {"version", kVersion},
          {"sha", kGitSha},
          {"device", s.device},
          {"threads", s.threads}};
}

nlohmann::json with_engine(nlohmann::json j) {
  j["engine"] = engine_json();
  return j;
}

}  // namespace qk
