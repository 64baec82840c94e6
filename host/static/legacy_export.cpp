#include "legacy_export.hpp"

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <nlohmann/json.hpp>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include "output_path.hpp"
#include "store_error.hpp"

namespace qk {

namespace {

namespace fs = std::filesystem;

// Writes `p` atomically: a temporary file beside it, renamed onto it.
void write_file(const fs::path& p, const char* data, size_t size) {
  write_atomically(p.string(), true, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(data, static_cast<std::streamsize>(size));
    out.close();
    if (!out) throw StoreError(p.string(), "cannot write");
  });
}

void write_json(const fs::path& p, const nlohmann::json& j) {
  const std::string s = j.dump();
  write_file(p, s.data(), s.size());
}

// [n][m] nested list of rows of `m` from `v` starting at `off`.
nlohmann::json rows(const std::vector<double>& v, size_t off, int64_t n, int64_t m) {
  nlohmann::json out = nlohmann::json::array();
  for (int64_t i = 0; i < n; ++i)
    out.push_back(std::vector<double>(v.begin() + static_cast<long>(off + i * m),
                                      v.begin() + static_cast<long>(off + (i + 1) * m)));
  return out;
}

// torch.save's zip format of `value`. Containers are pickled untagged (plain dict), so
// torch.load(weights_only=True) accepts them (torch::jit::pickle_save tags them with
// torch.jit._pickle.restore_type_tag, which weights_only refuses).
std::vector<char> torch_save_bytes(const c10::IValue& value) {
  std::vector<char> pickled;
  torch::jit::Pickler pickler([&](const char* b, size_t n) { pickled.insert(pickled.end(), b, b + n); },
                              nullptr, nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::vector<char> zip;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* b, size_t n) {
    zip.insert(zip.end(), static_cast<const char*>(b), static_cast<const char*>(b) + n);
    return n;
  });
  torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(), writer);
  writer.writeEndOfFile();
  return zip;
}

}  // namespace

void export_legacy(const std::string& dir, const StaticResult& r) {
  const StaticDims& d = r.dims;
  const int64_t L = d.layers, H = d.q_heads, D = d.head_dim, N = d.hidden, K = d.topk;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw StoreError(dir, "cannot create the directory: " + ec.message());
  const fs::path base = fs::absolute(dir);
  const fs::path pt = base / "grams-eigdirs.pt";

  nlohmann::json g;
  g["num_layers"] = L;
  g["num_heads"] = H;
  g["head_dim"] = D;
  g["hidden_size"] = N;
  g["gram"] = nlohmann::json::array();
  for (int64_t l = 0; l < L; ++l) g["gram"].push_back(rows(r.gram, static_cast<size_t>(l * L * H), L, H));
  g["fro_sq"] = nlohmann::json::array();
  for (const LayerStatic& ls : r.layers) g["fro_sq"].push_back(ls.fro_sq_shortcut);
  g["eigdirs_path"] = pt.string();
  write_json(base / "grams.json", g);

  at::Tensor dirs = at::empty({L, H, K, N}, at::kFloat);
  at::Tensor eigs = at::empty({L, H, 2 * D}, at::kDouble);
  for (int64_t l = 0; l < L; ++l) {
    const LayerStatic& ls = r.layers[static_cast<size_t>(l)];
    std::copy(ls.sym_vec.begin(), ls.sym_vec.end(), dirs.data_ptr<float>() + l * H * K * N);
    std::copy(ls.sym_eig.begin(), ls.sym_eig.end(), eigs.data_ptr<double>() + l * H * 2 * D);
  }
  c10::Dict<std::string, at::Tensor> dict;
  dict.insert("eig_dirs", dirs);
  dict.insert("sym_eigs", eigs);
  const std::vector<char> bytes = torch_save_bytes(c10::IValue(dict));
  write_file(pt, bytes.data(), bytes.size());

  nlohmann::json s;
  s["num_layers"] = L;
  s["num_heads"] = H;
  s["static"] = nlohmann::json::array();
  for (const LayerStatic& ls : r.layers)
    s["static"].push_back({{"metric_singvals_per_head", rows(ls.shortcut_sv, 0, H, D)}});
  write_json(base / "static-singvals.json", s);
}

}  // namespace qk
