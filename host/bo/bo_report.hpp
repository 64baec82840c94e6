#pragma once
// Renderings of a BoResult: one JSON object (the seed's field names at top level)
// or a readable table.
#include <string>

#include <nlohmann/json.hpp>

#include "bo/bo_metrics.hpp"

namespace qk {

nlohmann::json bo_to_json(const BoResult& r);
std::string bo_to_table(const BoResult& r);

}  // namespace qk
