#pragma once
// SHA-256 of files and byte ranges (OpenSSL), as lowercase hex.
#include <cstdint>
#include <string>

namespace qk {

// The whole file; throws InputError naming it when it cannot be read.
std::string sha256_file(const std::string& path);
// The first `bytes` bytes of the file (fewer if it is shorter).
std::string sha256_file_prefix(const std::string& path, uint64_t bytes);
std::string sha256_bytes(const std::string& data);

}  // namespace qk
