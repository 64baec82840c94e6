#include "output_path.hpp"

#include <unistd.h>

#include <filesystem>

#include "input_error.hpp"

namespace qk {

void check_output_path(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) throw InputError(path, "is a directory, not a file to write");
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    throw InputError(path, "cannot be written: directory '" + dir.string() + "' does not exist");
  if (access(dir.c_str(), W_OK) != 0)
    throw InputError(path, "cannot be written: directory '" + dir.string() + "' is not writable");
}

}  // namespace qk
