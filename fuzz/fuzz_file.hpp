#pragma once
// For harnesses whose reader takes a path: the fuzz input written to a file of this
// process (under $TMPDIR, else /tmp), removed again when the object goes.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace qk::fuzz {

// A per-process scratch path ending in `suffix`.
inline std::string scratch_path(const std::string& suffix) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = (tmp && *tmp) ? tmp : "/tmp";
  return dir + "/qkfuzz_" + std::to_string(getpid()) + suffix;
}

// Removes `path` (a file or a folder tree), if present.
inline void remove_scratch(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

struct FuzzFile {
  std::string path;
  FuzzFile(const uint8_t* data, size_t size, const std::string& suffix) : path(scratch_path(suffix)) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  ~FuzzFile() { remove_scratch(path); }
};

}  // namespace qk::fuzz
