#pragma once
// GPT-2's reversible byte <-> printable-character mapping used by byte-level BPE.
#include <string>

namespace qk::tok {

// Each byte of text becomes its GPT-2 stand-in character (UTF-8 encoded).
std::string bytes_to_byte_level(const std::string& text);

}  // namespace qk::tok
