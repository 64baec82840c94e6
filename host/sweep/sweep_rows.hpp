#pragma once
// One batch of analysed probes as the store's rows, column by column in schema order.
#include <optional>
#include <vector>

#include "attn/attention_stats.hpp"
#include "bo/bo_metrics.hpp"
#include "probe_status.hpp"
#include "probe_tokens.hpp"
#include "results_store.hpp"
#include "snapshot.hpp"

namespace qk {

struct ProbeOutcome {
  const TokenizedProbe* probe = nullptr;
  std::optional<BoResult> bo;
  std::optional<AttentionStats> attention;
  const Snapshot* snap = nullptr;  // for --save-kv
  ProbeStatus status;
};

// Rows of `outcomes` for the columns `cols` (from sweep_columns). Values a probe lacks
// (head_differentiation outside position mode, the value side without v, every value of
// a result without numbers) are NaN; composite and joint_collapse_count are NaN when
// composite_exact, resp. mean_cross_alignment, is.
StoreBatch sweep_rows(const std::vector<ColumnSpec>& cols, const std::vector<ProbeOutcome>& outcomes);

}  // namespace qk
