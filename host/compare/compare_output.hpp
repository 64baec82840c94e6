#pragma once
// What `qkgeom compare` writes: one JSON object, the table on stdout, and CMP.h5
// (docs/compare.md, "Output").
#include <string>

#include <nlohmann/json.hpp>

#include "compare_study.hpp"
#include "run_record.hpp"

namespace qk {

nlohmann::json compare_json(const CompareResult& r);
std::string compare_table(const CompareResult& r);
// Writes CMP.h5 at `path` (a new file: the caller writes atomically) with the run record
// (no model attributes: a comparison has several).
void write_compare_h5(const CompareResult& r, const std::string& path, const std::string& command_line,
                      const RunPlace& place);

}  // namespace qk
