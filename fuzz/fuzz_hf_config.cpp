// libFuzzer: config.json parsing (io/hf_config.cpp, parse_hf_config). InputError is the
// expected answer to bad input; anything else is a bug.
#include <cstdint>
#include <string>

#include "hf_config.hpp"
#include "input_error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    qk::parse_hf_config(text, "config.json");
  } catch (const qk::InputError&) {
  }
  return 0;
}
