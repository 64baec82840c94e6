#pragma once
// Range-checked integers from JSON (tokenizer.json ids, safetensors shapes and offsets,
// probe ids): a value out of range is refused, never wrapped. nlohmann stores integers
// past 64 bits as floating point, which is never an integer here.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "input_error.hpp"

namespace qk {

// v as an integer in [0, max]; nullopt when it is negative, larger, or not an integer.
inline std::optional<uint64_t> json_unsigned(const nlohmann::json& v, uint64_t max) {
  if (!v.is_number_unsigned() || v.get<uint64_t>() > max) return std::nullopt;
  return v.get<uint64_t>();
}

// v as an integer in [0, max]; else InputError(where, "expected an integer in [0, max], got V").
inline uint64_t require_unsigned(const nlohmann::json& v, uint64_t max, const std::string& where) {
  const auto u = json_unsigned(v, max);
  if (!u) throw InputError(where, "expected an integer in [0, " + std::to_string(max) + "], got " + v.dump());
  return *u;
}

}  // namespace qk
