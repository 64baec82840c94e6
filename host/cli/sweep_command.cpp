// `qkgeom sweep --model DIR --probes FILE --out RESULTS.h5 [...]`: a probe set through
// prefill and the per-probe metrics into a crash-safe columnar HDF5 store; resumable,
// shardable, and under mpirun one shard per rank merged by rank 0 (docs/sweep.md).
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>
#if defined(QKGEOM_WITH_TORCH)
#include <torch/cuda.h>
#endif

#include "bo/backend.hpp"
#include "command_line.hpp"
#include "commands.hpp"
#include "engine_commands.hpp"
#include "json_output.hpp"
#include "mpi_world.hpp"
#include "option_checks.hpp"
#include "output_path.hpp"
#include "progress.hpp"
#include "run_record.hpp"
#include "threads_option.hpp"
#include "prompt_template.hpp"
#include "store_merge.hpp"
#include "sweep_runner.hpp"

namespace qk {

namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};

// SIGINT (Ctrl-C), SIGTERM (Slurm at walltime, scancel, preemption, docker stop) and SIGUSR1
// (Slurm's --signal=B:USR1@secs): finish the current batch, commit, stop cleanly. A second
// signal of the same kind takes the default action.
void on_stop_signal(int sig) {
  g_signal.store(sig);
  g_stop.store(true);
  std::signal(sig, SIG_DFL);
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGTERM:
      return "SIGTERM";
    case SIGUSR1:
      return "SIGUSR1";
    default:
      return "SIGINT";
  }
}

struct SweepArgs {
  SweepOptions o;
  std::string probe_format = "auto", on_bad_line = "fail", metrics = "bo,attention";
  std::string on_nonfinite = "fail";
  std::string save_kv = "none", save_kv_dtype = "f32", shard, batch_mode = "packed";
  double min_score = 0;
  bool json = false, quiet = false;
};

void parse_metrics(const std::string& list, SweepOptions& o) {
  o.bo = o.attention = false;
  std::stringstream ss(list);
  std::string m;
  while (std::getline(ss, m, ',')) {
    if (m == "bo")
      o.bo = true;
    else if (m == "attention")
      o.attention = true;
    else
      throw std::invalid_argument("--metrics: unknown '" + m + "'; available: bo, attention");
  }
  if (!o.bo && !o.attention) throw std::invalid_argument("--metrics: name at least one of bo, attention");
}

std::string shard_file(const std::string& out, int rank, int size) {
  const size_t dot = out.rfind('.');
  const std::string stem = dot == std::string::npos ? out : out.substr(0, dot);
  const std::string ext = dot == std::string::npos ? ".h5" : out.substr(dot);
  return stem + ".shard-" + std::to_string(rank) + "-of-" + std::to_string(size) + ext;
}

nlohmann::json summary_json(const SweepSummary& s) {
  nlohmann::json j = {{"out", s.out},
                      {"status", s.status},
                      {"device", s.device},
                      {"dtype", s.dtype},
                      {"probes_in_file", s.probes_in_file},
                      {"probes_in_shard", s.probes_in_shard},
                      {"already_done", s.already_done},
                      {"done", s.done},
                      {"tokens", s.tokens},
                      {"probes_per_s", s.seconds > 0 ? s.done / s.seconds : 0.0},
                      {"tokens_per_s", s.seconds > 0 ? s.tokens / s.seconds : 0.0},
                      {"accepted", s.accepted},
                      {"threads", s.threads},
                      {"on_nonfinite", on_nonfinite_name(s.on_nonfinite)},
                      {"non_finite", s.non_finite},
                      {"scored", s.scored}};
  j["non_finite_first"] =
      s.first_non_finite.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.first_non_finite);
  nlohmann::json skipped = nlohmann::json::array();
  for (const ProbeProblem& p : s.skipped)
    skipped.push_back({{"line", p.line}, {"id", p.id}, {"problem", p.what}});
  j["skipped"] = skipped;
  j["engine"] = engine_json();
  j["timing"] = {{"total_s", s.seconds},           {"setup_s", s.setup_s},
                 {"prefill_s", s.prefill_s},       {"analysis_s", s.analysis_s},
                 {"write_wait_s", s.write_wait_s}, {"write_busy_s", s.write_busy_s},
                 {"finish_s", s.finish_s}};
  if (s.composite_mean)
    j["composite"] = {{"mean", *s.composite_mean}, {"min", *s.composite_min}, {"max", *s.composite_max}};
  return j;
}

// The first few skipped lines with their reasons, and how many more (all are in the file).
void print_skipped(const std::vector<ProbeProblem>& skipped) {
  constexpr size_t kListed = 5;
  for (size_t i = 0; i < skipped.size() && i < kListed; ++i)
    std::cout << "    skipped line " << skipped[i].line
              << (skipped[i].id.empty() ? "" : " ('" + skipped[i].id + "')") << ": " << skipped[i].what
              << "\n";
  if (skipped.size() > kListed)
    std::cout << "    ... and " << skipped.size() - kListed
              << " more skipped lines (root attribute 'skipped' of the results file)\n";
}

void print_summary(const SweepArgs& a, const SweepSummary& s) {
  if (a.json) {
    std::cout << json_text(summary_json(s)) << "\n";
    return;
  }
  char rate[160];
  std::snprintf(rate, sizeof rate, "%.2f probes/s, %.0f tokens/s", s.seconds > 0 ? s.done / s.seconds : 0.0,
                s.seconds > 0 ? s.tokens / s.seconds : 0.0);
  std::cout << "sweep " << s.status << ": " << s.done << " probes (" << s.tokens << " tokens) in "
            << format_duration(s.seconds) << ", " << rate << "\n"
            << "  device " << s.device << ", dtype " << s.dtype << ", " << s.threads << " CPU threads\n"
            << "  probes: " << s.probes_in_file << " in the file, " << s.probes_in_shard << " in this shard, "
            << s.already_done << " done before, " << s.skipped.size() << " skipped\n";
  print_skipped(s.skipped);
  if (s.composite_mean) {
    char c[200];
    std::snprintf(c, sizeof c, "  composite: mean %.1f, min %.0f, max %.0f (over %lld scored probes)\n",
                  *s.composite_mean, *s.composite_min, *s.composite_max, static_cast<long long>(s.scored));
    std::cout << c;
  }
  if (s.non_finite > 0)
    std::cout << "  non-finite: " << s.non_finite << " probes stored with their status and "
              << (s.on_nonfinite == OnNonFinite::Keep ? "NaN where the non-finite values reach"
                                                      : "NaN metrics")
              << " (--on-nonfinite " << on_nonfinite_name(s.on_nonfinite)
              << "); first: " << s.first_non_finite << "\n";
  else
    std::cout << "  non-finite: none\n";
  if (a.o.min_score)
    std::cout << "  accepted: " << s.accepted << " probes with composite >= " << *a.o.min_score << " -> "
              << a.o.accepted << "\n";
  std::cout << "  results: " << s.out << "\n";
}

// The string options of `a` parsed into a.o (each refused with its option's name).
void parse_options(SweepArgs& a) {
  SweepOptions& o = a.o;
  parse_metrics(a.metrics, o);
  o.probe_format = parse_probe_format(a.probe_format);
  o.on_bad = a.on_bad_line == "skip" ? OnBadLine::Skip : OnBadLine::Fail;
  o.on_nonfinite = parse_on_nonfinite(a.on_nonfinite);
  apply_template(o.templ, "");  // rejects an unknown template before any work
  o.save_kv = parse_save_kv(a.save_kv);
  o.save_kv_dtype = parse_save_kv_dtype(a.save_kv_dtype);
  o.batch_mode = parse_batch_mode(a.batch_mode);
  if (!a.shard.empty()) o.shard = parse_shard(a.shard);
  o.progress = !a.quiet;
  o.command_line = command_line();
}

int run(SweepArgs& a) {
  SweepOptions& o = a.o;
  parse_options(a);
  const MpiWorld world;
  const std::string final_out = o.out;
  if (world.active()) {
    if (!a.shard.empty()) throw std::invalid_argument("--shard: not with mpirun (each rank takes its own)");
    o.shard = Shard{world.rank(), world.size()};
    o.out = shard_file(final_out, world.rank(), world.size());
    if (!o.resume) check_new_output(final_out, false);  // the merge at the end would refuse it
#if defined(QKGEOM_WITH_TORCH)
    if (o.device == "auto") {  // each rank its node-local GPU, round robin
      const int n = static_cast<int>(torch::cuda::device_count());
      o.device = n > 0 ? "cuda:" + std::to_string(world.local_rank() % n) : "cpu";
    }
#endif
    if (!o.accepted.empty()) o.accepted = shard_file(o.accepted, world.rank(), world.size());
  }
  resolve_context(o.device, o.threads);
  for (int sig : {SIGINT, SIGTERM, SIGUSR1}) std::signal(sig, on_stop_signal);
  SweepSummary s;
  bool ok = true;
  try {
    s = run_sweep(o, g_stop);
  } catch (const std::exception& e) {
    if (!world.active()) throw;
    std::cerr << "qkgeom: rank " << world.rank() << ": error: " << e.what() << "\n";
    ok = false;
  }
  if (world.active()) {
    const bool all = world.all_ok(ok && !s.interrupted);
    if (!ok) return kExitRuntime;
    if (world.rank() != 0) return all ? kExitOk : kExitRuntime;
    if (!all)
      throw std::runtime_error("a rank failed or was interrupted; shards not merged (rerun with --resume)");
    std::vector<std::string> shards;
    for (int r = 0; r < world.size(); ++r) shards.push_back(shard_file(final_out, r, world.size()));
    MergeOptions merge;
    merge.force = o.resume;  // a resumed run replaces the merge of the run it continues
    merge_stores(final_out, shards, merge);
    s.out = final_out;
  }
  print_summary(a, s);
  if (s.interrupted) {  // exit 128 + the signal: 130 SIGINT, 143 SIGTERM, 138 SIGUSR1
    const int sig = g_signal.load() ? g_signal.load() : SIGINT;
    std::cerr << "qkgeom: interrupted by " << signal_name(sig)
              << "; the file holds every committed probe; continue with --resume\n";
    return 128 + sig;
  }
  return kExitOk;
}

}  // namespace

Action add_sweep_command(CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  CLI::App* sub = app.add_subcommand("sweep", engine_command_description("sweep"));
  sub->add_option("--model", a->o.model, "Hugging Face model directory")->required();
  sub->add_option("--probes", a->o.probes, "probe file: JSONL (id, prompt[, domain, ...]), text, or ids")
      ->required();
  sub->add_option("--out", a->o.out, "results HDF5 file (schema: docs/hdf5-schema.md)")->required();
  sub->add_option("--probe-format", a->probe_format, "auto, jsonl, text or ids")->capture_default_str();
  sub->add_option("--on-bad-line", a->on_bad_line,
                  "a malformed, duplicate, empty or over-long probe: fail, or skip and report it")
      ->capture_default_str()
      ->check(CLI::IsMember({"fail", "skip"}));
  sub->add_option("--on-nonfinite", a->on_nonfinite,
                  "a probe whose q/k/v or metrics hold NaN or Inf: fail (stop, exit 4, after "
                  "committing the probes before it), skip (store it with its status and NaN "
                  "metrics) or keep (store it with its status and the metrics computed from the "
                  "non-finite values)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fail", "skip", "keep"}));
  sub->add_option("--template", a->o.templ, "prompt template: " + template_names())->capture_default_str();
  sub->add_option("--metrics", a->metrics, "comma-separated: bo, attention")->capture_default_str();
  sub->add_flag("--lem-compat", a->o.lem_compat, "the seed's exact BO metrics, quirks included");
  sub->add_option("--save-kv", a->save_kv, "raw vectors to store: none, k or qkv")->capture_default_str();
  sub->add_option(
         "--save-kv-dtype", a->save_kv_dtype,
         "element type of the stored vectors: f32, or f16 / bf16 (rounded to nearest even; half the bytes)")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  sub->add_option("--batch-tokens", a->o.batch_tokens, "token budget of one prefill batch")
      ->capture_default_str()
      ->check(positive());
  sub->add_flag("--resume", a->o.resume, "continue the sweep in --out, skipping its committed probes");
  sub->add_option("--shard", a->shard, "i/N: take the probes whose index is i modulo N");
  auto* min = sub->add_option("--min-score", a->min_score,
                              "write the probes whose composite is at least S to --accepted");
  auto* acc = sub->add_option("--accepted", a->o.accepted, "JSONL of the accepted probes (with --min-score)");
  min->needs(acc);
  acc->needs(min);
  sub->add_option("--device", a->o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", a->o.dtype,
                  "compute dtype: auto (bf16 on CUDA, the checkpoint's on the CPU, a resumed run's), bf16, "
                  "f16 or f32 (f32 for parity runs)")
      ->capture_default_str()
      ->check(compute_dtype(true));
  sub->add_option("--batch-mode", a->batch_mode,
                  "packed: the batch's tokens concatenated for the row-wise ops (equal to lone within "
                  "f32 rounding); lone: each prompt alone, bitwise identical in any batch")
      ->capture_default_str()
      ->check(CLI::IsMember({"packed", "lone"}));
  add_threads_option(sub, a->o.threads);  // --resume without it: the file's count (sweep_runner)
  sub->add_flag("--allow-mixed-numerics", a->o.allow_mixed_numerics,
                "--resume on another device, CPU thread count or batch mode than the run it continues "
                "(results then match a single run only within f32 rounding; the dtype must match)");
  sub->add_flag("--json", a->json, "print the summary as one JSON object");
  sub->add_flag("--quiet", a->quiet, "no progress lines on stderr");
  return [a, min] {
    if (min->count() > 0) a->o.min_score = a->min_score;
    return run(*a);
  };
}

}  // namespace qk
