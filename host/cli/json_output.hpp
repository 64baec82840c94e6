#pragma once
// The text of every command's --json output: one line (or `indent` spaces per level), with
// U+FFFD in place of each byte that is not UTF-8 (a file name), never an exception.
#include <string>

#include <nlohmann/json.hpp>

namespace qk {

inline std::string json_text(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace qk
