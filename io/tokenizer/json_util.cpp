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

}  // namespace qk::tok
