#pragma once
// Per-probe status of a sweep (docs/sweep.md, "Non-finite values") and the policy for
// probes whose q/k/v or metrics hold NaN or Inf (--on-nonfinite).
#include <cstdint>
#include <string>

namespace qk {

// fail: stop the sweep (exit 4) after committing the probes before it; skip: store the
// probe with its status and NaN metrics; keep: store it with its status and the metrics
// computed from the non-finite values (NaN where the definitions propagate them).
enum class OnNonFinite { Fail, Skip, Keep };

// "fail" | "skip" | "keep"; throws std::invalid_argument naming --on-nonfinite otherwise.
OnNonFinite parse_on_nonfinite(const std::string& name);
const char* on_nonfinite_name(OnNonFinite policy);

struct ProbeStatus {
  std::string status = "ok";  // "ok", "non_finite" (q/k/v), "non_finite_metric" (outputs only)
  int32_t layer = -1;         // first layer with a non-finite q/k/v value; -1 when none
  std::string tensor;         // "q", "k" or "v"; the metric's column for non_finite_metric
  std::string detail;         // one line: heads, first index and value, or the metric's place
  bool ok() const { return status == "ok"; }
};

}  // namespace qk
