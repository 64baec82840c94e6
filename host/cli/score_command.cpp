// `qkgeom score --snapshot FILE [--json] [--lem-compat]`: Bone-Orientation metrics of
// one snapshot, plus the attention statistics when it has q, as a table or one JSON object.
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>

#include "attn/attention_stats.hpp"
#include "bo/bo_metrics.hpp"
#include "bo/bo_report.hpp"
#include "commands.hpp"
#include "qkgeom/version.hpp"
#include "snapshot.hpp"

namespace qk {

namespace {

struct ScoreArgs {
  std::string snapshot;
  bool json = false;
  BoOptions bo;
  AttentionStatsOptions attn;
  std::string mask = "causal";
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int run_score(const ScoreArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const Snapshot snap = load_snapshot(a.snapshot);
  const double load_ms = ms_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  const BoResult r = analyse_bo(snap, a.bo);
  const double compute_ms = ms_since(t1);
  std::optional<AttentionStats> attn;
  double attention_ms = 0.0;
  if (snap.q) {
    const auto t2 = std::chrono::steady_clock::now();
    AttentionStatsOptions o = a.attn;
    o.mask = parse_attention_mask(a.mask);
    o.device = a.bo.device;
    attn = attention_stats(snap, o);
    attention_ms = ms_since(t2);
  }
  if (a.json) {
    nlohmann::json j = bo_to_json(r);
    j["snapshot"] = a.snapshot;
    j["engine"] = {{"name", "qkgeom"}, {"version", kVersion}, {"git_sha", kGitSha}};
    if (attn) add_attention_stats_json(*attn, j);
    j["timing"] = {{"load_ms", load_ms}, {"compute_ms", compute_ms}};
    if (attn) j["timing"]["attention_ms"] = attention_ms;
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "snapshot: " << a.snapshot << "\n" << bo_to_table(r);
    if (attn) std::cout << attention_stats_table(*attn);
  }
  return std::cout.good() ? kExitOk : kExitRuntime;
}

}  // namespace

Action add_score_command(CLI::App& app) {
  auto args = std::make_shared<ScoreArgs>();
  CLI::App* sub = app.add_subcommand("score", "Bone-Orientation metrics of one snapshot");
  sub->add_option("--snapshot", args->snapshot,
                  "snapshot file (safetensors or HDF5) with k [layers, kv_heads, seq, head_dim], "
                  "optional v and q")
      ->required();
  sub->add_flag("--json", args->json, "print one JSON object instead of a table");
  auto* compat = sub->add_flag("--lem-compat", args->bo.lem_compat,
                               "reproduce the LEM seed exactly, quirks included");
  sub->add_option("--device", args->bo.device, "auto, cpu, cuda or cuda:N")
      ->capture_default_str();
  sub->add_option("--lock-threshold", args->bo.lock_threshold,
                  "phase-lock cosine threshold (default mode only)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0))
      ->excludes(compat);
  sub->add_option("--collapse-threshold", args->bo.collapse_threshold,
                  "joint-collapse threshold on cross-alignment (default mode only)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0))
      ->excludes(compat);
  sub->add_option("--mask", args->mask,
                  "attention mask for the attention statistics: causal, full or sliding")
      ->capture_default_str()
      ->check(CLI::IsMember({"causal", "full", "sliding"}));
  sub->add_option("--window", args->attn.window,
                  "keys per sliding window (with --mask sliding: j <= i, i - j < N)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--attn-scale", args->attn.scale,
                  "logit scale of the attention statistics (default 1/sqrt(head_dim))")
      ->check(CLI::PositiveNumber);
  return [args] { return run_score(*args); };
}

}  // namespace qk
