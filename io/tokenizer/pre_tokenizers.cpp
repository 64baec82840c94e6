// Pre-tokenizers of tokenizer.json: Sequence, Split, ByteLevel, BertPreTokenizer,
// Whitespace, WhitespaceSplit, Punctuation, Digits, Metaspace.
#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>

#include "byte_level.hpp"
#include "components.hpp"
#include "input_error.hpp"
#include "regex.hpp"
#include "unicode.hpp"

namespace qk::tok {

namespace {

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct Segment {
  size_t b, e;
  bool match;
};

// Covers text with alternating non-match / match segments from the sorted match ranges.
std::vector<Segment> segments(const std::string& text, const std::vector<std::pair<size_t, size_t>>& matches,
                              bool invert) {
  std::vector<Segment> out;
  size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (prev != b) out.push_back({prev, b, invert});
    out.push_back({b, e, !invert});
    prev = e;
  }
  if (prev != text.size()) out.push_back({prev, text.size(), invert});
  return out;
}

// Splits one piece by the given segments according to the delimiter behavior.
void split_piece(const Piece& piece, const std::vector<Segment>& segs, Behavior behavior,
                 std::vector<Piece>& out) {
  std::vector<std::pair<size_t, size_t>> ranges;
  bool prev_match = false;
  switch (behavior) {
    case Behavior::Removed:
      for (const auto& s : segs)
        if (!s.match) ranges.emplace_back(s.b, s.e);
      break;
    case Behavior::Isolated:
      for (const auto& s : segs) ranges.emplace_back(s.b, s.e);
      break;
    case Behavior::MergedWithPrevious:
      for (const auto& s : segs) {
        if (s.match && !prev_match && !ranges.empty())
          ranges.back().second = s.e;
        else
          ranges.emplace_back(s.b, s.e);
        prev_match = s.match;
      }
      break;
    case Behavior::MergedWithNext:
      for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
        if (it->match && !prev_match && !ranges.empty())
          ranges.back().first = it->b;
        else
          ranges.emplace_back(it->b, it->e);
        prev_match = it->match;
      }
      std::reverse(ranges.begin(), ranges.end());
      break;
    case Behavior::Contiguous:
      for (size_t i = 0; i < segs.size(); ++i) {
        if (i > 0 && segs[i].match == prev_match)
          ranges.back().second = segs[i].e;
        else
          ranges.emplace_back(segs[i].b, segs[i].e);
        prev_match = segs[i].match;
      }
      break;
  }
  for (const auto& [b, e] : ranges)
    if (e > b) out.push_back({piece.text.substr(b, e - b), piece.at_input_start && b == 0});
}

// Match ranges of single code points satisfying pred.
std::vector<std::pair<size_t, size_t>> char_matches(const std::string& text,
                                                    const std::function<bool(char32_t)>& pred) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t b = i;
    const char32_t c = utf8_next(text, i);
    if (pred(c)) out.emplace_back(b, i);
  }
  return out;
}

bool is_bert_punct(char32_t c) {
  const bool ascii_punct = c < 0x80 && ((c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
                                        (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E));
  return ascii_punct || is_punctuation(c);
}

class SequencePre : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  std::vector<Piece> split(std::vector<Piece> pieces) const override {
    for (const auto& p : parts_) pieces = p->split(std::move(pieces));
    return pieces;
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

class RegexSplitPre : public PreTokenizer {
 public:
  RegexSplitPre(const std::string& pattern, Behavior b, bool invert)
      : regex_(pattern), behavior_(b), invert_(invert) {}
  std::vector<Piece> split(std::vector<Piece> pieces) const override {
    std::vector<Piece> out;
    for (const auto& p : pieces)
      split_piece(p, segments(p.text, regex_.find_all(p.text), invert_), behavior_, out);
    return out;
  }

 private:
  Regex regex_;
  Behavior behavior_;
  bool invert_;
};

class CharSplitPre : public PreTokenizer {
 public:
  CharSplitPre(std::function<bool(char32_t)> pred, Behavior b) : pred_(std::move(pred)), behavior_(b) {}
  std::vector<Piece> split(std::vector<Piece> pieces) const override {
    std::vector<Piece> out;
    for (const auto& p : pieces)
      split_piece(p, segments(p.text, char_matches(p.text, pred_), false), behavior_, out);
    return out;
  }

 private:
  std::function<bool(char32_t)> pred_;
  Behavior behavior_;
};

class BertPre : public PreTokenizer {
 public:
  std::vector<Piece> split(std::vector<Piece> pieces) const override {
    return punct_.split(ws_.split(std::move(pieces)));
  }

 private:
  CharSplitPre ws_{is_whitespace, Behavior::Removed};
  CharSplitPre punct_{is_bert_punct, Behavior::Isolated};
};

// GPT-2's word regex, used by ByteLevel when use_regex is true.
const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPre : public PreTokenizer {
 public:
  ByteLevelPre(bool prefix_space, bool use_regex) : prefix_space_(prefix_space) {
    if (use_regex) regex_ = std::make_unique<RegexSplitPre>(kGpt2Pattern, Behavior::Isolated, false);
  }
  std::vector<Piece> split(std::vector<Piece> pieces) const override {
    if (prefix_space_)
      for (auto& p : pieces)
        if (p.text.empty() || p.text[0] != ' ') p.text.insert(0, " ");
    if (regex_) pieces = regex_->split(std::move(pieces));
    for (auto& p : pieces) p.text = bytes_to_byte_level(p.text);
    return pieces;
  }

 private:
  bool prefix_space_;
  std::unique_ptr<RegexSplitPre> regex_;
};

enum class PrependScheme { Always, First, Never };

class MetaspacePre : public PreTokenizer {
 public:
  MetaspacePre(std::string repl, PrependScheme scheme, bool split)
      : repl_(std::move(repl)),
        scheme_(scheme),
        split_(split),
        splitter_(regex_escape(repl_), Behavior::MergedWithNext, false) {}
  std::vector<Piece> split(std::vector<Piece> pieces) const override {
    for (auto& p : pieces) {
      std::string t;
      for (char c : p.text) {
        if (c == ' ')
          t += repl_;
        else
          t.push_back(c);
      }
      const bool starts = t.compare(0, repl_.size(), repl_) == 0;
      if (!starts &&
          (scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && p.at_input_start)))
        t.insert(0, repl_);
      p.text = std::move(t);
    }
    return split_ ? splitter_.split(std::move(pieces)) : pieces;
  }

 private:
  std::string repl_;
  PrependScheme scheme_;
  bool split_;
  RegexSplitPre splitter_;
};

Behavior read_behavior(const nlohmann::json& j, const std::string& where, Behavior fallback) {
  if (!j.contains("behavior")) return fallback;
  const std::string b = json_string(j, "behavior", where);
  if (b == "Removed") return Behavior::Removed;
  if (b == "Isolated") return Behavior::Isolated;
  if (b == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::MergedWithNext;
  if (b == "Contiguous") return Behavior::Contiguous;
  unsupported(where + ".behavior", "split behavior \"" + b + "\"");
}

// A "Split" pre-tokenizer: a literal {"String"} or {"Regex"} pattern, behavior, invert.
std::unique_ptr<PreTokenizer> make_split(const nlohmann::json& j, const std::string& where) {
  const nlohmann::json& p = json_field(j, "pattern", where);
  std::string pattern;
  if (p.is_object() && p.contains("String") && p["String"].is_string())
    pattern = regex_escape(p["String"].get<std::string>());
  else if (p.is_object() && p.contains("Regex") && p["Regex"].is_string())
    pattern = p["Regex"].get<std::string>();
  else
    throw InputError(where + ".pattern", "expected {\"String\": ...} or {\"Regex\": ...}");
  try {
    return std::make_unique<RegexSplitPre>(pattern, read_behavior(j, where, Behavior::Isolated),
                                           json_bool(j, "invert", false, where));
  } catch (const std::invalid_argument& e) {
    throw InputError(where + ".pattern", e.what());
  }
}

// A "Metaspace" pre-tokenizer: replacement, prepend_scheme (or the older add_prefix_space), split.
std::unique_ptr<PreTokenizer> make_metaspace(const nlohmann::json& j, const std::string& where) {
  const std::string repl = json_string(j, "replacement", where);
  PrependScheme scheme =
      json_bool(j, "add_prefix_space", true, where) ? PrependScheme::Always : PrependScheme::Never;
  if (j.contains("prepend_scheme")) {
    const std::string s = json_string(j, "prepend_scheme", where);
    if (s == "always")
      scheme = PrependScheme::Always;
    else if (s == "first")
      scheme = PrependScheme::First;
    else if (s == "never")
      scheme = PrependScheme::Never;
    else
      unsupported(where + ".prepend_scheme", "prepend scheme \"" + s + "\"");
  }
  return std::make_unique<MetaspacePre>(repl, scheme, json_bool(j, "split", true, where));
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = json_string(j, "type", where);
  if (type == "Sequence") {
    const nlohmann::json& list = json_field(j, "pretokenizers", where);
    if (!list.is_array()) throw InputError(where + ".pretokenizers", "expected an array");
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < list.size(); ++i)
      if (auto p = make_pre_tokenizer(list[i], where + ".pretokenizers[" + std::to_string(i) + "]"))
        parts.push_back(std::move(p));
    return std::make_unique<SequencePre>(std::move(parts));
  }
  if (type == "Split") return make_split(j, where);
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPre>(json_bool(j, "add_prefix_space", true, where),
                                          json_bool(j, "use_regex", true, where));
  if (type == "BertPreTokenizer") return std::make_unique<BertPre>();
  if (type == "Whitespace") {
    // \w+|[^\w\s]+ with \w and \s as HF's Rust regex defines them (PCRE2's \w lacks marks).
    const std::string word = R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control})";
    return std::make_unique<RegexSplitPre>("[" + word + "]+|[^" + word + R"(\p{White_Space}]+)",
                                           Behavior::Removed, true);
  }
  if (type == "WhitespaceSplit") return std::make_unique<CharSplitPre>(is_whitespace, Behavior::Removed);
  if (type == "Punctuation")
    return std::make_unique<CharSplitPre>(is_bert_punct, read_behavior(j, where, Behavior::Isolated));
  if (type == "Digits") {
    const bool individual = json_bool(j, "individual_digits", false, where);
    return std::make_unique<CharSplitPre>(is_numeric, individual ? Behavior::Isolated : Behavior::Contiguous);
  }
  if (type == "Metaspace") return make_metaspace(j, where);
  unsupported(where + ".type",
              "pre_tokenizer type \"" + type +
                  "\" (supported: Sequence, Split, ByteLevel, "
                  "BertPreTokenizer, Whitespace, WhitespaceSplit, Punctuation, Digits, Metaspace)");
}

}  // namespace qk::tok
