#pragma once
// A prompt on the command line: text (tokenized with the model's tokenizer.json, as HF
// does) or pre-tokenized ids.
#include <cstdint>
#include <string>
#include <vector>

namespace qk {

// "1,2,3" -> {1, 2, 3}; throws std::invalid_argument on anything else.
std::vector<int64_t> parse_ids(const std::string& text);

// The ids of `ids` when it is non-empty, else of `text` under model_dir's tokenizer
// (with its special tokens). Throws InputError for a missing or malformed tokenizer and
// std::invalid_argument for an empty prompt.
std::vector<int64_t> prompt_ids(const std::string& model_dir, const std::string& text,
                                const std::string& ids);

}  // namespace qk
