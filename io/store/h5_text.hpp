#pragma once
// Text columns of a results store (schema v5, docs/hdf5-schema.md "Strings"): the
// column's dataset holds, per row, the i64 end offset of its value in a 1-D u8 dataset
// of UTF-8 bytes, "<column>_utf8" (named by the column's attribute "utf8_bytes"). Value
// i is bytes [end[i-1], end[i]) (end[-1] = 0): any bytes, NUL included, any length, and
// both datasets only grow, so they are as safe under SWMR as every numeric column.
#include <hdf5.h>

#include "h5_util.hpp"

#include <string>
#include <vector>

namespace qk::h5 {

// The first sweep schema version whose string columns are text columns.
inline constexpr int kTextSchemaVersion = 5;

// The attribute of a text column naming its bytes dataset.
inline constexpr const char* kTextBytesAttr = "utf8_bytes";

// The path of text column `col`'s bytes dataset: "probe/id" -> "probe/id_utf8".
std::string text_bytes_path(const std::string& col);

// Whether dataset `ds` is a text column (it has the attribute kTextBytesAttr).
bool is_text_column(hid_t ds);

// The bytes dataset of text column `ds` (*name: its path); InputError(file, what ...) when
// `ds` is not of i64 offsets, or the bytes dataset is missing or not 1-D u8.
Id open_text_bytes(hid_t ds, const std::string& file, const std::string& what, std::string* name);

// Values [first, first + n) of text column `ds`. InputError(file, what ...) when the
// offsets are not i64, not ascending or lie past the bytes dataset (a damaged file).
std::vector<std::string> read_text_rows(hid_t ds, hsize_t first, hsize_t n, const std::string& file,
                                        const std::string& what);

// The [first, first + n) rows selected by 1-D `fspace`; InputError(file, what ...) unless
// it selects one run of rows of a 1-D dataset.
void selected_run(hid_t fspace, hsize_t n, hsize_t* first, const std::string& file, const std::string& what);

}  // namespace qk::h5
