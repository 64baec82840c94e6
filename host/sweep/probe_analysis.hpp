#pragma once
// One probe's metrics with its status (docs/sweep.md, "Non-finite values"): q/k/v are
// checked for NaN and Inf (one pass per layer tensor), the metrics run, their outputs are
// checked; the --on-nonfinite policy decides what a probe with non-finite values gets.
#include "attn/attention_stats.hpp"
#include "bo/bo_metrics.hpp"
#include "probe_status.hpp"
#include "snapshot.hpp"
#include "sweep_rows.hpp"

namespace qk {

struct ProbeMetrics {
  bool bo = true, attention = true;
  BoOptions bo_options;
  AttentionStatsOptions attention_options;
  OnNonFinite policy = OnNonFinite::Fail;
};

// Sets out.status and, as m asks, out.bo and out.attention: the metrics of a finite
// probe; for a non-finite one under skip, results without numbers (NaN); under keep, the
// metrics of the non-finite values (attention statistics NaN per head as HF eager's
// attention, BO values NaN where mask_nonfinite_bo says); under fail, nothing (the caller
// stops). Metrics that come out non-finite from finite q/k/v give non_finite_metric and
// are treated alike (skip: NaN; keep: as computed).
void analyse_probe(const Snapshot& snap, const ProbeMetrics& m, ProbeOutcome& out);

}  // namespace qk
