#pragma once
// How prefill runs a batch of prompts (docs/model-runtime.md, "Packed batches"):
//   lone:   every prompt through every op with the shapes it has alone (bitwise identical
//           alone or in any batch);
//   packed: the prompts' tokens concatenated for the row-wise ops (norms, projections,
//           RoPE, MLP) and attention per prompt segment (equal to lone within f32 rounding).
#include <stdexcept>
#include <string>

namespace qk {

enum class BatchMode { Lone, Packed };

// "lone" | "packed"; std::invalid_argument naming --batch-mode otherwise.
inline BatchMode parse_batch_mode(const std::string& name) {
  if (name == "lone") return BatchMode::Lone;
  if (name == "packed") return BatchMode::Packed;
  throw std::invalid_argument("--batch-mode: unknown '" + name + "'; use packed or lone");
}

inline const char* batch_mode_name(BatchMode m) { return m == BatchMode::Packed ? "packed" : "lone"; }

}  // namespace qk
