#pragma once
// The columns a sweep writes (schema v2, docs/hdf5-schema.md "Sweep columns"): probe
// identity, status and tokens, the Bone-Orientation metrics, the attention statistics, and the
// raw post-RoPE vectors when asked for.
#include <cstdint>
#include <string>
#include <vector>

#include "column_spec.hpp"

namespace qk {

// v2: probe/status columns; bo/composite and bo/joint_collapse_count f64 (NaN-able).
constexpr int kSweepSchemaVersion = 2;

enum class SaveKv { None, K, Qkv };

// "none" | "k" | "qkv"; throws std::invalid_argument naming --save-kv otherwise.
SaveKv parse_save_kv(const std::string& name);
const char* save_kv_name(SaveKv s);

struct SweepLayout {
  int64_t layers = 0, q_heads = 0, kv_heads = 0, head_dim = 0;
  int64_t analysed_heads = 0;  // BO per-head detail: kv heads, or 1 with --lem-compat
  bool bo = true;
  bool attention = true;
  SaveKv save_kv = SaveKv::None;
};

std::vector<ColumnSpec> sweep_columns(const SweepLayout& layout);

}  // namespace qk
