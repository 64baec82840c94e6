#pragma once
// Limits every JSON reader applies before parsing (tokenizer.json, config.json, the
// checkpoint index, probe lines): nesting depth and size. nlohmann's parser copes with
// deep input, but copying, dumping and walking the parsed value recurse (a crash) and
// memory grows with depth; HF's readers (serde_json) stop at 128 levels. The safetensors
// header has its own, equal depth limit (io/safetensors.cpp).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace qk {

inline constexpr int kJsonMaxDepth = 127;                // deepest nesting serde_json accepts
inline constexpr uint64_t kJsonMaxBytes = 128ull << 20;  // 4x the largest tokenizer.json seen

// Byte offset of the '[' or '{' that opens nesting level max_depth + 1 (brackets inside
// strings do not count); nullopt when the text never nests that deep. A linear scan that
// does not validate the JSON.
std::optional<size_t> json_too_deep_at(std::string_view text, int max_depth = kJsonMaxDepth);

// "line L, column C" (1-based; the column counts bytes) of a byte offset in `text`.
std::string text_position(std::string_view text, size_t offset);

// InputError(where, ...) when `text` is longer than `max_bytes` or nests deeper than
// kJsonMaxDepth, e.g. "nests deeper than 127 levels (line 1, column 2233)".
void check_json_limits(std::string_view text, const std::string& where, uint64_t max_bytes = kJsonMaxBytes);

// The bytes of the JSON file `path`; InputError naming it when it cannot be opened or
// read, or is larger than `max_bytes` (checked before reading).
std::string read_json_file(const std::string& path, uint64_t max_bytes = kJsonMaxBytes);

// read_json_file, check_json_limits, then parse; InputError(path, "not valid JSON: ...").
nlohmann::json parse_json_file(const std::string& path);

}  // namespace qk
