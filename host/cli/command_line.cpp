#include "command_line.hpp"

namespace qk {

namespace {
std::string g_command_line;

// 'arg' quoted for a POSIX shell when it holds anything but safe characters.
std::string quoted(const std::string& a) {
  if (!a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_-+=./:,@%") == std::string::npos)
    return a;
  std::string q = "'";
  for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
}  // namespace

void set_command_line(int argc, char** argv) {
  g_command_line.clear();
  for (int i = 0; i < argc; ++i) g_command_line += (i ? " " : "") + quoted(argv[i]);
}

const std::string& command_line() { return g_command_line; }

}  // namespace qk
