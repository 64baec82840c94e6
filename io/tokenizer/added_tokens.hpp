#pragma once
// Added (and special) tokens: found in text before the model runs, leftmost-longest, with
// the lstrip / rstrip / single_word flags of tokenizer.json's "added_tokens".
#include <cstdint>
#include <string>
#include <vector>

namespace qk::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool lstrip = false, rstrip = false, single_word = false, normalized = false, special = false;
};

// A piece of text and the added token it is (id >= 0), or -1 for text to tokenize.
struct TextSegment {
  size_t begin, end;
  int32_t id;
};

class AddedTokenMatcher {
 public:
  // Adds a pattern: `pattern` is what is searched for (the content, normalized or not).
  void add(const std::string& pattern, const AddedToken& token);
  bool empty() const { return tokens_.empty(); }
  // Splits text into matched tokens and the text between them (empty pieces dropped).
  std::vector<TextSegment> split(const std::string& text) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int>> children;  // sorted by byte
    int token = -1;
  };
  int child(int node, unsigned char b) const;
  std::vector<Node> nodes_{1};
  std::vector<AddedToken> tokens_;
};

}  // namespace qk::tok
