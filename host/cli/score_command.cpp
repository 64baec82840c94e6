// `qkgeom score (--snapshot FILE | --model DIR (--prompt TEXT | --ids LIST)) [--json]
// [--lem-compat]`: Bone-Orientation metrics of one snapshot, or of one prompt's prefill,
// plus the attention statistics when q is there, as a table or one JSON object.
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "attn/attention_stats.hpp"
#include "attn/snapshot_attention.hpp"
#include "bo/backend.hpp"
#include "bo/bo_metrics.hpp"
#include "bo/bo_nonfinite.hpp"
#include "bo/bo_report.hpp"
#include "commands.hpp"
#include "finite_check.hpp"
#include "json_output.hpp"
#include "option_checks.hpp"
#include "output_path.hpp"
#include "prompt_input.hpp"
#include "run_record.hpp"
#include "snapshot.hpp"
#include "snapshot_capture.hpp"
#include "threads_option.hpp"

namespace qk {

namespace {

struct ScoreArgs {
  std::string snapshot;
  std::string model;
  std::string prompt;
  std::string ids;
  std::string ids_file;
  std::string dtype;
  bool json = false;
  BoOptions bo;
  AttentionStatsOptions attn;
  std::string mask;           // "" unless --mask is given
  std::string save_snapshot;  // --save-snapshot FILE with --model
  bool force = false;         // --force: replace an existing --save-snapshot file
  int threads = 0;            // --threads (0: the default)
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// One prompt's prefill as a snapshot, with the attention its layers run.
struct ModelInput {
  Snapshot snap;
  AttentionStatsOptions attn;
  size_t tokens = 0;
  double prefill_ms = 0;
};

ModelInput prefill_prompt(const ScoreArgs& a) {
  if (!a.save_snapshot.empty()) {  // bad output paths fail before any work
    snapshot_format_for(a.save_snapshot);
    check_new_output(a.save_snapshot, a.force);
    check_not_a_model_file(a.save_snapshot, a.model);
  }
  ModelInput in;
  const std::vector<int64_t> ids = prompt_ids(a.model, a.prompt, a.ids, a.ids_file);
  PromptCapture c = capture_prompt(a.model, ids, a.bo.device, a.dtype);
  check_capture_finite(c.snap, a.model);  // exit 3 / 4 naming layer, head, q/k/v and cause
  if (!a.save_snapshot.empty()) save_snapshot(c.snap, a.save_snapshot);
  in.snap = std::move(c.snap);
  in.attn = c.attn;
  in.prefill_ms = c.prefill_ms;
  in.tokens = ids.size();
  return in;
}

// Finite q/k/v must give finite metrics: std::runtime_error (exit 4) naming the first
// non-finite one otherwise (e.g. an fp32 logit overflow on the GPU).
void check_metrics_finite(const BoResult& r, const AttentionStats* attn) {
  std::optional<std::string> bad = first_nonfinite_bo(r);
  if (!bad && attn) bad = first_nonfinite_attention(*attn);
  if (bad) throw std::runtime_error(*bad + " is not finite although q, k and v are (docs/metrics.md)");
}

int run_score(const ScoreArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const ExecContext ctx = resolve_context(a.bo.device, a.threads);
  std::optional<ModelInput> from_model;
  if (!a.model.empty()) from_model = prefill_prompt(a);
  const Snapshot snap = from_model ? std::move(from_model->snap) : load_snapshot(a.snapshot);
  const double load_ms = ms_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  const BoResult r = analyse_bo(bo_input(snap), a.bo, ctx);
  const double compute_ms = ms_since(t1);
  std::optional<AttentionStats> attn;
  double attention_ms = 0.0;
  if (snap.q) {
    const auto t2 = std::chrono::steady_clock::now();
    std::string note;
    const AttentionStatsOptions o =
        from_model
            ? from_model->attn
            : snapshot_attention_options(snap, {a.mask, a.attn.window, a.attn.scale}, a.bo.device, &note);
    if (!note.empty()) std::cerr << note << "\n";
    attn = attention_stats(attention_input(snap), o, ctx);
    attention_ms = ms_since(t2);
  }
  check_metrics_finite(r, attn ? &*attn : nullptr);
  if (a.json) {
    nlohmann::json j = bo_to_json(r);
    if (from_model) {
      j["model"] = a.model;
      j["tokens"] = from_model->tokens;
    } else {
      j["snapshot"] = a.snapshot;
    }
    j["engine"] = engine_json();
    if (attn) add_attention_stats_json(*attn, j);
    j["timing"] = {{"load_s", load_ms / 1e3}, {"compute_s", compute_ms / 1e3}};
    if (attn) j["timing"]["attention_s"] = attention_ms / 1e3;
    if (from_model) j["timing"]["prefill_s"] = from_model->prefill_ms / 1e3;
    std::cout << json_text(j) << "\n";
  } else {
    if (from_model)
      std::cout << "model: " << a.model << " (" << from_model->tokens << " tokens)\n";
    else
      std::cout << "snapshot: " << a.snapshot << "\n";
    std::cout << bo_to_table(r);
    if (attn) std::cout << attention_stats_table(*attn);
  }
  return std::cout.good() ? kExitOk : kExitRuntime;
}

// The input options (--snapshot, or --model with --prompt/--ids/--ids-file, --dtype,
// --save-snapshot, --force) and their rules; returns --model for the options it excludes.
CLI::Option* add_input_options(CLI::App* sub, ScoreArgs& args) {
  auto* snapshot =
      sub->add_option("--snapshot", args.snapshot,
                      "snapshot file (safetensors or HDF5) with k [layers, kv_heads, seq, head_dim], "
                      "optional v and q");
  auto* model =
      sub->add_option("--model", args.model, "Hugging Face model directory: prefill one prompt and score it");
  auto* prompt = sub->add_option("--prompt", args.prompt,
                                 "prompt text (with --model), tokenized with its tokenizer.json");
  const IdsOptions ids = add_ids_options(sub, args.ids, args.ids_file, "with --model: ");
  auto* dtype = sub->add_option("--dtype", args.dtype,
                                "compute dtype with --model: bf16, f16 or f32 (default: the checkpoint's)")
                    ->check(compute_dtype());
  auto* save = sub->add_option("--save-snapshot", args.save_snapshot,
                               "with --model: also write the prefill's snapshot (.safetensors, "
                               ".h5), as capture would");
  save->needs(model);
  sub->add_flag("--force", args.force, "replace the --save-snapshot file when it exists (atomically)")
      ->needs(save);
  snapshot->excludes(model);
  prompt->needs(model)->excludes(ids.list)->excludes(ids.file);
  ids.list->needs(model);
  ids.file->needs(model);
  dtype->needs(model);
  sub->callback([snapshot, model, prompt, ids] {
    if (snapshot->count() + model->count() != 1)
      throw CLI::ValidationError("score", "give --snapshot FILE or --model DIR");
    if (model->count() == 1 && prompt->count() + ids.list->count() + ids.file->count() != 1)
      throw CLI::ValidationError("score", "--model needs --prompt TEXT, --ids LIST or --ids-file FILE");
  });
  return model;
}

// The output and Bone-Orientation options: --json, --lem-compat, --device, --threads and
// the lock and collapse thresholds (default mode only).
void add_metric_options(CLI::App* sub, ScoreArgs& args) {
  sub->add_flag("--json", args.json, "print one JSON object instead of a table");
  auto* compat =
      sub->add_flag("--lem-compat", args.bo.lem_compat, "reproduce the LEM seed exactly, quirks included");
  sub->add_option("--device", args.bo.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  add_threads_option(sub, args.threads);
  sub->add_option("--lock-threshold", args.bo.lock_threshold,
                  "phase-lock cosine threshold (default mode only)")
      ->capture_default_str()
      ->check(in_range(0, 1))
      ->excludes(compat);
  sub->add_option("--collapse-threshold", args.bo.collapse_threshold,
                  "joint-collapse threshold on cross-alignment (default mode only)")
      ->capture_default_str()
      ->check(in_range(0, 1))
      ->excludes(compat);
}

// The attention-statistics options of a snapshot (--mask, --window, --attn-scale); with
// --model the mask, windows and scale are the model's own.
void add_attention_options(CLI::App* sub, ScoreArgs& args, CLI::Option* model) {
  auto* mask = sub->add_option("--mask", args.mask,
                               "attention mask of every layer for the attention statistics: causal, full or "
                               "sliding (default: the masks the snapshot records, else causal)")
                   ->check(CLI::IsMember({"causal", "full", "sliding"}));
  auto* window = sub->add_option("--window", args.attn.window,
                                 "keys per sliding window (with --mask sliding: j <= i, i - j < N)")
                     ->check(positive());
  auto* scale = sub->add_option("--attn-scale", args.attn.scale,
                                "logit scale of the attention statistics (default: the scale the snapshot "
                                "records, else 1/sqrt(head_dim))")
                    ->check(positive());
  for (CLI::Option* o : {mask, window, scale}) o->excludes(model);
}

}  // namespace

Action add_score_command(CLI::App& app) {
  auto args = std::make_shared<ScoreArgs>();
  CLI::App* sub = app.add_subcommand(
      "score", "Bone-Orientation metrics (and attention statistics) of a snapshot or a prompt");
  CLI::Option* model = add_input_options(sub, *args);
  add_metric_options(sub, *args);
  add_attention_options(sub, *args, model);
  return [args] { return run_score(*args); };
}

}  // namespace qk
