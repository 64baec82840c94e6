#include "quantity_check.hpp"

#include <cstdlib>

#include "input_error.hpp"
#include "quantities.hpp"

namespace qk {

namespace {

// The registry entry stored at `path`, or nullptr.
const Quantity* known(const std::string& path) {
  for (const Quantity& q : quantities())
    if (q.path == path) return &q;
  return nullptr;
}

// Whether a column of type `t` may hold quantity `q` (saved K/V: also rounded to 16 bits).
bool type_fits(const Quantity& q, ColType t) {
  if (t == q.type) return true;
  return q.ragged && q.type == ColType::F32 && (t == ColType::F16 || t == ColType::BF16);
}

// What is wrong with column `c` as quantity `q`, "" when nothing is.
std::string problem(const Quantity& q, const ColumnSpec& c) {
  if (!type_fits(q, c.type))
    return std::string("holds ") + col_type_name(c.type) + ", but a qkgeom store keeps " +
           col_type_name(q.type) + " there";
  if (c.ragged != q.ragged)
    return q.ragged ? "is per-probe, but a qkgeom store keeps it per token" : "is ragged";
  if (c.row_shape.size() != q.axes.size())
    return "has " + std::to_string(c.row_shape.size()) + " row axes, but a qkgeom store keeps " +
           std::to_string(q.axes.size());
  for (size_t i = 0; i < q.axes.size(); ++i) {
    const std::string& size = q.axes[i].size;
    char* end = nullptr;
    const unsigned long long n = std::strtoull(size.c_str(), &end, 10);
    if (!size.empty() && *end == '\0' && n != c.row_shape[i])
      return "has " + std::to_string(c.row_shape[i]) + " entries along '" + q.axes[i].name +
             "', but a qkgeom store keeps " + size;
  }
  return "";
}

}  // namespace

void check_known_columns(const std::vector<ColumnSpec>& have, const std::string& file) {
  for (const ColumnSpec& c : have)
    if (const Quantity* q = known(c.path))
      if (const std::string why = problem(*q, c); !why.empty())
        throw InputError(file, "dataset '/" + c.path + "' " + why + " (not a qkgeom sweep's column)");
}

}  // namespace qk
