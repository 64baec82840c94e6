#pragma once
// A command-line option's spellings as one table per enum, read both ways: a name to its
// value (std::invalid_argument naming the option and the spellings otherwise) and a value
// to its name (the first entry's for a value the table does not list).
#include <cstddef>
#include <stdexcept>
#include <string>

namespace qk {

template <typename E>
struct OptionName {
  E value;
  const char* name;
};

// The value spelled `name` in t; `option` (e.g. "--save-kv") names the option in the error.
template <typename E, size_t N>
E parse_option(const std::string& name, const OptionName<E> (&t)[N], const char* option) {
  std::string spellings;  // "a, b or c"
  for (size_t i = 0; i < N; ++i) {
    if (name == t[i].name) return t[i].value;
    spellings += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(t[i].name);
  }
  throw std::invalid_argument(std::string(option) + ": unknown '" + name + "'; use " + spellings);
}

// The spelling of v in t.
template <typename E, size_t N>
const char* option_name(E v, const OptionName<E> (&t)[N]) {
  for (const OptionName<E>& e : t)
    if (e.value == v) return e.name;
  return t[0].name;
}

}  // namespace qk
