#pragma once
// A prompt on the command line: text (tokenized with the model's tokenizer.json, as HF
// does) or pre-tokenized ids, given inline (--ids) or in a file (--ids-file).
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace qk {

// Token ids as "1,2,3", "1 2 3" (commas and/or white space, line breaks included) or the
// JSON list `qkgeom tokenize` prints, "[1, 2, 3]"; each id in [0, 2^63-1], at least one.
// Throws std::invalid_argument "<what>: <problem>" (what: e.g. "--ids").
std::vector<int64_t> parse_ids(const std::string& text, const std::string& what);

// The ids of an --ids-file (the formats of parse_ids); InputError naming the file.
std::vector<int64_t> read_ids_file(const std::string& path);

// --ids LIST and --ids-file FILE on one subcommand; each refuses an empty value, a
// malformed --ids is a usage error when the command line is parsed.
struct IdsOptions {
  CLI::Option* list;
  CLI::Option* file;
};
IdsOptions add_ids_options(CLI::App* sub, std::string& ids, std::string& ids_file,
                           const std::string& help_prefix);

// The prompt's token ids: from `ids` when non-empty, else from `ids_file` when non-empty,
// else `text` under model_dir's tokenizer (with its special tokens). Throws InputError for a
// bad file or tokenizer and std::invalid_argument for a bad list or an empty prompt.
std::vector<int64_t> prompt_ids(const std::string& model_dir, const std::string& text, const std::string& ids,
                                const std::string& ids_file);

}  // namespace qk
