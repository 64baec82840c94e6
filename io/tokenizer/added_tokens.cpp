// Leftmost-longest search for added tokens over a byte trie.
#include "added_tokens.hpp"

#include <algorithm>

#include "unicode.hpp"

namespace qk::tok {

int AddedTokenMatcher::child(int node, unsigned char b) const {
  const auto& ch = nodes_[node].children;
  const auto it = std::lower_bound(ch.begin(), ch.end(), std::make_pair(b, 0),
                                   [](const auto& x, const auto& y) { return x.first < y.first; });
  return it != ch.end() && it->first == b ? it->second : -1;
}

void AddedTokenMatcher::add(const std::string& pattern, const AddedToken& token) {
  if (pattern.empty()) return;
  int node = 0;
  for (unsigned char b : pattern) {
    int next = child(node, b);
    if (next < 0) {
      next = static_cast<int>(nodes_.size());
      nodes_.emplace_back();
      auto& ch = nodes_[node].children;
      ch.insert(std::lower_bound(ch.begin(), ch.end(), std::make_pair(b, 0),
                                 [](const auto& x, const auto& y) { return x.first < y.first; }),
                {b, next});
    }
    node = next;
  }
  if (nodes_[node].token < 0) {
    nodes_[node].token = static_cast<int>(tokens_.size());
    tokens_.push_back(token);
  }
}

namespace {

// Whether the last code point of text[0, end) is a word character (regex \w).
bool ends_with_word(const std::string& text, size_t end) {
  if (end == 0) return false;
  size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
  return is_word_char(utf8_next(text, b));
}

bool starts_with_word(const std::string& text, size_t begin) {
  if (begin >= text.size()) return false;
  return is_word_char(utf8_next(text, begin));
}

}  // namespace

std::vector<TextSegment> AddedTokenMatcher::split(const std::string& text) const {
  std::vector<TextSegment> out;
  if (tokens_.empty()) {
    if (!text.empty()) out.push_back({0, text.size(), -1});
    return out;
  }
  size_t done = 0;  // end of the last emitted piece
  size_t pos = 0;
  while (pos < text.size()) {
    int best = -1;
    size_t best_end = 0;
    int node = 0;
    for (size_t k = pos; k < text.size(); ++k) {
      node = child(node, static_cast<unsigned char>(text[k]));
      if (node < 0) break;
      if (nodes_[node].token >= 0) {
        best = nodes_[node].token;
        best_end = k + 1;
      }
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = tokens_[best];
    size_t start = pos, stop = best_end;
    pos = best_end;
    if (tok.single_word && (ends_with_word(text, start) || starts_with_word(text, stop))) continue;
    if (tok.lstrip) {
      size_t s = start;
      while (s > done) {
        size_t b = s - 1;
        while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
        size_t t = b;
        if (!is_whitespace(utf8_next(text, t))) break;
        s = b;
      }
      start = s;
    }
    if (tok.rstrip) {
      size_t t = stop;
      while (t < text.size()) {
        size_t n = t;
        if (!is_whitespace(utf8_next(text, n))) break;
        t = n;
      }
      stop = t;
      pos = stop;
    }
    if (done < start) out.push_back({done, start, -1});
    out.push_back({start, stop, tok.id});
    done = stop;
  }
  if (done < text.size()) out.push_back({done, text.size(), -1});
  return out;
}

}  // namespace qk::tok
