// --cm-compat in a binary without libtorch (the front end hands it to the engine).
#include "internal_error.hpp"
#include "simplex_cm_compat.hpp"

namespace qk {

SimplexStat cm_statistic(const float*, int64_t, int64_t, const SimplexOptions&) {
  throw InternalError("simplex --cm-compat reached a build without libtorch");
}

}  // namespace qk
