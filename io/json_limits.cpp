#include "json_limits.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "input_error.hpp"

namespace qk {

namespace {

// "128 MiB", or "1000 bytes" for a limit that is not whole MiB.
std::string limit_text(uint64_t bytes) {
  return bytes % (1u << 20) == 0 ? std::to_string(bytes >> 20) + " MiB" : std::to_string(bytes) + " bytes";
}

}  // namespace

std::optional<size_t> json_too_deep_at(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character cannot end the string
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

std::string text_position(std::string_view text, size_t offset) {
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < offset && i < text.size(); ++i)
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  return "line " + std::to_string(line) + ", column " + std::to_string(offset - line_start + 1);
}

void check_json_limits(std::string_view text, const std::string& where, uint64_t max_bytes) {
  if (text.size() > max_bytes)
    throw InputError(where, "JSON text of " + std::to_string(text.size()) + " bytes, more than the " +
                                limit_text(max_bytes) + " allowed");
  if (const auto at = json_too_deep_at(text))
    throw InputError(where, "nests deeper than " + std::to_string(kJsonMaxDepth) + " levels (" +
                                text_position(text, *at) + ")");
}

std::string read_json_file(const std::string& path, uint64_t max_bytes) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw InputError(path, "is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    throw InputError(path, "is " + std::to_string(st.st_size) + " bytes, more than the " +
                               limit_text(max_bytes) + " a JSON file may hold");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError(path, "cannot be read");
  return ss.str();
}

nlohmann::json parse_json_file(const std::string& path) {
  const std::string text = read_json_file(path);
  check_json_limits(text, path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range: a number overflows
    throw InputError(path, std::string("not valid JSON: ") + e.what());
  }
}

}  // namespace qk
