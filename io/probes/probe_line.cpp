#include "probe_line.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "json_limits.hpp"

namespace qk::probe_detail {

namespace {

using Json = nlohmann::ordered_json;  // keeps the order of the "fields" as written

// Decodes the code point at s[i], advancing i; false when the bytes there are not
// well-formed UTF-8 (overlong forms, surrogates and values past U+10FFFF included).
bool next_code_point(const std::string& s, size_t& i, uint32_t& cp) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  size_t len = 0;
  uint32_t min = 0;
  if (b0 < 0x80) {
    cp = b0;
    ++i;
    return true;
  }
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else
    return false;
  if (i + len > s.size()) return false;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  i += len;
  return true;
}

// Unicode White_Space (the code points a prompt of "only spaces" may consist of).
bool is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// True when the (valid UTF-8) text is empty or only white space.
bool is_empty_text(const std::string& s) {
  size_t i = 0;
  uint32_t cp = 0;
  while (i < s.size()) {
    if (!next_code_point(s, i, cp) || !is_space(cp)) return false;
  }
  return true;
}

std::string quoted(const std::string& key) { return "\"" + key + "\""; }

// "malformed JSON at column N: <detail>", from nlohmann's parse_error text.
std::string json_problem(const nlohmann::json::parse_error& e) {
  std::string detail = e.what();
  const size_t colon = detail.find(": ", detail.find("column"));
  if (colon != std::string::npos) detail = detail.substr(colon + 2);
  return "malformed JSON at column " + std::to_string(e.byte) + ": " + detail;
}

// Parses one JSON value, rejecting duplicate keys at any depth (nlohmann keeps the last),
// lines longer than kJsonMaxBytes and nesting deeper than kJsonMaxDepth.
Json parse_json(const std::string& line) {
  if (line.size() > kJsonMaxBytes)
    throw LineProblem("line of " + std::to_string(line.size()) + " bytes, more than the " +
                      std::to_string(kJsonMaxBytes >> 20) + " MiB a JSON line may hold");
  if (const auto at = json_too_deep_at(line))
    throw LineProblem("JSON nests deeper than " + std::to_string(kJsonMaxDepth) + " levels (column " +
                      std::to_string(*at + 1) + ")");
  std::vector<std::set<std::string>> keys;
  const Json::parser_callback_t check = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) keys.emplace_back();
    if (event == Json::parse_event_t::object_end) keys.pop_back();
    if (event == Json::parse_event_t::key && !keys.back().insert(parsed.get<std::string>()).second)
      throw LineProblem("duplicate key " + quoted(parsed.get<std::string>()));
    return true;
  };
  try {
    return Json::parse(line, check);
  } catch (const nlohmann::json::parse_error& e) {
    throw LineProblem(json_problem(e));
  } catch (const nlohmann::json::out_of_range& e) {  // a number overflows a double
    throw LineProblem(std::string("malformed JSON: ") + e.what());
  }
}

// LineProblem "<what> holds U+0000 (NUL) at character <n>; <why>" when `text` holds U+0000.
// A JSONL prompt may hold it (HF tokenizers encode it); ids and domains may not, and neither
// may a text or ids file's raw line (docs/probe-sets.md, "Problems").
void refuse_nul(const std::string& text, const std::string& what, const std::string& id,
                const std::string& why) {
  const size_t at = text.find('\0');
  if (at == std::string::npos) return;
  size_t chars = 0;  // code points before the NUL
  for (size_t k = 0; k < at; ++k) chars += (static_cast<unsigned char>(text[k]) & 0xC0) != 0x80;
  throw LineProblem(what + " holds U+0000 (NUL) at character " + std::to_string(chars + 1) + "; " + why, id);
}

// Why an id or a domain may not hold U+0000.
const char* const kKeyNul =
    "an id or domain may not hold it (they are keys, written as HDF5 strings in compare files)";
// Why a text or ids file's line may not hold a raw NUL byte.
const char* const kRawNul =
    "a raw NUL byte is refused in a text or ids probe file (a UTF-16 file without byte order mark?); "
    "a JSONL \"prompt\" may hold it as \\u0000";

// True for a JSON number written as an integer past the 64-bit range (nlohmann keeps it as a double).
bool beyond_64_bits(const Json& v) {
  if (!v.is_number_float()) return false;
  const double x = v.get<double>();
  return std::isfinite(x) && std::floor(x) == x && std::fabs(x) >= 9223372036854775808.0;
}

// The JSONL "ids" array: non-negative integers, at least one.
std::vector<int64_t> json_ids(const Json& value, const std::string& id) {
  if (!value.is_array())
    throw LineProblem("\"ids\" must be an array of token ids, got " + std::string(value.type_name()), id);
  if (value.empty()) throw LineProblem("\"ids\" is empty", id);
  std::vector<int64_t> ids;
  for (size_t k = 0; k < value.size(); ++k) {
    const Json& v = value[k];
    const std::string what = "\"ids\"[" + std::to_string(k) + "]";
    if (v.is_number_unsigned()) {
      if (v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        throw LineProblem(what + " " + v.dump() + " is too large", id);
      ids.push_back(static_cast<int64_t>(v.get<uint64_t>()));
    } else if (v.is_number_integer() || (beyond_64_bits(v) && v.get<double>() < 0)) {
      throw LineProblem(what + " " + v.dump() + " is negative", id);  // signed means < 0
    } else if (beyond_64_bits(v)) {
      throw LineProblem(what + " " + v.dump() + " is too large", id);
    } else {
      throw LineProblem(what + " " + v.dump() + " is not an integer token id", id);
    }
  }
  return ids;
}

// The JSONL "id": a string, or an integer kept as its decimal text.
std::string json_id(const Json& obj) {
  const auto it = obj.find("id");
  if (it == obj.end()) throw LineProblem("missing \"id\"");
  std::string id;
  if (it->is_string())
    id = it->get<std::string>();
  else if (it->is_number_integer())
    id = it->dump();  // signed and unsigned
  else if (beyond_64_bits(*it))
    throw LineProblem("\"id\" " + it->dump() + " is an integer past 64 bits; write it as a string");
  else
    throw LineProblem("\"id\" must be a string or an integer, got " +
                      (it->is_number_float() ? std::string("a non-integer number") : it->type_name()));
  if (is_empty_text(id)) throw LineProblem("\"id\" is empty");
  refuse_nul(id, "\"id\"", "", kKeyNul);
  return id;
}

}  // namespace

bool is_blank(const std::string& line) { return line.find_first_not_of(" \t\r\n\v\f") == std::string::npos; }

void check_utf8(const std::string& line) {
  size_t i = 0;
  uint32_t cp = 0;
  while (i < line.size()) {
    if (!next_code_point(line, i, cp))
      throw LineProblem("invalid UTF-8 at byte " + std::to_string(i + 1) + " of the line");
  }
}

Probe parse_jsonl_line(const std::string& line) {
  const Json obj = parse_json(line);
  if (!obj.is_object()) throw LineProblem("expected a JSON object, got " + std::string(obj.type_name()));
  Probe p;
  p.id = json_id(obj);
  const bool has_prompt = obj.contains("prompt"), has_ids = obj.contains("ids");
  if (!has_prompt && !has_ids) throw LineProblem("needs \"prompt\" or \"ids\"", p.id);
  if (has_prompt && has_ids) throw LineProblem("has both \"prompt\" and \"ids\"; give one", p.id);
  if (has_prompt) {
    const Json& prompt = obj.at("prompt");
    if (!prompt.is_string())
      throw LineProblem("\"prompt\" must be a string, got " + std::string(prompt.type_name()), p.id);
    p.prompt = prompt.get<std::string>();
    if (p.prompt.empty()) throw LineProblem("empty prompt", p.id);
    if (is_empty_text(p.prompt)) throw LineProblem("empty prompt (only white space)", p.id);
  } else {
    p.ids = json_ids(obj.at("ids"), p.id);
  }
  if (obj.contains("domain")) {
    const Json& domain = obj.at("domain");
    if (!domain.is_string())
      throw LineProblem("\"domain\" must be a string, got " + std::string(domain.type_name()), p.id);
    p.domain = domain.get<std::string>();
    refuse_nul(p.domain, "\"domain\"", p.id, kKeyNul);
  }
  Json rest = Json::object();
  for (const auto& [key, value] : obj.items()) {
    if (key != "id" && key != "prompt" && key != "ids" && key != "domain") rest[key] = value;
  }
  p.fields = rest.dump();
  return p;
}

Probe parse_text_line(const std::string& line, int64_t line_no) {
  Probe p;
  p.id = "L" + std::to_string(line_no);
  if (is_empty_text(line)) throw LineProblem("empty prompt (only white space)", p.id);
  refuse_nul(line, "the prompt", p.id, kRawNul);
  p.prompt = line;
  p.fields = "{}";
  return p;
}

Probe parse_ids_line(const std::string& line, int64_t line_no) {
  Probe p;
  p.id = "L" + std::to_string(line_no);
  p.fields = "{}";
  refuse_nul(line, "the line", p.id, kRawNul);
  try {
    p.ids = parse_id_list(line);
  } catch (const std::invalid_argument& e) {
    throw LineProblem(e.what(), p.id);
  }
  return p;
}

}  // namespace qk::probe_detail

namespace qk {

namespace {

// A token id from its decimal text.
int64_t token_id(const std::string& text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc::result_out_of_range) throw std::invalid_argument("token id " + text + " is too large");
  if (ec != std::errc() || ptr != end || text.empty())
    throw std::invalid_argument("token id '" + text + "' is not an integer");
  if (value < 0) throw std::invalid_argument("token id " + text + " is negative");
  return value;
}

}  // namespace

std::vector<int64_t> parse_id_list(const std::string& text) {
  std::vector<int64_t> ids;
  const auto is_ws = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
  };
  size_t i = 0;
  const size_t n = text.size();
  while (i < n && is_ws(text[i])) ++i;
  while (i < n) {
    const size_t start = i;
    while (i < n && !is_ws(text[i]) && text[i] != ',') ++i;
    if (i == start) throw std::invalid_argument("empty item at column " + std::to_string(start + 1));
    ids.push_back(token_id(text.substr(start, i - start)));
    while (i < n && is_ws(text[i])) ++i;
    if (i < n && text[i] == ',') {
      ++i;
      while (i < n && is_ws(text[i])) ++i;
      if (i == n) throw std::invalid_argument("trailing comma");
    }
  }
  if (ids.empty()) throw std::invalid_argument("empty ids list");
  return ids;
}

}  // namespace qk
