#pragma once
// The columns a sweep writes (schema v4, docs/hdf5-schema.md "Sweep columns"), from the
// registry of stored quantities (host/core/quantities.hpp): probe
// identity, status and tokens, the Bone-Orientation metrics, the attention statistics, and the
// raw post-RoPE vectors when asked for.
#include <cstdint>
#include <string>
#include <vector>

#include "column_spec.hpp"

namespace qk {

// v2: probe/status columns; bo/composite and bo/joint_collapse_count f64 (NaN-able).
// v3: fixed-length strings, unfiltered chunks (readable by a live SWMR reader).
// v4: attention/distance_mass (a v3 file is not resumed into; merge keeps versions apart).
// v5: string columns as text columns, any length (io/store/h5_text.hpp); v4 and older
// files are read, not resumed.
constexpr int kSweepSchemaVersion = 5;

// The most UTF-8 bytes of a probe/status_detail (longer details are cut).
constexpr uint64_t kStatusDetailBytes = 256;

enum class SaveKv { None, K, Qkv };

// "none" | "k" | "qkv"; throws std::invalid_argument naming --save-kv otherwise.
SaveKv parse_save_kv(const std::string& name);
const char* save_kv_name(SaveKv s);

// --save-kv-dtype: the saved K/V as f32, or rounded to IEEE half / bfloat16 (half the
// bytes to write and compress; docs/sweep.md, "Saved K/V").
enum class KvDtype { F32, F16, BF16 };

// "f32" | "f16" | "bf16"; throws std::invalid_argument naming --save-kv-dtype otherwise.
KvDtype parse_save_kv_dtype(const std::string& name);
const char* save_kv_dtype_name(KvDtype t);

struct SweepLayout {
  int64_t layers = 0, q_heads = 0, kv_heads = 0, head_dim = 0;
  int64_t analysed_heads = 0;  // BO per-head detail: kv heads, or 1 with --lem-compat
  bool bo = true;
  bool attention = true;
  SaveKv save_kv = SaveKv::None;
  KvDtype kv_dtype = KvDtype::F32;  // element type of the kv/ columns
};

std::vector<ColumnSpec> sweep_columns(const SweepLayout& layout);

}  // namespace qk
