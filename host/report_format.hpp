#pragma once
// Small formatting helpers shared by the tables and JSON renderings of host/.
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qk {

// v formatted with the printf format f (one double).
inline std::string fmt_double(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// A row-major [rows][flat.size()/rows] array as nested JSON arrays ([] when empty).
inline nlohmann::json nested_rows(const std::vector<double>& flat, int rows) {
  nlohmann::json out = nlohmann::json::array();
  if (rows <= 0 || flat.empty()) return out;
  const size_t cols = flat.size() / static_cast<size_t>(rows);
  for (int r = 0; r < rows; ++r)
    out.push_back(std::vector<double>(flat.begin() + r * cols, flat.begin() + (r + 1) * cols));
  return out;
}

}  // namespace qk
