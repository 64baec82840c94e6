#pragma once
// Progress of a long job on stderr: done/total, items/s, tokens/s and ETA. On a TTY one
// line is redrawn a few times a second; otherwise a plain line every `plain_every_s`.
#include <chrono>
#include <cstdint>
#include <string>

namespace qk {

class Progress {
 public:
  // total_items, total_tokens: the whole job (for the ETA); enabled: false prints nothing.
  Progress(std::string label, int64_t total_items, int64_t total_tokens, bool enabled,
           double plain_every_s = 10.0);
  // Records items and tokens finished since the last call; redraws when due.
  void advance(int64_t items, int64_t tokens);
  // The final line (always printed when enabled).
  void finish();
  double elapsed_s() const;
  int64_t items() const { return items_; }
  int64_t tokens() const { return tokens_; }

 private:
  std::string line() const;
  std::string label_;
  int64_t total_items_, total_tokens_;
  int64_t items_ = 0, tokens_ = 0;
  bool enabled_, tty_;
  double plain_every_s_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1h02m", "4m18s", "12s".
std::string format_duration(double seconds);

}  // namespace qk
