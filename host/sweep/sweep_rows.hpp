#pragma once
// One batch of analysed probes as the store's rows, column by column in schema order.
#include <optional>
#include <vector>

#include "attn/attention_stats.hpp"
#include "bo/bo_metrics.hpp"
#include "probe_tokens.hpp"
#include "results_store.hpp"
#include "snapshot.hpp"

namespace qk {

struct ProbeOutcome {
  const TokenizedProbe* probe = nullptr;
  std::optional<BoResult> bo;
  std::optional<AttentionStats> attention;
  const Snapshot* snap = nullptr;  // for --save-kv
};

// Rows of `outcomes` for the columns `cols` (from sweep_columns). Values a probe lacks
// (head_differentiation outside position mode, the value side without v) are NaN.
StoreBatch sweep_rows(const std::vector<ColumnSpec>& cols, const std::vector<ProbeOutcome>& outcomes);

}  // namespace qk
