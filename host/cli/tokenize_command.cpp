// `qkgeom tokenize --model DIR (--text TEXT | --input FILE) [--no-special]`: token ids as
// JSON, the same as the Hugging Face tokenizers library gives (docs/cli.md).
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.hpp"
#include "input_error.hpp"
#include "json_limits.hpp"
#include "json_output.hpp"
#include "tokenizer.hpp"

namespace qk {

namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  std::string input;
  bool no_special = false;
};

std::string ids_json(const std::vector<int32_t>& ids) { return json_text(ids); }

// --input: each line is one JSON string; prints one JSON array of ids per line.
int tokenize_file(const Tokenizer& tok, const std::string& path, bool special) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open");
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    check_json_limits(line, path + ":" + std::to_string(lineno));
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or a number overflows
      throw InputError(path + ":" + std::to_string(lineno), std::string("not a JSON string: ") + e.what());
    }
    if (!j.is_string()) throw InputError(path + ":" + std::to_string(lineno), "expected a JSON string");
    std::cout << ids_json(tok.encode(j.get<std::string>(), special)) << "\n";
  }
  return kExitOk;
}

}  // namespace

Action add_tokenize_command(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* sub =
      app.add_subcommand("tokenize", "token ids of a text as JSON (the HF tokenizer of a model dir)");
  sub->add_option("--model", o->model, "model directory with tokenizer.json")->required();
  auto* text = sub->add_option("--text", o->text, "text to tokenize");
  auto* input = sub->add_option("--input", o->input,
                                "file with one JSON string per line; prints one JSON array per line");
  text->excludes(input);
  sub->add_flag("--no-special", o->no_special, "do not add BOS/EOS or other special tokens");
  return [o, text, input]() {
    if (text->count() == 0 && input->count() == 0)
      throw std::invalid_argument("tokenize: give --text or --input");
    const Tokenizer tok = Tokenizer::from_dir(o->model);
    if (input->count() > 0) return tokenize_file(tok, o->input, !o->no_special);
    std::cout << ids_json(tok.encode(o->text, !o->no_special)) << "\n";
    return static_cast<int>(kExitOk);
  };
}

}  // namespace qk
