#pragma once
// `--shard i/N`: this process takes the probes whose index is i modulo N.
#include <string>

namespace qk {

struct Shard {
  int index = 0;
  int count = 1;
  std::string str() const { return std::to_string(index) + "/" + std::to_string(count); }
};

// "i/N" with 0 <= i < N; throws std::invalid_argument naming --shard otherwise.
Shard parse_shard(const std::string& text);

}  // namespace qk
