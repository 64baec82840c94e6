// Post-processors of tokenizer.json for a single sequence: TemplateProcessing,
// BertProcessing, RobertaProcessing, ByteLevel (ids unchanged) and Sequence.
#include <nlohmann/json.hpp>

#include "components.hpp"
#include "input_error.hpp"

namespace qk::tok {

namespace {

// Ids before and after the sequence.
class WrapProcessor : public PostProcessor {
 public:
  WrapProcessor(std::vector<int32_t> before, std::vector<int32_t> after)
      : before_(std::move(before)), after_(std::move(after)) {}
  void apply(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), before_.begin(), before_.end());
    ids.insert(ids.end(), after_.begin(), after_.end());
  }
  bool adds_tokens() const override { return !before_.empty() || !after_.empty(); }

 private:
  std::vector<int32_t> before_, after_;
};

class SequenceProcessor : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void apply(std::vector<int32_t>& ids) const override {
    for (const auto& p : parts_) p->apply(ids);
  }
  bool adds_tokens() const override {
    for (const auto& p : parts_)
      if (p->adds_tokens()) return true;
    return false;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

std::unique_ptr<PostProcessor> make_template(const nlohmann::json& j, const std::string& where) {
  const nlohmann::json& single = json_field(j, "single", where);
  if (!single.is_array()) throw InputError(where + ".single", "expected an array");
  const nlohmann::json& specials = json_field(j, "special_tokens", where);
  std::vector<int32_t> before, after;
  int sequences = 0;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string at = where + ".single[" + std::to_string(i) + "]";
    const nlohmann::json& item = single[i];
    if (item.is_object() && item.contains("Sequence")) {
      if (json_string(item["Sequence"], "id", at + ".Sequence") != "A")
        throw InputError(at, "single template must use sequence A");
      ++sequences;
      continue;
    }
    if (!item.is_object() || !item.contains("SpecialToken"))
      throw InputError(at, "expected SpecialToken or Sequence");
    const std::string name = json_string(item["SpecialToken"], "id", at + ".SpecialToken");
    const auto st = specials.find(name);
    if (st == specials.end()) throw InputError(where + ".special_tokens", "no entry for \"" + name + "\"");
    const nlohmann::json& ids = json_field(*st, "ids", where + ".special_tokens." + name);
    if (!ids.is_array()) throw InputError(where + ".special_tokens." + name + ".ids", "expected an array");
    for (size_t k = 0; k < ids.size(); ++k)
      (sequences == 0 ? before : after)
          .push_back(
              json_token_id(ids[k], where + ".special_tokens." + name + ".ids[" + std::to_string(k) + "]"));
  }
  if (sequences != 1) throw InputError(where + ".single", "expected exactly one Sequence A");
  return std::make_unique<WrapProcessor>(std::move(before), std::move(after));
}

int32_t pair_id(const nlohmann::json& j, const char* key, const std::string& where) {
  const nlohmann::json& p = json_field(j, key, where);
  if (!p.is_array() || p.size() != 2) throw InputError(where + "." + key, "expected [token, id]");
  return json_token_id(p[1], where + "." + key + "[1]");
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = json_string(j, "type", where);
  if (type == "TemplateProcessing") return make_template(j, where);
  if (type == "BertProcessing" || type == "RobertaProcessing")
    return std::make_unique<WrapProcessor>(std::vector<int32_t>{pair_id(j, "cls", where)},
                                           std::vector<int32_t>{pair_id(j, "sep", where)});
  if (type == "ByteLevel")
    return std::make_unique<WrapProcessor>(std::vector<int32_t>{}, std::vector<int32_t>{});
  if (type == "Sequence") {
    const nlohmann::json& list = json_field(j, "processors", where);
    if (!list.is_array()) throw InputError(where + ".processors", "expected an array");
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (size_t i = 0; i < list.size(); ++i)
      if (auto p = make_post_processor(list[i], where + ".processors[" + std::to_string(i) + "]"))
        parts.push_back(std::move(p));
    return std::make_unique<SequenceProcessor>(std::move(parts));
  }
  unsupported(
      where + ".type",
      "post_processor type \"" + type +
          "\" (supported: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)");
}

}  // namespace qk::tok
