// Checked access to tokenizer.json fields: every failure names the file and field.
#include <nlohmann/json.hpp>

#include "components.hpp"
#include "input_error.hpp"
#include "json_int.hpp"

namespace qk::tok {

const nlohmann::json& json_field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object()) throw InputError(where, "expected a JSON object");
  const auto it = j.find(key);
  if (it == j.end()) throw InputError(where + "." + key, "missing");
  return *it;
}

std::string json_string(const nlohmann::json& j, const char* key, const std::string& where) {
  const nlohmann::json& v = json_field(j, key, where);
  if (!v.is_string()) throw InputError(where + "." + key, "expected a string");
  return v.get<std::string>();
}

bool json_bool(const nlohmann::json& j, const char* key, bool fallback, const std::string& where) {
  if (!j.is_object()) throw InputError(where, "expected a JSON object");
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw InputError(where + "." + key, "expected true or false");
  return it->get<bool>();
}

void unsupported(const std::string& where, const std::string& what) {
  throw InputError(where, "unsupported " + what);
}

int32_t json_token_id(const nlohmann::json& v, const std::string& where) {
  return static_cast<int32_t>(require_unsigned(v, INT32_MAX, where + " (a token id)"));
}

void read_vocab(const nlohmann::json& j, const std::string& where,
                std::unordered_map<std::string, int32_t>& vocab,
                std::unordered_map<int32_t, std::string>& id_to_token) {
  const nlohmann::json& v = json_field(j, "vocab", where);
  if (!v.is_object()) throw InputError(where + ".vocab", "expected an object of token -> id");
  vocab.reserve(v.size() * 2);
  id_to_token.reserve(v.size() * 2);
  for (auto it = v.begin(); it != v.end(); ++it) {
    const int32_t id = json_token_id(it.value(), where + ".vocab[\"" + it.key() + "\"]");
    vocab.emplace(it.key(), id);
    id_to_token[id] = it.key();
  }
}

}  // namespace qk::tok
