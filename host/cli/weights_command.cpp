// `qkgeom weights --model DIR --out STATIC.h5 [--topk K] [--device auto|cpu|cuda[:N]]
// [--export-legacy DIR] [--json]`: static operator geometry of the q/k projection weights
// (docs/static-geometry.md), no forward pass.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "bo/backend.hpp"
#include "command_line.hpp"
#include "commands.hpp"
#include "engine_commands.hpp"
#include "internal_error.hpp"
#include "json_output.hpp"
#include "option_checks.hpp"
#include "output_path.hpp"
#include "run_record.hpp"
#include "threads_option.hpp"

#include "static_h5.hpp"
#include "static_weights.hpp"
#include "store_error.hpp"
#if defined(QKGEOM_WITH_TORCH)
#include "legacy_export.hpp"  // the torch pickle: the engine only (engine_commands.cpp)
#endif

namespace qk {

namespace {

struct WeightsArgs {
  std::string model;
  std::string out;
  std::string export_legacy;
  std::string device = "auto";
  int threads = 0;  // --threads (0: the default)
  int64_t topk = 16;
  bool json = false, force = false;
};

// Makes DIR before any work (StoreError, exit 4, when it cannot be made); unless `force`,
// InputError when it holds one of the files export_legacy writes
// (host/static/legacy_export.hpp).
void check_legacy_dir(const std::string& dir, bool force) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw StoreError(dir, "cannot create the directory: " + ec.message());
  for (const char* name : {"grams.json", "grams-eigdirs.pt", "static-singvals.json"})
    check_new_output((std::filesystem::path(dir) / name).string(), force);
}

// export_legacy where this binary has libtorch; the front end hands --export-legacy to
// the engine (needs_engine), so reaching the #else is a bug.
void write_legacy(const std::string& dir, const StaticResult& r) {
#if defined(QKGEOM_WITH_TORCH)
  export_legacy(dir, r);
#else
  (void)dir;
  (void)r;
  throw InternalError("weights --export-legacy reached a build without libtorch");
#endif
}

int run_weights(const WeightsArgs& a) {
  resolve_context(a.device, a.threads);
  StaticOptions o;
  o.model = a.model;
  o.device = a.device;
  o.topk = a.topk;
  check_new_output(a.out, a.force);
  check_not_a_model_file(a.out, a.model);
  if (!a.export_legacy.empty()) check_legacy_dir(a.export_legacy, a.force);
  const StaticResult r = compute_static_weights(o);
  write_static_h5(a.out, r, a.model, command_line());
  if (!a.export_legacy.empty()) write_legacy(a.export_legacy, r);
  const StaticDims& d = r.dims;
  if (a.json) {
    // The shape under STATIC.h5's attribute names (until 2026-11-30 layers, heads, kv_heads).
    nlohmann::json j{{"out", a.out},           {"num_layers", d.layers},
                     {"num_heads", d.q_heads}, {"num_kv_heads", d.kv_heads},
                     {"head_dim", d.head_dim}, {"hidden_size", d.hidden},
                     {"topk", d.topk},         {"device", r.device},
                     {"engine", engine_json()}};
    j["timing"] = {{"total_s", r.seconds},
                   {"read_s", r.read_seconds},
                   {"spectra_s", r.spectra_seconds},
                   {"gram_s", r.gram_seconds}};
    if (!a.export_legacy.empty()) j["export_legacy"] = a.export_legacy;
    std::cout << json_text(j) << "\n";
  } else {
    std::printf(
        "qkgeom weights: %lld layers x %lld heads (%lld kv, head_dim %lld, hidden %lld) on %s "
        "in %.2f s -> %s\n",
        static_cast<long long>(d.layers), static_cast<long long>(d.q_heads),
        static_cast<long long>(d.kv_heads), static_cast<long long>(d.head_dim),
        static_cast<long long>(d.hidden), r.device.c_str(), r.seconds, a.out.c_str());
    if (!a.export_legacy.empty()) std::printf("legacy export -> %s\n", a.export_legacy.c_str());
  }
  return kExitOk;
}

}  // namespace

Action add_weights_command(CLI::App& app) {
  auto args = std::make_shared<WeightsArgs>();
  CLI::App* sub = app.add_subcommand("weights", engine_command_description("weights"));
  sub->add_option("--model", args->model, "Hugging Face model directory (config.json, safetensors)")
      ->required();
  sub->add_option("--out", args->out, "output HDF5 file (STATIC.h5)")->required();
  sub->add_option("--topk", args->topk,
                  "eigenvectors of the symmetric part kept per head (1 .. 2 * head_dim)")
      ->capture_default_str()
      ->check(positive());
  sub->add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  add_threads_option(sub, args->threads);
  sub->add_option(
      "--export-legacy", args->export_legacy,
      "also write the seed scripts' inputs (grams.json, grams-eigdirs.pt, static-singvals.json) here");
  sub->add_flag("--json", args->json, "print the summary as one JSON object");
  sub->add_flag("--force", args->force,
                "replace --out and the --export-legacy files when they exist (each atomically)");
  return [args] { return run_weights(*args); };
}

}  // namespace qk
