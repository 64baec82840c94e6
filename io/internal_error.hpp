#pragma once
// The exception type for a condition that cannot happen unless qkgeom has a bug (a
// broken invariant, an unlisted enum value). The CLI prints it as an internal error and
// exits 1 (docs/cli.md); bad input is InputError, a bad option std::invalid_argument.
#include <stdexcept>
#include <string>

namespace qk {

class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& what) : std::logic_error(what) {}
};

}  // namespace qk
