// GPT-2 byte mapping: printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100 onwards in byte order.
#include "byte_level.hpp"

#include <array>

#include "unicode.hpp"

namespace qk::tok {

namespace {

std::array<std::string, 256> build_table() {
  std::array<std::string, 256> t;
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool kept = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    utf8_append(t[b], kept ? static_cast<char32_t>(b) : next++);
  }
  return t;
}

}  // namespace

std::string bytes_to_byte_level(const std::string& text) {
  static const std::array<std::string, 256> table = build_table();
  std::string out;
  out.reserve(text.size() * 2);
  for (unsigned char b : text) out += table[b];
  return out;
}

}  // namespace qk::tok
