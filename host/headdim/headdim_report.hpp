#pragma once
// The head-dim experiment rendered: the seed's three summary tables, or one JSON object.
#include <string>

#include <nlohmann/json.hpp>

#include "headdim_types.hpp"

namespace qk {

// Post-training weight CV, post-training activation CV, activation CV movement (post - pre).
std::string headdim_tables(const HeaddimResult& r);

// Options, per config the accuracies and every phase's measurements; "timing" and
// "provenance" hold what differs between identical runs.
nlohmann::json headdim_json(const HeaddimResult& r, const std::string& command_line);

}  // namespace qk
