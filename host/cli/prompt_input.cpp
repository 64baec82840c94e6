#include "prompt_input.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "input_error.hpp"
#include "probe_set.hpp"
#include "tokenizer/tokenizer.hpp"

namespace qk {

namespace {

// The ids of text, or the problem with it (an empty string when there is none).
std::string ids_problem(const std::string& text, std::vector<int64_t>* out) {
  std::string list = text;
  const size_t first = list.find_first_not_of(" \t\r\n");
  const size_t last = list.find_last_not_of(" \t\r\n");
  if (first == std::string::npos) return "empty";
  if (list[first] == '[' || list[last] == ']') {  // the JSON form: brackets become spaces
    if (list[first] != '[' || list[last] != ']') return "unbalanced [ ]";
    list[first] = list[last] = ' ';
    if (list.find_first_of("[]") != std::string::npos)
      return "expected one JSON list of ids, found nested or several [ ]";
  }
  try {
    std::vector<int64_t> ids = parse_id_list(list);
    if (out) *out = std::move(ids);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

std::vector<int64_t> parse_ids(const std::string& text, const std::string& what) {
  std::vector<int64_t> ids;
  const std::string problem = ids_problem(text, &ids);
  if (!problem.empty()) throw std::invalid_argument(what + ": " + problem);
  return ids;
}

std::vector<int64_t> read_ids_file(const std::string& path) {
  if (std::filesystem::is_directory(path)) throw InputError(path, "--ids-file: is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "--ids-file: cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  std::vector<int64_t> ids;
  const std::string problem = ids_problem(text.str(), &ids);
  if (!problem.empty()) throw InputError(path, "--ids-file: " + problem);
  return ids;
}

IdsOptions add_ids_options(CLI::App* sub, std::string& ids, std::string& ids_file,
                           const std::string& help_prefix) {
  const auto check_list = [](const std::string& v) { return ids_problem(v, nullptr); };
  const auto check_path = [](const std::string& v) { return v.empty() ? std::string("empty") : ""; };
  IdsOptions o;
  o.list =
      sub->add_option("--ids", ids, help_prefix + "pre-tokenized prompt: token ids, e.g. 1,2,3 or [1, 2, 3]")
          ->check(CLI::Validator(check_list, "LIST"));
  o.file = sub->add_option("--ids-file", ids_file,
                           help_prefix +
                               "pre-tokenized prompt from a file: ids separated by commas, "
                               "white space or lines, or one JSON list")
               ->check(CLI::Validator(check_path, "FILE"));
  o.list->excludes(o.file);
  return o;
}

std::vector<int64_t> prompt_ids(const std::string& model_dir, const std::string& text, const std::string& ids,
                                const std::string& ids_file) {
  if (!ids.empty()) return parse_ids(ids, "--ids");
  if (!ids_file.empty()) return read_ids_file(ids_file);
  const std::vector<int32_t> tokens = Tokenizer::from_dir(model_dir).encode(text);
  if (tokens.empty()) throw std::invalid_argument("--prompt: the prompt has no tokens");
  return std::vector<int64_t>(tokens.begin(), tokens.end());
}

}  // namespace qk
