#pragma once
// A Hugging Face tokenizer read from a model directory's tokenizer.json (and
// tokenizer_config.json for BOS/EOS), producing the same ids as the HF tokenizers library.
// Errors in the files are qk::InputError naming the file and the JSON field.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qk {

class Tokenizer {
 public:
  // Reads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json.
  static Tokenizer from_dir(const std::string& dir);
  // Reads a tokenizer.json file; config_path may be empty (no tokenizer_config.json).
  static Tokenizer from_files(const std::string& tokenizer_json, const std::string& config_path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of text; with add_special_tokens, the post-processor's BOS/EOS (or
  // tokenizer_config.json's add_bos_token/add_eos_token when the post-processor adds none).
  // Thread-safe. Text that is not valid UTF-8 is an InputError.
  std::vector<int32_t> encode(const std::string& text, bool add_special_tokens = true) const;
  // The token string of id (added tokens included); throws std::out_of_range if unknown.
  std::string id_to_token(int32_t id) const;
  // One past the largest id of the model vocabulary and the added tokens.
  size_t vocab_size() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qk
