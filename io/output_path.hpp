#pragma once
// Checks, before any long work, that a result file can be written where it is asked for.
#include <string>

namespace qk {

// InputError naming `path` when its directory does not exist, is not a directory or is
// not writable, or when `path` is an existing directory.
void check_output_path(const std::string& path);

}  // namespace qk
