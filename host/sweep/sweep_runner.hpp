#pragma once
// `qkgeom sweep`: a probe set through prefill and the per-probe analyses into a results
// store, crash-safe and resumable, optionally one shard of many (docs/sweep.md).
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "batch_mode.hpp"
#include "probe_set.hpp"
#include "probe_status.hpp"
#include "shard.hpp"
#include "sweep_schema.hpp"

namespace qk {

struct SweepOptions {
  std::string model, probes, out;
  ProbeFormat probe_format = ProbeFormat::Auto;
  OnBadLine on_bad = OnBadLine::Fail;
  OnNonFinite on_nonfinite = OnNonFinite::Fail;
  std::string templ = "raw";
  bool bo = true, attention = true;  // --metrics
  bool lem_compat = false;
  SaveKv save_kv = SaveKv::None;
  KvDtype save_kv_dtype = KvDtype::F32;  // --save-kv-dtype
  int64_t batch_tokens = 4096;
  bool resume = false;
  Shard shard;
  std::optional<double> min_score;  // with `accepted`
  std::string accepted;
  std::string device = "auto";
  std::string dtype = "auto";  // --dtype: auto (bf16 on CUDA, the checkpoint's on the CPU, a resumed run's) |
                               // bf16 | f16 | f32
  // --batch-mode (docs/model-runtime.md, "Packed batches")
  BatchMode batch_mode = BatchMode::Packed;
  int threads = 0;                    // --threads as given (the CLI applies it, threads.hpp); 0:
                                      // the default, or on a resumed CPU run the file's
  bool allow_mixed_numerics = false;  // resume on another device or thread count
  bool progress = true;
  std::string command_line;
};

struct SweepSummary {
  std::string out;
  int64_t probes_in_file = 0;         // probes read from the file
  int64_t probes_in_shard = 0;        // of them, this shard's
  int64_t already_done = 0;           // committed before this run (--resume)
  int64_t done = 0;                   // committed by this run
  int64_t tokens = 0;                 // tokens of the probes committed by this run
  std::vector<ProbeProblem> skipped;  // bad lines, over-long probes (--on-bad-line skip)
  bool interrupted = false;
  double seconds = 0;       // wall time of the whole run
  double setup_s = 0;       // model load, probe read, tokenization, store open
  double prefill_s = 0;     // prefill and Q/K/V to host memory
  double analysis_s = 0;    // BO metrics, attention statistics, row building
  double write_wait_s = 0;  // prefill thread blocked on a full writer queue
  double write_busy_s = 0;  // writer thread appending (overlaps the above)
  double finish_s = 0;      // draining the writer, accepted file, final attributes
  std::string device, dtype, status;
  int threads = 0;                                                     // CPU threads libtorch used
  std::optional<double> composite_mean, composite_min, composite_max;  // this run's scored probes
  int64_t scored = 0;  // this run's probes with a composite score
  OnNonFinite on_nonfinite = OnNonFinite::Fail;
  int64_t non_finite = 0;        // this run's committed probes with a status other than ok
  std::string first_non_finite;  // the first of them: probe and where
  int64_t accepted = 0;          // probes in the accepted file (--min-score)
};

// Runs the sweep; `stop` asks it to end after the current batch (SIGINT). Throws
// InputError for bad input and std::runtime_error when the store cannot be written, or
// under --on-nonfinite fail at the first non-finite probe, naming it (what was committed
// stays in the file).
SweepSummary run_sweep(const SweepOptions& opts, const std::atomic<bool>& stop);

}  // namespace qk
