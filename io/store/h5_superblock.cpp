// Truncation check of an HDF5 file from its superblock alone (no HDF5 call, nothing
// written): the superblock records the end-of-file address, the first byte past all
// data; a file shorter than that lost data at its end (a copy cut short, a full disk).
#include <cstdint>
#include <fstream>
#include <string>

#include "h5_util.hpp"
#include "input_error.hpp"

namespace qk::h5 {

namespace {

constexpr char kSignature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};

// Little-endian unsigned of `n` bytes at p.
uint64_t decode(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// The end-of-file address recorded by the superblock in `b` (read at its start), or
// false when `b` holds no superblock we know (version 0-3, 4- or 8-byte offsets).
bool stored_eof(const unsigned char* b, size_t n, uint64_t* eof) {
  if (n < 12 || std::string(reinterpret_cast<const char*>(b), 8) != std::string(kSignature, 8)) return false;
  const int version = b[8];
  const int osize = version >= 2 ? b[9] : (n > 13 ? b[13] : 0);
  if (osize != 4 && osize != 8) return false;
  const size_t at = version >= 2 ? 12 + 2 * osize : (version == 1 ? 28 : 24) + 2 * osize;
  if (version > 3 || at + osize > n) return false;
  *eof = decode(b + at, osize);
  return *eof != (osize == 8 ? UINT64_MAX : UINT32_MAX);
}

}  // namespace

void require_not_truncated(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return;
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  // The superblock sits at 0, 512, 1024, 2048, ... (after a user block).
  for (uint64_t at = 0; at + 12 <= size; at = at ? at * 2 : 512) {
    unsigned char b[96] = {};
    in.seekg(static_cast<std::streamoff>(at));
    in.read(reinterpret_cast<char*>(b), sizeof b);
    uint64_t eof = 0;
    if (!stored_eof(b, static_cast<size_t>(in.gcount()), &eof)) {
      in.clear();
      continue;
    }
    if (size < eof)
      throw InputError(file, "corrupt or truncated HDF5: truncated (" + std::to_string(size) + " of " +
                                 std::to_string(eof) + " bytes); the data past byte " + std::to_string(size) +
                                 " is lost. Left unchanged: restore it from "
                                 "a complete copy");
    return;
  }
}

}  // namespace qk::h5
