// Encoding: added tokens out of the raw text, then per remaining piece the normalizer,
// normalized added tokens, pre-tokenizer and model; then the special tokens.
#include <algorithm>
#include <stdexcept>

#include "input_error.hpp"
#include "tokenizer_impl.hpp"
#include "unicode.hpp"

namespace qk {

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(const std::string& text, bool add_special_tokens) const {
  const Impl& t = *impl_;
  const size_t bad = tok::utf8_invalid_at(text);
  if (bad != std::string::npos) throw InputError("text", "not valid UTF-8 at byte " + std::to_string(bad));
  std::vector<int32_t> ids;
  for (const tok::TextSegment& seg : t.raw_added.split(text)) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    std::string piece = text.substr(seg.begin, seg.end - seg.begin);
    if (t.normalizer) t.normalizer->apply(piece);
    for (const tok::TextSegment& sub : t.normalized_added.split(piece)) {
      if (sub.id >= 0) {
        ids.push_back(sub.id);
        continue;
      }
      std::vector<tok::Piece> words{
          {piece.substr(sub.begin, sub.end - sub.begin), seg.begin == 0 && sub.begin == 0}};
      if (t.pre_tokenizer) words = t.pre_tokenizer->split(std::move(words));
      for (const tok::Piece& w : words)
        if (!w.text.empty()) t.model->tokenize(w.text, ids);
    }
  }
  if (add_special_tokens) {
    if (t.post_processor) t.post_processor->apply(ids);
    ids.insert(ids.begin(), t.config_prefix.begin(), t.config_prefix.end());
    ids.insert(ids.end(), t.config_suffix.begin(), t.config_suffix.end());
  }
  return ids;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  const auto it = impl_->added_by_id.find(id);
  if (it != impl_->added_by_id.end()) return it->second;
  const auto& vocab = impl_->model->id_to_token();
  const auto token = vocab.find(id);
  if (token == vocab.end())
    throw std::out_of_range("token id " + std::to_string(id) + " is not in the vocabulary");
  return token->second;
}

size_t Tokenizer::vocab_size() const {
  size_t n = 0;
  for (const auto& [id, token] : impl_->model->id_to_token()) n = std::max(n, static_cast<size_t>(id) + 1);
  for (const auto& [id, content] : impl_->added_by_id) n = std::max(n, static_cast<size_t>(id) + 1);
  return n;
}

}  // namespace qk
