#include "sweep_runner.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "attn/model_attention.hpp"
#include "batch_writer.hpp"
#include "bo/bo_nonfinite.hpp"
#include "bo/gpu_stats.hpp"
#if defined(QKGEOM_WITH_TORCH)
#include <ATen/Parallel.h>

#include "decoder.hpp"
#include "layer_feed.hpp"
#include "torch_view.hpp"
#endif
#include "finite_check.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"
#include "json_limits.hpp"
#include "output_path.hpp"
#include "probe_analysis.hpp"
#include "progress.hpp"
#include "sweep_provenance.hpp"
#include "sweep_rows.hpp"
#include "threads.hpp"
#include "tokenizer.hpp"

namespace qk {

#if defined(QKGEOM_WITH_TORCH)
namespace {

namespace fs = std::filesystem;

std::string dtype_name(c10::ScalarType t) {
  if (t == at::kBFloat16) return "bf16";
  if (t == at::kHalf) return "f16";
  return "f32";
}

// The root attributes of the store a --resume continues (its crash flags cleared first);
// empty when there is none yet.
std::map<std::string, std::string> stored_attrs(const SweepOptions& o) {
  if (!o.resume || !fs::exists(o.out)) return {};
  return read_root_attrs(o.out);
}

// The CPU thread count a resumed CPU run without --threads takes from its file (so that
// its results stay bitwise those of one run, said on stderr); 0: keep the one the CLI
// applied (--threads, or the default: host/core/threads.hpp).
int resume_thread_count(const SweepOptions& o, const std::map<std::string, std::string>& stored) {
  if (o.threads > 0 || o.allow_mixed_numerics) return o.threads;
  const auto dev = stored.find("device"), n = stored.find("cpu_threads");
  if (dev == stored.end() || dev->second != "cpu" || n == stored.end()) return 0;
  const int t = std::atoi(n->second.c_str());
  if (t > 0)
    std::cerr << "qkgeom: resume: using " << t << " CPU thread" << (t == 1 ? "" : "s")
              << ", as the run it continues (CPU results depend on the thread count)\n";
  return std::max(t, 0);
}

// The store a previous run left (--resume), checked against this run's options; nullopt
// when there is none yet (it is created once the input has been read and tokenized).
// `had_store`: the file existed when the run started (its attributes are `stored`).
std::optional<ResultsStore> reopen_store(const SweepOptions& o, const std::vector<ColumnSpec>& cols,
                                         const std::map<std::string, std::string>& stored, const Attrs& attrs,
                                         bool had_store) {
  if (!fs::exists(o.out)) return std::nullopt;  // run_sweep refused an existing file without --resume
  if (!had_store)
    throw StoreError(o.out,
                     "was created by another process after this run started (two sweeps with one "
                     "--out?); it is not continued");
  bool versioned = false;
  const int64_t version = h5::read_int_attr(h5::open_for_read(o.out).get(), "schema_version", &versioned);
  if (versioned && version != kSweepSchemaVersion)
    throw InputError(o.out, "cannot resume: the file has schema_version " + std::to_string(version) +
                                ", this qkgeom writes " + std::to_string(kSweepSchemaVersion) +
                                "; start a new file");
  check_resume_compatible(o.out, stored, attrs, o.allow_mixed_numerics);
  return ResultsStore::reopen(o.out, cols);
}

// The skipped lines as root attributes: "skipped_count" and "skipped", a JSON array of the
// first kStored {line, id, problem} (an attribute stays small).
Attrs skipped_attrs(const std::vector<ProbeProblem>& skipped) {
  constexpr size_t kStored = 100;
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < skipped.size() && i < kStored; ++i)
    list.push_back({{"line", skipped[i].line}, {"id", skipped[i].id}, {"problem", skipped[i].what}});
  return {{"skipped_count", std::to_string(skipped.size())}, {"skipped", list.dump()}};
}

// The accepted probes (composite >= min; a NaN composite never is) of the whole store, as
// JSONL: the probe's own fields plus composite; a pre-tokenized probe of `probes` (the
// store's probe file) with its `ids` instead of a prompt. Written atomically (a rename).
int64_t write_accepted(const ResultsStore& store, const std::string& path, double min_score,
                       const std::vector<Probe>& probes) {
  const std::vector<std::string> id = store.read_strings("probe/id"),
                                 prompt = store.read_strings("probe/prompt"),
                                 domain = store.read_strings("probe/domain"),
                                 fields = store.read_strings("probe/fields");
  const std::vector<double> composite = store.read_f64("bo/composite");
  const std::vector<int64_t> index = store.read_i64("probe/index");
  std::unordered_map<int64_t, const std::vector<int64_t>*> ids;
  for (const Probe& p : probes)
    if (p.ids) ids[p.index] = &*p.ids;
  int64_t n = 0;
  write_atomically(path, true, [&](const std::string& tmp) {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) throw std::runtime_error(tmp + ": cannot write the accepted probes");
    for (size_t i = 0; i < id.size(); ++i) {
      if (!(composite[i] >= min_score)) continue;
      check_json_limits(fields[i], store.path() + ": probe/fields row " + std::to_string(i));
      nlohmann::json j = nlohmann::json::parse(fields[i].empty() ? "{}" : fields[i]);
      j["id"] = id[i];
      if (!domain[i].empty()) j["domain"] = domain[i];
      if (const auto it = ids.find(index[i]); it != ids.end())
        j["ids"] = *it->second;
      else
        j["prompt"] = prompt[i];
      j["composite"] = static_cast<int64_t>(composite[i]);
      f << j.dump() << "\n";
      ++n;
    }
    f.close();
    if (!f) throw std::runtime_error(tmp + ": write failed");
  });
  return n;
}

// Composite scores of this run's probes that have one.
struct CompositeRange {
  double min = std::numeric_limits<double>::infinity(), max = -min, sum = 0;
  int64_t n = 0;
};

// "probe 'ID' (line N)".
std::string probe_name(const ProbeOutcome& out) {
  return "probe '" + out.probe->probe.id + "' (line " + std::to_string(out.probe->probe.line) + ")";
}

// Why --on-nonfinite fail stops at `out`: the probe, where, and for non-finite q/k/v the
// cause (a non-finite weight, or the dtype's range).
std::string failure_message(const ProbeOutcome& out, const SweepOptions& o, const std::string& dtype) {
  std::string m = probe_name(out) + ": " + out.status.status + ": " + out.status.detail;
  if (out.status.status == "non_finite") {
    bool bad_input = true;
    m += "; " + nonfinite_cause(o.model, dtype, &bad_input);
  }
  return m;
}

// Counts a committed probe: its composite, or its non-finite status (a warning for the
// first few on stderr).
void note_probe(const ProbeOutcome& out, bool verbose, SweepSummary& sum, CompositeRange& c) {
  constexpr int64_t kWarnings = 5;
  if (out.bo && !bo_without_score(*out.bo)) {
    const double x = out.bo->composite;
    c.min = std::min(c.min, x);
    c.max = std::max(c.max, x);
    c.sum += x;
    ++c.n;
  }
  if (out.status.ok()) return;
  if (sum.non_finite == 0) sum.first_non_finite = probe_name(out) + ": " + out.status.detail;
  ++sum.non_finite;
  if (!verbose || sum.non_finite > kWarnings) return;
  std::cerr << "qkgeom: warning: " << probe_name(out) << ": " << out.status.status << ": "
            << out.status.detail << " (stored with status " << out.status.status << ")\n";
  if (sum.non_finite == kWarnings)
    std::cerr << "qkgeom: warning: further non-finite probes are not listed; see probe/status\n";
}
SweepLayout sweep_layout(const ModelConfig& cfg, const SweepOptions& o) {
  SweepLayout layout;
  layout.layers = cfg.num_layers;
  layout.q_heads = cfg.num_heads;
  layout.kv_heads = cfg.num_kv_heads;
  layout.head_dim = cfg.head_dim;
  layout.analysed_heads = o.lem_compat ? 1 : cfg.num_kv_heads;
  layout.bo = o.bo;
  layout.attention = o.attention;
  layout.save_kv = o.save_kv;
  layout.kv_dtype = o.save_kv_dtype;
  return layout;
}

ProbeMetrics probe_metrics(const ModelConfig& cfg, const SweepOptions& o) {
  ProbeMetrics pm;
  pm.bo = o.bo;
  pm.attention = o.attention;
  pm.bo_options.lem_compat = o.lem_compat;
  pm.bo_options.device = o.device;
  pm.attention_options = attention_options_for(cfg, o.device);
  pm.policy = o.on_nonfinite;
  return pm;
}

// The outcomes of one batch's probes (probes[i] analysed layer by layer in layers[i], its
// --save-kv tensors in saved[i] when kept), in order; under --on-nonfinite fail those before
// the first non-finite probe, whose message goes to *failure.
std::vector<ProbeOutcome> finish_batch(const TokenizedProbe* probes, const std::vector<ProbeLayers>& layers,
                                       const std::vector<Snapshot>& saved, const SweepOptions& o,
                                       SweepSummary& sum, CompositeRange& composite, std::string* failure) {
  std::vector<ProbeOutcome> outs;
  for (size_t i = 0; i < layers.size(); ++i) {
    ProbeOutcome out;
    out.probe = &probes[i];
    out.snap = saved.empty() ? nullptr : &saved[i];
    layers[i].finish(out);
    if (!out.status.ok() && o.on_nonfinite == OnNonFinite::Fail) {
      *failure = failure_message(out, o, sum.dtype);
      break;
    }
    note_probe(out, o.progress, sum, composite);
    outs.push_back(std::move(out));
  }
  return outs;
}

using Clock = std::chrono::steady_clock;

// Whether two paths name one file: the same inode (links followed), or the same path once
// made absolute and normal (for a file not made yet).
bool same_path(const std::string& a, const std::string& b) {
  std::error_code ea, eb;
  const fs::path x = fs::weakly_canonical(a, ea), y = fs::weakly_canonical(b, eb);
  return same_file(a, b) || (!ea && !eb && x == y);
}

// Seconds elapsed since `a`.
double seconds_since(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

// Refuses bad sweep options, and an output file that exists without --resume.
void check_sweep_options(const SweepOptions& o) {
  if (o.batch_tokens < 1) throw std::invalid_argument("--batch-tokens must be at least 1");
  if (o.min_score && !o.bo) throw std::invalid_argument("--min-score needs the bo metrics");
  check_output_path(o.out);
  if (same_path(o.out, o.probes)) throw InputError(o.out, "--out names the probe file (--probes)");
  if (!o.accepted.empty()) {
    check_output_path(o.accepted);
    for (const std::string& in : {o.out, o.probes})
      if (same_path(o.accepted, in))
        throw InputError(o.accepted, "--accepted names " + std::string(in == o.out ? "--out" : "--probes") +
                                         ", which it would replace");
  }
  if (fs::exists(o.out) && !o.resume)
    throw InputError(o.out, "exists; pass --resume to continue that sweep, or remove the file");
}

// The compute dtype of --dtype: auto is the dtype of the run a --resume continues, else
// bf16 on CUDA (the prefill built for GPUs) and the checkpoint's own on the CPU (as
// capture, score and transformers' dtype="auto"); "" means the checkpoint's.
std::string sweep_dtype(const SweepOptions& o, const std::map<std::string, std::string>& stored) {
  if (o.dtype != "auto") return o.dtype;
  if (const auto it = stored.find("dtype"); it != stored.end() && !it->second.empty()) return it->second;
  return resolve_device(o.device).is_cuda() ? "bf16" : "";
}

// Records the model's device, dtype and CPU thread count in `sum`; the GPU's name ("" on CPU).
std::string note_model(const TransformerModel& model, SweepSummary& sum) {
  const c10::Device dev = model.device();
  sum.device = dev.is_cuda() ? "cuda:" + std::to_string(dev.index()) : "cpu";
  sum.dtype = dtype_name(model.dtype());
  sum.threads = at::get_num_threads();
  return dev.is_cuda() ? gpu_device_name(dev.index()) : "";
}

// The context the analysis runs in: the model's device, the CPU threads applied and, on
// CUDA, libtorch's current stream (the analysis reads q/k/v after the work queued there).
ExecContext model_context(const TransformerModel& model) {
  ExecContext ctx;
  const c10::Device dev = model.device();
  ctx.device.cuda = dev.is_cuda();
  ctx.device.index = dev.is_cuda() ? dev.index() : 0;
  ctx.threads = applied_threads();
  ctx.stream = torch_stream(dev);
  return ctx;
}

// Marks a reopened store running again; the probe indices it has committed (none without one).
std::unordered_set<int64_t> resume_done(std::optional<ResultsStore>& reopened, SweepSummary& sum) {
  std::unordered_set<int64_t> done;
  if (reopened) {
    reopened->set_attrs({{"status", "running"}, {"finished_at", ""}});
    sum.already_done = reopened->rows();
    const std::vector<int64_t> done_list = reopened->read_i64("probe/index");
    done.insert(done_list.begin(), done_list.end());
  }
  return done;
}

// This shard's probes not in `done`, tokenized (the tokenizer loaded only when a probe has
// no ids); skipped lines are appended to sum.skipped.
std::vector<TokenizedProbe> tokenize_todo(const SweepOptions& o, const ModelConfig& cfg,
                                          const std::vector<Probe>& probes,
                                          const std::unordered_set<int64_t>& done, SweepSummary& sum) {
  std::vector<Probe> todo = select_probes(probes, o.shard, {});
  sum.probes_in_shard = static_cast<int64_t>(todo.size());
  todo = select_probes(todo, Shard{}, done);
  std::optional<Tokenizer> tok;
  if (std::any_of(todo.begin(), todo.end(), [](const Probe& p) { return !p.ids; }))
    tok.emplace(Tokenizer::from_dir(o.model));
  TokenizeOptions topt;
  topt.templ = o.templ;
  // Dynamic RoPE is made to run past max_position_embeddings (as the runtime allows it).
  topt.max_tokens = runs_past_max_positions(cfg) ? 0 : cfg.max_position_embeddings;
  topt.vocab_size = cfg.vocab_size;
  topt.on_bad = o.on_bad;
  return tokenize_probes(o.probes, todo, tok ? &*tok : nullptr, topt, sum.skipped);
}

// A new store with this run's attributes plus the skipped lines (known before anything is computed).
ResultsStore create_store(const SweepOptions& o, const std::vector<ColumnSpec>& cols, const Attrs& attrs,
                          const std::vector<ProbeProblem>& skipped) {
  Attrs create_attrs = attrs;
  for (auto& a : skipped_attrs(skipped)) create_attrs.push_back(std::move(a));
  return ResultsStore::create(o.out, cols, create_attrs, kSweepSchemaVersion);
}

// What the batches of one sweep read (options, columns, metrics) and update (summary,
// composite range, the --on-nonfinite fail message).
struct SweepRun {
  const SweepOptions& o;
  const std::vector<ColumnSpec>& cols;
  const ProbeMetrics& pm;
  ExecContext ctx;  // the model's device and stream: where the analysis reads q/k/v
  bool with_q;      // capture q as well as k/v
  SweepSummary& sum;
  CompositeRange composite;
  std::string failure;  // --on-nonfinite fail: why the sweep stopped
};

// Probes work[begin, end): prefill, analysis, and their rows pushed to `writer`; the seconds
// of each step and the probe/token counts are added to r.sum.
void run_batch(TransformerModel& model, const std::vector<TokenizedProbe>& work, size_t begin, size_t end,
               FeedBuffers& buffers, BatchWriter& writer, SweepRun& r) {
  std::vector<std::vector<int64_t>> ids;
  for (size_t i = begin; i < end; ++i) ids.push_back(work[i].ids);
  const ModelConfig& c = model.config();
  std::vector<ProbeLayers> layers;
  layers.reserve(end - begin);
  for (size_t i = begin; i < end; ++i)
    layers.emplace_back(r.pm, r.ctx, static_cast<int>(c.num_layers),
                        r.with_q ? static_cast<int>(c.num_heads) : 0, static_cast<int>(c.num_kv_heads));
  auto t = Clock::now();
  // The outcomes and their --save-kv tensors, handed to the writer thread whole (on CUDA
  // with the pinned staging buffer, which it copies from and releases): it builds the rows
  // (the token-major kv/ layout) and appends them.
  struct Done {
    FedBatch fed;
    std::vector<ProbeOutcome> outs;
  };
  auto done = std::make_shared<Done>();
  done->fed = prefill_and_analyse(model, ids, r.with_q, r.o.save_kv, layers, buffers);
  r.sum.prefill_s += seconds_since(t) - done->fed.analysis_s;
  r.sum.analysis_s += done->fed.analysis_s;
  t = Clock::now();
  done->outs = finish_batch(&work[begin], layers, done->fed.saved, r.o, r.sum, r.composite, &r.failure);
  const auto n = static_cast<int64_t>(done->outs.size());
  int64_t tokens = 0;
  for (const ProbeOutcome& x : done->outs) tokens += static_cast<int64_t>(x.probe->ids.size());
  r.sum.analysis_s += seconds_since(t);
  if (n > 0) {
    t = Clock::now();
    writer.push(
        [done, &cols = r.cols] {
          done->fed.unstage();  // the staged --save-kv tensors (CUDA) into the snapshots
          return sweep_rows(cols, done->outs);
        },
        n, tokens);
    r.sum.write_wait_s += seconds_since(t);
  }
  r.sum.done += n;
  r.sum.tokens += tokens;
}

// Runs the batches of `work` until all are done, `stop` is set or a probe fails under
// --on-nonfinite fail, committing them on a writer thread (with progress); rethrows a failed
// append. Returns the time the batches ended (the start of the finish phase).
Clock::time_point write_batches(TransformerModel& model, const std::vector<TokenizedProbe>& work,
                                ResultsStore& store, const std::atomic<bool>& stop, SweepRun& r) {
  int64_t total_tokens = 0;
  for (const TokenizedProbe& p : work) total_tokens += static_cast<int64_t>(p.ids.size());
  // Counts committed probes: advanced on the writer thread after each commit.
  Progress progress("sweep", static_cast<int64_t>(work.size()), total_tokens, r.o.progress);
  FeedBuffers buffers;  // reused by every batch (CUDA: result blocks, pinned staging)
  BatchWriter writer(store, [&progress](int64_t items, int64_t tokens) { progress.advance(items, tokens); });
  for (const auto& [begin, end] : token_batches(work, r.o.batch_tokens)) {
    if (stop.load()) {
      r.sum.interrupted = true;
      break;
    }
    run_batch(model, work, begin, end, buffers, writer, r);
    if (!r.failure.empty()) break;
  }
  const auto t_finish = Clock::now();
  writer.close();  // rethrows a failed append; the committed rows stay in the file
  r.sum.write_busy_s = writer.busy_s();
  progress.finish();
  return t_finish;
}

// Fills the composite summary, writes the accepted probes (--min-score) and the final root
// attributes; then throws the --on-nonfinite fail message, if any.
void finish_sweep(ResultsStore& store, const SweepOptions& o, const SweepRun& r, SweepSummary& sum,
                  const std::vector<Probe>& probes) {
  if (o.bo && r.composite.n > 0) {
    sum.composite_mean = r.composite.sum / static_cast<double>(r.composite.n);
    sum.composite_min = r.composite.min;
    sum.composite_max = r.composite.max;
  }
  sum.scored = r.composite.n;
  if (o.min_score) sum.accepted = write_accepted(store, o.accepted, *o.min_score, probes);
  sum.status = !r.failure.empty() ? "stopped_non_finite" : sum.interrupted ? "interrupted" : "complete";
  Attrs final_attrs = {{"finished_at", utc_now_iso8601()},
                       {"status", sum.status},
                       {"on_nonfinite", on_nonfinite_name(o.on_nonfinite)},
                       {"probes_committed", std::to_string(store.rows())}};
  store.finish(final_attrs);
  if (!r.failure.empty())
    throw std::runtime_error(r.failure + "; the sweep stopped (--on-nonfinite fail) with " +
                             std::to_string(store.rows()) + " probes committed in " + o.out +
                             "; rerun with --resume --on-nonfinite skip (NaN metrics) or keep to "
                             "record such probes with their status");
}

}  // namespace

SweepSummary run_sweep(const SweepOptions& o, const std::atomic<bool>& stop) {
  const auto t0 = Clock::now();
  SweepSummary sum;
  sum.out = o.out;
  sum.on_nonfinite = o.on_nonfinite;
  check_sweep_options(o);

  const bool had_store = fs::exists(o.out);
  const std::map<std::string, std::string> stored = stored_attrs(o);
  if (const int threads = resume_thread_count(o, stored); threads > 0) apply_threads(threads);
  TransformerModel model(o.model, RuntimeOptions{o.device, sweep_dtype(o, stored), 0, o.batch_mode});
  const ModelConfig& cfg = model.config();
  const std::string gpu = note_model(model, sum);

  const ProbeSet set = read_probes(o.probes, o.probe_format, o.on_bad);
  sum.probes_in_file = static_cast<int64_t>(set.probes.size());
  sum.skipped = set.skipped;

  const std::vector<ColumnSpec> cols = sweep_columns(sweep_layout(cfg, o));
  const Attrs attrs =
      sweep_attrs(o, sum.device, gpu, sum.dtype, attention_options_for(cfg, o.device).softcap);
  std::optional<ResultsStore> reopened = reopen_store(o, cols, stored, attrs, had_store);
  const std::unordered_set<int64_t> done = resume_done(reopened, sum);
  const std::vector<TokenizedProbe> work = tokenize_todo(o, cfg, set.probes, done, sum);
  ResultsStore store = reopened ? std::move(*reopened) : create_store(o, cols, attrs, sum.skipped);

  const ProbeMetrics pm = probe_metrics(cfg, o);
  SweepRun r{o, cols, pm, model_context(model), o.attention || o.save_kv == SaveKv::Qkv, sum, {}, {}};
  sum.setup_s = seconds_since(t0);
  if (reopened)
    std::cerr << "qkgeom: resuming: " << sum.already_done << " of " << sum.probes_in_shard
              << " probes committed; " << work.size() << " to go\n";
  const Clock::time_point t_finish = write_batches(model, work, store, stop, r);
  finish_sweep(store, o, r, sum, set.probes);
  sum.finish_s = seconds_since(t_finish);
  sum.seconds = seconds_since(t0);
  return sum;
}
#else
SweepSummary run_sweep(const SweepOptions&, const std::atomic<bool>&) {
  throw std::runtime_error("sweep: this build has no libtorch (QKGEOM_WITH_TORCH=OFF)");
}
#endif

}  // namespace qk
