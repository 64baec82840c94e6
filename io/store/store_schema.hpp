#pragma once
// The column set of a results store: validation of a spec list, the columns the store
// adds itself (per ragged group "<group>/offset" and "<group>/count"), reading the
// columns back from a file, and comparing two column sets.
#include <string>
#include <vector>

#include "column_spec.hpp"

namespace qk {

// The per-probe key column every store has (I64, scalar): the probe's index.
inline constexpr const char* kIndexColumn = "probe/index";
// The group of the index column; it holds no ragged columns (docs/hdf5-schema.md).
inline constexpr const char* kKeyGroup = "probe";

// `cols` checked (InputError naming `file` and the column) with default dims filled
// in ("dim0", "dim1", ... where none are given).
std::vector<ColumnSpec> normalized_columns(const std::vector<ColumnSpec>& cols, const std::string& file);

// Groups holding ragged columns, in order of first appearance.
std::vector<std::string> ragged_groups(const std::vector<ColumnSpec>& cols);

// The two I64 per-probe columns the store keeps for a ragged group: start row and
// row count of each probe's tokens.
ColumnSpec offset_column(const std::string& group);
ColumnSpec count_column(const std::string& group);

// The caller's columns of a store file (opened read-only; SWMR-read if needed).
std::vector<ColumnSpec> read_store_columns(const std::string& path);

// InputError(where, "dataset '/x' ...") at the first difference between the columns in
// a file (`have`) and the expected ones (type, row shape, ragged, dims; order ignored).
void check_same_columns(const std::vector<ColumnSpec>& have, const std::vector<ColumnSpec>& want,
                        const std::string& where);

// Product of a row shape (elements per row).
uint64_t row_elems(const std::vector<uint64_t>& row_shape);

}  // namespace qk
