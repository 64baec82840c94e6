#pragma once
// The parts of a loaded tokenizer (internal to io/tokenizer).
#include <memory>
#include <unordered_map>

#include "added_tokens.hpp"
#include "components.hpp"
#include "tokenizer.hpp"

namespace qk {

struct Tokenizer::Impl {
  std::unique_ptr<tok::Normalizer> normalizer;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tok::Model> model;
  std::unique_ptr<tok::PostProcessor> post_processor;
  tok::AddedTokenMatcher raw_added;         // added tokens with normalized = false
  tok::AddedTokenMatcher normalized_added;  // normalized = true: searched after the normalizer
  std::unordered_map<int32_t, std::string> added_by_id;
  std::vector<int32_t> config_prefix, config_suffix;  // from tokenizer_config.json
};

}  // namespace qk
