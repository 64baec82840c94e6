#pragma once
// A results file's columns against the registry of stored quantities (quantities.hpp):
// the readers of a store take each dataset's element type from the file, so a column a
// qkgeom store never holds in that form (probe/id as numbers, bo/composite as strings)
// would flow through `merge` and `export` as if it were data.
#include <string>
#include <vector>

#include "column_spec.hpp"

namespace qk {

// InputError(file, "dataset '/probe/id' holds i64, but a qkgeom store keeps str there")
// at the first column of `have` that the registry knows with another element type (the
// saved K/V may be f32, f16 or bf16), ragged-ness, row rank or fixed row size. Columns the
// registry does not know pass.
void check_known_columns(const std::vector<ColumnSpec>& have, const std::string& file);

}  // namespace qk
