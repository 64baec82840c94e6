// Normalizers of tokenizer.json: Sequence, NFC/NFD/NFKC/NFKD, Lowercase, Strip,
// StripAccents, Replace, Prepend, BertNormalizer.
#include <nlohmann/json.hpp>

#include "components.hpp"
#include "input_error.hpp"
#include "regex.hpp"
#include "unicode.hpp"

namespace qk::tok {

namespace {

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void apply(std::string& text) const override {
    for (const auto& p : parts_) p->apply(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormForm f) : form_(f) {}
  void apply(std::string& text) const override { text = normalize(text, form_); }

 private:
  NormForm form_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  void apply(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    for (char32_t c : utf8_decode(text)) append_lowercase(out, c);
    text = std::move(out);
  }
};

// Removes the code points for which drop(c) holds.
void remove_if(std::string& text, bool (*drop)(char32_t)) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : utf8_decode(text))
    if (!drop(c)) utf8_append(out, c);
  text = std::move(out);
}

// StripAccents drops every combining mark (M*); BertNormalizer only non-spacing ones (Mn).
class StripAccentsNormalizer : public Normalizer {
 public:
  void apply(std::string& text) const override { remove_if(text, is_mark); }
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void apply(std::string& text) const override {
    const std::vector<char32_t> cs = utf8_decode(text);
    size_t b = 0, e = cs.size();
    if (left_)
      while (b < e && is_whitespace(cs[b])) ++b;
    if (right_)
      while (e > b && is_whitespace(cs[e - 1])) --e;
    std::string out;
    for (size_t i = b; i < e; ++i) utf8_append(out, cs[i]);
    text = std::move(out);
  }

 private:
  bool left_, right_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(const std::string& pattern, bool is_regex, std::string content)
      : regex_(is_regex ? pattern : regex_escape(pattern)), content_(std::move(content)) {}
  void apply(std::string& text) const override {
    const auto matches = regex_.find_all(text);
    if (matches.empty()) return;
    std::string out;
    size_t prev = 0;
    for (const auto& [b, e] : matches) {
      out.append(text, prev, b - prev);
      out += content_;
      prev = e;
    }
    out.append(text, prev, std::string::npos);
    text = std::move(out);
  }

 private:
  Regex regex_;
  std::string content_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string p) : prefix_(std::move(p)) {}
  void apply(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

// CJK ideograph blocks that BERT surrounds with spaces (the original BERT definition).
bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean, bool chinese, bool strip, bool lower)
      : clean_(clean), chinese_(chinese), strip_(strip), lower_(lower) {}
  void apply(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    for (char32_t c : utf8_decode(text)) {
      if (clean_) {
        const bool ws_control = c == '\t' || c == '\n' || c == '\r';
        if (c == 0 || c == 0xFFFD || (!ws_control && is_other(c))) continue;
        if (ws_control || is_whitespace(c)) c = ' ';
      }
      if (chinese_ && is_chinese_char(c)) {
        out.push_back(' ');
        utf8_append(out, c);
        out.push_back(' ');
      } else {
        utf8_append(out, c);
      }
    }
    if (strip_) {
      out = normalize(out, NormForm::NFD);
      remove_if(out, is_mark_nonspacing);
    }
    if (lower_) LowercaseNormalizer().apply(out);
    text = std::move(out);
  }

 private:
  bool clean_, chinese_, strip_, lower_;
};

// Reads a {"String": s} or {"Regex": r} pattern; returns (pattern, is_regex).
std::pair<std::string, bool> read_pattern(const nlohmann::json& j, const std::string& where) {
  const nlohmann::json& p = json_field(j, "pattern", where);
  if (p.is_object() && p.contains("String") && p["String"].is_string())
    return {p["String"].get<std::string>(), false};
  if (p.is_object() && p.contains("Regex") && p["Regex"].is_string())
    return {p["Regex"].get<std::string>(), true};
  throw InputError(where + ".pattern", "expected {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = json_string(j, "type", where);
  if (type == "Sequence") {
    const nlohmann::json& list = json_field(j, "normalizers", where);
    if (!list.is_array()) throw InputError(where + ".normalizers", "expected an array");
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < list.size(); ++i)
      if (auto n = make_normalizer(list[i], where + ".normalizers[" + std::to_string(i) + "]"))
        parts.push_back(std::move(n));
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormForm::NFKD);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Strip")
    return std::make_unique<StripNormalizer>(json_bool(j, "strip_left", true, where),
                                             json_bool(j, "strip_right", true, where));
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(json_string(j, "prepend", where));
  if (type == "Replace") {
    const auto [pattern, is_regex] = read_pattern(j, where);
    try {
      return std::make_unique<ReplaceNormalizer>(pattern, is_regex, json_string(j, "content", where));
    } catch (const std::invalid_argument& e) {
      throw InputError(where + ".pattern", e.what());
    }
  }
  if (type == "BertNormalizer") {
    const bool lower = json_bool(j, "lowercase", true, where);
    return std::make_unique<BertNormalizer>(json_bool(j, "clean_text", true, where),
                                            json_bool(j, "handle_chinese_chars", true, where),
                                            json_bool(j, "strip_accents", lower, where), lower);
  }
  unsupported(where + ".type", "normalizer type \"" + type +
                                   "\" (supported: Sequence, NFC, NFD, NFKC, NFKD, "
                                   "Lowercase, Strip, StripAccents, Replace, Prepend, BertNormalizer)");
}

}  // namespace qk::tok
