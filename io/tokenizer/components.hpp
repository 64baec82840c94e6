#pragma once
// The pipeline stages of a tokenizer.json, built from their JSON by the make_* functions.
// `where` names the file and JSON field for error messages (qk::InputError).
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <unordered_map>
#include <vector>

namespace qk::tok {

// Rewrites a piece of text (the "normalizer" field).
class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void apply(std::string& text) const = 0;
};

// A piece of pre-tokenized text and whether it starts the original input.
struct Piece {
  std::string text;
  bool at_input_start = false;
};

// Splits normalized text into words (the "pre_tokenizer" field).
class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual std::vector<Piece> split(std::vector<Piece> pieces) const = 0;
};

// Maps one word to ids (the "model" field).
class Model {
 public:
  virtual ~Model() = default;
  virtual void tokenize(const std::string& word, std::vector<int32_t>& out) const = 0;
  // Token string -> id, or -1.
  virtual int32_t token_to_id(const std::string& token) const = 0;
  // Id -> token string of the model vocabulary (ids need not be contiguous).
  virtual const std::unordered_map<int32_t, std::string>& id_to_token() const = 0;
};

// Adds special tokens around the ids of one sequence (the "post_processor" field).
class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void apply(std::vector<int32_t>& ids) const = 0;
  // Whether apply() can add any id (false for ByteLevel, which only trims offsets).
  virtual bool adds_tokens() const = 0;
};

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& where);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& where);
std::unique_ptr<Model> make_bpe(const nlohmann::json& j, const std::string& where);
std::unique_ptr<Model> make_wordpiece(const nlohmann::json& j, const std::string& where);
// Token ids of special tokens in templates are resolved by the post-processor's own
// "special_tokens" (TemplateProcessing) or its [token, id] pairs (Bert/Roberta).
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j, const std::string& where);

// Checked JSON access helpers shared by the make_* functions.
const nlohmann::json& json_field(const nlohmann::json& j, const char* key, const std::string& where);
std::string json_string(const nlohmann::json& j, const char* key, const std::string& where);
bool json_bool(const nlohmann::json& j, const char* key, bool fallback, const std::string& where);
[[noreturn]] void unsupported(const std::string& where, const std::string& what);
// A token id of tokenizer.json: an integer in [0, 2^31-1] (HF allows up to 2^32-1; qkgeom
// ids are int32), else InputError naming `where`; never wrapped.
int32_t json_token_id(const nlohmann::json& v, const std::string& where);
// A model's "vocab" object (token -> id) into both directions.
void read_vocab(const nlohmann::json& j, const std::string& where,
                std::unordered_map<std::string, int32_t>& vocab,
                std::unordered_map<int32_t, std::string>& id_to_token);

}  // namespace qk::tok
