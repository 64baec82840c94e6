#pragma once
// The head-dim experiment as a plain HDF5 file (written to PATH.tmp, then renamed): one row
// per (config, phase, matrix), configs/ with the accuracies, root attributes with the
// options and provenance (docs/headdim.md).
#include <string>

#include "headdim_types.hpp"

namespace qk {

void write_headdim_h5(const std::string& path, const HeaddimResult& r, const std::string& command_line);

}  // namespace qk
