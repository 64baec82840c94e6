// `qkgeom rope-geometry --model DIR [--offsets LIST] [--sweep RESULTS.h5] [--out FILE.h5] [--json]
// [--device auto|cpu|cuda[:N]] [--threads N]`: RoPE-aware operator geometry of the q/k
// weights (docs/static-geometry.md, "RoPE-aware operator"; with --sweep, "Expected logit of
// a sweep"). Engine only: the frequencies are rope_inv_freq's (HF's, libtorch).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "bo/backend.hpp"
#include "command_line.hpp"
#include "commands.hpp"
#include "descriptors.hpp"
#include "engine_commands.hpp"
#include "json_output.hpp"
#include "output_path.hpp"
#include "rope.hpp"
#include "rope_h5.hpp"
#include "run_record.hpp"
#include "threads_option.hpp"

namespace qk {

namespace {

struct RopeGeometryArgs {
  std::string model, offsets, out, sweep, device = "auto";
  int threads = 0;
  bool json = false, force = false, offsets_given = false;
};

// "0,1,16" -> {0, 1, 16}; std::invalid_argument (exit 2) for a bad or repeated entry.
std::vector<int64_t> parse_offsets(const std::string& list) {
  std::vector<int64_t> out;
  std::set<int64_t> seen;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, end - start);
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size())
      throw std::invalid_argument("--offsets: '" + item + "' is not an integer (expected e.g. 0,1,2,64)");
    if (!seen.insert(v).second) throw std::invalid_argument("--offsets: " + item + " is listed twice");
    out.push_back(v);
    start = end + 1;
  }
  return out;
}

// HF's inverse frequencies (rope_inv_freq, f32) widened to f64.
std::vector<double> hf_inv_freq(const RopeConfig& rope, int64_t r) {
  const at::Tensor t = rope_inv_freq(rope, r).to(at::kDouble).contiguous();
  return {t.data_ptr<double>(), t.data_ptr<double>() + t.numel()};
}

// Per offset, the mean over layers and heads of op, fro, rank_eff and the signed trace tr B(D).
nlohmann::json offset_means(const RopeGeometryResult& r) {
  std::vector<double> sv, trace;
  for (const RopeLayer& l : r.layers) {
    sv.insert(sv.end(), l.sv.begin(), l.sv.end());
    trace.insert(trace.end(), l.signed_trace.begin(), l.signed_trace.end());
  }
  const auto desc = describe_spectra(sv, r.dims.head_dim);
  const size_t O = r.offsets.size(), n = trace.size() / O;
  nlohmann::json rows = nlohmann::json::array();
  for (size_t o = 0; o < O; ++o) {
    double op = 0, fro = 0, rank = 0, tr = 0;
    for (size_t i = o; i < trace.size(); i += O) {
      op += desc[0][i];
      fro += desc[1][i];
      rank += desc[3][i];
      tr += trace[i];
    }
    const double k = static_cast<double>(n);
    rows.push_back({{"offset", r.offsets[o]},
                    {"op", op / k},
                    {"fro", fro / k},
                    {"rank_eff", rank / k},
                    {"signed_trace", tr / k}});
  }
  return rows;
}

// Mean over the heads of layer l of v [L][Hq] (NaN entries left out; NaN when all are).
double layer_mean(const std::vector<double>& v, int64_t l, int64_t H) {
  double s = 0;
  int64_t n = 0;
  for (int64_t h = 0; h < H; ++h)
    if (std::isfinite(v[l * H + h])) {
      s += v[l * H + h];
      ++n;
    }
  return n > 0 ? s / static_cast<double>(n) : std::nan("");
}

// The --sweep part of --json: per (layer, head) the masses and agreement; NaN as null.
nlohmann::json sweep_json(const RopeSweep& s, const StaticDims& d) {
  const auto nan_null = [](const std::vector<double>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (double x : v) a.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr));
    return a;
  };
  return {{"from", s.path},
          {"probes", s.m.probes},
          {"tokens", s.m.tokens},
          {"max_length", s.m.max_len},
          {"query_length", s.m.query_len},
          {"shape", {d.layers, d.q_heads, kDistanceBuckets}},
          {"implied_mass", nan_null(s.implied_mass)},
          {"measured_mass", nan_null(s.m.measured)},
          {"spearman", nan_null(s.spearman)},
          {"total_variation", nan_null(s.total_variation)}};
}

// One line per layer: the mean over heads of the agreement of implied and measured masses.
void print_sweep_table(const RopeSweep& s, const StaticDims& d) {
  std::printf(
      "sweep %s: %lld ok probes, %lld tokens, query length %lld (implied vs measured distance mass)\n",
      s.path.c_str(), static_cast<long long>(s.m.probes), static_cast<long long>(s.m.tokens),
      static_cast<long long>(s.m.query_len));
  std::printf("%10s %14s %16s   (means over heads)\n", "layer", "spearman", "total_variation");
  for (int64_t l = 0; l < d.layers; ++l)
    std::printf("%10lld %14.4f %16.4f\n", static_cast<long long>(l), layer_mean(s.spearman, l, d.q_heads),
                layer_mean(s.total_variation, l, d.q_heads));
}

void print_summary(const RopeGeometryArgs& a, const RopeGeometryResult& r) {
  const StaticDims& d = r.dims;
  const nlohmann::json rows = offset_means(r);
  if (a.json) {
    // The shape under ROPE.h5's attribute names (until 2026-11-30 layers, heads, kv_heads).
    nlohmann::json j{
        {"num_layers", d.layers}, {"num_heads", d.q_heads},     {"num_kv_heads", d.kv_heads},
        {"head_dim", d.head_dim}, {"hidden_size", d.hidden},    {"rotary_dim", r.rotary_dim},
        {"offsets", r.offsets},   {"local_rope", r.local_rope}, {"device", r.device},
        {"per_offset", rows},     {"engine", engine_json()},    {"timing", {{"total_s", r.seconds}}}};
    if (!a.out.empty()) j["out"] = a.out;
    if (r.sweep) j["sweep"] = sweep_json(*r.sweep, d);
    std::cout << json_text(j) << "\n";
    return;
  }
  std::printf(
      "qkgeom rope-geometry: %lld layers x %lld heads (%lld kv, head_dim %lld, rotary_dim %lld) on %s in "
      "%.2f s%s%s\n",
      static_cast<long long>(d.layers), static_cast<long long>(d.q_heads), static_cast<long long>(d.kv_heads),
      static_cast<long long>(d.head_dim), static_cast<long long>(r.rotary_dim), r.device.c_str(), r.seconds,
      a.out.empty() ? "" : " -> ", a.out.c_str());
  std::printf("%10s %14s %14s %10s %14s   (means over layers and heads)\n", "offset", "op", "fro", "rank_eff",
              "signed_trace");
  for (const auto& row : rows)
    std::printf("%10lld %14.6g %14.6g %10.4f %14.6g\n", static_cast<long long>(row["offset"].get<int64_t>()),
                row["op"].get<double>(), row["fro"].get<double>(), row["rank_eff"].get<double>(),
                row["signed_trace"].get<double>());
  if (r.sweep) print_sweep_table(*r.sweep, d);
}

int run_rope_geometry(const RopeGeometryArgs& a) {
  resolve_context(a.device, a.threads);
  RopeGeometryOptions o;
  o.model = a.model;
  o.device = a.device;
  if (a.offsets_given) o.offsets = parse_offsets(a.offsets);
  o.sweep = a.sweep;
  if (!a.out.empty()) check_new_output(a.out, a.force);
  if (!a.out.empty() && !a.sweep.empty()) check_not_an_input(a.out, {a.sweep});
  if (!a.out.empty()) check_not_a_model_file(a.out, a.model);
  const RopeGeometryResult r = compute_rope_geometry(o, hf_inv_freq);
  if (!a.out.empty()) write_rope_h5(a.out, r, a.model, command_line());
  print_summary(a, r);
  return kExitOk;
}

}  // namespace

Action add_rope_geometry_command(CLI::App& app) {
  auto args = std::make_shared<RopeGeometryArgs>();
  CLI::App* sub = app.add_subcommand("rope-geometry", engine_command_description("rope-geometry"));
  sub->add_option("--model", args->model, "Hugging Face model directory (config.json, safetensors)")
      ->required();
  CLI::Option* offsets =
      sub->add_option("--offsets", args->offsets,
                      "comma-separated offsets (query minus key position); default 0,1,2,4,... below "
                      "max_position_embeddings");
  sub->add_option("--sweep", args->sweep,
                  "sweep store of this model made with --save-kv qkv --metrics attention: expected logit of "
                  "its mean query and key vs its attention by distance");
  sub->add_option("--out", args->out, "output HDF5 file (ROPE.h5); none: the table only");
  sub->add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  add_threads_option(sub, args->threads);
  sub->add_flag("--json", args->json, "print the summary as one JSON object");
  sub->add_flag("--force", args->force, "replace --out when it exists (atomically)");
  return [args, offsets] {
    args->offsets_given = offsets->count() > 0;
    return run_rope_geometry(*args);
  };
}

}  // namespace qk
