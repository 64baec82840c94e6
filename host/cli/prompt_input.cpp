#include "prompt_input.hpp"

#include <algorithm>
#include <stdexcept>

#include "tokenizer/tokenizer.hpp"

namespace qk {

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    if (item.empty() || item.size() > 18 || item.find_first_not_of("0123456789") != std::string::npos)
      throw std::invalid_argument("--ids: '" + text + "' is not a comma-separated list of token ids");
    ids.push_back(std::stoll(item));
    at = comma + 1;
  }
  return ids;
}

std::vector<int64_t> prompt_ids(const std::string& model_dir, const std::string& text,
                                const std::string& ids) {
  if (!ids.empty()) return parse_ids(ids);
  const std::vector<int32_t> tokens = Tokenizer::from_dir(model_dir).encode(text);
  if (tokens.empty()) throw std::invalid_argument("--prompt: the prompt has no tokens");
  return std::vector<int64_t>(tokens.begin(), tokens.end());
}

}  // namespace qk
