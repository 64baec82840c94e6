#pragma once
// One prompt's prefill as a snapshot that records the model, the run and the attention
// its layers use (docs/snapshot-format.md): what `capture` writes and `score --model`
// scores (and writes with --save-snapshot), so both give the same numbers.
#include <cstdint>
#include <string>
#include <vector>

#include "attn/attention_stats.hpp"
#include "snapshot.hpp"

namespace qk {

struct PromptCapture {
  Snapshot snap;               // q, k, v of every layer (f32) with the metadata
  AttentionStatsOptions attn;  // the model's own masks, windows and scale
  double prefill_ms = 0;       // the prefill alone, without loading the model
};

// Loads the checkpoint in `model_dir` onto `device` in `dtype` ("" = the checkpoint's)
// and runs prefill over `ids`. Throws as TransformerModel does, and std::runtime_error in
// a build without libtorch.
PromptCapture capture_prompt(const std::string& model_dir, const std::vector<int64_t>& ids,
                             const std::string& device, const std::string& dtype);

}  // namespace qk
