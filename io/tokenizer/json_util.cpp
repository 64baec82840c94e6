// Checked access to tokenizer.json fields: every failure names the file and field.
#include <nlohmann/json.hpp>

#include "components.hpp"
#include "input_error.hpp"

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

void read_vocab(const nlohmann::json& j, const std::string& where,
                std::unordered_map<std::string, int32_t>& vocab,
                std::vector<std::string>& id_to_token) {
  const nlohmann::json& v = json_field(j, "vocab", where);
  if (!v.is_object()) throw InputError(where + ".vocab", "expected an object of token -> id");
  vocab.reserve(v.size() * 2);
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0)
      throw InputError(where + ".vocab[\"" + it.key() + "\"]", "expected a non-negative integer id");
    const auto id = static_cast<int32_t>(it.value().get<int64_t>());
    vocab.emplace(it.key(), id);
    if (static_cast<size_t>(id) >= id_to_token.size()) id_to_token.resize(id + 1);
    id_to_token[id] = it.key();
  }
}

}  // namespace qk::tok
