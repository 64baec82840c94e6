#pragma once
// A compiled PCRE2 pattern (UTF + UCP) and its non-overlapping matches.
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace qk::tok {

class Regex {
 public:
  // Compiles pattern; throws std::invalid_argument with PCRE2's message on failure.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Byte ranges [begin, end) of all non-overlapping matches, left to right. text must be
  // valid UTF-8 (Tokenizer::encode checks it once).
  std::vector<std::pair<size_t, size_t>> find_all(const std::string& text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Escapes s so that it matches literally inside a PCRE2 pattern.
std::string regex_escape(const std::string& s);

}  // namespace qk::tok
