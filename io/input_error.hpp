#pragma once
// The one exception type for bad input: it names the file (or field, or line)
// and the problem. The CLI prints it on stderr and exits non-zero.
#include <stdexcept>
#include <string>

namespace qk {

class InputError : public std::runtime_error {
 public:
  InputError(const std::string& where, const std::string& what) : std::runtime_error(where + ": " + what) {}
};

}  // namespace qk
