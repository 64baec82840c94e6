#pragma once
// ROPE.h5 (schema_version 1, docs/static-geometry.md, "RoPE-aware operator"): written to
// PATH.tmp, then renamed.
#include <string>

#include "rope_geometry.hpp"

namespace qk {

// `command_line` and `model_dir` are provenance (root attributes). StoreError on an
// HDF5 or file-system failure, naming the file.
void write_rope_h5(const std::string& path, const RopeGeometryResult& r, const std::string& model_dir,
                   const std::string& command_line);

}  // namespace qk
