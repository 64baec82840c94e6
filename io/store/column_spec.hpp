#pragma once
// One column of a results store (docs/hdf5-schema.md): its dataset path, element
// type, the shape of one row, whether rows are tokens (ragged) and its attributes.
#include <cstdint>
#include <string>
#include <vector>

namespace qk {

// Str: text (UTF-8; any bytes, NUL included), stored as a text column (h5_text.hpp): one
// value per row, no row axes. F16 / BF16: IEEE half / bfloat16 (saved K/V:
// --save-kv-dtype), whose values are given as their 16-bit patterns.
enum class ColType { F64, F32, I64, I32, U8, Str, F16, BF16 };

struct ColumnSpec {
  std::string path;  // "group/name", e.g. "bo/composite", "probe/id"
  ColType type = ColType::F64;
  std::vector<uint64_t> row_shape;  // {} one value per row; {L}; {L, H}; ...
  bool ragged = false;              // rows are tokens, a variable count per probe
  std::string units, description;   // attributes "units", "description"
  std::vector<std::string> dims;    // names of row_shape's axes, e.g. {"layer", "head"}
  // Names of the entries of the row's last axis (attribute "labels", e.g. bo/features);
  // empty: none.
  std::vector<std::string> labels;
};

// "f64", "f32", "i64", "i32", "u8", "str".
const char* col_type_name(ColType t);

// Bytes of one element in memory (Str: one char pointer).
size_t col_type_size(ColType t);

// The group of a column path: everything before the last '/'.
std::string column_group(const std::string& path);

}  // namespace qk
