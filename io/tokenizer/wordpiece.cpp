// WordPiece model (BERT): greedy longest-match-first with a continuing-subword prefix;
// a word with no full segmentation, or longer than max_input_chars_per_word, is the unk.
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "components.hpp"
#include "input_error.hpp"
#include "json_int.hpp"
#include "unicode.hpp"

namespace qk::tok {

namespace {

class WordPiece : public Model {
 public:
  WordPiece(const nlohmann::json& j, const std::string& where) {
    read_vocab(j, where, vocab_, id_to_token_);
    const std::string unk = json_string(j, "unk_token", where);
    unk_id_ = token_to_id(unk);
    if (unk_id_ < 0) throw InputError(where + ".unk_token", "\"" + unk + "\" is not in the vocab");
    prefix_ =
        j.contains("continuing_subword_prefix") ? json_string(j, "continuing_subword_prefix", where) : "##";
    const auto m = j.find("max_input_chars_per_word");
    if (m != j.end() && !m->is_null())
      max_chars_ = static_cast<int64_t>(require_unsigned(*m, INT64_MAX, where + ".max_input_chars_per_word"));
  }

  void tokenize(const std::string& word, std::vector<int32_t>& out) const override {
    std::vector<size_t> bounds;  // byte offset of each code point, then the end
    for (size_t i = 0; i < word.size();) {
      bounds.push_back(i);
      utf8_next(word, i);
    }
    const size_t n = bounds.size();
    bounds.push_back(word.size());
    if (static_cast<int64_t>(n) > max_chars_) {
      out.push_back(unk_id_);
      return;
    }
    std::vector<int32_t> pieces;
    size_t start = 0;
    while (start < n) {
      int32_t found = -1;
      size_t end = n;
      for (; end > start; --end) {
        std::string sub = word.substr(bounds[start], bounds[end] - bounds[start]);
        if (start > 0) sub.insert(0, prefix_);
        found = token_to_id(sub);
        if (found >= 0) break;
      }
      if (found < 0) {
        out.push_back(unk_id_);
        return;
      }
      pieces.push_back(found);
      start = end;
    }
    out.insert(out.end(), pieces.begin(), pieces.end());
  }

  int32_t token_to_id(const std::string& t) const override {
    const auto it = vocab_.find(t);
    return it == vocab_.end() ? -1 : it->second;
  }
  const std::unordered_map<int32_t, std::string>& id_to_token() const override { return id_to_token_; }

 private:
  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<int32_t, std::string> id_to_token_;
  int32_t unk_id_ = -1;
  std::string prefix_;
  int64_t max_chars_ = 100;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece(const nlohmann::json& j, const std::string& where) {
  return std::make_unique<WordPiece>(j, where);
}

}  // namespace qk::tok
