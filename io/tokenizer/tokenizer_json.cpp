// Loading: tokenizer.json (normalizer, pre_tokenizer, model, added_tokens,
// post_processor) and tokenizer_config.json (add_bos_token / add_eos_token).
#include <filesystem>
#include <nlohmann/json.hpp>

#include "input_error.hpp"
#include "json_limits.hpp"
#include "tokenizer_impl.hpp"

namespace qk {

namespace {

const nlohmann::json& null_json() {
  static const nlohmann::json n;
  return n;
}

const nlohmann::json& optional(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it == j.end() ? null_json() : *it;
}

void read_added_tokens(const nlohmann::json& root, const std::string& file, Tokenizer::Impl& t) {
  const nlohmann::json& list = optional(root, "added_tokens");
  if (list.is_null()) return;
  if (!list.is_array()) throw InputError(file + ": added_tokens", "expected an array");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = file + ": added_tokens[" + std::to_string(i) + "]";
    const nlohmann::json& a = list[i];
    tok::AddedToken tk;
    tk.content = tok::json_string(a, "content", where);
    tk.id = tok::json_token_id(tok::json_field(a, "id", where), where + ".id");
    tk.lstrip = tok::json_bool(a, "lstrip", false, where);
    tk.rstrip = tok::json_bool(a, "rstrip", false, where);
    tk.single_word = tok::json_bool(a, "single_word", false, where);
    tk.special = tok::json_bool(a, "special", false, where);
    tk.normalized = tok::json_bool(a, "normalized", !tk.special, where);
    t.added_by_id[tk.id] = tk.content;
    if (tk.normalized) {
      std::string pattern = tk.content;
      if (t.normalizer) t.normalizer->apply(pattern);
      t.normalized_added.add(pattern, tk);
    } else {
      t.raw_added.add(tk.content, tk);
    }
  }
}

// The id of a BOS/EOS token named in tokenizer_config.json (a string or {"content": ...}).
int32_t config_token_id(const nlohmann::json& cfg, const char* key, const std::string& where,
                        const Tokenizer::Impl& t) {
  const nlohmann::json& v = optional(cfg, key);
  std::string name;
  if (v.is_string())
    name = v.get<std::string>();
  else if (v.is_object() && v.contains("content") && v["content"].is_string())
    name = v["content"].get<std::string>();
  else
    throw InputError(where + "." + key,
                     "needed (add_" + std::string(key) + " is true) but missing or not a token");
  for (const auto& [id, content] : t.added_by_id)
    if (content == name) return id;
  const int32_t id = t.model->token_to_id(name);
  if (id < 0) throw InputError(where + "." + key, "\"" + name + "\" is not in the vocabulary");
  return id;
}

void read_config(const std::string& path, Tokenizer::Impl& t) {
  const nlohmann::json cfg = parse_json_file(path);
  if (!cfg.is_object()) throw InputError(path, "expected a JSON object");
  if (t.post_processor && t.post_processor->adds_tokens()) return;
  const std::string where = path + ": ";
  if (tok::json_bool(cfg, "add_bos_token", false, where))
    t.config_prefix.push_back(config_token_id(cfg, "bos_token", where, t));
  if (tok::json_bool(cfg, "add_eos_token", false, where))
    t.config_suffix.push_back(config_token_id(cfg, "eos_token", where, t));
}

}  // namespace

Tokenizer Tokenizer::from_files(const std::string& file, const std::string& config_path) {
  const nlohmann::json root = parse_json_file(file);
  if (!root.is_object()) throw InputError(file, "expected a JSON object");
  auto t = std::make_unique<Impl>();
  const std::string w = file + ": ";
  t->normalizer = tok::make_normalizer(optional(root, "normalizer"), w + "normalizer");
  t->pre_tokenizer = tok::make_pre_tokenizer(optional(root, "pre_tokenizer"), w + "pre_tokenizer");
  const nlohmann::json& model = tok::json_field(root, "model", file);
  const std::string type = tok::json_string(model, "type", w + "model");
  if (type == "BPE")
    t->model = tok::make_bpe(model, w + "model");
  else if (type == "WordPiece")
    t->model = tok::make_wordpiece(model, w + "model");
  else
    tok::unsupported(w + "model.type", "model type \"" + type + "\" (supported: BPE, WordPiece)");
  t->post_processor = tok::make_post_processor(optional(root, "post_processor"), w + "post_processor");
  read_added_tokens(root, file, *t);
  if (!config_path.empty()) read_config(config_path, *t);
  return Tokenizer(std::move(t));
}

Tokenizer Tokenizer::from_dir(const std::string& dir) {
  const std::filesystem::path d(dir);
  const std::filesystem::path file = d / "tokenizer.json";
  if (!std::filesystem::is_regular_file(file))
    throw InputError(file.string(), "missing (a Hugging Face tokenizer.json)");
  const std::filesystem::path cfg = d / "tokenizer_config.json";
  return from_files(file.string(), std::filesystem::is_regular_file(cfg) ? cfg.string() : std::string());
}

}  // namespace qk
